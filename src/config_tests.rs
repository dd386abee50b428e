//! Unit tests of `config.rs`.

use super::*;
use std::collections::HashMap;
use std::io::Write;

const GOOD: &str = r#"
[xmpp]
component = "sip.example.com"
server = "127.0.0.1:5347"
secret = "s3cr3t"
domains = ["example.com"]
[sip]
listen = ["udp:127.0.0.1:5070", "tcp:127.0.0.1:5070"]
domain = "example.net"
outbound_proxy = "sip:127.0.0.1:5060"
trusted_peers = ["127.0.0.0/8"]
[msrp]
listen = "127.0.0.1:2855"
"#;

fn write(s: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(s.as_bytes()).unwrap();
    f
}

fn load(s: &str) -> Result<Config, ConfigErrors> {
    let f = write(s);
    Config::load_with_env(f.path(), Some(HashMap::new()))
}

fn keys(e: ConfigErrors) -> Vec<String> {
    e.0.into_iter().map(|p| p.key).collect()
}

#[test]
fn good_config_loads_with_defaults() {
    let c = load(GOOD).unwrap();
    assert_eq!(c.xmpp.component, "sip.example.com");
    assert_eq!(c.xmpp.keepalive_secs, 60);
    assert_eq!(c.limits.xmpp_queue, 1000);
    assert_eq!(c.limits.sip_message_size, 1300);
    assert_eq!(c.sip_listen().len(), 2);
    assert_eq!(c.trusted_peers().len(), 1);
}

#[test]
fn example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("component.example.toml");
    let env = HashMap::from([("STOX__XMPP__SECRET".to_string(), "s".to_string())]);
    let c = Config::load_with_env(&path, Some(env)).unwrap();
    assert_eq!(c.xmpp.component, "sip.example.com");
}

#[test]
fn env_overrides_secret_and_lists() {
    let f = write(&GOOD.replace("secret = \"s3cr3t\"\n", ""));
    let env = HashMap::from([
        ("STOX__XMPP__SECRET".to_string(), "from-env".to_string()),
        (
            "STOX__XMPP__DOMAINS".to_string(),
            "a.example,b.example".to_string(),
        ),
    ]);
    let c = Config::load_with_env(f.path(), Some(env)).unwrap();
    assert_eq!(c.xmpp.secret.expose(), "from-env");
    assert_eq!(c.xmpp.domains, vec!["a.example", "b.example"]);
}

#[test]
fn missing_secret_is_named() {
    let e = load(&GOOD.replace("secret = \"s3cr3t\"\n", "")).unwrap_err();
    assert_eq!(keys(e.clone()), vec!["xmpp.secret"]);
    assert!(e.to_string().contains("STOX__XMPP__SECRET"));
}

#[test]
fn missing_required_key_is_named() {
    let e = load(&GOOD.replace("domain = \"example.net\"\n", "")).unwrap_err();
    assert_eq!(keys(e.clone()), vec!["sip.domain"], "{e}");
}

#[test]
fn bad_cidr_is_named() {
    let e = load(&GOOD.replace("127.0.0.0/8", "127.0.0.0/99")).unwrap_err();
    assert_eq!(keys(e.clone()), vec!["sip.trusted_peers"]);
    assert!(e.to_string().contains("127.0.0.0/99"));
}

#[test]
fn unknown_transport_is_named() {
    let e = load(&GOOD.replace("udp:127.0.0.1", "sctp:127.0.0.1")).unwrap_err();
    assert_eq!(keys(e.clone()), vec!["sip.listen"]);
    assert!(e.to_string().contains("unknown transport 'sctp'"));
}

#[test]
fn domain_listed_twice_is_named() {
    let e = load(&GOOD.replace(
        "domains = [\"example.com\"]",
        "domains = [\"example.com\", \"Example.com\"]",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("listed twice"), "{e}");
}

#[test]
fn several_problems_are_all_reported() {
    let bad = GOOD
        .replace("secret = \"s3cr3t\"\n", "")
        .replace("127.0.0.0/8", "nonsense")
        .replace("127.0.0.1:2855", "nowhere");
    let k = keys(load(&bad).unwrap_err());
    assert_eq!(k, vec!["xmpp.secret", "sip.trusted_peers", "msrp.listen"]);
}

#[test]
fn unknown_key_is_rejected() {
    let e = load(&GOOD.replace("[msrp]", "[msrp]\nlisten_typo = 1")).unwrap_err();
    assert!(e.to_string().contains("listen_typo"), "{e}");
}

#[test]
fn wrong_type_is_named() {
    let e = load(&GOOD.replace("[msrp]", "[limits]\nxmpp_queue = \"many\"\n[msrp]")).unwrap_err();
    assert!(e.to_string().contains("xmpp_queue"), "{e}");
}

#[test]
fn tls_listener_needs_cert() {
    let e = load(&GOOD.replace("tcp:127.0.0.1:5070", "tls:127.0.0.1:5071")).unwrap_err();
    assert_eq!(keys(e), vec!["sip.tls_cert"]);
}

#[test]
fn route_must_target_a_served_domain() {
    let e = load(&format!(
        "{GOOD}\n[[routes]]\nsip_domain = \"xmpp.example.net\"\nxmpp_domain = \"other.example\"\n"
    ))
    .unwrap_err();
    assert_eq!(keys(e), vec!["routes[0].xmpp_domain"]);
}

#[test]
fn component_in_domains_is_rejected() {
    let e = load(&GOOD.replace(
        "domains = [\"example.com\"]",
        "domains = [\"sip.example.com\"]",
    ))
    .unwrap_err();
    assert_eq!(keys(e), vec!["xmpp.domains"]);
}

#[test]
fn host_names_allowed_for_server() {
    let c = load(&GOOD.replace("127.0.0.1:5347", "localhost:5347")).unwrap();
    assert_eq!(c.xmpp.server, "localhost:5347");
    let e = load(&GOOD.replace("127.0.0.1:5347", "localhost")).unwrap_err();
    assert_eq!(keys(e), vec!["xmpp.server"]);
}

#[test]
fn missing_file_is_named() {
    let e = Config::load_with_env(Path::new("/nonexistent/stox.toml"), None).unwrap_err();
    assert!(e.to_string().contains("does not exist"));
}

#[test]
fn credentials_never_print_password() {
    let c = SipCredential {
        realm: "r".into(),
        username: "u".into(),
        password: Secret("hunter2".into()),
    };
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn muc_domains_and_groupchat_are_checked() {
    let c = load(&GOOD.replace(
        "domains = [\"example.com\"]",
        "domains = [\"example.com\"]\nmuc_domains = [\"muc.example.com\"]",
    ))
    .unwrap();
    assert_eq!(c.xmpp.muc_domains, vec!["muc.example.com"]);
    assert_eq!(c.groupchat.subscribe_expires_secs, 600);
    let bad = GOOD.replace(
        "domains = [\"example.com\"]",
        "domains = [\"example.com\"]\nmuc_domains = [\"example.com\", \"sip.example.com\", \"bad domain\"]",
    ) + "[groupchat]\nmax_occupants = 0\ncpim_max_bytes = 10\n[groupchat.audio_video]\n\"montague\" = \"x\"\n";
    let k = keys(load(&bad).unwrap_err());
    for key in [
        "xmpp.muc_domains",
        "groupchat.max_occupants",
        "groupchat.cpim_max_bytes",
        "groupchat.audio_video",
    ] {
        assert!(k.iter().any(|x| x == key), "{key} in {k:?}");
    }
    assert_eq!(
        k.iter().filter(|x| *x == "xmpp.muc_domains").count(),
        3,
        "{k:?}"
    );
}
