//! Profiling aid: parses a typical MESSAGE in a loop (run under valgrind --tool=callgrind).
fn main() {
    let m: &[u8] = b"MESSAGE sip:juliet@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776sgdkse;rport\r\nMax-Forwards: 70\r\nFrom: <sip:romeo@example.net;gr=dr4hcr0st3lup4c>;tag=49583\r\nTo: <sip:juliet@example.com>\r\nCall-ID: asd88asd77a@1.2.3.4\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 35\r\n\r\nArt thou not Romeo, and a Montague?";
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut total = 0;
    for _ in 0..n {
        if let Ok(stox::sip::message::Message::Request(r)) =
            stox::sip::message::parse(std::hint::black_box(m), true, 65535)
        {
            total += r.to_bytes().len();
        }
    }
    println!("{total}");
}
