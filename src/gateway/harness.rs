//! The core driven by hand in unit tests: text in, every output collected by kind, time as
//! an input. Shared by the chat and presence flow tests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza::Stanza;

use crate::config::Config;
use crate::gateway::{ChatId, Core, CoreConfig, Input, Output, Owner};
use crate::msrp::codec::parse as msrp_parse;
use crate::msrp::io::MsrpEvent;
use crate::sip::Transport;
use crate::sip::io::SipIn;
use crate::sip::transaction::Dest;
use crate::store::StoreOp;

/// The component namespace, for stanzas written in tests.
pub const NS: &str = "xmlns='jabber:component:accept'";

/// Everything the core asked for, by kind.
#[derive(Debug, Default)]
pub struct Out {
    pub sip: Vec<String>,
    pub xmpp: Vec<String>,
    pub msrp: Vec<(u64, String)>,
    pub connect: Vec<(ChatId, SocketAddr)>,
    pub muc_connect: Vec<(u64, SocketAddr)>,
    pub close: Vec<u64>,
    pub store: Vec<StoreOp>,
}

/// A core and its clock.
pub struct T {
    pub core: Core,
    pub now: Instant,
}

/// The test deployment: sip.example.com for example.com, SIP domain example.net, a proxy at
/// 127.0.0.1:5060, plus `extra` TOML.
pub fn config(extra: &str) -> Config {
    let toml = format!(
        "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\nmuc_domains = [\"muc.example.com\"]\n[sip]\ndomain = \"example.net\"\nlisten = [\"udp:127.0.0.1:5070\"]\noutbound_proxy = \"sip:127.0.0.1:5060\"\n[msrp]\nlisten = \"127.0.0.1:2855\"\n{extra}"
    );
    Config::parse(&toml).unwrap()
}

impl T {
    pub fn new(extra: &str) -> T {
        T::with(extra, |c| c)
    }

    /// A core whose configuration is adjusted after loading (as the runtime does once the
    /// sockets are bound).
    pub fn with(extra: &str, adjust: impl FnOnce(CoreConfig) -> CoreConfig) -> T {
        let cfg = config(extra);
        let mut t = T {
            core: Core::new(adjust(CoreConfig::from_config(&cfg)).seed([7; 32])),
            now: Instant::now(),
        };
        t.input(Input::LinkUp);
        t
    }

    pub fn collect(&mut self) -> Out {
        let mut o = Out::default();
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Sip { bytes, .. } => o.sip.push(String::from_utf8_lossy(&bytes).into()),
                Output::Stanza(s) | Output::TrackedStanza(_, s) => {
                    o.xmpp.push(String::from(&Element::from(s)))
                }
                Output::Msrp { conn, bytes } => {
                    o.msrp.push((conn, String::from_utf8_lossy(&bytes).into()))
                }
                Output::MsrpConnect {
                    owner: Owner::Chat(chat),
                    addr,
                    ..
                } => o.connect.push((chat, addr)),
                Output::MsrpConnect {
                    owner: Owner::Muc(id),
                    addr,
                    ..
                } => o.muc_connect.push((id, addr)),
                Output::MsrpConnect { .. } | Output::Resolve { .. } => {}
                Output::MsrpClose { conn } => o.close.push(conn),
                Output::Store(op) => o.store.push(op),
            }
        }
        o
    }

    pub fn input(&mut self, i: Input) -> Out {
        self.core.handle_input(self.now, i);
        self.collect()
    }

    /// SIP text (LF or CRLF) from the proxy at 127.0.0.1:5060.
    pub fn sip(&mut self, text: &str) -> Out {
        let from = Dest {
            transport: Transport::Udp,
            addr: "127.0.0.1:5060".parse().unwrap(),
        };
        self.input(Input::Sip(SipIn {
            bytes: text
                .replace("\r\n", "\n")
                .replace('\n', "\r\n")
                .into_bytes(),
            from,
        }))
    }

    pub fn xmpp(&mut self, xml: &str) -> Out {
        let el: Element = xml.parse().unwrap();
        self.input(Input::Stanza(Stanza::try_from(el).unwrap()))
    }

    pub fn msrp(&mut self, conn: u64, bytes: &str) -> Out {
        let (frame, _) = msrp_parse(bytes.as_bytes(), 1 << 20).unwrap().unwrap();
        self.input(Input::Msrp(MsrpEvent::Frame { conn, frame }))
    }

    pub fn advance(&mut self, d: Duration) -> Out {
        self.now += d;
        self.core.handle_timeout(self.now);
        self.collect()
    }
}

/// A header's value in SIP text (first occurrence, name case-insensitive).
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The first `name='…'` attribute value in serialized XML (our stanzas quote with `'`).
pub fn xml_attr(xml: &str, name: &str) -> String {
    xml.split(&format!(" {name}='"))
        .nth(1)
        .and_then(|v| v.split('\'').next())
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        .to_string()
}

/// The `tag` parameter of a From/To value.
pub fn tag_of(v: &str) -> String {
    v.split(";tag=")
        .nth(1)
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .to_string()
}

/// The peer's response to one of our requests: its To tag, extra headers, and a body with
/// its type.
pub fn respond(
    req: &str,
    code: u16,
    tag: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> String {
    use crate::sip::message::{Message, Response, parse, reason_phrase};
    let Message::Request(r) = parse(req.as_bytes(), true, 65535).unwrap() else {
        panic!("not a request: {req}")
    };
    let mut resp = Response::to_request(&r, code, reason_phrase(code), Some(tag));
    for (n, v) in headers {
        resp.headers.push(n, *v);
    }
    if let Some((ctype, b)) = body {
        resp.headers.push("Content-Type", ctype);
        resp.body = b.as_bytes().to_vec();
    }
    String::from_utf8(resp.to_bytes()).unwrap()
}

/// The `a=path` of the SDP in SIP text.
pub fn sdp_path(msg: &str) -> String {
    msg.split("\r\n")
        .find_map(|l| l.strip_prefix("a=path:"))
        .unwrap()
        .to_string()
}
