//! MSRP framing (RFC 4975 §7, §8.2 of our spec notes), sans-IO: an incremental parser that
//! finds one whole request or response at the start of a buffer (robust to any split across
//! TCP reads), a serializer, the sender-side chunker and the receiver-side reassembly by
//! Message-ID and Byte-Range. No maintained MSRP crate exists (notes/rust-crates.md).
//!
//! `parse` rescans from the start of the buffer on every call; the connection task should
//! call it once per read (reads are large), not per byte.

use std::collections::HashMap;
use std::fmt::Write as _;

/// Continuation flag of the end-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `+`: more chunks follow.
    More,
    /// `$`: last chunk.
    Last,
    /// `#`: message aborted.
    Abort,
}

impl Flag {
    fn from_byte(b: u8) -> Option<Flag> {
        match b {
            b'+' => Some(Flag::More),
            b'$' => Some(Flag::Last),
            b'#' => Some(Flag::Abort),
            _ => None,
        }
    }

    fn byte(self) -> char {
        match self {
            Flag::More => '+',
            Flag::Last => '$',
            Flag::Abort => '#',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// Request or response.
pub enum Kind {
    /// A request with its method.
    Request(String),
    /// A response: status and comment.
    Response(u16, Option<String>),
}

/// One MSRP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The transaction id.
    pub tid: String,
    /// Request or response.
    pub kind: Kind,
    /// In order; To-Path and From-Path first, Content-Type last when there is a body.
    pub headers: Vec<(String, String)>,
    /// The body (after Content-Type).
    pub body: Vec<u8>,
    /// The continuation flag of the end-line (`$`, `+`, `#`).
    pub flag: Flag,
}

/// Why bytes are not MSRP. `tid` is set when the start line was readable, so a request can
/// still be answered 400; `skip` is how many bytes to discard when the frame's end was found
/// (otherwise the connection is unusable and must be closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Why it is not MSRP.
    pub reason: String,
    /// The transaction id, if the start line was readable.
    pub tid: Option<String>,
    /// Bytes to skip to the next frame, when its end was found.
    pub skip: Option<usize>,
}

impl ParseError {
    fn fatal(reason: impl Into<String>) -> Self {
        ParseError {
            reason: reason.into(),
            tid: None,
            skip: None,
        }
    }
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'%' | b'=')
}

/// RFC 4975 `ident`: 4 to 32 characters. Longer ones (the STOX examples use 36-character
/// UUIDs) are accepted up to 64 so that peers following the examples still work.
fn is_ident(s: &str) -> bool {
    (4..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(is_ident_char)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| hay.get(i..i + needle.len()) == Some(needle))
}

/// Parses one frame at the start of `buf`. `Ok(None)`: need more bytes. `max` bounds how
/// far we look for the end of a frame before declaring the stream broken.
pub fn parse(buf: &[u8], max: usize) -> Result<Option<(Frame, usize)>, ParseError> {
    let Some(eol) = find(buf, b"\r\n", 0) else {
        return if buf.len() > 1024 {
            Err(ParseError::fatal("no start line"))
        } else {
            Ok(None)
        };
    };
    let start = std::str::from_utf8(buf.get(..eol).unwrap_or_default())
        .map_err(|_| ParseError::fatal("start line is not UTF-8"))?;
    let mut parts = start.splitn(3, ' ');
    if parts.next() != Some("MSRP") {
        return Err(ParseError::fatal("not an MSRP start line"));
    }
    let tid = parts.next().unwrap_or_default().to_string();
    if !is_ident(&tid) {
        return Err(ParseError::fatal("bad transaction id"));
    }
    let rest = parts.next().unwrap_or_default();
    let kind = match rest
        .split_once(' ')
        .map(|(a, b)| (a, Some(b)))
        .unwrap_or((rest, None))
    {
        (code, comment) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => {
            Kind::Response(code.parse().unwrap_or(0), comment.map(String::from))
        }
        (method, None) if !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase()) => {
            Kind::Request(method.to_string())
        }
        _ => return Err(ParseError::fatal("bad method or status")),
    };

    // The end-line: "-------" tid flag CRLF, at the start of a line.
    let marker = format!("\r\n-------{tid}");
    let marker = marker.as_bytes();
    // Headers end at an empty line (a body follows) or at the end-line.
    let mut pos = eol + 2;
    let mut headers = Vec::new();
    let mut body_start = None;
    loop {
        if buf.get(pos..pos + 2) == Some(b"\r\n".as_slice()) {
            body_start = Some(pos + 2);
            break;
        }
        // end-line directly after the headers (no body)?
        if buf.get(pos..pos + marker.len() - 2) == marker.get(2..) {
            break;
        }
        let Some(e) = find(buf, b"\r\n", pos) else {
            return if buf.len() > max {
                Err(ParseError::fatal("headers too long"))
            } else {
                Ok(None)
            };
        };
        let line = std::str::from_utf8(buf.get(pos..e).unwrap_or_default())
            .map_err(|_| ParseError::fatal("header is not UTF-8"))?;
        let Some((n, v)) = line.split_once(':') else {
            return Err(ParseError {
                reason: format!("bad header line {line:?}"),
                tid: Some(tid),
                skip: None,
            });
        };
        headers.push((n.trim().to_string(), v.trim().to_string()));
        pos = e + 2;
        if headers.len() > 64 {
            return Err(ParseError::fatal("too many headers"));
        }
    }
    let (body, flag_at) = match body_start {
        None => {
            let flag_at = pos + marker.len() - 2;
            match buf.get(flag_at) {
                None => return Ok(None),
                Some(b) if Flag::from_byte(*b).is_none() => {
                    return Err(ParseError::fatal("bad continuation flag"));
                }
                Some(_) => {}
            }
            (Vec::new(), flag_at)
        }
        Some(b) => {
            // The body ends at CRLF + end-line + flag + CRLF; a look-alike inside the body
            // (not followed by a flag and CRLF) is skipped. The search starts just before the
            // body so that an empty body ("\r\n\r\n-------tid$") is found too.
            let mut from = b.saturating_sub(2);
            loop {
                let Some(m) = find(buf, marker, from) else {
                    return if buf.len() > max {
                        Err(ParseError {
                            reason: "message larger than the limit".into(),
                            tid: Some(tid),
                            skip: None,
                        })
                    } else {
                        Ok(None)
                    };
                };
                let flag_at = m + marker.len();
                match (buf.get(flag_at), buf.get(flag_at + 1..flag_at + 3)) {
                    (Some(f), Some(crlf)) if Flag::from_byte(*f).is_some() && crlf == b"\r\n" => {
                        break (buf.get(b..m.max(b)).unwrap_or_default().to_vec(), flag_at);
                    }
                    (Some(_), Some(_)) => from = m + 1,
                    // the flag or its CRLF has not arrived yet
                    _ => return Ok(None),
                }
            }
        }
    };
    if buf.len() < flag_at + 3 {
        return Ok(None);
    }
    let Some(flag) = buf.get(flag_at).copied().and_then(Flag::from_byte) else {
        return Err(ParseError::fatal("bad continuation flag"));
    };
    if buf.get(flag_at + 1..flag_at + 3) != Some(b"\r\n".as_slice()) {
        return Err(ParseError::fatal("end-line not followed by CRLF"));
    }
    let consumed = flag_at + 3;
    let frame = Frame {
        tid: tid.clone(),
        kind,
        headers,
        body,
        flag,
    };
    // Structure checks that still let us answer.
    let bad = |reason: &str| {
        Err(ParseError {
            reason: reason.into(),
            tid: Some(tid.clone()),
            skip: Some(consumed),
        })
    };
    if frame.headers.first().map(|(n, _)| n.as_str()) != Some("To-Path")
        || frame.headers.get(1).map(|(n, _)| n.as_str()) != Some("From-Path")
    {
        return bad("To-Path and From-Path must be the first two headers");
    }
    if !frame.body.is_empty() && frame.header("Content-Type").is_none() {
        return bad("a body needs Content-Type");
    }
    Ok(Some((frame, consumed)))
}

impl Frame {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The method, for requests.
    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            Kind::Request(m) => Some(m),
            Kind::Response(..) => None,
        }
    }

    /// The frame as sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(200);
        match &self.kind {
            Kind::Request(m) => {
                let _ = write!(s, "MSRP {} {m}\r\n", self.tid);
            }
            Kind::Response(c, Some(comment)) => {
                let _ = write!(s, "MSRP {} {c:03} {comment}\r\n", self.tid);
            }
            Kind::Response(c, None) => {
                let _ = write!(s, "MSRP {} {c:03}\r\n", self.tid);
            }
        }
        for (n, v) in &self.headers {
            let _ = write!(s, "{n}: {v}\r\n");
        }
        let mut out = s.into_bytes();
        if !self.body.is_empty() {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&self.body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("-------{}{}\r\n", self.tid, self.flag.byte()).as_bytes());
        out
    }

    /// The transaction response (RFC 4975 §7.2): To-Path = the request's first From-Path URI,
    /// From-Path = the first To-Path URI (ours).
    /// Replaces a header's value (or adds the header at the end).
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = value,
            None => self.headers.push((name.to_string(), value)),
        }
    }

    /// A response to this request: To-Path/From-Path swapped, same transaction id.
    pub fn response(&self, code: u16, comment: &str) -> Frame {
        let first = |h: &str| {
            self.header(h)
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or_default()
                .to_string()
        };
        Frame {
            tid: self.tid.clone(),
            kind: Kind::Response(code, Some(comment.to_string())),
            headers: vec![
                ("To-Path".into(), first("From-Path")),
                ("From-Path".into(), first("To-Path")),
            ],
            body: Vec::new(),
            flag: Flag::Last,
        }
    }
}

/// `Byte-Range: start-end/total`, with `*` for an unknown end or total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte (1-based).
    pub start: u64,
    /// Last byte, `None` for `*`.
    pub end: Option<u64>,
    /// Total size, `None` for `*`.
    pub total: Option<u64>,
}

impl ByteRange {
    /// Parses `start-end/total`.
    pub fn parse(v: &str) -> Option<ByteRange> {
        let (range, total) = v.trim().split_once('/')?;
        let (start, end) = range.split_once('-')?;
        let num = |s: &str| {
            if s == "*" {
                Some(None)
            } else {
                s.parse::<u64>().ok().map(Some)
            }
        };
        let start = start.parse::<u64>().ok().filter(|s| *s >= 1)?;
        Some(ByteRange {
            start,
            end: num(end)?,
            total: num(total)?,
        })
    }
}

/// Splits a message into SEND chunks of at most `chunk` body bytes (RFC 4975 §7.1.1).
/// `tids` gives a fresh transaction id per chunk; the caller makes sure no chunk body contains
/// its own end-line (random ids make that practically impossible; checked here anyway).
#[allow(clippy::too_many_arguments)]
pub fn chunk_send(
    mut tids: impl FnMut() -> String,
    to_path: &str,
    from_path: &str,
    message_id: &str,
    content_type: &str,
    extra: &[(&str, String)],
    body: &[u8],
    chunk: usize,
) -> Vec<Frame> {
    let total = body.len();
    let chunk = chunk.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + chunk).min(total);
        let piece = body.get(start..end).unwrap_or_default();
        let mut tid = tids();
        while find(piece, format!("-------{tid}").as_bytes(), 0).is_some() {
            tid = tids();
        }
        let mut headers = vec![
            ("To-Path".to_string(), to_path.to_string()),
            ("From-Path".to_string(), from_path.to_string()),
            ("Message-ID".to_string(), message_id.to_string()),
            (
                "Byte-Range".to_string(),
                format!("{}-{}/{}", start + 1, end, total),
            ),
        ];
        for (n, v) in extra {
            headers.push((n.to_string(), v.clone()));
        }
        if !piece.is_empty() {
            headers.push(("Content-Type".to_string(), content_type.to_string()));
        }
        let last = end >= total;
        out.push(Frame {
            tid,
            kind: Kind::Request("SEND".into()),
            headers,
            body: piece.to_vec(),
            flag: if last { Flag::Last } else { Flag::More },
        });
        if last {
            return out;
        }
        start = end;
    }
}

/// A message being reassembled.
#[derive(Debug, Default)]
struct Partial {
    data: Vec<u8>,
    /// Byte ranges received, as (start, end) half-open, merged.
    have: Vec<(u64, u64)>,
    total: Option<u64>,
    content_type: Option<String>,
    last_seen: bool,
}

/// What feeding a SEND chunk produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembled {
    /// Not complete yet.
    Pending,
    /// The whole message: content type and bytes.
    Complete {
        /// The Message-ID.
        message_id: String,
        /// Its Content-Type.
        content_type: String,
        /// The whole body.
        body: Vec<u8>,
    },
    /// `#`: the sender gave up; what we had is dropped.
    Aborted,
    /// Larger than allowed: answer 413 and drop the message (RFC 4975 §7.3.1).
    TooLarge,
    /// The chunk does not make sense (bad Byte-Range, missing Message-ID): answer 400.
    Bad(&'static str),
}

/// Reassembly per Message-ID, bounded by `max` bytes per message and `max_messages` in flight.
#[derive(Debug)]
pub struct Reassembly {
    max: u64,
    max_messages: usize,
    partial: HashMap<String, Partial>,
}

fn add_range(have: &mut Vec<(u64, u64)>, s: u64, e: u64) {
    have.push((s, e));
    have.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(have.len());
    for &(a, b) in have.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *have = merged;
}

impl Reassembly {
    /// Limits: message size and messages in flight.
    pub fn new(max: u64, max_messages: usize) -> Self {
        Reassembly {
            max,
            max_messages,
            partial: HashMap::new(),
        }
    }

    /// Messages being reassembled.
    pub fn in_flight(&self) -> usize {
        self.partial.len()
    }

    /// Adds a chunk.
    pub fn feed(&mut self, f: &Frame) -> Reassembled {
        let Some(mid) = f.header("Message-ID").map(String::from) else {
            return Reassembled::Bad("missing Message-ID");
        };
        let range = match f.header("Byte-Range") {
            Some(v) => match ByteRange::parse(v) {
                Some(r) => r,
                None => return Reassembled::Bad("bad Byte-Range"),
            },
            // Without Byte-Range the chunk is the whole message (RFC 4975 §7.1.1).
            None => ByteRange {
                start: 1,
                end: Some(f.body.len() as u64),
                total: Some(f.body.len() as u64),
            },
        };
        if f.flag == Flag::Abort {
            self.partial.remove(&mid);
            return Reassembled::Aborted;
        }
        if range.total.is_some_and(|t| t > self.max) {
            self.partial.remove(&mid);
            return Reassembled::TooLarge;
        }
        let start = range.start - 1;
        let end = start + f.body.len() as u64;
        if end > self.max {
            self.partial.remove(&mid);
            return Reassembled::TooLarge;
        }
        if let Some(e) = range.end
            && e != end
            && !f.body.is_empty()
        {
            return Reassembled::Bad("Byte-Range end does not match the chunk length");
        }
        if !self.partial.contains_key(&mid) && self.partial.len() >= self.max_messages {
            return Reassembled::TooLarge;
        }
        let p = self.partial.entry(mid.clone()).or_default();
        if p.total.is_none() {
            p.total = range.total;
        }
        if p.content_type.is_none() {
            p.content_type = f.header("Content-Type").map(String::from);
        }
        let (s, e) = (start as usize, end as usize);
        if p.data.len() < e {
            p.data.resize(e, 0);
        }
        if let Some(dst) = p.data.get_mut(s..e) {
            dst.copy_from_slice(&f.body);
        }
        add_range(&mut p.have, start, end);
        if f.flag == Flag::Last {
            p.last_seen = true;
        }
        let total = match p.total {
            Some(t) => Some(t),
            None if p.last_seen => Some(p.data.len() as u64),
            None => None,
        };
        let complete = match total {
            Some(0) => p.last_seen,
            Some(t) => p.have.first() == Some(&(0, t)),
            None => false,
        };
        if let (true, Some(total)) = (complete, total) {
            let Some(p) = self.partial.remove(&mid) else {
                return Reassembled::Pending;
            };
            let mut body = p.data;
            body.truncate(total as usize);
            return Reassembled::Complete {
                message_id: mid,
                content_type: p.content_type.unwrap_or_else(|| "text/plain".into()),
                body,
            };
        }
        Reassembled::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F9: &str = "MSRP a786hjs2 SEND\r\nTo-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\nFrom-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nMessage-ID: 54C6F4F1A39C47D6\r\nByte-Range: 1-35/35\r\nFailure-Report: no\r\nContent-Type: text/plain\r\n\r\nArt thou not Romeo, and a Montague?\r\n-------a786hjs2$\r\n";

    #[test]
    fn rfc_send_vector_is_288_octets_and_round_trips() {
        assert_eq!(F9.len(), 288);
        let (f, n) = parse(F9.as_bytes(), 65536).unwrap().unwrap();
        assert_eq!(n, 288);
        assert_eq!(f.tid, "a786hjs2");
        assert_eq!(f.method(), Some("SEND"));
        assert_eq!(f.body, b"Art thou not Romeo, and a Montague?");
        assert_eq!(f.flag, Flag::Last);
        assert_eq!(f.header("Failure-Report"), Some("no"));
        assert_eq!(f.to_bytes(), F9.as_bytes());
    }

    #[test]
    fn response_and_bodiless_send_and_report() {
        let (f, _) = parse(F9.as_bytes(), 65536).unwrap().unwrap();
        let r = f.response(200, "OK");
        assert_eq!(
            String::from_utf8(r.to_bytes()).unwrap(),
            "MSRP a786hjs2 200 OK\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\n-------a786hjs2$\r\n"
        );
        let (back, _) = parse(&r.to_bytes(), 65536).unwrap().unwrap();
        assert_eq!(back.kind, Kind::Response(200, Some("OK".into())));
        let bind = "MSRP b1nd0001 SEND\r\nTo-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\nFrom-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nMessage-ID: bind0001\r\nByte-Range: 1-0/0\r\n-------b1nd0001$\r\n";
        let (b, n) = parse(bind.as_bytes(), 65536).unwrap().unwrap();
        assert_eq!((n, b.body.len()), (bind.len(), 0));
        assert_eq!(b.to_bytes(), bind.as_bytes());
        let report = "MSRP hx74g336 REPORT\r\nTo-Path: msrp://x2s.example.com:8763/lkjh37s2s20w2a;tcp\r\nFrom-Path: msrp://s2x.example.net:7313/ansp71weztas;tcp\r\nMessage-ID: 6187CF9B317A41DA\r\nByte-Range: 1-22/22\r\nStatus: 000 200 OK\r\n-------hx74g336$\r\n";
        let (rep, _) = parse(report.as_bytes(), 65536).unwrap().unwrap();
        assert_eq!(
            (rep.method(), rep.header("Status")),
            (Some("REPORT"), Some("000 200 OK"))
        );
    }

    #[test]
    fn any_split_across_reads_parses_the_same() {
        let two = format!("{F9}{F9}");
        let b = two.as_bytes();
        for cut in 0..b.len() {
            // what arrived so far: either incomplete, or the first frame exactly
            match parse(&b[..cut], 65536).unwrap() {
                None => assert!(cut < 288, "cut {cut}"),
                Some((f, n)) => {
                    assert_eq!(n, 288);
                    assert_eq!(f.body, b"Art thou not Romeo, and a Montague?");
                }
            }
        }
    }

    #[test]
    fn body_containing_end_line_lookalikes() {
        let body = b"x\r\n-------other$\r\n-------a786hjs2 not a flag";
        let f = Frame {
            tid: "a786hjs2".into(),
            kind: Kind::Request("SEND".into()),
            headers: vec![
                ("To-Path".into(), "msrp://a/b;tcp".into()),
                ("From-Path".into(), "msrp://c/d;tcp".into()),
                ("Content-Type".into(), "text/plain".into()),
            ],
            body: body.to_vec(),
            flag: Flag::Last,
        };
        let (g, _) = parse(&f.to_bytes(), 65536).unwrap().unwrap();
        assert_eq!(g.body, body);
    }

    #[test]
    fn malformed_frames() {
        assert!(parse(b"HTTP/1.1 200 OK\r\n", 100).is_err());
        assert!(parse(b"MSRP a SEND\r\n", 100).is_err(), "tid too short");
        assert!(
            parse(b"MSRP abcd send\r\n", 100).is_err(),
            "method must be upper case"
        );
        let swapped = F9.replacen("To-Path", "X-Path", 1);
        let e = parse(swapped.as_bytes(), 65536).unwrap_err();
        assert_eq!(
            (e.tid.as_deref(), e.skip),
            (Some("a786hjs2"), Some(swapped.len()))
        );
        let no_ct = F9.replace("Content-Type: text/plain\r\n", "");
        assert!(
            parse(no_ct.as_bytes(), 65536)
                .unwrap_err()
                .reason
                .contains("Content-Type")
        );
        // a body's end-line with a bad flag looks like body text: wait for the real one, and
        // give up once the limit is passed
        let bad_flag = F9.replace("a786hjs2$", "a786hjs2!");
        assert_eq!(parse(bad_flag.as_bytes(), 65536), Ok(None));
        assert!(parse(bad_flag.as_bytes(), 100).is_err());
        let bodiless = "MSRP b1nd0001 SEND\r\nTo-Path: msrp://a:1/x;tcp\r\nFrom-Path: msrp://b:2/y;tcp\r\n-------b1nd0001!\r\n";
        assert!(parse(bodiless.as_bytes(), 65536).is_err());
        // incomplete and within limits: wait
        assert_eq!(parse(&F9.as_bytes()[..200], 65536), Ok(None));
        // incomplete beyond the limit: broken stream
        assert!(parse(&F9.as_bytes()[..200], 100).is_err());
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0u32;
        move || {
            n += 1;
            format!("t{n:07}")
        }
    }

    #[test]
    fn chunked_3000_octets_reassemble() {
        let mut body = vec![b'A'; 2048];
        body.extend(vec![b'B'; 952]);
        let chunks = chunk_send(
            ids(),
            "msrp://a:1/x;tcp",
            "msrp://b:2/y;tcp",
            "big00001",
            "text/plain",
            &[],
            &body,
            2048,
        );
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].header("Byte-Range"), Some("1-2048/3000"));
        assert_eq!(chunks[1].header("Byte-Range"), Some("2049-3000/3000"));
        assert_eq!((chunks[0].flag, chunks[1].flag), (Flag::More, Flag::Last));
        let mut r = Reassembly::new(65536, 16);
        // out of order
        assert_eq!(r.feed(&chunks[1]), Reassembled::Pending);
        match r.feed(&chunks[0]) {
            Reassembled::Complete {
                body: got,
                message_id,
                ..
            } => {
                assert_eq!(got, body);
                assert_eq!(message_id, "big00001");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.in_flight(), 0);
    }

    #[test]
    fn interrupted_abort_and_oversize() {
        let mk = |range: &str, body: Vec<u8>, flag: Flag| Frame {
            tid: "t0000001".into(),
            kind: Kind::Request("SEND".into()),
            headers: vec![
                ("To-Path".into(), "msrp://a:1/x;tcp".into()),
                ("From-Path".into(), "msrp://b:2/y;tcp".into()),
                ("Message-ID".into(), "big00001".into()),
                ("Byte-Range".into(), range.into()),
                ("Content-Type".into(), "text/plain".into()),
            ],
            body,
            flag,
        };
        let mut r = Reassembly::new(65536, 16);
        assert_eq!(
            r.feed(&mk("1-*/3000", vec![b'A'; 1000], Flag::More)),
            Reassembled::Pending
        );
        assert!(
            matches!(r.feed(&mk("1001-*/3000", vec![b'B'; 2000], Flag::Last)), Reassembled::Complete { ref body, .. } if body.len() == 3000)
        );
        assert_eq!(
            r.feed(&mk("1-*/3000", vec![b'A'; 1000], Flag::More)),
            Reassembled::Pending
        );
        assert_eq!(
            r.feed(&mk("1001-*/3000", vec![b'B'; 10], Flag::Abort)),
            Reassembled::Aborted
        );
        assert_eq!(r.in_flight(), 0);
        assert_eq!(
            r.feed(&mk("1-*/100000", vec![b'A'; 10], Flag::More)),
            Reassembled::TooLarge
        );
        assert_eq!(
            r.feed(&mk("1-5/5", vec![b'A'; 4], Flag::Last)),
            Reassembled::Bad("Byte-Range end does not match the chunk length")
        );
    }

    /// Any message, chunked at any size and delivered split at any point, comes out whole.
    #[test]
    fn chunk_split_reassemble_property() {
        let body: Vec<u8> = (0..700u32).map(|i| (i * 7 % 251) as u8).collect();
        for size in [1usize, 2, 7, 64, 255, 699, 700, 2048] {
            let chunks = chunk_send(
                ids(),
                "msrp://a:1/x;tcp",
                "msrp://b:2/y;tcp",
                "m0000001",
                "application/octet-stream",
                &[],
                &body,
                size,
            );
            let wire: Vec<u8> = chunks.iter().flat_map(|c| c.to_bytes()).collect();
            for split in [1usize, 3, 17, 100, 1000] {
                let mut buf = Vec::new();
                let mut r = Reassembly::new(1 << 20, 4);
                let mut done = None;
                for piece in wire.chunks(split) {
                    buf.extend_from_slice(piece);
                    while let Some((f, n)) = parse(&buf, 1 << 20).unwrap() {
                        buf.drain(..n);
                        if let Reassembled::Complete { body, .. } = r.feed(&f) {
                            done = Some(body);
                        }
                    }
                }
                assert_eq!(
                    done.as_deref(),
                    Some(body.as_slice()),
                    "size {size} split {split}"
                );
                assert!(buf.is_empty());
            }
        }
    }
}
