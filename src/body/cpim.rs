//! `message/cpim` (RFC 3862): the envelope Linphone (and RCS clients) put around page-mode
//! messages, carrying the IMDN request headers of RFC 5438 §6.
//!
//! Layout: message headers (`From`, `To`, `DateTime`, `NS`, `prefix.Name` extension headers),
//! a blank line, the encapsulated MIME headers (`Content-Type`, …), a blank line, the
//! content. Parsing is lenient about line ends (CRLF or LF: clients differ) and strict about
//! structure; nothing panics on input. No maintained crate does CPIM (notes/rust-crates.md).

/// The IMDN namespace (RFC 5438 §6.1), as declared by `NS: imdn <urn:ietf:params:imdn>`.
pub const NS_IMDN: &str = "urn:ietf:params:imdn";

/// A parsed CPIM message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpim {
    /// Message headers in order, names as written (`imdn.Message-ID` keeps its prefix).
    pub headers: Vec<(String, String)>,
    /// The encapsulated content's MIME headers.
    pub content_headers: Vec<(String, String)>,
    /// The encapsulated content.
    pub body: Vec<u8>,
}

/// Why a body is not CPIM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpimError {
    /// No blank line after the message headers or after the content headers.
    #[error("CPIM: {0} not closed by a blank line")]
    Unterminated(&'static str),
    /// A header line without `Name: value`.
    #[error("CPIM: bad header line '{0}'")]
    BadHeader(String),
    /// Not UTF-8 where headers are.
    #[error("CPIM: headers are not UTF-8")]
    NotUtf8,
}

/// The index just past the first blank line (`\r\n\r\n` or `\n\n`) and where it starts.
fn blank_line(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < b.len() {
        if b.get(i) == Some(&b'\n') {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(b'\n'), _) => return Some((i, i + 2)),
                (Some(b'\r'), Some(b'\n')) => return Some((i, i + 3)),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// A header block and what follows its blank line.
fn block(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (end, rest) = if b.starts_with(b"\r\n") {
        (0, 2)
    } else if b.starts_with(b"\n") {
        (0, 1)
    } else {
        blank_line(b)?
    };
    Some((b.get(..end)?, b.get(rest..)?))
}

fn headers(block: &[u8]) -> Result<Vec<(String, String)>, CpimError> {
    let text = std::str::from_utf8(block).map_err(|_| CpimError::NotUtf8)?;
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // folded continuation (RFC 3862 §3.1 allows it like RFC 2822)
            match out.last_mut() {
                Some(last) => {
                    // A blank continuation adds nothing (else the value would grow a
                    // trailing space that does not survive a round trip).
                    if !line.trim().is_empty() {
                        if !last.1.is_empty() {
                            last.1.push(' ');
                        }
                        last.1.push_str(line.trim());
                    }
                    continue;
                }
                None => return Err(CpimError::BadHeader(line.chars().take(60).collect())),
            }
        }
        let (n, v) = line
            .split_once(':')
            .ok_or_else(|| CpimError::BadHeader(line.chars().take(60).collect()))?;
        if n.is_empty() || n.contains(char::is_whitespace) {
            return Err(CpimError::BadHeader(line.chars().take(60).collect()));
        }
        out.push((n.to_string(), v.trim().to_string()));
    }
    Ok(out)
}

impl Cpim {
    /// Parses a `message/cpim` body.
    pub fn parse(body: &[u8]) -> Result<Cpim, CpimError> {
        // RFC 3862 §3: message headers, then the content's MIME headers, each block
        // ended by a blank line (an empty block is allowed).
        let (head, after) = block(body).ok_or(CpimError::Unterminated("message headers"))?;
        let (content, rest) = block(after).ok_or(CpimError::Unterminated("content headers"))?;
        Ok(Cpim {
            headers: headers(head)?,
            content_headers: headers(content)?,
            body: rest.to_vec(),
        })
    }

    /// A message header (case-insensitive name, prefix included: `imdn.Message-ID`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// An extension header of namespace `ns` (RFC 3862 §3.4: the prefix is whatever `NS`
    /// declares for it; `imdn` when the sender declared none, as some clients do).
    pub fn ns_header(&self, ns: &str, name: &str) -> Option<&str> {
        let prefix = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("NS"))
            .find_map(|(_, v)| {
                let (p, uri) = v.split_once('<')?;
                (uri.trim_end_matches('>').trim() == ns).then(|| p.trim().to_string())
            })
            .unwrap_or_else(|| "imdn".into());
        self.header(&format!("{prefix}.{name}"))
    }

    /// The encapsulated content's MIME type (without parameters), `text/plain` by default.
    pub fn content_type(&self) -> String {
        self.content_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
            .map(|(_, v)| v.as_str())
            .unwrap_or("text/plain")
            .to_string()
    }

    /// The dispositions the sender asks for (`imdn.Disposition-Notification`, RFC 5438 §6.4).
    pub fn dispositions(&self) -> Vec<String> {
        self.ns_header(NS_IMDN, "Disposition-Notification")
            .map(|v| {
                v.split(',')
                    .map(|d| d.trim().to_ascii_lowercase())
                    .filter(|d| !d.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The message as sent (CRLF line ends).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        for (n, v) in &self.content_headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        let mut b = s.into_bytes();
        b.extend_from_slice(&self.body);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3862 §6 (the example message), and RFC 5438 §6.4's IMDN request headers.
    const RFC3862: &str = "From: MR SANDERS <im:piglet@100akerwood.com>\r\n\
To: Depressed Donkey <im:eeyore@100akerwood.com>\r\n\
DateTime: 2000-12-13T13:40:00-08:00\r\n\
Subject: the weather will be fine today\r\n\
Subject:;lang=fr beau temps prevu pour aujourd'hui\r\n\
NS: MyFeatures <mid:MessageFeatures@id.foo.com>\r\n\
Require: MyFeatures.VitalMessageOption\r\n\
MyFeatures.VitalMessageOption: Confirmation-requested\r\n\
MyFeatures.WackyMessageOption: Use-silly-font\r\n\
\r\n\
Content-type: text/xml; charset=utf-8\r\n\
Content-ID: <1234567890@foo.com>\r\n\
\r\n\
<body>\r\n\
Here is the text of my message.\r\n\
</body>";

    #[test]
    fn rfc3862_example() {
        let c = Cpim::parse(RFC3862.as_bytes()).unwrap();
        assert_eq!(
            c.header("from"),
            Some("MR SANDERS <im:piglet@100akerwood.com>")
        );
        assert_eq!(c.header("DateTime"), Some("2000-12-13T13:40:00-08:00"));
        assert_eq!(
            c.ns_header("mid:MessageFeatures@id.foo.com", "WackyMessageOption"),
            Some("Use-silly-font")
        );
        assert_eq!(c.content_type(), "text/xml; charset=utf-8");
        assert_eq!(
            c.body,
            b"<body>\r\nHere is the text of my message.\r\n</body>"
        );
        assert_eq!(Cpim::parse(&c.to_bytes()).unwrap(), c);
    }

    /// What Linphone sends with CPIM on (RFC 5438 §6 headers), LF line ends tolerated.
    #[test]
    fn imdn_request_headers() {
        let body = "From: <sip:romeo@example.net>\nTo: <sip:juliet@example.com>\nDateTime: 2026-11-30T10:00:00Z\nNS: imdn <urn:ietf:params:imdn>\nimdn.Message-ID: 34jk324j\nimdn.Disposition-Notification: positive-delivery, negative-delivery, display\n\nContent-Type: text/plain;charset=UTF-8\n\nHi ❤";
        let c = Cpim::parse(body.as_bytes()).unwrap();
        assert_eq!(c.ns_header(NS_IMDN, "Message-ID"), Some("34jk324j"));
        assert_eq!(
            c.dispositions(),
            vec!["positive-delivery", "negative-delivery", "display"]
        );
        assert_eq!(c.content_type(), "text/plain;charset=UTF-8");
        assert_eq!(c.body, "Hi ❤".as_bytes());
    }

    /// Found by the `page_bodies` fuzz target: a blank folded line.
    #[test]
    fn blank_continuation_lines_round_trip() {
        let c = Cpim::parse(b"From: <sip:a@b>\r\n \t\r\nTo:\r\n x\r\n\r\n\r\nbody").unwrap();
        assert_eq!(c.header("From"), Some("<sip:a@b>"));
        assert_eq!(
            c.header("To"),
            Some("x"),
            "an empty value folded onto the next line"
        );
        assert_eq!(Cpim::parse(&c.to_bytes()).unwrap(), c);
    }

    #[test]
    fn malformed_cpim_is_an_error() {
        assert!(matches!(
            Cpim::parse(b"From: <sip:a@b>\r\nno blank line"),
            Err(CpimError::Unterminated(_))
        ));
        assert!(matches!(
            Cpim::parse(b"Fr om <sip:a@b>\r\n\r\n\r\nx"),
            Err(CpimError::BadHeader(_))
        ));
        assert!(matches!(
            Cpim::parse(b"From: \xff\r\n\r\n\r\nx"),
            Err(CpimError::NotUtf8)
        ));
        // no message headers at all is allowed
        let c = Cpim::parse(b"\r\nContent-Type: text/plain\r\n\r\nx").unwrap();
        assert_eq!(c.body, b"x");
    }
}
