//! SIP URIs (RFC 3261 §19.1): the one place a URI is taken apart.
//!
//! Every consumer — the outbound proxy, RFC 3263 lookups, next hops of in-dialog requests,
//! RFC 7247 address mapping, Contact GRUUs — reads a [`SipUri`] instead of splitting strings
//! itself. The full grammar check stays with rsipstack ([`super::message::check_uri`], used
//! on every incoming Request-URI); this type is the lenient, panic-free view of the parts.
//! `im:` and `pres:` (RFC 3860/3859) parse too, because RFC 7247 §6.4 maps them like `sip:`.

use std::net::IpAddr;

use super::Transport;
use super::message::split_host_port;

/// The URI schemes a [`SipUri`] can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:` (TLS on every hop)
    Sips,
    /// `im:` (RFC 3860)
    Im,
    /// `pres:` (RFC 3859)
    Pres,
}

/// Why a string is not a [`SipUri`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriError {
    /// No `scheme:` at all.
    NoScheme,
    /// A scheme other than sip, sips, im or pres (lower-cased), e.g. `tel`.
    Scheme(String),
    /// The host part is missing or not a host.
    BadHost,
}

/// A parsed `scheme:[user@]host[:port][;params][?headers]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// The scheme.
    pub scheme: Scheme,
    /// The user part as written (still percent-encoded); `None` without `@`.
    pub user: Option<String>,
    /// The host, lower-cased; IPv6 literals without brackets.
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
    /// URI parameters in order, names as written.
    pub params: Vec<(String, Option<String>)>,
}

impl SipUri {
    /// Parses a URI, also one in angle brackets (`<sip:…>` as in name-addrs).
    pub fn parse(uri: &str) -> Result<SipUri, UriError> {
        let uri = uri.trim();
        let uri = uri
            .strip_prefix('<')
            .and_then(|u| u.strip_suffix('>'))
            .unwrap_or(uri);
        let (scheme, rest) = uri.split_once(':').ok_or(UriError::NoScheme)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "sip" => Scheme::Sip,
            "sips" => Scheme::Sips,
            "im" => Scheme::Im,
            "pres" => Scheme::Pres,
            other => return Err(UriError::Scheme(other.to_string())),
        };
        let rest = rest.split('?').next().unwrap_or_default();
        let mut parts = rest.split(';');
        let userhost = parts.next().unwrap_or_default();
        let (user, hostport) = match userhost.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, userhost),
        };
        let (host, port) = split_host_port(hostport).ok_or(UriError::BadHost)?;
        let params = parts
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (p.to_string(), None),
            })
            .collect();
        Ok(SipUri {
            scheme,
            user,
            host,
            port,
            params,
        })
    }

    /// A parameter: `Some(None)` when present without a value (`;lr`).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The `transport=` parameter, when it names one of ours.
    pub fn transport(&self) -> Option<Transport> {
        match self.param("transport")??.to_ascii_lowercase().as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => None,
        }
    }

    /// The host as an IP address, for literals.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// `host[:port]` as written in a URI (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_the_uris_we_meet() {
        let u = SipUri::parse("<sip:+12125551212@Example.NET:5060;user=phone;lr>").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user.as_deref(), Some("+12125551212"));
        assert_eq!((u.host.as_str(), u.port), ("example.net", Some(5060)));
        assert_eq!(u.param("user"), Some(Some("phone")));
        assert_eq!(u.param("LR"), Some(None));
        let v6 = SipUri::parse("sips:[2001:db8::1]:5061;transport=TLS").unwrap();
        assert_eq!(v6.scheme, Scheme::Sips);
        assert_eq!(v6.user, None);
        assert_eq!(v6.ip(), "2001:db8::1".parse().ok());
        assert_eq!(v6.transport(), Some(Transport::Tls));
        assert_eq!(v6.host_port(), "[2001:db8::1]:5061");
        let gruu = SipUri::parse("sip:a@b;gr=urn:uuid:f81d4fae?Subject=x").unwrap();
        assert_eq!(gruu.param("gr"), Some(Some("urn:uuid:f81d4fae")));
    }

    #[test]
    fn what_is_not_a_sip_uri() {
        assert_eq!(SipUri::parse("nonsense"), Err(UriError::NoScheme));
        assert_eq!(
            SipUri::parse("tel:+12125551212"),
            Err(UriError::Scheme("tel".into()))
        );
        assert_eq!(SipUri::parse("sip:a@"), Err(UriError::BadHost));
        assert_eq!(SipUri::parse("sip:a@b:notaport"), Err(UriError::BadHost));
        assert_eq!(SipUri::parse("sip:a@[::1"), Err(UriError::BadHost));
    }
}
