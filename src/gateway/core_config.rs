//! The core's configuration, built once (after quinn's `TransportConfig`): typed fields
//! derived from the operator's [`Config`], completed by the runtime with what only binding
//! sockets tells (ports, the resolved outbound proxy) and then handed to [`super::Core::new`].
//! Tests build one from a TOML string ([`Config::parse`]) without a file, and may set a
//! fixed [`CoreConfig::seed`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::address::AddressMap;
use super::call::CallConfig;
use super::chat::table::ChatConfig;
use super::{chat, im, service};
use crate::config::{Config, Listen, PageForm, Untrusted, XhtmlToSip};
use crate::msrp::session::SessionConfig;
use crate::sip::message::Method;
use crate::sip::transaction::{Dest, Timers};
use crate::sip::ua::{UaConfig, proxy_dest};

/// Everything the core needs to know, typed.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// RFC 7247 domain policy.
    pub addresses: AddressMap,
    /// disco/XEP-0100/version answers.
    pub service: service::Service,
    /// The SIP UA core.
    pub ua: UaConfig,
    /// Calls (INVITE + MSRP).
    pub call: CallConfig,
    /// 1:1 chat sessions.
    pub chat: ChatConfig,
    /// `limits.page_max_bytes`: the largest page-mode MESSAGE (over UDP, `udp_max` of the
    /// UA holds it to `limits.sip_message_size`, RFC 7572 §6).
    pub sip_message_size: usize,
    /// XHTML-IM goes to SIP as text/html.
    pub xhtml_to_sip: bool,
    /// `im.page_form`.
    pub page_form: PageForm,
    /// `im.receipts_on_2xx`: a 200 to a MESSAGE is a XEP-0184 receipt when the peer sends
    /// no IMDNs.
    pub receipts_on_2xx: bool,
    /// Largest MESSAGE body accepted once inflated (`msrp.max_message_bytes`).
    pub max_body: usize,
    /// The wall clock at one instant, so that the core can tell how old a CPIM `DateTime`
    /// is (the core reads no clock; the runtime sets this once at start).
    pub wall_clock: Option<(std::time::Instant, std::time::SystemTime)>,
    /// `[presence]`.
    pub presence: crate::config::PresenceConfig,
    /// `[groupchat]`.
    pub groupchat: crate::config::GroupchatConfig,
    /// Seed of every random id the core makes (tags, Call-IDs, branches, MSRP session ids).
    /// `None`: from the operating system — what production wants, since MSRP session ids
    /// must be unguessable (RFC 4975 §14.1); tests pass a fixed one.
    pub seed: Option<[u8; 32]>,
}

/// The SIP methods the core handles beside what the UA core answers itself.
pub const METHODS: [Method; 3] = [Method::Message, Method::Invite, Method::Bye];

fn host_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

impl CoreConfig {
    /// The configuration as the file says it, before any socket is bound: ports are the
    /// configured ones, the outbound proxy only if it is an IP literal.
    pub fn from_config(cfg: &Config) -> Self {
        let listens = cfg.sip_listen();
        let public_host = cfg.sip.public_host.clone().unwrap_or_else(|| {
            listens
                .first()
                .map(|l| host_string(l.addr.ip()))
                .unwrap_or_else(|| "127.0.0.1".into())
        });
        let ua = UaConfig {
            trusted: cfg.trusted_peers(),
            drop_untrusted: cfg.sip.untrusted == Untrusted::Drop,
            public_host: public_host.clone(),
            ports: listens
                .iter()
                .map(|l| (l.transport, l.addr.port()))
                .collect(),
            outbound_proxy: cfg.sip.outbound_proxy.as_deref().and_then(proxy_dest),
            credentials: cfg
                .sip
                .credentials
                .iter()
                .map(|c| crate::sip::ua::Credential {
                    realm: c.realm.clone(),
                    username: c.username.clone(),
                    password: c.password.expose().to_string(),
                })
                .collect(),
            timers: Timers {
                t1: Duration::from_millis(cfg.sip.t1_ms),
                t2: Duration::from_millis(cfg.sip.t2_ms),
                t4: Duration::from_millis(cfg.sip.t4_ms),
            },
            max_message: cfg.sip.max_message_bytes,
            udp_max: cfg.limits.sip_message_size,
            methods: {
                let mut m = METHODS.to_vec();
                if cfg.presence.enabled || cfg.groupchat.enabled {
                    m.extend([Method::Subscribe, Method::Notify]);
                }
                if cfg.groupchat.enabled {
                    m.push(Method::Refer);
                }
                m
            },
            supported: vec![],
            accept: im::ACCEPT.split(", ").map(String::from).collect(),
            user_agent: format!("stox/{}", env!("CARGO_PKG_VERSION")),
        };
        let listen: Option<SocketAddr> = cfg.msrp.listen.parse().ok();
        let host = cfg
            .msrp
            .public_host
            .clone()
            .unwrap_or_else(|| match listen.map(|l| l.ip()) {
                Some(ip) if !ip.is_unspecified() => ip.to_string(),
                _ => public_host
                    .trim_matches(|c| c == '[' || c == ']')
                    .to_string(),
            });
        let call = CallConfig {
            host,
            port: listen.map(|l| l.port()).unwrap_or(2855),
            tls_port: cfg
                .msrp
                .tls_listen
                .as_deref()
                .and_then(|l| l.parse::<SocketAddr>().ok())
                .map(|a| a.port()),
            session: SessionConfig {
                chunk: cfg.msrp.chunk_bytes,
                max_size: cfg.msrp.max_message_bytes,
                transaction_timeout: Duration::from_secs(30),
                accept: chat::ACCEPT,
                check: None,
            },
            connect_timeout: Duration::from_secs(cfg.msrp.connect_timeout_secs),
            hold: Duration::from_secs(cfg.msrp.invite_hold_secs),
            failure_report: cfg.msrp.failure_report,
        };
        CoreConfig {
            addresses: AddressMap::new(cfg),
            service: service::Service::new(cfg),
            ua,
            call,
            chat: ChatConfig {
                mode: cfg.im.chat_mode,
                max_sessions: cfg.msrp.max_sessions,
                idle: Duration::from_secs(cfg.msrp.idle_secs),
            },
            sip_message_size: cfg.limits.page_max_bytes,
            xhtml_to_sip: cfg.im.xhtml_to_sip == XhtmlToSip::Html,
            page_form: cfg.im.page_form,
            receipts_on_2xx: cfg.im.receipts_on_2xx,
            max_body: usize::try_from(cfg.msrp.max_message_bytes).unwrap_or(usize::MAX),
            wall_clock: None,
            presence: cfg.presence.clone(),
            groupchat: cfg.groupchat.clone(),
            seed: None,
        }
    }

    /// The SIP sockets as bound (the config may say port 0).
    pub fn bound_sip(mut self, bound: &[Listen]) -> Self {
        self.ua.ports = bound.iter().map(|l| (l.transport, l.addr.port())).collect();
        self
    }

    /// The outbound proxy as resolved at start.
    pub fn outbound_proxy(mut self, proxy: Option<(Dest, String)>) -> Self {
        self.ua.outbound_proxy = proxy;
        self
    }

    /// The MSRP listeners as bound.
    pub fn bound_msrp(mut self, port: u16, tls_port: Option<u16>) -> Self {
        self.call.port = port;
        self.call.tls_port = tls_port;
        self
    }

    /// The wall clock at `at` (the runtime passes `Instant::now()` and `SystemTime::now()`).
    pub fn wall_clock(mut self, at: std::time::Instant, wall: std::time::SystemTime) -> Self {
        self.wall_clock = Some((at, wall));
        self
    }

    /// A fixed seed for every random id (tests).
    pub fn seed(mut self, seed: [u8; 32]) -> Self {
        self.seed = Some(seed);
        self
    }
}
