//! Opening the node's SQLite database: durable settings and migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqliteConnection, SqlitePool};

/// Connection options every connection to a node database uses: WAL,
/// `synchronous=FULL` (a commit survives power loss), foreign keys on.
pub fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .expect("a file path is a valid sqlite URL")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .disable_statement_logging()
}

/// Opens (creating if needed) and migrates the database.
pub async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    owner_only(path).map_err(|e| {
        sqlx::Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(connect_options(path))
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// A single connection for the writer, which holds it for its lifetime.
pub async fn open_writer(path: &Path) -> Result<SqliteConnection, sqlx::Error> {
    owner_only(path).map_err(|e| {
        sqlx::Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        ))
    })?;
    connect_options(path).connect().await
}

/// The database holds residents' records, so it is readable by the node's
/// own user alone (0600, like its keys), and a data directory made here is
/// 0700. SQLite gives the `-wal` and `-shm` files the database file's mode,
/// so creating the database 0600 before SQLite first opens it covers all
/// three. A file found more open (made before this rule, or by hand) is
/// tightened rather than refused: the node can fix it safely, and refusing
/// would only make the operator type `chmod`; the warning says that others
/// may already have read it.
fn owner_only(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        for file in sqlite_files(path) {
            let mode = match std::fs::metadata(&file) {
                Ok(meta) => meta.permissions().mode() & 0o777,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))?;
                tracing::warn!(
                    file = %file.display(),
                    was = format!("{mode:o}"),
                    "the database was readable by other users; it is now readable by its owner only"
                );
            }
        }
    }
    #[cfg(not(unix))]
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(())
}

/// The database file and the two SQLite keeps beside it in WAL mode.
fn sqlite_files(path: &Path) -> [std::path::PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A file's permission bits in octal, as `ls -l` readers think of them.
    fn mode(path: &Path) -> String {
        format!(
            "{:o}",
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777
        )
    }

    #[tokio::test]
    async fn a_new_database_and_its_wal_files_are_the_owners_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("node.db");
        let pool = open(&path).await.unwrap();
        let mut writer = open_writer(&path).await.unwrap();
        sqlx::query("CREATE TABLE t (x)")
            .execute(&mut writer)
            .await
            .unwrap();
        for file in sqlite_files(&path) {
            assert_eq!(mode(&file), "600", "{}", file.display());
        }
        assert_eq!(mode(path.parent().unwrap()), "700");
        drop(writer);
        pool.close().await;
    }

    #[tokio::test]
    async fn an_existing_database_readable_by_others_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.db");
        open(&path).await.unwrap().close().await;
        // As an older node left them: a WAL and index readable by all, and
        // a database that is group-writable too.
        let [db, wal, shm] = sqlite_files(&path);
        for file in [&wal, &shm] {
            std::fs::write(file, b"").unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o664)).unwrap();
        let pool = open(&path).await.unwrap();
        for file in sqlite_files(&path) {
            assert_eq!(mode(&file), "600", "{}", file.display());
        }
        pool.close().await;
    }
}
