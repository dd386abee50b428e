//! Body formats: parse and serialize only.

pub mod xhtml;
