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
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(connect_options(path))
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// A single connection for the writer, which holds it for its lifetime.
pub async fn open_writer(path: &Path) -> Result<SqliteConnection, sqlx::Error> {
    connect_options(path).connect().await
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
