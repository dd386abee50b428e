//! RFC 3263 lookups against a scripted DNS server on loopback (hickory-proto encodes the
//! answers; the resolver under test is the one stox uses).

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::rdata::{A, NAPTR, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use stox::config::Transport;
use stox::sip::dns::{naptr_targets, resolver};
use stox::sip::transaction::Dest;
use tokio::net::UdpSocket;

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn answers(q: &str, t: RecordType) -> Vec<Record> {
    let rec = |n: &str, d: RData| Record::from_rdata(name(n), 60, d);
    match (q, t) {
        ("example.com.", RecordType::NAPTR) => vec![
            rec(
                q,
                RData::NAPTR(NAPTR::new(
                    50,
                    50,
                    b"s".to_vec().into(),
                    b"SIPS+D2T".to_vec().into(),
                    Vec::new().into(),
                    name("_sips._tcp.example.com."),
                )),
            ),
            rec(
                q,
                RData::NAPTR(NAPTR::new(
                    90,
                    50,
                    b"s".to_vec().into(),
                    b"SIP+D2T".to_vec().into(),
                    Vec::new().into(),
                    name("_sip._tcp.example.com."),
                )),
            ),
            rec(
                q,
                RData::NAPTR(NAPTR::new(
                    100,
                    50,
                    b"s".to_vec().into(),
                    b"SIP+D2U".to_vec().into(),
                    Vec::new().into(),
                    name("_sip._udp.example.com."),
                )),
            ),
        ],
        // no TLS servers: the next NAPTR (TCP) is used
        ("_sip._tcp.example.com.", RecordType::SRV) => vec![
            rec(
                q,
                RData::SRV(SRV::new(10, 60, 5070, name("sip1.example.com."))),
            ),
            rec(
                q,
                RData::SRV(SRV::new(5, 10, 5071, name("sip2.example.com."))),
            ),
        ],
        ("sip1.example.com.", RecordType::A) => {
            vec![rec(q, RData::A(A(Ipv4Addr::new(127, 0, 0, 11))))]
        }
        ("sip2.example.com.", RecordType::A) => {
            vec![rec(q, RData::A(A(Ipv4Addr::new(127, 0, 0, 12))))]
        }
        _ => vec![],
    }
}

async fn fake_dns() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::response(query.metadata.id, OpCode::Query);
            resp.metadata.recursion_desired = query.metadata.recursion_desired;
            resp.metadata.recursion_available = true;
            resp.metadata.authoritative = true;
            for q in &query.queries {
                resp.add_query(q.clone());
                let a = answers(&q.name().to_ascii().to_lowercase(), q.query_type());
                resp.add_answers(a);
            }
            let _ = sock.send_to(&resp.to_vec().unwrap(), from).await;
        }
    });
    addr
}

#[tokio::test]
async fn naptr_then_srv_then_a() {
    let dns = fake_dns().await;
    let r = resolver(&[dns]).unwrap();
    let got = naptr_targets(&r, "example.com", false).await;
    let tcp = |ip: [u8; 4], port| Dest {
        transport: Transport::Tcp,
        addr: SocketAddr::from((ip, port)),
    };
    // priority 5 first, then 10
    assert_eq!(
        got,
        vec![tcp([127, 0, 0, 12], 5071), tcp([127, 0, 0, 11], 5070)]
    );
    // sips: only SIPS+D2T qualifies, and it has no servers: nothing (the caller falls back)
    assert!(naptr_targets(&r, "example.com", true).await.is_empty());
    // a domain without NAPTR records: nothing
    assert!(naptr_targets(&r, "example.org", false).await.is_empty());
}
