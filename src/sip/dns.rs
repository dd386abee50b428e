//! RFC 3263 §4.1 NAPTR step, in front of rsipstack's SRV → A/AAAA resolver: NAPTR records for
//! the SIP domain pick the transports and the SRV names to use, in order and preference.
//! The selection is a pure function; the lookups happen in the runtime.

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::transaction::Dest;
use crate::sip::Transport;

/// A resolver for the NAPTR chain: the system's configuration, or these servers.
pub fn resolver(servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    if servers.is_empty() {
        return TokioResolver::builder_tokio()
            .and_then(|b| b.build())
            .map_err(|e| e.to_string());
    }
    let mut config = ResolverConfig::default();
    for s in servers {
        let mut ns = NameServerConfig::udp_and_tcp(s.ip());
        for c in &mut ns.connections {
            c.port = s.port();
        }
        config.add_name_server(ns);
    }
    TokioResolver::builder_with_config(
        config,
        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
    )
    .build()
    .map_err(|e| e.to_string())
}

/// RFC 3263 §4.1–4.2: NAPTR → SRV (priority, then weight) → A/AAAA. Empty when the domain
/// has no usable NAPTR records (the caller then does SRV and A/AAAA on its own).
pub async fn naptr_targets(r: &TokioResolver, host: &str, secure: bool) -> Vec<Dest> {
    let Ok(answer) = r.lookup(host, RecordType::NAPTR).await else {
        return vec![];
    };
    let records: Vec<Naptr> = answer
        .message()
        .all_sections()
        .filter_map(|rec| match &rec.data {
            RData::NAPTR(n) => Some(Naptr {
                order: n.order,
                preference: n.preference,
                flags: String::from_utf8_lossy(&n.flags).to_string(),
                services: String::from_utf8_lossy(&n.services).to_string(),
                replacement: n.replacement.to_string(),
            }),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for (transport, name) in naptr_srv_names(&records, secure) {
        let Ok(srv) = r.srv_lookup(name.as_str()).await else {
            continue;
        };
        let mut targets: Vec<(u16, std::cmp::Reverse<u16>, String, u16)> = srv
            .message()
            .all_sections()
            .filter_map(|rec| match &rec.data {
                RData::SRV(s) => Some((
                    s.priority,
                    std::cmp::Reverse(s.weight),
                    s.target.to_string(),
                    s.port,
                )),
                _ => None,
            })
            .collect();
        targets.sort();
        for (_, _, target, port) in targets {
            if let Ok(ips) = r.lookup_ip(target.trim_end_matches('.')).await {
                out.extend(ips.iter().map(|ip| Dest {
                    transport,
                    addr: SocketAddr::new(ip, port),
                }));
            }
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

/// A NAPTR record as RFC 3263 uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    pub replacement: String,
}

/// The SRV names to query, with their transports, in the order RFC 3263 §4.1 prescribes:
/// records with flag `s` and a service we speak (`SIP+D2U`, `SIP+D2T`, `SIPS+D2T`; only the
/// last for `sips:`), lowest order then lowest preference first.
pub fn naptr_srv_names(records: &[Naptr], secure: bool) -> Vec<(Transport, String)> {
    let mut usable: Vec<&Naptr> = records
        .iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .filter(|r| service_transport(&r.services, secure).is_some())
        .collect();
    usable.sort_by_key(|r| (r.order, r.preference));
    usable
        .into_iter()
        .filter_map(|r| {
            let t = service_transport(&r.services, secure)?;
            Some((t, r.replacement.trim_end_matches('.').to_string()))
        })
        .collect()
}

fn service_transport(services: &str, secure: bool) -> Option<Transport> {
    match services.to_ascii_uppercase().as_str() {
        "SIP+D2U" if !secure => Some(Transport::Udp),
        "SIP+D2T" if !secure => Some(Transport::Tcp),
        "SIPS+D2T" => Some(Transport::Tls),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(order: u16, pref: u16, flags: &str, svc: &str, repl: &str) -> Naptr {
        Naptr {
            order,
            preference: pref,
            flags: flags.into(),
            services: svc.into(),
            replacement: repl.into(),
        }
    }

    /// RFC 3263 §4.1's example: TLS preferred over TCP over UDP.
    #[test]
    fn rfc3263_example_order() {
        let records = vec![
            n(90, 50, "s", "SIP+D2T", "_sip._tcp.example.com."),
            n(100, 50, "s", "SIP+D2U", "_sip._udp.example.com."),
            n(50, 50, "s", "SIPS+D2T", "_sips._tcp.example.com."),
        ];
        assert_eq!(
            naptr_srv_names(&records, false),
            vec![
                (Transport::Tls, "_sips._tcp.example.com".to_string()),
                (Transport::Tcp, "_sip._tcp.example.com".to_string()),
                (Transport::Udp, "_sip._udp.example.com".to_string()),
            ]
        );
        assert_eq!(
            naptr_srv_names(&records, true),
            vec![(Transport::Tls, "_sips._tcp.example.com".to_string())]
        );
    }

    #[test]
    fn unknown_services_and_flags_are_skipped() {
        let records = vec![
            n(10, 10, "u", "E2U+sip", "!^.*$!sip:info@example.com!"),
            n(20, 10, "s", "SIP+D2S", "_sip._sctp.example.com."),
            n(30, 20, "S", "sip+d2u", "_sip._udp.example.com."),
            n(30, 10, "s", "SIP+D2T", "_sip._tcp.example.com."),
        ];
        assert_eq!(
            naptr_srv_names(&records, false),
            vec![
                (Transport::Tcp, "_sip._tcp.example.com".to_string()),
                (Transport::Udp, "_sip._udp.example.com".to_string())
            ]
        );
    }
}
