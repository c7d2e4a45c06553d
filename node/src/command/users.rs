//! Applying the changes to user accounts.

use sqlx::SqliteConnection;

use super::{ApplyError, Cx, NewUser};
use crate::domain::WireName;
use crate::time_fmt;

pub(super) async fn create_user(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    user: &NewUser,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let by = cx.by;
    let result = sqlx::query(
        "INSERT INTO users (id, role, organisation, password_hash, must_change_password, totp_secret, until, created_at, created_by) \
         VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
    )
    .bind(&user.id)
    .bind(user.role.wire_name())
    .bind(&user.organisation)
    .bind(&user.password_hash)
    .bind(&user.totp_secret)
    .bind(user.until.map(time_fmt::date))
    .bind(at)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 {
        return Err(ApplyError::Conflict(format!(
            "user `{}` already exists",
            user.id
        )));
    }
    Ok(())
}

pub(super) async fn disable_user(
    conn: &mut SqliteConnection,
    cx: &Cx<'_>,
    user_id: &str,
) -> Result<(), ApplyError> {
    let at = cx.at.as_str();
    let result =
        sqlx::query("UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?")
            .bind(at)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    if result.rows_affected() == 0 {
        return Err(ApplyError::NotFound("user"));
    }
    end_sessions(conn, user_id).await
}

pub(super) async fn set_password(
    conn: &mut SqliteConnection,
    user_id: &str,
    password_hash: &str,
    totp: &Option<(String, i64)>,
) -> Result<(), ApplyError> {
    let result =
        sqlx::query("UPDATE users SET password_hash = ?, must_change_password = 0 WHERE id = ?")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    if result.rows_affected() == 0 {
        return Err(ApplyError::NotFound("user"));
    }
    if let Some((secret, step)) = totp {
        sqlx::query("UPDATE users SET totp_secret = ?, totp_last_step = ? WHERE id = ?")
            .bind(secret)
            .bind(step)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub(super) async fn reset_credentials(
    conn: &mut SqliteConnection,
    user_id: &str,
    password_hash: &str,
    totp_secret: &str,
) -> Result<(), ApplyError> {
    let result = sqlx::query(
        "UPDATE users SET password_hash = ?, must_change_password = 1, totp_secret = ?, totp_last_step = 0 WHERE id = ?",
    )
    .bind(password_hash)
    .bind(totp_secret)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 {
        return Err(ApplyError::NotFound("user"));
    }
    end_sessions(conn, user_id).await
}

/// Logs the user out everywhere: their sessions end with the change.
async fn end_sessions(conn: &mut SqliteConnection, user_id: &str) -> Result<(), ApplyError> {
    sqlx::query("DELETE FROM sessions WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
