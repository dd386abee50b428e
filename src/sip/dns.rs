//! RFC 3263 lookups: the NAPTR step (ours, on hickory) in front of rsipstack's SRV → A/AAAA
//! resolver. NAPTR records for the SIP domain pick the transports and the SRV names to use,
//! in order and preference; the selection is a pure function. [`Resolver::resolve`] is the
//! whole policy (NAPTR only when the URI names neither port nor transport, §4.1; timeouts),
//! run by the runtime for each lookup the UA core asks for. Also here: the outbound proxy,
//! resolved once at start.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::transaction::Dest;
use super::ua::{Lookup, default_port, proxy_dest, proxy_transport};
use super::uri::SipUri;
use crate::sip::Transport;

/// How long the NAPTR step may take before SRV/A lookups are tried instead.
const NAPTR_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the SRV → A/AAAA step may take before the request fails (502).
const SRV_TIMEOUT: Duration = Duration::from_secs(10);

/// The RFC 3263 resolver: NAPTR (optional: without a system resolver configuration it is
/// skipped) and SRV → A/AAAA.
pub struct Resolver {
    srv: rsipstack::resolver::SipResolver,
    naptr: Option<TokioResolver>,
}

impl Resolver {
    /// The system's name servers, or these (port 53).
    pub fn new(servers: &[IpAddr]) -> Resolver {
        let srv = if servers.is_empty() {
            rsipstack::resolver::SipResolver::new()
        } else {
            rsipstack::resolver::SipResolver::with_nameservers(servers.to_vec())
        };
        let sockets: Vec<SocketAddr> = servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect();
        let naptr = resolver(&sockets)
            .map_err(|e| tracing::warn!(error = %e, "no resolver for NAPTR lookups; SRV and A/AAAA only"))
            .ok();
        Resolver { srv, naptr }
    }

    /// RFC 3263 §4: the targets for a lookup, in the order to try them.
    pub async fn resolve(&self, lookup: &Lookup) -> Result<Vec<Dest>, String> {
        use rsipstack::sip::Transport as T;
        if lookup.port.is_none()
            && lookup.transport.is_none()
            && let Some(r) = &self.naptr
        {
            let found =
                tokio::time::timeout(NAPTR_TIMEOUT, naptr_targets(r, &lookup.host, lookup.secure))
                    .await
                    .unwrap_or_default();
            if !found.is_empty() {
                tracing::debug!(host = %lookup.host, ?found, "RFC 3263 NAPTR lookup");
                return Ok(found);
            }
        }
        let transport = lookup.transport.map(|t| match t {
            Transport::Udp => T::Udp,
            Transport::Tcp => T::Tcp,
            Transport::Tls => T::Tls,
        });
        let domain = rsipstack::sip::Domain(lookup.host.clone());
        let result = tokio::time::timeout(
            SRV_TIMEOUT,
            self.srv.lookup(
                &domain,
                lookup.port.map(rsipstack::sip::Port::from),
                transport,
                lookup.secure,
            ),
        )
        .await
        .unwrap_or_else(|_| Err(format!("DNS lookup of {} timed out", lookup.host)))
        .map(|targets| {
            targets
                .into_iter()
                .filter_map(|t| {
                    let transport = match t.transport {
                        T::Udp => Transport::Udp,
                        T::Tcp => Transport::Tcp,
                        T::Tls => Transport::Tls,
                        _ => return None,
                    };
                    Some(Dest {
                        transport,
                        addr: t.addr,
                    })
                })
                .collect()
        });
        tracing::debug!(host = %lookup.host, ?result, "RFC 3263 lookup");
        result
    }
}

/// The outbound proxy as where to send and the Route that says so: an IP literal as it is,
/// a host name by A/AAAA once (at start). The host name is returned too, so that a TLS
/// proxy can be verified by it.
pub async fn outbound_proxy(uri: &str) -> Result<(Dest, String, Option<String>), String> {
    let parsed = SipUri::parse(uri).map_err(|e| format!("{uri} is not a SIP URI ({e:?})"))?;
    let name = parsed.ip().is_none().then(|| parsed.host.clone());
    if let Some((dest, route)) = proxy_dest(uri) {
        return Ok((dest, route, name));
    }
    let transport = proxy_transport(&parsed);
    let port = parsed.port.unwrap_or(default_port(transport));
    let addr = tokio::net::lookup_host((parsed.host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", parsed.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", parsed.host))?;
    let route = format!("<{};lr>", uri.split(';').next().unwrap_or(uri));
    Ok((Dest { transport, addr }, route, name))
}

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
    /// Order (lower first).
    pub order: u16,
    /// Preference within an order.
    pub preference: u16,
    /// Flags (`S` for SRV).
    pub flags: String,
    /// Services, e.g. `SIP+D2T`.
    pub services: String,
    /// The SRV name to look up.
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
