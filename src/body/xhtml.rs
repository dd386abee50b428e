//! `text/html` → XHTML-IM (XEP-0071) plus a plain-text rendering, as RFC 7572 §7 requires:
//! only the XHTML-IM Integration Set survives (`b`/`i` become `strong`/`em`), `script` and
//! `style` are dropped with their content, attributes are dropped except a safe `href`.
//! A tolerant tag scanner, not a full HTML5 parser: the input is a chat message.

use xmpp_parsers::minidom::Element;

/// XEP-0071's wrapper namespace.
pub const NS_XHTML_IM: &str = "http://jabber.org/protocol/xhtml-im";
/// The XHTML namespace of the body inside it.
pub const NS_XHTML: &str = "http://www.w3.org/1999/xhtml";

fn map_tag(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "p" => "p",
        "br" => "br",
        "span" => "span",
        "strong" | "b" => "strong",
        "em" | "i" => "em",
        "a" => "a",
        "ul" => "ul",
        "ol" => "ol",
        "li" => "li",
        "blockquote" => "blockquote",
        "cite" => "cite",
        "code" => "code",
        "q" => "q",
        "pre" => "pre",
        _ => return None,
    })
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let ent = &after[1..e];
            let c = match ent {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => '\u{a0}',
                _ => {
                    let n = ent.strip_prefix('#')?;
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn href_of(attrs: &str) -> Option<String> {
    let lower = attrs.to_ascii_lowercase();
    let i = lower.find("href")?;
    let rest = attrs[i + 4..].trim_start().strip_prefix('=')?.trim_start();
    let v = if let Some(r) = rest.strip_prefix('"') {
        r.split('"').next()?
    } else if let Some(r) = rest.strip_prefix('\'') {
        r.split('\'').next()?
    } else {
        rest.split(|c: char| c.is_whitespace() || c == '>').next()?
    };
    let v = decode_entities(v);
    let scheme_ok = ["http:", "https:", "xmpp:", "mailto:", "sip:"]
        .iter()
        .any(|s| v.to_ascii_lowercase().starts_with(s));
    scheme_ok.then_some(v)
}

/// Converts an HTML fragment. Returns (plain text, `<html xmlns=xhtml-im>` element).
pub fn html_to_xhtml_im(html: &str) -> (String, Element) {
    let mut stack: Vec<Element> = vec![Element::builder("body", NS_XHTML).build()];
    let mut plain = String::new();
    let mut skip_depth = 0usize; // inside script/style
    let mut rest = html;
    while !rest.is_empty() {
        let (text, after) = match rest.find('<') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if !text.is_empty() && skip_depth == 0 {
            let t = decode_entities(text);
            plain.push_str(&t);
            if let Some(top) = stack.last_mut() {
                top.append_text_node(t);
            }
        }
        if after.is_empty() {
            break;
        }
        let Some(close) = after.find('>') else {
            // a lone '<': text
            if skip_depth == 0 {
                plain.push_str(after);
                if let Some(top) = stack.last_mut() {
                    top.append_text_node(after.to_string());
                }
            }
            break;
        };
        let inner = &after[1..close];
        rest = &after[close + 1..];
        if inner.starts_with('!') || inner.starts_with('?') {
            continue;
        }
        let closing = inner.starts_with('/');
        let inner = inner.trim_start_matches('/');
        let self_closing = inner.ends_with('/');
        let inner = inner.trim_end_matches('/');
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let attrs = &inner[name.len().min(inner.len())..];
        if name == "script" || name == "style" {
            if closing {
                skip_depth = skip_depth.saturating_sub(1);
            } else if !self_closing {
                skip_depth += 1;
            }
            continue;
        }
        if skip_depth > 0 {
            continue;
        }
        if name == "br" {
            plain.push('\n');
            if let Some(top) = stack.last_mut() {
                top.append_child(Element::builder("br", NS_XHTML).build());
            }
            continue;
        }
        let Some(tag) = map_tag(&name) else { continue };
        if closing {
            // close up to the matching open element
            if let Some(pos) = stack.iter().rposition(|e| e.name() == tag)
                && pos > 0
            {
                while stack.len() > pos {
                    let Some(done) = stack.pop() else { break };
                    if let Some(parent) = stack.last_mut() {
                        parent.append_child(done);
                    }
                }
            }
            if matches!(tag, "p" | "li" | "blockquote" | "pre")
                && !plain.ends_with('\n')
                && !plain.is_empty()
            {
                plain.push('\n');
            }
            continue;
        }
        let mut el = Element::builder(tag, NS_XHTML);
        if tag == "a"
            && let Some(h) = href_of(attrs)
            && let Ok(name) = xmpp_parsers::minidom::rxml::NcName::try_from("href")
        {
            el = el.attr(name, h);
        }
        let el = el.build();
        if self_closing {
            if let Some(top) = stack.last_mut() {
                top.append_child(el);
            }
        } else {
            stack.push(el);
        }
    }
    while stack.len() > 1 {
        let Some(done) = stack.pop() else { break };
        if let Some(parent) = stack.last_mut() {
            parent.append_child(done);
        }
    }
    let body = stack
        .pop()
        .unwrap_or_else(|| Element::builder("body", NS_XHTML).build());
    let html = Element::builder("html", NS_XHTML_IM).append(body).build();
    (plain.trim().to_string(), html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vector() {
        let (plain, html) = html_to_xhtml_im("<p>Hi <b>there</b><script>x()</script></p>");
        assert_eq!(plain, "Hi there");
        let xml = String::from(&html);
        assert!(xml.contains("<p>Hi <strong>there</strong></p>"), "{xml}");
        assert!(!xml.contains("script") && !xml.contains("x()"), "{xml}");
    }

    #[test]
    fn attributes_entities_and_broken_markup() {
        let (plain, html) = html_to_xhtml_im(
            "<a href=\"https://example.com/?a=1&amp;b=2\" onclick=\"evil()\">link</a> &lt;3 &#233; <a href='javascript:x'>no</a><unknown>kept</unknown><i>open",
        );
        assert_eq!(plain, "link <3 é nokeptopen");
        let xml = String::from(&html);
        assert!(
            xml.contains("href='https://example.com/?a=1&amp;b=2'")
                || xml.contains("href=\"https://example.com/?a=1&amp;b=2\""),
            "{xml}"
        );
        assert!(
            !xml.contains("onclick") && !xml.contains("javascript"),
            "{xml}"
        );
        assert!(xml.contains("<em>open</em>"), "{xml}");
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in [
            "<",
            "<<>>",
            "</p></p>",
            "<p",
            "&",
            "&#xffffffff;",
            "<a href=>x</a>",
            "<script>",
            "é<b>ü",
        ] {
            let _ = html_to_xhtml_im(s);
        }
    }
}
