//! MSRP (RFC 4975): framing, chunking, reassembly and URIs (sans-IO). Sessions and their
//! transports come with the chat feature (RFC 7573).

pub mod codec;
pub mod uri;
