//! Groupchat at scale, through the core's contract (no sockets: the gateway's own cost).
//! Rooms of 10 SIP participants (stox is their focus, RFC 7702 §6) and 10 XMPP occupants:
//! each SIP participant's INVITE, bodiless SEND, NICKNAME, MUC join, conference SUBSCRIBE
//! and NOTIFYs, and the room's presence (19 other occupants per participant).
//! Prints memory per bridged occupant (RSS delta), and the fan-out rate of a room message
//! (one MUC groupchat → one CPIM SEND per SIP participant).
//! Then the other direction (§5) in a fresh core: as many XMPP users, each in a SIP room
//! whose focus lists 19 others (INVITE, MSRP, NICKNAME, conference SUBSCRIBE + NOTIFY).
//! Usage: cargo run --release --example muc_scale [ROOMS]   (default 1000 → 10,000 occupants)

use std::time::{Duration, Instant, SystemTime};

use stox::config::Config;
use stox::gateway::{Core, CoreConfig, Input, Output};
use stox::msrp::codec::parse as msrp_parse;
use stox::msrp::io::MsrpEvent;
use stox::sip::io::SipIn;
use stox::sip::transaction::Dest;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza::Stanza;

/// mimalloc, counting the live heap (RSS also holds what the allocator keeps after frees).
struct Counting;
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

const SIP_PER_ROOM: usize = 10;
const XMPP_PER_ROOM: usize = 10;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn from() -> Dest {
    Dest {
        transport: stox::sip::Transport::Udp,
        addr: "127.0.0.1:5060".parse().unwrap(),
    }
}

/// Every output by kind: SIP texts, stanzas, MSRP frames.
#[derive(Default)]
struct Out {
    sip: Vec<String>,
    xmpp: Vec<String>,
    msrp: usize,
    frames: Vec<String>,
    connect: Vec<stox::gateway::Owner>,
}

fn drain(c: &mut Core) -> Out {
    let mut o = Out::default();
    while let Some(x) = c.poll_output() {
        match x {
            Output::Sip { bytes, .. } => o.sip.push(String::from_utf8_lossy(&bytes).into()),
            Output::Stanza(s) | Output::TrackedStanza(_, s) => {
                o.xmpp.push(String::from(&Element::from(s)))
            }
            Output::Msrp { bytes, .. } => {
                o.msrp += 1;
                o.frames.push(String::from_utf8_lossy(&bytes).into());
            }
            Output::MsrpConnect { owner, .. } => o.connect.push(owner),
            _ => {}
        }
    }
    o
}

fn sip(c: &mut Core, now: Instant, text: String) -> Out {
    c.handle_input(
        now,
        Input::Sip(SipIn {
            bytes: text.into_bytes(),
            from: from(),
        }),
    );
    drain(c)
}

fn stanza(c: &mut Core, now: Instant, xml: &str) -> Out {
    let el: Element = xml.parse().unwrap();
    c.handle_input(now, Input::Stanza(Stanza::try_from(el).unwrap()));
    drain(c)
}

fn msrp(c: &mut Core, now: Instant, conn: u64, text: &str) -> Out {
    let (frame, _) = msrp_parse(text.as_bytes(), 1 << 20).unwrap().unwrap();
    c.handle_input(now, Input::Msrp(MsrpEvent::Frame { conn, frame }));
    drain(c)
}

/// 200 to every NOTIFY the core sent.
fn answer_notifies(c: &mut Core, now: Instant, o: &Out) {
    for n in o.sip.iter().filter(|s| s.starts_with("NOTIFY")) {
        let mut r = String::from("SIP/2.0 200 OK\r\n");
        for l in n.split("\r\n") {
            let name = l.split(':').next().unwrap_or("");
            if ["Via", "From", "To", "Call-ID", "CSeq"].contains(&name) {
                r.push_str(l);
                r.push_str("\r\n");
            }
        }
        r.push_str("Content-Length: 0\r\n\r\n");
        sip(c, now, r);
    }
}

fn header<'a>(m: &'a str, name: &str) -> &'a str {
    m.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or("")
}

fn main() {
    let rooms: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\nmuc_domains = [\"muc.example.com\"]\n[sip]\ndomain = \"example.net\"\n[msrp]\nmax_sessions = 1000000\n[groupchat]\nnotify_interval_ms = 0\nmax_occupants = 100000\nmax_rooms_per_user = 100000\n";
    let cfg = Config::parse(toml).unwrap();
    let mut now = Instant::now();
    let mut c = Core::new(
        CoreConfig::from_config(&cfg)
            .wall_clock(now, SystemTime::now())
            .seed([5; 32]),
    );
    c.handle_input(now, Input::LinkUp);
    drain(&mut c);
    let rss0 = rss_kib();
    let live0 = live();
    let t = Instant::now();
    let mut jids = vec![];
    let mut conn = 0u64;
    for r in 0..rooms {
        let mut in_room = vec![];
        for p in 0..SIP_PER_ROOM {
            let call = format!("c{r}x{p}");
            let sdp = format!(
                "v=0\r\no=u 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 7000 TCP/MSRP *\r\na=accept-types:message/cpim\r\na=path:msrp://127.0.0.1:7000/{call};tcp\r\na=chatroom:nickname private-messages\r\n"
            );
            let inv = format!(
                "INVITE sip:room{r}@muc.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{call}\r\nFrom: <sip:user{p}@example.net>;tag=t{call}\r\nTo: <sip:room{r}@muc.example.com>\r\nCall-ID: {call}\r\nCSeq: 1 INVITE\r\nContact: <sip:user{p}@127.0.0.1:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            );
            let o = sip(&mut c, now, inv);
            let Some(ok) = o.sip.iter().find(|s| s.starts_with("SIP/2.0 200")) else {
                panic!("{:?}", o.sip)
            };
            let tag = header(ok, "To").split("tag=").nth(1).unwrap().to_string();
            let ours = ok
                .split("a=path:")
                .nth(1)
                .unwrap()
                .split("\r\n")
                .next()
                .unwrap()
                .to_string();
            sip(
                &mut c,
                now,
                format!(
                    "ACK sip:room{r}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa{call}\r\nFrom: <sip:user{p}@example.net>;tag=t{call}\r\nTo: <sip:room{r}@muc.example.com>;tag={tag}\r\nCall-ID: {call}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                ),
            );
            conn += 1;
            c.handle_input(
                now,
                Input::Msrp(MsrpEvent::Up {
                    conn,
                    peer: "127.0.0.1:7000".parse().unwrap(),
                }),
            );
            let theirs = format!("msrp://127.0.0.1:7000/{call};tcp");
            msrp(
                &mut c,
                now,
                conn,
                &format!(
                    "MSRP b{call} SEND\r\nTo-Path: {ours}\r\nFrom-Path: {theirs}\r\nMessage-ID: b{call}\r\nByte-Range: 1-0/0\r\n-------b{call}$\r\n"
                ),
            );
            let o = msrp(
                &mut c,
                now,
                conn,
                &format!(
                    "MSRP n{call} NICKNAME\r\nTo-Path: {ours}\r\nFrom-Path: {theirs}\r\nUse-Nickname: \"user{p}\"\r\n-------n{call}$\r\n"
                ),
            );
            let me = o.xmpp[0]
                .split("from='")
                .nth(1)
                .unwrap()
                .split('\'')
                .next()
                .unwrap()
                .to_string();
            let o = sip(
                &mut c,
                now,
                format!(
                    "SUBSCRIBE sip:room{r}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKs{call}\r\nFrom: <sip:user{p}@example.net>;tag=t{call}\r\nTo: <sip:room{r}@muc.example.com>;tag={tag}\r\nCall-ID: {call}\r\nCSeq: 2 SUBSCRIBE\r\nContact: <sip:user{p}@127.0.0.1:5060>\r\nEvent: conference\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
                ),
            );
            answer_notifies(&mut c, now, &o);
            in_room.push((me, format!("user{p}")));
        }
        // The MUC: every occupant's presence to every SIP participant, self-presence last.
        for (me, nick) in &in_room {
            for x in 0..XMPP_PER_ROOM {
                stanza(
                    &mut c,
                    now,
                    &format!(
                        "<presence xmlns='jabber:component:accept' from='room{r}@muc.example.com/x{x}' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant' jid='x{x}@example.com/a'/></x></presence>"
                    ),
                );
            }
            for (_, other) in in_room.iter().filter(|(_, n)| n != nick) {
                stanza(
                    &mut c,
                    now,
                    &format!(
                        "<presence xmlns='jabber:component:accept' from='room{r}@muc.example.com/{other}' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>"
                    ),
                );
            }
            let o = stanza(
                &mut c,
                now,
                &format!(
                    "<presence xmlns='jabber:component:accept' from='room{r}@muc.example.com/{nick}' to='{me}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>"
                ),
            );
            answer_notifies(&mut c, now, &o);
        }
        jids.push(in_room);
    }
    let setup = t.elapsed();
    now += Duration::from_secs(40);
    c.handle_timeout(now);
    drain(&mut c);
    let rss1 = rss_kib();
    let live1 = live();
    let n = rooms * SIP_PER_ROOM;
    println!(
        "rooms {rooms}: {n} SIP participants bridged (each: call, MSRP session, conference subscription, roster of {}), set up in {:.2} s",
        SIP_PER_ROOM + XMPP_PER_ROOM - 1,
        setup.as_secs_f64()
    );
    println!(
        "memory per bridged occupant: {} bytes live heap, {} bytes RSS (RSS {} → {} KiB)",
        live1.saturating_sub(live0) / n,
        rss1.saturating_sub(rss0) * 1024 / n as u64,
        rss0,
        rss1
    );
    assert_eq!(c.muc_sessions(), n, "every participant is in");
    // Fan-out: one groupchat message per room from an XMPP occupant, to every SIP participant.
    let t = Instant::now();
    let mut sends = 0;
    for (r, in_room) in jids.iter().enumerate() {
        for (me, _) in in_room {
            let o = stanza(
                &mut c,
                now,
                &format!(
                    "<message xmlns='jabber:component:accept' type='groupchat' id='m{r}' from='room{r}@muc.example.com/x1' to='{me}'><body>Good morrow, cousin.</body></message>"
                ),
            );
            sends += o.msrp;
        }
    }
    let el = t.elapsed().as_secs_f64();
    println!(
        "room messages: {sends} CPIM SENDs in {el:.2} s = {:.0}/s ({:.1} µs CPU per delivered room message)",
        sends as f64 / el,
        el * 1e6 / sends.max(1) as f64
    );
    participant_side(n);
}

/// §5: `n` XMPP users, each in its own SIP room of 20.
fn participant_side(n: usize) {
    let toml = "[xmpp]\ncomponent = \"sip.example.com\"\nsecret = \"x\"\ndomains = [\"example.com\"]\n[sip]\ndomain = \"example.net\"\noutbound_proxy = \"sip:127.0.0.1:5060\"\n[msrp]\nmax_sessions = 1000000\n[groupchat]\nmax_rooms_per_user = 100000\n";
    let cfg = Config::parse(toml).unwrap();
    let mut now = Instant::now();
    let mut c = Core::new(
        CoreConfig::from_config(&cfg)
            .wall_clock(now, SystemTime::now())
            .seed([6; 32]),
    );
    c.handle_input(now, Input::LinkUp);
    drain(&mut c);
    let live0 = live();
    let t = Instant::now();
    let roster: String = (0..19)
        .map(|k| format!("<user entity=\"sip:r@chat.example.net;gr=n{k}\"><display-text>n{k}</display-text><roles><entry>participant</entry></roles><endpoint entity=\"sip:r@chat.example.net;gr=n{k}\"><status>connected</status></endpoint></user>"))
        .collect();
    for i in 0..n {
        let room = format!("room{i}\\40chat.example.net@sip.example.com");
        let o = stanza(
            &mut c,
            now,
            &format!(
                "<presence xmlns='jabber:component:accept' from='juliet{i}@example.com/r' to='{room}/me{i}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
            ),
        );
        let inv = &o.sip[0];
        let path = format!("msrp://127.0.0.1:9000/sw{i};tcp");
        let sdp = format!(
            "v=0\r\no=f 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 9000 TCP/MSRP *\r\na=accept-types:message/cpim\r\na=path:{path}\r\na=setup:passive\r\na=chatroom:nickname private-messages\r\n"
        );
        let mut ok = String::from("SIP/2.0 200 OK\r\n");
        for l in inv.split("\r\n") {
            let name = l.split(':').next().unwrap_or("");
            if ["Via", "From", "Call-ID", "CSeq"].contains(&name) {
                ok.push_str(l);
                ok.push_str("\r\n");
            }
            if name == "To" {
                ok.push_str(&format!("{l};tag=f{i}\r\n"));
            }
        }
        ok.push_str(&format!("Contact: <sip:room{i}@127.0.0.1:5060>;isfocus\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len()));
        let o = sip(&mut c, now, ok);
        let owner = o.connect[0];
        c.handle_input(
            now,
            Input::MsrpConnected {
                owner,
                result: Ok(i as u64 + 1),
            },
        );
        let o = drain(&mut c);
        let nick = o.frames.iter().find(|f| f.contains(" NICKNAME")).unwrap();
        let tid = nick.split(' ').nth(1).unwrap();
        let ours = header(nick, "From-Path").to_string();
        msrp(
            &mut c,
            now,
            i as u64 + 1,
            &format!(
                "MSRP {tid} 200 OK\r\nTo-Path: {ours}\r\nFrom-Path: {path}\r\n-------{tid}$\r\n"
            ),
        );
        let sub = o.sip.iter().find(|s| s.starts_with("SUBSCRIBE")).unwrap();
        let mut r = String::from("SIP/2.0 200 OK\r\n");
        for l in sub.split("\r\n") {
            let name = l.split(':').next().unwrap_or("");
            if ["Via", "From", "To", "Call-ID", "CSeq"].contains(&name) {
                r.push_str(l);
                r.push_str("\r\n");
            }
        }
        r.push_str("Expires: 600\r\nContent-Length: 0\r\n\r\n");
        sip(&mut c, now, r);
        let doc = format!(
            "<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" entity=\"sip:r@chat.example.net\" state=\"full\" version=\"1\"><users>{roster}</users></conference-info>"
        );
        let our_tag = header(inv, "From").split("tag=").nth(1).unwrap();
        let cid = header(inv, "Call-ID");
        let notify = format!(
            "NOTIFY sip:juliet{i}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn{i}\r\nFrom: <sip:room{i}@chat.example.net>;tag=f{i}\r\nTo: <sip:juliet{i}@example.com>;tag={our_tag}\r\nCall-ID: {cid}\r\nCSeq: 1 NOTIFY\r\nEvent: conference\r\nSubscription-State: active;expires=600\r\nContent-Type: application/conference-info+xml\r\nContent-Length: {}\r\n\r\n{doc}",
            doc.len()
        );
        let o = sip(&mut c, now, notify);
        assert_eq!(o.xmpp.len(), 21, "19 occupants, self, subject");
    }
    let setup = t.elapsed();
    now += Duration::from_secs(40);
    c.handle_timeout(now);
    drain(&mut c);
    println!(
        "XMPP users in SIP rooms: {n} (each: call, MSRP session, our conference subscription, roster of 19), set up in {:.2} s; memory per bridged occupant: {} bytes live heap",
        setup.as_secs_f64(),
        live().saturating_sub(live0) / n
    );
}
