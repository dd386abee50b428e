//! SIP transports (RFC 3261 §18): UDP sockets, TCP listeners and connections. Thin IO only:
//! bytes in (a datagram or a framed stream message) and bytes out to a [`Dest`]. Stream
//! connections are reused per remote address (§18.2.2 responses go back on the connection
//! the request came in on), answer RFC 5626 CRLF keepalives, and close when idle.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};

use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::message::{Frame, next_frame};
use super::transaction::Dest;
use crate::config::{Listen, Transport};

/// One message (or datagram) from the network.
#[derive(Debug)]
pub struct SipIn {
    /// One datagram, or one frame of a stream.
    pub bytes: Vec<u8>,
    /// Where it came from.
    pub from: Dest,
}

/// What the transports report: a message, or a destination that could not be reached
/// (RFC 3261 §8.1.3.1: the transaction user treats it as a 503).
#[derive(Debug)]
pub enum SipEvent {
    /// Bytes arrived.
    In(SipIn),
    /// A destination could not be reached.
    Unreachable {
        /// The destination.
        to: Dest,
        /// The transport's error.
        reason: String,
    },
}

type Conns = Arc<Mutex<HashMap<(Transport, SocketAddr), mpsc::Sender<Arc<Vec<u8>>>>>>;

/// TLS material: the acceptor for `tls:` listeners, the connector for outgoing TLS, and
/// the names to verify peers by (addresses have no name of their own).
#[derive(Clone, Default)]
pub struct TlsSetup {
    /// Certificate and key for TLS listeners.
    pub acceptor: Option<TlsAcceptor>,
    /// Client configuration for outgoing TLS.
    pub connector: Option<TlsConnector>,
    /// Peer address → the name its certificate must carry.
    pub names: HashMap<SocketAddr, String>,
}

/// Sending side of the transports; cheap to clone.
#[derive(Clone)]
pub struct SipIo {
    udp: Vec<Arc<UdpSocket>>,
    conns: Conns,
    tls: Arc<TlsSetup>,
    inbound: mpsc::Sender<SipEvent>,
    max: usize,
    idle: Duration,
    shutdown: watch::Receiver<bool>,
}

/// Binds every configured listener. Returns the sender and the addresses really bound
/// (port 0 in the config picks a free port, which tests use).
pub async fn bind(
    listens: &[Listen],
    tls: TlsSetup,
    max: usize,
    idle: Duration,
    inbound: mpsc::Sender<SipEvent>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<(SipIo, Vec<Listen>)> {
    let mut io = SipIo {
        udp: Vec::new(),
        conns: Arc::new(Mutex::new(HashMap::new())),
        tls: Arc::new(tls),
        inbound,
        max,
        idle,
        shutdown,
    };
    let mut bound = Vec::new();
    let mut tcp = Vec::new();
    let mut tls = Vec::new();
    for l in listens {
        match l.transport {
            Transport::Udp => {
                let s = Arc::new(
                    UdpSocket::bind(l.addr)
                        .await
                        .map_err(|e| with_addr(e, "udp", l.addr))?,
                );
                bound.push(Listen {
                    transport: Transport::Udp,
                    addr: s.local_addr()?,
                });
                io.udp.push(s);
            }
            Transport::Tcp => {
                let t = TcpListener::bind(l.addr)
                    .await
                    .map_err(|e| with_addr(e, "tcp", l.addr))?;
                bound.push(Listen {
                    transport: Transport::Tcp,
                    addr: t.local_addr()?,
                });
                tcp.push(t);
            }
            Transport::Tls => {
                let Some(acceptor) = io.tls.acceptor.clone() else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("tls:{} needs sip.tls_cert and sip.tls_key", l.addr),
                    ));
                };
                let t = TcpListener::bind(l.addr)
                    .await
                    .map_err(|e| with_addr(e, "tls", l.addr))?;
                bound.push(Listen {
                    transport: Transport::Tls,
                    addr: t.local_addr()?,
                });
                tls.push((t, acceptor));
            }
        }
    }
    for s in &io.udp {
        tokio::spawn(udp_reader(s.clone(), io.clone()));
    }
    for t in tcp {
        tokio::spawn(tcp_acceptor(t, None, io.clone()));
    }
    for (t, acceptor) in tls {
        tokio::spawn(tcp_acceptor(t, Some(acceptor), io.clone()));
    }
    Ok((io, bound))
}

fn with_addr(e: io::Error, what: &str, addr: SocketAddr) -> io::Error {
    io::Error::new(e.kind(), format!("cannot listen on {what}:{addr}: {e}"))
}

async fn udp_reader(s: Arc<UdpSocket>, io: SipIo) {
    let mut buf = vec![0u8; 65_536];
    let mut shutdown = io.shutdown.clone();
    loop {
        tokio::select! {
            r = s.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let data = buf.get(..n).unwrap_or_default();
                    // RFC 5626 keepalives over UDP are STUN; a bare CRLF datagram is noise.
                    if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
                        continue;
                    }
                    let msg = SipEvent::In(SipIn { bytes: data.to_vec(), from: Dest { transport: Transport::Udp, addr: from } });
                    if io.inbound.send(msg).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "udp receive error"),
            },
            _ = shutdown.changed() => return,
        }
    }
}

async fn tcp_acceptor(l: TcpListener, acceptor: Option<TlsAcceptor>, io: SipIo) {
    let mut shutdown = io.shutdown.clone();
    loop {
        tokio::select! {
            r = l.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let (tx, rx) = mpsc::channel(256);
                    let io = io.clone();
                    match acceptor.clone() {
                        None => {
                            register(&io.conns, (Transport::Tcp, peer), tx);
                            tokio::spawn(connection(stream, Dest { transport: Transport::Tcp, addr: peer }, rx, io));
                        }
                        Some(acceptor) => {
                            // The handshake runs in its own task so a slow client blocks nobody.
                            tokio::spawn(async move {
                                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                                    Ok(Ok(s)) => {
                                        register(&io.conns, (Transport::Tls, peer), tx);
                                        connection(s, Dest { transport: Transport::Tls, addr: peer }, rx, io).await;
                                    }
                                    Ok(Err(e)) => tracing::info!(peer = %peer, error = %e, "SIP TLS handshake failed"),
                                    Err(_) => tracing::info!(peer = %peer, "SIP TLS handshake timed out"),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

fn register(conns: &Conns, key: (Transport, SocketAddr), tx: mpsc::Sender<Arc<Vec<u8>>>) {
    if let Ok(mut m) = conns.lock() {
        m.insert(key, tx);
    }
}

/// Reads framed messages and writes queued ones until the peer closes, the stream breaks,
/// or nothing moves for `idle`.
async fn connection<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    peer: Dest,
    mut out: mpsc::Receiver<Arc<Vec<u8>>>,
    io: SipIo,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16_384];
    let mut shutdown = io.shutdown.clone();
    let why = loop {
        tokio::select! {
            r = tokio::time::timeout(io.idle, rd.read(&mut chunk)) => {
                let n = match r {
                    Err(_) => break "idle".to_string(),
                    Ok(Ok(0)) => break "closed by peer".to_string(),
                    Ok(Err(e)) => break e.to_string(),
                    Ok(Ok(n)) => n,
                };
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                let mut failed = None;
                loop {
                    match next_frame(&buf, io.max) {
                        Ok(Frame::Message(len)) => {
                            let bytes: Vec<u8> = buf.drain(..len).collect();
                            if io.inbound.send(SipEvent::In(SipIn { bytes, from: peer })).await.is_err() {
                                return;
                            }
                        }
                        Ok(Frame::Ping(len)) => {
                            buf.drain(..len);
                            if wr.write_all(b"\r\n").await.is_err() {
                                failed = Some("write failed".to_string());
                                break;
                            }
                        }
                        Ok(Frame::Pong(len)) => {
                            buf.drain(..len);
                        }
                        Ok(Frame::Incomplete) => break,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                if let Some(f) = failed {
                    break f;
                }
            }
            m = out.recv() => match m {
                Some(bytes) => {
                    if let Err(e) = wr.write_all(&bytes).await {
                        break e.to_string();
                    }
                }
                None => break "dropped".to_string(),
            },
            _ = shutdown.changed() => break "shutdown".to_string(),
        }
    };
    tracing::debug!(peer = %peer.addr, transport = peer.transport.as_str(), reason = %why, "SIP connection closed");
    if let Ok(mut m) = io.conns.lock() {
        m.remove(&(peer.transport, peer.addr));
    }
    let _ = wr.shutdown().await;
}

impl SipIo {
    /// Sends without blocking the caller; failures are logged (the transaction layer's
    /// timers turn a lost request into a 408).
    pub fn send(&self, to: Dest, bytes: Arc<Vec<u8>>) {
        match to.transport {
            Transport::Udp => {
                let Some(s) = self
                    .udp
                    .iter()
                    .find(|s| {
                        s.local_addr()
                            .map(|a| a.is_ipv4() == to.addr.is_ipv4())
                            .unwrap_or(false)
                    })
                    .or_else(|| self.udp.first())
                    .cloned()
                else {
                    tracing::warn!(to = %to.addr, "no UDP socket to send SIP from");
                    return;
                };
                match s.try_send_to(&bytes, to.addr) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        tokio::spawn(async move {
                            let _ = s.send_to(&bytes, to.addr).await;
                        });
                    }
                    Err(e) => tracing::debug!(to = %to.addr, error = %e, "udp send failed"),
                }
            }
            Transport::Tcp | Transport::Tls => {
                let key = (to.transport, to.addr);
                let existing = self.conns.lock().ok().and_then(|m| m.get(&key).cloned());
                let tx = match existing {
                    Some(tx) => tx,
                    None => {
                        let (tx, rx) = mpsc::channel(256);
                        register(&self.conns, key, tx.clone());
                        let io = self.clone();
                        tokio::spawn(async move {
                            if let Err(e) = io.connect(to, rx).await {
                                tracing::info!(to = %to.addr, transport = to.transport.as_str(), error = %e, "SIP connection failed");
                                if let Ok(mut m) = io.conns.lock() {
                                    m.remove(&key);
                                }
                                let _ = io
                                    .inbound
                                    .send(SipEvent::Unreachable {
                                        to,
                                        reason: e.to_string(),
                                    })
                                    .await;
                            }
                        });
                        tx
                    }
                };
                if let Err(mpsc::error::TrySendError::Full(bytes)) = tx.try_send(bytes) {
                    tokio::spawn(async move {
                        let _ = tx.send(bytes).await;
                    });
                }
            }
        }
    }

    /// Opens a TCP or TLS connection and serves it; `Err` if it never came up.
    async fn connect(&self, to: Dest, rx: mpsc::Receiver<Arc<Vec<u8>>>) -> io::Result<()> {
        let s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(to.addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let _ = s.set_nodelay(true);
        if to.transport != Transport::Tls {
            connection(s, to, rx, self.clone()).await;
            return Ok(());
        }
        let connector = self
            .tls
            .connector
            .clone()
            .ok_or_else(|| io::Error::other("no TLS client configuration"))?;
        let name = match self.tls.names.get(&to.addr) {
            Some(n) => rustls_pki_types::ServerName::try_from(n.clone())
                .map_err(|e| io::Error::other(e.to_string()))?,
            None => rustls_pki_types::ServerName::IpAddress(to.addr.ip().into()),
        };
        let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, s))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        connection(tls, to, rx, self.clone()).await;
        Ok(())
    }

    /// Open stream connections.
    pub fn connections(&self) -> usize {
        self.conns.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next message (not an Unreachable report).
    async fn next_in(rx: &mut mpsc::Receiver<SipEvent>) -> SipIn {
        loop {
            match rx.recv().await.unwrap() {
                SipEvent::In(m) => return m,
                SipEvent::Unreachable { .. } => continue,
            }
        }
    }

    async fn setup(
        listens: &str,
    ) -> (
        SipIo,
        Vec<Listen>,
        mpsc::Receiver<SipEvent>,
        watch::Sender<bool>,
    ) {
        let l: Vec<Listen> = listens
            .split(',')
            .map(|s| crate::config::parse_listen(s).unwrap())
            .collect();
        let (tx, rx) = mpsc::channel(16);
        let (stop, stop_rx) = watch::channel(false);
        let (io, bound) = bind(
            &l,
            TlsSetup::default(),
            65535,
            Duration::from_secs(5),
            tx,
            stop_rx,
        )
        .await
        .unwrap();
        (io, bound, rx, stop)
    }

    #[tokio::test]
    async fn udp_in_and_out() {
        let (io, bound, mut rx, _stop) = setup("udp:127.0.0.1:0").await;
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        peer.send_to(b"OPTIONS x", bound[0].addr).await.unwrap();
        let got = next_in(&mut rx).await;
        assert_eq!(got.bytes, b"OPTIONS x");
        io.send(got.from, Arc::new(b"SIP/2.0 200 OK".to_vec()));
        let mut buf = [0u8; 64];
        let (n, _) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"SIP/2.0 200 OK");
    }

    #[tokio::test]
    async fn tcp_framing_across_reads_keepalive_and_reuse() {
        let (io, bound, mut rx, _stop) = setup("tcp:127.0.0.1:0").await;
        let mut c = TcpStream::connect(bound[0].addr).await.unwrap();
        let msg = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nhello";
        // split across writes, with a keepalive ping first
        c.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 2];
        c.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"\r\n");
        c.write_all(&msg[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.write_all(&msg[10..]).await.unwrap();
        c.write_all(msg).await.unwrap();
        let a = next_in(&mut rx).await;
        let b = next_in(&mut rx).await;
        assert_eq!(a.bytes, msg);
        assert_eq!(b.bytes, msg);
        assert_eq!(io.connections(), 1);
        // the response goes back on the same connection
        io.send(
            a.from,
            Arc::new(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
        );
        let mut buf = vec![0u8; 64];
        let n = c.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"SIP/2.0 200 OK"));
    }

    #[tokio::test]
    async fn tcp_outbound_connects_once() {
        let (io, _bound, mut rx, _stop) = setup("tcp:127.0.0.1:0").await;
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = Dest {
            transport: Transport::Tcp,
            addr: l.local_addr().unwrap(),
        };
        io.send(to, Arc::new(b"one".to_vec()));
        io.send(to, Arc::new(b"two".to_vec()));
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        while got.len() < 6 {
            let mut b = [0u8; 16];
            let n = s.read(&mut b).await.unwrap();
            got.extend_from_slice(&b[..n]);
        }
        assert_eq!(got, b"onetwo");
        assert!(
            tokio::time::timeout(Duration::from_millis(100), l.accept())
                .await
                .is_err(),
            "one connection only"
        );
        // a refused connection is reported
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let dead = Dest {
            transport: Transport::Tcp,
            addr: closed,
        };
        io.send(dead, Arc::new(b"x".to_vec()));
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(ev, SipEvent::Unreachable { to, .. } if to == dead),
            "{ev:?}"
        );
    }

    #[tokio::test]
    async fn tls_both_ways_with_verification() {
        let ck = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let tls = || TlsSetup {
            acceptor: Some(crate::sip::tls::acceptor(&cert, &key).unwrap()),
            connector: Some(crate::sip::tls::connector(Some(&cert)).unwrap()),
            names: HashMap::new(),
        };
        let (tx_a, mut rx_a) = mpsc::channel(16);
        let (tx_b, mut rx_b) = mpsc::channel(16);
        let (_stop, stop_rx) = watch::channel(false);
        let l = vec![crate::config::parse_listen("tls:127.0.0.1:0").unwrap()];
        let (_a, bound_a) = bind(
            &l,
            tls(),
            65535,
            Duration::from_secs(5),
            tx_a,
            stop_rx.clone(),
        )
        .await
        .unwrap();
        let (b, _) = bind(&[], tls(), 65535, Duration::from_secs(5), tx_b, stop_rx)
            .await
            .unwrap();
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n".to_vec();
        b.send(
            Dest {
                transport: Transport::Tls,
                addr: bound_a[0].addr,
            },
            Arc::new(msg.clone()),
        );
        let got = tokio::time::timeout(Duration::from_secs(5), next_in(&mut rx_a))
            .await
            .unwrap();
        assert_eq!(got.bytes, msg);
        assert_eq!(got.from.transport, Transport::Tls);
        _a.send(
            got.from,
            Arc::new(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
        );
        let back = tokio::time::timeout(Duration::from_secs(5), next_in(&mut rx_b))
            .await
            .unwrap();
        assert!(back.bytes.starts_with(b"SIP/2.0 200 OK"));

        // a client that does not trust the certificate never gets through
        let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let other_ca = dir.path().join("other.pem");
        std::fs::write(&other_ca, other.cert.pem()).unwrap();
        let (tx_c, mut rx_c) = mpsc::channel(16);
        let (_stop2, stop_rx2) = watch::channel(false);
        let untrusting = TlsSetup {
            acceptor: None,
            connector: Some(crate::sip::tls::connector(Some(&other_ca)).unwrap()),
            names: HashMap::new(),
        };
        let (c, _) = bind(
            &[],
            untrusting,
            65535,
            Duration::from_secs(5),
            tx_c,
            stop_rx2,
        )
        .await
        .unwrap();
        c.send(
            Dest {
                transport: Transport::Tls,
                addr: bound_a[0].addr,
            },
            Arc::new(msg),
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(500), rx_a.recv())
                .await
                .is_err()
        );
        // ... and its sender learns the destination is unreachable
        let ev = tokio::time::timeout(Duration::from_secs(5), rx_c.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(ev, SipEvent::Unreachable { .. }), "{ev:?}");
    }
}
