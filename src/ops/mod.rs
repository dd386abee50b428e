//! Operations: the Prometheus exporter and `/health` ([`metrics`], served by axum on
//! `metrics.listen`), and the live check of `stox --check --live` ([`live`]).

pub mod live;
pub mod metrics;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

pub use metrics::Exporter;

/// What `/health` answers from: 200 only when the component link is up and the SIP sockets
/// are bound.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// The SIP sockets are bound.
    pub sip_bound: bool,
    /// The component link is authenticated.
    pub link_up: bool,
    /// Why the link is down, as the link reported it.
    pub link_reason: String,
}

/// Shared between the event loop (writer) and the HTTP handlers (readers).
#[derive(Clone)]
pub struct OpsState {
    /// The registry.
    pub exporter: Arc<Mutex<Exporter>>,
    /// The health inputs.
    pub health: Arc<Mutex<Health>>,
}

impl OpsState {
    /// A fresh state: nothing bound, link down.
    pub fn new() -> Self {
        OpsState {
            exporter: Arc::new(Mutex::new(Exporter::new())),
            health: Arc::new(Mutex::new(Health {
                link_reason: "not connected yet".into(),
                ..Health::default()
            })),
        }
    }

    /// Updates the health inputs.
    pub fn set_health(&self, f: impl FnOnce(&mut Health)) {
        if let Ok(mut h) = self.health.lock() {
            f(&mut h);
        }
    }
}

impl Default for OpsState {
    fn default() -> Self {
        Self::new()
    }
}

async fn metrics_handler(State(s): State<OpsState>) -> impl IntoResponse {
    let body = s.exporter.lock().map(|e| e.encode()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

/// 200 `ok` when healthy; 503 with one line per reason otherwise.
pub fn health_answer(h: &Health) -> (StatusCode, String) {
    let mut why = Vec::new();
    if !h.sip_bound {
        why.push("SIP sockets are not bound".to_string());
    }
    if !h.link_up {
        why.push(format!("XMPP component link is down: {}", h.link_reason));
    }
    if why.is_empty() {
        (StatusCode::OK, "ok\n".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            why.into_iter().map(|w| w + "\n").collect(),
        )
    }
}

async fn health_handler(State(s): State<OpsState>) -> impl IntoResponse {
    let h = s.health.lock().map(|h| h.clone()).unwrap_or_default();
    health_answer(&h)
}

/// Serves `/metrics` and `/health` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: OpsState,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/health", get(health_handler))
        .with_state(state);
    let shutdown = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "the metrics endpoint stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_says_why() {
        let mut h = Health::default();
        let (code, body) = health_answer(&h);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body.contains("SIP sockets") && body.contains("link is down"),
            "{body}"
        );
        h.sip_bound = true;
        h.link_up = true;
        assert_eq!(health_answer(&h), (StatusCode::OK, "ok\n".into()));
    }

    #[test]
    fn counters_follow_the_core() {
        let mut e = Exporter::new();
        let mut m = crate::gateway::Metrics::default();
        m.message("xmpp_to_sip", "page", "errored", "sip_404");
        m.stanzas_in = 3;
        e.update(&m, crate::gateway::Gauges::default(), true, 0, 0);
        m.stanzas_in = 5;
        e.update(&m, crate::gateway::Gauges::default(), true, 2, 1);
        let text = e.encode();
        for want in [
            "stox_messages_total{direction=\"xmpp_to_sip\",kind=\"page\",outcome=\"errored\",reason=\"sip_404\"} 1",
            "stox_stanzas_total{direction=\"in\"} 5",
            "stox_xmpp_link_up 1",
            "stox_xmpp_queue_depth 2",
            "stox_msrp_connections 1",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
    }
}
