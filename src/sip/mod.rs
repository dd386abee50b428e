//! The SIP side: message codec, transactions (RFC 3261 §17) and the UA core, all sans-IO,
//! plus `io`, the tokio transports.

pub mod auth;
pub mod dialog;
pub mod dns;
pub mod io;
pub mod message;
pub mod subscription;
pub mod tls;
pub mod transaction;
pub mod ua;
