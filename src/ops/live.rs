//! `stox --config F --check --live`: what an admin runs after editing Prosody/ejabberd and
//! Kamailio. Each check prints one line (`ok` or `FAIL` with what to fix); the exit status
//! is 0 only when all pass. Nothing here is kept running.
//!
//! - the component handshake with the XMPP server (the link's own code, so the words are
//!   the ones the running gateway would log);
//! - OPTIONS to the outbound proxy, else to the SIP domain's RFC 3263 target: any answer
//!   means a SIP server is there;
//! - the MSRP listen address can be bound; the store opens.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::Config;
use crate::sip::Transport;
use crate::sip::dns::Resolver;
use crate::sip::transaction::Dest;
use crate::sip::ua::Lookup;
use crate::xmpp::link::{LinkConfig, handshake_once};

/// How long the SIP check waits for an answer.
const SIP_WAIT: Duration = Duration::from_secs(4);

/// One check's verdict.
pub struct Line {
    /// Passed.
    pub ok: bool,
    /// What was checked, and (on failure) what to fix.
    pub text: String,
}

fn line(ok: bool, text: String) -> Line {
    Line { ok, text }
}

/// Runs every check; the lines in order.
pub async fn run(cfg: &Config) -> Vec<Line> {
    vec![xmpp(cfg).await, sip(cfg).await, msrp(cfg).await, store(cfg)]
}

async fn xmpp(cfg: &Config) -> Line {
    let link = LinkConfig::from_config(cfg);
    match handshake_once(&link).await {
        Ok(()) => line(
            true,
            format!(
                "xmpp: {} accepted the component {} (handshake)",
                cfg.xmpp.server, cfg.xmpp.component
            ),
        ),
        Err(why) => line(false, format!("xmpp: {why}")),
    }
}

/// Where the SIP check goes: the outbound proxy, else the domain's RFC 3263 target.
async fn sip_target(cfg: &Config) -> Result<(Dest, String), String> {
    if let Some(uri) = &cfg.sip.outbound_proxy {
        let (dest, _, _) = crate::sip::dns::outbound_proxy(uri)
            .await
            .map_err(|e| format!("sip.outbound_proxy: {e}"))?;
        return Ok((dest, format!("outbound proxy {uri}")));
    }
    let resolver = Resolver::new(&cfg.sip.dns_servers);
    let lookup = Lookup {
        host: cfg.sip.domain.clone(),
        port: None,
        transport: None,
        secure: false,
    };
    let targets = resolver.resolve(&lookup).await.map_err(|e| {
        format!(
            "the SIP domain {} does not resolve ({e}): publish NAPTR/SRV/A records or set sip.outbound_proxy",
            cfg.sip.domain
        )
    })?;
    let first = targets
        .first()
        .copied()
        .ok_or_else(|| format!("the SIP domain {} has no RFC 3263 target", cfg.sip.domain))?;
    Ok((first, format!("{} (RFC 3263)", cfg.sip.domain)))
}

fn options(cfg: &Config, local: SocketAddr, transport: Transport) -> String {
    let t = match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
    };
    let tag: u64 = rand::random();
    format!(
        "OPTIONS sip:{domain} SIP/2.0\r\nVia: SIP/2.0/{t} {local};branch=z9hG4bK{tag:x};rport\r\nMax-Forwards: 70\r\nFrom: <sip:stox-check@{comp}>;tag={tag:x}\r\nTo: <sip:{domain}>\r\nCall-ID: check-{tag:x}@{comp}\r\nCSeq: 1 OPTIONS\r\nAccept: application/sdp\r\nUser-Agent: stox/{v} --check --live\r\nContent-Length: 0\r\n\r\n",
        domain = cfg.sip.domain,
        comp = cfg.xmpp.component,
        v = env!("CARGO_PKG_VERSION"),
    )
}

async fn sip(cfg: &Config) -> Line {
    let (dest, what) = match sip_target(cfg).await {
        Ok(t) => t,
        Err(e) => return line(false, format!("sip: {e}")),
    };
    let answer = match dest.transport {
        Transport::Udp => options_udp(cfg, dest.addr).await,
        Transport::Tcp => options_tcp(cfg, dest.addr).await,
        Transport::Tls => {
            return line(
                true,
                format!(
                    "sip: {what} at {} is TLS; not probed (use a udp/tcp proxy URI to probe it)",
                    dest.addr
                ),
            );
        }
    };
    match answer {
        Ok(status) => line(
            true,
            format!("sip: {what} at {} answered OPTIONS: {status}", dest.addr),
        ),
        Err(e) => line(
            false,
            format!(
                "sip: {what} at {} did not answer OPTIONS ({e}): is the proxy running there, and \
                 does it accept requests from this host?",
                dest.addr
            ),
        ),
    }
}

fn status_line(buf: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(buf);
    let first = text.lines().next()?;
    first
        .starts_with("SIP/2.0 ")
        .then(|| first.trim_start_matches("SIP/2.0 ").to_string())
}

async fn options_udp(cfg: &Config, to: SocketAddr) -> Result<String, String> {
    let bind: SocketAddr = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .map_err(|e| format!("{e}"))?;
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| e.to_string())?;
    sock.connect(to).await.map_err(|e| e.to_string())?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let msg = options(cfg, local, Transport::Udp);
    let mut buf = vec![0u8; 65536];
    // Three tries within the wait, as a UDP client transaction would.
    for _ in 0..3 {
        sock.send(msg.as_bytes()).await.map_err(|e| e.to_string())?;
        if let Ok(r) = tokio::time::timeout(SIP_WAIT / 3, sock.recv(&mut buf)).await {
            let n = r.map_err(|e| e.to_string())?;
            if let Some(s) = status_line(&buf[..n]) {
                return Ok(s);
            }
        }
    }
    Err(format!("no answer within {SIP_WAIT:?}"))
}

async fn options_tcp(cfg: &Config, to: SocketAddr) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(SIP_WAIT, tokio::net::TcpStream::connect(to))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let local = s.local_addr().map_err(|e| e.to_string())?;
    s.write_all(options(cfg, local, Transport::Tcp).as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(SIP_WAIT, s.read(&mut buf))
        .await
        .map_err(|_| format!("no answer within {SIP_WAIT:?}"))?
        .map_err(|e| e.to_string())?;
    status_line(&buf[..n]).ok_or_else(|| "the answer is not SIP".into())
}

async fn msrp(cfg: &Config) -> Line {
    match tokio::net::TcpListener::bind(&cfg.msrp.listen).await {
        Ok(_) => line(true, format!("msrp: {} can be bound", cfg.msrp.listen)),
        Err(e) => line(
            false,
            format!(
                "msrp: cannot bind msrp.listen {} ({e}): another program (or a running stox) \
                 holds it, or the address is not on this host",
                cfg.msrp.listen
            ),
        ),
    }
}

fn store(cfg: &Config) -> Line {
    if cfg.store.in_memory() {
        return line(
            true,
            "store: in memory (nothing kept across restarts)".into(),
        );
    }
    let path = cfg.store.resolved_path();
    match crate::store::Store::open(&cfg.store) {
        Ok(_) => line(true, format!("store: {} opens", path.display())),
        Err(e) => line(
            false,
            format!("store: {e:#}: set store.path to a writable file"),
        ),
    }
}
