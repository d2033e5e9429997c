//! GS1 Digital Link URIs (GS1 Digital Link standard 1.x), as printed in QR codes on packs:
//! `https://any.domain/optional/prefix/01/{gtin}[/22/{cpv}][/10/{lot}][/21/{serial}]?17=261231&3103=001250`.
//!
//! - Any domain and any path prefix: the primary key is the first `/01/` (or `/gtin/`) or `/00/` (or `/sscc/`)
//!   path segment followed by a value. GTIN-8/12/13 in the path are zero-padded to 14, as the standard allows.
//! - Key qualifiers after 01, in the standard's order: 22 (`cpv`), 10 (`lot`), 21 (`ser`); none after 00.
//! - Query parameters whose name is a supported AI are validated like element-string AIs; any other parameter
//!   (`linkType`, tracking tags…) is ignored, as the standard requires.
//! - Path segments and query values are percent-decoded before validation; the fragment is ignored.
//!
//! A URL without a GS1 primary key is rejected: it is not a product.

use super::gs1::{lookup, Elements, Field, Gs1Data};
use super::{BarcodeError, Place};

/// Whether `data` starts like an http(s) URL.
pub(crate) fn looks_like_url(data: &[u8]) -> bool {
    starts_with_ignore_case(data, b"https://") || starts_with_ignore_case(data, b"http://")
}

fn starts_with_ignore_case(data: &[u8], prefix: &[u8]) -> bool {
    data.len() >= prefix.len() && data[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn err(reason: impl Into<String>) -> BarcodeError {
    BarcodeError::DigitalLink { reason: reason.into() }
}

/// Parses a Digital Link URI (ASCII, checked by the caller).
pub(crate) fn parse(uri: &[u8]) -> Result<Gs1Data, BarcodeError> {
    if let Some(&b) = uri.iter().find(|&&b| b == b' ' || b == super::gs1::GS) {
        return Err(err(format!(
            "a URI cannot contain {}",
            if b == b' ' { "spaces" } else { "GS separators" }
        )));
    }
    let after_scheme = match uri.windows(3).position(|w| w == b"://") {
        Some(p) => &uri[p + 3..],
        None => return Err(err("not an http(s) URI")),
    };
    let no_fragment = after_scheme.split(|&b| b == b'#').next().unwrap_or_default();
    let (before_query, query) = match no_fragment.iter().position(|&b| b == b'?') {
        Some(p) => (&no_fragment[..p], &no_fragment[p + 1..]),
        None => (no_fragment, &[][..]),
    };
    let (host, path) = match before_query.iter().position(|&b| b == b'/') {
        Some(p) => (&before_query[..p], &before_query[p..]),
        None => (before_query, &[][..]),
    };
    if host.is_empty() {
        return Err(err("the URI has no host"));
    }
    let segments: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|s| !s.is_empty()).collect();
    let key_at = segments
        .iter()
        .enumerate()
        .position(|(i, s)| primary_key(s).is_some() && i + 1 < segments.len())
        .ok_or_else(|| err("no GS1 primary key in the path (expected …/01/{GTIN} or …/00/{SSCC})"))?;
    let key = primary_key(segments[key_at]).expect("found by position() above");

    let mut els = Elements::default();
    let mut key_value = percent_decode(segments[key_at + 1])?;
    if key == "01" && matches!(key_value.len(), 8 | 12 | 13) && key_value.iter().all(u8::is_ascii_digit) {
        let mut padded = vec![b'0'; 14 - key_value.len()];
        padded.extend_from_slice(&key_value);
        key_value = padded;
    }
    add(&mut els, key, &key_value, Place::UriPath)?;

    // Qualifiers: pairs after the key, each allowed at most once and in the standard's order.
    let allowed: &[&str] = if key == "01" { &["22", "10", "21"] } else { &[] };
    let mut next_allowed = 0;
    for pair in segments[key_at + 2..].chunks(2) {
        let name = qualifier(pair[0]);
        let Some(value) = pair.get(1) else {
            return Err(err(format!("path segment '{}' has no value after it", lossy(pair[0]))));
        };
        let Some(idx) = allowed.iter().position(|a| *a == name) else {
            return Err(err(format!(
                "'{}' is not a key qualifier of AI {key} (allowed: {})",
                lossy(pair[0]),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            )));
        };
        if idx < next_allowed {
            return Err(err(format!(
                "key qualifier {name} is out of order (order: {})",
                allowed.join(", ")
            )));
        }
        next_allowed = idx + 1;
        add(&mut els, name, &percent_decode(value)?, Place::UriPath)?;
    }

    for param in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match param.iter().position(|&b| b == b'=') {
            Some(p) => (&param[..p], &param[p + 1..]),
            None => (param, &[][..]),
        };
        let name = percent_decode(name)?;
        let is_ai = matches!(lookup(&name), Some((len, _)) if len == name.len());
        if !is_ai {
            continue;
        }
        let name = lossy(&name);
        if name == "01" || name == "00" || allowed.contains(&name.as_str()) {
            return Err(err(format!("AI {name} belongs in the path, not in the query")));
        }
        add(&mut els, &name, &percent_decode(value)?, Place::UriQuery)?;
    }
    Ok(els.finish())
}

/// Adds one AI, looking up its format.
fn add(els: &mut Elements, ai: &str, value: &[u8], place: Place) -> Result<(), BarcodeError> {
    let field: Field = match lookup(ai.as_bytes()) {
        Some((len, f)) if len == ai.len() => f,
        _ => {
            return Err(BarcodeError::UnknownAi {
                digits: ai.to_string(),
                place,
            })
        }
    };
    els.add(ai, field, value, place)
}

/// The AI named by a primary-key path segment (numeric or the standard's short name).
fn primary_key(seg: &[u8]) -> Option<&'static str> {
    match seg {
        b"01" | b"gtin" => Some("01"),
        b"00" | b"sscc" => Some("00"),
        _ => None,
    }
}

/// The AI named by a qualifier path segment; unknown names are returned as they are for the error message.
fn qualifier(seg: &[u8]) -> &str {
    match seg {
        b"22" | b"cpv" => "22",
        b"10" | b"lot" => "10",
        b"21" | b"ser" => "21",
        _ => std::str::from_utf8(seg).unwrap_or("?"),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// RFC 3986 percent-decoding. `+` stays `+` (it is a literal in URI paths and in GS1 data).
fn percent_decode(s: &[u8]) -> Result<Vec<u8>, BarcodeError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
            match (hex(s.get(i + 1)), hex(s.get(i + 2))) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(err(format!("bad percent-escape in '{}'", lossy(s)))),
            }
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Ok(out)
}
