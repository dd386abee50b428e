//! Digest authentication as a UAC (RFC 3261 §22.2 with RFC 2617 `qop=auth`; SHA-256 per
//! RFC 8760 / RFC 7616). Pure functions: a challenge and credentials in, a header value out.

use md5::Md5;
use sha2::{Digest, Sha256};

/// A parsed `WWW-Authenticate`/`Proxy-Authenticate` Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// The protection realm.
    pub realm: String,
    /// The server's nonce.
    pub nonce: String,
    /// Opaque data to echo.
    pub opaque: Option<String>,
    /// The hash.
    pub algorithm: Algorithm,
    /// `auth` is offered (we never use `auth-int`).
    pub qop_auth: bool,
    /// The nonce was stale (retry with the new one).
    pub stale: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
/// Digest algorithms (RFC 7616 §3.2).
pub enum Algorithm {
    #[default]
    /// MD5 (RFC 2617).
    Md5,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, s: &str) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 => Md5::digest(s.as_bytes()).to_vec(),
            Algorithm::Sha256 => Sha256::digest(s.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Splits `k=v, k="v, with comma"` auth-params.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in super::message::split_list(s) {
        if let Some((k, v)) = part.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            out.push((k.trim().to_ascii_lowercase(), v.replace("\\\"", "\"")));
        }
    }
    out
}

impl Challenge {
    /// Parses one challenge; `None` for non-Digest schemes or unknown algorithms.
    pub fn parse(v: &str) -> Option<Challenge> {
        let v = v.trim();
        let (scheme, rest) = v.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut c = Challenge::default();
        for (k, val) in auth_params(rest) {
            match k.as_str() {
                "realm" => c.realm = val,
                "nonce" => c.nonce = val,
                "opaque" => c.opaque = Some(val),
                "stale" => c.stale = val.eq_ignore_ascii_case("true"),
                "qop" => {
                    c.qop_auth = val
                        .split(',')
                        .any(|q| q.trim().eq_ignore_ascii_case("auth"))
                }
                "algorithm" => {
                    c.algorithm = match val.to_ascii_uppercase().as_str() {
                        "MD5" => Algorithm::Md5,
                        "SHA-256" => Algorithm::Sha256,
                        _ => return None,
                    }
                }
                _ => {}
            }
        }
        (!c.nonce.is_empty()).then_some(c)
    }
}

/// The `Authorization`/`Proxy-Authorization` value answering `c`.
pub fn authorization(
    c: &Challenge,
    username: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> String {
    let a = c.algorithm;
    let ha1 = a.hash(&format!("{username}:{}:{password}", c.realm));
    let ha2 = a.hash(&format!("{method}:{uri}"));
    let nc = format!("{nc:08x}");
    let response = if c.qop_auth {
        a.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
    } else {
        a.hash(&format!("{ha1}:{}:{ha2}", c.nonce))
    };
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut h = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
        q(username),
        q(&c.realm),
        q(&c.nonce),
        q(uri),
        a.name()
    );
    if c.qop_auth {
        h.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{}\"", q(cnonce)));
    }
    if let Some(o) = &c.opaque {
        h.push_str(&format!(", opaque=\"{}\"", q(o)));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_of(h: &str) -> String {
        auth_params(h.trim_start_matches("Digest "))
            .into_iter()
            .find(|(k, _)| k == "response")
            .unwrap()
            .1
    }

    #[test]
    fn rfc2617_md5_qop_auth_vector() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let h = authorization(
            &c,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert_eq!(response_of(&h), "6629fae49393a05397450978507c4ef1");
        assert!(
            h.contains("nc=00000001") && h.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"")
        );
    }

    #[test]
    fn rfc7616_sha256_and_md5_vectors() {
        let base = "realm=\"http-auth@example.org\", qop=\"auth, auth-int\", nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
        let cn = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let sha = Challenge::parse(&format!("Digest {base}, algorithm=SHA-256")).unwrap();
        assert_eq!(sha.algorithm, Algorithm::Sha256);
        let h = authorization(
            &sha,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            cn,
            1,
        );
        assert_eq!(
            response_of(&h),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let md5 = Challenge::parse(&format!("Digest {base}, algorithm=MD5")).unwrap();
        let h = authorization(
            &md5,
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            cn,
            1,
        );
        assert_eq!(response_of(&h), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc2069_without_qop() {
        let c = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap();
        assert!(!c.qop_auth);
        let h = authorization(&c, "u", "p", "REGISTER", "sip:r", "x", 1);
        let want = Algorithm::Md5.hash(&format!(
            "{}:n:{}",
            Algorithm::Md5.hash("u:r:p"),
            Algorithm::Md5.hash("REGISTER:sip:r")
        ));
        assert_eq!(response_of(&h), want);
        assert!(!h.contains("qop"));
    }

    #[test]
    fn other_schemes_and_algorithms_are_refused() {
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
        assert!(Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=AKAv1-MD5").is_none());
        assert!(Challenge::parse("Digest realm=\"x\"").is_none());
    }
}
