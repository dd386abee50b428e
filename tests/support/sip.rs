//! A raw SIP peer on UDP playing the proxy, and a gateway set up to use it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::*;

pub struct SipPeer {
    pub sock: UdpSocket,
}

impl SipPeer {
    pub async fn bind(ip: &str) -> SipPeer {
        SipPeer {
            sock: UdpSocket::bind(format!("{ip}:0")).await.unwrap(),
        }
    }
    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }
    pub async fn send(&self, to: SocketAddr, msg: &str) {
        self.sock
            .send_to(msg.replace('\n', "\r\n").as_bytes(), to)
            .await
            .unwrap();
    }
    pub async fn send_raw(&self, to: SocketAddr, msg: &[u8]) {
        self.sock.send_to(msg, to).await.unwrap();
    }
    pub async fn recv(&self) -> (String, SocketAddr) {
        let mut buf = vec![0u8; 65536];
        let (n, from) = tokio::time::timeout(WAIT, self.sock.recv_from(&mut buf))
            .await
            .expect("no SIP received")
            .unwrap();
        (String::from_utf8_lossy(&buf[..n]).to_string(), from)
    }
    pub async fn recv_within(&self, d: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        match tokio::time::timeout(d, self.sock.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).to_string()),
            _ => None,
        }
    }
}

pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// A response to a request received by the peer.
pub fn answer(req: &str, code: u16, reason: &str) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for l in req.split("\r\n") {
        if l.starts_with("Via:")
            || l.starts_with("From:")
            || l.starts_with("Call-ID:")
            || l.starts_with("CSeq:")
        {
            out.push_str(l);
            out.push_str("\r\n");
        } else if l.starts_with("To:") {
            out.push_str(l);
            out.push_str(";tag=peer\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

pub struct Setup {
    pub server: FakeServer,
    pub peer: SipPeer,
    pub stox_sip: SocketAddr,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<()>,
}

pub async fn setup(extra_sip: &str, extra: &str) -> Setup {
    setup_with(extra_sip, extra, |_| {}).await
}

/// [`setup`] with the loaded config adjusted before the gateway starts.
pub async fn setup_with(
    extra_sip: &str,
    extra: &str,
    adjust: impl FnOnce(&mut stox::config::Config),
) -> Setup {
    let server = FakeServer::start().await;
    let peer = SipPeer::bind("127.0.0.1").await;
    // find a free UDP port for stox
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(
        server.addr(),
        &format!(
            "listen = [\"udp:127.0.0.1:{port}\"]\noutbound_proxy = \"sip:{}\"\nt1_ms = 10\nt2_ms = 40\nt4_ms = 50\n{extra_sip}\n{extra}",
            peer.addr()
        ),
    );
    let mut cfg = cfg;
    adjust(&mut cfg);
    let (stop, task) = run_gateway(cfg);
    Setup {
        server,
        peer,
        stox_sip: format!("127.0.0.1:{port}").parse().unwrap(),
        stop,
        task,
    }
}
