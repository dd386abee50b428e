//! Structured header values (RFC 3261 §20, §25.1): Via, name-addr/addr-spec, CSeq, and the
//! `;name=value` parameters they share. Lenient where real peers differ, strict where a
//! wrong reading would change meaning (Via parameters); nothing panics on input.

use std::fmt::Write as _;

use super::message::{is_token, is_token_char};

/// `CSeq: 4711 INVITE` → (4711, "INVITE"); the number must be < 2^31 (RFC 3261 §8.1.1.5).
pub fn parse_cseq(v: &str) -> Option<(u32, String)> {
    let mut it = v.split_whitespace();
    let n: u32 = it.next()?.parse().ok()?;
    let m = it.next()?;
    if it.next().is_some() || n >= 1 << 31 || !is_token(m) {
        return None;
    }
    Some((n, m.to_string()))
}

/// A parsed Via entry (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP` or `TLS`.
    pub transport: String,
    /// sent-by host.
    pub host: String,
    /// sent-by port.
    pub port: Option<u16>,
    /// Parameters (branch, rport, received, …).
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// Tolerates LWS around `/` and `;` and in parameters, as RFC 3261 §7.3.1 allows and
    /// RFC 4475 §3.1.1.1 exercises.
    pub fn parse(v: &str) -> Option<Via> {
        let (name, rest) = v.split_once('/')?;
        let (ver, rest) = rest.split_once('/')?;
        if !name.trim().eq_ignore_ascii_case("SIP") || ver.trim() != "2.0" {
            return None;
        }
        let rest = rest.trim_start();
        let tlen = rest.bytes().take_while(|b| is_token_char(*b)).count();
        let transport = rest.get(..tlen)?;
        let rest = rest.get(tlen..)?;
        if transport.is_empty() || !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            return None;
        }
        let mut parts = rest.trim().split(';');
        let sent_by = parts.next()?.trim();
        let (host, port) = split_host_port(sent_by)?;
        let params = parse_params(parts, true)?;
        Some(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params,
        })
    }

    /// A parameter: `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// `host[:port]` as it appears, for transaction matching (RFC 3261 §17.2.3).
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) if self.host.contains(':') => format!("[{}]:{p}", self.host),
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
pub fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    let (h, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().ok()?)),
        None => (s, None),
    };
    if h.is_empty()
        || !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return None;
    }
    Some((h.to_ascii_lowercase(), port))
}

/// `;name[=value]` parameters (names lower-cased). `strict`: empty or non-token entries make
/// the whole header invalid (Via); otherwise empty entries are skipped.
fn parse_params<'a>(
    parts: impl Iterator<Item = &'a str>,
    strict: bool,
) -> Option<Vec<(String, Option<String>)>> {
    let mut params = Vec::new();
    for p in parts.map(str::trim) {
        if p.is_empty() {
            if strict {
                return None;
            }
            continue;
        }
        match p.split_once('=') {
            Some((k, v)) => {
                let (k, v) = (k.trim(), v.trim());
                if strict && (!is_token(k) || v.is_empty()) {
                    return None;
                }
                params.push((k.to_ascii_lowercase(), Some(v.to_string())));
            }
            None if !strict || is_token(p) => params.push((p.to_ascii_lowercase(), None)),
            None => return None,
        }
    }
    Some(params)
}

fn find_param<'a>(params: &'a [(String, Option<String>)], name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_deref())
}

/// `"Display" <uri>;params` or `uri;params` (RFC 3261 §20.10, §25.1 name-addr / addr-spec).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NameAddr {
    /// Unquoted, unescaped display name.
    pub display: Option<String>,
    /// The URI (without angle brackets).
    pub uri: String,
    /// Header parameters (after `>`, or after the addr-spec).
    pub params: Vec<(String, Option<String>)>,
}

/// A quoted-string (RFC 3261 §25.1, the same grammar in RFC 4975 §9): `"` and `\` escaped
/// as quoted-pairs, CR and LF left out so a value can never end a header line.
pub fn quoted(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        if c != '\r' && c != '\n' {
            s.push(c);
        }
    }
    s.push('"');
    s
}

/// The text of a whole-value quoted-string, quoted-pairs resolved; `None` when `v` is not
/// one (no quotes, an unescaped `"` inside, a dangling `\`).
pub fn unquoted(v: &str) -> Option<String> {
    let inner = v.trim().strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

impl NameAddr {
    /// Parses `"Name" <uri>;params` or `uri;params`.
    pub fn parse(v: &str) -> Option<NameAddr> {
        let v = v.trim();
        let (display, uri, rest) = if let Some(after) = v.strip_prefix('"') {
            // quoted-string with \-escapes
            let mut out = String::new();
            let mut chars = after.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => out.push(chars.next()?.1),
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => out.push(c),
                }
            }
            let rest = after.get(end? + 1..)?.trim_start();
            let inner = rest.strip_prefix('<')?;
            let (uri, rest) = inner.split_once('>')?;
            (Some(out), uri.trim(), rest)
        } else if let Some(lt) = v.find('<') {
            let name = v.get(..lt)?.trim();
            // unquoted display-name = *(token LWS)
            if !name
                .bytes()
                .all(|b| is_token_char(b) || b == b' ' || b == b'\t')
            {
                return None;
            }
            let (uri, rest) = v.get(lt + 1..)?.split_once('>')?;
            (
                (!name.is_empty()).then(|| name.to_string()),
                uri.trim(),
                rest,
            )
        } else {
            // addr-spec: parameters after the first ';' belong to the header (§20.10)
            match v.split_once(';') {
                Some((u, _)) => (None, u.trim(), v.get(u.len()..).unwrap_or_default()),
                None => (None, v, ""),
            }
        };
        if uri.is_empty() || !uri.contains(':') || uri.contains(char::is_whitespace) {
            return None;
        }
        // addr-spec without <> cannot carry '?' headers or ',' (RFC 3261 §20).
        if !v.contains('<') && (uri.contains('?') || uri.contains(',')) {
            return None;
        }
        let params = parse_params(rest.split(';'), false)?;
        Some(NameAddr {
            display,
            uri: uri.to_string(),
            params,
        })
    }

    /// A header parameter: `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// Always `"display" <uri>;params`, escaping `"` and `\` in the display name
    /// (RFC 3261 §25.1 quoted-pair) and keeping URI parameters inside the brackets.
    pub fn to_header(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.display {
            s.push_str(&quoted(d));
            s.push(' ');
        }
        let _ = write!(s, "<{}>", self.uri);
        for (k, v) in &self.params {
            match v {
                Some(v) => {
                    let _ = write!(s, ";{k}={v}");
                }
                None => {
                    let _ = write!(s, ";{k}");
                }
            }
        }
        s
    }
}
