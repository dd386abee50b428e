//! XMPP side: the XEP-0114 component link (IO) and stanza helpers.

pub mod backoff;
pub mod link;
pub mod stanza;
