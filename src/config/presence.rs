//! `[presence]` and `[store]`: presence subscriptions (RFC 8048) and where the ones that must
//! survive a restart are kept; `[metrics]`: the Prometheus endpoint.

use std::path::PathBuf;

use serde::Deserialize;

/// Presence both ways (RFC 8048) and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceConfig {
    /// `false`: presence subscriptions are refused as before (XMPP `service-unavailable`,
    /// SIP 489 for SUBSCRIBE).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Expires stox asks for in the SUBSCRIBEs it sends (RFC 3856 §6.4 default: 3600).
    #[serde(default = "default_expires")]
    pub subscribe_expires_secs: u32,
    /// Shortest Expires a SIP watcher may ask for (else 423 + Min-Expires).
    #[serde(default = "default_min_expires")]
    pub min_expires_secs: u32,
    /// Longest Expires stox grants a SIP watcher.
    #[serde(default = "default_expires")]
    pub max_expires_secs: u32,
    /// Subscriptions in both directions together; beyond it: 503 + Retry-After for SIP,
    /// `resource-constraint` for XMPP.
    #[serde(default = "default_max_subs")]
    pub max_subscriptions: usize,
    /// Subscriptions one XMPP user may hold or be watched by (each direction counted).
    #[serde(default = "default_max_per_user")]
    pub max_per_user: usize,
    /// Shortest time between two NOTIFYs to one SIP watcher (RFC 6665 §4.2.2 rate control);
    /// changes in between are merged into the next NOTIFY.
    #[serde(default = "default_notify_interval")]
    pub notify_interval_ms: u64,
    /// Largest PIDF body accepted in a NOTIFY (else 413).
    #[serde(default = "default_pidf_max")]
    pub pidf_max_bytes: usize,
    /// After a subscription to a SIP contact failed for a passing reason (timeout, 5xx,
    /// `terminated;reason=giveup` without retry-after), when to try again.
    #[serde(default = "default_retry")]
    pub retry_secs: u64,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            enabled: true,
            subscribe_expires_secs: default_expires(),
            min_expires_secs: default_min_expires(),
            max_expires_secs: default_expires(),
            max_subscriptions: default_max_subs(),
            max_per_user: default_max_per_user(),
            notify_interval_ms: default_notify_interval(),
            pidf_max_bytes: default_pidf_max(),
            retry_secs: default_retry(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_expires() -> u32 {
    3600
}
fn default_min_expires() -> u32 {
    60
}
fn default_max_subs() -> usize {
    200_000
}
fn default_max_per_user() -> usize {
    1000
}
fn default_notify_interval() -> u64 {
    500
}
fn default_pidf_max() -> usize {
    65_536
}
fn default_retry() -> u64 {
    300
}

/// `[store]`: the embedded database (SQLite) for state a restart must not lose.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The database file; directories are created. Unset: `$STATE_DIRECTORY/stox.sqlite`
    /// (systemd's `StateDirectory=`), else `$XDG_STATE_HOME/stox/stox.sqlite`, else
    /// `~/.local/state/stox/stox.sqlite`. `":memory:"` keeps nothing across restarts.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

impl StoreConfig {
    /// The file to open (see [`StoreConfig::path`]).
    pub fn resolved_path(&self) -> PathBuf {
        if let Some(p) = &self.path {
            return p.clone();
        }
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(d) = env("STATE_DIRECTORY") {
            // systemd may list several, separated by ':'; the first is ours.
            let first = d
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or("")
                .to_string();
            return PathBuf::from(first).join("stox.sqlite");
        }
        let base = env("XDG_STATE_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("stox").join("stox.sqlite")
    }

    /// Nothing is kept across restarts.
    pub fn in_memory(&self) -> bool {
        self.path.as_deref() == Some(std::path::Path::new(":memory:"))
    }
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `ip:port` of `/metrics` and `/health`; empty turns both off.
    #[serde(default = "default_metrics_listen")]
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: default_metrics_listen(),
        }
    }
}

fn default_metrics_listen() -> String {
    "127.0.0.1:9870".into()
}
