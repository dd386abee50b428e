//! Fuzzes the SIP entry points: datagram and stream parsing, stream framing, and the
//! header helpers the UA core applies to what parsed. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stox::sip::message::{self, Message, NameAddr, Via};

fuzz_target!(|data: &[u8]| {
    let _ = message::next_frame(data, 65_535);
    for datagram in [true, false] {
        match message::parse(data, datagram, 65_535) {
            Ok(Message::Request(r)) => {
                let _ = r.cseq();
                let _ = r.top_via();
                for v in r.headers.values("Contact") {
                    let _ = NameAddr::parse(v);
                }
                let again = message::parse(&r.to_bytes(), datagram, 1 << 20);
                assert!(again.is_ok(), "a parsed request must re-parse after serialization");
            }
            Ok(Message::Response(r)) => {
                let _ = r.top_via();
                let _ = r.to_bytes();
            }
            Err(e) => {
                if let Some(r) = e.request {
                    let _ = message::Response::to_request(&r, e.status, &e.reason, Some("t")).to_bytes();
                }
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Via::parse(s);
        let _ = NameAddr::parse(s);
        let _ = stox::sip::auth::Challenge::parse(s);
        let _ = stox::gateway::address::SipAddress::parse(s);
        let _ = stox::sip::uri::SipUri::parse(s);
    }
});
