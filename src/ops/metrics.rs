//! The Prometheus exporter: the core's counters and gauges, the link's state, and the event
//! loop's latency histograms, in one `prometheus-client` registry that `/metrics` encodes.
//!
//! The core is owned by the event loop, so the loop copies what the core counts into the
//! registry (counters by delta, gauges by value) once a second; a scrape sees values at most
//! a second old. The histograms are observed by the loop as it works.

use std::collections::HashMap;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::gateway::{Gauges, Metrics, metrics::MessageKey};

type Labels = Vec<(&'static str, String)>;

/// Every metric stox exposes, with handles the loop updates.
pub struct Exporter {
    registry: Registry,
    messages: Family<Labels, Counter>,
    stanzas: Family<Labels, Counter>,
    invalid_stanzas: Counter,
    bounces: Counter,
    link_up: Gauge,
    link_ups: Counter,
    queue_depth: Gauge,
    chat_sessions: Gauge,
    groupchat_sessions: Gauge,
    subscriptions: Family<Labels, Gauge>,
    sip_transactions: Gauge,
    sip_retransmissions: Counter,
    msrp_connections: Gauge,
    /// SIP in → stanza out, stanza in → SIP out: the loop's time from an input to its
    /// outputs handed to the IO shells.
    latency: Family<Labels, Histogram>,
    /// What was last copied, so counters move by the difference.
    last: HashMap<String, u64>,
}

fn histogram() -> Histogram {
    // 10 µs … ~1.3 s
    Histogram::new(exponential_buckets(0.00001, 2.0, 18))
}

impl Default for Exporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Exporter {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("stox");
        let messages = Family::<Labels, Counter>::default();
        registry.register(
            "messages",
            "Messages by direction (xmpp_to_sip, sip_to_xmpp), kind (page, chat, presence) and outcome (delivered, errored with reason)",
            messages.clone(),
        );
        let stanzas = Family::<Labels, Counter>::default();
        registry.register(
            "stanzas",
            "Stanzas on the component link by direction (in, out)",
            stanzas.clone(),
        );
        let invalid_stanzas = Counter::default();
        registry.register(
            "invalid_stanzas",
            "Stanzas from the XMPP server that did not parse",
            invalid_stanzas.clone(),
        );
        let bounces = Counter::default();
        registry.register(
            "bounces",
            "Error stanzas the XMPP server returned",
            bounces.clone(),
        );
        let link_up = Gauge::default();
        registry.register(
            "xmpp_link_up",
            "1 while the component link is authenticated",
            link_up.clone(),
        );
        let link_ups = Counter::default();
        registry.register(
            "xmpp_link_connects",
            "Times the component link came up (reconnects = this − 1)",
            link_ups.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "xmpp_queue_depth",
            "Stanzas waiting for the component link",
            queue_depth.clone(),
        );
        let groupchat_sessions = Gauge::default();
        registry.register(
            "groupchat_sessions",
            "Users in chat rooms through stox (RFC 7702, both directions)",
            groupchat_sessions.clone(),
        );
        let chat_sessions = Gauge::default();
        registry.register(
            "chat_sessions",
            "Active RFC 7573 chat sessions",
            chat_sessions.clone(),
        );
        let subscriptions = Family::<Labels, Gauge>::default();
        registry.register(
            "presence_subscriptions",
            "Presence subscriptions by direction (xmpp_to_sip: XMPP users watching SIP contacts)",
            subscriptions.clone(),
        );
        let sip_transactions = Gauge::default();
        registry.register(
            "sip_transactions",
            "Live SIP transactions",
            sip_transactions.clone(),
        );
        let sip_retransmissions = Counter::default();
        registry.register(
            "sip_retransmissions",
            "SIP requests and responses sent again by timer",
            sip_retransmissions.clone(),
        );
        let msrp_connections = Gauge::default();
        registry.register(
            "msrp_connections",
            "Open MSRP connections",
            msrp_connections.clone(),
        );
        let latency =
            Family::<Labels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        registry.register_with_unit(
            "processing",
            "Time from an input reaching the event loop to its outputs handed to the sockets, by path (sip_to_xmpp, xmpp_to_sip)",
            Unit::Seconds,
            latency.clone(),
        );
        Exporter {
            registry,
            messages,
            stanzas,
            invalid_stanzas,
            bounces,
            link_up,
            link_ups,
            queue_depth,
            chat_sessions,
            groupchat_sessions,
            subscriptions,
            sip_transactions,
            sip_retransmissions,
            msrp_connections,
            latency,
            last: HashMap::new(),
        }
    }

    fn bump(&mut self, key: String, now: u64, counter: &Counter) {
        let last = self.last.insert(key, now).unwrap_or(0);
        if now > last {
            counter.inc_by(now - last);
        }
    }

    /// Copies the core's counters and gauges, the link's state and the shells' counts.
    pub fn update(&mut self, m: &Metrics, g: Gauges, link_up: bool, queue: usize, msrp: usize) {
        for (k, v) in &m.messages {
            let MessageKey {
                direction,
                kind,
                outcome,
                reason,
            } = k;
            let labels: Labels = vec![
                ("direction", direction.to_string()),
                ("kind", kind.to_string()),
                ("outcome", outcome.to_string()),
                ("reason", reason.clone()),
            ];
            let c = self.messages.get_or_create(&labels).clone();
            self.bump(format!("m|{direction}|{kind}|{outcome}|{reason}"), *v, &c);
        }
        let s_in = self
            .stanzas
            .get_or_create(&vec![("direction", "in".into())])
            .clone();
        self.bump("stanzas_in".into(), m.stanzas_in, &s_in);
        let s_out = self
            .stanzas
            .get_or_create(&vec![("direction", "out".into())])
            .clone();
        self.bump("stanzas_out".into(), m.stanzas_out, &s_out);
        let c = self.invalid_stanzas.clone();
        self.bump("invalid".into(), m.invalid_stanzas, &c);
        let c = self.bounces.clone();
        self.bump("bounces".into(), m.bounces, &c);
        let c = self.link_ups.clone();
        self.bump("link_ups".into(), m.link_ups, &c);
        let c = self.sip_retransmissions.clone();
        self.bump("retrans".into(), g.sip_retransmissions, &c);
        self.link_up.set(i64::from(link_up));
        self.queue_depth.set(queue as i64);
        self.chat_sessions.set(g.chat_sessions as i64);
        self.groupchat_sessions.set(g.groupchat_sessions as i64);
        self.subscriptions
            .get_or_create(&vec![("direction", "xmpp_to_sip".into())])
            .set(g.presence_watches as i64);
        self.subscriptions
            .get_or_create(&vec![("direction", "sip_to_xmpp".into())])
            .set(g.presence_watchers as i64);
        self.sip_transactions.set(g.sip_transactions as i64);
        self.msrp_connections.set(msrp as i64);
    }

    /// The registry in the text exposition format (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut s = String::new();
        if prometheus_client::encoding::text::encode(&mut s, &self.registry).is_err() {
            s.clear();
        }
        s
    }
}

/// The two latency histograms, looked up once: the loop observes them per message without
/// the registry's lock or a label lookup.
#[derive(Clone)]
pub struct Latency {
    /// SIP in → stanza out.
    pub sip_to_xmpp: Histogram,
    /// Stanza in → SIP out.
    pub xmpp_to_sip: Histogram,
}

impl Exporter {
    /// Handles on the latency histograms (they share their counts with the registry).
    pub fn latency(&self) -> Latency {
        let h = |p: &str| {
            self.latency
                .get_or_create(&vec![("path", p.to_string())])
                .clone()
        };
        Latency {
            sip_to_xmpp: h("sip_to_xmpp"),
            xmpp_to_sip: h("xmpp_to_sip"),
        }
    }
}
