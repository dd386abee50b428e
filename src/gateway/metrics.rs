//! What the core counts: read by the Prometheus exporter (`crate::ops`) and by tests.

use std::collections::BTreeMap;

/// Labels of one message outcome, as operators filter them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageKey {
    /// `xmpp_to_sip` or `sip_to_xmpp`.
    pub direction: &'static str,
    /// `page`, `chat`, `presence` (and `groupchat` when rooms come).
    pub kind: &'static str,
    /// `delivered` (the other side took it), `errored` or `queued`.
    pub outcome: &'static str,
    /// For `errored`: the SIP status (`sip_404`) or XMPP condition (`forbidden`) it was
    /// answered with; empty otherwise.
    pub reason: String,
}

/// Counters an operator can read (and tests can assert on).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// Stanzas from the XMPP server.
    pub stanzas_in: u64,
    /// Stanzas to the XMPP server.
    pub stanzas_out: u64,
    /// Stanzas that did not parse.
    pub invalid_stanzas: u64,
    /// Error stanzas the XMPP server bounced back to us.
    pub bounces: u64,
    /// Outputs the link could not queue.
    pub not_queued: u64,
    /// Times the component link came up.
    pub link_ups: u64,
    /// SIP MESSAGEs delivered to XMPP.
    pub sip_messages_in: u64,
    /// SIP MESSAGEs refused with an error.
    pub sip_messages_refused: u64,
    /// `<message/>`s handed to the SIP stack as MESSAGE / answered with an error stanza
    /// (a message refused by the SIP stack, e.g. too large, counts in both).
    pub xmpp_messages_out: u64,
    /// See `xmpp_messages_out`.
    pub xmpp_messages_failed: u64,
    /// Messages by direction, kind and outcome.
    pub messages: BTreeMap<MessageKey, u64>,
    /// SUBSCRIBEs stox sent for XMPP users (new dialogs).
    pub presence_subscribes_out: u64,
    /// SUBSCRIBEs from SIP watchers accepted (new dialogs).
    pub presence_subscribes_in: u64,
    /// NOTIFYs from SIP accepted.
    pub presence_notifies_in: u64,
    /// NOTIFYs sent to SIP watchers.
    pub presence_notifies_out: u64,
}

/// Directions of [`MessageKey`].
pub const X2S: &str = "xmpp_to_sip";
/// See [`X2S`].
pub const S2X: &str = "sip_to_xmpp";

impl Metrics {
    /// Counts one message outcome.
    pub fn message(
        &mut self,
        direction: &'static str,
        kind: &'static str,
        outcome: &'static str,
        reason: impl Into<String>,
    ) {
        let key = MessageKey {
            direction,
            kind,
            outcome,
            reason: reason.into(),
        };
        *self.messages.entry(key).or_insert(0) += 1;
    }

    /// Counts a message answered with an error: `sip_<status>` or the XMPP condition.
    pub fn errored(
        &mut self,
        direction: &'static str,
        kind: &'static str,
        reason: impl Into<String>,
    ) {
        self.message(direction, kind, "errored", reason);
    }
}

/// The XMPP condition's name (`item-not-found`) for the `reason` label.
pub fn condition(e: &xmpp_parsers::stanza_error::StanzaError) -> String {
    let el = xmpp_parsers::minidom::Element::from(e.defined_condition.clone());
    el.name().to_string()
}
