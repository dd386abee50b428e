//! SIP hot paths: parse + serialize a typical MESSAGE, and the transaction, dialog and
//! subscription tables at 100,000 live entries (insert, lookup, a timer tick with nothing due).

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use stox::config::Transport;
use stox::sip::message::{Message, Request, parse};
use stox::sip::transaction::{Dest, Timers, TransactionLayer};

const MESSAGE: &[u8] = b"MESSAGE sip:juliet@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776sgdkse;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:romeo@example.net;gr=dr4hcr0st3lup4c>;tag=49583\r\n\
To: <sip:juliet@example.com>\r\n\
Call-ID: asd88asd77a@1.2.3.4\r\n\
CSeq: 1 MESSAGE\r\n\
Content-Type: text/plain;charset=UTF-8\r\n\
Content-Length: 35\r\n\r\n\
Art thou not Romeo, and a Montague?";

fn request(i: u64) -> Request {
    let m = format!(
        "MESSAGE sip:romeo@example.net SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK{i:016x};rport\r\nFrom: <sip:juliet@example.com>;tag=t{i}\r\nTo: <sip:romeo@example.net>\r\nCall-ID: c{i}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    match parse(m.as_bytes(), false, 65535) {
        Ok(Message::Request(r)) => r,
        _ => unreachable!(),
    }
}

fn codec(c: &mut Criterion) {
    c.bench_function("sip Request-URI check (rsipstack parse_uri)", |b| {
        b.iter(|| stox::sip::message::check_uri(black_box("sip:juliet@example.com")))
    });
    c.bench_function("sip name-addr parse", |b| {
        b.iter(|| {
            stox::sip::message::NameAddr::parse(black_box(
                "<sip:romeo@example.net;gr=dr4hcr0st3lup4c>;tag=49583",
            ))
        })
    });
    c.bench_function("sip parse MESSAGE (296 B)", |b| {
        b.iter(|| parse(black_box(MESSAGE), true, 65535))
    });
    let Ok(Message::Request(r)) = parse(MESSAGE, true, 65535) else {
        unreachable!()
    };
    c.bench_function("sip serialize MESSAGE", |b| {
        b.iter(|| black_box(&r).to_bytes())
    });
    c.bench_function("sip parse + serialize MESSAGE", |b| {
        b.iter(|| match parse(black_box(MESSAGE), true, 65535) {
            Ok(Message::Request(r)) => r.to_bytes(),
            _ => unreachable!(),
        })
    });
}

fn transactions(c: &mut Criterion) {
    let dest = Dest {
        transport: Transport::Tcp,
        addr: "127.0.0.1:5060".parse().unwrap(),
    };
    let now = Instant::now();
    let mut l = TransactionLayer::new(Timers::default());
    for i in 0..100_000 {
        l.send_request(now, request(i), dest);
    }
    while l.poll_output().is_some() {}
    let reqs: Vec<Request> = (100_000..100_000 + 1_000_000)
        .take(200_000)
        .map(request)
        .collect();
    let mut it = reqs.into_iter().cycle();
    c.bench_function("tx table 100k: start one more", |b| {
        b.iter_batched(
            || it.next().unwrap(),
            |r| {
                l.send_request(now, r, dest);
                while l.poll_output().is_some() {}
            },
            BatchSize::SmallInput,
        )
    });
    let mut l2 = TransactionLayer::new(Timers::default());
    for i in 0..100_000 {
        l2.send_request(now, request(i), dest);
    }
    while l2.poll_output().is_some() {}
    c.bench_function("tx table 100k: tick, nothing due", |b| {
        b.iter(|| l2.handle_timeout(black_box(now + Duration::from_millis(1))))
    });
    assert_eq!(l2.len(), 100_000);
}

fn invite(i: u64) -> Request {
    let m = format!(
        "INVITE sip:juliet@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{i:016x}\r\nRecord-Route: <sip:127.0.0.1:5060;lr>\r\nFrom: <sip:romeo@example.net>;tag=r{i}\r\nTo: <sip:juliet@example.com>\r\nCall-ID: d{i}\r\nCSeq: 1 INVITE\r\nContact: <sip:romeo@127.0.0.1:5999>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    match parse(m.as_bytes(), false, 65535) {
        Ok(Message::Request(r)) => r,
        _ => unreachable!(),
    }
}

fn dialogs_and_subscriptions(c: &mut Criterion) {
    use stox::sip::dialog::{Dialog, Dialogs};
    use stox::sip::subscription::{Limits, Subscriptions};
    let mut table = Dialogs::default();
    for i in 0..100_000 {
        table.insert(Dialog::uas(&invite(i), &format!("l{i}")).unwrap());
    }
    let bye = {
        let m = "BYE sip:juliet@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbye\r\nFrom: <sip:romeo@example.net>;tag=r77777\r\nTo: <sip:juliet@example.com>;tag=l77777\r\nCall-ID: d77777\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        match parse(m.as_bytes(), false, 65535) {
            Ok(Message::Request(r)) => r,
            _ => unreachable!(),
        }
    };
    c.bench_function("dialog table 100k: match an in-dialog request", |b| {
        b.iter(|| table.for_request(black_box(&bye)).is_some())
    });
    let now = Instant::now();
    let mut subs = Subscriptions::new(Limits::default());
    for i in 0..100_000u64 {
        let d = Dialog::uas(&invite(i), &format!("s{i}")).unwrap();
        subs.subscribed(now, d, "conference", 3600);
    }
    c.bench_function("subscription table 100k: tick, nothing due", |b| {
        b.iter(|| subs.handle_timeout(black_box(now + Duration::from_secs(1))))
    });
    assert_eq!(subs.len(), 100_000);
}

criterion_group!(benches, codec, transactions, dialogs_and_subscriptions);
criterion_main!(benches);
