//! MSRP (RFC 4975): framing, chunking, reassembly, URIs and the session state machine
//! (all sans-IO). The transports and the chat interworking come with RFC 7573 support.

pub mod codec;
pub mod io;
pub mod session;
pub mod uri;
