//! Body formats: parse and serialize only.

pub mod sdp;
pub mod xhtml;
