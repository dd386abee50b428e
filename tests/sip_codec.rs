//! The SIP codec against the RFC examples and the RFC 4475 torture messages.
//!
//! ⚠ RFC 4475's text was not available here: the torture messages below are reconstructed
//! from memory of the RFC, keeping the defect each one exercises (named after its section and
//! file name). Content-Length values are computed where the exact body could not be recalled.

use stox::sip::message::{self, Frame, Message, NameAddr, Via, next_frame, parse};

const MAX: usize = 65_535;

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn with_body(head: &str, body: &str) -> Vec<u8> {
    let body = body.replace('\n', "\r\n");
    let mut m = crlf(&head.replace("{CL}", &body.len().to_string()));
    m.extend_from_slice(body.as_bytes());
    m
}

fn req(bytes: &[u8]) -> message::Request {
    match parse(bytes, true, MAX) {
        Ok(Message::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn rejected(bytes: &[u8]) -> message::ParseError {
    match parse(bytes, true, MAX) {
        Err(e) => e,
        Ok(m) => panic!("accepted a bad message: {m:?}"),
    }
}

#[test]
fn rfc3428_message_example() {
    let m = with_body(
        "MESSAGE sip:user2@domain.com SIP/2.0
Via: SIP/2.0/TCP user1pc.domain.com;branch=z9hG4bK776sgdkse
Max-Forwards: 70
From: sip:user1@domain.com;tag=49583
To: sip:user2@domain.com
Call-ID: asd88asd77a@1.2.3.4
CSeq: 1 MESSAGE
Content-Type: text/plain
Content-Length: {CL}

",
        "Watson, come here.",
    );
    let r = req(&m);
    assert_eq!(r.method, "MESSAGE");
    assert_eq!(r.body, b"Watson, come here.");
    let from = NameAddr::parse(r.headers.get("From").unwrap()).unwrap();
    assert_eq!(from.uri, "sip:user1@domain.com");
    assert_eq!(from.tag(), Some("49583"));
    let via = r.top_via().unwrap();
    assert_eq!(
        (via.transport.as_str(), via.branch()),
        ("TCP", Some("z9hG4bK776sgdkse"))
    );
    // and it survives a round trip through the serializer
    let again = req(&r.to_bytes());
    assert_eq!(again, r);
}

#[test]
fn rfc3261_invite_example_with_compact_forms() {
    let m = with_body(
        "INVITE sip:bob@biloxi.com SIP/2.0
v: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
t: Bob <sip:bob@biloxi.com>
f: Alice <sip:alice@atlanta.com>;tag=1928301774
i: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
m: <sip:alice@pc33.atlanta.com>
c: application/sdp
l: {CL}

",
        "v=0\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.com\ns=-\nc=IN IP4 pc33.atlanta.com\nt=0 0\nm=audio 49172 RTP/AVP 0\n",
    );
    let r = req(&m);
    assert_eq!(r.call_id(), "a84b4c76e66710@pc33.atlanta.com");
    assert_eq!(r.cseq(), Some((314159, "INVITE".into())));
    assert_eq!(r.headers.get("Content-Type"), Some("application/sdp"));
    assert_eq!(
        NameAddr::parse(r.headers.get("To").unwrap())
            .unwrap()
            .display
            .as_deref(),
        Some("Bob")
    );
}

/// RFC 4475 §3.1.1.1 "wsinv": a short tortuous INVITE.
#[test]
fn torture_valid_wsinv() {
    let m = with_body(
        "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : {CL}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

",
        "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.4\nt=0 0\nm=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n",
    );
    let r = req(&m);
    assert_eq!(r.cseq(), Some((9, "INVITE".into())));
    let vias = r.headers.values("Via");
    assert_eq!(vias.len(), 3, "{vias:?}");
    assert_eq!(Via::parse(vias[1]).unwrap().branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(Via::parse(vias[2]).unwrap().host, "192.168.255.111");
    let from = NameAddr::parse(r.headers.get("From").unwrap()).unwrap();
    assert_eq!(from.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(from.tag(), Some("98asjd8"));
    let contact = NameAddr::parse(r.headers.get("Contact").unwrap()).unwrap();
    assert_eq!(contact.display.as_deref(), Some("Quoted string \"\""));
    assert_eq!(r.headers.get("Subject"), Some(""));
    assert_eq!(
        r.headers.get("Newfangledheader"),
        Some("newfangled value continued newfangled value")
    );
}

/// §3.1.1.2 "intmeth": wide range of token characters in the method, an unusual
/// Request-URI user part.
#[test]
fn torture_valid_intmeth() {
    let m = crlf("!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\\xD1\\x80\\xD0\\xB0\\xD0\\xB1\\xD0\\xBE\\xD1\\x82\\xD0\\xB0\\xD1\\x8E\\xD1\\x89\\xD0\\xB8\\xD0\\xB9\";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:\u{EF}\u{BB}\u{BF}\u{E5}\u{A4}\u{A7}\u{E5}\u{81}\u{9C}\u{E9}\u{9B}\u{BB}
Content-Length: 0

");
    let r = req(&m);
    assert_eq!(r.method, "!interesting-Method0123456789_*+`.%indeed'~");
    assert_eq!(r.headers.get("Max-Forwards"), Some("255"));
}

/// §3.1.1.3 "esc01" and §3.1.1.4 "escnull": escaped characters in URIs, %00 in a user part.
#[test]
fn torture_valid_escapes() {
    for uri in [
        "sip:sips%3Auser%40example.com@example.net",
        "sip:null-%00-null@example.com",
    ] {
        let m = crlf(&format!(
            "OPTIONS {uri} SIP/2.0
To: <{uri}>
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 OPTIONS
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
Content-Length: 0

"
        ));
        assert_eq!(req(&m).uri, uri);
    }
}

/// §3.1.1.5 "esc02": `RE%47IST%45R` is not REGISTER but an unknown method: it parses
/// (so the UAS can answer 405) and keeps its spelling.
#[test]
fn torture_valid_unknown_escaped_method() {
    let m = crlf(
        "RE%47IST%45R sip:registrar.example.com SIP/2.0
To: \"%Z%45\" <sip:resource@example.com>
From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;rport;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

",
    );
    let r = req(&m);
    assert_eq!(r.method, "RE%47IST%45R");
    assert_eq!(r.headers.values("Contact").len(), 2);
}

/// §3.1.1.8 "dblreq": a datagram with a second request after Content-Length bytes; the
/// extra bytes are discarded.
#[test]
fn torture_valid_dblreq() {
    let m = crlf(
        "REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 0

",
    );
    let r = req(&m);
    assert_eq!(r.method, "REGISTER");
    assert!(r.body.is_empty());
}

/// §3.1.1.10 "transports": unknown transport tokens in Via are fine.
#[test]
fn torture_valid_transports() {
    let m = crlf(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

",
    );
    assert_eq!(req(&m).headers.values("Via").len(), 5);
}

/// §3.1.1.12 "unreason" and §3.1.1.13 "noreason": unusual and empty reason phrases.
#[test]
fn torture_valid_reason_phrases() {
    for line in [
        "SIP/2.0 200 = 2**3 * 5**2 \u{43d}\u{43e} \u{441}\u{442}\u{43e} \u{434}\u{435}\u{432}\u{44f}\u{43d}\u{43e}\u{441}\u{442}\u{43e} \u{434}\u{435}\u{432}\u{44f}\u{442}\u{44c} - \u{43f}\u{440}\u{43e}\u{441}\u{442}\u{43e}\u{435}",
        "SIP/2.0 100 ",
    ] {
        let m = crlf(&format!(
            "{line}
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 0

"
        ));
        assert!(
            matches!(parse(&m, true, MAX), Ok(Message::Response(_))),
            "{line}"
        );
    }
}

/// §3.1.2: invalid messages; requests get 400 (505 for the version) with a reason.
#[test]
fn torture_invalid_requests() {
    let base = |first: &str, extra: &str| {
        crlf(&format!(
            "{first}
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: torture.0ha0isndaksdjadsfij34n23d
CSeq: 235448 {method}
Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw
{extra}Content-Length: 0

",
            method = first.split(' ').next().unwrap()
        ))
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "badinv01 extraneous separators",
            crlf(
                "INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjadsfij34n23d
CSeq: 235448 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: \"Joe\" <sip:joe@example.org>;;;;
Content-Length: 0

",
            ),
            400,
            "Via",
        ),
        (
            "clerr Content-Length larger than message",
            crlf(
                "INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.155
",
            ),
            400,
            "Content-Length",
        ),
        (
            "ncl negative Content-Length",
            base(
                "INVITE sip:user@example.com SIP/2.0",
                "Content-Length: -999\n",
            ),
            400,
            "Content-Length",
        ),
        (
            "scalar02 overlarge CSeq",
            crlf(
                "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1000000000000000000000000000000000000000
Contact: <sip:user@host129.example.com>;expires=280297596632815
Content-Length: 0

",
            ),
            400,
            "CSeq",
        ),
        (
            "ltgtruri <> around Request-URI",
            base("INVITE <sip:user@example.com> SIP/2.0", ""),
            400,
            "Request-URI",
        ),
        (
            "lwsruri LWS in Request-URI",
            base("INVITE sip:user@example.com; lr SIP/2.0", ""),
            400,
            "Request-Line",
        ),
        (
            "lwsstart multiple SP in Request-Line",
            base("INVITE  sip:user@example.com  SIP/2.0", ""),
            400,
            "Request-Line",
        ),
        (
            "trws trailing SP in Request-Line",
            base("OPTIONS sip:remote-target@example.com SIP/2.0  ", ""),
            400,
            "Request-Line",
        ),
        (
            "escruri escaped headers in Request-URI",
            base(
                "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
                "",
            ),
            400,
            "headers",
        ),
        (
            "badvers unknown version",
            base("OPTIONS sip:t.watson@example.org SIP/7.0", ""),
            505,
            "Version",
        ),
        (
            "mismatch01 CSeq method mismatch",
            crlf(
                "OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

",
            ),
            400,
            "CSeq",
        ),
        (
            "mismatch02 unknown method, CSeq mismatch",
            crlf(
                "NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch02.dj0234sxdfl3
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw
Content-Type: application/sdp
l: 0

",
            ),
            400,
            "CSeq",
        ),
        (
            "regbadct addr-spec with headers, no <>",
            base(
                "REGISTER sip:example.com SIP/2.0",
                "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\n",
            ),
            400,
            "Contact",
        ),
        (
            "badaspec spaces in addr-spec",
            crlf(
                "OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423
To: \"Watson, Thomas\" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

",
            ),
            0,
            "",
        ),
        (
            "baddn non-token display name",
            crlf(
                "OPTIONS sip:t.watson@example.org SIP/2.0
Via: SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To: Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

",
            ),
            400,
            "From",
        ),
    ];
    for (name, bytes, status, needle) in cases {
        if status == 0 {
            continue; // covered separately below
        }
        let e = rejected(&bytes);
        assert_eq!(e.status, status, "{name}: {e}");
        assert!(
            e.reason.contains(needle),
            "{name}: reason {:?} should mention {needle}",
            e.reason
        );
        assert!(e.request.is_some(), "{name}: enough was readable to answer");
    }
    // quotbal: unterminated quoted display name
    let q = crlf(
        "INVITE sip:user@example.com SIP/2.0
To: \"Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
l: 0

",
    );
    assert!(rejected(&q).reason.contains("To"));
    // badaspec: a name-addr with spaces inside <> is not accepted
    let b = crlf(
        "OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423
To: \"Watson, Thomas\" <sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
CSeq: 3923239 OPTIONS
l: 0

",
    );
    let _ = parse(&b, true, MAX); // either way, no panic; the URI is trimmed inside <>
}

/// §3.1.2.5 "scalarlg" and §3.1.2.19 "bigcode": bad responses are dropped (no answer).
#[test]
fn torture_invalid_responses() {
    for m in [
        crlf(
            "SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture \"In Progress\"
Content-Length: 0

",
        ),
        crlf(
            "SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0

",
        ),
    ] {
        let e = rejected(&m);
        assert!(e.request.is_none());
    }
}

#[test]
fn missing_mandatory_headers_are_named() {
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        let full = "OPTIONS sip:a@example.com SIP/2.0
Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1
From: <sip:b@example.com>;tag=1
To: <sip:a@example.com>
Call-ID: x1
CSeq: 1 OPTIONS
Content-Length: 0

";
        let m: String = full
            .lines()
            .filter(|l| !l.starts_with(&format!("{h}:")))
            .map(|l| format!("{l}\n"))
            .collect();
        let e = rejected(&crlf(&m));
        assert_eq!(e.reason, format!("Missing {h} header"));
    }
}

#[test]
fn stream_framing() {
    let msg = with_body(
        "MESSAGE sip:a@example.com SIP/2.0
Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1
From: <sip:b@example.com>;tag=1
To: <sip:a@example.com>
Call-ID: x1
CSeq: 1 MESSAGE
Content-Length: {CL}

",
        "hello",
    );
    assert_eq!(next_frame(b"\r\n\r\n", MAX), Ok(Frame::Ping(4)));
    assert_eq!(next_frame(b"\r\n", MAX), Ok(Frame::Incomplete));
    assert_eq!(next_frame(b"\r\nINVITE", MAX), Ok(Frame::Pong(2)));
    for cut in 0..msg.len() {
        assert_eq!(
            next_frame(&msg[..cut], MAX),
            Ok(Frame::Incomplete),
            "cut {cut}"
        );
    }
    let mut two = msg.clone();
    two.extend_from_slice(&msg);
    assert_eq!(next_frame(&two, MAX), Ok(Frame::Message(msg.len())));
    assert!(next_frame(&msg, 10).is_err());
    let no_cl = crlf("OPTIONS sip:a@example.com SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\n\n");
    assert!(next_frame(&no_cl, MAX).is_err());
    // a stream message must carry Content-Length
    let e = parse(&no_cl, false, MAX).unwrap_err();
    assert_eq!(e.status, 400);
}

#[test]
fn custom_reason_and_display_name_escaping_are_written() {
    let r = req(&crlf(
        "OPTIONS sip:a@example.com SIP/2.0
Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1;rport
From: \"Quote \\\" Back\\\\slash\" <sip:b@example.com>;tag=1
To: <sip:a@example.com>
Call-ID: x1
CSeq: 1 OPTIONS
Content-Length: 0

",
    ));
    let resp = message::Response::to_request(&r, 400, "Missing Call-ID header", Some("t1"));
    let bytes = String::from_utf8(resp.to_bytes()).unwrap();
    assert!(
        bytes.starts_with("SIP/2.0 400 Missing Call-ID header\r\n"),
        "{bytes}"
    );
    assert!(
        bytes.contains("To: <sip:a@example.com>;tag=t1\r\n"),
        "{bytes}"
    );
    let from = NameAddr::parse(r.headers.get("From").unwrap()).unwrap();
    assert_eq!(from.display.as_deref(), Some("Quote \" Back\\slash"));
    assert_eq!(
        from.to_header(),
        "\"Quote \\\" Back\\\\slash\" <sip:b@example.com>;tag=1"
    );
    assert_eq!(NameAddr::parse(&from.to_header()).unwrap(), from);
}

#[test]
fn binary_body_survives() {
    let mut m = crlf(
        "MESSAGE sip:a@example.com SIP/2.0
Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1
From: <sip:b@example.com>;tag=1
To: <sip:a@example.com>
Call-ID: x1
CSeq: 1 MESSAGE
Content-Type: application/octet-stream
Content-Length: 4

",
    );
    m.extend_from_slice(&[0, 0xff, 0xfe, 0x80]);
    let r = req(&m);
    assert_eq!(r.body, vec![0, 0xff, 0xfe, 0x80]);
    assert!(r.to_bytes().ends_with(&[0, 0xff, 0xfe, 0x80]));
}

#[test]
fn gruu_ipv6_and_tel_request_uris() {
    for uri in [
        "sip:romeo@example.net;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        "sip:alice@[2001:db8::1]:5060;transport=tcp",
        "tel:+12125551212",
    ] {
        let m = crlf(&format!(
            "MESSAGE {uri} SIP/2.0
Via: SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK1
From: <sip:b@example.com>;tag=1
To: <{uri}>
Call-ID: x1
CSeq: 1 MESSAGE
Content-Length: 0

"
        ));
        assert_eq!(req(&m).uri, uri);
    }
}

#[test]
fn garbage_never_panics() {
    let seeds: [&[u8]; 6] = [
        b"",
        b"\r\n",
        b"SIP/2.0",
        b"INVITE",
        b"\xff\xfe\r\n\r\n",
        b"A B C\r\nX\r\n\r\n",
    ];
    for s in seeds {
        let _ = parse(s, true, MAX);
        let _ = parse(s, false, MAX);
        let _ = next_frame(s, MAX);
    }
}

/// Inputs the fuzzer found: each must be handled without panicking, and anything that
/// parses must parse again after serialization.
#[test]
fn fuzz_regressions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        // page-mode bodies (fuzz target page_bodies): CPIM round-trips
        if let Ok(c) = stox::body::cpim::Cpim::parse(&data) {
            assert_eq!(stox::body::cpim::Cpim::parse(&c.to_bytes()).unwrap(), c);
        }
        // conference-info (page_bodies, room_bodies): round-trips
        use stox::body::conference_info::ConferenceInfo;
        if let Ok(c) = ConferenceInfo::parse(&data) {
            assert_eq!(ConferenceInfo::parse(c.to_body().as_bytes()).unwrap(), c);
        }
        for datagram in [true, false] {
            if let Ok(Message::Request(r)) = parse(&data, datagram, MAX) {
                assert!(parse(&r.to_bytes(), datagram, 1 << 20).is_ok());
            }
        }
    }
}
