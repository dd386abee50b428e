//! The event loop: the one task that owns the [`Core`], fed by the IO tasks over channels.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::gateway::{Core, CoreConfig, Input, Output, Owner};
use crate::msrp::io::{MsrpEvent, MsrpIo};
use crate::sip::dns::Resolver;
use crate::sip::io::{self as sip_io, SipEvent, SipIo};
use crate::sip::transaction::Dest;
use crate::sip::ua::{Lookup, LookupId};
use crate::xmpp::link::{self, LinkConfig, LinkEvent, LinkHandle};

/// Runs the gateway until `shutdown` completes, then closes the XMPP stream and returns.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // The store first: a file we cannot open is a configuration error, reported before any
    // socket is bound. Loading happens here, before the loop; writes happen off it.
    let store = crate::store::Store::open(&cfg.store)?;
    let records = store.load().context("reading the store")?;
    let (store, store_thread) = crate::store::spawn_writer(store).context("store writer")?;
    let (mut shells, core_cfg) = bind(&cfg, store).await?;
    let mut core = Core::new(core_cfg.wall_clock(Instant::now(), std::time::SystemTime::now()));
    core.handle_input(Instant::now(), Input::Restored(records));
    drain(&mut core, &shells);
    run_loop(core, &mut shells, shutdown).await;
    // A moment for the SIP/MSRP writes just queued (BYEs, the last MESSAGEs) to leave.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = shells.stop.send(true);
    let Shells {
        link_task, store, ..
    } = shells;
    let _ = link_task.await;
    drop(store);
    // Every change queued so far is written before stox exits.
    let _ = tokio::task::spawn_blocking(move || store_thread.join()).await;
    Ok(())
}

/// The IO shells, bound, and the channels they report on.
struct Shells {
    stop: watch::Sender<bool>,
    /// Closes the component link first, so that it can take what the server still sends.
    link_stop: watch::Sender<bool>,
    sip: SipIo,
    sip_rx: mpsc::Receiver<SipEvent>,
    resolver: Arc<Resolver>,
    dns_tx: DnsReply,
    dns_rx: mpsc::Receiver<(LookupId, Result<Vec<Dest>, String>)>,
    msrp: MsrpIo,
    msrp_rx: mpsc::Receiver<MsrpEvent>,
    msrp_tls: Arc<tokio_rustls::TlsConnector>,
    conn_tx: ConnReply,
    conn_rx: mpsc::Receiver<(Owner, Result<u64, String>)>,
    link: LinkHandle,
    link_task: tokio::task::JoinHandle<()>,
    link_rx: mpsc::Receiver<LinkEvent>,
    store: crate::store::StoreHandle,
    ops: crate::ops::OpsState,
    latency: Option<crate::ops::metrics::Latency>,
    queue: usize,
}

/// Binds SIP first (a port we cannot bind is a configuration error, reported before
/// anything connects anywhere), then MSRP, then starts the component link; the core's
/// configuration is completed with what binding told.
async fn bind(
    cfg: &Config,
    store: crate::store::StoreHandle,
) -> anyhow::Result<(Shells, CoreConfig)> {
    let (stop, stop_rx) = watch::channel(false);
    let (sip_tx, sip_rx) = mpsc::channel(4096);
    let mut tls = sip_io::TlsSetup::default();
    if let (Some(cert), Some(key)) = (&cfg.sip.tls_cert, &cfg.sip.tls_key) {
        tls.acceptor =
            Some(crate::sip::tls::acceptor(cert, key).context("sip.tls_cert / sip.tls_key")?);
    }
    // One acceptor and one connector (certificate and CA files read once) serve SIP and MSRP.
    let connector = crate::sip::tls::connector(cfg.sip.tls_ca.as_deref()).context("sip.tls_ca")?;
    tls.connector = Some(connector.clone());
    let tls_acceptor = tls.acceptor.clone();
    // The outbound proxy, resolved once; a TLS proxy is verified by the name in its URI.
    let proxy = match &cfg.sip.outbound_proxy {
        Some(uri) => {
            let (dest, route, name) = crate::sip::dns::outbound_proxy(uri)
                .await
                .map_err(|e| anyhow::anyhow!("sip.outbound_proxy: {e}"))?;
            let name = name.unwrap_or_else(|| dest.addr.ip().to_string());
            tls.names.insert(dest.addr, name);
            Some((dest, route))
        }
        None => None,
    };
    let (sip, bound) = sip_io::bind(
        &cfg.sip_listen(),
        tls,
        cfg.sip.max_message_bytes,
        Duration::from_secs(cfg.sip.connection_idle_secs),
        sip_tx,
        stop_rx.clone(),
    )
    .await
    .context("starting the SIP transports")?;
    for l in &bound {
        tracing::info!(transport = l.transport.as_str(), addr = %l.addr, "SIP listening");
    }

    // MSRP: one listener for every call (RFC 4975 §5.4); idle connections outlive the chat
    // idle timer, which ends sessions properly (BYE) first.
    let (msrp_tx, msrp_rx) = mpsc::channel(4096);
    let msrp_addr: std::net::SocketAddr = cfg.msrp.listen.parse().context("msrp.listen")?;
    let (msrp, msrp_bound) = crate::msrp::io::bind(
        msrp_addr,
        usize::try_from(cfg.msrp.max_message_bytes).unwrap_or(usize::MAX) + 8192,
        Duration::from_secs(cfg.msrp.idle_secs + 60),
        msrp_tx,
        stop_rx.clone(),
    )
    .await
    .context("starting the MSRP listener")?;
    tracing::info!(addr = %msrp_bound, "MSRP listening");
    let msrp_tls_port = match (&cfg.msrp.tls_listen, tls_acceptor) {
        (Some(l), Some(acceptor)) => {
            let addr: std::net::SocketAddr = l.parse().context("msrp.tls_listen")?;
            let bound = msrp
                .listen_tls(addr, acceptor)
                .await
                .context("starting the MSRP TLS listener")?;
            tracing::info!(addr = %bound, "MSRP over TLS listening");
            Some(bound.port())
        }
        _ => None,
    };

    // /metrics and /health: bound now (a port in use is a configuration error), served
    // until stop.
    let ops = crate::ops::OpsState::new();
    ops.set_health(|h| h.sip_bound = true);
    if !cfg.metrics.listen.is_empty() {
        let listener = tokio::net::TcpListener::bind(&cfg.metrics.listen)
            .await
            .with_context(|| format!("metrics.listen {}", cfg.metrics.listen))?;
        tracing::info!(addr = %cfg.metrics.listen, "metrics and health listening");
        tokio::spawn(crate::ops::serve(listener, ops.clone(), stop_rx.clone()));
    }

    let (dns_tx, dns_rx) = mpsc::channel(256);
    let (conn_tx, conn_rx) = mpsc::channel(1024);
    let (link_tx, link_rx) = mpsc::channel(1024);
    let (link_stop, link_stop_rx) = watch::channel(false);
    let (link, link_task) = link::spawn(LinkConfig::from_config(cfg), link_tx, link_stop_rx);
    let core_cfg = CoreConfig::from_config(cfg)
        .bound_sip(&bound)
        .outbound_proxy(proxy)
        .bound_msrp(msrp_bound.port(), msrp_tls_port);
    let shells = Shells {
        stop,
        link_stop,
        sip,
        sip_rx,
        resolver: Arc::new(Resolver::new(&cfg.sip.dns_servers)),
        dns_tx,
        dns_rx,
        msrp,
        msrp_rx,
        msrp_tls: Arc::new(connector),
        conn_tx,
        conn_rx,
        link,
        link_task,
        link_rx,
        store,
        latency: ops.exporter.lock().ok().map(|e| e.latency()),
        ops,
        queue: cfg.limits.xmpp_queue,
    };
    Ok((shells, core_cfg))
}

/// Feeds the core from the shells until a channel closes or `shutdown` completes; after
/// every input, its outputs are drained (the str0m contract).
async fn run_loop(mut core: Core, io: &mut Shells, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let epoch = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // After SIGTERM: the link closes first and the loop keeps carrying what still arrives,
    // until the link is gone or this deadline.
    let mut closing: Option<Instant> = None;
    loop {
        let deadline = core.poll_timeout().map(|d| coalesce(epoch, d));
        tokio::select! {
            ev = io.link_rx.recv() => {
                let Some(ev) = ev else { break };
                let input = match ev {
                    LinkEvent::Up => {
                        io.ops.set_health(|h| h.link_up = true);
                        Input::LinkUp
                    }
                    LinkEvent::Down(reason) => {
                        tracing::debug!(%reason, "link down");
                        io.ops.set_health(|h| {
                            h.link_up = false;
                            h.link_reason = reason;
                        });
                        Input::LinkDown
                    }
                    LinkEvent::Stanza(s) => Input::Stanza(s),
                    LinkEvent::Invalid(bad) => Input::InvalidStanza(bad),
                };
                let t = Instant::now();
                core.handle_input(t, input);
                if drain(&mut core, io).sip > 0
                    && let Some(l) = &io.latency
                {
                    l.xmpp_to_sip.observe(t.elapsed().as_secs_f64());
                }
                continue;
            }
            ev = io.sip_rx.recv() => match ev {
                None => break,
                Some(SipEvent::In(m)) => {
                    tracing::trace!(target: "stox::sip::wire", from = %m.from.addr, transport = m.from.transport.as_str(), "recv\n{}", String::from_utf8_lossy(&m.bytes));
                    let t = Instant::now();
                    core.handle_input(t, Input::Sip(m));
                    if drain(&mut core, io).stanzas > 0
                        && let Some(l) = &io.latency
                    {
                        l.sip_to_xmpp.observe(t.elapsed().as_secs_f64());
                    }
                    continue;
                }
                Some(SipEvent::Unreachable { to, reason }) => {
                    core.handle_input(Instant::now(), Input::SipUnreachable { to, reason });
                }
            },
            Some((id, result)) = io.dns_rx.recv() => {
                core.handle_input(Instant::now(), Input::Resolved { id, result });
            }
            Some(ev) = io.msrp_rx.recv() => {
                if let MsrpEvent::Frame { conn, frame } = &ev {
                    tracing::trace!(target: "stox::msrp::wire", conn, "recv\n{}", String::from_utf8_lossy(&frame.to_bytes()));
                }
                core.handle_input(Instant::now(), Input::Msrp(ev));
            }
            Some((owner, result)) = io.conn_rx.recv() => {
                core.handle_input(Instant::now(), Input::MsrpConnected { owner, result });
            }
            _ = sleep_until(deadline) => core.handle_timeout(Instant::now()),
            _ = tick.tick() => {
                let depth = io.queue.saturating_sub(io.link.capacity());
                if let Ok(mut e) = io.ops.exporter.lock() {
                    e.update(core.metrics(), core.gauges(), core.link_up(), depth, io.msrp.connections());
                }
            }
            _ = &mut shutdown, if closing.is_none() => {
                tracing::info!("shutting down");
                core.handle_input(Instant::now(), Input::Shutdown);
                drain(&mut core, io);
                let _ = io.link_stop.send(true);
                closing = Some(Instant::now() + Duration::from_secs(5));
                continue;
            }
            _ = sleep_until(closing), if closing.is_some() => break,
        }
        drain(&mut core, io);
    }
}

/// Protocol timers fire on a 10 ms grid. SIP's shortest timer is T1 (500 ms), MSRP's are
/// seconds; rounding deadlines up lets the many timers that fall due one by one under load
/// (every transaction lingers for Timer K) share a wake-up instead of costing one each.
const TIMER_GRID: Duration = Duration::from_millis(10);

fn coalesce(epoch: Instant, d: Instant) -> Instant {
    let since = d.saturating_duration_since(epoch).as_nanos();
    let grid = TIMER_GRID.as_nanos();
    let up = since.div_ceil(grid) * grid;
    epoch + Duration::from_nanos(u64::try_from(up).unwrap_or(u64::MAX))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

type DnsReply = mpsc::Sender<(LookupId, Result<Vec<Dest>, String>)>;
type ConnReply = mpsc::Sender<(Owner, Result<u64, String>)>;

/// Runs one RFC 3263 lookup off the loop; the answer comes back as an input.
fn resolve(resolver: &Arc<Resolver>, tx: &DnsReply, id: LookupId, lookup: Lookup) {
    let (resolver, tx) = (resolver.clone(), tx.clone());
    tokio::spawn(async move {
        let result = resolver.resolve(&lookup).await;
        let _ = tx.send((id, result)).await;
    });
}

/// What one drain handed to the shells.
#[derive(Default)]
struct Drained {
    stanzas: usize,
    sip: usize,
}

/// After every input, drain the core's outputs (the str0m contract).
fn drain(core: &mut Core, io: &Shells) -> Drained {
    let mut n = Drained::default();
    let Shells {
        link,
        sip,
        resolver,
        dns_tx: dns,
        msrp,
        msrp_tls,
        conn_tx: connected,
        store,
        ..
    } = io;
    while let Some(out) = core.poll_output() {
        match out {
            Output::Stanza(s) => {
                n.stanzas += 1;
                if let Err(s) = link.try_send(s) {
                    core.handle_input(Instant::now(), Input::StanzaNotQueued(s));
                }
            }
            Output::TrackedStanza(ticket, s) => {
                n.stanzas += 1;
                let result = link.try_send(s).map_err(Box::new);
                core.handle_input(Instant::now(), Input::Queued(ticket, result));
            }
            Output::Resolve { id, lookup } => resolve(resolver, dns, id, lookup),
            Output::Sip { to, bytes } => {
                n.sip += 1;
                tracing::trace!(target: "stox::sip::wire", to = %to.addr, transport = to.transport.as_str(), "send\n{}", String::from_utf8_lossy(&bytes));
                sip.send(to, bytes)
            }
            Output::MsrpConnect { owner, addr, tls } => {
                let (msrp, connected) = (msrp.clone(), connected.clone());
                let connector = msrp_tls.clone();
                tokio::spawn(async move {
                    let r = if tls {
                        msrp.connect_tls(addr, &connector).await
                    } else {
                        msrp.connect(addr).await
                    }
                    .map_err(|e| e.to_string());
                    let _ = connected.send((owner, r)).await;
                });
            }
            Output::Msrp { conn, bytes } => {
                tracing::trace!(target: "stox::msrp::wire", conn, "send\n{}", String::from_utf8_lossy(&bytes));
                if !msrp.send(conn, bytes) {
                    core.handle_input(
                        Instant::now(),
                        Input::Msrp(crate::msrp::io::MsrpEvent::Down { conn }),
                    );
                }
            }
            Output::MsrpClose { conn } => msrp.close(conn),
            Output::Store(op) => store.send(op),
        }
    }
    n
}

/// Resolves on SIGINT or SIGTERM.
pub async fn signals() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut i), Ok(mut t)) => {
                tokio::select! {
                    _ = i.recv() => {}
                    _ = t.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_the_grid_never_down() {
        let e = Instant::now();
        assert_eq!(coalesce(e, e + Duration::from_millis(1)), e + TIMER_GRID);
        assert_eq!(coalesce(e, e + TIMER_GRID), e + TIMER_GRID);
        assert_eq!(
            coalesce(e, e + Duration::from_millis(501)),
            e + Duration::from_millis(510)
        );
    }
}
