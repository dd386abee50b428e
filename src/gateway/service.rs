//! What the component domain itself answers: XEP-0030 disco, XEP-0100 gateway interaction,
//! XEP-0092 version, XEP-0199 ping. Every iq get/set gets exactly one reply (RFC 6120 §8.2.3):
//! a result, `service-unavailable` for namespaces we do not serve, or
//! `feature-not-implemented` for a served namespace asked for something it cannot do.

use std::collections::BTreeSet;

use xmpp_parsers::caps::{Caps, compute_disco, hash_caps};
use xmpp_parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity};
use xmpp_parsers::hashes::{Algo, Hash};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_parsers::version::VersionResult;

use super::address::{AddressMap, SipAddress};
use crate::config::Config;
use crate::xmpp::stanza::{self, *};

#[derive(Debug, Clone)]
/// Answers to iqs about the gateway itself (disco, XEP-0100, XEP-0092, XEP-0199).
pub struct Service {
    name: String,
}

/// Which entity an iq is addressed to.
enum Target {
    /// The component domain itself.
    Domain,
    /// A SIP user represented under the component domain.
    Contact,
}

impl Service {
    /// From `xmpp.name`.
    pub fn new(cfg: &Config) -> Self {
        Service {
            name: cfg.xmpp.name.clone(),
        }
    }

    /// disco#info of the component domain. Two identities: `gateway/simple` is the type the
    /// XMPP registrar assigns to SIP/SIMPLE gateways; `gateway/sip` is what operators search
    /// for. Only features that really work are listed.
    pub fn domain_info(&self) -> DiscoInfoResult {
        DiscoInfoResult {
            node: None,
            identities: vec![
                Identity::new("gateway", "simple", "en", self.name.clone()),
                Identity::new("gateway", "sip", "en", self.name.clone()),
            ],
            features: [
                NS_DISCO_INFO,
                NS_DISCO_ITEMS,
                NS_GATEWAY,
                NS_JID_ESCAPING,
                NS_PING,
                NS_VERSION,
            ]
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>(),
            extensions: vec![],
        }
    }

    /// XEP-0115 caps of the component's own presence (`ver` over [`Service::domain_info`]).
    pub fn domain_caps(&self) -> Caps {
        caps_of(&self.domain_info())
    }

    /// XEP-0115 caps of a SIP contact's presence (`ver` over [`Service::contact_info`]).
    pub fn contact_caps(&self) -> Caps {
        caps_of(&self.contact_info())
    }

    /// disco#info of a SIP contact (`romeo@sip.example.com`): a SIP endpoint is a phone-like
    /// client; clients use this to decide which extensions to send.
    pub fn contact_info(&self) -> DiscoInfoResult {
        DiscoInfoResult {
            node: None,
            identities: vec![Identity::new_anonymous::<_, _, String, String>(
                "client", "phone",
            )],
            features: [NS_DISCO_INFO].into_iter().map(String::from).collect(),
            extensions: vec![],
        }
    }

    /// Answers one iq. `None` only for result/error iqs, which are never answered.
    pub fn handle_iq(&self, addresses: &AddressMap, iq: Iq) -> Option<Iq> {
        let (from, to, id, payload, is_set) = match iq {
            Iq::Get {
                from,
                to,
                id,
                payload,
            } => (from, to, id, payload, false),
            Iq::Set {
                from,
                to,
                id,
                payload,
            } => (from, to, id, payload, true),
            Iq::Result { id, from, .. } => {
                tracing::debug!(%id, from = ?from.map(|j| j.to_string()), "unsolicited iq result ignored");
                return None;
            }
            Iq::Error {
                id, from, error, ..
            } => {
                tracing::info!(%id, from = ?from.map(|j| j.to_string()), condition = ?error.defined_condition, "iq error received");
                return None;
            }
        };
        let target = match to.as_ref().and_then(|t| t.node()) {
            None => Target::Domain,
            Some(_) => Target::Contact,
        };
        let ns = payload.ns();
        let result: Result<Option<Element>, (DefinedCondition, String)> =
            match (target, ns.as_str(), is_set) {
                (Target::Domain, NS_DISCO_INFO, false) => {
                    node_info(self.domain_info(), payload.attr("node"))
                }
                (Target::Contact, NS_DISCO_INFO, false) => {
                    node_info(self.contact_info(), payload.attr("node"))
                }
                (_, NS_DISCO_ITEMS, false) => Ok(Some(
                    DiscoItemsResult {
                        node: payload.attr("node").map(String::from),
                        items: vec![],
                        rsm: None,
                    }
                    .into(),
                )),
                (Target::Domain, NS_PING, false) => Ok(None),
                (Target::Domain, NS_VERSION, false) => Ok(Some(
                    VersionResult {
                        name: "stox".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        // The OS is left out: it helps attackers more than admins.
                        os: None,
                    }
                    .into(),
                )),
                (Target::Domain, NS_GATEWAY, false) => Ok(Some(gateway_prompt())),
                (Target::Domain, NS_GATEWAY, true) => gateway_translate(addresses, &payload),
                (Target::Domain, NS_DISCO_INFO | NS_DISCO_ITEMS | NS_PING | NS_VERSION, true) => {
                    Err((
                        DefinedCondition::FeatureNotImplemented,
                        format!("{ns} supports only type='get'"),
                    ))
                }
                _ => Err((
                    DefinedCondition::ServiceUnavailable,
                    format!("{ns} is not served here"),
                )),
            };
        Some(match result {
            Ok(payload) => Iq::Result {
                from: to,
                to: from,
                id,
                payload,
            },
            Err((cond, text)) => stanza::iq_error(from, to, id, stanza::error(cond, text)),
        })
    }
}

/// The caps node stox advertises (XEP-0115 §4: the software's URI).
pub const CAPS_NODE: &str = "https://crates.io/crates/stox-gateway";

fn caps_of(info: &DiscoInfoResult) -> Caps {
    let ver = hash_caps(&compute_disco(info), Algo::Sha_1);
    match ver {
        Ok(hash) => Caps::new(CAPS_NODE, hash),
        // SHA-1 is always available; an empty hash would only make clients ask disco.
        Err(_) => Caps::new(
            CAPS_NODE,
            Hash {
                algo: Algo::Sha_1,
                hash: vec![],
            },
        ),
    }
}

/// disco#info without a node, or for our caps node `node#ver` (XEP-0115 §6.2: clients check
/// the `ver` they were given by asking for exactly that node; it is echoed).
fn node_info(
    mut info: DiscoInfoResult,
    node: Option<&str>,
) -> Result<Option<Element>, (DefinedCondition, String)> {
    let Some(n) = node else {
        return Ok(Some(info.into()));
    };
    let c = caps_of(&info);
    let ver = Hash::new(c.hash, c.ver).to_base64();
    if n == format!("{CAPS_NODE}#{ver}") {
        info.node = Some(n.to_string());
        return Ok(Some(info.into()));
    }
    Err((DefinedCondition::ItemNotFound, format!("no node '{n}'")))
}

/// XEP-0100 §6.3 (jabber:iq:gateway get): how to ask the user for a SIP address.
fn gateway_prompt() -> Element {
    Element::builder("query", NS_GATEWAY)
        .append(
            Element::builder("desc", NS_GATEWAY)
                .append("Enter the SIP address of the contact (e.g. romeo@example.net)"),
        )
        .append(Element::builder("prompt", NS_GATEWAY).append("SIP address"))
        .build()
}

/// XEP-0100 §6.3 (jabber:iq:gateway set): SIP address → the JID that reaches it, using the
/// same [`AddressMap`] as message routing.
fn gateway_translate(
    addresses: &AddressMap,
    payload: &Element,
) -> Result<Option<Element>, (DefinedCondition, String)> {
    let prompt = payload
        .get_child("prompt", NS_GATEWAY)
        .map(|p| p.text())
        .filter(|t| !t.trim().is_empty())
        .ok_or((
            DefinedCondition::BadRequest,
            "missing <prompt/>".to_string(),
        ))?;
    let sip = SipAddress::parse_loose(&prompt)
        .map_err(|e| (DefinedCondition::NotAcceptable, e.to_string()))?;
    let jid: Jid = addresses
        .sip_to_jid(&sip)
        .map_err(|e| (DefinedCondition::NotAcceptable, e.to_string()))?;
    // The contact JID is bare: a GRUU in the prompt names a device, not the contact.
    let bare = jid.to_bare().to_string();
    Ok(Some(
        Element::builder("query", NS_GATEWAY)
            .append(Element::builder("jid", NS_GATEWAY).append(bare))
            .build(),
    ))
}
