//! The event loop: the one task that owns the [`Core`], fed by the IO tasks over channels.

use std::future::Future;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::gateway::{Core, Input, Output};
use crate::xmpp::link::{self, LinkConfig, LinkEvent, LinkHandle};

/// Runs the gateway until `shutdown` completes, then closes the XMPP stream and returns.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ev_tx, mut ev_rx) = mpsc::channel(1024);
    let (link, link_task) = link::spawn(LinkConfig::from_config(&cfg), ev_tx, stop_rx);
    let mut core = Core::new(&cfg);
    tokio::pin!(shutdown);
    loop {
        let deadline = core.poll_timeout();
        tokio::select! {
            ev = ev_rx.recv() => {
                let Some(ev) = ev else { break };
                let input = match ev {
                    LinkEvent::Up => Input::LinkUp,
                    LinkEvent::Down(reason) => {
                        tracing::debug!(%reason, "link down");
                        Input::LinkDown
                    }
                    LinkEvent::Stanza(s) => Input::Stanza(s),
                    LinkEvent::Invalid(bad) => Input::InvalidStanza(bad),
                };
                core.handle_input(Instant::now(), input);
            }
            _ = sleep_until(deadline) => core.handle_timeout(Instant::now()),
            _ = &mut shutdown => {
                tracing::info!("shutting down");
                break;
            }
        }
        drain(&mut core, &link);
    }
    let _ = stop_tx.send(true);
    let _ = link_task.await;
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// After every input, drain the core's outputs (the str0m contract).
fn drain(core: &mut Core, link: &LinkHandle) {
    while let Some(out) = core.poll_output() {
        match out {
            Output::Stanza(s) => {
                if let Err(s) = link.try_send(s) {
                    core.handle_input(Instant::now(), Input::StanzaNotQueued(s));
                }
            }
        }
    }
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
