//! SIP message model, parser and serializer (RFC 3261 §7, §18.3, §20).
//!
//! Why ours and not rsipstack's `Request`/`Response` (see notes/rust-crates.md and the README):
//! its parser cannot represent unknown methods (RFC 3261 §8.2.1 still requires a 405/501
//! answer to them), stops silently at a non-UTF-8 header line, treats a bad Content-Length as
//! 0, and writes only standard reason phrases — so "400 Missing Call-ID header" cannot be
//! sent. Here the message is a start line, an ordered list of (canonical name, value) header
//! fields and opaque body bytes; every rejection says why, and nothing panics on input.
//! rsipstack's URI grammar is still used to validate SIP Request-URIs (see [`check_uri`]).
//! Header values with structure (Via, name-addr, CSeq) are in `sip/header.rs`, stream framing
//! in `sip/framing.rs`; both are re-exported here.

use std::borrow::Cow;
use std::fmt::Write as _;

pub use super::framing::{Frame, next_frame};
pub use super::header::{NameAddr, Via, parse_cseq, split_host_port};

/// Header fields in order. Names are canonical (compact forms expanded), values are
/// unfolded and trimmed. A comma-separated field stays one entry; [`Headers::values`]
/// splits list headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(Cow<'static, str>, String)>);

impl Headers {
    /// The first value of a header (case-insensitive, compact forms too).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header line with this name.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every element of a list header across all its fields (`Via: a, b` + `Via: c`).
    pub fn values<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        self.get_all(name).flat_map(split_list).collect()
    }

    /// Appends a header.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((canonical_name(name), value.into()));
    }

    /// Replaces every header of this name with one.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.push(name, value);
    }

    /// Removes every header of this name.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

/// A request method (RFC 3261 §7.1: a case-sensitive token). Methods we never heard of are
/// kept in [`Method::Other`], so that they can still be answered 405 (§8.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// RFC 3261
    Invite,
    /// RFC 3261
    Ack,
    /// RFC 3261
    Bye,
    /// RFC 3261
    Cancel,
    /// RFC 3261
    Options,
    /// RFC 3261
    Register,
    /// RFC 3428
    Message,
    /// RFC 6665
    Subscribe,
    /// RFC 6665
    Notify,
    /// RFC 3515
    Refer,
    /// RFC 3903
    Publish,
    /// RFC 6086
    Info,
    /// RFC 3311
    Update,
    /// RFC 3262
    Prack,
    /// Any other token, as received.
    Other(String),
}

impl Method {
    const KNOWN: [(Method, &'static str); 14] = [
        (Method::Invite, "INVITE"),
        (Method::Ack, "ACK"),
        (Method::Bye, "BYE"),
        (Method::Cancel, "CANCEL"),
        (Method::Options, "OPTIONS"),
        (Method::Register, "REGISTER"),
        (Method::Message, "MESSAGE"),
        (Method::Subscribe, "SUBSCRIBE"),
        (Method::Notify, "NOTIFY"),
        (Method::Refer, "REFER"),
        (Method::Publish, "PUBLISH"),
        (Method::Info, "INFO"),
        (Method::Update, "UPDATE"),
        (Method::Prack, "PRACK"),
    ];

    /// The method named by `token` (case-sensitive, as RFC 3261 §7.1 says).
    pub fn from_token(token: &str) -> Method {
        Self::KNOWN
            .iter()
            .find(|(_, t)| *t == token)
            .map(|(m, _)| m.clone())
            .unwrap_or_else(|| Method::Other(token.to_string()))
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Other(s) => s,
            m => Self::KNOWN
                .iter()
                .find(|(k, _)| k == m)
                .map(|(_, t)| *t)
                .unwrap_or_default(),
        }
    }
}

impl From<&str> for Method {
    fn from(token: &str) -> Self {
        Method::from_token(token)
    }
}

impl From<String> for Method {
    fn from(token: String) -> Self {
        Method::from_token(&token)
    }
}

impl PartialEq<str> for Method {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Method {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP request as parsed or about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method; unknown methods are kept as they are.
    pub method: Method,
    /// The Request-URI.
    pub uri: String,
    /// The headers in order.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// A SIP response.
pub struct Response {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers in order.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// A parsed message.
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// Why a message was refused. `status` is what a request deserves (400, 505, 413…);
/// `request` carries what was readable so a response can be addressed, when it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The status a request deserves (400, 505, 513, …).
    pub status: u16,
    /// The reason phrase to answer with.
    pub reason: String,
    /// What was readable, to address the answer.
    pub request: Option<Box<Request>>,
}

impl ParseError {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        ParseError {
            status,
            reason: reason.into(),
            request: None,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// Compact forms (RFC 3261 §7.3.3 and the extensions that define one) and the canonical
/// spelling of multi-word names, most frequent first (this runs for every header line).
const NAMES: &[(&str, &str)] = &[
    ("via", "Via"),
    ("from", "From"),
    ("to", "To"),
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
    ("max-forwards", "Max-Forwards"),
    ("content-length", "Content-Length"),
    ("content-type", "Content-Type"),
    ("contact", "Contact"),
    ("record-route", "Record-Route"),
    ("route", "Route"),
    ("v", "Via"),
    ("f", "From"),
    ("t", "To"),
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("e", "Content-Encoding"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("o", "Event"),
    ("u", "Allow-Events"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("x", "Session-Expires"),
    ("a", "Accept-Contact"),
    ("j", "Reject-Contact"),
    ("d", "Request-Disposition"),
    ("y", "Identity"),
    ("content-encoding", "Content-Encoding"),
    ("subject", "Subject"),
    ("supported", "Supported"),
    ("event", "Event"),
    ("allow-events", "Allow-Events"),
    ("refer-to", "Refer-To"),
    ("referred-by", "Referred-By"),
    ("session-expires", "Session-Expires"),
    ("accept-contact", "Accept-Contact"),
    ("reject-contact", "Reject-Contact"),
    ("request-disposition", "Request-Disposition"),
    ("identity", "Identity"),
    ("www-authenticate", "WWW-Authenticate"),
    ("content-language", "Content-Language"),
    ("call-info", "Call-Info"),
    ("subscription-state", "Subscription-State"),
    ("proxy-authenticate", "Proxy-Authenticate"),
    ("proxy-authorization", "Proxy-Authorization"),
    ("authorization", "Authorization"),
    ("retry-after", "Retry-After"),
    ("user-agent", "User-Agent"),
    ("min-expires", "Min-Expires"),
];

/// The canonical spelling of a header name (compact forms expanded).
pub fn canonical_name(name: &str) -> Cow<'static, str> {
    if let Some((_, c)) = NAMES
        .iter()
        .find(|(alias, _)| alias.len() == name.len() && name.eq_ignore_ascii_case(alias))
    {
        return Cow::Borrowed(c);
    }
    // Title-Case each dash-separated word; unknown names keep their letters.
    let mut out = String::with_capacity(name.len());
    let mut up = true;
    for ch in name.chars() {
        if up {
            out.extend(ch.to_uppercase());
        } else {
            out.extend(ch.to_lowercase());
        }
        up = ch == '-';
    }
    Cow::Owned(out)
}

/// RFC 3261 `token` characters, as a table: this runs for every byte of every header name.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// RFC 3261 `token` characters.
pub fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Splits a header value at top-level commas (not inside quotes or `<>`).
pub fn split_list(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in v.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                let part = v[start..i].trim();
                if !part.is_empty() {
                    out.push(part);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let part = v[start..].trim();
    if !part.is_empty() {
        out.push(part);
    }
    out
}

/// Headers whose values may be comma lists (RFC 3261 §7.3.1); others are never split.
pub const LIST_HEADERS: &[&str] = &[
    "Via",
    "Route",
    "Record-Route",
    "Contact",
    "Allow",
    "Supported",
    "Require",
    "Proxy-Require",
    "Unsupported",
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Allow-Events",
    "Content-Encoding",
    "Content-Language",
    "Call-Info",
    "Warning",
];

/// Where the header section ends: index just past `\r\n\r\n`.
pub fn header_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = buf.get(from..)?.iter().position(|b| *b == b'\n') {
        let lf = from + i;
        if lf >= 3 && buf.get(lf - 3..=lf) == Some(b"\r\n\r\n".as_slice()) {
            return Some(lf + 1);
        }
        from = lf + 1;
    }
    None
}

/// Lines of a header section split at CRLF. A bare LF stays inside its line, where the
/// caller rejects it (together with a bare CR).
struct CrlfLines<'a>(&'a str);

impl<'a> Iterator for CrlfLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.0.is_empty() {
            return None;
        }
        let bytes = self.0.as_bytes();
        let mut from = 0;
        loop {
            match bytes
                .get(from..)
                .and_then(|r| r.iter().position(|b| *b == b'\n'))
            {
                Some(i) if from + i > 0 && bytes.get(from + i - 1) == Some(&b'\r') => {
                    let line = self.0.get(..from + i - 1).unwrap_or_default();
                    self.0 = self.0.get(from + i + 1..).unwrap_or_default();
                    return Some(line);
                }
                // a bare LF: keep it in the line (the caller refuses it)
                Some(i) => from += i + 1,
                None => {
                    let line = self.0;
                    self.0 = "";
                    return Some(line);
                }
            }
        }
    }
}

/// Parses one message. `datagram`: the bytes are a whole UDP datagram (extra bytes after
/// Content-Length are discarded, RFC 3261 §18.3); otherwise Content-Length must match.
pub fn parse(input: &[u8], datagram: bool, max_size: usize) -> Result<Message, ParseError> {
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let start = input
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(input.len());
    let buf = input.get(start..).unwrap_or_default();
    if buf.is_empty() {
        return Err(ParseError::new(400, "Empty message"));
    }
    if buf.len() > max_size {
        return Err(ParseError::new(513, "Message Too Large"));
    }
    let head_end =
        header_end(buf).ok_or_else(|| ParseError::new(400, "No blank line after the headers"))?;
    let head = buf.get(..head_end - 4).unwrap_or_default();
    let head = std::str::from_utf8(head)
        .map_err(|_| ParseError::new(400, "Header section is not UTF-8"))?;
    // RFC 3261 §7: lines end in CRLF; a bare CR or LF inside a line is not SIP (and would
    // change meaning when re-serialized).
    let mut lines = CrlfLines(head);
    let start_line = lines.next().unwrap_or_default();
    if start_line.contains(['\r', '\n']) {
        return Err(ParseError::new(400, "Bare CR or LF in the header section"));
    }

    let mut headers = Headers::default();
    let mut bad_header: Option<String> = None;
    for line in lines.by_ref() {
        if line.contains(['\r', '\n']) {
            return Err(ParseError::new(400, "Bare CR or LF in the header section"));
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            // Folding (RFC 3261 §7.3.1): continuation of the previous value.
            match headers.0.last_mut() {
                Some((_, v)) => {
                    if !v.is_empty() {
                        v.push(' ');
                    }
                    v.push_str(line.trim());
                }
                None => bad_header = Some("Folded line before any header".into()),
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            bad_header
                .get_or_insert_with(|| format!("Header line without colon: {}", truncate(line)));
            continue;
        };
        let name = name.trim_end();
        if !is_token(name) {
            bad_header.get_or_insert_with(|| format!("Bad header name {}", truncate(name)));
            continue;
        }
        headers
            .0
            .push((canonical_name(name), value.trim().to_string()));
    }
    let body_all = buf.get(head_end..).unwrap_or_default();

    // Start line.
    let mut parts = start_line.splitn(3, ' ');
    let (a, b, c) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if a.starts_with("SIP/") {
        if !a.eq_ignore_ascii_case("SIP/2.0") {
            return Err(ParseError::new(505, "Version Not Supported"));
        }
        let code: u16 = b
            .parse()
            .ok()
            .filter(|c| (100..=699).contains(c) && b.len() == 3)
            .ok_or_else(|| ParseError::new(400, format!("Bad status code {}", truncate(b))))?;
        if headers.get("CSeq").and_then(parse_cseq).is_none() {
            return Err(ParseError::new(400, "Bad CSeq header in response"));
        }
        if headers
            .values("Via")
            .first()
            .and_then(|v| Via::parse(v))
            .is_none()
        {
            return Err(ParseError::new(400, "Bad Via header in response"));
        }
        let body = take_body(&headers, body_all, datagram).map_err(|r| ParseError::new(400, r))?;
        if let Some(r) = bad_header {
            return Err(ParseError::new(400, r));
        }
        return Ok(Message::Response(Response {
            code,
            reason: c.to_string(),
            headers,
            body,
        }));
    }

    if !is_token(a) {
        return Err(ParseError::new(400, "Bad Request-Line"));
    }
    let mut req = Request {
        method: Method::from_token(a),
        uri: b.to_string(),
        headers,
        body: Vec::new(),
    };
    let fail = |status: u16, reason: String, req: &Request| ParseError {
        status,
        reason,
        request: Some(Box::new(req.clone())),
    };
    if c.is_empty() || b.is_empty() || c.contains(' ') {
        return Err(fail(400, "Bad Request-Line".into(), &req));
    }
    if c != c.trim_end() {
        return Err(fail(
            400,
            "Bad Request-Line (trailing whitespace)".into(),
            &req,
        ));
    }
    if !c.eq_ignore_ascii_case("SIP/2.0") {
        return Err(fail(505, "Version Not Supported".into(), &req));
    }
    if let Some(r) = bad_header {
        return Err(fail(400, r, &req));
    }
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        if req.headers.get(h).is_none_or(|v| v.is_empty()) {
            return Err(fail(400, format!("Missing {h} header"), &req));
        }
    }
    const SINGLE: [&str; 7] = [
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Max-Forwards",
        "Content-Length",
        "Content-Type",
    ];
    let mut seen = [0u8; 7];
    for (n, _) in &req.headers.0 {
        if let Some(i) = SINGLE.iter().position(|h| n == h) {
            seen[i] = seen[i].saturating_add(1);
        }
    }
    if let Some(i) = seen.iter().position(|c| *c > 1) {
        let h = SINGLE.get(i).copied().unwrap_or_default();
        return Err(fail(400, format!("More than one {h} header"), &req));
    }
    let (_, cseq_method) = parse_cseq(req.headers.get("CSeq").unwrap_or_default())
        .ok_or_else(|| fail(400, "Bad CSeq header".into(), &req))?;
    if req.method != cseq_method.as_str() {
        return Err(fail(
            400,
            "CSeq method does not match the request method".into(),
            &req,
        ));
    }
    if let Some(mf) = req.headers.get("Max-Forwards")
        && mf.parse::<u8>().is_err()
    {
        return Err(fail(400, "Bad Max-Forwards header".into(), &req));
    }
    if let Err(r) = check_uri(&req.uri) {
        return Err(fail(400, r, &req));
    }
    for v in req.headers.values("Via") {
        if Via::parse(v).is_none() {
            return Err(fail(400, "Bad Via header".into(), &req));
        }
    }
    for h in ["From", "To"] {
        if NameAddr::parse(req.headers.get(h).unwrap_or_default()).is_none() {
            return Err(fail(400, format!("Bad {h} header"), &req));
        }
    }
    for v in req.headers.values("Contact") {
        if v != "*" && NameAddr::parse(v).is_none() {
            return Err(fail(400, "Bad Contact header".into(), &req));
        }
    }
    match take_body(&req.headers, body_all, datagram) {
        Ok(b) => req.body = b,
        Err(r) => return Err(fail(400, r, &req)),
    }
    Ok(Message::Request(req))
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

fn take_body(headers: &Headers, body: &[u8], datagram: bool) -> Result<Vec<u8>, String> {
    let cl = match headers.get("Content-Length") {
        Some(v) => Some(
            v.trim()
                .parse::<usize>()
                .map_err(|_| "Bad Content-Length header".to_string())?,
        ),
        None => None,
    };
    match cl {
        Some(n) if n > body.len() => Err("Content-Length larger than the body".into()),
        Some(n) => Ok(body.get(..n).unwrap_or_default().to_vec()),
        None if datagram => Ok(body.to_vec()),
        None => Err("Missing Content-Length on a stream transport".into()),
    }
}

/// A Request-URI we can route on: `sip:`/`sips:` checked against rsipstack's URI grammar;
/// other absolute URIs (`tel:`, `im:`, `pres:`) need a scheme and no whitespace.
pub fn check_uri(uri: &str) -> Result<(), String> {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("Request-URI has no scheme".into());
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return Err("Bad Request-URI scheme".into());
    }
    if rest.is_empty() || uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("Bad Request-URI".into());
    }
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        let host = rest.rsplit('@').next().unwrap_or_default();
        if host.is_empty() || host.starts_with(';') || host.starts_with(':') {
            return Err("Request-URI has no host".into());
        }
        // RFC 3261 §19.1.1: no headers component in a Request-URI.
        if host.contains('?') {
            return Err("Request-URI must not carry headers".into());
        }
        rsipstack::sip::parse_uri(uri).map_err(|_| "Bad Request-URI".to_string())?;
    }
    Ok(())
}

impl Request {
    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, String)> {
        parse_cseq(self.headers.get("CSeq")?)
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<Via> {
        Via::parse(self.headers.values("Via").first()?)
    }

    /// The To tag: present on in-dialog requests (RFC 3261 §12.2), where it is the
    /// recipient's local tag.
    pub fn to_tag(&self) -> Option<String> {
        NameAddr::parse(self.headers.get("To")?)?
            .tag()
            .map(String::from)
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        self.headers.get("Call-ID").unwrap_or_default()
    }

    /// The request as sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(256 + self.headers.0.len() * 48);
        let _ = write!(s, "{} {} SIP/2.0\r\n", self.method, self.uri);
        write_headers(&mut s, &self.headers, self.body.len());
        let mut b = s.into_bytes();
        b.extend_from_slice(&self.body);
        b
    }
}

impl Response {
    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, String)> {
        parse_cseq(self.headers.get("CSeq")?)
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<Via> {
        Via::parse(self.headers.values("Via").first()?)
    }

    /// The response as sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A reason phrase is TEXT-UTF8; CR/LF inside would split the message.
        let reason: String = self
            .reason
            .chars()
            .filter(|c| *c != '\r' && *c != '\n')
            .collect();
        let mut s = format!("SIP/2.0 {} {}\r\n", self.code, reason);
        write_headers(&mut s, &self.headers, self.body.len());
        let mut b = s.into_bytes();
        b.extend_from_slice(&self.body);
        b
    }

    /// A response to `req` (RFC 3261 §8.2.6.2): Vias, From, To, Call-ID and CSeq copied.
    /// `to_tag` is added to To when it has none (every non-100 response needs one).
    pub fn to_request(req: &Request, code: u16, reason: &str, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::default();
        // §12.1.1: a dialog-creating response copies the request's Record-Route.
        let dialog =
            (101..300).contains(&code) && matches!(req.method.as_str(), "INVITE" | "SUBSCRIBE");
        for (n, v) in &req.headers.0 {
            if matches!(n.as_ref(), "Via" | "From" | "Call-ID" | "CSeq")
                || (dialog && n == "Record-Route")
            {
                headers.0.push((n.clone(), v.clone()));
            } else if n == "To" {
                let has_tag = NameAddr::parse(v).is_some_and(|na| na.param("tag").is_some());
                match to_tag {
                    Some(t) if !has_tag && code != 100 => {
                        headers.0.push((n.clone(), format!("{v};tag={t}")))
                    }
                    _ => headers.0.push((n.clone(), v.clone())),
                }
            }
        }
        if code == 100
            && let Some(ts) = req.headers.get("Timestamp")
        {
            headers.push("Timestamp", ts);
        }
        Response {
            code,
            reason: reason.to_string(),
            headers,
            body: Vec::new(),
        }
    }
}

fn write_headers(s: &mut String, headers: &Headers, body_len: usize) {
    for (n, v) in &headers.0 {
        if n == "Content-Length" {
            continue;
        }
        s.push_str(n);
        s.push_str(": ");
        if v.contains(['\r', '\n']) {
            // A CR or LF inside a value would split the message: drop them.
            s.extend(v.chars().filter(|c| *c != '\r' && *c != '\n'));
        } else {
            s.push_str(v);
        }
        s.push_str("\r\n");
    }
    let _ = write!(s, "Content-Length: {body_len}\r\n\r\n");
}

/// The standard reason phrase for a status code (RFC 3261 §21 and extensions).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}
