//! Page-mode instant messages, RFC 7572: `<message/>` ⇄ SIP MESSAGE (RFC 3428).
//!
//! Pure translations; the [`super::Core`] runs the transactions around them.
//! Table 1 (XMPP → SIP, §4): body → body, subject → Subject, thread → Call-ID, from → From
//! (bare JID, resource as GRUU), id → remembered against the transaction, to → Request-URI
//! and To, xml:lang → Content-Language. Table 2 (SIP → XMPP, §5) is the reverse, with no
//! `type`, and a full JID `from` when the GRUU is known.

// StanzaError is xmpp-parsers' own type; errors are rare, so boxing buys nothing.
#![allow(clippy::result_large_err)]

use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType, Thread};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use super::address::{AddressError, AddressMap, SipAddress};
use crate::body::cpim::{self, Cpim};
use crate::body::imdn::{self, Imdn};
use crate::body::iscomposing::{self, IsComposing};
use crate::body::xhtml;
use crate::sip::message::{NameAddr, Request, is_token_char};
use crate::xmpp::stanza;

/// A SIP answer refusing a request: status, reason phrase, extra headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The SIP status.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// Extra headers (Accept, Warning, …).
    pub headers: Vec<(&'static str, String)>,
}

impl Refusal {
    /// A refusal with no extra headers.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            reason: reason.into(),
            headers: vec![],
        }
    }
}

/// What page mode takes from SIP (`Accept` of 415s and OPTIONS answers).
pub const ACCEPT: &str =
    "text/plain, text/html, message/cpim, message/imdn+xml, application/im-iscomposing+xml";

/// Who a SIP request (MESSAGE or INVITE) is from and to, as JIDs (RFC 7247 §5): the
/// Request-URI must name a user of our XMPP domains (`sips:` → 403, `tel:` → 416, others
/// → 404), and From must map under the component domain — never one of our XMPP domains,
/// which would let SIP claim an XMPP identity (403).
pub fn sip_endpoints(req: &Request, map: &AddressMap) -> Result<(Jid, Jid), Refusal> {
    // Request-URI (or To) → to. sips: must not be carried into XMPP (RFC 7247 §9).
    let target = SipAddress::parse(&req.uri).map_err(|e| match e {
        AddressError::Sips => Refusal::new(403, "sips: cannot be carried to XMPP"),
        AddressError::UnsupportedScheme(s) => {
            Refusal::new(416, format!("Unsupported URI Scheme {s}"))
        }
        other => Refusal::new(404, other.to_string()),
    })?;
    if let Some(to) = req.headers.get("To").and_then(NameAddr::parse)
        && to.uri.to_ascii_lowercase().starts_with("sips:")
    {
        return Err(Refusal::new(403, "sips: cannot be carried to XMPP"));
    }
    let to = map
        .sip_to_jid(&target)
        .map_err(|e| Refusal::new(404, e.to_string()))?;
    if map.is_muc_domain(to.domain().as_str()) {
        return Err(Refusal::new(
            404,
            "Not Found (a chat room: enter it with an MSRP session, RFC 7702)",
        ));
    }
    if !map.is_served_xmpp_domain(to.domain().as_str()) {
        // A SIP user of ours (or a remote SIP domain): we only deliver to XMPP users.
        return Err(Refusal::new(404, "Not an XMPP user of this gateway"));
    }

    Ok((sip_sender(req, map)?, to))
}

/// The sender of a SIP request as a JID under the component domain; never one of our XMPP
/// domains or MUC services, which would let SIP claim an XMPP identity (403).
pub fn sip_sender(req: &Request, map: &AddressMap) -> Result<Jid, Refusal> {
    let from_na = req
        .headers
        .get("From")
        .and_then(NameAddr::parse)
        .ok_or_else(|| Refusal::new(400, "Bad From header"))?;
    let from_sip = SipAddress::parse(&from_na.uri)
        .map_err(|e| Refusal::new(403, format!("From cannot be mapped: {e}")))?;
    let from = map
        .sip_to_jid(&from_sip)
        .map_err(|e| Refusal::new(403, format!("From cannot be mapped: {e}")))?;
    if from.domain().as_str() != map.component() {
        return Err(Refusal::new(
            403,
            "From claims an identity of the XMPP side",
        ));
    }
    Ok(from)
}

/// What a SIP MESSAGE carries once its encoding and CPIM envelope are off.
#[derive(Debug)]
pub enum PageIn {
    /// A message for the XMPP user (RFC 7572 §5).
    Message(Box<Message>),
    /// A delivery or display notification about a message we sent (RFC 5438).
    Notification(Imdn),
    /// The sender is (or stopped) composing (RFC 3994).
    Composing(IsComposing),
}

/// A MESSAGE from SIP, unwrapped and addressed.
#[derive(Debug)]
pub struct Inbound {
    /// What it carries.
    pub page: PageIn,
    /// What its CPIM envelope said.
    pub envelope: Envelope,
    /// The SIP sender as a JID.
    pub from: Jid,
    /// The XMPP recipient.
    pub to: Jid,
}

/// What a CPIM envelope said about a message (RFC 3862, RFC 5438 §6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The message came in `message/cpim`.
    pub cpim: bool,
    /// `imdn.Message-ID`.
    pub message_id: Option<String>,
    /// `imdn.Disposition-Notification`, lower-cased.
    pub dispositions: Vec<String>,
    /// `DateTime`, as written.
    pub datetime: Option<String>,
}

const CPIM: &str = "message/cpim";

/// The body after `Content-Encoding` (RFC 3261 §20.12): `identity` or `deflate` (zlib, or
/// raw deflate as some clients send it), at most `max` bytes once inflated; anything else is
/// 415 with `Accept-Encoding`.
pub fn decode_encoding(req: &Request, max: usize) -> Result<Vec<u8>, Refusal> {
    let Some(enc) = req
        .headers
        .get("Content-Encoding")
        .map(|e| e.trim().to_ascii_lowercase())
    else {
        return Ok(req.body.clone());
    };
    match enc.as_str() {
        "" | "identity" => Ok(req.body.clone()),
        "deflate" => crate::body::inflate(&req.body, max)
            .ok_or_else(|| Refusal::new(400, "Content-Encoding deflate: body does not inflate")),
        other => Err(Refusal {
            code: 415,
            reason: format!("Unsupported Content-Encoding {other}"),
            headers: vec![("Accept-Encoding", "deflate, identity".into())],
        }),
    }
}

/// SIP MESSAGE → what it carries (RFC 7572 §5). `id` is the stanza id to use (we use the
/// transaction's branch, the nearest thing SIP has to a transaction identifier); `max` the
/// largest body accepted once inflated.
pub fn sip_to_xmpp(
    req: &Request,
    map: &AddressMap,
    id: &str,
    max: usize,
) -> Result<Inbound, Refusal> {
    let (from, to) = sip_endpoints(req, map)?;
    let mut body = decode_encoding(req, max)?;
    let mut content_type = req
        .headers
        .get("Content-Type")
        .unwrap_or("text/plain")
        .to_string();
    let mut envelope = Envelope::default();
    if mime_of(&content_type) == CPIM {
        let c = Cpim::parse(&body).map_err(|e| Refusal::new(400, e.to_string()))?;
        envelope = Envelope {
            cpim: true,
            message_id: c.ns_header(cpim::NS_IMDN, "Message-ID").map(String::from),
            dispositions: c.dispositions(),
            datetime: c.header("DateTime").map(String::from),
        };
        content_type = c.content_type();
        body = c.body;
    }
    let page = match mime_of(&content_type).as_str() {
        "text/plain" | "text/html" => {
            let (text, html) = decode_text(&content_type, &body)?;
            PageIn::Message(Box::new(message(
                req,
                from.clone(),
                to.clone(),
                id,
                text,
                html,
            )))
        }
        imdn::CONTENT_TYPE => {
            PageIn::Notification(Imdn::parse(&body).map_err(|e| Refusal::new(400, e))?)
        }
        iscomposing::CONTENT_TYPE => {
            PageIn::Composing(IsComposing::parse(&body).map_err(|e| Refusal::new(400, e))?)
        }
        _ => return Err(unsupported()),
    };
    Ok(Inbound {
        page,
        envelope,
        from,
        to,
    })
}

/// The MIME type of a Content-Type value, lower-cased, without parameters.
pub fn mime_of(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn unsupported() -> Refusal {
    Refusal {
        code: 415,
        reason: "Unsupported Media Type".into(),
        headers: vec![("Accept", ACCEPT.into())],
    }
}

/// The `<message/>` for a text MESSAGE (RFC 7572 §5 Table 2).
fn message(
    req: &Request,
    from: Jid,
    to: Jid,
    id: &str,
    text: String,
    html: Option<Element>,
) -> Message {
    let mut m = Message::new(Some(to));
    m.from = Some(from);
    m.type_ = MessageType::Normal;
    m.id = Some(xmpp_parsers::message::Id(id.to_string()));
    let lang = req
        .headers
        .get("Content-Language")
        .and_then(|l| l.split(',').next())
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .unwrap_or_default();
    if let Some(s) = req.headers.get("Subject").filter(|s| !s.is_empty()) {
        m.subjects.insert(Lang(lang.clone()), s.to_string());
    }
    m.bodies.insert(Lang(lang), text);
    m.thread = Some(Thread {
        parent: None,
        id: req.call_id().to_string(),
    });
    if let Some(h) = html {
        m.payloads.push(h);
    }
    m
}

/// The body as text: text/plain in UTF-8 (or Latin-1/ASCII, converted), text/html as
/// XHTML-IM plus its plain rendering.
fn decode_text(content_type: &str, body: &[u8]) -> Result<(String, Option<Element>), Refusal> {
    let mut parts = content_type.split(';');
    let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase())
        .unwrap_or_else(|| "utf-8".into());
    let text = match charset.as_str() {
        "utf-8" | "utf8" | "us-ascii" => String::from_utf8(body.to_vec())
            .map_err(|_| Refusal::new(400, "Body is not valid UTF-8"))?,
        "iso-8859-1" | "latin1" | "iso_8859-1" => body.iter().map(|b| char::from(*b)).collect(),
        other => {
            let mut r = unsupported();
            r.reason = format!("Unsupported charset {other}");
            return Err(r);
        }
    };
    if text.trim().is_empty() {
        return Err(Refusal::new(400, "Empty message body"));
    }
    if mime == "text/html" {
        let (plain, html) = xhtml::html_to_xhtml_im(&text);
        return Ok((plain, Some(html)));
    }
    Ok((text, None))
}

/// What the core needs to send a MESSAGE for a stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMessage {
    /// The Request-URI (the recipient's SIP URI).
    pub request_uri: String,
    /// From without its tag (the core adds one).
    pub from: NameAddr,
    /// The To header.
    pub to: NameAddr,
    /// The thread, when it can be a Call-ID as it is.
    pub call_id: Option<String>,
    /// `Subject`, from `<subject/>`.
    pub subject: Option<String>,
    /// `Content-Language`, from the body's `xml:lang`.
    pub language: Option<String>,
    /// The body.
    pub body: String,
    /// Its MIME type.
    pub content_type: &'static str,
    /// `Call-Info` pointing back at the XMPP identity (RFC 7081 / RFC 6993).
    pub call_info: String,
}

impl PageMessage {
    /// The sender's resource out of From (`;gr=` dropped): SIP clients key a conversation
    /// by the From address, so one XMPP user must have one From whatever resource writes.
    pub fn from_without_gruu(&mut self) {
        if let Ok(a) = SipAddress::parse(&self.from.uri) {
            self.from.uri = SipAddress { gruu: None, ..a }.to_uri();
        }
    }

    /// The request this stanza becomes (MESSAGE in page mode, INVITE for a chat session):
    /// From with our `tag`, Call-Info, Subject (RFC 7572 §4 Table 1), and `body`. The caller
    /// adds what belongs to its method (Content-Language, Contact, limits).
    pub fn request(
        &self,
        method: &str,
        tag: String,
        call_id: String,
        cseq: u32,
        body: (String, Vec<u8>),
    ) -> crate::sip::ua::Outgoing {
        let mut from = self.from.clone();
        from.params.push(("tag".into(), Some(tag)));
        let mut headers = vec![("Call-Info".to_string(), self.call_info.clone())];
        if let Some(s) = &self.subject {
            headers.push(("Subject".into(), s.clone()));
        }
        crate::sip::ua::Outgoing {
            method: method.into(),
            uri: self.request_uri.clone(),
            from,
            to: self.to.clone(),
            call_id,
            cseq,
            headers,
            body: Some(body),
            target: None,
            size_limit: None,
            routes: None,
        }
    }
}

/// `<message/>` → MESSAGE parts (RFC 7572 §4). `Ok(None)`: nothing to send (no body, e.g.
/// chat states or receipts only). `Err`: the stanza error to return.
/// `html`: send an XHTML-IM payload as text/html instead of the plain `<body/>`.
pub fn xmpp_to_sip(
    m: &Message,
    map: &AddressMap,
    html: bool,
) -> Result<Option<PageMessage>, StanzaError> {
    if m.type_ == MessageType::Groupchat || m.from.is_none() || m.to.is_none() {
        return page_to(m, map).map(|_| None);
    }
    let Some((lang, body)) = best_body(m) else {
        return Ok(None);
    };
    let mut page = page_to(m, map)?;
    let xhtml = if html { xhtml_body(m) } else { None };
    page.subject = m
        .subjects
        .get(lang.as_str())
        .or_else(|| m.subjects.values().next())
        .cloned();
    page.language = (!lang.is_empty()).then_some(lang);
    page.content_type = if xhtml.is_some() {
        "text/html;charset=UTF-8"
    } else {
        "text/plain;charset=UTF-8"
    };
    page.body = xhtml.unwrap_or(body);
    Ok(Some(page))
}

/// The addressing of a MESSAGE for a stanza (RFC 7572 §4 Table 1 without the body):
/// Request-URI, From (with the resource as `gr`), To, Call-ID from the thread, Call-Info.
pub fn page_to(m: &Message, map: &AddressMap) -> Result<PageMessage, StanzaError> {
    if m.type_ == MessageType::Groupchat {
        return Err(stanza::error(
            DefinedCondition::BadRequest,
            "groupchat messages can only go to a room",
        ));
    }
    let (Some(from), Some(to)) = (m.from.as_ref(), m.to.as_ref()) else {
        return Err(stanza::error(
            DefinedCondition::BadRequest,
            "message without from or to",
        ));
    };
    let target = map
        .jid_to_sip(to)
        .map_err(|e| stanza::error(DefinedCondition::ItemNotFound, e.to_string()))?;
    let me = map
        .jid_to_sip(from)
        .map_err(|e| stanza::error(DefinedCondition::Forbidden, e.to_string()))?;
    let to_na = NameAddr {
        display: None,
        uri: SipAddress {
            gruu: None,
            ..target.clone()
        }
        .to_uri(),
        params: vec![],
    };
    Ok(PageMessage {
        request_uri: target.to_uri(),
        from: NameAddr {
            display: None,
            uri: me.to_uri(),
            params: vec![],
        },
        to: to_na,
        call_id: m
            .thread
            .as_ref()
            .map(|t| t.id.clone())
            .filter(|t| is_sip_word(t)),
        subject: None,
        language: None,
        content_type: "text/plain;charset=UTF-8",
        body: String::new(),
        call_info: format!(
            "<xmpp:{}>;purpose=impp",
            Jid::from(from.to_bare()).to_string().replace('>', "%3E")
        ),
    })
}

/// The XHTML-IM `<body/>` of a message as an HTML fragment (its inner markup).
fn xhtml_body(m: &Message) -> Option<String> {
    let html = m
        .payloads
        .iter()
        .find(|p| p.is("html", xhtml::NS_XHTML_IM))?;
    let body = html.get_child("body", xhtml::NS_XHTML)?;
    let outer = String::from(body);
    let start = outer.find('>')? + 1;
    let inner = outer.get(start..)?.strip_suffix("</body>")?;
    (!inner.trim().is_empty()).then(|| inner.to_string())
}

/// The body to send: the one without a language, else the first.
fn best_body(m: &Message) -> Option<(String, String)> {
    m.bodies
        .get("")
        .map(|b| (String::new(), b.clone()))
        .or_else(|| {
            m.bodies
                .iter()
                .next()
                .map(|(l, b)| (l.to_string(), b.clone()))
        })
        .filter(|(_, b)| !b.is_empty())
}

/// RFC 3261 `word` (what a Call-ID is made of).
pub fn is_sip_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| is_token_char(b) || b"()<>:\\\"/[]?{}".contains(&b))
        && !s.contains(['<', '>', '"', '\\'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::sip::message::{Message as SipMsg, parse};
    use std::str::FromStr;

    /// A text MESSAGE's stanza (what these tests look at).
    fn sip_to_xmpp(req: &Request, map: &AddressMap, id: &str) -> Result<Message, Refusal> {
        match super::sip_to_xmpp(req, map, id, 1 << 20)?.page {
            PageIn::Message(m) => Ok(*m),
            other => panic!("not a text message: {other:?}"),
        }
    }

    fn map() -> AddressMap {
        let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\n";
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, toml.as_bytes()).unwrap();
        AddressMap::new(&Config::load_with_env(f.path(), Some(Default::default())).unwrap())
    }

    fn sip(head: &str, body: &[u8]) -> Request {
        let mut m = head
            .replace('\n', "\r\n")
            .replace("{CL}", &body.len().to_string())
            .into_bytes();
        m.extend_from_slice(body);
        match parse(&m, true, 65535).unwrap() {
            SipMsg::Request(r) => r,
            _ => unreachable!(),
        }
    }

    const HEAD: &str = "MESSAGE sip:juliet@example.com SIP/2.0
Via: SIP/2.0/TCP s2x.example.net;branch=z9hG4bKeskdgs677
Max-Forwards: 70
To: <sip:juliet@example.com>
From: <sip:romeo@example.net>;tag=vwxyz
Call-ID: 9E97FB43-85F4-4A00-8751-1124FD4C7B2E
CSeq: 1 MESSAGE
Content-Type: text/plain
Content-Length: {CL}

";

    fn xml(m: Message) -> String {
        String::from(&Element::from(m))
    }

    #[test]
    fn rfc7572_sip_to_xmpp_example() {
        let r = sip(HEAD, b"Neither, fair saint, if either thee dislike.");
        let m = sip_to_xmpp(&r, &map(), "z9hG4bKeskdgs677").unwrap();
        assert_eq!(
            m.from,
            Some(Jid::from_str("romeo@sip.example.com").unwrap())
        );
        assert_eq!(m.to, Some(Jid::from_str("juliet@example.com").unwrap()));
        let x = xml(m);
        assert!(
            x.contains("<thread>9E97FB43-85F4-4A00-8751-1124FD4C7B2E</thread>"),
            "{x}"
        );
        assert!(
            x.contains("<body>Neither, fair saint, if either thee dislike.</body>"),
            "{x}"
        );
        assert!(!x.contains("type="), "no type for page mode: {x}");
    }

    #[test]
    fn gruu_becomes_resource_and_language_subject_map() {
        let head = HEAD
            .replace(
                "From: <sip:romeo@example.net>;tag=vwxyz",
                "From: <sip:romeo@example.net;gr=dr4hcr0st3lup4c>;tag=vwxyz",
            )
            .replace(
                "Content-Type: text/plain",
                "Content-Type: text/plain;charset=UTF-8\nContent-Language: cs\nSubject: Verona",
            );
        let body = "Nic z obého, má děvo spanilá,\r\nnenavidíš-li jedno nebo druhé.".as_bytes();
        assert_eq!(body.len(), 68);
        let m = sip_to_xmpp(&sip(&head, body), &map(), "x").unwrap();
        assert_eq!(
            m.from.as_ref().unwrap().to_string(),
            "romeo@sip.example.com/dr4hcr0st3lup4c"
        );
        let x = xml(m);
        assert!(x.contains("xml:lang='cs'>Nic z obého"), "{x}");
        assert!(x.contains("<subject xml:lang='cs'>Verona</subject>"), "{x}");
    }

    #[test]
    fn html_latin1_and_refusals() {
        let h = HEAD.replace("text/plain", "text/html");
        let m = sip_to_xmpp(
            &sip(&h, b"<p>Hi <b>there</b><script>x()</script></p>"),
            &map(),
            "x",
        )
        .unwrap();
        let x = xml(m);
        assert!(
            x.contains("<body>Hi there</body>") && x.contains("<strong>there</strong>"),
            "{x}"
        );
        let l = HEAD.replace("text/plain", "text/plain; charset=ISO-8859-1");
        let m = sip_to_xmpp(&sip(&l, b"caf\xe9"), &map(), "x").unwrap();
        assert_eq!(m.bodies.get("").unwrap(), "café");
        let r = sip_to_xmpp(
            &sip(&HEAD.replace("text/plain", "application/pdf"), b"%PDF"),
            &map(),
            "x",
        )
        .unwrap_err();
        assert_eq!(
            (r.code, r.headers.clone()),
            (415, vec![("Accept", ACCEPT.to_string())])
        );
        let r = sip_to_xmpp(&sip(HEAD, b"\xff\xfe"), &map(), "x").unwrap_err();
        assert_eq!(r.code, 400);
        let r = sip_to_xmpp(
            &sip(
                &HEAD.replace("MESSAGE sip:juliet", "MESSAGE sips:juliet"),
                b"hi",
            ),
            &map(),
            "x",
        )
        .unwrap_err();
        assert_eq!(r.code, 403);
        let r = sip_to_xmpp(
            &sip(
                &HEAD.replace(
                    "From: <sip:romeo@example.net>",
                    "From: <sip:mallory@example.com>",
                ),
                b"hi",
            ),
            &map(),
            "x",
        )
        .unwrap_err();
        assert_eq!(
            (r.code, r.reason.as_str()),
            (403, "From claims an identity of the XMPP side")
        );
        let r = sip_to_xmpp(
            &sip(
                &HEAD.replace(
                    "MESSAGE sip:juliet@example.com",
                    "MESSAGE sip:juliet@elsewhere.example",
                ),
                b"hi",
            ),
            &map(),
            "x",
        )
        .unwrap_err();
        assert_eq!(r.code, 404);
        let r = sip_to_xmpp(
            &sip(
                &HEAD.replace("MESSAGE sip:juliet@example.com", "MESSAGE tel:+123"),
                b"hi",
            ),
            &map(),
            "x",
        )
        .unwrap_err();
        assert_eq!(r.code, 416);
    }

    fn stanza(s: &str) -> Message {
        let e: Element = s.parse().unwrap();
        Message::try_from(e).unwrap()
    }

    #[test]
    fn rfc7572_xmpp_to_sip_example() {
        let m = stanza(
            "<message xmlns='jabber:component:accept' from='juliet@example.com/yn0cl4bnw0yr3vym' to='romeo@sip.example.com' id='a1'><body>Art thou not Romeo, and a Montague?</body><thread>thr-1</thread><subject>Verona</subject></message>",
        );
        let p = xmpp_to_sip(&m, &map(), false).unwrap().unwrap();
        assert_eq!(p.request_uri, "sip:romeo@example.net");
        assert_eq!(
            p.from.to_header(),
            "<sip:juliet@example.com;gr=yn0cl4bnw0yr3vym>"
        );
        assert_eq!(p.to.to_header(), "<sip:romeo@example.net>");
        assert_eq!(p.call_id.as_deref(), Some("thr-1"));
        assert_eq!(p.subject.as_deref(), Some("Verona"));
        assert_eq!(p.body, "Art thou not Romeo, and a Montague?");
        assert_eq!(p.call_info, "<xmpp:juliet@example.com>;purpose=impp");
    }

    #[test]
    fn language_no_body_groupchat_and_bad_threads() {
        let m = stanza(
            "<message xmlns='jabber:component:accept' from='juliet@example.com/r' to='romeo@sip.example.com' xml:lang='cs'><body>Ahoj</body><thread>has space</thread></message>",
        );
        let p = xmpp_to_sip(&m, &map(), false).unwrap().unwrap();
        assert_eq!(p.language.as_deref(), Some("cs"));
        assert_eq!(p.call_id, None);
        let m = stanza(
            "<message xmlns='jabber:component:accept' from='juliet@example.com/r' to='romeo@sip.example.com'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        );
        assert_eq!(xmpp_to_sip(&m, &map(), false).unwrap(), None);
        let m = stanza(
            "<message xmlns='jabber:component:accept' type='groupchat' from='juliet@example.com/r' to='romeo@sip.example.com'><body>x</body></message>",
        );
        assert_eq!(
            xmpp_to_sip(&m, &map(), false)
                .unwrap_err()
                .defined_condition,
            DefinedCondition::BadRequest
        );
        let m = stanza(
            "<message xmlns='jabber:component:accept' from='juliet@example.com/r' to='romeo\\40example.org@sip.example.com'><body>x</body></message>",
        );
        assert_eq!(
            xmpp_to_sip(&m, &map(), false).unwrap().unwrap().request_uri,
            "sip:romeo@example.org"
        );
    }

    #[test]
    fn xhtml_im_is_plain_by_default_html_on_request() {
        let m = stanza(
            "<message xmlns='jabber:component:accept' from='juliet@example.com/r' to='romeo@sip.example.com'><body>Hi there</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>Hi <strong>there</strong></p></body></html></message>",
        );
        let p = xmpp_to_sip(&m, &map(), false).unwrap().unwrap();
        assert_eq!(
            (p.body.as_str(), p.content_type),
            ("Hi there", "text/plain;charset=UTF-8")
        );
        let p = xmpp_to_sip(&m, &map(), true).unwrap().unwrap();
        assert_eq!(
            (p.body.as_str(), p.content_type),
            (
                "<p>Hi <strong>there</strong></p>",
                "text/html;charset=UTF-8"
            )
        );
    }
}
