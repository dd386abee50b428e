//! MSRP URIs (RFC 4975 §6): `msrp[s]://host[:port]/session-id;transport`, their comparison
//! rules, and unguessable session ids.

use rand::Rng;

#[derive(Debug, Clone, PartialEq, Eq)]
/// An MSRP URI (RFC 4975 §9): `msrp[s]://host[:port]/session-id;transport`.
pub struct MsrpUri {
    /// `msrps`.
    pub secure: bool,
    /// The authority's host.
    pub host: String,
    /// The port.
    pub port: Option<u16>,
    /// The session id (ours are 120 random bits).
    pub session_id: String,
    /// The transport (`tcp`).
    pub transport: String,
}

impl MsrpUri {
    /// Parses one URI; `None` if it is not MSRP.
    pub fn parse(s: &str) -> Option<MsrpUri> {
        let (secure, rest) = if let Some(r) = strip_prefix_ci(s, "msrps://") {
            (true, r)
        } else {
            (false, strip_prefix_ci(s, "msrp://")?)
        };
        let (main, params) = rest.split_once(';')?;
        let transport = params.split(';').next()?.to_ascii_lowercase();
        if transport.is_empty() || !transport.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let (authority, session_id) = match main.split_once('/') {
            Some((a, s)) => (a, s.to_string()),
            None => (main, String::new()),
        };
        if !session_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+=/".contains(&b))
        {
            return None;
        }
        let authority = authority.rsplit('@').next()?;
        let (host, port) = crate::sip::message::split_host_port(authority)?;
        Some(MsrpUri {
            secure,
            host,
            port,
            session_id,
            transport,
        })
    }

    /// RFC 4975 §6.1: scheme, host and transport case-insensitively, session-id exactly,
    /// ports equal (an explicit port never equals an absent one).
    pub fn same(&self, other: &MsrpUri) -> bool {
        self.secure == other.secure
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
            && self.session_id == other.session_id
            && self.transport.eq_ignore_ascii_case(&other.transport)
    }
}

impl std::fmt::Display for MsrpUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.secure { "msrps" } else { "msrp" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(
                f,
                "{scheme}://{host}:{p}/{};{}",
                self.session_id, self.transport
            ),
            None => write!(
                f,
                "{scheme}://{host}/{};{}",
                self.session_id, self.transport
            ),
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// A session id with 120 random bits (RFC 4975 asks for at least 80), in 20 base-64url
/// characters (all legal in a session-id).
pub fn new_session_id(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..64usize)] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4975_examples() {
        let u = MsrpUri::parse("msrp://alicepc.example.com:7654/jshA7weztas;tcp").unwrap();
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.session_id.as_str(),
                u.transport.as_str()
            ),
            ("alicepc.example.com", Some(7654), "jshA7weztas", "tcp")
        );
        assert_eq!(
            u.to_string(),
            "msrp://alicepc.example.com:7654/jshA7weztas;tcp"
        );
        let s = MsrpUri::parse("msrps://[2001:db8::1]:2855/x;tcp").unwrap();
        assert!(s.secure);
        assert_eq!(s.to_string(), "msrps://[2001:db8::1]:2855/x;tcp");
    }

    #[test]
    fn comparison_rules() {
        let a = MsrpUri::parse("MSRP://AlicePC.example.com:7654/jshA7weztas;TCP").unwrap();
        let b = MsrpUri::parse("msrp://alicepc.example.com:7654/jshA7weztas;tcp").unwrap();
        assert!(a.same(&b));
        let c = MsrpUri::parse("msrp://alicepc.example.com:7654/JSHA7weztas;tcp").unwrap();
        assert!(!a.same(&c), "session-id is case-sensitive");
        let d = MsrpUri::parse("msrp://alicepc.example.com/jshA7weztas;tcp").unwrap();
        assert!(!b.same(&d), "explicit port never equals an absent one");
    }

    #[test]
    fn bad_uris() {
        for s in [
            "http://x/y;tcp",
            "msrp://x/y",
            "msrp://x/y;",
            "msrp://x:99999/y;tcp",
            "msrp://x/y z;tcp",
            "",
        ] {
            assert!(MsrpUri::parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn session_ids_are_long_and_distinct() {
        let mut rng = rand::rng();
        let a = new_session_id(&mut rng);
        let b = new_session_id(&mut rng);
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(MsrpUri::parse(&format!("msrp://h:1/{a};tcp")).is_some());
    }
}
