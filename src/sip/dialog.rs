//! SIP dialogs (RFC 3261 §12), sans-IO: created from an INVITE or SUBSCRIBE and its
//! response, they keep the route set, remote target and CSeq rules, and build in-dialog
//! requests (BYE, re-INVITE, NOTIFY, ACK for a 2xx). Time plays no part here; the timers
//! that end dialogs live in the transaction layer and in [`super::subscription`].

use std::collections::HashMap;

use super::message::{Method, NameAddr, Request, Response};

/// Call-ID plus both tags (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
/// Dialog state (RFC 3261 §12).
pub enum State {
    /// Created by a provisional response with a To tag.
    Early,
    /// Established by a 2xx.
    Confirmed,
    /// Ended by BYE.
    Terminated,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
/// One dialog (RFC 3261 §12): identity, sequence numbers, route set, remote target.
pub struct Dialog {
    /// Call-ID and tags.
    pub id: DialogId,
    /// See [`State`].
    pub state: State,
    /// Our last CSeq; in-dialog requests use the next one.
    pub local_seq: u32,
    /// The peer's last CSeq; `None` until it sends a request in the dialog.
    pub remote_seq: Option<u32>,
    /// Our From/To URI (with display name), without tags.
    pub local: NameAddr,
    /// The peer's URI (To or From, without tag).
    pub remote: NameAddr,
    /// Where in-dialog requests go: the peer's Contact (§12.1.1/§12.1.2).
    pub remote_target: String,
    /// Route set, in the order to put in Route headers.
    pub route_set: Vec<String>,
    /// Every request of a dialog created over sips:/TLS must stay secure (§12.1.1).
    pub secure: bool,
}

/// Why an in-dialog request was refused (the status code to answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refuse {
    /// §12.2.2: CSeq lower than the last one → 500.
    OutOfOrder,
    /// The dialog is over → 481.
    Gone,
}

impl Refuse {
    /// The status to answer with.
    pub fn code(self) -> u16 {
        match self {
            Refuse::OutOfOrder => 500,
            Refuse::Gone => 481,
        }
    }
}

fn without_tag(na: &NameAddr) -> NameAddr {
    NameAddr {
        display: na.display.clone(),
        uri: na.uri.clone(),
        params: na
            .params
            .iter()
            .filter(|(k, _)| k != "tag")
            .cloned()
            .collect(),
    }
}

fn contact_uri(h: &super::message::Headers) -> Option<String> {
    let c = *h.values("Contact").first()?;
    NameAddr::parse(c).map(|n| n.uri)
}

impl Dialog {
    /// UAS side (§12.1.1): the request that creates the dialog and the To tag we answer
    /// with. The route set is the request's Record-Route, in order; the remote target its
    /// Contact.
    pub fn uas(req: &Request, local_tag: &str) -> Option<Dialog> {
        let from = NameAddr::parse(req.headers.get("From")?)?;
        let to = NameAddr::parse(req.headers.get("To")?)?;
        let remote_tag = from.tag()?.to_string();
        Some(Dialog {
            id: DialogId {
                call_id: req.call_id().to_string(),
                local_tag: local_tag.to_string(),
                remote_tag,
            },
            state: State::Confirmed,
            local_seq: 0,
            remote_seq: Some(req.cseq()?.0),
            local: without_tag(&to),
            remote: without_tag(&from),
            remote_target: contact_uri(&req.headers)?,
            route_set: req
                .headers
                .values("Record-Route")
                .into_iter()
                .map(String::from)
                .collect(),
            secure: req.uri.to_ascii_lowercase().starts_with("sips:"),
        })
    }

    /// UAC side (§12.1.2): our request and a response with a To tag (101–299). The route set
    /// is the response's Record-Route reversed.
    pub fn uac(req: &Request, resp: &Response) -> Option<Dialog> {
        if !(101..300).contains(&resp.code) {
            return None;
        }
        let from = NameAddr::parse(req.headers.get("From")?)?;
        let to = NameAddr::parse(resp.headers.get("To")?)?;
        let mut route_set: Vec<String> = resp
            .headers
            .values("Record-Route")
            .into_iter()
            .map(String::from)
            .collect();
        route_set.reverse();
        Some(Dialog {
            id: DialogId {
                call_id: req.call_id().to_string(),
                local_tag: from.tag()?.to_string(),
                remote_tag: to.tag()?.to_string(),
            },
            state: if resp.code < 200 {
                State::Early
            } else {
                State::Confirmed
            },
            local_seq: req.cseq()?.0,
            remote_seq: None,
            local: without_tag(&from),
            remote: without_tag(&to),
            remote_target: contact_uri(&resp.headers).unwrap_or_else(|| req.uri.clone()),
            route_set,
            secure: req.uri.to_ascii_lowercase().starts_with("sips:"),
        })
    }

    /// A later response in the same dialog: 2xx confirms, and its Contact and (for an early
    /// dialog) Record-Route replace what the provisional said (§12.1.2, §13.2.2.4).
    pub fn on_response(&mut self, resp: &Response) {
        if (200..300).contains(&resp.code) && self.state == State::Early {
            self.state = State::Confirmed;
            let mut rs: Vec<String> = resp
                .headers
                .values("Record-Route")
                .into_iter()
                .map(String::from)
                .collect();
            rs.reverse();
            self.route_set = rs;
        }
        if let Some(c) = contact_uri(&resp.headers) {
            self.remote_target = c;
        }
        if resp.code >= 300 && self.state == State::Early {
            self.state = State::Terminated;
        }
    }

    /// An in-dialog request from the peer (§12.2.2): CSeq must not go backwards (ACK and
    /// CANCEL reuse the INVITE's); target-refresh requests update the remote target; BYE
    /// ends the dialog.
    pub fn on_request(&mut self, req: &Request) -> Result<(), Refuse> {
        if self.state == State::Terminated {
            return Err(Refuse::Gone);
        }
        let seq = req.cseq().map(|(n, _)| n).unwrap_or(0);
        if !matches!(req.method.as_str(), "ACK" | "CANCEL") {
            if let Some(last) = self.remote_seq
                && seq <= last
            {
                return Err(Refuse::OutOfOrder);
            }
            self.remote_seq = Some(seq);
        }
        if matches!(
            req.method.as_str(),
            "INVITE" | "UPDATE" | "SUBSCRIBE" | "NOTIFY" | "REFER"
        ) && let Some(c) = contact_uri(&req.headers)
        {
            self.remote_target = c;
        }
        if req.method == Method::Bye {
            self.state = State::Terminated;
        }
        Ok(())
    }

    /// Parts of a new in-dialog request (§12.2.1.1): Request-URI, Route headers, From, To,
    /// Call-ID and CSeq. ACK reuses the INVITE's CSeq (`ack_of`). A strict-routing first
    /// hop (no `lr`) becomes the Request-URI with the remote target appended as last Route.
    pub fn request(&mut self, method: impl Into<Method>, ack_of: Option<u32>) -> InDialog {
        let method = method.into();
        let seq = match ack_of {
            Some(s) => s,
            None => {
                self.local_seq = self.local_seq.saturating_add(1);
                self.local_seq
            }
        };
        if method == Method::Bye {
            self.state = State::Terminated;
        }
        let mut from = self.local.clone();
        from.params
            .push(("tag".into(), Some(self.id.local_tag.clone())));
        let mut to = self.remote.clone();
        to.params
            .push(("tag".into(), Some(self.id.remote_tag.clone())));
        let first_strict = self
            .route_set
            .first()
            .and_then(|r| NameAddr::parse(r))
            .is_some_and(|na| !na.uri.split(';').any(|p| p.eq_ignore_ascii_case("lr")));
        let (uri, routes) = if first_strict {
            let mut routes: Vec<String> = self.route_set.iter().skip(1).cloned().collect();
            routes.push(format!("<{}>", self.remote_target));
            let first = self
                .route_set
                .first()
                .and_then(|r| NameAddr::parse(r))
                .map(|n| n.uri)
                .unwrap_or_default();
            (first, routes)
        } else {
            (self.remote_target.clone(), self.route_set.clone())
        };
        InDialog {
            method,
            uri,
            routes,
            from: from.to_header(),
            to: to.to_header(),
            call_id: self.id.call_id.clone(),
            cseq: seq,
        }
    }
}

/// What an in-dialog request needs besides Via, Max-Forwards and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InDialog {
    /// The method.
    pub method: Method,
    /// Request-URI: the remote target (or the first strict route).
    pub uri: String,
    /// Route headers.
    pub routes: Vec<String>,
    /// From with our tag.
    pub from: String,
    /// To with the peer's tag.
    pub to: String,
    /// The Call-ID.
    pub call_id: String,
    /// The CSeq number.
    pub cseq: u32,
}

/// Dialogs by (Call-ID, local tag) — what an incoming in-dialog request can be matched on
/// before the remote tag is checked.
#[derive(Debug, Default)]
pub struct Dialogs {
    map: HashMap<(String, String), Dialog>,
}

impl Dialogs {
    /// Adds a dialog.
    pub fn insert(&mut self, d: Dialog) {
        self.map
            .insert((d.id.call_id.clone(), d.id.local_tag.clone()), d);
    }

    /// A dialog by its key.
    pub fn get_mut(&mut self, call_id: &str, local_tag: &str) -> Option<&mut Dialog> {
        self.map
            .get_mut(&(call_id.to_string(), local_tag.to_string()))
    }

    /// Removes a dialog.
    pub fn remove(&mut self, call_id: &str, local_tag: &str) -> Option<Dialog> {
        self.map
            .remove(&(call_id.to_string(), local_tag.to_string()))
    }

    /// Dialogs held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// None held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The dialog an incoming request belongs to (To tag = our local tag, From tag = theirs).
    pub fn for_request(&mut self, req: &Request) -> Option<&mut Dialog> {
        let local = NameAddr::parse(req.headers.get("To")?)?.tag()?.to_string();
        let remote = NameAddr::parse(req.headers.get("From")?)?
            .tag()?
            .to_string();
        let d = self.map.get_mut(&(req.call_id().to_string(), local))?;
        (d.id.remote_tag == remote).then_some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{Message, parse};

    fn req(s: &str) -> Request {
        match parse(s.replace('\n', "\r\n").as_bytes(), true, 65535).unwrap() {
            Message::Request(r) => r,
            _ => unreachable!(),
        }
    }

    fn resp(s: &str) -> Response {
        match parse(s.replace('\n', "\r\n").as_bytes(), true, 65535).unwrap() {
            Message::Response(r) => r,
            _ => unreachable!(),
        }
    }

    // RFC 3665 §3.2-style INVITE through two record-routing proxies.
    const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/TCP ss2.biloxi.example.com:5060;branch=z9hG4bK721e4.1
Via: SIP/2.0/TCP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9
Max-Forwards: 68
Record-Route: <sip:ss2.biloxi.example.com;lr>
Record-Route: <sip:ss1.atlanta.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>
Content-Length: 0

";

    #[test]
    fn uas_dialog_from_invite() {
        let r = req(INVITE);
        let mut d = Dialog::uas(&r, "8321234356").unwrap();
        assert_eq!(d.remote_seq, Some(1));
        assert_eq!(
            d.remote_target,
            "sip:alice@client.atlanta.example.com;transport=tcp"
        );
        assert_eq!(
            d.route_set,
            vec![
                "<sip:ss2.biloxi.example.com;lr>",
                "<sip:ss1.atlanta.example.com;lr>"
            ]
        );
        let bye = d.request("BYE", None);
        assert_eq!(
            bye.uri,
            "sip:alice@client.atlanta.example.com;transport=tcp"
        );
        assert_eq!(bye.routes, d.route_set);
        assert_eq!(
            bye.from,
            "\"Bob\" <sip:bob@biloxi.example.com>;tag=8321234356"
        );
        assert_eq!(
            bye.to,
            "\"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl"
        );
        assert_eq!(bye.cseq, 1);
        assert_eq!(d.state, State::Terminated);
    }

    #[test]
    fn uac_dialog_reverses_the_route_set_and_follows_contact() {
        let r = req(INVITE);
        let early = resp(
            "SIP/2.0 180 Ringing
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9
Record-Route: <sip:ss2.biloxi.example.com;lr>
Record-Route: <sip:ss1.atlanta.example.com;lr>
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example.com>;tag=8321234356
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 1 INVITE
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>
Content-Length: 0

",
        );
        let mut d = Dialog::uac(&r, &early).unwrap();
        assert_eq!(d.state, State::Early);
        assert_eq!(
            d.route_set,
            vec![
                "<sip:ss1.atlanta.example.com;lr>",
                "<sip:ss2.biloxi.example.com;lr>"
            ]
        );
        let ok = resp(&early_to_ok(&early));
        d.on_response(&ok);
        assert_eq!(d.state, State::Confirmed);
        assert_eq!(
            d.remote_target,
            "sip:bob@client.biloxi.example.com;transport=tcp"
        );
        let ack = d.request("ACK", Some(1));
        assert_eq!(
            (ack.cseq, ack.uri.as_str()),
            (1, "sip:bob@client.biloxi.example.com;transport=tcp")
        );
        let reinv = d.request("INVITE", None);
        assert_eq!(reinv.cseq, 2);
    }

    fn early_to_ok(early: &Response) -> String {
        let mut r = early.clone();
        r.code = 200;
        r.reason = "OK".into();
        String::from_utf8(r.to_bytes())
            .unwrap()
            .replace("\r\n", "\n")
    }

    #[test]
    fn strict_router_first_hop() {
        let r = req(&INVITE.replace(
            "<sip:ss2.biloxi.example.com;lr>",
            "<sip:ss2.biloxi.example.com>",
        ));
        let mut d = Dialog::uas(&r, "t").unwrap();
        let bye = d.request("BYE", None);
        assert_eq!(bye.uri, "sip:ss2.biloxi.example.com");
        assert_eq!(
            bye.routes,
            vec![
                "<sip:ss1.atlanta.example.com;lr>".to_string(),
                "<sip:alice@client.atlanta.example.com;transport=tcp>".to_string()
            ]
        );
    }

    #[test]
    fn cseq_rules_and_bye() {
        let r = req(INVITE);
        let mut d = Dialog::uas(&r, "t").unwrap();
        let in_dialog = |m: &str, n: u32| {
            req(&INVITE
                .replace("INVITE sip:bob", &format!("{m} sip:bob"))
                .replace(
                    "To: Bob <sip:bob@biloxi.example.com>",
                    "To: Bob <sip:bob@biloxi.example.com>;tag=t",
                )
                .replace("CSeq: 1 INVITE", &format!("CSeq: {n} {m}")))
        };
        assert_eq!(d.on_request(&in_dialog("ACK", 1)), Ok(()));
        assert_eq!(
            d.on_request(&in_dialog("INVITE", 1)),
            Err(Refuse::OutOfOrder)
        );
        let reinvite = req(&INVITE
            .replace(
                "To: Bob <sip:bob@biloxi.example.com>",
                "To: Bob <sip:bob@biloxi.example.com>;tag=t",
            )
            .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")
            .replace(
                "Contact: <sip:alice@client.atlanta.example.com;transport=tcp>",
                "Contact: <sip:alice@new.atlanta.example.com>",
            ));
        assert_eq!(d.on_request(&reinvite), Ok(()));
        assert_eq!(d.remote_target, "sip:alice@new.atlanta.example.com");
        assert_eq!(d.on_request(&in_dialog("BYE", 3)), Ok(()));
        assert_eq!(d.state, State::Terminated);
        assert_eq!(d.on_request(&in_dialog("BYE", 4)), Err(Refuse::Gone));
        assert_eq!(Refuse::Gone.code(), 481);
    }

    #[test]
    fn table_matches_on_both_tags() {
        let mut t = Dialogs::default();
        t.insert(Dialog::uas(&req(INVITE), "t").unwrap());
        let bye = req(&INVITE
            .replace("INVITE sip:bob", "BYE sip:bob")
            .replace("CSeq: 1 INVITE", "CSeq: 2 BYE")
            .replace(
                "To: Bob <sip:bob@biloxi.example.com>",
                "To: Bob <sip:bob@biloxi.example.com>;tag=t",
            ));
        assert!(t.for_request(&bye).is_some());
        let wrong = req(&bye_to_other_tag(&bye));
        assert!(t.for_request(&wrong).is_none());
        assert_eq!(t.len(), 1);
        assert!(
            t.remove("3848276298220188511@atlanta.example.com", "t")
                .is_some()
        );
        assert!(t.is_empty());
    }

    fn bye_to_other_tag(bye: &Request) -> String {
        String::from_utf8(bye.to_bytes())
            .unwrap()
            .replace(";tag=9fxced76sl", ";tag=other")
            .replace("\r\n", "\n")
    }
}
