//! Restricted-circulation variable-measure EAN-13 (GS1 prefixes 02 and 20–29): scale labels carrying an item
//! code and a price or a weight, laid out by templates from configuration (see
//! [`crate::config::VariableMeasureTemplate`]).
//!
//! A template has 13 characters, one per EAN-13 digit: literal digits (the prefix, starting with `2` or `02`),
//! `I` item code, `P` price in cents or `W` weight in grams (exactly one of them), optionally one `V` price/weight
//! verifier digit, and `C` the EAN-13 check digit last. `I` and `P`/`W` are contiguous runs. The Italian default
//! is `2IIIIIIPPPPPC`. Templates are tried in order; the first whose prefix matches decides (a wrong verifier
//! digit rejects the code rather than falling through to a looser template).
//!
//! A 12-digit UPC-A (number system 2) is read as the EAN-13 `02…`, so templates for it start with `02`.
//!
//! The verifier digit is GS1 GenSpecs §7.9.3 (4-digit field) and §7.9.4 (5-digit field): each digit goes
//! through a weighting table (2-, 3, 5+, 5-), see [`verifier_digit`].

use super::BarcodeError;

/// What the value field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    Price,
    Weight,
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    prefix: Vec<u8>,
    item: (usize, usize),
    value: (usize, usize),
    measure: Measure,
    verifier: Option<usize>,
}

/// What a variable-measure code carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Measured {
    pub item: String,
    pub price_cents: Option<i64>,
    pub weight_g: Option<u32>,
}

impl Template {
    /// Compiles and validates a template; the error is the reason, for [`super::RuleError`].
    pub(crate) fn compile(t: &str) -> Result<Template, String> {
        let b = t.as_bytes();
        if b.len() != 13 || t.chars().count() != 13 {
            return Err(format!(
                "must have 13 characters, one per EAN-13 digit; found {}",
                t.chars().count()
            ));
        }
        if let Some((i, c)) = t
            .char_indices()
            .find(|&(_, c)| !matches!(c, '0'..='9' | 'I' | 'P' | 'W' | 'V' | 'C'))
        {
            return Err(format!(
                "'{c}' at position {} is not a template letter (digits, I, P, W, V, C)",
                i + 1
            ));
        }
        let prefix_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if let Some(i) = b.iter().skip(prefix_len).position(u8::is_ascii_digit) {
            let i = prefix_len + i;
            return Err(format!(
                "digit '{}' at position {}: literal digits may only form the leading prefix",
                b[i] as char,
                i + 1
            ));
        }
        let prefix = &b[..prefix_len];
        if !(prefix.starts_with(b"2") || prefix.starts_with(b"02")) {
            return Err("the prefix must start with 2 or 02 (restricted circulation); \
                        any other prefix would capture real products"
                .into());
        }
        let count = |c: u8| b.iter().filter(|&&x| x == c).count();
        if count(b'C') != 1 || b[12] != b'C' {
            return Err("needs exactly one C (the EAN-13 check digit), as the last character".into());
        }
        if count(b'V') > 1 {
            return Err("may hold at most one V (verifier digit)".into());
        }
        let item = run(b, b'I')
            .ok_or("needs an item code (I)")?
            .map_err(|_| "the item code (I) must be one run")?;
        let (measure, letter) = match (count(b'P') > 0, count(b'W') > 0) {
            (true, false) => (Measure::Price, b'P'),
            (false, true) => (Measure::Weight, b'W'),
            (true, true) => return Err("holds both a price (P) and a weight (W); use one".into()),
            (false, false) => return Err("needs a price (P) or a weight (W)".into()),
        };
        let value = run(b, letter)
            .expect("counted above")
            .map_err(|_| format!("the {} must be one run", letter as char))?;
        let verifier = b.iter().position(|&c| c == b'V');
        let value_len = value.1 - value.0;
        if verifier.is_some() && !matches!(value_len, 4 | 5) {
            return Err(format!(
                "a verifier digit (V) needs a 4- or 5-digit price or weight field, found {value_len}"
            ));
        }
        if value_len > 9 {
            return Err(format!(
                "the price or weight field may have at most 9 digits, found {value_len}"
            ));
        }
        Ok(Template {
            prefix: prefix.to_vec(),
            item,
            value,
            measure,
            verifier,
        })
    }

    /// Whether `ean13` (13 digits) has this template's prefix.
    pub(crate) fn matches(&self, ean13: &[u8; 13]) -> bool {
        ean13.starts_with(&self.prefix)
    }

    /// Reads a code whose prefix matches and whose EAN-13 check digit is already verified.
    pub(crate) fn read(&self, ean13: &[u8; 13]) -> Result<Measured, BarcodeError> {
        let field = &ean13[self.value.0..self.value.1];
        let what = match self.measure {
            Measure::Price => "price",
            Measure::Weight => "weight",
        };
        if let Some(v) = self.verifier {
            let expected = verifier_digit(field).expect("template compiled with a 4- or 5-digit field");
            let found = ean13[v] - b'0';
            if found != expected {
                return Err(BarcodeError::Verifier { what, found, expected });
            }
        }
        // At most 9 digits (checked at compile): fits both types.
        let number = field.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
        let item = ean13[self.item.0..self.item.1].iter().map(|&d| d as char).collect();
        Ok(match self.measure {
            Measure::Price => Measured {
                item,
                price_cents: i64::try_from(number).ok(),
                weight_g: None,
            },
            Measure::Weight => Measured {
                item,
                price_cents: None,
                weight_g: u32::try_from(number).ok(),
            },
        })
    }
}

/// The single contiguous run of `letter` in `b`: `None` when absent, `Err` when split.
fn run(b: &[u8], letter: u8) -> Option<Result<(usize, usize), ()>> {
    let start = b.iter().position(|&c| c == letter)?;
    let len = b[start..].iter().take_while(|&&c| c == letter).count();
    if b[start + len..].contains(&letter) {
        return Some(Err(()));
    }
    Some(Ok((start, start + len)))
}

/// Weighting factor 2-: multiply by 2, subtract the tens digit from the units digit (GenSpecs §7.9.2).
const W2_MINUS: [u8; 10] = [0, 2, 4, 6, 8, 9, 1, 3, 5, 7];
/// Weighting factor 3: units digit of the digit × 3.
const W3: [u8; 10] = [0, 3, 6, 9, 2, 5, 8, 1, 4, 7];
/// Weighting factor 5+: multiply by 5, add the tens digit to the units digit.
const W5_PLUS: [u8; 10] = [0, 5, 1, 6, 2, 7, 3, 8, 4, 9];
/// Weighting factor 5-: multiply by 5, subtract the tens digit from the units digit.
const W5_MINUS: [u8; 10] = [0, 5, 9, 4, 8, 3, 7, 2, 6, 1];

/// The price/weight verifier digit of a 4- or 5-digit field (ASCII digits); `None` for other lengths.
///
/// 4 digits (§7.9.3): weights 2-, 2-, 3, 5-; the units digit of the sum × 3 is the verifier.
/// 5 digits (§7.9.4): weights 5+, 2-, 5-, 5+, 2-; subtract the sum from the next multiple of ten; the verifier is
/// the digit whose 5- weighted product equals that result.
pub(crate) fn verifier_digit(field: &[u8]) -> Option<u8> {
    if !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let d = |i: usize| usize::from(field[i] - b'0');
    match field.len() {
        4 => {
            let sum =
                u32::from(W2_MINUS[d(0)]) + u32::from(W2_MINUS[d(1)]) + u32::from(W3[d(2)]) + u32::from(W5_MINUS[d(3)]);
            Some((sum * 3 % 10) as u8)
        }
        5 => {
            let sum = u32::from(W5_PLUS[d(0)])
                + u32::from(W2_MINUS[d(1)])
                + u32::from(W5_MINUS[d(2)])
                + u32::from(W5_PLUS[d(3)])
                + u32::from(W2_MINUS[d(4)]);
            let target = ((10 - sum % 10) % 10) as u8;
            W5_MINUS.iter().position(|&p| p == target).map(|p| p as u8)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_digit_verifier_follows_genspecs_7_9_3() {
        // 2875 (GenSpecs' own example): 2-(2)=4, 2-(8)=16→6-1=5, 3(7)=21→1, 5-(5)=25→5-2=3.
        // Sum 13, × 3 = 39 → verifier 9.
        assert_eq!(verifier_digit(b"2875"), Some(9));
        // 0150 (€1.50): 2-(0)=0, 2-(1)=2, 3(5)=15→5, 5-(0)=0. Sum 7, × 3 = 21 → 1.
        assert_eq!(verifier_digit(b"0150"), Some(1));
    }

    #[test]
    fn five_digit_verifier_follows_genspecs_7_9_4() {
        // 14685: 5+(1)=5, 2-(4)=8, 5-(6)=30→0-3=7, 5+(8)=40→0+4=4, 2-(5)=10→0-1=9. Sum 33.
        // 40 - 33 = 7; the digit whose 5- product is 7 is 6 (5×6=30 → 0-3 → 7).
        assert_eq!(verifier_digit(b"14685"), Some(6));
        // 01250 (1250 g): 5+(0)=0, 2-(1)=2, 5-(2)=10→0-1=9, 5+(5)=25→5+2=7, 2-(0)=0. Sum 18.
        // 20 - 18 = 2; 5-(7)=35→5-3=2, so the verifier is 7.
        assert_eq!(verifier_digit(b"01250"), Some(7));
        assert_eq!(verifier_digit(b"123"), None);
        assert_eq!(verifier_digit(b"12a45"), None);
    }

    #[test]
    fn templates_are_validated_with_reasons() {
        assert!(Template::compile("2IIIIIIPPPPPC").is_ok());
        assert!(Template::compile("28IIIIVWWWWWC").is_ok());
        assert!(Template::compile("02IIIIIPPPPPC").is_ok());
        let bad = [
            ("2IIIIIIPPPPC", "13 characters"),
            ("2IIIIIIPPPPPX", "not a template letter"),
            ("2IIIIII3PPPPC", "leading prefix"),
            ("8IIIIIIPPPPPC", "must start with 2 or 02"),
            ("IIIIIIIPPPPPC", "must start with 2 or 02"),
            ("2IIIIIIPPPPCC", "exactly one C"),
            ("2IIIIIVVPPPPC", "at most one V"),
            ("2PPPPPPPPPPPC", "item code"),
            ("2IIIIIIIIIIIC", "price (P) or a weight (W)"),
            ("2IIIIIPPPWWWC", "both"),
            ("2IIIPPIIPPPPC", "one run"),
            ("2IIIVPPPPPPPC", "4- or 5-digit"),
        ];
        for (t, why) in bad {
            let e = Template::compile(t).expect_err(t);
            assert!(e.contains(why), "{t}: {e}");
        }
    }
}
