//! Unit tests of `transaction.rs`.

use super::*;
use crate::sip::message::parse;

const T1: Duration = Duration::from_millis(500);

fn udp() -> Dest {
    Dest {
        transport: Transport::Udp,
        addr: "192.0.2.10:5060".parse().unwrap(),
    }
}
fn tcp() -> Dest {
    Dest {
        transport: Transport::Tcp,
        addr: "192.0.2.10:5060".parse().unwrap(),
    }
}

fn request(method: &str, branch: &str) -> Request {
    let m = format!(
        "{method} sip:juliet@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\nFrom: <sip:romeo@example.net>;tag=a1\r\nTo: <sip:juliet@example.com>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    match parse(m.as_bytes(), true, 65535).unwrap() {
        Message::Request(r) => r,
        _ => unreachable!(),
    }
}

fn response_to(req: &Request, code: u16) -> Response {
    Response::to_request(
        req,
        code,
        crate::sip::message::reason_phrase(code),
        Some("b2"),
    )
}

fn drain(l: &mut TransactionLayer) -> Vec<TxOutput> {
    std::iter::from_fn(|| l.poll_output()).collect()
}

fn sends(out: &[TxOutput]) -> usize {
    out.iter()
        .filter(|o| matches!(o, TxOutput::Send { .. }))
        .count()
}

/// Runs the clock to `until`, stepping by the layer's own deadlines; returns send times.
fn run_until(
    l: &mut TransactionLayer,
    start: Instant,
    until: Duration,
) -> (Vec<u128>, Vec<TxOutput>) {
    let mut times = vec![];
    let mut other = vec![];
    while let Some(t) = l.poll_timeout() {
        if t > start + until {
            break;
        }
        l.handle_timeout(t);
        for o in drain(l) {
            match o {
                TxOutput::Send { .. } => times.push((t - start).as_millis()),
                o => other.push(o),
            }
        }
    }
    (times, other)
}

#[test]
fn nict_retransmits_e_doubling_to_t2_then_times_out_with_f() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    let id = l
        .send_request(now, request("MESSAGE", "z9hG4bKc1"), udp())
        .unwrap();
    assert_eq!(sends(&drain(&mut l)), 1);
    let (times, other) = run_until(&mut l, now, Duration::from_secs(40));
    assert_eq!(
        times,
        vec![
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert!(
        matches!(other.as_slice(), [TxOutput::Timeout { tx }] if *tx == id),
        "{other:?}"
    );
    assert!(l.is_empty());
}

#[test]
fn nict_over_tcp_never_retransmits() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    l.send_request(now, request("MESSAGE", "z9hG4bKc2"), tcp())
        .unwrap();
    drain(&mut l);
    let (times, other) = run_until(&mut l, now, Duration::from_secs(40));
    assert!(times.is_empty());
    assert!(matches!(other.as_slice(), [TxOutput::Timeout { .. }]));
}

#[test]
fn nict_final_response_completes_and_lingers_t4() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    let req = request("MESSAGE", "z9hG4bKc3");
    let id = l.send_request(now, req.clone(), udp()).unwrap();
    drain(&mut l);
    l.on_message(
        now + T1 / 2,
        Message::Response(response_to(&req, 200)),
        udp(),
    );
    let out = drain(&mut l);
    assert!(
        matches!(out.as_slice(), [TxOutput::Response { tx, resp }] if *tx == id && resp.code == 200)
    );
    // a retransmitted 200 is absorbed
    l.on_message(now + T1, Message::Response(response_to(&req, 200)), udp());
    assert!(drain(&mut l).is_empty());
    assert_eq!(
        l.poll_timeout(),
        Some(now + T1 / 2 + Duration::from_secs(5))
    );
    l.handle_timeout(now + Duration::from_secs(6));
    assert!(l.is_empty());
}

#[test]
fn ict_timer_a_doubles_and_b_times_out() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    l.send_request(now, request("INVITE", "z9hG4bKi1"), udp())
        .unwrap();
    drain(&mut l);
    let (times, other) = run_until(&mut l, now, Duration::from_secs(40));
    assert_eq!(times, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert!(matches!(other.as_slice(), [TxOutput::Timeout { .. }]));
}

#[test]
fn ict_non_2xx_is_acked_in_transaction_and_again_on_retransmission() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    let req = request("INVITE", "z9hG4bKi2");
    l.send_request(now, req.clone(), udp()).unwrap();
    drain(&mut l);
    l.on_message(now, Message::Response(response_to(&req, 100)), udp());
    assert_eq!(drain(&mut l).len(), 1);
    // Proceeding: no more INVITE retransmissions
    l.on_message(now, Message::Response(response_to(&req, 486)), udp());
    let out = drain(&mut l);
    let ack = out
        .iter()
        .find_map(|o| match o {
            TxOutput::Send { bytes, .. } => Some(String::from_utf8_lossy(bytes).to_string()),
            _ => None,
        })
        .unwrap();
    assert!(
        ack.starts_with("ACK sip:juliet@example.com SIP/2.0\r\n"),
        "{ack}"
    );
    assert!(
        ack.contains("branch=z9hG4bKi2") && ack.contains("CSeq: 1 ACK") && ack.contains("tag=b2"),
        "{ack}"
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, TxOutput::Response { resp, .. } if resp.code == 486))
    );
    l.on_message(now, Message::Response(response_to(&req, 486)), udp());
    let out = drain(&mut l);
    assert_eq!(sends(&out), 1, "ACK resent, response not passed up again");
    assert_eq!(out.len(), 1);
}

#[test]
fn ict_2xx_goes_up_and_retransmissions_too() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    let req = request("INVITE", "z9hG4bKi3");
    l.send_request(now, req.clone(), udp()).unwrap();
    drain(&mut l);
    l.on_message(now, Message::Response(response_to(&req, 200)), udp());
    l.on_message(now, Message::Response(response_to(&req, 200)), udp());
    let out = drain(&mut l);
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, TxOutput::Response { .. }))
            .count(),
        2
    );
    assert_eq!(sends(&out), 0, "the TU sends the ACK for a 2xx");
    l.handle_timeout(now + 64 * T1);
    assert!(l.is_empty());
}

#[test]
fn nist_absorbs_retransmissions_and_replays_the_final() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    let req = request("MESSAGE", "z9hG4bKs1");
    l.on_message(now, Message::Request(req.clone()), udp());
    let out = drain(&mut l);
    let TxOutput::Request {
        tx: Some(id),
        req: got,
        ..
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    // RFC 3581: rport filled in, received added
    assert!(
        got.headers.get("Via").unwrap().contains("rport=5060"),
        "{:?}",
        got.headers.get("Via")
    );
    let id = *id;
    // retransmission before the TU answered: absorbed
    l.on_message(now, Message::Request(req.clone()), udp());
    assert!(drain(&mut l).is_empty());
    l.respond(now, id, response_to(&req, 200));
    assert_eq!(sends(&drain(&mut l)), 1);
    l.on_message(now, Message::Request(req.clone()), udp());
    assert_eq!(sends(&drain(&mut l)), 1, "final response replayed");
    l.handle_timeout(now + 64 * T1);
    assert!(l.is_empty());
    // after Timer J the same branch is a new transaction
    l.on_message(now + 64 * T1, Message::Request(req), udp());
    assert!(matches!(
        drain(&mut l).as_slice(),
        [TxOutput::Request { tx: Some(_), .. }]
    ));
}

#[test]
fn ist_sends_100_then_retransmits_non_2xx_until_ack() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    let req = request("INVITE", "z9hG4bKs2");
    l.on_message(now, Message::Request(req.clone()), udp());
    let out = drain(&mut l);
    assert_eq!(sends(&out), 1, "100 Trying");
    let id = out
        .iter()
        .find_map(|o| match o {
            TxOutput::Request { tx, .. } => *tx,
            _ => None,
        })
        .unwrap();
    l.respond(now, id, response_to(&req, 486));
    drain(&mut l);
    let (times, _) = run_until(&mut l, now, Duration::from_millis(4000));
    assert_eq!(times, vec![500, 1500, 3500]);
    // the ACK (same branch) stops Timer G, and goes nowhere else
    let ack = request("ACK", "z9hG4bKs2");
    l.on_message(now + Duration::from_secs(4), Message::Request(ack), udp());
    assert!(drain(&mut l).is_empty());
    let (times, _) = run_until(&mut l, now, Duration::from_secs(60));
    assert!(times.is_empty());
    assert!(l.is_empty());
}

#[test]
fn ist_2xx_is_retransmitted_until_the_ack_which_goes_up() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    let req = request("INVITE", "z9hG4bKs3");
    l.on_message(now, Message::Request(req.clone()), udp());
    let id = drain(&mut l)
        .into_iter()
        .find_map(|o| match o {
            TxOutput::Request { tx, .. } => tx,
            _ => None,
        })
        .unwrap();
    l.respond(now, id, response_to(&req, 200));
    drain(&mut l);
    let (times, _) = run_until(&mut l, now, Duration::from_millis(2000));
    assert_eq!(times, vec![500, 1500]);
    let ack = request("ACK", "z9hG4bKother");
    l.on_message(now + Duration::from_secs(2), Message::Request(ack), udp());
    assert!(matches!(
        drain(&mut l).as_slice(),
        [TxOutput::Request { tx: None, .. }]
    ));
    assert!(l.is_empty());
}

#[test]
fn ist_2xx_without_ack_reports_ack_timeout() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    let req = request("INVITE", "z9hG4bKs4");
    l.on_message(now, Message::Request(req.clone()), tcp());
    let id = drain(&mut l)
        .into_iter()
        .find_map(|o| match o {
            TxOutput::Request { tx, .. } => tx,
            _ => None,
        })
        .unwrap();
    l.respond(now, id, response_to(&req, 200));
    drain(&mut l);
    let (times, other) = run_until(&mut l, now, Duration::from_secs(40));
    assert!(times.is_empty(), "no retransmission over TCP");
    assert!(matches!(other.as_slice(), [TxOutput::AckTimeout { .. }]));
}

#[test]
fn cancel_finds_its_invite() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    let inv = request("INVITE", "z9hG4bKs5");
    l.on_message(now, Message::Request(inv.clone()), udp());
    let id = drain(&mut l)
        .into_iter()
        .find_map(|o| match o {
            TxOutput::Request { tx, .. } => tx,
            _ => None,
        })
        .unwrap();
    let cancel = request("CANCEL", "z9hG4bKs5");
    assert_eq!(l.invite_for_cancel(&cancel), Some(id));
    assert_eq!(l.invite_for_cancel(&request("CANCEL", "z9hG4bKnone")), None);
    l.respond(now, id, response_to(&inv, 487));
    assert_eq!(l.invite_for_cancel(&cancel), None);
}

#[test]
fn configurable_t1() {
    let mut l = TransactionLayer::new(Timers {
        t1: Duration::from_millis(20),
        t2: Duration::from_millis(80),
        t4: Duration::from_millis(100),
    });
    let now = Instant::now();
    l.send_request(now, request("OPTIONS", "z9hG4bKt"), udp())
        .unwrap();
    drain(&mut l);
    let (times, other) = run_until(&mut l, now, Duration::from_secs(2));
    assert_eq!(&times[..4], &[20, 60, 140, 220]);
    assert!(matches!(other.as_slice(), [TxOutput::Timeout { .. }]));
}

#[test]
fn many_transactions_tick_cheaply() {
    let mut l = TransactionLayer::new(Timers::default());
    let now = Instant::now();
    for i in 0..10_000 {
        l.send_request(now, request("MESSAGE", &format!("z9hG4bKm{i}")), tcp())
            .unwrap();
    }
    drain(&mut l);
    // nothing due: a tick touches nothing
    l.handle_timeout(now + Duration::from_secs(1));
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.len(), 10_000);
    l.handle_timeout(now + 64 * T1);
    assert_eq!(drain(&mut l).len(), 10_000);
    assert!(l.is_empty());
}
