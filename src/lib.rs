//! stox: a SIP ⇄ XMPP interworking gateway running as an XMPP external component (XEP-0114).
//!
//! Layout follows the architecture: `xmpp/` is the component link (IO shell) and stanza
//! helpers, `gateway/` is the sans-IO core with one module per mapping concern, `runtime`
//! wires IO tasks to the core, `config` is the typed configuration.

pub mod body;
pub mod config;
pub mod gateway;
pub mod msrp;
pub mod runtime;
pub mod sip;
pub mod xmpp;
