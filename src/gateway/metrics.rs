//! What the core counts (read by operators through logs today, by tests always).

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
    /// SUBSCRIBEs stox sent for XMPP users (new dialogs).
    pub presence_subscribes_out: u64,
    /// SUBSCRIBEs from SIP watchers accepted (new dialogs).
    pub presence_subscribes_in: u64,
    /// NOTIFYs from SIP accepted.
    pub presence_notifies_in: u64,
    /// NOTIFYs sent to SIP watchers.
    pub presence_notifies_out: u64,
}
