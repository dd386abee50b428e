//! Body formats: parse and serialize only.

pub mod conference_info;
pub mod cpim;
pub mod imdn;
pub mod iscomposing;
pub mod pidf;
pub mod sdp;
pub mod xhtml;

/// Text or an attribute value escaped for the small XML bodies we write (IMDN, PIDF,
/// conference-info, isComposing, chat markers): the five predefined entities.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            // As character references: a parser normalizes literal ones (a tab in an
            // attribute reads back as a space, a CR in text as LF). Found by `page_bodies`.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// The root element of a small XML body. The XML declaration is skipped: minidom parses
/// elements only, and refuses declarations such as `standalone="no"` (Linphone's IMDNs).
pub fn xml_root(body: &[u8], what: &str) -> Result<xmpp_parsers::minidom::Element, String> {
    let text = std::str::from_utf8(body).map_err(|_| format!("{what} is not UTF-8"))?;
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let text = match text.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, r)| r).unwrap_or(rest),
        None => text,
    };
    text.trim()
        .parse()
        .map_err(|e| format!("{what} is not XML: {e}"))
}

/// Inflates a `Content-Encoding: deflate` body (RFC 3261 §20.12 names HTTP's `deflate`,
/// i.e. zlib; some clients send raw deflate, which is tried second). `None` when it does
/// not inflate or would exceed `max` bytes (a small body must not become a huge one).
pub fn inflate(body: &[u8], max: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let read = |r: &mut dyn Read| {
        let mut out = Vec::new();
        r.take(limit).read_to_end(&mut out).ok()?;
        (out.len() <= max).then_some(out)
    };
    read(&mut flate2::read::ZlibDecoder::new(body))
        .or_else(|| read(&mut flate2::read::DeflateDecoder::new(body)))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn zlib_and_raw_deflate_inflate_within_the_limit() {
        let text = "Hi ❤ ".repeat(50);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(text.as_bytes()).unwrap();
        let zlib = z.finish().unwrap();
        assert_eq!(super::inflate(&zlib, 10_000).unwrap(), text.as_bytes());
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(text.as_bytes()).unwrap();
        let raw = d.finish().unwrap();
        assert_eq!(super::inflate(&raw, 10_000).unwrap(), text.as_bytes());
        assert!(super::inflate(&zlib, 100).is_none(), "over the limit");
        assert!(super::inflate(b"not deflate", 100).is_none());
    }
}
