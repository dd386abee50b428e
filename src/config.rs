//! Typed configuration: one TOML file, every key overridable from the environment.
//!
//! `STOX__XMPP__SECRET=...` overrides `xmpp.secret` (double underscore separates levels),
//! so secrets need not live in the file. Loading never starts anything: [`Config::load`]
//! returns either a fully validated config or every problem found, each naming its key,
//! so `stox --check` can print them all at once and a wrong config never starts half a
//! gateway.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

mod groupchat;
mod presence;
pub use crate::msrp::session::FailureReport;
pub use crate::sip::Transport;
pub use groupchat::GroupchatConfig;
pub use presence::{MetricsConfig, PresenceConfig, StoreConfig};

/// Root of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[xmpp]`: the component link.
    pub xmpp: XmppConfig,
    /// `[sip]`: transports, trust, proxy.
    pub sip: SipConfig,
    #[serde(default)]
    /// `[msrp]`: chat sessions.
    pub msrp: MsrpConfig,
    /// Extra SIP-domain ⇄ XMPP-domain routes (RFC 7247 §5 leaves domain mapping to policy).
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    /// `[limits]`: sizes and queues.
    pub limits: Limits,
    #[serde(default)]
    /// `[im]`: page-mode and chat choices.
    pub im: ImConfig,
    #[serde(default)]
    /// `[log]`.
    pub log: LogConfig,
    #[serde(default)]
    /// `[presence]`: subscriptions both ways (RFC 8048).
    pub presence: PresenceConfig,
    #[serde(default)]
    /// `[groupchat]`: chat rooms both ways (RFC 7702).
    pub groupchat: GroupchatConfig,
    #[serde(default)]
    /// `[store]`: where state that survives restarts lives.
    pub store: StoreConfig,
    #[serde(default)]
    /// `[metrics]`: `/metrics` and `/health`.
    pub metrics: MetricsConfig,
}

/// Page-mode IM choices (RFC 7572).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImConfig {
    /// What an XHTML-IM message becomes in SIP: `plain` (the `<body/>`, text/plain) or
    /// `html` (the XHTML-IM body as text/html).
    #[serde(default = "default_xhtml")]
    pub xhtml_to_sip: XhtmlToSip,
    /// `type='chat'` messages towards SIP (RFC 7573): `auto` opens an MSRP session and falls
    /// back to page mode when the peer refuses sessions; `msrp` never falls back (errors go
    /// back to the sender); `page` always uses MESSAGE.
    #[serde(default = "default_chat_mode")]
    pub chat_mode: ChatMode,
    /// How page-mode MESSAGEs carry the conversation: `clients` (a fresh Call-ID per
    /// MESSAGE, the resource as a GRUU in Contact, SIP→XMPP as one `type='chat'`
    /// conversation) or `rfc7572` (thread ⇄ Call-ID and GRUU in From, as RFC 7572 Tables 1/2).
    #[serde(default = "default_page_form")]
    pub page_form: PageForm,
    /// A 200 (not a 202) to a MESSAGE counts as delivered for an XMPP sender that asked for
    /// a XEP-0184 receipt, unless the peer sends IMDNs itself.
    #[serde(default = "default_true")]
    pub receipts_on_2xx: bool,
}

fn default_true() -> bool {
    true
}

choice! {
    /// `im.page_form`: the shape of page-mode MESSAGEs.
    pub enum PageForm, "is neither 'clients' nor 'rfc7572'" {
        /// What SIP clients need to show one conversation (the default).
        Clients = "clients",
        /// RFC 7572 Tables 1 and 2 to the letter.
        Rfc7572 = "rfc7572",
    }
}

choice! {
    /// `im.xhtml_to_sip`: what an XHTML-IM message becomes in SIP.
    pub enum XhtmlToSip, "is neither 'plain' nor 'html'" {
        /// The `<body/>` as text/plain.
        Plain = "plain",
        /// The XHTML-IM body as text/html.
        Html = "html",
    }
}

choice! {
    /// `im.chat_mode`: how `type='chat'` messages reach SIP (RFC 7573 or RFC 7572).
    pub enum ChatMode, "is not one of auto, msrp, page" {
        /// MSRP session, page mode when the peer refuses sessions.
        Auto = "auto",
        /// MSRP session only; errors go back to the sender.
        Msrp = "msrp",
        /// Always MESSAGE.
        Page = "page",
    }
}

choice! {
    /// `sip.untrusted`: what SIP from a source outside `sip.trusted_peers` gets.
    pub enum Untrusted, "is neither 'reject' nor 'drop'" {
        /// 403 Forbidden.
        Reject = "reject",
        /// Nothing.
        Drop = "drop",
    }
}

choice! {
    /// `log.format`.
    pub enum LogFormat, "is neither 'text' nor 'json'" {
        /// Human-readable lines.
        Text = "text",
        /// One JSON object per line.
        Json = "json",
    }
}

impl Default for ImConfig {
    fn default() -> Self {
        ImConfig {
            xhtml_to_sip: default_xhtml(),
            chat_mode: default_chat_mode(),
            page_form: default_page_form(),
            receipts_on_2xx: true,
        }
    }
}

fn default_xhtml() -> XhtmlToSip {
    XhtmlToSip::Plain
}

/// The XEP-0114 link and the XMPP side of the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmppConfig {
    /// The component's domain, e.g. `sip.example.com`.
    pub component: String,
    /// `host:port` of the server's component listener (host names allowed).
    #[serde(default = "default_server")]
    pub server: String,
    /// Shared secret of the component (`component_secret` in Prosody).
    #[serde(default)]
    pub secret: Secret,
    /// XMPP domains whose users may use the gateway.
    #[serde(default)]
    pub domains: Vec<String>,
    /// XMPP MUC services (XEP-0045) that SIP users may enter as chat rooms
    /// (`sip:room@<muc domain>`, RFC 7702 §6); the SIP proxy routes them to stox.
    #[serde(default)]
    pub muc_domains: Vec<String>,
    /// Name shown in service discovery.
    #[serde(default = "default_name")]
    pub name: String,
    /// Silence on the link before we ping the server (seconds).
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
    /// How long the server may take to answer that ping before the link counts as dead.
    #[serde(default = "default_keepalive_timeout")]
    pub keepalive_timeout_secs: u64,
    /// First reconnect delay (milliseconds); doubles per failed attempt.
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_ms: u64,
    /// Cap on the reconnect delay (milliseconds).
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
}

/// The SIP side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Listening sockets as `transport:ip:port`.
    #[serde(default = "default_sip_listen")]
    pub listen: Vec<String>,
    /// Home SIP domain: `sip:user@<domain>` appears in XMPP as `user@<component>`.
    pub domain: String,
    /// Host name put into Via/Contact; defaults to the first listen address.
    #[serde(default)]
    pub public_host: Option<String>,
    /// Every request stox originates is sent there (loose routing).
    #[serde(default)]
    pub outbound_proxy: Option<String>,
    /// CIDRs allowed to send SIP to stox.
    #[serde(default = "default_trusted")]
    pub trusted_peers: Vec<String>,
    /// What to do with SIP from an untrusted source: `reject` (403) or `drop`.
    #[serde(default = "default_untrusted")]
    pub untrusted: Untrusted,
    /// SIP domains other than `domain` that XMPP users may reach through escaped JIDs
    /// (`romeo\40example.org@sip.example.com`); `"*"` allows any.
    #[serde(default = "default_remote_domains")]
    pub remote_domains: Vec<String>,
    #[serde(default)]
    /// Certificate chain (PEM) for the TLS listener.
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    /// Its private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) that outgoing TLS peers are verified against; default: the system's.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Digest credentials used when a proxy challenges us (RFC 3261 §22).
    #[serde(default)]
    pub credentials: Vec<SipCredential>,
    /// RFC 3261 timers T1, T2, T4 (milliseconds).
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    #[serde(default = "default_t2")]
    /// RFC 3261 T2 (ms).
    pub t2_ms: u64,
    #[serde(default = "default_t4")]
    /// RFC 3261 T4 (ms).
    pub t4_ms: u64,
    /// Largest SIP message accepted (bytes); larger requests get 513.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// DNS servers for RFC 3263 lookups (SRV, A/AAAA); empty: the system's resolv.conf.
    #[serde(default)]
    pub dns_servers: Vec<std::net::IpAddr>,
    /// Stream connections with no traffic for this long are closed (seconds).
    #[serde(default = "default_idle")]
    pub connection_idle_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
/// Digest credentials stox answers a challenge of this realm with.
pub struct SipCredential {
    /// The realm in the challenge.
    pub realm: String,
    /// The user name.
    pub username: String,
    /// The password (or `STOX__SIP__CREDENTIALS` from the environment).
    pub password: Secret,
}

/// A secret string whose `Debug` never shows the value, so configs can be logged.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself (never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// No secret configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[msrp]`.
pub struct MsrpConfig {
    #[serde(default = "default_msrp_listen")]
    /// Address the MSRP listener binds, `ip:port`.
    pub listen: String,
    /// `msrps` (MSRP over TLS, RFC 4975 §14.2) listener, `ip:port`; uses `sip.tls_cert` and
    /// `sip.tls_key`. Without it, offers of `TCP/TLS/MSRP` get 488.
    #[serde(default)]
    pub tls_listen: Option<String>,
    /// Host written into our `a=path` URIs and `c=` lines (default: `sip.public_host`, else
    /// the listen address).
    #[serde(default)]
    pub public_host: Option<String>,
    /// Largest chunk body we send (RFC 4975 §7.1).
    #[serde(default = "default_chunk")]
    pub chunk_bytes: usize,
    /// Largest MSRP message we accept, advertised as `a=max-size` (RFC 7573 §8: keep it at or
    /// below the XMPP server's stanza limit); larger ones get 413.
    #[serde(default = "default_msrp_max")]
    pub max_message_bytes: u64,
    /// Concurrent chat sessions; beyond it INVITEs get 503 and chat messages fall back to (or
    /// fail like) page mode.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// A chat session with no message either way for this long ends with BYE (RFC 7573 §6.1;
    /// XEP-0085 suggests 10 minutes).
    #[serde(default = "default_chat_idle")]
    pub idle_secs: u64,
    /// How long the MSRP connection may take to come up (or to be bound by the peer's first
    /// SEND) after the INVITE succeeded.
    #[serde(default = "default_msrp_connect")]
    pub connect_timeout_secs: u64,
    /// `Failure-Report` on the SENDs we originate: `no` (RFC 7573 §7 SHOULD), `partial` or
    /// `yes` (then MSRP errors come back to the XMPP sender as message errors).
    #[serde(default = "default_failure_report")]
    pub failure_report: FailureReport,
    /// While the XMPP link is down, incoming chat INVITEs wait this long for it (then 480).
    #[serde(default = "default_invite_hold")]
    pub invite_hold_secs: u64,
}

impl Default for MsrpConfig {
    fn default() -> Self {
        Self {
            listen: default_msrp_listen(),
            tls_listen: None,
            public_host: None,
            chunk_bytes: default_chunk(),
            max_message_bytes: default_msrp_max(),
            max_sessions: default_max_sessions(),
            idle_secs: default_chat_idle(),
            connect_timeout_secs: default_msrp_connect(),
            failure_report: default_failure_report(),
            invite_hold_secs: default_invite_hold(),
        }
    }
}

fn default_chunk() -> usize {
    2048
}
fn default_msrp_max() -> u64 {
    65_536
}
fn default_max_sessions() -> usize {
    100_000
}
fn default_chat_idle() -> u64 {
    600
}
fn default_msrp_connect() -> u64 {
    30
}
fn default_failure_report() -> FailureReport {
    FailureReport::No
}
fn default_invite_hold() -> u64 {
    10
}
fn default_page_form() -> PageForm {
    PageForm::Clients
}
fn default_chat_mode() -> ChatMode {
    ChatMode::Auto
}

/// `sip:user@<sip_domain>` ⇄ `user@<xmpp_domain>`, for XMPP domains that SIP knows by
/// another name. Every domain in `xmpp.domains` is implicitly routed under its own name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The SIP domain name.
    pub sip_domain: String,
    /// The XMPP domain it stands for.
    pub xmpp_domain: String,
}

/// Every limit the gateway enforces. Each is answered with the protocol's own error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Stanzas waiting while the XMPP link is down; beyond it producers get an error
    /// (SIP: 503 + Retry-After).
    #[serde(default = "default_queue")]
    pub xmpp_queue: usize,
    /// Largest request stox sends over UDP (RFC 7572 §6, RFC 3261 §18.1.1: 1300 bytes);
    /// larger ones go over TCP when stox listens on TCP.
    #[serde(default = "default_sip_message_size")]
    pub sip_message_size: usize,
    /// Largest page-mode MESSAGE stox builds from a stanza (over TCP/TLS); beyond it the
    /// sender gets `policy-violation`.
    #[serde(default = "default_page_max")]
    pub page_max_bytes: usize,
}

fn default_page_max() -> usize {
    60_000
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            xmpp_queue: default_queue(),
            sip_message_size: default_sip_message_size(),
            page_max_bytes: default_page_max(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[log]`.
pub struct LogConfig {
    /// tracing filter, e.g. `info` or `stox=debug,info`.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: default_log_level(),
            format: default_log_format(),
        }
    }
}

fn default_server() -> String {
    "127.0.0.1:5347".into()
}
fn default_name() -> String {
    "SIP gateway".into()
}
fn default_keepalive() -> u64 {
    60
}
fn default_keepalive_timeout() -> u64 {
    20
}
fn default_reconnect_min() -> u64 {
    500
}
fn default_reconnect_max() -> u64 {
    30_000
}
fn default_sip_listen() -> Vec<String> {
    vec!["udp:127.0.0.1:5070".into(), "tcp:127.0.0.1:5070".into()]
}
fn default_trusted() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}
fn default_untrusted() -> Untrusted {
    Untrusted::Reject
}
fn default_remote_domains() -> Vec<String> {
    vec!["*".into()]
}
fn default_t1() -> u64 {
    500
}
fn default_t2() -> u64 {
    4000
}
fn default_t4() -> u64 {
    5000
}
fn default_max_message() -> usize {
    65_535
}
fn default_idle() -> u64 {
    600
}
fn default_msrp_listen() -> String {
    "127.0.0.1:2855".into()
}
fn default_queue() -> usize {
    1000
}
fn default_sip_message_size() -> usize {
    1300
}
fn default_log_level() -> String {
    "info".into()
}
fn default_log_format() -> LogFormat {
    LogFormat::Text
}

/// One problem with the configuration, tied to the key that has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, e.g. `sip.listen`.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

/// Everything wrong with a configuration.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A parsed `transport:ip:port` listen entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Listen {
    /// The transport.
    pub transport: Transport,
    /// The socket address.
    pub addr: SocketAddr,
}

/// Parses `udp:127.0.0.1:5070` or `tls:[::1]:5061`.
pub fn parse_listen(s: &str) -> Result<Listen, String> {
    let (t, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}' is not transport:ip:port"))?;
    let transport = match t.to_ascii_lowercase().as_str() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        other => {
            return Err(format!(
                "unknown transport '{other}' in '{s}' (use udp, tcp or tls)"
            ));
        }
    };
    let addr: SocketAddr = rest
        .parse()
        .map_err(|_| format!("'{rest}' in '{s}' is not ip:port"))?;
    Ok(Listen { transport, addr })
}

impl Config {
    /// Loads `path`, applies `STOX__…` environment overrides, then validates.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Self::load_with_env(path, None)
    }

    /// Like [`Config::load`] with an explicit environment (tests must not touch the
    /// process environment, which is shared between test threads).
    pub fn load_with_env(
        path: &Path,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Config, ConfigErrors> {
        let one = |key: &str, problem: String| {
            ConfigErrors(vec![ConfigProblem {
                key: key.into(),
                problem,
            }])
        };
        if !path.exists() {
            return Err(one(
                "--config",
                format!("file {} does not exist", path.display()),
            ));
        }
        let file = config::File::from(path).format(config::FileFormat::Toml);
        Self::load_from(file, env)
    }

    /// A configuration from TOML text, without environment overrides (tests, and building
    /// a core without a file).
    pub fn parse(toml: &str) -> Result<Config, ConfigErrors> {
        let file = config::File::from_str(toml, config::FileFormat::Toml);
        Self::load_from(file, Some(Default::default()))
    }

    fn load_from<F>(
        file: config::File<F, config::FileFormat>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Config, ConfigErrors>
    where
        F: config::FileSource<config::FileFormat> + Send + Sync + 'static,
    {
        let one = |key: &str, problem: String| {
            ConfigErrors(vec![ConfigProblem {
                key: key.into(),
                problem,
            }])
        };
        let mut environment = config::Environment::with_prefix("STOX")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("xmpp.domains")
            .with_list_parse_key("xmpp.muc_domains")
            .with_list_parse_key("sip.listen")
            .with_list_parse_key("sip.trusted_peers")
            .with_list_parse_key("sip.remote_domains");
        if let Some(env) = env {
            environment = environment.source(Some(env));
        }
        let built = config::Config::builder()
            .add_source(file)
            .add_source(environment)
            .build()
            .map_err(|e| one("config", e.to_string()))?;
        // The one-word keys are checked together first, so that `--check` lists every bad
        // choice at once (typed deserialization stops at the first).
        type Check = fn(String) -> Result<(), String>;
        let choices: [(&str, Check); 6] = [
            ("sip.untrusted", |s| Untrusted::try_from(s).map(drop)),
            ("im.chat_mode", |s| ChatMode::try_from(s).map(drop)),
            ("im.page_form", |s| PageForm::try_from(s).map(drop)),
            ("im.xhtml_to_sip", |s| XhtmlToSip::try_from(s).map(drop)),
            ("msrp.failure_report", |s| {
                FailureReport::try_from(s).map(drop)
            }),
            ("log.format", |s| LogFormat::try_from(s).map(drop)),
        ];
        let bad_choices: Vec<ConfigProblem> = choices
            .iter()
            .filter_map(|(key, check)| {
                let problem = check(built.get_string(key).ok()?).err()?;
                Some(ConfigProblem {
                    key: key.to_string(),
                    problem,
                })
            })
            .collect();
        if !bad_choices.is_empty() {
            return Err(ConfigErrors(bad_choices));
        }
        let cfg: Config = built
            .try_deserialize()
            .map_err(|e| one(&error_key(&e), e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Every semantic check; collects all problems rather than stopping at the first.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut p = Vec::new();
        let mut bad = |key: &str, problem: String| {
            p.push(ConfigProblem {
                key: key.into(),
                problem,
            })
        };

        if let Err(e) = check_domain(&self.xmpp.component) {
            bad("xmpp.component", e);
        }
        if self.xmpp.secret.is_empty() {
            bad(
                "xmpp.secret",
                "missing: set it in the file or in STOX__XMPP__SECRET".into(),
            );
        }
        if let Err(e) = check_host_port(&self.xmpp.server) {
            bad("xmpp.server", e);
        }
        if self.xmpp.domains.is_empty() {
            bad(
                "xmpp.domains",
                "empty: list the XMPP domains whose users may use the gateway".into(),
            );
        }
        let mut seen = HashSet::new();
        for d in &self.xmpp.domains {
            if let Err(e) = check_domain(d) {
                bad("xmpp.domains", e);
            }
            if !seen.insert(d.to_ascii_lowercase()) {
                bad("xmpp.domains", format!("domain '{d}' is listed twice"));
            }
            if d.eq_ignore_ascii_case(&self.xmpp.component) {
                bad(
                    "xmpp.domains",
                    format!("'{d}' is the component's own domain, not a served XMPP domain"),
                );
            }
        }
        for d in &self.xmpp.muc_domains {
            if let Err(e) = check_domain(d) {
                bad("xmpp.muc_domains", e);
            }
            if !seen.insert(d.to_ascii_lowercase()) {
                bad(
                    "xmpp.muc_domains",
                    format!("domain '{d}' is listed twice or is also in xmpp.domains"),
                );
            }
            if d.eq_ignore_ascii_case(&self.xmpp.component) {
                bad(
                    "xmpp.muc_domains",
                    format!("'{d}' is the component's own domain, not a MUC service"),
                );
            }
        }
        for (key, problem) in self.groupchat.problems() {
            bad(key, problem);
        }
        if self.xmpp.keepalive_secs == 0 {
            bad("xmpp.keepalive_secs", "must be at least 1".into());
        }
        if self.xmpp.keepalive_timeout_secs == 0 {
            bad("xmpp.keepalive_timeout_secs", "must be at least 1".into());
        }
        if self.xmpp.reconnect_min_ms == 0 {
            bad("xmpp.reconnect_min_ms", "must be at least 1".into());
        }
        if self.xmpp.reconnect_max_ms < self.xmpp.reconnect_min_ms {
            bad(
                "xmpp.reconnect_max_ms",
                "must not be smaller than xmpp.reconnect_min_ms".into(),
            );
        }

        if !self.metrics.listen.is_empty() && self.metrics.listen.parse::<SocketAddr>().is_err() {
            bad(
                "metrics.listen",
                format!(
                    "'{}' is not ip:port (e.g. 127.0.0.1:9870); empty turns the endpoint off",
                    self.metrics.listen
                ),
            );
        }
        let pr = &self.presence;
        if pr.min_expires_secs == 0 || pr.min_expires_secs > pr.max_expires_secs {
            bad(
                "presence.min_expires_secs",
                "must be at least 1 and not above presence.max_expires_secs".into(),
            );
        }
        if pr.subscribe_expires_secs < 60 {
            bad(
                "presence.subscribe_expires_secs",
                "must be at least 60 (a refresh goes out a minute before expiry)".into(),
            );
        }
        if self.sip.listen.is_empty() {
            bad(
                "sip.listen",
                "empty: stox needs at least one SIP socket".into(),
            );
        }
        let mut seen = HashSet::new();
        let mut wants_tls = false;
        for l in &self.sip.listen {
            match parse_listen(l) {
                Ok(listen) => {
                    wants_tls |= listen.transport == Transport::Tls;
                    if !seen.insert(listen) {
                        bad("sip.listen", format!("'{l}' is listed twice"));
                    }
                }
                Err(e) => bad("sip.listen", e),
            }
        }
        if wants_tls && (self.sip.tls_cert.is_none() || self.sip.tls_key.is_none()) {
            bad(
                "sip.tls_cert",
                "a tls: listener needs sip.tls_cert and sip.tls_key".into(),
            );
        }
        for (key, path) in [
            ("sip.tls_cert", &self.sip.tls_cert),
            ("sip.tls_key", &self.sip.tls_key),
        ] {
            if let Some(path) = path
                && !path.exists()
            {
                bad(key, format!("file {} does not exist", path.display()));
            }
        }
        if let Err(e) = check_domain(&self.sip.domain) {
            bad("sip.domain", e);
        }
        if let Some(host) = &self.sip.public_host
            && host.trim().is_empty()
        {
            bad("sip.public_host", "empty".into());
        }
        if let Some(proxy) = &self.sip.outbound_proxy
            && let Err(e) = check_sip_uri(proxy)
        {
            bad("sip.outbound_proxy", e);
        }
        for c in &self.sip.trusted_peers {
            if c.parse::<IpNet>().is_err() && c.parse::<std::net::IpAddr>().is_err() {
                bad(
                    "sip.trusted_peers",
                    format!("'{c}' is not a CIDR (e.g. 192.0.2.0/24) or an IP address"),
                );
            }
        }
        for d in &self.sip.remote_domains {
            if d != "*"
                && let Err(e) = check_domain(d)
            {
                bad("sip.remote_domains", e);
            }
        }
        if self.sip.t1_ms == 0 || self.sip.t2_ms < self.sip.t1_ms || self.sip.t4_ms == 0 {
            bad(
                "sip.t1_ms",
                "timers must be positive with t2_ms >= t1_ms (RFC 3261 §17.1.1.1)".into(),
            );
        }
        if self.sip.max_message_bytes < 1300 {
            bad("sip.max_message_bytes", "must be at least 1300".into());
        }
        if self.sip.connection_idle_secs == 0 {
            bad("sip.connection_idle_secs", "must be at least 1".into());
        }
        for (i, c) in self.sip.credentials.iter().enumerate() {
            if c.realm.is_empty() || c.username.is_empty() {
                bad(
                    &format!("sip.credentials[{i}]"),
                    "realm and username must not be empty".into(),
                );
            }
        }

        if let Err(e) = self.msrp.listen.parse::<SocketAddr>() {
            bad(
                "msrp.listen",
                format!("'{}' is not ip:port ({e})", self.msrp.listen),
            );
        }

        let mut seen = HashSet::new();
        for (i, r) in self.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            if let Err(e) = check_domain(&r.sip_domain) {
                bad(&format!("{key}.sip_domain"), e);
            }
            if !self
                .xmpp
                .domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&r.xmpp_domain))
            {
                bad(
                    &format!("{key}.xmpp_domain"),
                    format!("'{}' is not one of xmpp.domains", r.xmpp_domain),
                );
            }
            if !seen.insert(r.sip_domain.to_ascii_lowercase()) {
                bad(
                    &format!("{key}.sip_domain"),
                    format!("SIP domain '{}' is routed twice", r.sip_domain),
                );
            }
        }

        if self.limits.xmpp_queue == 0 {
            bad("limits.xmpp_queue", "must be at least 1".into());
        }
        if self.limits.sip_message_size < 200 {
            bad(
                "limits.sip_message_size",
                "must be at least 200 bytes (RFC 7572 §6 suggests 1300)".into(),
            );
        }

        if let Some(l) = &self.msrp.tls_listen {
            if let Err(e) = l.parse::<SocketAddr>() {
                bad("msrp.tls_listen", format!("'{l}' is not ip:port ({e})"));
            }
            if self.sip.tls_cert.is_none() || self.sip.tls_key.is_none() {
                bad(
                    "msrp.tls_listen",
                    "needs sip.tls_cert and sip.tls_key (the certificate MSRP over TLS presents)"
                        .into(),
                );
            }
        }
        if !(64..=1_048_576).contains(&self.msrp.chunk_bytes) {
            bad("msrp.chunk_bytes", "must be between 64 and 1048576".into());
        }
        if self.msrp.max_message_bytes < 1024 {
            bad("msrp.max_message_bytes", "must be at least 1024".into());
        }
        for (k, v) in [
            ("msrp.idle_secs", self.msrp.idle_secs),
            ("msrp.connect_timeout_secs", self.msrp.connect_timeout_secs),
            ("msrp.max_sessions", self.msrp.max_sessions as u64),
        ] {
            if v == 0 {
                bad(k, "must be at least 1".into());
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            bad(
                "log.level",
                format!(
                    "'{}' is not a log filter (e.g. info, stox=debug)",
                    self.log.level
                ),
            );
        }

        if p.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(p))
        }
    }

    /// `xmpp.keepalive_secs` as a duration.
    pub fn keepalive(&self) -> Duration {
        Duration::from_secs(self.xmpp.keepalive_secs)
    }

    /// `xmpp.keepalive_timeout_secs` as a duration.
    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_secs(self.xmpp.keepalive_timeout_secs)
    }

    /// `sip.trusted_peers` as networks (a bare address is a /32 or /128).
    pub fn trusted_peers(&self) -> Vec<IpNet> {
        self.sip
            .trusted_peers
            .iter()
            .filter_map(|c| {
                c.parse::<IpNet>()
                    .ok()
                    .or_else(|| c.parse::<std::net::IpAddr>().ok().map(IpNet::from))
            })
            .collect()
    }

    /// `sip.listen` parsed (validated: nothing is dropped).
    pub fn sip_listen(&self) -> Vec<Listen> {
        self.sip
            .listen
            .iter()
            .filter_map(|l| parse_listen(l).ok())
            .collect()
    }
}

/// Pulls the key out of a serde error message such as "missing field `secret` for key `xmpp`".
fn error_key(e: &config::ConfigError) -> String {
    let msg = e.to_string();
    if let Some(k) = msg
        .split("missing configuration field \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
    {
        return k.to_string();
    }
    let field = msg
        .split("missing field `")
        .nth(1)
        .and_then(|s| s.split('`').next());
    let key = msg
        .split("for key `")
        .nth(1)
        .and_then(|s| s.split('`').next());
    match (key, field) {
        (Some(k), Some(f)) => format!("{k}.{f}"),
        (Some(k), None) => k.to_string(),
        (None, Some(f)) => f.to_string(),
        (None, None) => "config".into(),
    }
}

/// A DNS name as used for XMPP and SIP domains: labels of letters, digits and hyphens
/// (non-ASCII allowed for IDNs), no empty labels, no scheme, port or user.
pub fn check_domain(d: &str) -> Result<(), String> {
    if d.is_empty() {
        return Err("empty domain".into());
    }
    if d.len() > 253 {
        return Err(format!("domain '{d}' is longer than 253 bytes"));
    }
    for label in d.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("'{d}' is not a domain name (empty or long label)"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "'{d}' is not a domain name (label starts or ends with '-')"
            ));
        }
        if !label
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "'{d}' is not a domain name (only letters, digits, '-' and '.')"
            ));
        }
    }
    Ok(())
}

fn check_host_port(s: &str) -> Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("'{s}' is not host:port"))?;
    port.parse::<u16>()
        .map_err(|_| format!("'{port}' in '{s}' is not a port number"))?;
    check_domain(host).map_err(|e| format!("host of '{s}': {e}"))
}

fn check_sip_uri(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("sips:"))
        .ok_or_else(|| format!("'{s}' is not a sip: or sips: URI"))?;
    let hostport = rest.split(';').next().unwrap_or_default();
    let hostport = hostport.rsplit('@').next().unwrap_or_default();
    if hostport.is_empty() {
        return Err(format!("'{s}' has no host"));
    }
    if hostport.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let host = match hostport.rsplit_once(':') {
        Some((h, p)) => {
            p.parse::<u16>()
                .map_err(|_| format!("'{p}' in '{s}' is not a port number"))?;
            h
        }
        None => hostport,
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    check_domain(host).map_err(|e| format!("host of '{s}': {e}"))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
