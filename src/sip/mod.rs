//! The SIP side: message codec, transactions (RFC 3261 §17) and the UA core, all sans-IO,
//! plus `io`, the tokio transports.

pub mod auth;
pub mod dialog;
pub mod dns;
pub mod framing;
pub mod header;
pub mod io;
pub mod message;
pub mod subscription;
pub mod tls;
pub mod transaction;
pub mod ua;
pub mod uri;

/// SIP transports stox can listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// RFC 768
    Udp,
    /// RFC 793
    Tcp,
    /// TCP with TLS (RFC 3261 §26.2)
    Tls,
}

impl Transport {
    /// The lower-case name used in listen entries and `transport=` parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}
