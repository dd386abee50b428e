//! Fuzzes MSRP framing and reassembly: no panics, and every frame that parses re-parses
//! identically after serialization.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stox::msrp::codec::{Reassembly, parse};

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    let mut r = Reassembly::new(1 << 16, 8);
    while let Ok(Some((f, n))) = parse(buf, 1 << 16) {
        let again = parse(&f.to_bytes(), 1 << 20);
        assert!(matches!(again, Ok(Some((ref g, _))) if *g == f), "round trip");
        let _ = r.feed(&f);
        buf = buf.get(n..).unwrap_or_default();
    }
});
