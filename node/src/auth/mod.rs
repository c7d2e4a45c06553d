//! Authentication: passwords, one-time codes, session and link tokens, and
//! the throttle on failed logins.

pub mod password;
pub mod throttle;
pub mod token;
pub mod totp;
