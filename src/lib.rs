//! stox: a SIP ⇄ XMPP interworking gateway running as an XMPP external component (XEP-0114).
//!
//! Layout follows the architecture: `xmpp/` is the component link (IO shell) and stanza
//! helpers, `gateway/` is the sans-IO core with one module per mapping concern, `runtime`
//! wires IO tasks to the core, `config` is the typed configuration.
#![warn(missing_docs)]

/// An enum for a config key or protocol field whose value is one of a few words: the same
/// spelling in TOML and on the wire, and a `--check` message naming the choices.
macro_rules! choice {
    ($(#[$m:meta])* $vis:vis enum $name:ident, $expect:literal { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
        #[serde(try_from = "String")]
        $vis enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// The word as written in the config file (and on the wire).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }

            /// Case-insensitive parse of the word.
            pub fn parse(word: &str) -> Option<Self> {
                $(if word.eq_ignore_ascii_case($s) { return Some($name::$v); })+
                None
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s).ok_or_else(|| format!("'{s}' {}", $expect))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod body;
pub mod config;
pub mod gateway;
pub mod msrp;
pub mod ops;
pub mod runtime;
pub mod sip;
pub mod store;
pub mod xmpp;
