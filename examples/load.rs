//! Load generator for `scripts/bench.sh`: plays the XMPP server's side of XEP-0114 (accepts
//! the gateway as a component, checks its SHA-1 handshake) and a SIP endpoint (UDP and TCP:
//! answers 200 to what it receives, sends MESSAGEs as proper transactions with
//! retransmissions), so that every gateway under test faces exactly the same peer and
//! neither Prosody nor SIPp is the bottleneck. Latency rides in the message bodies
//! (`LG <seq> <µs since start>`); one result line per run, in CSV.
//!
//! ```text
//! load --scenario x2s|s2x-udp|s2x-tcp --rate N|max --secs S --gateway-pid PID ...
//! load --scenario sessions --sessions N ...        (RFC 7573 sessions: INVITE + MSRP bind)
//! ```
//! Written for this bench only: naive XML framing (top-level elements by depth), no TLS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Mutex, mpsc};

#[derive(Parser, Debug, Clone)]
struct Args {
    #[arg(long)]
    scenario: String,
    /// Gateway name in the result line.
    #[arg(long, default_value = "stox")]
    gateway: String,
    /// Where we listen as the XMPP server.
    #[arg(long, default_value = "127.0.0.1:5347")]
    xmpp: SocketAddr,
    #[arg(long, default_value = "bench-secret")]
    secret: String,
    #[arg(long, default_value = "sip.example.com")]
    component: String,
    /// Our SIP address (UDP and TCP), the gateway's outbound proxy.
    #[arg(long, default_value = "127.0.0.1:5090")]
    sip: SocketAddr,
    /// The gateway's SIP address.
    #[arg(long, default_value = "127.0.0.1:5070")]
    gateway_sip: SocketAddr,
    /// Messages per second, or 0 for "as fast as the window allows".
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Outstanding (unanswered) messages allowed at once.
    #[arg(long, default_value_t = 5000)]
    window: u64,
    /// Gateway process, for CPU and memory figures from /proc.
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// File holding the gateway's pid (read once the gateway has connected).
    #[arg(long)]
    gateway_pidfile: Option<std::path::PathBuf>,
    /// XMPP recipient of SIP → XMPP messages, as SIP Request-URI user@host.
    #[arg(long, default_value = "juliet@example.com")]
    sip_target: String,
    /// XMPP address of SIP users for XMPP → SIP messages.
    #[arg(long, default_value = "romeo@sip.example.com")]
    xmpp_target: String,
    /// Sessions to open (scenario `sessions`).
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Sessions carried per MSRP connection (scenario `sessions`; RFC 4975 connection reuse
    /// keeps 50,000 sessions under the machine's file-descriptor limit).
    #[arg(long, default_value_t = 50)]
    per_conn: usize,
    /// SENDs per session-throughput run (scenario `sessions`).
    #[arg(long, default_value_t = 20000)]
    sends: u64,
    /// Print the CSV header first.
    #[arg(long)]
    header: bool,
}

#[derive(Default)]
struct Stats {
    /// Sequence numbers already delivered: retransmitted deliveries count once.
    seen: std::sync::Mutex<Vec<bool>>,
    sent: AtomicU64,
    delivered: AtomicU64,
    errored: AtomicU64,
    answered: AtomicU64,
    lat: Mutex<Vec<u32>>,
}

impl Stats {
    /// Records a delivery; false for a duplicate (a retransmission that crossed our answer).
    fn first_delivery(&self, seq: u64) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        let i = seq as usize;
        if seen.len() <= i {
            seen.resize(i + 1, false);
        }
        !std::mem::replace(&mut seen[i], true)
    }
}

fn micros(t0: Instant) -> u64 {
    t0.elapsed().as_micros() as u64
}

/// `LG <seq> <µs>` anywhere in a payload.
fn stamp(text: &str) -> Option<(u64, u64)> {
    let i = text.find("LG ")?;
    let mut it = text[i + 3..].split([' ', '<', '\r', '\n']);
    let seq = it.next()?.parse().ok()?;
    let t = it.next()?.parse().ok()?;
    Some((seq, t))
}

/// Top-level XML elements in `buf` (after the stream header): byte ranges, by tag depth.
fn split_elements(buf: &[u8]) -> (Vec<(usize, usize)>, usize) {
    let mut out = Vec::new();
    let (mut depth, mut i, mut start, mut consumed) = (0i32, 0usize, None, 0usize);
    while i < buf.len() {
        if buf[i] == b'<' {
            let Some(rel) = find_tag_end(&buf[i..]) else {
                break;
            };
            let tag = &buf[i..i + rel + 1];
            if tag.starts_with(b"<?") {
            } else if tag.starts_with(b"</") {
                depth -= 1;
                if depth == 0 {
                    if let Some(s) = start.take() {
                        out.push((s, i + rel + 1));
                    }
                    consumed = i + rel + 1;
                }
            } else if tag.ends_with(b"/>") {
                if depth == 0 {
                    out.push((i, i + rel + 1));
                    consumed = i + rel + 1;
                }
            } else {
                if depth == 0 {
                    start = Some(i);
                }
                depth += 1;
            }
            i += rel + 1;
        } else {
            if depth == 0 {
                consumed = i + 1;
            }
            i += 1;
        }
    }
    (out, consumed)
}

fn find_tag_end(b: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (j, &c) in b.iter().enumerate() {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') => return Some(j),
            _ => {}
        }
    }
    None
}

fn attr<'a>(el: &'a str, name: &str) -> Option<&'a str> {
    let head = &el[..el.find('>').unwrap_or(el.len())];
    for q in ['\'', '"'] {
        let pat = format!(" {name}={q}");
        if let Some(i) = head.find(&pat) {
            let rest = &head[i + pat.len()..];
            return rest.find(q).map(|e| &rest[..e]);
        }
    }
    None
}

/// The component link: accept, handshake, then stanzas in, writes out.
async fn xmpp_server(
    args: &Args,
) -> (
    mpsc::UnboundedSender<String>,
    mpsc::UnboundedReceiver<String>,
) {
    let l = TcpListener::bind(args.xmpp).await.expect("bind XMPP");
    let (mut s, _) = l.accept().await.expect("accept component");
    s.set_nodelay(true).ok();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    // stream header
    loop {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "component closed");
        buf.extend_from_slice(&chunk[..n]);
        let t = String::from_utf8_lossy(&buf);
        if let Some(p) = t.find("<stream:stream")
            && let Some(e) = t[p..].find('>')
        {
            buf.drain(..p + e + 1);
            break;
        }
    }
    let id = format!("lg{}", std::process::id());
    s.write_all(format!("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='{id}' from='{}'>", args.component).as_bytes()).await.unwrap();
    let mut h = Sha1::new();
    h.update(id.as_bytes());
    h.update(args.secret.as_bytes());
    let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    loop {
        let t = String::from_utf8_lossy(&buf).to_string();
        if let Some(p) = t.find("<handshake>")
            && let Some(e) = t.find("</handshake>")
        {
            assert_eq!(t[p + 11..e].trim(), want, "wrong handshake");
            buf.drain(..e + 12);
            break;
        }
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "component closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    s.write_all(b"<handshake/>").await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(x) = out_rx.recv().await {
            let mut batch = x;
            while let Ok(more) = out_rx.try_recv() {
                batch.push_str(&more);
                if batch.len() > 1 << 16 {
                    break;
                }
            }
            if wr.write_all(batch.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let pong = out_tx.clone();
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let n = match rd.read(&mut chunk).await {
                Ok(n) if n > 0 => n,
                _ => return,
            };
            buf.extend_from_slice(&chunk[..n]);
            let (els, used) = split_elements(&buf);
            for (a, b) in els {
                let el = String::from_utf8_lossy(&buf[a..b]).to_string();
                if el.starts_with("<iq") {
                    if matches!(attr(&el, "type"), Some("get" | "set")) {
                        let _ = pong.send(format!(
                            "<iq type='result' id='{}' from='{}' to='{}'/>",
                            attr(&el, "id").unwrap_or(""),
                            attr(&el, "to").unwrap_or(""),
                            attr(&el, "from").unwrap_or("")
                        ));
                    }
                    continue;
                }
                let _ = in_tx.send(el);
            }
            buf.drain(..used);
        }
    });
    (out_tx, in_rx)
}

fn sip_200(req: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for l in req.split("\r\n").take_while(|l| !l.is_empty()).skip(1) {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("via:")
            || lower.starts_with("from:")
            || lower.starts_with("call-id:")
            || lower.starts_with("cseq:")
            || lower.starts_with("record-route:")
        {
            out.push_str(l);
            out.push_str("\r\n");
        } else if lower.starts_with("to:") {
            out.push_str(l);
            if !lower.contains("tag=") {
                out.push_str(";tag=lg");
            }
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
}

fn message(args: &Args, seq: u64, t: u64, transport: &str) -> String {
    let body = format!("LG {seq} {t}");
    format!(
        "MESSAGE sip:{to} SIP/2.0\r\nVia: SIP/2.0/{transport} {me};branch=z9hG4bKlg{seq}x\r\nMax-Forwards: 70\r\nFrom: <sip:romeo@example.net>;tag=lg{seq}\r\nTo: <sip:{to}>\r\nCall-ID: lg{seq}@{me}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len(),
        to = args.sip_target,
        me = args.sip,
    )
}

/// Content-Length framing of a SIP stream.
fn sip_frames(buf: &mut Vec<u8>) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string() + "\r\n";
        let cl: usize = header(&head, "Content-Length")
            .or_else(|| header(&head, "l"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if buf.len() < end + 4 + cl {
            break;
        }
        out.push(String::from_utf8_lossy(&buf[..end + 4 + cl]).to_string());
        buf.drain(..end + 4 + cl);
    }
    out
}

struct Proc {
    pid: u32,
}

fn gateway_proc(args: &Args) -> Option<Proc> {
    let pid = args.gateway_pid.or_else(|| {
        let f = args.gateway_pidfile.as_ref()?;
        std::fs::read_to_string(f).ok()?.trim().parse().ok()
    })?;
    Some(Proc { pid })
}

impl Proc {
    /// The gateway and its child processes (Kamailio forks its workers).
    fn tree(&self) -> Vec<u32> {
        let mut pids = vec![self.pid];
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u32>().ok());
                if ppid == Some(self.pid) {
                    pids.push(pid);
                }
            }
        }
        pids
    }
    fn cpu_us(&self) -> u64 {
        self.tree()
            .iter()
            .map(|pid| {
                let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
                    + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
                ticks * 10_000 // CLK_TCK = 100 on Linux
            })
            .sum()
    }
    /// A /proc status field summed over the process tree (shared memory counts once per
    /// process, which overstates a forking server).
    fn status_kb(&self, key: &str) -> u64 {
        self.tree()
            .iter()
            .map(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0)
            })
            .sum()
    }
}

async fn pct(stats: &Stats) -> (u32, u32) {
    let mut v = stats.lat.lock().await.clone();
    if v.is_empty() {
        return (0, 0);
    }
    v.sort_unstable();
    let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    (p(0.50), p(0.99))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    if args.header {
        println!(
            "scenario,gateway,offered_rate,secs,sent,delivered,errored,unanswered,throughput,cpu_us_per_msg,peak_rss_kb,p50_us,p99_us"
        );
    }
    match args.scenario.as_str() {
        "x2s" | "s2x-udp" | "s2x-tcp" => page(args).await,
        "sessions" => sessions(args).await,
        other => panic!("unknown scenario {other}"),
    }
}

/// Page-mode IM at a fixed offered rate for `secs`, one direction.
async fn page(args: Args) {
    let args = Arc::new(args);
    let stats = Arc::new(Stats::default());
    let t0 = Instant::now();
    let udp = Arc::new(UdpSocket::bind(args.sip).await.expect("bind SIP UDP"));
    let tcp_l = TcpListener::bind(args.sip).await.expect("bind SIP TCP");
    let (xmpp_out, mut xmpp_in) = xmpp_server(&args).await;
    eprintln!("component connected");
    // XMPP side: deliveries (S2X) and errors (X2S)
    {
        let stats = stats.clone();
        tokio::spawn(async move {
            while let Some(el) = xmpp_in.recv().await {
                if !el.starts_with("<message") {
                    continue;
                }
                if attr(&el, "type") == Some("error") {
                    stats.errored.fetch_add(1, Ordering::Relaxed);
                    stats.answered.fetch_add(1, Ordering::Relaxed);
                } else if let Some((seq, t)) = stamp(&el)
                    && stats.first_delivery(seq)
                {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    stats.lat.lock().await.push((micros(t0) - t) as u32);
                }
            }
        });
    }
    // SIP side over UDP: requests get 200 (X2S deliveries), responses settle our MESSAGEs
    let pending: Arc<Mutex<HashMap<u64, (Instant, u32)>>> = Default::default();
    {
        let (udp, stats, pending) = (udp.clone(), stats.clone(), pending.clone());
        tokio::spawn(async move {
            let mut b = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = udp.recv_from(&mut b).await else {
                    return;
                };
                let m = String::from_utf8_lossy(&b[..n]).to_string();
                on_sip(&m, t0, &stats, &pending).await.map(|r| (r, from));
                if m.starts_with("MESSAGE ") {
                    let _ = udp.send_to(sip_200(&m).as_bytes(), from).await;
                }
            }
        });
    }
    // SIP over TCP: what the gateway opens towards us
    {
        let (stats, pending) = (stats.clone(), pending.clone());
        tokio::spawn(async move {
            while let Ok((s, _)) = tcp_l.accept().await {
                let (stats, pending) = (stats.clone(), pending.clone());
                tokio::spawn(async move {
                    let (mut rd, mut wr) = s.into_split();
                    let mut buf = Vec::new();
                    let mut b = vec![0u8; 65536];
                    loop {
                        let Ok(n) = rd.read(&mut b).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&b[..n]);
                        for m in sip_frames(&mut buf) {
                            on_sip(&m, t0, &stats, &pending).await;
                            if m.starts_with("MESSAGE ")
                                && wr.write_all(sip_200(&m).as_bytes()).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                });
            }
        });
    }
    let tcp_out = if args.scenario == "s2x-tcp" {
        let s = TcpStream::connect(args.gateway_sip)
            .await
            .expect("connect gateway SIP TCP");
        s.set_nodelay(true).ok();
        let (mut rd, wr) = s.into_split();
        let (stats, pending) = (stats.clone(), pending.clone());
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut b = vec![0u8; 65536];
            loop {
                let Ok(n) = rd.read(&mut b).await else { return };
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&b[..n]);
                for m in sip_frames(&mut buf) {
                    on_sip(&m, t0, &stats, &pending).await;
                }
            }
        });
        Some(Arc::new(Mutex::new(wr)))
    } else {
        None
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let proc_ = gateway_proc(&args);
    let cpu0 = proc_.as_ref().map(|p| p.cpu_us()).unwrap_or(0);
    let start = Instant::now();
    let end = start + Duration::from_secs(args.secs);
    let mut seq = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut udp_batch: Vec<(u64, String)> = Vec::new();
    let mut last_rtx = Instant::now();
    while Instant::now() < end {
        tick.tick().await;
        let due = if args.rate == 0 {
            u64::MAX
        } else {
            (start.elapsed().as_micros() as u64 * args.rate) / 1_000_000
        };
        let done = stats.delivered.load(Ordering::Relaxed) + stats.errored.load(Ordering::Relaxed);
        while seq < due && seq.saturating_sub(done) < args.window {
            let t = micros(t0);
            match args.scenario.as_str() {
                "x2s" => {
                    let _ = xmpp_out.send(format!(
                        "<message from='juliet@example.com/lg' to='{}' id='lg{seq}' type='normal'><body>LG {seq} {t}</body></message>",
                        args.xmpp_target
                    ));
                }
                "s2x-udp" => udp_batch.push((seq, message(&args, seq, t, "UDP"))),
                _ => {
                    if let Some(w) = &tcp_out {
                        let m = message(&args, seq, t, "TCP");
                        pending.lock().await.insert(seq, (Instant::now(), 0));
                        let _ = w.lock().await.write_all(m.as_bytes()).await;
                    }
                }
            }
            seq += 1;
            stats.sent.fetch_add(1, Ordering::Relaxed);
            if udp_batch.len() >= 64 {
                break;
            }
        }
        for (s, m) in udp_batch.drain(..) {
            pending.lock().await.insert(s, (Instant::now(), 0));
            let _ = udp.send_to(m.as_bytes(), args.gateway_sip).await;
        }
        // UDP retransmissions (RFC 3261 Timer E: 500 ms doubling), at most 4 times
        if args.scenario == "s2x-udp" && last_rtx.elapsed() >= Duration::from_millis(100) {
            last_rtx = Instant::now();
            retransmit(&args, &udp, &pending, t0).await;
        }
    }
    // drain: up to 5 s for the last answers
    let drain_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < drain_until {
        let d = stats.delivered.load(Ordering::Relaxed) + stats.errored.load(Ordering::Relaxed);
        let answered = stats.answered.load(Ordering::Relaxed);
        let all_in = match args.scenario.as_str() {
            "x2s" => d >= seq,
            _ => d >= seq && answered >= seq,
        };
        if all_in {
            break;
        }
        if args.scenario == "s2x-udp" {
            retransmit(&args, &udp, &pending, t0).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = start.elapsed().as_secs_f64().min(args.secs as f64 + 5.0);
    let cpu1 = proc_.as_ref().map(|p| p.cpu_us()).unwrap_or(0);
    let rss = proc_.as_ref().map(|p| p.status_kb("VmHWM:")).unwrap_or(0);
    let delivered = stats.delivered.load(Ordering::Relaxed);
    let errored = stats.errored.load(Ordering::Relaxed);
    let unanswered = if args.scenario == "x2s" {
        seq.saturating_sub(delivered + errored)
    } else {
        pending.lock().await.len() as u64
    };
    let (p50, p99) = pct(&stats).await;
    // a gateway process that died mid-run shows less CPU than before: reported as -1
    let cpu_per = if cpu1 < cpu0 {
        -1.0
    } else if delivered > 0 {
        (cpu1 - cpu0) as f64 / delivered as f64
    } else {
        0.0
    };
    let rate = if args.rate == 0 {
        "max".to_string()
    } else {
        args.rate.to_string()
    };
    println!(
        "{},{},{rate},{},{seq},{delivered},{errored},{unanswered},{:.0},{cpu_per:.1},{rss},{p50},{p99}",
        args.scenario,
        args.gateway,
        args.secs,
        delivered as f64 / elapsed.max(0.001)
    );
}

async fn retransmit(
    args: &Args,
    udp: &UdpSocket,
    pending: &Mutex<HashMap<u64, (Instant, u32)>>,
    t0: Instant,
) {
    let now = Instant::now();
    let mut again = Vec::new();
    {
        let mut p = pending.lock().await;
        for (seq, (at, n)) in p.iter_mut() {
            let wait = Duration::from_millis(500) * (1 << *n);
            if *n < 4 && now.duration_since(*at) >= wait {
                *n += 1;
                *at = now;
                again.push(*seq);
            }
        }
    }
    for seq in again {
        let _ = t0;
        // same transaction (same branch): the gateway answers it from its transaction
        let m = message(args, seq, 0, "UDP");
        let _ = udp.send_to(m.as_bytes(), args.gateway_sip).await;
    }
}

/// A SIP message arriving at the endpoint: a MESSAGE is a delivery (latency from its body);
/// a response settles one of ours.
async fn on_sip(
    m: &str,
    t0: Instant,
    stats: &Stats,
    pending: &Mutex<HashMap<u64, (Instant, u32)>>,
) -> Option<()> {
    if m.starts_with("MESSAGE ") {
        let body = m.split("\r\n\r\n").nth(1).unwrap_or("");
        if let Some((seq, t)) = stamp(body)
            && stats.first_delivery(seq)
        {
            stats.delivered.fetch_add(1, Ordering::Relaxed);
            stats
                .lat
                .lock()
                .await
                .push((micros(t0).saturating_sub(t)) as u32);
        }
        return None;
    }
    if let Some(code) = m
        .strip_prefix("SIP/2.0 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse::<u16>().ok())
        && code >= 200
    {
        let seq: Option<u64> = header(m, "Call-ID")
            .or_else(|| header(m, "i"))
            .and_then(|c| c.strip_prefix("lg"))
            .and_then(|c| c.split('@').next())
            .and_then(|c| c.parse().ok());
        if let Some(seq) = seq
            && pending.lock().await.remove(&seq).is_some()
        {
            stats.answered.fetch_add(1, Ordering::Relaxed);
            if code >= 300 {
                stats.errored.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Some(())
}

/// RFC 7573 sessions: `sessions` INVITEs (UDP) with an MSRP offer; after each 200 an ACK,
/// a TCP connection to the gateway's path and a bodiless SEND to bind it. Reports the
/// gateway's memory per idle session, then SEND throughput through one session and across
/// up to 1,000.
async fn sessions(args: Args) {
    let t0 = Instant::now();
    let udp = Arc::new(UdpSocket::bind(args.sip).await.expect("bind SIP UDP"));
    let (_xmpp_out, mut xmpp_in) = xmpp_server(&args).await;
    let delivered = Arc::new(AtomicU64::new(0));
    {
        let delivered = delivered.clone();
        tokio::spawn(async move {
            while let Some(el) = xmpp_in.recv().await {
                if el.starts_with("<message") && el.contains("<body") {
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let proc_ = gateway_proc(&args);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = proc_.as_ref().map(|p| p.status_kb("VmRSS:")).unwrap_or(0);
    // responses by Call-ID
    let waiting: Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<String>>>> =
        Default::default();
    {
        let (udp, waiting) = (udp.clone(), waiting.clone());
        tokio::spawn(async move {
            let mut b = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = udp.recv_from(&mut b).await else {
                    return;
                };
                let m = String::from_utf8_lossy(&b[..n]).to_string();
                if m.starts_with("SIP/2.0 2") {
                    if let Some(cid) = header(&m, "Call-ID")
                        && let Some(tx) = waiting.lock().await.remove(cid)
                    {
                        let _ = tx.send(m);
                    }
                } else if !m.starts_with("SIP/2.0") && !m.starts_with("ACK") {
                    let _ = udp.send_to(sip_200(&m).as_bytes(), from).await;
                }
            }
        });
    }
    // Groups of `per_conn` sessions share one TCP connection, opened with the group's first.
    let groups = args.sessions.div_ceil(args.per_conn.max(1));
    let conns: Arc<Mutex<Vec<Group>>> = Default::default();
    let sem = Arc::new(tokio::sync::Semaphore::new(100));
    let failed = Arc::new(AtomicU64::new(0));
    let open_start = Instant::now();
    let mut tasks = Vec::new();
    for g in 0..groups {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (udp, waiting, conns, failed, args) = (
            udp.clone(),
            waiting.clone(),
            conns.clone(),
            failed.clone(),
            args.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _p = permit;
            let mut conn: Option<TcpStream> = None;
            let mut paths = Vec::new();
            let first = g * args.per_conn;
            for i in first..(first + args.per_conn).min(args.sessions) {
                match open_session(&args, i, &udp, &waiting, &mut conn).await {
                    Some(p) => paths.push(p),
                    None => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if let Some(c) = conn {
                conns.lock().await.push((c, paths));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let open_secs = open_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = proc_.as_ref().map(|p| p.status_kb("VmRSS:")).unwrap_or(0);
    let mut conns = std::mem::take(&mut *conns.lock().await);
    let n: usize = conns.iter().map(|(_, p)| p.len()).sum();
    // (connection index, session index) for the first sessions of every connection in turn
    let mut order = Vec::new();
    let widest = conns.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
    for k in 0..widest {
        for (ci, (_, p)) in conns.iter().enumerate() {
            if k < p.len() {
                order.push((ci, k));
            }
        }
    }
    let per = if n > 0 {
        (rss1.saturating_sub(rss0) as f64 * 1024.0) / n as f64
    } else {
        0.0
    };
    println!(
        "sessions,{},{},{n},connections={},failed={},open_secs={open_secs:.1},rss_before_kb={rss0},rss_after_kb={rss1},bytes_per_session={per:.0}",
        args.gateway,
        args.sessions,
        conns.len(),
        failed.load(Ordering::Relaxed)
    );
    // SEND throughput through one session, then spread over up to 1,000 sessions
    for spread in [1usize, 1000.min(n)] {
        if n == 0 {
            break;
        }
        let before = delivered.load(Ordering::Relaxed);
        let start = Instant::now();
        let cpu0 = proc_.as_ref().map(|p| p.cpu_us()).unwrap_or(0);
        for k in 0..args.sends {
            let (ci, si) = order[(k as usize) % spread];
            let (s, paths) = &mut conns[ci];
            let (ours, theirs) = &paths[si];
            let tid = format!("lgs{k:08}");
            let body = format!("LG {k} {}", micros(t0));
            let f = format!(
                "MSRP {tid} SEND\r\nTo-Path: {theirs}\r\nFrom-Path: {ours}\r\nMessage-ID: m{k}\r\nByte-Range: 1-{n}/{n}\r\nFailure-Report: no\r\nContent-Type: text/plain\r\n\r\n{body}\r\n-------{tid}$\r\n",
                n = body.len()
            );
            if s.write_all(f.as_bytes()).await.is_err() {
                break;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while delivered.load(Ordering::Relaxed) - before < args.sends && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let got = delivered.load(Ordering::Relaxed) - before;
        let secs = start.elapsed().as_secs_f64();
        let cpu = proc_
            .as_ref()
            .map(|p| p.cpu_us())
            .unwrap_or(0)
            .saturating_sub(cpu0);
        println!(
            "msrp-send,{},sessions={spread},sent={},delivered={got},per_sec={:.0},cpu_us_per_msg={:.1}",
            args.gateway,
            args.sends,
            got as f64 / secs,
            cpu as f64 / got.max(1) as f64
        );
    }
    let _ = t0;
}

/// One MSRP connection and the (our path, their path) of the sessions it carries.
type Group = (TcpStream, Vec<(String, String)>);

async fn open_session(
    args: &Args,
    i: usize,
    udp: &UdpSocket,
    waiting: &Mutex<HashMap<String, tokio::sync::oneshot::Sender<String>>>,
    conn: &mut Option<TcpStream>,
) -> Option<(String, String)> {
    let me = args.sip;
    let ours = format!("msrp://127.0.0.1:9/lg{i:07};tcp");
    let sdp = format!(
        "v=0\r\no=lg 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:{ours}\r\n"
    );
    let cid = format!("lgs{i}@{me}");
    let inv = format!(
        "INVITE sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKlgi{i}\r\nMax-Forwards: 70\r\nFrom: <sip:romeo@example.net>;tag=lgs{i}\r\nTo: <sip:{to}>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\nContact: <sip:romeo@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        to = args.sip_target
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    waiting.lock().await.insert(cid.clone(), tx);
    udp.send_to(inv.as_bytes(), args.gateway_sip).await.ok()?;
    let ok = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .ok()?
        .ok()?;
    let to = header(&ok, "To")?.to_string();
    let ack = format!(
        "ACK sip:juliet@{} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKlga{i}\r\nMax-Forwards: 70\r\nFrom: <sip:romeo@example.net>;tag=lgs{i}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        args.gateway_sip
    );
    udp.send_to(ack.as_bytes(), args.gateway_sip).await.ok()?;
    let theirs = ok
        .split("\r\n")
        .find_map(|l| l.strip_prefix("a=path:"))?
        .to_string();
    if conn.is_none() {
        let hostport = theirs
            .strip_prefix("msrp://")?
            .split('/')
            .next()?
            .to_string();
        let s = TcpStream::connect(hostport).await.ok()?;
        s.set_nodelay(true).ok();
        *conn = Some(s);
    }
    let s = conn.as_mut()?;
    let tid = format!("lgb{i:07}");
    let bind = format!(
        "MSRP {tid} SEND\r\nTo-Path: {theirs}\r\nFrom-Path: {ours}\r\nMessage-ID: b{i}\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n"
    );
    s.write_all(bind.as_bytes()).await.ok()?;
    // the 200 for the binding SEND (one at a time per connection, so it is ours)
    let mut got = Vec::new();
    let mut b = [0u8; 512];
    while !got.windows(3).any(|w| w == b"$\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut b))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&b[..n]);
    }
    String::from_utf8_lossy(&got)
        .contains(" 200 OK")
        .then_some((ours, theirs))
}
