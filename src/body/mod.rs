//! Body formats: parse and serialize only.

pub mod iscomposing;
pub mod sdp;
pub mod xhtml;
