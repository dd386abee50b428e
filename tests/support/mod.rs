//! A scripted XMPP server speaking the server side of XEP-0114 (`jabber:component:accept`),
//! written from the XEP and Prosody's observed behaviour, independent of the XML stream code
//! stox uses. Tests send raw XML and expect stanzas matching small XPath-like patterns:
//! `message[@type='error']/error/item-not-found`.
#![allow(dead_code)]

pub mod msrp;
pub mod sip;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use sha1::{Digest, Sha1};
use stox::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use xmpp_parsers::minidom::Element;

pub const COMPONENT: &str = "sip.example.com";
pub const SECRET: &str = "s3cr3t";
pub const WAIT: Duration = Duration::from_secs(5);

/// Minimal valid config pointing at `server`, with fast timers for tests.
pub fn config(server: SocketAddr, extra: &str) -> Config {
    // Free ports (tests run in parallel), and a proxy that refuses at once (TCP port 9), so
    // stanzas to SIP users fail fast instead of waiting for DNS or Timer F.
    let mut defaults = String::new();
    if !extra.contains("listen") {
        defaults.push_str("listen = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n");
    }
    if !extra.contains("outbound_proxy") {
        defaults.push_str("outbound_proxy = \"sip:127.0.0.1:9;transport=tcp\"\n");
    }
    let extra = format!("{defaults}{extra}");
    let toml = format!(
        r#"
[xmpp]
component = "{COMPONENT}"
server = "{server}"
secret = "{SECRET}"
domains = ["example.com"]
keepalive_secs = 30
keepalive_timeout_secs = 5
reconnect_min_ms = 50
reconnect_max_ms = 200
[sip]
domain = "example.net"
dns_servers = ["127.0.0.1"]
{extra}
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stox.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cfg = Config::load_with_env(&path, Some(Default::default())).unwrap();
    if !extra.contains("[msrp]") {
        cfg.msrp.listen = "127.0.0.1:0".into();
    }
    if !extra.contains("[metrics]") {
        cfg.metrics.listen = String::new();
    }
    if !extra.contains("[store]") {
        cfg.store.path = Some(":memory:".into());
    }
    cfg
}

pub fn handshake_for(id: &str, secret: &str) -> String {
    let mut h = Sha1::new();
    h.update(id.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub struct FakeServer {
    listener: TcpListener,
    pub secret: String,
    accepted: u32,
}

impl FakeServer {
    pub async fn start() -> Self {
        FakeServer {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            secret: SECRET.into(),
            accepted: 0,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Accepts the next connection and reads its stream header.
    pub async fn accept_raw(&mut self) -> Conn {
        let (stream, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("stox did not connect in time")
            .unwrap();
        self.accepted += 1;
        let mut c = Conn {
            stream,
            buf: Vec::new(),
            ready: VecDeque::new(),
            stream_to: String::new(),
            closed: false,
        };
        let header = c.read_header().await;
        assert!(
            header.contains("jabber:component:accept"),
            "wrong namespace: {header}"
        );
        c.stream_to = attr_of(&header, "to").unwrap_or_default();
        c
    }

    /// Accepts a connection and completes the handshake as Prosody would, checking the
    /// component name and the SHA-1 handshake.
    pub async fn accept(&mut self) -> Conn {
        let mut c = self.accept_raw().await;
        assert_eq!(c.stream_to, COMPONENT);
        let id = format!("stream-{}", self.accepted);
        c.send(&format!(
            "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en' xmlns='jabber:component:accept' id='{id}' from='{COMPONENT}'>"
        ))
        .await;
        let hs = c.expect("handshake").await;
        assert_eq!(hs.text(), handshake_for(&id, &self.secret), "bad handshake");
        c.send("<handshake/>").await;
        c
    }
}

pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    ready: VecDeque<Element>,
    pub stream_to: String,
    pub closed: bool,
}

fn attr_of(tag: &str, name: &str) -> Option<String> {
    for q in ['\'', '"'] {
        let pat = format!(" {name}={q}");
        if let Some(i) = tag.find(&pat) {
            let rest = &tag[i + pat.len()..];
            return rest.split(q).next().map(String::from);
        }
    }
    None
}

impl Conn {
    pub async fn send(&mut self, xml: &str) {
        self.stream.write_all(xml.as_bytes()).await.unwrap();
    }

    async fn fill(&mut self, until: tokio::time::Instant) -> bool {
        let mut tmp = [0u8; 8192];
        match tokio::time::timeout_at(until, self.stream.read(&mut tmp)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.closed = true;
                false
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(_) => false,
        }
    }

    async fn read_header(&mut self) -> String {
        let until = tokio::time::Instant::now() + WAIT;
        loop {
            let s = String::from_utf8_lossy(&self.buf).to_string();
            if let Some(start) = s.find("<stream:stream")
                && let Some(end) = s[start..].find('>')
            {
                let header = s[start..start + end + 1].to_string();
                self.buf.drain(..start + end + 1);
                return header;
            }
            assert!(self.fill(until).await, "no stream header; got {s:?}");
        }
    }

    /// Splits complete top-level elements off the buffer. Returns false at `</stream:stream>`.
    fn split(&mut self) {
        loop {
            let start = match self.buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(s) => s,
                None => {
                    self.buf.clear();
                    return;
                }
            };
            self.buf.drain(..start);
            if self.buf.starts_with(b"</stream:stream>") {
                self.closed = true;
                self.buf.clear();
                return;
            }
            let mut depth = 0i32;
            let mut i = 0;
            let mut end = None;
            while i < self.buf.len() {
                if self.buf[i] != b'<' {
                    i += 1;
                    continue;
                }
                // find end of tag, honouring quotes
                let mut j = i + 1;
                let mut quote = None;
                while j < self.buf.len() {
                    let b = self.buf[j];
                    match quote {
                        Some(q) if b == q => quote = None,
                        Some(_) => {}
                        None if b == b'\'' || b == b'"' => quote = Some(b),
                        None if b == b'>' => break,
                        None => {}
                    }
                    j += 1;
                }
                if j >= self.buf.len() {
                    return; // incomplete tag
                }
                let closing = self.buf.get(i + 1) == Some(&b'/');
                let empty = self.buf[j - 1] == b'/';
                let decl = self.buf.get(i + 1) == Some(&b'?');
                if closing {
                    depth -= 1;
                } else if !empty && !decl {
                    depth += 1;
                }
                i = j + 1;
                if depth == 0 && !decl {
                    end = Some(i);
                    break;
                }
            }
            let Some(end) = end else { return };
            let text = String::from_utf8_lossy(&self.buf[..end]).to_string();
            self.buf.drain(..end);
            let wrapped = format!(
                "<w xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>{text}</w>"
            );
            let w: Element = wrapped
                .parse()
                .unwrap_or_else(|e| panic!("stox sent bad XML {text:?}: {e}"));
            for c in w.children() {
                self.ready.push_back(c.clone());
            }
        }
    }

    /// Next top-level element within `wait`, if any.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Element> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            self.split();
            if let Some(e) = self.ready.pop_front() {
                return Some(e);
            }
            if self.closed || !self.fill(until).await {
                return None;
            }
        }
    }

    /// The next element, which must match `path`.
    pub async fn expect(&mut self, path: &str) -> Element {
        let e = self
            .recv_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("nothing received while waiting for {path}"));
        assert!(
            matches(&e, path),
            "expected {path}, got {}",
            String::from(&e)
        );
        e
    }

    /// Skips keepalive pings and waits for an element matching `path`.
    pub async fn expect_skipping_pings(&mut self, path: &str) -> Element {
        loop {
            let e = self.expect("*").await;
            if is_ping(&e) {
                continue;
            }
            assert!(
                matches(&e, path),
                "expected {path}, got {}",
                String::from(&e)
            );
            return e;
        }
    }

    /// Waits until stox closes the stream or the connection.
    pub async fn expect_closed(&mut self) {
        let until = tokio::time::Instant::now() + WAIT;
        while !self.closed {
            self.split();
            if self.closed {
                break;
            }
            if !self.fill(until).await && !self.closed {
                panic!("stox did not close the stream");
            }
        }
    }

    pub async fn hang_up(mut self) {
        let _ = self.stream.shutdown().await;
    }
}

pub fn is_ping(e: &Element) -> bool {
    e.name() == "iq" && e.get_child("ping", "urn:xmpp:ping").is_some()
}

/// `name[@attr='v'][@b='w']/child/…`; `*` matches any name. Children match in any namespace.
pub fn matches(e: &Element, path: &str) -> bool {
    let segs = split_path(path);
    let Some((first, rest)) = segs.split_first() else {
        return false;
    };
    seg_matches(e, first) && descend(e, rest)
}

/// Splits at `/` outside `[...]`, so attribute values may contain `/`.
fn split_path(path: &str) -> Vec<&str> {
    let mut out = vec![];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in path.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '/' if depth == 0 => {
                out.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&path[start..]);
    out
}

fn descend(e: &Element, rest: &[&str]) -> bool {
    let Some((seg, more)) = rest.split_first() else {
        return true;
    };
    e.children()
        .any(|c| seg_matches(c, seg) && descend(c, more))
}

fn seg_matches(e: &Element, seg: &str) -> bool {
    let (name, preds) = match seg.find('[') {
        Some(i) => (&seg[..i], &seg[i..]),
        None => (seg, ""),
    };
    if name != "*" && e.name() != name {
        return false;
    }
    for p in preds
        .split("][")
        .map(|p| p.trim_matches(|c| c == '[' || c == ']'))
        .filter(|p| !p.is_empty())
    {
        let p = p.trim_start_matches('[');
        let Some(p) = p.strip_prefix('@') else {
            return false;
        };
        let Some((a, v)) = p.split_once('=') else {
            return false;
        };
        if e.attr(a) != Some(v.trim_matches('\'')) {
            return false;
        }
    }
    true
}

/// Runs the gateway against `cfg`; the returned sender stops it.
pub fn run_gateway(
    cfg: Config,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    if let Ok(filter) = std::env::var("STOX_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        stox::runtime::run(cfg, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (tx, task)
}
