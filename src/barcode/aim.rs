//! AIM symbology identifiers (ISO/IEC 15424): the `]` + code character + modifier character many scanners put
//! in front of the data. Recognised here and stripped; the identifier decides how the data is read (GS1 element
//! string, EAN/UPC, anything else by content).
//!
//! Unknown identifiers of the right shape (`]`, a letter, a letter or digit) are stripped and kept as sent:
//! scanners know more symbologies than this table, and the data after them is still validated by content.
//! A `]` not followed by that shape is rejected as malformed.

use super::BarcodeError;

/// How the data after an identifier is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `]E0`: EAN-13, UPC-A or UPC-E (8 digits means UPC-E; 6 or 7 digits, a UPC-E without check digit, are
    /// accepted only with this identifier).
    EanUpc,
    /// `]E4`: EAN-8.
    Ean8,
    /// `]E3`: EAN/UPC with its add-on in the same packet (the add-on is stripped).
    EanWithAddOn,
    /// `]E1`, `]E2`: an add-on alone.
    AddOnOnly,
    /// FNC1 in first position: GS1-128, GS1 DataMatrix, GS1 QR, GS1 DataBar, GS1 DotCode.
    Gs1,
    /// Anything else: read by content.
    Other,
}

/// A recognised identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Aim {
    /// The three bytes as sent.
    pub bytes: [u8; 3],
    /// How to read the data.
    pub family: Family,
}

impl Aim {
    /// The identifier as text (always ASCII: checked on recognition).
    pub fn text(&self) -> String {
        self.bytes.iter().map(|&b| b as char).collect()
    }
}

/// Human name of an AIM identifier such as `]E0`, `None` when this table does not know it.
pub fn symbology_name(aim: &str) -> Option<&'static str> {
    let b = aim.as_bytes();
    if b.len() != 3 || b[0] != b']' {
        return None;
    }
    Some(match (b[1], b[2]) {
        (b'E', b'0') => "EAN-13 / UPC-A / UPC-E",
        (b'E', b'1') => "EAN/UPC 2-digit add-on",
        (b'E', b'2') => "EAN/UPC 5-digit add-on",
        (b'E', b'3') => "EAN/UPC with add-on",
        (b'E', b'4') => "EAN-8",
        (b'C', b'0') => "Code 128",
        (b'C', b'1') => "GS1-128",
        (b'C', b'2') => "Code 128 (AIM, FNC1 in second position)",
        (b'C', b'4') => "Code 128 (ISBT concatenation)",
        (b'd', b'0') | (b'd', b'1') => "Data Matrix",
        (b'd', b'2') => "GS1 DataMatrix",
        (b'd', b'3') => "Data Matrix (FNC1 in second position)",
        (b'Q', b'0') | (b'Q', b'1') | (b'Q', b'2') => "QR Code",
        (b'Q', b'3') | (b'Q', b'4') => "GS1 QR Code",
        (b'Q', b'5') | (b'Q', b'6') => "QR Code (FNC1 in second position)",
        (b'e', b'0') => "GS1 DataBar",
        (b'e', _) => "GS1 DataBar composite",
        (b'J', b'1') => "GS1 DotCode",
        (b'J', _) => "DotCode",
        (b'A', _) => "Code 39",
        (b'I', b'0') => "Interleaved 2 of 5",
        (b'I', b'1') | (b'I', b'3') => "Interleaved 2 of 5 (check digit verified)",
        (b'I', _) => "Interleaved 2 of 5",
        (b'L', _) => "PDF417",
        (b'z', _) => "Aztec Code",
        (b'F', _) => "Codabar",
        (b'G', _) => "Code 93",
        (b'X', _) => "other symbology",
        _ => return None,
    })
}

/// Splits a leading AIM identifier off `body`: the identifier, if any, and the data after it.
pub(crate) fn split(body: &[u8]) -> Result<(Option<Aim>, &[u8]), BarcodeError> {
    if body.first() != Some(&b']') {
        return Ok((None, body));
    }
    let (code, modifier) = match (body.get(1), body.get(2)) {
        (Some(&c), Some(&m)) if c.is_ascii_alphabetic() && m.is_ascii_alphanumeric() => (c, m),
        _ => {
            let shown: String = body.iter().take(3).map(|&b| escape(b)).collect();
            return Err(BarcodeError::Symbology {
                aim: shown,
                reason: "']' must start a symbology identifier such as ]E0 (a letter, then a letter or digit)".into(),
            });
        }
    };
    let family = match (code, modifier) {
        (b'E', b'0') => Family::EanUpc,
        (b'E', b'4') => Family::Ean8,
        (b'E', b'3') => Family::EanWithAddOn,
        (b'E', b'1') | (b'E', b'2') => Family::AddOnOnly,
        (b'C', b'1') | (b'd', b'2') | (b'Q', b'3') | (b'Q', b'4') | (b'e', b'0') | (b'J', b'1') => Family::Gs1,
        _ => Family::Other,
    };
    Ok((
        Some(Aim {
            bytes: [b']', code, modifier],
            family,
        }),
        &body[3..],
    ))
}

/// Printable form of one input byte for an error message.
fn escape(b: u8) -> String {
    if b.is_ascii_graphic() {
        (b as char).to_string()
    } else {
        format!("\\x{b:02X}")
    }
}
