//! SDP (RFC 4566) as far as MSRP chat needs it: session and media lines with their
//! attributes, parse and serialize, and helpers for the MSRP attributes (RFC 4975 §8,
//! RFC 6135 `a=setup`). Hand-written because the Rust SDP crates reject `TCP/MSRP` or drop
//! `m=message` lines (notes/rust-crates.md).

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
/// One `m=` section with its attributes.
pub struct Media {
    /// The media type (`message` for MSRP).
    pub media: String,
    /// The port (RFC 4975 §8.1: ignored for MSRP; the path counts).
    pub port: u16,
    /// The protocol, e.g. `TCP/MSRP` or `TCP/TLS/MSRP`.
    pub proto: String,
    /// The formats (`*` for MSRP).
    pub formats: Vec<String>,
    /// Its `c=` line, when it has one.
    pub connection: Option<String>,
    /// `a=` lines in order: name and optional value.
    pub attributes: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
/// A session description (RFC 4566), the parts MSRP uses.
pub struct Sdp {
    /// The `o=` line.
    pub origin: String,
    /// The `s=` line.
    pub session_name: String,
    /// The session-level `c=` line.
    pub connection: Option<String>,
    /// The `t=` line.
    pub timing: String,
    /// Session-level `a=` lines.
    pub attributes: Vec<(String, Option<String>)>,
    /// The media sections.
    pub media: Vec<Media>,
}

fn attr<'a>(
    attrs: &'a [(String, Option<String>)],
    name: &str,
) -> impl Iterator<Item = &'a str> + 'a {
    let name = name.to_string();
    attrs
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(&name))
        .map(|(_, v)| v.as_deref().unwrap_or(""))
}

impl Media {
    /// The first value of an `a=` attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        attr(&self.attributes, name).next()
    }

    /// `a=path`: the MSRP URIs, space-separated (RFC 4975 §8.2).
    pub fn path(&self) -> Vec<String> {
        self.attr("path")
            .map(|p| p.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    }

    /// `a=accept-types` (RFC 4975 §8.6).
    pub fn accept_types(&self) -> Vec<String> {
        self.attr("accept-types")
            .map(|p| p.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    }

    /// An MSRP media line that is not disabled (port 0) — RFC 4975 §8.1.
    pub fn is_msrp(&self) -> bool {
        self.media.eq_ignore_ascii_case("message")
            && self.port != 0
            && (self.proto.eq_ignore_ascii_case("TCP/MSRP")
                || self.proto.eq_ignore_ascii_case("TCP/TLS/MSRP"))
    }
}

impl Sdp {
    /// Parses an SDP body. Lenient on order and unknown lines, strict on what it uses.
    pub fn parse(body: &str) -> Result<Sdp, String> {
        let mut sdp = Sdp::default();
        let mut seen_v = false;
        for raw in body.lines() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("SDP line without '=': {line}"))?;
            if k.len() != 1 {
                return Err(format!("bad SDP line type '{k}'"));
            }
            match k {
                "v" => {
                    if v.trim() != "0" {
                        return Err("SDP version must be 0".into());
                    }
                    seen_v = true;
                }
                "o" if sdp.media.is_empty() => sdp.origin = v.to_string(),
                "s" if sdp.media.is_empty() => sdp.session_name = v.to_string(),
                "t" if sdp.media.is_empty() => sdp.timing = v.to_string(),
                "c" => match sdp.media.last_mut() {
                    Some(m) => m.connection = Some(v.to_string()),
                    None => sdp.connection = Some(v.to_string()),
                },
                "m" => {
                    let mut it = v.split_whitespace();
                    let media = it.next().ok_or("m= line without media")?.to_string();
                    let port = it
                        .next()
                        .and_then(|p| p.split('/').next())
                        .and_then(|p| p.parse::<u16>().ok())
                        .ok_or_else(|| format!("bad port in m={v}"))?;
                    let proto = it
                        .next()
                        .ok_or_else(|| format!("no protocol in m={v}"))?
                        .to_string();
                    let formats = it.map(String::from).collect();
                    sdp.media.push(Media {
                        media,
                        port,
                        proto,
                        formats,
                        ..Default::default()
                    });
                }
                "a" => {
                    let (name, value) = match v.split_once(':') {
                        Some((n, val)) => (n.to_string(), Some(val.to_string())),
                        None => (v.to_string(), None),
                    };
                    match sdp.media.last_mut() {
                        Some(m) => m.attributes.push((name, value)),
                        None => sdp.attributes.push((name, value)),
                    }
                }
                _ => {}
            }
        }
        if !seen_v {
            return Err("SDP without v= line".into());
        }
        Ok(sdp)
    }

    /// The first usable MSRP media line.
    pub fn msrp(&self) -> Option<&Media> {
        self.media.iter().find(|m| m.is_msrp())
    }

    /// The description as sent.
    pub fn to_body(&self) -> String {
        let mut s = String::from("v=0\r\n");
        let _ = write!(s, "o={}\r\ns={}\r\n", self.origin, self.session_name);
        if let Some(c) = &self.connection {
            let _ = write!(s, "c={c}\r\n");
        }
        let _ = write!(
            s,
            "t={}\r\n",
            if self.timing.is_empty() {
                "0 0"
            } else {
                &self.timing
            }
        );
        let write_attrs = |s: &mut String, attrs: &[(String, Option<String>)]| {
            for (k, v) in attrs {
                match v {
                    Some(v) => {
                        let _ = write!(s, "a={k}:{v}\r\n");
                    }
                    None => {
                        let _ = write!(s, "a={k}\r\n");
                    }
                }
            }
        };
        write_attrs(&mut s, &self.attributes);
        for m in &self.media {
            let _ = write!(s, "m={} {} {}", m.media, m.port, m.proto);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            if let Some(c) = &m.connection {
                let _ = write!(s, "c={c}\r\n");
            }
            write_attrs(&mut s, &m.attributes);
        }
        s
    }
}

/// Our SDP offer for a chat session (RFC 4975 §8, RFC 6135 §4: `a=setup:actpass`, so the
/// answerer picks who connects). RFC 7573's examples omit `v=`/`o=`/`s=`/`t=`, which RFC
/// 4566 requires; they are here.
pub fn msrp_offer(host: &str, path: &str, accept: &[&str], max_size: u64, tls: bool) -> Sdp {
    msrp_sdp(host, path, accept.join(" "), "actpass", max_size, tls)
}

/// One `m=message` session description: ours, as offer or answer.
fn msrp_sdp(host: &str, path: &str, accept: String, setup: &str, max_size: u64, tls: bool) -> Sdp {
    let ip_kind = if host.contains(':') { "IP6" } else { "IP4" };
    Sdp {
        origin: format!("- {} 1 IN {ip_kind} {host}", std::process::id()),
        session_name: "-".into(),
        connection: Some(format!("IN {ip_kind} {host}")),
        timing: "0 0".into(),
        attributes: vec![],
        media: vec![Media {
            media: "message".into(),
            port: path_port(path),
            proto: if tls { "TCP/TLS/MSRP" } else { "TCP/MSRP" }.into(),
            formats: vec!["*".into()],
            connection: None,
            attributes: vec![
                ("accept-types".into(), Some(accept)),
                ("path".into(), Some(path.to_string())),
                ("setup".into(), Some(setup.into())),
                ("max-size".into(), Some(max_size.to_string())),
            ],
        }],
    }
}

fn path_port(path: &str) -> u16 {
    path.rsplit_once(':')
        .and_then(|(_, p)| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(2855)
}

/// Who connects, from the offerer's side, given the answer's `a=setup` (RFC 6135 §4.2;
/// without the attribute RFC 4975 §5.4 makes the offerer the active party): `true` when we,
/// the offerer, open the connection.
pub fn offerer_connects(answer: &Media) -> bool {
    !answer
        .attr("setup")
        .is_some_and(|s| s.eq_ignore_ascii_case("active"))
}

/// Our SDP answer to an MSRP offer (RFC 4975 §8, RFC 6135): one `m=message` line with our
/// path, the accept-types we share with the offer (`*` in the offer matches all of ours),
/// our max-size, and `a=setup`: we take `passive` unless the offerer insists on being
/// passive itself (then `active`). `None`: no usable MSRP line, or no common type (488).
pub fn msrp_answer(
    offer: &Sdp,
    host: &str,
    path: &str,
    accept: &[&str],
    max_size: u64,
    tls: bool,
) -> Option<(Sdp, bool)> {
    let m = offer.msrp()?;
    let theirs = m.accept_types();
    let common: Vec<String> = accept
        .iter()
        .filter(|a| theirs.iter().any(|t| t == "*" || t.eq_ignore_ascii_case(a)))
        .map(|a| a.to_string())
        .collect();
    if common.is_empty() {
        return None;
    }
    let their_setup = m.attr("setup").unwrap_or("active").to_ascii_lowercase();
    let we_connect = their_setup == "passive";
    let setup = if we_connect { "active" } else { "passive" };
    Some((
        msrp_sdp(host, path, common.join(" "), setup, max_size, tls),
        we_connect,
    ))
}

/// RFC 7701 §5.3 / RFC 7702 §5.1: a participant's offer for a chat room: everything is
/// wrapped in `message/cpim`, the real types go in `accept-wrapped-types`, and `a=chatroom`
/// says we support nicknames and private messages (RFC 7702 MUST advertise the latter).
pub fn chatroom_offer(host: &str, path: &str, max_size: u64) -> Sdp {
    let mut s = msrp_sdp(
        host,
        path,
        "message/cpim".into(),
        "actpass",
        max_size,
        false,
    );
    chatroom_attrs(&mut s);
    s
}

/// RFC 7702 §6.1: the focus's answer to a participant's offer: `None` when the offer cannot
/// carry `message/cpim` (488). The bool: we open the MSRP connection.
pub fn chatroom_answer(
    offer: &Sdp,
    host: &str,
    path: &str,
    max_size: u64,
    tls: bool,
) -> Option<(Sdp, bool)> {
    let (mut answer, we_connect) =
        msrp_answer(offer, host, path, &["message/cpim"], max_size, tls)?;
    if let Some(m) = answer.media.first_mut() {
        for (k, v) in &mut m.attributes {
            if k == "accept-types" {
                *v = Some("message/cpim text/plain text/html".into());
            }
        }
    }
    chatroom_attrs(&mut answer);
    Some((answer, we_connect))
}

fn chatroom_attrs(s: &mut Sdp) {
    if let Some(m) = s.media.first_mut() {
        m.attributes.push((
            "accept-wrapped-types".into(),
            Some("text/plain text/html application/im-iscomposing+xml".into()),
        ));
        m.attributes
            .push(("chatroom".into(), Some("nickname private-messages".into())));
    }
}

/// The tokens of an `a=chatroom` attribute (RFC 7701 §7), lower-cased; `None` without one.
pub fn chatroom_tokens(m: &Media) -> Option<Vec<String>> {
    m.attr("chatroom").map(|v| {
        v.split_whitespace()
            .map(|t| t.to_ascii_lowercase())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4975 §7.1's offer (host names in c=, as the RFC writes them).
    const OFFER: &str = "v=0\r\no=alice 2890844526 2890844527 IN IP4 alicepc.example.com\r\ns=-\r\nc=IN IP4 alicepc.example.com\r\nt=0 0\r\nm=message 7654 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:msrp://alicepc.example.com:7654/jshA7weztas;tcp\r\n";

    #[test]
    fn rfc4975_offer() {
        let s = Sdp::parse(OFFER).unwrap();
        let m = s.msrp().unwrap();
        assert_eq!(
            (m.port, m.proto.as_str(), m.formats.clone()),
            (7654, "TCP/MSRP", vec!["*".to_string()])
        );
        assert_eq!(
            m.path(),
            vec!["msrp://alicepc.example.com:7654/jshA7weztas;tcp"]
        );
        assert_eq!(m.accept_types(), vec!["text/plain"]);
        assert_eq!(s.connection.as_deref(), Some("IN IP4 alicepc.example.com"));
        assert_eq!(Sdp::parse(&s.to_body()).unwrap(), s);
    }

    #[test]
    fn audio_only_and_disabled_msrp_are_not_usable() {
        let audio = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";
        assert!(Sdp::parse(audio).unwrap().msrp().is_none());
        let off = OFFER.replace("m=message 7654", "m=message 0");
        assert!(Sdp::parse(&off).unwrap().msrp().is_none());
        let tls = OFFER.replace("TCP/MSRP", "TCP/TLS/MSRP");
        assert!(Sdp::parse(&tls).unwrap().msrp().is_some());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "",
            "x",
            "v=1\r\n",
            "v=0\r\nm=message\r\n",
            "v=0\r\nm=message abc TCP/MSRP *\r\n",
            "vv=0",
            "v=0\r\nm=message 5 \r\n",
        ] {
            assert!(Sdp::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn answers_an_msrp_offer() {
        let offer = Sdp::parse(OFFER).unwrap();
        let (a, we_connect) = msrp_answer(
            &offer,
            "127.0.0.1",
            "msrp://127.0.0.1:2855/abc;tcp",
            &["text/plain", "message/cpim"],
            65536,
            false,
        )
        .unwrap();
        assert!(
            !we_connect,
            "the offerer connects by default (RFC 4975 §5.4)"
        );
        let m = a.msrp().unwrap();
        assert_eq!(
            (m.port, m.accept_types()),
            (2855, vec!["text/plain".to_string()])
        );
        assert_eq!(m.attr("setup"), Some("passive"));
        assert_eq!(m.attr("max-size"), Some("65536"));
        assert_eq!(Sdp::parse(&a.to_body()).unwrap(), a);
        let passive = Sdp::parse(&OFFER.replace("a=path", "a=setup:passive\r\na=path")).unwrap();
        assert!(
            msrp_answer(
                &passive,
                "127.0.0.1",
                "msrp://127.0.0.1:2855/abc;tcp",
                &["text/plain"],
                1,
                false
            )
            .unwrap()
            .1
        );
        let png = Sdp::parse(&OFFER.replace("text/plain", "image/png")).unwrap();
        assert!(msrp_answer(&png, "h", "msrp://h:1/a;tcp", &["text/plain"], 1, false).is_none());
    }
}
