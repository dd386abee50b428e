//! MSRP connections (RFC 4975 §5.4, §6): a TCP listener and optionally a TLS one (`msrps`,
//! RFC 4975 §14.2, with the SIP certificate), outgoing connections for the `active` role,
//! framing with [`super::codec`], idle connections closed. Thin IO: frames in (tagged with
//! their connection), bytes out; sessions live in the sans-IO core.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::codec::{Frame, parse};

/// Names one MSRP connection (TCP or TLS), accepted or opened.
pub type ConnId = u64;

#[derive(Debug)]
/// What the MSRP transport reports.
pub enum MsrpEvent {
    /// A connection came up (accepted, or connected by us).
    Up {
        /// The connection.
        conn: ConnId,
        /// The peer's address.
        peer: SocketAddr,
    },
    /// A complete frame.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Frame,
    },
    /// Bytes that were not MSRP: the connection was closed (and, when possible, answered).
    Garbage {
        /// The connection.
        conn: ConnId,
        /// What was wrong.
        reason: String,
    },
    /// The connection is closed.
    Down {
        /// The connection.
        conn: ConnId,
    },
}

#[derive(Clone)]
/// The MSRP transport: listeners, outgoing connections, writers (cheap to clone).
pub struct MsrpIo {
    conns: Arc<Mutex<HashMap<ConnId, mpsc::Sender<Vec<u8>>>>>,
    next: Arc<AtomicU64>,
    events: mpsc::Sender<MsrpEvent>,
    max: usize,
    idle: Duration,
    shutdown: watch::Receiver<bool>,
}

/// Listens on `addr`; returns the sender side and the bound address.
pub async fn bind(
    addr: SocketAddr,
    max: usize,
    idle: Duration,
    events: mpsc::Sender<MsrpEvent>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<(MsrpIo, SocketAddr)> {
    let l = TcpListener::bind(addr).await?;
    let bound = l.local_addr()?;
    let io = MsrpIo {
        conns: Arc::new(Mutex::new(HashMap::new())),
        next: Arc::new(AtomicU64::new(1)),
        events,
        max,
        idle,
        shutdown,
    };
    io.spawn_accept(l, None);
    Ok((io, bound))
}

impl MsrpIo {
    fn register(&self) -> (ConnId, mpsc::Receiver<Vec<u8>>) {
        let conn = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(256);
        if let Ok(mut m) = self.conns.lock() {
            m.insert(conn, tx);
        }
        (conn, rx)
    }

    fn serve(&self, s: TcpStream, peer: SocketAddr) -> ConnId {
        let (conn, rx) = self.register();
        let (rd, wr) = s.into_split();
        tokio::spawn(self.clone().run(conn, rd, wr, peer, rx));
        conn
    }

    fn serve_tls<S>(&self, s: S, peer: SocketAddr) -> ConnId
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (conn, rx) = self.register();
        let (rd, wr) = tokio::io::split(s);
        tokio::spawn(self.clone().run(conn, rd, wr, peer, rx));
        conn
    }

    /// A second listener for `msrps` (TLS); returns its bound address.
    pub async fn listen_tls(
        &self,
        addr: SocketAddr,
        acceptor: TlsAcceptor,
    ) -> std::io::Result<SocketAddr> {
        let l = TcpListener::bind(addr).await?;
        let bound = l.local_addr()?;
        self.spawn_accept(l, Some(acceptor));
        Ok(bound)
    }

    /// Accepts connections until shutdown; with `tls`, each one first completes a handshake
    /// (in its own task, so a slow client holds up nobody).
    fn spawn_accept(&self, l: TcpListener, tls: Option<TlsAcceptor>) {
        let io = self.clone();
        tokio::spawn(async move {
            let mut stop = io.shutdown.clone();
            loop {
                tokio::select! {
                    r = l.accept() => match r {
                        Ok((s, peer)) => {
                            let _ = s.set_nodelay(true);
                            match tls.clone() {
                                None => {
                                    io.serve(s, peer);
                                }
                                Some(acceptor) => {
                                    let io = io.clone();
                                    tokio::spawn(async move {
                                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(s)).await {
                                            Ok(Ok(tls)) => {
                                                io.serve_tls(tls, peer);
                                            }
                                            _ => tracing::info!(%peer, "MSRP TLS handshake failed"),
                                        }
                                    });
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "MSRP accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    },
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// Opens a TLS connection to `peer`, verified by its IP address (the path names no host).
    pub async fn connect_tls(
        &self,
        peer: SocketAddr,
        connector: &TlsConnector,
    ) -> std::io::Result<ConnId> {
        let s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(peer))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "MSRP connect timed out")
            })??;
        let _ = s.set_nodelay(true);
        let name = rustls_pki_types::ServerName::IpAddress(peer.ip().into());
        let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, s))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "MSRP TLS handshake timed out")
            })??;
        Ok(self.serve_tls(tls, peer))
    }

    /// Opens a connection to `peer` (our `a=setup:active` role).
    pub async fn connect(&self, peer: SocketAddr) -> std::io::Result<ConnId> {
        let s = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(peer))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "MSRP connect timed out")
            })??;
        let _ = s.set_nodelay(true);
        Ok(self.serve(s, peer))
    }

    /// Queues bytes on a connection; `false` if it is gone.
    pub fn send(&self, conn: ConnId, bytes: Vec<u8>) -> bool {
        let tx = self.conns.lock().ok().and_then(|m| m.get(&conn).cloned());
        match tx {
            Some(tx) => match tx.try_send(bytes) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(b)) => {
                    tokio::spawn(async move {
                        let _ = tx.send(b).await;
                    });
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            },
            None => false,
        }
    }

    /// Closes a connection (its task ends and reports `Down`).
    pub fn close(&self, conn: ConnId) {
        if let Ok(mut m) = self.conns.lock() {
            m.remove(&conn);
        }
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.lock().map(|m| m.len()).unwrap_or(0)
    }

    async fn run<R, W>(
        self,
        conn: ConnId,
        mut rd: R,
        mut wr: W,
        peer: SocketAddr,
        mut out: mpsc::Receiver<Vec<u8>>,
    ) where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let _ = self.events.send(MsrpEvent::Up { conn, peer }).await;
        let mut buf = Vec::new();
        // Small per-connection buffers keep idle sessions cheap (README: memory per session).
        let mut chunk = vec![0u8; 4096];
        let mut stop = self.shutdown.clone();
        loop {
            tokio::select! {
                r = tokio::time::timeout(self.idle, rd.read(&mut chunk)) => {
                    let n = match r {
                        Ok(Ok(n)) if n > 0 => n,
                        _ => break,
                    };
                    buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    loop {
                        match parse(&buf, self.max) {
                            Ok(Some((frame, used))) => {
                                buf.drain(..used);
                                if self.events.send(MsrpEvent::Frame { conn, frame }).await.is_err() {
                                    return;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => match e.skip {
                                // a readable but invalid request: the core answers 400
                                Some(skip) => {
                                    buf.drain(..skip.min(buf.len()));
                                    let _ = self.events.send(MsrpEvent::Garbage { conn, reason: e.reason }).await;
                                }
                                None => {
                                    let _ = self.events.send(MsrpEvent::Garbage { conn, reason: e.reason }).await;
                                    self.close(conn);
                                    let _ = self.events.send(MsrpEvent::Down { conn }).await;
                                    return;
                                }
                            },
                        }
                    }
                }
                m = out.recv() => match m {
                    Some(bytes) => {
                        if wr.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                _ = stop.changed() => break,
            }
        }
        self.close(conn);
        let _ = self.events.send(MsrpEvent::Down { conn }).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND: &[u8] = b"MSRP a786hjs2 SEND\r\nTo-Path: msrp://x:1/a;tcp\r\nFrom-Path: msrp://y:2/b;tcp\r\nMessage-ID: m1\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------a786hjs2$\r\n";

    #[tokio::test]
    async fn frames_in_bytes_out_across_split_reads() {
        let (tx, mut rx) = mpsc::channel(16);
        let (_stop, stop_rx) = watch::channel(false);
        let (io, addr) = bind(
            "127.0.0.1:0".parse().unwrap(),
            65536,
            Duration::from_secs(5),
            tx,
            stop_rx,
        )
        .await
        .unwrap();
        let mut c = TcpStream::connect(addr).await.unwrap();
        let MsrpEvent::Up { conn, .. } = rx.recv().await.unwrap() else {
            panic!()
        };
        for piece in SEND.chunks(7) {
            c.write_all(piece).await.unwrap();
            c.flush().await.unwrap();
        }
        let MsrpEvent::Frame { frame, .. } = rx.recv().await.unwrap() else {
            panic!()
        };
        assert_eq!(frame.body, b"hello");
        assert!(io.send(conn, frame.response(200, "OK").to_bytes()));
        let mut got = vec![0u8; 256];
        let n = c.read(&mut got).await.unwrap();
        assert!(got[..n].starts_with(b"MSRP a786hjs2 200 OK\r\n"));
        // garbage closes the connection
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(matches!(
            rx.recv().await.unwrap(),
            MsrpEvent::Garbage { .. }
        ));
        assert!(matches!(rx.recv().await.unwrap(), MsrpEvent::Down { .. }));
        assert_eq!(io.connections(), 0);
    }

    #[tokio::test]
    async fn tls_listener_and_connector_with_verification() {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let (_stop, stop_rx) = watch::channel(false);
        let (io, _) = bind(
            "127.0.0.1:0".parse().unwrap(),
            65536,
            Duration::from_secs(5),
            tx,
            stop_rx,
        )
        .await
        .unwrap();
        let acceptor = crate::sip::tls::acceptor(&cert, &key).unwrap();
        let tls_addr = io
            .listen_tls("127.0.0.1:0".parse().unwrap(), acceptor)
            .await
            .unwrap();
        let connector = crate::sip::tls::connector(Some(&cert)).unwrap();
        let conn = io.connect_tls(tls_addr, &connector).await.unwrap();
        assert!(io.send(conn, SEND.to_vec()));
        // both ends of the TLS connection are ours: Up twice, then the frame on the server side
        let mut frame = None;
        for _ in 0..3 {
            if let MsrpEvent::Frame { frame: f, .. } = rx.recv().await.unwrap() {
                frame = Some(f);
                break;
            }
        }
        assert_eq!(frame.unwrap().body, b"hello");
    }

    #[tokio::test]
    async fn outgoing_connection_and_idle_close() {
        let (tx, mut rx) = mpsc::channel(16);
        let (_stop, stop_rx) = watch::channel(false);
        let (io, _) = bind(
            "127.0.0.1:0".parse().unwrap(),
            65536,
            Duration::from_millis(200),
            tx,
            stop_rx,
        )
        .await
        .unwrap();
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let conn = io.connect(peer.local_addr().unwrap()).await.unwrap();
        let (mut s, _) = peer.accept().await.unwrap();
        assert!(matches!(rx.recv().await.unwrap(), MsrpEvent::Up { .. }));
        io.send(conn, SEND.to_vec());
        let mut got = vec![0u8; 512];
        let mut n = 0;
        while n < SEND.len() {
            n += s.read(&mut got[n..]).await.unwrap();
        }
        assert_eq!(&got[..n], SEND);
        // nothing for 200 ms: closed
        assert!(matches!(rx.recv().await.unwrap(), MsrpEvent::Down { conn: c } if c == conn));
    }
}
