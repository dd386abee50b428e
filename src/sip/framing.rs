//! Stream framing (RFC 3261 §18.3): cutting messages out of a TCP/TLS byte stream by
//! Content-Length, and CRLF keepalives (RFC 5626 §3.5.1).

use super::message::header_end;

/// One unit cut from a stream transport (RFC 3261 §18.3, RFC 5626 §3.5.1 keepalives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole message of this many bytes is at the start of the buffer.
    Message(usize),
    /// `CRLFCRLF` keepalive ping (answer with a CRLF pong); consume this many bytes.
    Ping(usize),
    /// A lone `CRLF` (a pong, or noise before a message); consume this many bytes.
    Pong(usize),
    /// Need more bytes.
    Incomplete,
}

/// Finds the next frame in a stream buffer. `Err` means the stream is unusable (no valid
/// Content-Length, or a header section longer than `max`) and must be closed.
pub fn next_frame(buf: &[u8], max: usize) -> Result<Frame, String> {
    if buf.starts_with(b"\r\n\r\n") {
        return Ok(Frame::Ping(4));
    }
    if buf.starts_with(b"\r\n") {
        return Ok(if buf.len() < 4 && b"\r\n\r\n".starts_with(buf) {
            Frame::Incomplete
        } else {
            Frame::Pong(2)
        });
    }
    let Some(head_end) = header_end(buf) else {
        if buf.len() > max {
            return Err(format!("no end of headers within {max} bytes"));
        }
        return Ok(Frame::Incomplete);
    };
    let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default());
    let mut cl = None;
    for line in head.split("\r\n") {
        if let Some((n, v)) = line.split_once(':') {
            let n = n.trim();
            if n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("l") {
                cl = Some(
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| "bad Content-Length".to_string())?,
                );
            }
        }
    }
    let cl = cl.ok_or("missing Content-Length on a stream transport")?;
    let total = head_end.checked_add(cl).ok_or("Content-Length too large")?;
    if total > max {
        return Err(format!(
            "message of {total} bytes exceeds the limit of {max}"
        ));
    }
    Ok(if buf.len() >= total {
        Frame::Message(total)
    } else {
        Frame::Incomplete
    })
}
