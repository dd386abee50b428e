//! The XEP-0114 component link: connect, handshake, keepalive, reconnect, bounded queue.
//!
//! Built on tokio-xmpp's `xmlstream` layer rather than `tokio_xmpp::Component`: the latter
//! folds a bad stanza, an idle timeout, a stream error and EOF into the same `None`, loses
//! the server's error condition, and has no reconnect or keepalive. The xmlstream layer gives
//! us each of those separately; this module adds the supervisor around it.
//!
//! Guarantees:
//! * The handshake is lowercase hex SHA-1(stream id ‖ secret) (XEP-0114 §3).
//! * A link silent for `keepalive` gets an XEP-0199 ping to the server; no traffic within
//!   `keepalive_timeout` after it means a dead link, which is dropped and redialled.
//! * Reconnects forever with [`Backoff`], one log line per attempt.
//! * Outgoing stanzas go through one bounded queue. While the link is down they wait there
//!   and are flushed in order on reconnect; when it is full [`LinkHandle::try_send`] hands
//!   the stanza back so the producer can answer on its own protocol (SIP: 503).
//! * A stanza whose write fails is kept and written first after reconnect. A write that
//!   reached the kernel but not the server can still be lost with the TCP connection:
//!   XEP-0114 has no acknowledgements (no XEP-0198 for components).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_xmpp::xmlstream::{
    FallibleStreamElement, ReadError, StreamElementError, StreamHeader, Timeouts,
    XmppStreamElement, initiate_stream,
};
use xmpp_parsers::component::Handshake;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::ping::Ping;
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};

use super::backoff::Backoff;
use super::stanza::InvalidStanza;
use crate::config::{Config, Secret};

type Stream = tokio_xmpp::xmlstream::XmppStream<BufStream<TcpStream>>;

/// What the link needs to know; built from [`Config`].
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// `host:port` of the XMPP server's component port.
    pub server: String,
    /// The component's domain.
    pub component: String,
    /// The shared secret.
    pub secret: Secret,
    /// Where keepalive pings go: the XMPP server's own domain.
    pub ping_to: Option<String>,
    /// Idle time before a ping.
    pub keepalive: Duration,
    /// How long a ping may go unanswered before the link is dead.
    pub keepalive_timeout: Duration,
    /// First reconnect delay.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Stanzas queued while the link is down.
    pub queue: usize,
}

impl LinkConfig {
    /// From `[xmpp]` and `limits.xmpp_queue`.
    pub fn from_config(cfg: &Config) -> Self {
        LinkConfig {
            server: cfg.xmpp.server.clone(),
            component: cfg.xmpp.component.clone(),
            secret: cfg.xmpp.secret.clone(),
            ping_to: cfg.xmpp.domains.first().cloned(),
            keepalive: cfg.keepalive(),
            keepalive_timeout: cfg.keepalive_timeout(),
            reconnect_min: Duration::from_millis(cfg.xmpp.reconnect_min_ms),
            reconnect_max: Duration::from_millis(cfg.xmpp.reconnect_max_ms),
            queue: cfg.limits.xmpp_queue,
        }
    }
}

/// What the link reports to the event loop.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum LinkEvent {
    /// Authenticated and flowing.
    Up,
    /// Dropped, with why.
    Down(String),
    /// A stanza from the server.
    Stanza(Stanza),
    /// A stanza that did not parse.
    Invalid(InvalidStanza),
}

/// The producer side of the outgoing queue.
#[derive(Clone, Debug)]
pub struct LinkHandle {
    tx: mpsc::Sender<Stanza>,
}

impl LinkHandle {
    /// Queues a stanza. `Err` gives it back when the queue is full or the link is gone.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, s: Stanza) -> Result<(), Stanza> {
        self.tx.try_send(s).map_err(|e| match e {
            mpsc::error::TrySendError::Full(s) | mpsc::error::TrySendError::Closed(s) => s,
        })
    }

    /// Free places in the queue.
    pub fn capacity(&self) -> usize {
        self.tx.capacity()
    }
}

/// Starts the link task. It runs until `shutdown` becomes true, then closes the stream.
pub fn spawn(
    cfg: LinkConfig,
    events: mpsc::Sender<LinkEvent>,
    shutdown: watch::Receiver<bool>,
) -> (LinkHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(cfg.queue.max(1));
    let task = tokio::spawn(supervise(cfg, rx, events, shutdown));
    (LinkHandle { tx }, task)
}

/// Why a connection attempt or a session ended.
#[derive(Debug)]
enum LinkError {
    /// A problem an operator has to fix; still retried, in case they fix it.
    Fatal(String),
    Transient(String),
    Shutdown,
}

async fn supervise(
    cfg: LinkConfig,
    mut rx: mpsc::Receiver<Stanza>,
    events: mpsc::Sender<LinkEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(cfg.reconnect_min, cfg.reconnect_max);
    let mut pending: Vec<Stanza> = Vec::new();
    let mut attempt: u64 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        attempt += 1;
        let connected = tokio::select! {
            r = tokio::time::timeout(cfg.keepalive_timeout, connect(&cfg)) => match r {
                Ok(r) => r,
                Err(_) => Err(LinkError::Transient(format!("no handshake answer from {} within {:?}", cfg.server, cfg.keepalive_timeout))),
            },
            _ = shutdown.changed() => return,
        };
        let outcome = match connected {
            Ok(stream) => {
                tracing::info!(server = %cfg.server, component = %cfg.component, attempt, "XMPP component link up");
                attempt = 0;
                backoff.reset();
                if events.send(LinkEvent::Up).await.is_err() {
                    return;
                }
                let end =
                    session(&cfg, stream, &mut rx, &mut pending, &events, &mut shutdown).await;
                let reason = match &end {
                    LinkError::Fatal(r) | LinkError::Transient(r) => r.clone(),
                    LinkError::Shutdown => "shutdown".into(),
                };
                if events.send(LinkEvent::Down(reason)).await.is_err() {
                    return;
                }
                end
            }
            Err(e) => e,
        };
        let delay = match outcome {
            LinkError::Shutdown => return,
            // First retry after a working session is immediate: usually a server restart.
            LinkError::Transient(r) if backoff.failures() == 0 && attempt == 0 => {
                tracing::warn!(reason = %r, "XMPP component link lost; reconnecting now");
                backoff.next_delay(0);
                Duration::ZERO
            }
            LinkError::Transient(r) => {
                let d = backoff.next_delay(rand::random());
                tracing::warn!(attempt, reason = %r, retry_in_ms = d.as_millis() as u64, "XMPP component link attempt failed");
                d
            }
            LinkError::Fatal(r) => {
                let d = backoff.next_delay(rand::random());
                tracing::error!(attempt, retry_in_ms = d.as_millis() as u64, "{r}");
                d
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One handshake, for `stox --check --live`: `Ok` once the server accepted the component,
/// else the operator-worded reason (the same words the running link logs).
pub async fn handshake_once(cfg: &LinkConfig) -> Result<(), String> {
    match tokio::time::timeout(cfg.keepalive_timeout, connect(cfg)).await {
        Ok(Ok(stream)) => {
            drop(stream);
            Ok(())
        }
        Ok(Err(LinkError::Fatal(r) | LinkError::Transient(r))) => Err(r),
        Ok(Err(LinkError::Shutdown)) => Err("shut down".into()),
        Err(_) => Err(format!(
            "no handshake answer from {} within {:?}: is it the XMPP server's component port?",
            cfg.server, cfg.keepalive_timeout
        )),
    }
}

/// TCP connect, stream header, handshake.
async fn connect(cfg: &LinkConfig) -> Result<Stream, LinkError> {
    let tcp = TcpStream::connect(&cfg.server)
        .await
        .map_err(|e| LinkError::Transient(format!("cannot connect to {}: {e}", cfg.server)))?;
    let _ = tcp.set_nodelay(true);
    let timeouts = Timeouts {
        read_timeout: cfg.keepalive,
        response_timeout: cfg.keepalive_timeout,
    };
    let mut pending = initiate_stream(
        BufStream::new(tcp),
        xmpp_parsers::ns::COMPONENT,
        StreamHeader {
            to: Some(cfg.component.as_str().into()),
            from: None,
            id: None,
        },
        timeouts,
    )
    .await
    .map_err(|e| {
        LinkError::Transient(format!(
            "stream header exchange with {} failed: {e}",
            cfg.server
        ))
    })?;
    let header = pending.take_header();
    let mut stream: Stream = pending.skip_features();
    let Some(id) = header.id else {
        // A header without id: the server is about to send a stream error; read it.
        return Err(read_stream_error(cfg, &mut stream).await);
    };
    let handshake = Handshake::from_stream_id_and_password(id.into_owned(), cfg.secret.expose());
    stream
        .send(&XmppStreamElement::ComponentHandshake(handshake))
        .await
        .map_err(|e| LinkError::Transient(format!("sending the handshake failed: {e}")))?;
    loop {
        match stream.next().await {
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::ComponentHandshake(_)))) => {
                return Ok(stream);
            }
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
                return Err(explain_stream_error(cfg, &e.0));
            }
            Some(Ok(other)) => {
                tracing::debug!(?other, "unexpected element before handshake answer");
            }
            Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(ReadError::ParseError(e))) => {
                return Err(LinkError::Transient(format!(
                    "unreadable handshake answer: {e}"
                )));
            }
            Some(Err(ReadError::HardError(e))) => {
                return Err(LinkError::Transient(format!(
                    "connection failed during handshake: {e}"
                )));
            }
            Some(Err(ReadError::StreamFooterReceived)) | None => {
                return Err(LinkError::Fatal(format!(
                    "the XMPP server closed the stream during the handshake without saying why; \
                     check that it has a component named {} with the same secret",
                    cfg.component
                )));
            }
        }
    }
}

async fn read_stream_error(cfg: &LinkConfig, stream: &mut Stream) -> LinkError {
    match stream.next().await {
        Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
            explain_stream_error(cfg, &e.0)
        }
        _ => LinkError::Transient("the server's stream header carries no id".into()),
    }
}

/// Turns a stream error into what the operator must fix.
fn explain_stream_error(cfg: &LinkConfig, e: &StreamError) -> LinkError {
    let c = &cfg.component;
    let text = e
        .texts
        .values()
        .next()
        .map(|t| format!(" (server says: {t})"))
        .unwrap_or_default();
    match e.condition {
        StreamCondition::NotAuthorized => LinkError::Fatal(format!(
            "the XMPP server rejected the component secret for {c}{text}: make xmpp.secret \
             equal to component_secret (Prosody) or the service password (ejabberd)"
        )),
        StreamCondition::HostUnknown => LinkError::Fatal(format!(
            "the XMPP server does not know the component {c}{text}: add `Component \"{c}\"` \
             with component_secret to prosody.cfg.lua, or list \"{c}\" under hosts of the \
             ejabberd_service listener"
        )),
        StreamCondition::Conflict => LinkError::Fatal(format!(
            "the XMPP server refused {c} with a conflict{text}: another stox is already \
             connected as {c} (Prosody: component_conflict_resolve), or {c} is also an \
             ejabberd virtual host (remove it from hosts:)"
        )),
        StreamCondition::InvalidFrom => LinkError::Fatal(format!(
            "the XMPP server closed the link because a stanza's from was outside {c}{text}"
        )),
        StreamCondition::ImproperAddressing | StreamCondition::InvalidNamespace => {
            LinkError::Fatal(format!(
                "the XMPP server refused the component stream ({:?}){text}: is {} really a \
                 component port (Prosody component_ports, ejabberd ejabberd_service)?",
                e.condition, cfg.server
            ))
        }
        _ => LinkError::Transient(format!("stream error {:?}{text}", e.condition)),
    }
}

/// One authenticated session: pump stanzas both ways until something ends it.
async fn session(
    cfg: &LinkConfig,
    mut stream: Stream,
    rx: &mut mpsc::Receiver<Stanza>,
    pending: &mut Vec<Stanza>,
    events: &mpsc::Sender<LinkEvent>,
    shutdown: &mut watch::Receiver<bool>,
) -> LinkError {
    let mut ping_seq: u64 = 0;
    let ping_to = cfg.ping_to.as_deref().and_then(|d| d.parse::<Jid>().ok());
    let ping_from = cfg.component.parse::<Jid>().ok();

    // Whatever failed to go out last time goes first.
    if !pending.is_empty()
        && let Err(e) = write_batch(&mut stream, pending).await
    {
        return LinkError::Transient(format!("write failed: {e}"));
    }

    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                // What the core produced on its way out (errors for what was in flight) is
                // written before the stream closes.
                let mut last: Vec<Stanza> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
                if !last.is_empty() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), write_batch(&mut stream, &mut last)).await;
                }
                // Our footer tells the server to stop routing to us; what it sent before it
                // read the footer is still on its way and is handed to the core (which can
                // still carry it to SIP) until the server closes its side.
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.shutdown()).await;
                let until = tokio::time::Instant::now() + Duration::from_secs(3);
                loop {
                    match tokio::time::timeout_at(until, stream.next()).await {
                        Ok(Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(s))))) => {
                            if !is_ping_answer(&s) && events.send(LinkEvent::Stanza(s)).await.is_err() {
                                break;
                            }
                        }
                        Ok(Some(Ok(_) | Err(ReadError::SoftTimeout | ReadError::ParseError(_)))) => {}
                        _ => break,
                    }
                }
                return LinkError::Shutdown;
            }
            item = stream.next() => match item {
                None => return LinkError::Transient("the XMPP server closed the connection".into()),
                Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(s)))) => {
                    if is_ping_answer(&s) {
                        continue;
                    }
                    if events.send(LinkEvent::Stanza(s)).await.is_err() {
                        return LinkError::Shutdown;
                    }
                }
                Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
                    return explain_stream_error(cfg, &e.0);
                }
                Some(Ok(FallibleStreamElement::Ok(other))) => {
                    tracing::debug!(?other, "ignoring non-stanza element on the component stream");
                }
                Some(Ok(FallibleStreamElement::Err(StreamElementError::InvalidStanza { name, header, error, .. }))) => {
                    let bad = InvalidStanza {
                        kind: name.to_string().as_str().into(),
                        from: header.from,
                        to: header.to,
                        id: header.id,
                        type_: header.type_,
                        reason: error.to_string(),
                    };
                    if events.send(LinkEvent::Invalid(bad)).await.is_err() {
                        return LinkError::Shutdown;
                    }
                }
                Some(Ok(FallibleStreamElement::Err(e @ StreamElementError::InvalidNonza { .. }))) => {
                    tracing::info!(error = %e, "ignoring invalid element on the component stream");
                }
                Some(Err(ReadError::SoftTimeout)) => {
                    ping_seq += 1;
                    let ping = Iq::Get {
                        from: ping_from.clone(),
                        to: ping_to.clone(),
                        id: format!("stox-ping-{ping_seq}"),
                        payload: Ping.into(),
                    };
                    tracing::debug!(seq = ping_seq, "link idle; pinging the server");
                    if let Err(e) = stream.send(&Stanza::Iq(ping)).await {
                        return LinkError::Transient(format!("keepalive write failed: {e}"));
                    }
                }
                Some(Err(ReadError::ParseError(e))) => {
                    tracing::info!(error = %e, "unparseable element on the component stream");
                }
                Some(Err(ReadError::HardError(e))) => {
                    let what = if e.kind() == std::io::ErrorKind::TimedOut {
                        format!("the XMPP server did not answer a keepalive ping within {:?}", cfg.keepalive_timeout)
                    } else {
                        format!("connection failed: {e}")
                    };
                    return LinkError::Transient(what);
                }
                Some(Err(ReadError::StreamFooterReceived)) => {
                    return LinkError::Transient("the XMPP server closed the stream".into());
                }
            },
            out = rx.recv() => match out {
                None => return LinkError::Shutdown,
                Some(s) => {
                    // Everything already queued goes out in the same write: one syscall and one
                    // server wake-up for many stanzas when the core produces them in bursts.
                    pending.push(s);
                    while pending.len() < WRITE_BATCH {
                        match rx.try_recv() {
                            Ok(more) => pending.push(more),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = write_batch(&mut stream, pending).await {
                        return LinkError::Transient(format!("write failed: {e}"));
                    }
                }
            },
        }
    }
}

/// Stanzas written per flush at most.
const WRITE_BATCH: usize = 256;

/// Writes `batch` with one flush; it is emptied only once the flush succeeded, so after a
/// failure the whole batch is sent again first on the next connection (at least once: XEP-0114
/// has no acknowledgements to tell what the server got).
async fn write_batch(stream: &mut Stream, batch: &mut Vec<Stanza>) -> std::io::Result<()> {
    for s in batch.iter() {
        stream.feed(s).await?;
    }
    SinkExt::<&Stanza>::flush(stream).await?;
    batch.clear();
    Ok(())
}

fn is_ping_answer(s: &Stanza) -> bool {
    match s {
        Stanza::Iq(Iq::Result { id, .. }) | Stanza::Iq(Iq::Error { id, .. }) => {
            id.starts_with("stox-ping-")
        }
        _ => false,
    }
}
