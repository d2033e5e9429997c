//! GTIN: the one product key. Every product code a scanner can send (EAN-8, UPC-A, EAN-13, GTIN-14, UPC-E once
//! expanded) is normalised to 14 digits here, so a scanner that adds or drops a leading zero still finds the
//! same product.

use std::fmt;

/// A validated GTIN, always 14 ASCII digits (left-padded with zeros), check digit verified.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin([u8; 14]);

/// Why a string is not a GTIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    /// Contains something other than ASCII digits.
    #[error("GTIN must be digits only")]
    NotDigits,
    /// Not 8, 12, 13 or 14 digits long.
    #[error("GTIN must have 8, 12, 13 or 14 digits, found {0}")]
    Length(usize),
    /// Check digit does not match.
    #[error("GTIN check digit is {found}, expected {expected}")]
    CheckDigit {
        /// Digit found in the code.
        found: u8,
        /// Digit computed from the other digits.
        expected: u8,
    },
}

/// GS1 mod-10 check digit of `body` (ASCII digits, without the check digit).
///
/// Weights 3,1,3,1… from the right, as in GS1 General Specifications §7.9.1.
pub fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| (d - b'0') as u32 * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

impl Gtin {
    /// Parses an 8-, 12-, 13- or 14-digit GTIN and checks its check digit.
    pub fn parse(s: &str) -> Result<Gtin, GtinError> {
        Gtin::from_ascii_digits(s.as_bytes())
    }

    /// Parses an 8-, 12-, 13- or 14-digit GTIN given as ASCII bytes (as a scanner sends it) and checks its check
    /// digit. The one place a GTIN's digits, length and check digit are validated; [`Gtin::parse`] and the
    /// decoder's byte-oriented path both go through it.
    pub fn from_ascii_digits(b: &[u8]) -> Result<Gtin, GtinError> {
        if !b.iter().all(u8::is_ascii_digit) {
            return Err(GtinError::NotDigits);
        }
        if !matches!(b.len(), 8 | 12 | 13 | 14) {
            return Err(GtinError::Length(b.len()));
        }
        let (body, last) = b.split_at(b.len() - 1);
        let expected = check_digit(body);
        let found = last[0] - b'0';
        if expected != found {
            return Err(GtinError::CheckDigit { found, expected });
        }
        let mut out = [b'0'; 14];
        out[14 - b.len()..].copy_from_slice(b);
        Ok(Gtin(out))
    }

    /// Wraps 14 ASCII digits whose check digit the caller has verified.
    pub(crate) fn from_digits(digits: [u8; 14]) -> Gtin {
        debug_assert!(digits.iter().all(u8::is_ascii_digit));
        debug_assert_eq!(check_digit(&digits[..13]), digits[13] - b'0');
        Gtin(digits)
    }

    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).expect("GTIN holds ASCII digits only")
    }

    /// The 14 digits as bytes (used as a storage key).
    pub fn as_bytes(&self) -> &[u8; 14] {
        &self.0
    }

    /// The shortest common form: EAN-13 when the first digit is 0 (as printed under most barcodes),
    /// EAN-8 when the first six are 0, otherwise the 14 digits.
    pub fn display_form(&self) -> &str {
        let s = self.as_str();
        if let Some(ean8) = s.strip_prefix("000000") {
            ean8
        } else if let Some(rest) = s.strip_prefix('0') {
            rest
        } else {
            s
        }
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gtin({})", self.as_str())
    }
}

impl serde::Serialize for Gtin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Gtin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Gtin::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_normalises_to_the_same_gtin14() {
        let ean13 = Gtin::parse("8001234567897").expect("valid");
        assert_eq!(ean13.as_str(), "08001234567897");
        assert_eq!(Gtin::parse("08001234567897").expect("valid"), ean13);
        let upca = Gtin::parse("036000291452").expect("valid");
        assert_eq!(Gtin::parse("0036000291452").expect("valid"), upca);
        assert_eq!(Gtin::parse("96385074").expect("valid").as_str(), "00000096385074");
    }

    #[test]
    fn rejects_wrong_check_digit_and_length() {
        assert_eq!(
            Gtin::parse("8001234567890"),
            Err(GtinError::CheckDigit { found: 0, expected: 7 })
        );
        assert_eq!(Gtin::parse("123"), Err(GtinError::Length(3)));
        assert_eq!(Gtin::parse("80012345a7890"), Err(GtinError::NotDigits));
    }

    #[test]
    fn bytes_and_text_are_validated_by_the_same_rules() {
        for input in [
            "8001234567897",
            "036000291452",
            "96385074",
            "8001234567890",
            "123",
            "80012345a7890",
            "",
        ] {
            assert_eq!(
                Gtin::from_ascii_digits(input.as_bytes()),
                Gtin::parse(input),
                "{input:?}"
            );
        }
        // Bytes outside ASCII (a garbled HID read) are not digits, whatever their value.
        assert_eq!(Gtin::from_ascii_digits(b"800123456789\xB7"), Err(GtinError::NotDigits));
    }
}
