//! Error mapping both ways, RFC 7247 §7 (Tables 2 and 3), as tables that read like the RFC.

use xmpp_parsers::stanza_error::{DefinedCondition as C, StanzaError};

use crate::xmpp::stanza;

/// RFC 7247 §7.2 Table 3: SIP status → XMPP condition, with the class fallback for codes the
/// table does not list (3xx redirect, 4xx bad-request, 5xx internal-server-error,
/// 6xx recipient-unavailable). `contact` feeds `<gone/>` for a 301 (MUST carry the address).
// The listed codes come first, then the class fallback, exactly as the RFC reads.
#[allow(clippy::match_overlapping_arm)]
pub fn sip_to_condition(code: u16, contact: Option<&str>) -> C {
    match code {
        300 | 302 | 305 => C::Redirect { new_address: None },
        301 => C::Gone {
            new_address: contact.map(String::from),
        },
        380 => C::NotAcceptable,
        400 => C::BadRequest,
        401 => C::NotAuthorized,
        402 => C::BadRequest,
        403 => C::Forbidden,
        404 => C::ItemNotFound,
        405 => C::FeatureNotImplemented,
        406 => C::NotAcceptable,
        407 => C::RegistrationRequired,
        408 => C::RemoteServerTimeout,
        410 => C::Gone { new_address: None },
        413 | 414 => C::PolicyViolation,
        415 | 416 => C::NotAcceptable,
        420 => C::FeatureNotImplemented,
        421 => C::NotAcceptable,
        423 => C::ResourceConstraint,
        430 => C::RecipientUnavailable,
        439 => C::FeatureNotImplemented,
        440 => C::PolicyViolation,
        480 => C::RecipientUnavailable,
        481 => C::ItemNotFound,
        482 | 483 => C::NotAcceptable,
        484 | 485 => C::ItemNotFound,
        486 | 487 => C::RecipientUnavailable,
        488 => C::NotAcceptable,
        489 => C::PolicyViolation,
        491 => C::UnexpectedRequest,
        493 => C::BadRequest,
        500 => C::InternalServerError,
        501 => C::FeatureNotImplemented,
        502 => C::RemoteServerNotFound,
        // Not service-unavailable: RFC 7247 §7.1 note 5.
        503 => C::InternalServerError,
        504 => C::RemoteServerTimeout,
        505 => C::NotAcceptable,
        513 => C::PolicyViolation,
        600 | 603 => C::RecipientUnavailable,
        604 => C::ItemNotFound,
        606 => C::NotAcceptable,
        300..=399 => C::Redirect { new_address: None },
        400..=499 => C::BadRequest,
        500..=599 => C::InternalServerError,
        _ => C::RecipientUnavailable,
    }
}

/// The stanza error for a SIP final response: condition from Table 3, the SIP status and
/// reason phrase as `<text/>` (RFC 7247 §7: "reasonable to map the Reason-Phrase").
pub fn sip_to_xmpp(code: u16, reason: &str, contact: Option<&str>) -> StanzaError {
    let text = if reason.is_empty() {
        format!("SIP {code}")
    } else {
        format!("SIP {code} {reason}")
    };
    stanza::error(sip_to_condition(code, contact), text)
}

/// RFC 7247 §7.1 Table 2: XMPP condition → SIP status. `full_jid`: the error concerns one
/// resource (4xx) rather than the account (6xx), per notes 1 and 2. `<gone/>` with a new
/// address → 301, without → 410 (note 3, MUST).
pub fn xmpp_to_sip(cond: &C, full_jid: bool) -> u16 {
    match cond {
        C::BadRequest | C::Conflict | C::JidMalformed => 400,
        C::FeatureNotImplemented => {
            if full_jid {
                405
            } else {
                501
            }
        }
        C::Forbidden => {
            if full_jid {
                403
            } else {
                603
            }
        }
        C::Gone {
            new_address: Some(_),
        } => 301,
        C::Gone { new_address: None } => 410,
        C::InternalServerError => 500,
        C::ItemNotFound => {
            if full_jid {
                404
            } else {
                604
            }
        }
        C::NotAcceptable => {
            if full_jid {
                406
            } else {
                606
            }
        }
        C::NotAllowed => 403,
        C::NotAuthorized => 401,
        C::PolicyViolation => 403,
        C::RecipientUnavailable => {
            if full_jid {
                480
            } else {
                600
            }
        }
        C::Redirect { .. } => 302,
        C::RegistrationRequired => 407,
        C::RemoteServerNotFound => 404,
        C::RemoteServerTimeout => 408,
        C::ResourceConstraint => 500,
        // Never 503 (note 5): 403 for a stanza refused.
        C::ServiceUnavailable => 403,
        C::SubscriptionRequired | C::UndefinedCondition => 400,
        C::UnexpectedRequest => 491,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::stanza_error::ErrorType;

    #[test]
    fn table3_vectors() {
        let e = sip_to_xmpp(404, "Not Found", None);
        assert_eq!(e.defined_condition, C::ItemNotFound);
        assert_eq!(e.type_, ErrorType::Cancel);
        assert_eq!(e.texts.values().next().unwrap(), "SIP 404 Not Found");
        assert_eq!(sip_to_condition(503, None), C::InternalServerError);
        assert_eq!(sip_to_condition(599, None), C::InternalServerError);
        assert_eq!(sip_to_condition(499, None), C::BadRequest);
        assert_eq!(sip_to_condition(699, None), C::RecipientUnavailable);
        assert_eq!(
            sip_to_condition(399, None),
            C::Redirect { new_address: None }
        );
        assert_eq!(
            sip_to_condition(301, Some("xmpp:romeo@example.org")),
            C::Gone {
                new_address: Some("xmpp:romeo@example.org".into())
            }
        );
        assert_eq!(
            sip_to_condition(410, Some("x")),
            C::Gone { new_address: None }
        );
        let e = sip_to_xmpp(480, "Temporarily Unavailable", None);
        assert_eq!(
            (e.defined_condition, e.type_),
            (C::RecipientUnavailable, ErrorType::Wait)
        );
    }

    #[test]
    fn every_listed_code_maps_as_the_table_says() {
        let table: &[(u16, C)] = &[
            (380, C::NotAcceptable),
            (400, C::BadRequest),
            (401, C::NotAuthorized),
            (402, C::BadRequest),
            (403, C::Forbidden),
            (405, C::FeatureNotImplemented),
            (406, C::NotAcceptable),
            (407, C::RegistrationRequired),
            (408, C::RemoteServerTimeout),
            (413, C::PolicyViolation),
            (414, C::PolicyViolation),
            (415, C::NotAcceptable),
            (416, C::NotAcceptable),
            (420, C::FeatureNotImplemented),
            (421, C::NotAcceptable),
            (423, C::ResourceConstraint),
            (430, C::RecipientUnavailable),
            (439, C::FeatureNotImplemented),
            (440, C::PolicyViolation),
            (481, C::ItemNotFound),
            (482, C::NotAcceptable),
            (483, C::NotAcceptable),
            (484, C::ItemNotFound),
            (485, C::ItemNotFound),
            (486, C::RecipientUnavailable),
            (487, C::RecipientUnavailable),
            (488, C::NotAcceptable),
            (489, C::PolicyViolation),
            (491, C::UnexpectedRequest),
            (493, C::BadRequest),
            (500, C::InternalServerError),
            (501, C::FeatureNotImplemented),
            (502, C::RemoteServerNotFound),
            (504, C::RemoteServerTimeout),
            (505, C::NotAcceptable),
            (513, C::PolicyViolation),
            (600, C::RecipientUnavailable),
            (603, C::RecipientUnavailable),
            (604, C::ItemNotFound),
            (606, C::NotAcceptable),
        ];
        for (code, cond) in table {
            assert_eq!(&sip_to_condition(*code, None), cond, "{code}");
        }
    }

    #[test]
    fn table2_vectors() {
        assert_eq!(xmpp_to_sip(&C::ItemNotFound, false), 604);
        assert_eq!(xmpp_to_sip(&C::ItemNotFound, true), 404);
        assert_eq!(xmpp_to_sip(&C::FeatureNotImplemented, true), 405);
        assert_eq!(xmpp_to_sip(&C::FeatureNotImplemented, false), 501);
        assert_eq!(xmpp_to_sip(&C::ServiceUnavailable, true), 403);
        assert_eq!(
            xmpp_to_sip(
                &C::Gone {
                    new_address: Some("xmpp:a@b".into())
                },
                true
            ),
            301
        );
        assert_eq!(xmpp_to_sip(&C::Gone { new_address: None }, true), 410);
        assert_eq!(xmpp_to_sip(&C::RecipientUnavailable, false), 600);
        assert_eq!(xmpp_to_sip(&C::RemoteServerTimeout, true), 408);
    }
}
