//! A raw MSRP peer for the integration tests: frames are written and read as bytes, not
//! with stox's codec.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::WAIT;

/// Reads MSRP frames off a TCP stream by their end-line (RFC 4975 §7.1: `-------tid` + flag).
pub struct MsrpPeer {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

/// The `a=path` of an SDP body (or of a SIP message carrying one).
pub fn sdp_path(msg: &str) -> String {
    msg.split("\r\n")
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("a=path")
        .to_string()
}

impl MsrpPeer {
    /// Connects to the port of stox's MSRP URI (`msrp://127.0.0.1:<port>/…`): the active end.
    pub async fn connect(path: &str) -> MsrpPeer {
        let port: u16 = path
            .split(':')
            .nth(2)
            .and_then(|p| p.split('/').next())
            .and_then(|p| p.parse().ok())
            .expect("an MSRP URI with a port");
        MsrpPeer {
            s: TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
            buf: vec![],
        }
    }

    /// Takes stox's connection on `listener`: the passive end.
    pub async fn accept(listener: &TcpListener) -> MsrpPeer {
        let (s, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("no MSRP connection in time")
            .unwrap();
        MsrpPeer { s, buf: vec![] }
    }

    pub async fn frame(&mut self) -> String {
        loop {
            if let Some(f) = self.take() {
                return f;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(WAIT, self.s.read(&mut chunk))
                .await
                .expect("no MSRP frame in time")
                .unwrap();
            assert!(
                n > 0,
                "MSRP connection closed; had {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Writes bytes as they are.
    pub async fn send(&mut self, f: &str) {
        self.s.write_all(f.as_bytes()).await.unwrap();
    }

    fn take(&mut self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.buf).to_string();
        let first = text.split("\r\n").next()?;
        let tid = first.split(' ').nth(1)?;
        let end = format!("\r\n-------{tid}");
        let at = text.find(&end)?;
        let total = at + end.len() + 3; // flag + CRLF
        if text.len() < total {
            return None;
        }
        let f = text[..total].to_string();
        self.buf.drain(..total);
        Some(f)
    }

    pub async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 512];
        matches!(
            tokio::time::timeout(WAIT, self.s.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}
