//! Plain product codes: EAN-13, EAN-8, UPC-A, UPC-E (expanded to UPC-A), GTIN-14 / ITF-14, all normalised to
//! a [`Gtin`] with the check digit verified.
//!
//! Eight digits are ambiguous (EAN-8 or UPC-E with number system and check digit). The rule:
//! - with `]E4` it is EAN-8, with `]E0` it is UPC-E;
//! - without an identifier, EAN-8 when its check digit holds, else UPC-E when the first digit is 0 or 1 and
//!   the expanded UPC-A's check digit holds (a scanner set to expand UPC-E sends 12 digits instead).
//!
//! Scanners can be set to send UPC-E without the number system or without the check digit:
//! - 7 digits are read as number system (0 or 1) + 6 data digits, no check digit;
//! - 6 digits are read as the 6 data digits with number system 0, no check digit.
//!
//! These short forms carry no check digit: the scanner verified it on the symbol, and only its `]E0` identifier
//! says so. They are accepted only with `]E0`. Without an identifier, 6 or 7 digits are rejected (class Length):
//! nothing tells a UPC-E from a truncated read or a typed number (a PIN, a quantity), and accepting one would
//! turn it into a product. Eight digits are unaffected: they carry a check digit either way.
//!
//! Add-ons (2 or 5 digits, on magazines and books) are dropped: with `]E3`, and without an identifier when 15 or
//! 18 digits start with a valid EAN-13 (data starting with 00, 01 or 02 is tried as GS1 first, see `mod.rs`).

use super::aim::Family;
use super::{check_digit, BarcodeError, Format, Gtin, GtinError};

/// A product code read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Product {
    /// The normalised key.
    pub gtin: Gtin,
    /// What it was read as.
    pub format: Format,
}

/// Reads `data` (what followed any identifier) as a product code. `offset` is the number of input bytes
/// before `data`, for positions in errors.
pub(crate) fn parse(data: &[u8], family: Option<Family>, offset: usize) -> Result<Product, BarcodeError> {
    if let Some(i) = data.iter().position(|b| !b.is_ascii_digit()) {
        return Err(BarcodeError::NotDigit {
            ch: data[i] as char,
            position: offset + i + 1,
        });
    }
    let n = data.len();
    match family {
        Some(Family::Ean8) => {
            if n != 8 {
                return Err(length("]E4 (EAN-8)", "8", n));
            }
            ean(data, Format::Ean8)
        }
        Some(Family::EanUpc) => match n {
            13 => ean(data, Format::Ean13),
            12 => ean(data, Format::UpcA),
            6..=8 => upc_e(data),
            _ => Err(length("]E0 (EAN-13/UPC-A/UPC-E)", "6, 7, 8, 12 or 13", n)),
        },
        Some(Family::EanWithAddOn) => match n {
            // Main symbol + 2- or 5-digit add-on: the add-on (issue number, suggested price) is not a key.
            15 | 18 => ean(&data[..13], Format::Ean13),
            14 | 17 => ean(&data[..12], Format::UpcA),
            10 => upc_e(&data[..8]),
            13 => ean(data, Format::Ean13).or_else(|e| upc_e(&data[..8]).map_err(|_| e)),
            _ => Err(length("]E3 (EAN/UPC with add-on)", "10, 13, 14, 15, 17 or 18", n)),
        },
        // decode() rejects these before calling in (naming the identifier); kept so this function is total.
        Some(Family::AddOnOnly) => Err(BarcodeError::Symbology {
            aim: "]E1/]E2".into(),
            reason: "an add-on alone identifies no product; scan the main barcode".into(),
        }),
        Some(Family::Gs1) | Some(Family::Other) | None => match n {
            14 => ean(data, Format::Gtin14),
            13 => ean(data, Format::Ean13),
            12 => ean(data, Format::UpcA),
            8 => ean(data, Format::Ean8).or_else(|e| {
                if matches!(data[0], b'0' | b'1') {
                    upc_e(data).map_err(|_| e)
                } else {
                    Err(e)
                }
            }),
            // A UPC-E short form has no check digit: only the scanner's ]E0 vouches that a symbol was read
            // whole. Without it, 6 or 7 digits are as likely a truncated read or a typed PIN.
            6 | 7 if family.is_none() => Err(BarcodeError::ShortUpcEWithoutIdentifier { found: n }),
            15 | 18 if family.is_none() => ean(&data[..13], Format::Ean13).map_err(|_| {
                length(
                    "a product code (or EAN-13 with add-on)",
                    "8, 12, 13 or 14 (15 or 18)",
                    n,
                )
            }),
            _ => Err(length("a product code", "8, 12, 13 or 14", n)),
        },
    }
}

fn length(what: &str, expected: &'static str, found: usize) -> BarcodeError {
    BarcodeError::ProductLength {
        what: what.into(),
        expected,
        found,
    }
}

/// An EAN/UPC/GTIN of 8, 12, 13 or 14 digits, validated by [`Gtin::from_ascii_digits`]; a check digit error
/// names the format it was read as.
fn ean(d: &[u8], format: Format) -> Result<Product, BarcodeError> {
    match Gtin::from_ascii_digits(d) {
        Ok(gtin) => Ok(Product { gtin, format }),
        Err(GtinError::CheckDigit { found, expected }) => Err(BarcodeError::CheckDigit {
            what: format.name(),
            found,
            expected,
        }),
        // Callers pass only digits of a GTIN length; kept as a plain GTIN error rather than a panic.
        Err(e) => Err(e.into()),
    }
}

/// UPC-E of 6, 7 or 8 digits (see the module doc), expanded to UPC-A.
fn upc_e(d: &[u8]) -> Result<Product, BarcodeError> {
    let (ns, data, check) = match d.len() {
        8 => (d[0], &d[1..7], Some(d[7] - b'0')),
        7 => (d[0], &d[1..7], None),
        6 => (b'0', d, None),
        n => return Err(length("a UPC-E code", "6, 7 or 8", n)),
    };
    if !matches!(ns, b'0' | b'1') {
        return Err(BarcodeError::UpcENumberSystem { found: ns as char });
    }
    // Expansion per the UPC-E zero-suppression rules, keyed by the last data digit.
    let [a, b, c, x, y, z] = [data[0], data[1], data[2], data[3], data[4], data[5]];
    let middle: [u8; 10] = match z {
        b'0'..=b'2' => [a, b, z, b'0', b'0', b'0', b'0', c, x, y],
        b'3' => [a, b, c, b'0', b'0', b'0', b'0', b'0', x, y],
        b'4' => [a, b, c, x, b'0', b'0', b'0', b'0', b'0', y],
        _ => [a, b, c, x, y, b'0', b'0', b'0', b'0', z],
    };
    let mut upca = [0u8; 12];
    upca[0] = ns;
    upca[1..11].copy_from_slice(&middle);
    let expected = check_digit(&upca[..11]);
    if let Some(found) = check {
        if found != expected {
            return Err(BarcodeError::CheckDigit {
                what: Format::UpcE.name(),
                found,
                expected,
            });
        }
    }
    upca[11] = b'0' + expected;
    let mut out = [b'0'; 14];
    out[2..].copy_from_slice(&upca);
    Ok(Product {
        gtin: Gtin::from_digits(out),
        format: Format::UpcE,
    })
}
