//! One MSRP session (RFC 4975 §7), sans-IO: frames in, bytes to write and events out, time
//! as an input. It chunks what it sends and tracks each SEND's transaction (30 s, §7.1),
//! answers and reassembles what it receives, produces REPORTs for `Success-Report: yes`, and
//! answers unknown methods with 501 and SENDs for another session with 481. RFC 7701's
//! NICKNAME is a transaction like a SEND: ours report their final status
//! ([`Event::NicknameResult`]), the peer's wait for the owner's answer
//! ([`Event::Nickname`], [`Session::answer_nickname`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use super::codec::{ByteRange, Flag, Frame, Kind, Reassembled, Reassembly, chunk_send};
use super::uri::MsrpUri;
use crate::sip::header::{quoted, unquoted};

#[derive(Debug, Clone, Copy)]
/// Settings of one session.
pub struct SessionConfig {
    /// Largest chunk body we send (RFC 4975 suggests 2048 for interruptibility).
    pub chunk: usize,
    /// Largest message we accept (advertised as `a=max-size`); beyond it: 413.
    pub max_size: u64,
    /// A SEND without a response after this long failed with 408 (RFC 4975 §7.1: 30 s).
    pub transaction_timeout: Duration,
    /// Content types we accept (`a=accept-types`); others get 415.
    pub accept: &'static [&'static str],
    /// A check of each complete message before its last chunk is answered: `Err` answers
    /// that SEND with the status instead of 200 and drops the message (chat rooms: a CPIM
    /// envelope that does not parse → 400, RFC 7701 §5).
    pub check: Option<BodyCheck>,
}

/// See [`SessionConfig::check`]: (Content-Type, body) → `Err((status, comment))`.
pub type BodyCheck = fn(&str, &[u8]) -> Result<(), (u16, String)>;

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            chunk: 2048,
            max_size: 65_536,
            transaction_timeout: Duration::from_secs(30),
            accept: &[
                "text/plain",
                "message/cpim",
                "application/im-iscomposing+xml",
                "text/html",
            ],
            check: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// What a session reports.
pub enum Event {
    /// Bytes to write on the session's connection.
    Transmit(Vec<u8>),
    /// A whole message from the peer.
    Message {
        /// Transaction id of the SEND that completed the message (its only one, unless
        /// chunked): RFC 7573 §5 makes it the stanza id.
        tid: String,
        /// Its Message-ID.
        message_id: String,
        /// Its Content-Type.
        content_type: String,
        /// The whole body.
        body: Vec<u8>,
        /// The sender asked for a Success-Report.
        success_report: bool,
        /// The sender wants a failure REPORT if delivery fails later (`Failure-Report`
        /// other than `no`).
        failure_report: bool,
    },
    /// A REPORT about a message we sent (`Status` code; 200 = delivered).
    Report {
        /// The Message-ID it is about.
        message_id: String,
        /// Its `Status` code.
        status: u16,
    },
    /// Every chunk of a message we sent got a 2xx: the peer (an MSRP switch, RFC 7701)
    /// accepted it.
    Accepted {
        /// Its Message-ID.
        message_id: String,
    },
    /// The peer asks for a nickname (RFC 7701 NICKNAME); answer with
    /// [`Session::answer_nickname`].
    Nickname {
        /// The request's transaction id.
        tid: String,
        /// `Use-Nickname`, unquoted.
        nick: String,
    },
    /// The final status of a NICKNAME we sent (408 when nothing came back).
    NicknameResult {
        /// Its transaction id.
        tid: String,
        /// The status.
        code: u16,
    },
    /// A message we sent failed: error response, or no response in time (408).
    SendFailed {
        /// The Message-ID of the failed message.
        message_id: String,
        /// The MSRP status (408 when nothing came back).
        code: u16,
        /// The comment.
        reason: String,
    },
}

choice! {
    /// `Failure-Report` (RFC 4975 §7.1.2), also the `msrp.failure_report` config key.
    pub enum FailureReport, "is not one of no, partial, yes" {
        /// No response or REPORT wanted.
        No = "no",
        /// Only failures are answered.
        Partial = "partial",
        /// Every SEND is answered (the default when the header is absent).
        Yes = "yes",
    }
}

struct Pending {
    /// The message a SEND belongs to; empty for a NICKNAME.
    message_id: String,
    deadline: Instant,
    /// `no`: no response expected; `partial`: only failures are answered.
    failure_report: FailureReport,
}

/// One MSRP session (RFC 4975), sans-IO: frames in, events out, time as input.
pub struct Session {
    cfg: SessionConfig,
    /// Our URI (path) in this session.
    pub local: MsrpUri,
    /// The peer's path (To-Path of what we send).
    pub remote: Vec<String>,
    pending: HashMap<String, Pending>,
    deadlines: BTreeMap<(Instant, String), ()>,
    reassembly: Reassembly,
    /// Success-Report wanted, per incoming Message-ID (the first chunk says).
    wants_report: HashMap<String, bool>,
    /// The peer's NICKNAME requests waiting for the owner's answer.
    nick_in: HashMap<String, Frame>,
    events: VecDeque<Event>,
    rng: rand::rngs::StdRng,
}

fn status_of(v: &str) -> Option<u16> {
    // "000 200 OK"
    v.split_whitespace().nth(1)?.parse().ok()
}

impl Session {
    /// A session with our URI and the peer's path; its transaction and message ids come
    /// from a generator seeded by `rng` (the core's, so that tests are deterministic).
    pub fn new(
        cfg: SessionConfig,
        local: MsrpUri,
        remote: Vec<String>,
        rng: &mut impl rand::Rng,
    ) -> Self {
        Session {
            cfg,
            local,
            remote,
            pending: HashMap::new(),
            deadlines: BTreeMap::new(),
            reassembly: Reassembly::new(cfg.max_size, 64),
            wants_report: HashMap::new(),
            nick_in: HashMap::new(),
            events: VecDeque::new(),
            rng: rand::rngs::StdRng::from_seed(rng.random()),
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.keys().next().map(|(t, _)| *t)
    }

    fn tid(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    /// A fresh Message-ID (RFC 4975 `ident`, ≤ 32 characters).
    pub fn new_message_id(&mut self) -> String {
        format!(
            "{:016x}{:08x}",
            self.rng.random::<u64>(),
            self.rng.random::<u32>()
        )
    }

    fn to_path(&self) -> String {
        self.remote.join(" ")
    }

    /// Sends a message: chunked SENDs, each a transaction unless `Failure-Report: no`.
    /// `tid`, when given, is the first chunk's transaction id (RFC 7573 §4: the stanza id).
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        now: Instant,
        tid: Option<&str>,
        message_id: &str,
        content_type: &str,
        body: &[u8],
        success_report: bool,
        failure_report: FailureReport,
    ) {
        let mut extra = vec![];
        if success_report {
            extra.push(("Success-Report", "yes".to_string()));
        }
        if failure_report != FailureReport::Yes {
            extra.push(("Failure-Report", failure_report.as_str().to_string()));
        }
        let to = self.to_path();
        let from = self.local.to_string();
        let chunk = self.cfg.chunk;
        let rng = &mut self.rng;
        let mut first = tid.map(String::from);
        let frames = chunk_send(
            || {
                first
                    .take()
                    .unwrap_or_else(|| format!("{:016x}", rng.random::<u64>()))
            },
            &to,
            &from,
            message_id,
            content_type,
            &extra,
            body,
            chunk,
        );
        for f in frames {
            if failure_report != FailureReport::No {
                let deadline = now + self.cfg.transaction_timeout;
                self.pending.insert(
                    f.tid.clone(),
                    Pending {
                        message_id: message_id.to_string(),
                        deadline,
                        failure_report,
                    },
                );
                self.deadlines.insert((deadline, f.tid.clone()), ());
            }
            self.events.push_back(Event::Transmit(f.to_bytes()));
        }
    }

    fn respond(&mut self, f: &Frame, code: u16, comment: &str) {
        let mut r = f.response(code, comment);
        // Our From-Path in responses is always our own URI.
        r.set_header("From-Path", self.local.to_string());
        self.events.push_back(Event::Transmit(r.to_bytes()));
    }

    /// Is this frame for this session (first To-Path URI = our URI)?
    pub fn is_for_me(&self, f: &Frame) -> bool {
        f.header("To-Path")
            .and_then(|p| p.split_whitespace().next())
            .and_then(MsrpUri::parse)
            .is_some_and(|u| u.same(&self.local))
    }

    /// A frame from the session's connection. (`_now` keeps the sans-IO contract — every
    /// input is stamped — for the idle timers chat sessions will add.)
    pub fn on_frame(&mut self, _now: Instant, f: Frame) {
        match f.kind.clone() {
            Kind::Response(code, comment) => {
                self.on_response(&f.tid, code, comment.as_deref().unwrap_or(""))
            }
            Kind::Request(m) if !self.is_for_me(&f) => {
                if m != "REPORT" {
                    self.respond(&f, 481, "Session Does Not Exist");
                }
            }
            Kind::Request(m) if m == "SEND" => self.on_send(f),
            Kind::Request(m) if m == "REPORT" => {
                if let (Some(mid), Some(status)) = (
                    f.header("Message-ID"),
                    f.header("Status").and_then(status_of),
                ) {
                    self.events.push_back(Event::Report {
                        message_id: mid.to_string(),
                        status,
                    });
                }
            }
            Kind::Request(m) if m == "NICKNAME" => self.on_nickname(f),
            Kind::Request(_) => self.respond(&f, 501, "Unknown method"),
        }
    }

    /// RFC 7701: sends NICKNAME with `Use-Nickname: "<nick>"` (no body, no report headers);
    /// its final status comes back as [`Event::NicknameResult`] with the returned tid.
    pub fn nickname(&mut self, now: Instant, nick: &str) -> String {
        let tid = self.tid();
        let f = Frame {
            tid: tid.clone(),
            kind: Kind::Request("NICKNAME".into()),
            headers: vec![
                ("To-Path".into(), self.to_path()),
                ("From-Path".into(), self.local.to_string()),
                // RFC 7701: Use-Nickname is a quoted-string
                ("Use-Nickname".into(), quoted(nick)),
            ],
            body: Vec::new(),
            flag: Flag::Last,
        };
        let deadline = now + self.cfg.transaction_timeout;
        self.pending.insert(
            tid.clone(),
            Pending {
                message_id: String::new(),
                deadline,
                failure_report: FailureReport::Yes,
            },
        );
        self.deadlines.insert((deadline, tid.clone()), ());
        self.events.push_back(Event::Transmit(f.to_bytes()));
        tid
    }

    /// Answers the peer's NICKNAME (200, 425 Nickname usage failed, 403, …).
    pub fn answer_nickname(&mut self, tid: &str, code: u16, comment: &str) {
        if let Some(f) = self.nick_in.remove(tid) {
            self.respond(&f, code, comment);
        }
    }

    fn on_nickname(&mut self, f: Frame) {
        let Some(nick) = f
            .header("Use-Nickname")
            .and_then(unquoted)
            .filter(|n| !n.trim().is_empty())
        else {
            return self.respond(&f, 400, "Missing or bad Use-Nickname");
        };
        if self.nick_in.len() >= 8 {
            return self.respond(&f, 403, "Too many NICKNAME requests in progress");
        }
        let tid = f.tid.clone();
        self.nick_in.insert(tid.clone(), f);
        self.events.push_back(Event::Nickname { tid, nick });
    }

    fn on_response(&mut self, tid: &str, code: u16, comment: &str) {
        let Some(p) = self.pending.remove(tid) else {
            return;
        };
        self.deadlines.remove(&(p.deadline, tid.to_string()));
        if p.message_id.is_empty() {
            return self.events.push_back(Event::NicknameResult {
                tid: tid.to_string(),
                code,
            });
        }
        if code < 300 {
            if !self.pending.values().any(|o| o.message_id == p.message_id) {
                self.events.push_back(Event::Accepted {
                    message_id: p.message_id,
                });
            }
        } else {
            self.events.push_back(Event::SendFailed {
                message_id: p.message_id,
                code,
                reason: comment.to_string(),
            });
        }
    }

    fn on_send(&mut self, f: Frame) {
        // An unknown value counts as the default (`yes`).
        let failure_report = f
            .header("Failure-Report")
            .and_then(|v| FailureReport::parse(v.trim()))
            .unwrap_or(FailureReport::Yes);
        let answer = |s: &mut Session, code: u16, comment: &str| {
            // RFC 4975 §7.2: no response with Failure-Report: no; only failures with partial.
            if failure_report == FailureReport::No
                || (failure_report == FailureReport::Partial && code == 200)
            {
                return;
            }
            s.respond(&f, code, comment);
        };
        if !f.body.is_empty() {
            let ct = f
                .header("Content-Type")
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !self.cfg.accept.iter().any(|a| a.eq_ignore_ascii_case(&ct)) {
                return answer(self, 415, "Unsupported Media Type");
            }
        }
        let Some(mid) = f.header("Message-ID").map(String::from) else {
            return answer(self, 400, "Missing Message-ID");
        };
        if f.header("Byte-Range")
            .is_some_and(|r| ByteRange::parse(r).is_none())
        {
            return answer(self, 400, "Bad Byte-Range");
        }
        self.wants_report.entry(mid.clone()).or_insert_with(|| {
            f.header("Success-Report")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
        });
        match self.reassembly.feed(&f) {
            Reassembled::Pending | Reassembled::Aborted => {
                if f.flag == Flag::Abort {
                    self.wants_report.remove(&mid);
                }
                answer(self, 200, "OK")
            }
            Reassembled::TooLarge => {
                self.wants_report.remove(&mid);
                answer(self, 413, "Message too large")
            }
            Reassembled::Bad(why) => answer(self, 400, why),
            Reassembled::Complete {
                message_id,
                content_type,
                body,
            } => {
                if let Some(check) = self.cfg.check
                    && !body.is_empty()
                    && let Err((code, why)) = check(&content_type, &body)
                {
                    self.wants_report.remove(&message_id);
                    return answer(self, code, &why);
                }
                answer(self, 200, "OK");
                let success_report = self.wants_report.remove(&message_id).unwrap_or(false);
                if body.is_empty() {
                    // a bodiless SEND (connection binding, RFC 4975 §5.4) carries no message
                    return;
                }
                self.events.push_back(Event::Message {
                    tid: f.tid.clone(),
                    message_id,
                    content_type,
                    body,
                    success_report,
                    failure_report: failure_report != FailureReport::No,
                });
            }
        }
    }

    /// RFC 4975 §7.1.2: REPORT for a delivered message (to our peer, whole byte range).
    pub fn report_delivered(&mut self, message_id: &str, total: usize) {
        self.report(message_id, total, 200, "OK");
    }

    /// A REPORT with any status: 200 for delivery, an error when the message could not be
    /// delivered after its SEND was answered (RFC 4975 §7.1.2, Failure-Report `yes`).
    pub fn report(&mut self, message_id: &str, total: usize, code: u16, comment: &str) {
        let tid = self.tid();
        let f = Frame {
            tid,
            kind: Kind::Request("REPORT".into()),
            headers: vec![
                ("To-Path".into(), self.to_path()),
                ("From-Path".into(), self.local.to_string()),
                ("Message-ID".into(), message_id.to_string()),
                ("Byte-Range".into(), format!("1-{total}/{total}")),
                ("Status".into(), format!("000 {code} {comment}")),
            ],
            body: Vec::new(),
            flag: Flag::Last,
        };
        self.events.push_back(Event::Transmit(f.to_bytes()));
    }

    /// Time passed: unanswered SENDs fail (when a failure report was promised).
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, tid)) = self.deadlines.keys().next().cloned() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, tid.clone()));
            if let Some(p) = self.pending.remove(&tid) {
                if p.message_id.is_empty() {
                    self.events
                        .push_back(Event::NicknameResult { tid, code: 408 });
                    continue;
                }
                // No answer: a failure when one was promised (yes), success otherwise.
                if p.failure_report == FailureReport::Yes {
                    self.events.push_back(Event::SendFailed {
                        message_id: p.message_id,
                        code: 408,
                        reason: "Request Timeout".into(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msrp::codec::parse;

    fn me() -> Session {
        Session::new(
            SessionConfig::default(),
            MsrpUri::parse("msrp://x2s.example.com:7654/jshA7weztas;tcp").unwrap(),
            vec!["msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp".into()],
            &mut rand::rngs::StdRng::seed_from_u64(7),
        )
    }

    /// RFC 7702 §5.2's NICKNAME exchange (vector 2 of the spec notes): ours out, 200 and
    /// 425 back; theirs in, answered by the owner; a NICKNAME without Use-Nickname is 400.
    #[test]
    fn nickname_both_ways() {
        let mut s = me();
        let now = Instant::now();
        let tid = s.nickname(now, "JuliC");
        let ev = events(&mut s);
        assert_eq!(
            ev,
            vec![Event::Transmit(
                format!("MSRP {tid} NICKNAME\r\nTo-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\nFrom-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nUse-Nickname: \"JuliC\"\r\n-------{tid}$\r\n").into_bytes()
            )]
        );
        let resp = format!(
            "MSRP {tid} 425 Nickname usage failed\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\n-------{tid}$\r\n"
        );
        s.on_frame(now, frame(resp.as_bytes()));
        assert_eq!(
            events(&mut s),
            vec![Event::NicknameResult {
                tid: tid.clone(),
                code: 425
            }]
        );
        // no answer at all: 408
        let tid2 = s.nickname(now, "a \"b\"");
        assert!(
            String::from_utf8(match &events(&mut s)[0] {
                Event::Transmit(b) => b.clone(),
                _ => vec![],
            })
            .unwrap()
            .contains("Use-Nickname: \"a \\\"b\\\"\"\r\n")
        );
        s.handle_timeout(now + Duration::from_secs(31));
        assert_eq!(
            events(&mut s),
            vec![Event::NicknameResult {
                tid: tid2,
                code: 408
            }]
        );
        // theirs
        let req = "MSRP a786hjs2 NICKNAME\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\nUse-Nickname: \"Romeo\"\r\n-------a786hjs2$\r\n";
        s.on_frame(now, frame(req.as_bytes()));
        assert_eq!(
            events(&mut s),
            vec![Event::Nickname {
                tid: "a786hjs2".into(),
                nick: "Romeo".into()
            }]
        );
        s.answer_nickname("a786hjs2", 200, "OK");
        let ev = events(&mut s);
        assert!(
            matches!(&ev[..], [Event::Transmit(b)] if b.starts_with(b"MSRP a786hjs2 200 OK\r\n")),
            "{ev:?}"
        );
        let bad = req.replace("Use-Nickname: \"Romeo\"\r\n", "");
        s.on_frame(now, frame(bad.as_bytes()));
        let ev = events(&mut s);
        assert!(
            matches!(&ev[..], [Event::Transmit(b)] if b.starts_with(b"MSRP a786hjs2 400 ")),
            "{ev:?}"
        );
    }

    /// A SEND whose every chunk got 200 is accepted (the reflection trigger of RFC 7702 §5.4).
    #[test]
    fn accepted_after_the_last_chunk() {
        let mut s = me();
        let now = Instant::now();
        s.send(
            now,
            Some("tid00001"),
            "mid1",
            "text/plain",
            b"hi",
            false,
            FailureReport::Yes,
        );
        events(&mut s);
        let ok = "MSRP tid00001 200 OK\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\n-------tid00001$\r\n";
        s.on_frame(now, frame(ok.as_bytes()));
        assert_eq!(
            events(&mut s),
            vec![Event::Accepted {
                message_id: "mid1".into()
            }]
        );
    }

    fn events(s: &mut Session) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    fn frame(bytes: &[u8]) -> Frame {
        parse(bytes, 1 << 20).unwrap().unwrap().0
    }

    const F10: &str = "MSRP di2fs53v SEND\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\nMessage-ID: 6480C096937A46E7\r\nByte-Range: 1-44/44\r\nFailure-Report: no\r\nContent-Type: text/plain\r\n\r\nNeither, fair saint, if either thee dislike.\r\n-------di2fs53v$\r\n";

    #[test]
    fn inbound_send_with_failure_report_no_is_not_answered() {
        let mut s = me();
        s.on_frame(Instant::now(), frame(F10.as_bytes()));
        assert_eq!(
            events(&mut s),
            vec![Event::Message {
                tid: "di2fs53v".into(),
                message_id: "6480C096937A46E7".into(),
                content_type: "text/plain".into(),
                body: b"Neither, fair saint, if either thee dislike.".to_vec(),
                success_report: false,
                failure_report: false
            }]
        );
    }

    #[test]
    fn inbound_send_answered_and_reported() {
        let mut s = me();
        let f = F10.replace("Failure-Report: no\r\n", "Success-Report: yes\r\n");
        s.on_frame(Instant::now(), frame(f.as_bytes()));
        let ev = events(&mut s);
        let Event::Transmit(resp) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert!(resp.starts_with(b"MSRP di2fs53v 200 OK\r\nTo-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\nFrom-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\n"));
        assert!(matches!(
            &ev[1],
            Event::Message {
                success_report: true,
                ..
            }
        ));
        s.report_delivered("6480C096937A46E7", 44);
        let Event::Transmit(rep) = &events(&mut s)[0] else {
            panic!()
        };
        let r = frame(rep);
        assert_eq!(
            (r.method(), r.header("Byte-Range"), r.header("Status")),
            (Some("REPORT"), Some("1-44/44"), Some("000 200 OK"))
        );
    }

    #[test]
    fn wrong_session_unknown_method_bad_type_and_oversize() {
        let mut s = me();
        s.on_frame(
            Instant::now(),
            frame(
                F10.replace("jshA7weztas", "nosuchsess")
                    .replace("Failure-Report: no\r\n", "")
                    .as_bytes(),
            ),
        );
        let Event::Transmit(r) = &events(&mut s)[0] else {
            panic!()
        };
        assert!(r.starts_with(b"MSRP di2fs53v 481 "));
        s.on_frame(Instant::now(), frame(b"MSRP abcd1234 FROB\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:12763/k;tcp\r\n-------abcd1234$\r\n"));
        let Event::Transmit(r) = &events(&mut s)[0] else {
            panic!()
        };
        assert!(r.starts_with(b"MSRP abcd1234 501 "));
        s.on_frame(
            Instant::now(),
            frame(
                F10.replace("text/plain", "image/png")
                    .replace("Failure-Report: no\r\n", "")
                    .as_bytes(),
            ),
        );
        let Event::Transmit(r) = &events(&mut s)[0] else {
            panic!()
        };
        assert!(r.starts_with(b"MSRP di2fs53v 415 "));
        s.on_frame(
            Instant::now(),
            frame(
                F10.replace("1-44/44", "1-*/100000")
                    .replace("Failure-Report: no\r\n", "")
                    .as_bytes(),
            ),
        );
        let ev = events(&mut s);
        let Event::Transmit(r) = &ev[0] else { panic!() };
        assert!(r.starts_with(b"MSRP di2fs53v 413 "), "{ev:?}");
        assert_eq!(ev.len(), 1, "nothing delivered");
    }

    #[test]
    fn outbound_chunks_transactions_timeout_and_failure() {
        let mut s = me();
        let now = Instant::now();
        let body = vec![b'x'; 3000];
        s.send(
            now,
            Some("stanza-id-1"),
            "m1",
            "text/plain",
            &body,
            true,
            FailureReport::Yes,
        );
        let sent: Vec<Frame> = events(&mut s)
            .into_iter()
            .map(|e| match e {
                Event::Transmit(b) => frame(&b),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            sent[0].tid, "stanza-id-1",
            "RFC 7573 §4: first tid = stanza id"
        );
        assert_eq!(sent[0].header("Success-Report"), Some("yes"));
        assert_eq!(
            sent[0].header("To-Path"),
            Some("msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp")
        );
        // the first chunk is answered; the second never is → 408 after 30 s
        let ok = format!(
            "MSRP {} 200 OK\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\n-------{}$\r\n",
            sent[0].tid, sent[0].tid
        );
        s.on_frame(now, frame(ok.as_bytes()));
        assert!(events(&mut s).is_empty());
        assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(30)));
        s.handle_timeout(now + Duration::from_secs(30));
        assert_eq!(
            events(&mut s),
            vec![Event::SendFailed {
                message_id: "m1".into(),
                code: 408,
                reason: "Request Timeout".into()
            }]
        );
        // an error response fails the message
        s.send(
            now,
            None,
            "m2",
            "text/plain",
            b"hi",
            false,
            FailureReport::Yes,
        );
        let Event::Transmit(b) = &events(&mut s)[0] else {
            panic!()
        };
        let tid = frame(b).tid;
        let err = format!(
            "MSRP {tid} 413 too big\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\n-------{tid}$\r\n"
        );
        s.on_frame(now, frame(err.as_bytes()));
        assert_eq!(
            events(&mut s),
            vec![Event::SendFailed {
                message_id: "m2".into(),
                code: 413,
                reason: "too big".into()
            }]
        );
        // Failure-Report: no → no transaction to wait for
        s.send(
            now,
            None,
            "m3",
            "text/plain",
            b"hi",
            false,
            FailureReport::No,
        );
        events(&mut s);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn incoming_report_is_an_event_and_not_answered() {
        let mut s = me();
        let rep = "MSRP hx74g336 REPORT\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:7313/ansp71weztas;tcp\r\nMessage-ID: 6187CF9B317A41DA\r\nByte-Range: 1-22/22\r\nStatus: 000 200 OK\r\n-------hx74g336$\r\n";
        s.on_frame(Instant::now(), frame(rep.as_bytes()));
        assert_eq!(
            events(&mut s),
            vec![Event::Report {
                message_id: "6187CF9B317A41DA".into(),
                status: 200
            }]
        );
    }

    #[test]
    fn bodiless_binding_send_is_answered_not_delivered() {
        let mut s = me();
        let bind = "MSRP b1nd0001 SEND\r\nTo-Path: msrp://x2s.example.com:7654/jshA7weztas;tcp\r\nFrom-Path: msrp://s2x.example.net:12763/kjhd37s2s20w2a;tcp\r\nMessage-ID: bind0001\r\nByte-Range: 1-0/0\r\n-------b1nd0001$\r\n";
        s.on_frame(Instant::now(), frame(bind.as_bytes()));
        let ev = events(&mut s);
        assert_eq!(ev.len(), 1);
        assert!(matches!(&ev[0], Event::Transmit(b) if b.starts_with(b"MSRP b1nd0001 200 OK")));
    }
}
