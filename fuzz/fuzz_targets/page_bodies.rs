//! Fuzzes the body parsers real clients feed: CPIM (RFC 3862), IMDN (RFC 5438),
//! isComposing (RFC 3994), PIDF (RFC 3863), conference-info (RFC 4575) and deflate. None may
//! panic; CPIM, PIDF and conference-info documents that parse re-parse identically after
//! serialization.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stox::body::{
    conference_info::ConferenceInfo, cpim::Cpim, imdn::Imdn, inflate, iscomposing::IsComposing,
    pidf::Pidf,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Cpim::parse(data) {
        let _ = c.dispositions();
        let _ = c.ns_header(stox::body::cpim::NS_IMDN, "Message-ID");
        assert_eq!(
            Cpim::parse(&c.to_bytes()).ok().as_ref(),
            Some(&c),
            "round trip"
        );
    }
    if let Ok(i) = Imdn::parse(data) {
        assert!(
            Imdn::parse(i.to_body().as_bytes()).is_ok(),
            "an IMDN we write parses"
        );
    }
    let _ = IsComposing::parse(data);
    if let Ok(p) = Pidf::parse(data) {
        assert_eq!(
            Pidf::parse(p.to_body().as_bytes()).ok().as_ref(),
            Some(&p),
            "PIDF round trip"
        );
    }
    if let Ok(c) = ConferenceInfo::parse(data) {
        let again = ConferenceInfo::parse(c.to_body().as_bytes());
        assert_eq!(again.ok().as_ref(), Some(&c), "conference-info round trip");
    }
    let _ = inflate(data, 1 << 16);
});
