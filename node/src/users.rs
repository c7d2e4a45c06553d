//! Adding and disabling users: shared by the admin API and the command line.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::audit::{Actor, AuditEntry, Outcome};
use crate::auth::{password, totp};
use crate::command::{Change, Command, NewUser};
use crate::config::NodeKind;
use crate::domain::{FieldError, Role, japan_date};
use crate::log::{CommandLog, SubmitError};

/// What a new user needs to log in the first time. Shown once.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    pub user: String,
    pub role: Role,
    /// A one-time password: the user must set their own at first login.
    pub password: String,
    pub totp_secret: String,
    pub totp_uri: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

/// User ids: 1–64 characters of lowercase letters, digits, `.`, `_`, `-`, `@`.
pub fn check_user_id(id: &str) -> Result<(), FieldError> {
    let ok = (1..=64).contains(&id.len())
        && id.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
        });
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "id",
            "must be 1–64 characters of lowercase letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

/// The request to add a user, checked.
#[derive(Debug, Clone)]
pub struct NewUserRequest {
    pub id: String,
    pub role: Role,
    pub organisation: Option<String>,
    pub until: Option<Date>,
}

impl NewUserRequest {
    pub fn check(&self, kind: NodeKind, today: Date) -> Result<(), FieldError> {
        check_user_id(&self.id)?;
        let allowed_here = match kind {
            NodeKind::HealthCentre => self.role != Role::Ministry,
            NodeKind::National => matches!(self.role, Role::Admin | Role::Ministry),
        };
        if !allowed_here {
            return Err(FieldError::new(
                "role",
                format!("`{}` users do not belong on this kind of node", self.role),
            ));
        }
        match &self.organisation {
            None if self.role.needs_organisation() => {
                return Err(FieldError::new(
                    "organisation",
                    format!("a `{}` user acts for an organisation: name it", self.role),
                ));
            }
            Some(org) => crate::domain::check_text("organisation", org, 100)?,
            None => {}
        }
        if self.role.needs_end_date() && self.until.is_none() {
            return Err(FieldError::new(
                "until",
                format!("a `{}` account must have an end date", self.role),
            ));
        }
        if self.until.is_some_and(|u| u < today) {
            return Err(FieldError::new("until", "is in the past"));
        }
        Ok(())
    }
}

/// A one-time password, a TOTP secret, and the password's hash.
async fn fresh_secrets() -> Result<(String, String, String), UserError> {
    let one_time = password::generate_one_time();
    let secret = totp::generate_secret();
    let hash = tokio::task::spawn_blocking({
        let p = one_time.clone();
        move || password::hash(&p)
    })
    .await
    .map_err(|e| SubmitError::Unavailable(e.to_string()))?;
    Ok((one_time, secret, hash))
}

/// Adds a user with a one-time password and a fresh TOTP secret.
pub async fn add<L: CommandLog>(
    log: &L,
    actor: &Actor,
    now: OffsetDateTime,
    kind: NodeKind,
    issuer: &str,
    request: NewUserRequest,
) -> Result<Credentials, UserError> {
    request.check(kind, japan_date(now))?;
    let (one_time, secret, hash) = fresh_secrets().await?;
    let command = Command {
        reports: Vec::new(),
        share_updates: Vec::new(),
        at: now,
        actor: actor.id.clone(),
        change: Change::CreateUser(NewUser {
            id: request.id.clone(),
            role: request.role,
            organisation: request.organisation.clone(),
            password_hash: hash,
            totp_secret: secret.clone(),
            until: request.until,
        }),
    };
    let audit = AuditEntry::new(now, actor, "user.add", Outcome::Allowed)
        .part(&format!("user:{}", request.id));
    log.submit(crate::log::Submission::command(command, vec![audit]))
        .await?;
    Ok(Credentials {
        totp_uri: totp::provisioning_uri(&format!("Renkei {issuer}"), &request.id, &secret),
        user: request.id,
        role: request.role,
        password: one_time,
        totp_secret: secret,
    })
}

/// Resets a user's password and second factor (a lost phone, a forgotten
/// password): a new one-time password and secret, shown once; their sessions
/// end and they enrol again at the next login.
pub async fn reset<L: CommandLog>(
    log: &L,
    actor: &Actor,
    now: OffsetDateTime,
    issuer: &str,
    user_id: &str,
    role: Role,
) -> Result<Credentials, UserError> {
    let (one_time, secret, hash) = fresh_secrets().await?;
    let command = Command {
        reports: Vec::new(),
        share_updates: Vec::new(),
        at: now,
        actor: actor.id.clone(),
        change: Change::ResetCredentials {
            user_id: user_id.to_string(),
            password_hash: hash,
            totp_secret: secret.clone(),
        },
    };
    let audit = AuditEntry::new(now, actor, "user.reset", Outcome::Allowed)
        .part(&format!("user:{user_id}"));
    log.submit(crate::log::Submission::command(command, vec![audit]))
        .await?;
    Ok(Credentials {
        totp_uri: totp::provisioning_uri(&format!("Renkei {issuer}"), user_id, &secret),
        user: user_id.to_string(),
        role,
        password: one_time,
        totp_secret: secret,
    })
}

/// Disables a user; their sessions end at once.
pub async fn disable<L: CommandLog>(
    log: &L,
    actor: &Actor,
    now: OffsetDateTime,
    user_id: &str,
) -> Result<(), UserError> {
    let command = Command {
        reports: Vec::new(),
        share_updates: Vec::new(),
        at: now,
        actor: actor.id.clone(),
        change: Change::DisableUser {
            user_id: user_id.to_string(),
        },
    };
    let audit = AuditEntry::new(now, actor, "user.disable", Outcome::Allowed)
        .part(&format!("user:{user_id}"));
    log.submit(crate::log::Submission::command(command, vec![audit]))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn req(role: Role, organisation: Option<&str>, until: Option<Date>) -> NewUserRequest {
        NewUserRequest {
            id: "u1".into(),
            role,
            organisation: organisation.map(Into::into),
            until,
        }
    }

    #[test]
    fn role_rules() {
        let today = date!(2026 - 11 - 20);
        let hc = NodeKind::HealthCentre;
        assert!(req(Role::Staff, None, None).check(hc, today).is_ok());
        assert_eq!(
            req(Role::Medical, None, None)
                .check(hc, today)
                .unwrap_err()
                .field,
            "organisation"
        );
        assert_eq!(
            req(Role::Contractor, Some("acme"), None)
                .check(hc, today)
                .unwrap_err()
                .field,
            "until"
        );
        assert!(
            req(Role::Contractor, Some("acme"), Some(date!(2026 - 12 - 31)))
                .check(hc, today)
                .is_ok()
        );
        assert_eq!(
            req(Role::Contractor, Some("acme"), Some(date!(2026 - 11 - 19)))
                .check(hc, today)
                .unwrap_err()
                .field,
            "until"
        );
        assert_eq!(
            req(Role::Ministry, None, None)
                .check(hc, today)
                .unwrap_err()
                .field,
            "role"
        );
        assert!(
            req(Role::Ministry, None, None)
                .check(NodeKind::National, today)
                .is_ok()
        );
        assert!(check_user_id("Tanaka").is_err());
        assert!(check_user_id("staff.tanaka@hc-13103").is_ok());
    }
}
