//! Fuzzes what a chat room sends stox (RFC 7702): a room message (CPIM, RFC 3862, or an
//! unwrapped type) down to the text a MUC gets, and conference-info (RFC 4575) down to the
//! roster entries (nick, gone). Nothing may panic; a CPIM envelope stox writes around any
//! text must read back as that text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stox::body::conference_info::ConferenceInfo;
use stox::gateway::muc;

fuzz_target!(|data: &[u8]| {
    for ct in ["message/cpim", "text/plain", "text/html", "application/im-iscomposing+xml"] {
        if let Ok(m) = muc::room_message(ct, data) {
            let _ = m.from.as_deref().map(muc::gr_of);
            let _ = m.to.as_deref().map(|t| muc::same_aor(t, "sip:room@chat.example.net"));
            let mut st = xmpp_parsers::message::Message::new(None);
            let _ = muc::room_text(&m, &mut st);
        }
    }
    if let Ok(c) = ConferenceInfo::parse(data) {
        for u in &c.users {
            let _ = muc::user_nick(u);
            let _ = muc::user_gone(u);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let b = muc::cpim_out("<sip:a@b.example>", "<sip:r@c.example>", None, Some(text), "text/plain", data);
        let back = muc::room_message("message/cpim", &b).expect("our CPIM parses");
        assert_eq!(back.body, data, "CPIM content round trip");
        let _ = muc::occupant_uri("sip:room@chat.example.net", text);
    }
});
