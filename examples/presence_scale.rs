//! Presence at scale, through the core's contract (no sockets, so the figures are the
//! gateway's own cost): N SIP watchers of 1,000 XMPP users, all approved.
//! Prints memory per active subscription (RSS delta), NOTIFY throughput when every user
//! changes presence, and the restart time to reload N subscriptions from a SQLite store.
//! Usage: cargo run --release --example presence_scale [N]   (default 100000)

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use stox::config::Config;
use stox::gateway::{Core, CoreConfig, Input, Output};
use stox::sip::io::SipIn;
use stox::sip::transaction::Dest;
use stox::store::{Store, StoreOp};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza::Stanza;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: usize = 1000;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn core(now: Instant) -> Core {
    let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\n[presence]\nmax_subscriptions = 1000000\nmax_per_user = 1000000\nnotify_interval_ms = 0\n";
    let cfg = Config::parse(toml).unwrap();
    Core::new(
        CoreConfig::from_config(&cfg)
            .wall_clock(now, SystemTime::now())
            .seed([9; 32]),
    )
}

fn from() -> Dest {
    Dest {
        transport: stox::sip::Transport::Udp,
        addr: "127.0.0.1:5060".parse().unwrap(),
    }
}

/// Answers every request the core sent with 200; returns (NOTIFYs seen, store ops).
fn drain(c: &mut Core, now: Instant, store: &mut BTreeMap<String, String>) -> usize {
    let mut notifies = 0;
    let mut replies = Vec::new();
    while let Some(o) = c.poll_output() {
        match o {
            Output::Sip { bytes, .. } => {
                let text = String::from_utf8_lossy(&bytes);
                if text.starts_with("NOTIFY") {
                    notifies += 1;
                    let mut r = String::from("SIP/2.0 200 OK\r\n");
                    for l in text.split("\r\n") {
                        let n = l.split(':').next().unwrap_or("");
                        if ["Via", "From", "To", "Call-ID", "CSeq"].contains(&n) {
                            r.push_str(l);
                            r.push_str("\r\n");
                        }
                    }
                    r.push_str("Content-Length: 0\r\n\r\n");
                    replies.push(r);
                }
            }
            Output::Store(StoreOp::Put { key, value }) => {
                store.insert(key, value);
            }
            Output::Store(StoreOp::Delete { key }) => {
                store.remove(&key);
            }
            _ => {}
        }
    }
    for r in replies {
        c.handle_input(
            now,
            Input::Sip(SipIn {
                bytes: r.into_bytes(),
                from: from(),
            }),
        );
        while c.poll_output().is_some() {}
    }
    notifies
}

fn stanza(xml: &str) -> Input {
    let el: Element = xml.parse().unwrap();
    Input::Stanza(Stanza::try_from(el).unwrap())
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mut now = Instant::now();
    let mut c = core(now);
    c.handle_input(now, Input::LinkUp);
    let mut saved = BTreeMap::new();
    drain(&mut c, now, &mut saved);
    let rss0 = rss_kib();
    let t = Instant::now();
    for i in 0..n {
        let (u, w) = (i % USERS, i / USERS);
        let sub = format!(
            "SUBSCRIBE sip:juliet{u}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb{i}\r\nFrom: <sip:romeo{w}@example.net>;tag=r{i}\r\nTo: <sip:juliet{u}@example.com>\r\nCall-ID: c{i}\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:romeo{w}@127.0.0.1:5060>\r\nEvent: presence\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
        );
        c.handle_input(
            now,
            Input::Sip(SipIn {
                bytes: sub.into_bytes(),
                from: from(),
            }),
        );
        drain(&mut c, now, &mut saved);
        c.handle_input(now, stanza(&format!("<presence xmlns='jabber:component:accept' type='subscribed' from='juliet{u}@example.com' to='romeo{w}@sip.example.com'/>")));
        drain(&mut c, now, &mut saved);
    }
    let setup = t.elapsed();
    // Let the finished transactions linger out (Timer J/K), then measure.
    now += Duration::from_secs(40);
    c.handle_timeout(now);
    drain(&mut c, now, &mut saved);
    let rss1 = rss_kib();
    println!(
        "subscriptions {n} (1,000 XMPP users, all approved), set up in {:.2} s",
        setup.as_secs_f64()
    );
    println!(
        "memory per active subscription: {} bytes (RSS {} → {} KiB)",
        (rss1.saturating_sub(rss0)) * 1024 / n as u64,
        rss0,
        rss1
    );

    // Every user changes presence once: one NOTIFY per watcher.
    let t = Instant::now();
    let mut notifies = 0;
    for i in 0..n {
        let (u, w) = (i % USERS, i / USERS);
        c.handle_input(now, stanza(&format!("<presence xmlns='jabber:component:accept' from='juliet{u}@example.com/desk' to='romeo{w}@sip.example.com'><show>away</show><status>busy day</status></presence>")));
        notifies += drain(&mut c, now, &mut saved);
    }
    let el = t.elapsed().as_secs_f64();
    println!(
        "NOTIFY throughput: {notifies} NOTIFYs with PIDF in {el:.2} s = {:.0}/s (200s included)",
        notifies as f64 / el
    );

    // Restart: the records into SQLite, then open + load + restore.
    let dir = std::env::temp_dir().join(format!("stox-presence-scale-{}", std::process::id()));
    let path = dir.join("s.sqlite");
    let mut st = Store::open_path(&path).unwrap();
    let ops: Vec<StoreOp> = saved
        .into_iter()
        .map(|(key, value)| StoreOp::Put { key, value })
        .collect();
    let t = Instant::now();
    st.apply(&ops).unwrap();
    let write = t.elapsed();
    drop(st);
    let t = Instant::now();
    let st = Store::open_path(&path).unwrap();
    let records = st.load().unwrap();
    let load = t.elapsed();
    let count = records.len();
    let mut c2 = core(now);
    c2.handle_input(now, Input::Restored(records));
    while c2.poll_output().is_some() {}
    let total = t.elapsed();
    println!(
        "store: {count} records written in {:.2} s (one transaction), file {} KiB",
        write.as_secs_f64(),
        std::fs::metadata(&path)
            .map(|m| m.len() / 1024)
            .unwrap_or(0)
    );
    println!(
        "restart: load {:.2} s, load + restore into a new core {:.2} s",
        load.as_secs_f64(),
        total.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(dir);
}
