//! A Renkei node: one health centre's (or the national) records, the
//! command log that changes them, the HTTP API, login, roles and the audit
//! trail. See ARCHITECTURE.md for the map.

pub mod access;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod between;
pub mod ca_cli;
pub mod cli;
pub mod clock;
pub mod command;
pub mod config;
pub mod crl_watch;
pub mod domain;
pub mod federation;
pub mod forwarded;
pub mod log;
pub mod municipality;
pub mod outbox;
pub mod reports;
pub mod server;
pub mod stats;
pub mod store;
pub mod time_fmt;
pub mod up;
pub mod users;
pub mod views;
pub mod web;
