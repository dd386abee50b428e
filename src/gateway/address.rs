//! Address mapping, RFC 7247 §6, plus the component-domain embedding of foreign SIP users.
//!
//! Character rules (RFC 7247 §6.2): unescape the source (`%hh` for URIs, XEP-0106 `\hh` for
//! JIDs), keep what the destination allows, escape the rest with the destination's method.
//! Resourceparts travel as the GRUU `gr` URI parameter (§6.3); only public GRUUs are mapped.
//!
//! How domains map is policy (RFC 7247 leaves it out of scope). stox's policy, one table for
//! SIP→XMPP, XMPP→SIP and XEP-0100, so they never disagree:
//!
//! | SIP                                | XMPP                                      |
//! |------------------------------------|-------------------------------------------|
//! | `sip:romeo@<sip.domain>`           | `romeo@<component>`                       |
//! | `sip:romeo@example.org` (remote)   | `romeo\40example.org@<component>`         |
//! | `sip:juliet@<route.sip_domain>`    | `juliet@<route.xmpp_domain>`              |
//! | `sip:juliet@example.com` (served)  | `juliet@example.com`                      |
//! | `…;gr=x`                           | `…/x`                                     |
//!
//! On input `romeo%example.org@<component>` (the customary `%` form, split at the last `%`)
//! is accepted too; output always uses XEP-0106 `\40`, which round-trips without ambiguity.

use std::fmt;

use xmpp_parsers::jid::{BareJid, FullJid, Jid};

use crate::config::Config;
use crate::sip::message::{NameAddr, Response};
use crate::sip::uri::{Scheme, SipUri, UriError};

/// Why an address cannot be mapped; each maps to `jid-malformed`/`item-not-found` on the
/// XMPP side and 400/404/403 on the SIP side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("not a SIP address: {0}")]
    /// Not a URI or JID we can read.
    Malformed(String),
    #[error("URI scheme '{0}' cannot be carried to XMPP")]
    /// A scheme other than sip/im/pres.
    UnsupportedScheme(String),
    #[error("sips: requires TLS on every hop, which XMPP cannot signal (RFC 7247 §9)")]
    /// `sips:` (never mapped).
    Sips,
    #[error("the SIP domain '{0}' is not reachable through this gateway")]
    /// A domain this gateway does not route.
    DomainNotRouted(String),
    #[error("'{0}' does not give a valid JID")]
    /// The mapped JID is not valid.
    BadJid(String),
}

/// A SIP URI reduced to what RFC 7247 maps: user part, host and public GRUU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAddress {
    /// Decoded user part (UTF-8, no `%hh`).
    pub user: String,
    /// Host, lower-cased.
    pub host: String,
    /// Decoded `gr` parameter value.
    pub gruu: Option<String>,
}

impl SipAddress {
    /// Parses `sip:user@host[:port][;params][?headers]`, also `im:`/`pres:` (RFC 7247 §6.4
    /// step 1). `sips:` is refused (§9) and `tel:` is out of scope (§6.1).
    pub fn parse(uri: &str) -> Result<Self, AddressError> {
        let u = SipUri::parse(uri).map_err(|e| match e {
            UriError::NoScheme => AddressError::Malformed(uri.into()),
            UriError::Scheme(s) => AddressError::UnsupportedScheme(s),
            UriError::BadHost => AddressError::Malformed(format!("{uri}: no host")),
        })?;
        if u.scheme == Scheme::Sips {
            return Err(AddressError::Sips);
        }
        let user = u
            .user
            .as_deref()
            .ok_or_else(|| AddressError::Malformed(format!("{uri}: no user part")))?;
        if user.is_empty() {
            return Err(AddressError::Malformed(format!("{uri}: empty user part")));
        }
        let gruu = match u.param("gr").flatten().filter(|v| !v.is_empty()) {
            Some(v) => Some(percent_decode(v).map_err(AddressError::Malformed)?),
            None => None,
        };
        Ok(SipAddress {
            user: percent_decode(user).map_err(AddressError::Malformed)?,
            host: u.host,
            gruu,
        })
    }

    /// A user typed "romeo@example.net" (XEP-0100 prompt): accept it with or without scheme.
    pub fn parse_loose(input: &str) -> Result<Self, AddressError> {
        let t = input.trim();
        if t.contains(':') && !t.contains('@') {
            return Self::parse(t);
        }
        match t.split_once(':') {
            Some((s, _)) if !s.contains('@') => Self::parse(t),
            _ => Self::parse(&format!("sip:{t}")),
        }
    }

    /// RFC 7247 §6.5 step 5–7: `sip:` URI with the user part and `gr` percent-encoded.
    pub fn to_uri(&self) -> String {
        let mut s = format!("sip:{}@{}", encode_user(&self.user), self.host);
        if let Some(gr) = &self.gruu {
            s.push_str(";gr=");
            s.push_str(&encode_param(gr));
        }
        s
    }
}

impl fmt::Display for SipAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

/// The gateway's domain policy, built once from the config.
#[derive(Debug, Clone)]
pub struct AddressMap {
    component: String,
    sip_domain: String,
    xmpp_domains: Vec<String>,
    /// (sip_domain, xmpp_domain)
    routes: Vec<(String, String)>,
    remote_any: bool,
    remote_domains: Vec<String>,
    /// `xmpp.muc_domains`: `sip:room@<muc>` is the XMPP room `room@<muc>` (RFC 7702 §6).
    muc_domains: Vec<String>,
}

impl AddressMap {
    /// A failure response's Contact as the `xmpp:` address RFC 7247 Table 3 puts into
    /// `<gone/>` / `<redirect/>` (only failures need it: not computed for every 2xx).
    pub fn failure_contact(&self, resp: &Response) -> Option<String> {
        resp.headers
            .values("Contact")
            .first()
            .and_then(|c| NameAddr::parse(c))
            .and_then(|na| SipAddress::parse(&na.uri).ok())
            .and_then(|a| self.sip_to_jid(&a).ok())
            .map(|j| format!("xmpp:{}", j.to_bare()))
    }

    /// The policy from the configuration.
    pub fn new(cfg: &Config) -> Self {
        let lower = |v: &[String]| v.iter().map(|d| d.to_ascii_lowercase()).collect();
        AddressMap {
            component: cfg.xmpp.component.to_ascii_lowercase(),
            sip_domain: cfg.sip.domain.to_ascii_lowercase(),
            xmpp_domains: lower(&cfg.xmpp.domains),
            routes: cfg
                .routes
                .iter()
                .map(|r| {
                    (
                        r.sip_domain.to_ascii_lowercase(),
                        r.xmpp_domain.to_ascii_lowercase(),
                    )
                })
                .collect(),
            remote_any: cfg.sip.remote_domains.iter().any(|d| d == "*"),
            remote_domains: lower(&cfg.sip.remote_domains),
            muc_domains: lower(&cfg.xmpp.muc_domains),
        }
    }

    /// The component's domain.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// Is `domain` one of the XMPP domains this deployment serves?
    pub fn is_served_xmpp_domain(&self, domain: &str) -> bool {
        self.xmpp_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Is `domain` one of the MUC services SIP users may enter (`xmpp.muc_domains`)?
    pub fn is_muc_domain(&self, domain: &str) -> bool {
        self.muc_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// The XMPP domain a SIP host stands for, if it names one of ours (user or MUC domain).
    fn xmpp_domain_for_sip_host(&self, host: &str) -> Option<&str> {
        if let Some((_, x)) = self.routes.iter().find(|(s, _)| s == host) {
            return Some(x);
        }
        self.xmpp_domains
            .iter()
            .chain(&self.muc_domains)
            .find(|d| d.as_str() == host)
            .map(String::as_str)
    }

    fn sip_host_for_xmpp_domain<'a>(&'a self, domain: &'a str) -> &'a str {
        self.routes
            .iter()
            .find(|(_, x)| x == domain)
            .map(|(s, _)| s.as_str())
            .unwrap_or(domain)
    }

    fn remote_allowed(&self, host: &str) -> bool {
        self.remote_any || self.remote_domains.iter().any(|d| d == host)
    }

    /// SIP address → JID (RFC 7247 §6.4), applying the domain policy in the module doc.
    pub fn sip_to_jid(&self, sip: &SipAddress) -> Result<Jid, AddressError> {
        let local = escape_localpart(&sip.user);
        let bare = if let Some(xmpp) = self.xmpp_domain_for_sip_host(&sip.host) {
            format!("{local}@{xmpp}")
        } else if sip.host == self.sip_domain || sip.host == self.component {
            format!("{local}@{}", self.component)
        } else if self.remote_allowed(&sip.host) {
            format!("{local}\\40{}@{}", sip.host, self.component)
        } else {
            return Err(AddressError::DomainNotRouted(sip.host.clone()));
        };
        let bare = BareJid::new(&bare).map_err(|_| AddressError::BadJid(bare.clone()))?;
        match &sip.gruu {
            Some(gr) => {
                let full = format!("{bare}/{gr}");
                FullJid::new(&full)
                    .map(Jid::from)
                    .map_err(|_| AddressError::BadJid(full))
            }
            None => Ok(Jid::from(bare)),
        }
    }

    /// JID → SIP address (RFC 7247 §6.5). Component JIDs give SIP users (home or embedded
    /// remote); JIDs of served XMPP domains give the SIP form of XMPP users.
    pub fn jid_to_sip(&self, jid: &Jid) -> Result<SipAddress, AddressError> {
        let domain = jid.domain().as_str().to_ascii_lowercase();
        let node = jid
            .node()
            .ok_or_else(|| AddressError::BadJid(format!("{jid}: no localpart")))?;
        let user = unescape_localpart(node.as_str());
        let gruu = jid.resource().map(|r| r.as_str().to_string());
        if domain == self.component {
            let (user, host) = split_embedded(&user)
                .map(|(u, h)| (u.to_string(), h.to_ascii_lowercase()))
                .unwrap_or_else(|| (user.clone(), self.sip_domain.clone()));
            if host != self.sip_domain && !self.remote_allowed(&host) {
                return Err(AddressError::DomainNotRouted(host));
            }
            if user.is_empty() {
                return Err(AddressError::BadJid(jid.to_string()));
            }
            return Ok(SipAddress { user, host, gruu });
        }
        if self.is_served_xmpp_domain(&domain) || self.is_muc_domain(&domain) {
            let host = self.sip_host_for_xmpp_domain(&domain).to_string();
            return Ok(SipAddress { user, host, gruu });
        }
        Err(AddressError::DomainNotRouted(domain))
    }
}

/// Splits an unescaped localpart `romeo@example.org` (from `\40`) or the customary
/// `romeo%example.org` at the last separator when what follows looks like a domain.
fn split_embedded(user: &str) -> Option<(&str, &str)> {
    for sep in ['@', '%'] {
        if let Some((u, h)) = user.rsplit_once(sep)
            && !u.is_empty()
            && h.contains('.')
            && crate::config::check_domain(h).is_ok()
        {
            return Some((u, h));
        }
    }
    None
}

/// XEP-0106 escapes, in the order of its table.
const JID_ESCAPES: [(char, &str); 10] = [
    (' ', "\\20"),
    ('"', "\\22"),
    ('&', "\\26"),
    ('\'', "\\27"),
    ('/', "\\2f"),
    (':', "\\3a"),
    ('<', "\\3c"),
    ('>', "\\3e"),
    ('@', "\\40"),
    ('\\', "\\5c"),
];

fn is_escape_at(s: &str, i: usize) -> bool {
    s.get(i..i + 3)
        .is_some_and(|seq| JID_ESCAPES.iter().any(|(_, e)| e.eq_ignore_ascii_case(seq)))
}

/// XEP-0106 escaping of a decoded SIP user part into a JID localpart (RFC 7247 §6.4 step 4).
/// `\` is escaped only where it would start an escape sequence, as XEP-0106 §4.2 says.
pub fn escape_localpart(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        if c == '\\' {
            if is_escape_at(s, i) {
                out.push_str("\\5c");
            } else {
                out.push('\\');
            }
            continue;
        }
        match JID_ESCAPES.iter().find(|(ch, _)| *ch == c) {
            Some((_, e)) => out.push_str(e),
            None => out.push(c),
        }
    }
    out
}

/// Reverses XEP-0106: only the ten defined sequences; anything else stays as it is.
pub fn unescape_localpart(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if is_escape_at(s, i)
            && let Some(seq) = s.get(i..i + 3)
            && let Some((c, _)) = JID_ESCAPES
                .iter()
                .find(|(_, e)| e.eq_ignore_ascii_case(seq))
        {
            out.push(*c);
            i += 3;
            continue;
        }
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// RFC 3986 percent-decoding; the octets must be UTF-8 (RFC 7247 §6.4 step 3).
pub fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape in '{s}'"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{s}' does not decode to UTF-8"))
}

fn encode_with(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
}

/// RFC 3261 `user` = unreserved / escaped / user-unreserved (`& = + $ , ; ? /`).
pub fn encode_user(s: &str) -> String {
    encode_with(s, |b| is_unreserved(b) || b"&=+$,;?/".contains(&b))
}

/// RFC 3261 `pvalue` = param-unreserved (`[ ] / : & + $`) / unreserved / escaped.
pub fn encode_param(s: &str) -> String {
    encode_with(s, |b| is_unreserved(b) || b"[]/:&+$".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Route};
    use std::str::FromStr;

    fn map() -> AddressMap {
        let toml = r#"
[xmpp]
component = "sip.example.com"
secret = "x"
domains = ["example.com", "xmpp.example"]
[sip]
domain = "example.net"
"#;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, toml.as_bytes()).unwrap();
        let mut cfg = Config::load_with_env(f.path(), Some(Default::default())).unwrap();
        cfg.routes.push(Route {
            sip_domain: "xmpp.example.net".into(),
            xmpp_domain: "example.com".into(),
        });
        AddressMap::new(&cfg)
    }

    fn jid(s: &str) -> Jid {
        Jid::from_str(s).unwrap()
    }

    fn s2j(uri: &str) -> String {
        map()
            .sip_to_jid(&SipAddress::parse(uri).unwrap())
            .unwrap()
            .to_string()
    }

    fn j2s(j: &str) -> String {
        map().jid_to_sip(&jid(j)).unwrap().to_uri()
    }

    // RFC 7247 §6.4 / §6.5 examples, with the XMPP domain served so the names stay.
    #[test]
    fn rfc7247_sip_to_xmpp_examples() {
        assert_eq!(s2j("sip:f%C3%BC@xmpp.example"), "fü@xmpp.example");
        assert_eq!(s2j("sip:o'malley@xmpp.example"), "o\\27malley@xmpp.example");
        assert_eq!(s2j("sip:foo@xmpp.example;gr=bar"), "foo@xmpp.example/bar");
    }

    #[test]
    fn rfc7247_xmpp_to_sip_examples() {
        assert_eq!(j2s("m\\26m@xmpp.example"), "sip:m&m@xmpp.example");
        assert_eq!(j2s("tschüss@xmpp.example"), "sip:tsch%C3%BCss@xmpp.example");
        assert_eq!(j2s("baz@xmpp.example/qux"), "sip:baz@xmpp.example;gr=qux");
        assert_eq!(
            j2s("juliet@example.com/yn0cl4bnw0yr3vym"),
            // example.com is routed as xmpp.example.net on the SIP side.
            "sip:juliet@xmpp.example.net;gr=yn0cl4bnw0yr3vym"
        );
    }

    #[test]
    fn xep0106_sip_example_with_percent_fixed() {
        let s = SipAddress::parse("sip:here%27s_a_wild_%26_%2Fcr%25zy%2F_address@xmpp.example")
            .unwrap();
        let j = map().sip_to_jid(&s).unwrap();
        assert_eq!(
            j.to_string(),
            "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address@xmpp.example"
        );
        assert_eq!(
            map().jid_to_sip(&j).unwrap().to_uri(),
            "sip:here's_a_wild_&_/cr%25zy/_address@xmpp.example"
        );
    }

    #[test]
    fn round_trips() {
        for (j, u) in [
            ("d\\27artagnan@xmpp.example", "sip:d'artagnan@xmpp.example"),
            ("user\\40host@xmpp.example", "sip:user%40host@xmpp.example"),
            (
                "c\\3a\\5c5commas@xmpp.example",
                "sip:c%3A%5C5commas@xmpp.example",
            ),
        ] {
            assert_eq!(j2s(j), u);
            assert_eq!(s2j(u), j);
        }
    }

    #[test]
    fn xep0106_escape_table() {
        for (wire, display) in [
            ("space\\20cadet", "space cadet"),
            ("call\\20me\\20\\22ishmael\\22", "call me \"ishmael\""),
            ("at\\26t\\20guy", "at&t guy"),
            ("d\\27artagnan", "d'artagnan"),
            ("\\2f.fanboy", "/.fanboy"),
            ("\\3a\\3afoo\\3a\\3a", "::foo::"),
            ("\\3cfoo\\3e", "<foo>"),
            ("user\\40host", "user@host"),
            ("c\\3a\\net", "c:\\net"),
            ("c\\3a\\\\net", "c:\\\\net"),
            ("c\\3a\\cool\\20stuff", "c:\\cool stuff"),
            ("c\\3a\\5c5commas", "c:\\5commas"),
        ] {
            assert_eq!(unescape_localpart(wire), display, "unescape {wire}");
            assert_eq!(escape_localpart(display), wire, "escape {display}");
        }
        for same in ["\\2plus\\2is\\4", "foo\\bar", "foob\\41r"] {
            assert_eq!(unescape_localpart(same), same);
            assert_eq!(escape_localpart(same), same);
        }
    }

    #[test]
    fn home_domain_users_live_under_the_component() {
        assert_eq!(s2j("sip:romeo@example.net"), "romeo@sip.example.com");
        assert_eq!(
            s2j("sip:romeo@example.net;gr=dr4hcr0st3lup4c"),
            "romeo@sip.example.com/dr4hcr0st3lup4c"
        );
        assert_eq!(j2s("romeo@sip.example.com"), "sip:romeo@example.net");
        assert_eq!(
            j2s("romeo@sip.example.com/dr4hcr0st3lup4c"),
            "sip:romeo@example.net;gr=dr4hcr0st3lup4c"
        );
    }

    #[test]
    fn remote_sip_users_are_embedded() {
        assert_eq!(
            s2j("sip:romeo@example.org"),
            "romeo\\40example.org@sip.example.com"
        );
        assert_eq!(
            j2s("romeo\\40example.org@sip.example.com"),
            "sip:romeo@example.org"
        );
        // the customary % form is accepted on input, split at the last %
        assert_eq!(
            j2s("romeo%example.org@sip.example.com"),
            "sip:romeo@example.org"
        );
        assert_eq!(
            j2s("a%b%example.org@sip.example.com"),
            "sip:a%25b@example.org"
        );
        assert_eq!(
            j2s("o\\27malley%example.org@sip.example.com"),
            "sip:o'malley@example.org"
        );
        assert_eq!(
            j2s("romeo%example.org@sip.example.com/urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
            "sip:romeo@example.org;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
        );
    }

    #[test]
    fn gruu_with_non_ascii_is_percent_encoded_and_decoded() {
        let u = j2s("romeo@sip.example.com/bälcony");
        assert_eq!(u, "sip:romeo@example.net;gr=b%C3%A4lcony");
        assert_eq!(s2j(&u), "romeo@sip.example.com/bälcony");
    }

    #[test]
    fn refused_schemes_and_garbage() {
        assert_eq!(
            SipAddress::parse("sips:juliet@example.com"),
            Err(AddressError::Sips)
        );
        assert!(matches!(
            SipAddress::parse("tel:+12125551212"),
            Err(AddressError::UnsupportedScheme(_))
        ));
        assert!(SipAddress::parse("sip:example.com").is_err());
        assert!(SipAddress::parse("sip:a%zz@example.com").is_err());
        assert!(SipAddress::parse("sip:a%ff@example.com").is_err());
        assert!(SipAddress::parse("nonsense").is_err());
    }

    #[test]
    fn parses_ports_params_ipv6_and_brackets() {
        let a = SipAddress::parse("<sip:+12125551212@Example.NET:5060;user=phone>").unwrap();
        assert_eq!(a.user, "+12125551212");
        assert_eq!(a.host, "example.net");
        let b = SipAddress::parse("sip:alice@[2001:db8::1]:5061;transport=tcp").unwrap();
        assert_eq!(b.host, "2001:db8::1");
    }

    #[test]
    fn loose_prompt_forms() {
        for p in [
            "romeo@example.net",
            "sip:romeo@example.net",
            " romeo@example.net ",
        ] {
            let a = SipAddress::parse_loose(p).unwrap();
            assert_eq!(a.to_uri(), "sip:romeo@example.net");
        }
    }

    #[test]
    fn unrouted_domains_are_refused() {
        assert!(matches!(
            map().jid_to_sip(&jid("juliet@elsewhere.example")),
            Err(AddressError::DomainNotRouted(_))
        ));
    }
}
