//! `message/imdn+xml` (RFC 5438 §7): delivery and display notifications, both ways.
//! Parsed with minidom (already in the tree through tokio-xmpp); written as text.

use super::xml_escape as esc;

/// The MIME type of IMDN documents.
pub const CONTENT_TYPE: &str = "message/imdn+xml";
/// Their XML namespace.
pub const NS: &str = "urn:ietf:params:xml:ns:imdn";

/// Which notification a document is (RFC 5438 §7.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<delivery-notification/>`
    Delivery,
    /// `<display-notification/>`
    Display,
    /// `<processing-notification/>`
    Processing,
}

/// The `<status/>` of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Delivered to the recipient.
    Delivered,
    /// Shown to the recipient.
    Displayed,
    /// Processed (or stored) by an intermediary.
    Processed,
    /// Stored for later delivery.
    Stored,
    /// Not delivered.
    Failed,
    /// The recipient refused to say.
    Forbidden,
    /// Something went wrong.
    Error,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Delivered => "delivered",
            Status::Displayed => "displayed",
            Status::Processed => "processed",
            Status::Stored => "stored",
            Status::Failed => "failed",
            Status::Forbidden => "forbidden",
            Status::Error => "error",
        }
    }
}

/// One IMDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imdn {
    /// The `imdn.Message-ID` of the message it is about.
    pub message_id: String,
    /// When (RFC 3339), as written.
    pub datetime: Option<String>,
    /// The recipient the notification is about.
    pub recipient_uri: Option<String>,
    /// Delivery, display or processing.
    pub kind: Kind,
    /// What happened.
    pub status: Status,
}

impl Imdn {
    /// Parses a document; the error says what is wrong.
    pub fn parse(body: &[u8]) -> Result<Imdn, String> {
        let root = super::xml_root(body, "IMDN")?;
        if !root.is("imdn", NS) {
            return Err("not an <imdn/> document".into());
        }
        let text_of = |name: &str| {
            root.get_child(name, NS)
                .map(|e| e.text().trim().to_string())
                .filter(|t| !t.is_empty())
        };
        let message_id = text_of("message-id").ok_or("IMDN without <message-id/>")?;
        let (kind, note) = [
            (Kind::Delivery, "delivery-notification"),
            (Kind::Display, "display-notification"),
            (Kind::Processing, "processing-notification"),
        ]
        .into_iter()
        .find_map(|(k, n)| root.get_child(n, NS).map(|e| (k, e)))
        .ok_or("IMDN without a notification")?;
        let status = note
            .get_child("status", NS)
            .and_then(|s| s.children().next())
            .map(|c| c.name().to_string())
            .ok_or("IMDN notification without <status/>")?;
        let status = match status.as_str() {
            "delivered" => Status::Delivered,
            "displayed" => Status::Displayed,
            "processed" => Status::Processed,
            "stored" => Status::Stored,
            "failed" => Status::Failed,
            "forbidden" => Status::Forbidden,
            "error" => Status::Error,
            other => return Err(format!("unknown IMDN status <{other}/>")),
        };
        Ok(Imdn {
            message_id,
            datetime: text_of("datetime"),
            recipient_uri: text_of("recipient-uri"),
            kind,
            status,
        })
    }

    /// The document as sent.
    pub fn to_body(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n");
        s.push_str(&format!("<imdn xmlns=\"{NS}\">\r\n"));
        s.push_str(&format!(
            "<message-id>{}</message-id>\r\n",
            esc(&self.message_id)
        ));
        if let Some(d) = &self.datetime {
            s.push_str(&format!("<datetime>{}</datetime>\r\n", esc(d)));
        }
        if let Some(r) = &self.recipient_uri {
            s.push_str(&format!("<recipient-uri>{}</recipient-uri>\r\n", esc(r)));
        }
        let note = match self.kind {
            Kind::Delivery => "delivery-notification",
            Kind::Display => "display-notification",
            Kind::Processing => "processing-notification",
        };
        s.push_str(&format!(
            "<{note}><status><{}/></status></{note}>\r\n</imdn>\r\n",
            self.status.name()
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5438 §7.2.1.1 (delivery notification example), with the `standalone` declaration
    /// Linphone writes.
    const DELIVERED: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<imdn xmlns="urn:ietf:params:xml:ns:imdn">
  <message-id>34jk324j</message-id>
  <datetime>2008-04-04T12:16:49-05:00</datetime>
  <recipient-uri>im:bob@example.com</recipient-uri>
  <original-recipient-uri>im:bob@example.com</original-recipient-uri>
  <delivery-notification>
    <status>
      <delivered/>
    </status>
  </delivery-notification>
</imdn>"#;

    #[test]
    fn rfc5438_delivery_notification() {
        let i = Imdn::parse(DELIVERED.as_bytes()).unwrap();
        assert_eq!(i.message_id, "34jk324j");
        assert_eq!(i.kind, Kind::Delivery);
        assert_eq!(i.status, Status::Delivered);
        assert_eq!(i.recipient_uri.as_deref(), Some("im:bob@example.com"));
        assert_eq!(Imdn::parse(i.to_body().as_bytes()).unwrap(), i);
    }

    #[test]
    fn display_and_failures() {
        let displayed = DELIVERED
            .replace("delivery-notification", "display-notification")
            .replace("<delivered/>", "<displayed/>");
        let i = Imdn::parse(displayed.as_bytes()).unwrap();
        assert_eq!((i.kind, i.status), (Kind::Display, Status::Displayed));
        let failed = DELIVERED.replace("<delivered/>", "<failed/>");
        assert_eq!(
            Imdn::parse(failed.as_bytes()).unwrap().status,
            Status::Failed
        );
        for bad in [
            "<imdn xmlns='urn:ietf:params:xml:ns:imdn'/>",
            "<x/>",
            "not xml",
            "<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>a</message-id><delivery-notification><status><odd/></status></delivery-notification></imdn>",
        ] {
            assert!(Imdn::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
