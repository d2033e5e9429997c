//! GS1 application identifiers (AIs): the table this kiosk understands, per-AI validation, and the parser for
//! element strings as GS1-128, GS1 DataMatrix, GS1 QR and GS1 DataBar send them (FNC1 transmitted as GS, 0x1D).
//! Also reads the human-readable bracketed form `(01)09501101530003(17)261231`, handy when staff type a code.
//!
//! Supported AIs (GS1 General Specifications §3): 00 (SSCC), 01 (GTIN), 02 (content GTIN), 10 (batch/lot),
//! 11, 12, 13, 15, 16, 17 (dates), 20 (variant), 21 (serial), 22 (consumer product variant), 240, 241, 250, 251,
//! 400, 410–417 (GLNs), 422 and 426 (ISO 3166 country of origin / processing), 7006 (first freeze date), 30 and 37 (counts), 310n–316n, 320n–329n, 330n–337n, 340n–349n, 350n–357n, 360n–369n
//! (measures, n = decimals 0–5), 390n and 392n (amount/price, n = decimals 0–9), 391n and 393n (ISO 4217 currency +
//! amount), 90 and 91–99 (company internal). Any other AI rejects the code: without its definition the parser
//! cannot know where the next AI starts, and guessing would misread the ones after it.
//!
//! Derived values: `weight_g` from 310n (kilograms) or, when absent, 320n (pounds × 453.59237 g, the exact legal
//! definition); both rounded half-up to whole grams. `price_cents` from 392n (currency implied by the store):
//! exact cents when n ≤ 2, or n > 2 with only zeros beyond the cents; otherwise none (the AI value is still
//! reported). 390n/393n carry no price_cents: 390n is an amount payable, 393n names its own currency.

use std::collections::BTreeMap;

use super::{check_digit, BarcodeError, Gtin, Place};

/// The GS1 separator (FNC1 as transmitted).
pub(crate) const GS: u8 = 0x1D;

/// Longest element string value the table allows (AI 91–99: 90 characters).
const MAX_ALNUM: usize = 90;

/// How an AI's data is formatted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// Exactly `len` digits, the last one a GS1 check digit when `check`.
    Numeric { len: usize, check: bool },
    /// YYMMDD; DD may be 00 ("end of the month").
    Date,
    /// Six digits; the AI's last digit is the number of decimals (0–5).
    Measure,
    /// 1 to `max` digits.
    NumericVar { max: usize },
    /// 1 to `max` characters of GS1 AI encodable character set 82.
    Alnum { max: usize },
    /// 1 to 15 digits, decimals = the AI's last digit; with `iso`, preceded by a 3-digit ISO 4217 currency code.
    Amount { iso: bool },
}

impl Field {
    /// Data length when fixed.
    fn fixed_len(self) -> Option<usize> {
        match self {
            Field::Numeric { len, .. } => Some(len),
            Field::Date | Field::Measure => Some(6),
            _ => None,
        }
    }
}

/// Looks up the AI at the start of `d`: its length in digits and its format.
pub(crate) fn lookup(d: &[u8]) -> Option<(usize, Field)> {
    let digit = |i: usize| d.get(i).copied().filter(u8::is_ascii_digit);
    let (a, b) = (digit(0)?, digit(1)?);
    let two = match (a, b) {
        (b'0', b'0') => Some(Field::Numeric { len: 18, check: true }),
        (b'0', b'1') | (b'0', b'2') => Some(Field::Numeric { len: 14, check: true }),
        (b'1', b'0') | (b'2', b'1') | (b'2', b'2') => Some(Field::Alnum { max: 20 }),
        (b'1', b'1' | b'2' | b'3' | b'5' | b'6' | b'7') => Some(Field::Date),
        (b'2', b'0') => Some(Field::Numeric { len: 2, check: false }),
        (b'3', b'0') | (b'3', b'7') => Some(Field::NumericVar { max: 8 }),
        (b'9', b'0') => Some(Field::Alnum { max: 30 }),
        (b'9', _) => Some(Field::Alnum { max: MAX_ALNUM }),
        _ => None,
    };
    if let Some(f) = two {
        return Some((2, f));
    }
    let c = digit(2)?;
    let three = match (a, b, c) {
        (b'2', b'4', b'0' | b'1') | (b'2', b'5', b'0' | b'1') | (b'4', b'0', b'0') => Some(Field::Alnum { max: 30 }),
        (b'4', b'1', b'0'..=b'7') => Some(Field::Numeric { len: 13, check: true }),
        (b'4', b'2', b'2' | b'6') => Some(Field::Numeric { len: 3, check: false }),
        _ => None,
    };
    if let Some(f) = three {
        return Some((3, f));
    }
    // Every remaining AI has four digits.
    digit(3)?;
    let four = match (a, b, c) {
        (b'3', b'1', b'0'..=b'6')
        | (b'3', b'2', _)
        | (b'3', b'3', b'0'..=b'7')
        | (b'3', b'4', _)
        | (b'3', b'5', b'0'..=b'7')
        | (b'3', b'6', _) => Field::Measure,
        (b'3', b'9', b'0' | b'2') => Field::Amount { iso: false },
        (b'3', b'9', b'1' | b'3') => Field::Amount { iso: true },
        (b'7', b'0', b'0') if d[3] == b'6' => Field::Date,
        _ => return None,
    };
    Some((4, four))
}

/// AIs whose length is predefined by their first two digits (GS1 GenSpecs Figure 7.8.5-2): they need no GS
/// after them, every other AI ends at GS or at the end of the data.
fn predefined(ai: &[u8]) -> bool {
    matches!(
        (ai[0], ai[1]),
        (b'0', b'0'..=b'4') | (b'1', b'1'..=b'9') | (b'2', b'0') | (b'3', b'1'..=b'6') | (b'4', b'1')
    )
}

/// GS1 AI encodable character set 82 (GenSpecs Figure 7.11-1).
fn in_set_82(b: u8) -> bool {
    matches!(b, b'!' | b'"' | b'%'..=b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

/// Printable form of a byte for messages.
fn show(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02X}")
    }
}

/// AIs and values collected from an element string or a Digital Link, validated one by one.
#[derive(Debug, Default)]
pub(crate) struct Elements {
    /// Every AI other than 01.
    pub ais: BTreeMap<String, String>,
    /// AI 01.
    pub gtin: Option<Gtin>,
}

/// What an element string or Digital Link yields.
#[derive(Debug)]
pub(crate) struct Gs1Data {
    pub gtin: Option<Gtin>,
    pub ais: BTreeMap<String, String>,
    pub price_cents: Option<i64>,
    pub weight_g: Option<u32>,
}

impl Elements {
    /// Validates `value` for `ai` (format `field`) and records it. `place` is where the AI starts.
    pub(crate) fn add(&mut self, ai: &str, field: Field, value: &[u8], place: Place) -> Result<(), BarcodeError> {
        validate(ai, field, value, place)?;
        // Validated above: only set-82 characters, all ASCII.
        let text: String = value.iter().map(|&b| b as char).collect();
        let twice = || BarcodeError::AiValue {
            ai: ai.to_string(),
            place,
            reason: "appears twice with different values".into(),
        };
        if ai == "01" {
            let gtin = Gtin::from_ascii_digits(value)?;
            match self.gtin {
                Some(g) if g != gtin => return Err(twice()),
                _ => self.gtin = Some(gtin),
            }
            return Ok(());
        }
        match self.ais.get(ai) {
            Some(old) if *old != text => Err(twice()),
            Some(_) => Ok(()),
            None => {
                self.ais.insert(ai.to_string(), text);
                Ok(())
            }
        }
    }

    /// Whether nothing was collected.
    pub(crate) fn is_empty(&self) -> bool {
        self.gtin.is_none() && self.ais.is_empty()
    }

    /// Derives the GTIN (01, else 02), price and weight.
    pub(crate) fn finish(self) -> Gs1Data {
        let gtin = self.gtin.or_else(|| Gtin::parse(self.ais.get("02")?).ok());
        let find = |prefix: &str| {
            self.ais
                .iter()
                .find(|(k, _)| k.len() == 4 && k.starts_with(prefix))
                .map(|(k, v)| (k.as_bytes()[3] - b'0', v))
        };
        let weight_g = find("310")
            .and_then(|(n, v)| kg_to_g(v, n))
            .or_else(|| find("320").and_then(|(n, v)| lb_to_g(v, n)));
        let price_cents = find("392").and_then(|(n, v)| amount_to_cents(v, n));
        Gs1Data {
            gtin,
            ais: self.ais,
            price_cents,
            weight_g,
        }
    }
}

fn pow10(n: u32) -> u64 {
    10u64.pow(n)
}

/// Rounded half-up integer division.
fn div_round(num: u128, den: u128) -> u128 {
    (num + den / 2) / den
}

/// 310n: six digits of kilograms with `n` decimals, to whole grams.
fn kg_to_g(v: &str, n: u8) -> Option<u32> {
    let v: u64 = v.parse().ok()?;
    let g = if n <= 3 {
        v * pow10(3 - n as u32)
    } else {
        div_round(v as u128, pow10(n as u32 - 3) as u128) as u64
    };
    u32::try_from(g).ok()
}

/// 320n: six digits of pounds with `n` decimals, to whole grams (1 lb = 453.59237 g exactly).
fn lb_to_g(v: &str, n: u8) -> Option<u32> {
    let v: u128 = v.parse().ok()?;
    let g = div_round(v * 45_359_237, pow10(n as u32 + 5) as u128);
    u32::try_from(g).ok()
}

/// 392n: an amount with `n` decimals, to cents when exactly representable.
fn amount_to_cents(v: &str, n: u8) -> Option<i64> {
    let v: u64 = v.parse().ok()?;
    let cents = if n <= 2 {
        v.checked_mul(pow10(2 - n as u32))?
    } else {
        let div = pow10(n as u32 - 2);
        if v % div != 0 {
            return None;
        }
        v / div
    };
    i64::try_from(cents).ok()
}

/// Validates one AI value against its format.
pub(crate) fn validate(ai: &str, field: Field, v: &[u8], place: Place) -> Result<(), BarcodeError> {
    let len_err = |reason: String| BarcodeError::AiLength {
        ai: ai.to_string(),
        place,
        reason,
    };
    let digits = |v: &[u8]| -> Result<(), BarcodeError> {
        match v.iter().find(|b| !b.is_ascii_digit()) {
            Some(&b) => Err(BarcodeError::AiCharacters {
                ai: ai.to_string(),
                place,
                reason: format!("{} is not a digit", show(b)),
            }),
            None => Ok(()),
        }
    };
    let decimals = ai.as_bytes().last().map_or(0, |d| d - b'0');
    match field {
        Field::Numeric { len, check } => {
            if v.len() != len {
                return Err(len_err(format!("needs {len} digits, found {}", v.len())));
            }
            digits(v)?;
            if check {
                let expected = check_digit(&v[..len - 1]);
                let found = v[len - 1] - b'0';
                if expected != found {
                    return Err(BarcodeError::AiCheckDigit {
                        ai: ai.to_string(),
                        place,
                        found,
                        expected,
                    });
                }
            }
        }
        Field::Date => {
            if v.len() != 6 {
                return Err(len_err(format!("needs 6 digits (YYMMDD), found {}", v.len())));
            }
            digits(v)?;
            let num = |i: usize| (v[i] - b'0') * 10 + (v[i + 1] - b'0');
            let (yy, mm, dd) = (num(0), num(2), num(4));
            let date_err = |reason: String| BarcodeError::AiDate {
                ai: ai.to_string(),
                place,
                reason,
            };
            if !(1..=12).contains(&mm) {
                return Err(date_err(format!("month {mm:02} is not a month")));
            }
            // The century is within ±50 years of today (GenSpecs §7.12), so YY % 4 == 0 is a leap year
            // (2000 was one), without reading a clock.
            let days = match mm {
                2 if yy % 4 == 0 => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            if dd > days {
                return Err(date_err(format!(
                    "day {dd:02} is not a day of month {mm:02} (it has {days})"
                )));
            }
        }
        Field::Measure => {
            if v.len() != 6 {
                return Err(len_err(format!("needs 6 digits, found {}", v.len())));
            }
            digits(v)?;
            if decimals > 5 {
                return Err(BarcodeError::AiValue {
                    ai: ai.to_string(),
                    place,
                    reason: format!("{decimals} decimals is not defined (0 to 5)"),
                });
            }
        }
        Field::NumericVar { max } => {
            if v.is_empty() || v.len() > max {
                return Err(len_err(format!("needs 1 to {max} digits, found {}", v.len())));
            }
            digits(v)?;
        }
        Field::Alnum { max } => {
            if v.is_empty() || v.len() > max {
                return Err(len_err(format!("needs 1 to {max} characters, found {}", v.len())));
            }
            if let Some(&b) = v.iter().find(|&&b| !in_set_82(b)) {
                return Err(BarcodeError::AiCharacters {
                    ai: ai.to_string(),
                    place,
                    reason: format!("{} is not in the GS1 character set 82", show(b)),
                });
            }
        }
        Field::Amount { iso } => {
            let amount = if iso {
                if v.len() < 3 {
                    return Err(len_err(format!(
                        "needs a 3-digit ISO 4217 currency code, found {} digits",
                        v.len()
                    )));
                }
                digits(&v[..3])?;
                &v[3..]
            } else {
                v
            };
            if amount.is_empty() || amount.len() > 15 {
                return Err(len_err(format!(
                    "needs an amount of 1 to 15 digits, found {}",
                    amount.len()
                )));
            }
            digits(amount)?;
        }
    }
    Ok(())
}

/// Parses an element string (no leading identifier; a leading GS is allowed). `offset` = input bytes before
/// `data`, for positions.
pub(crate) fn parse_element_string(data: &[u8], offset: usize) -> Result<Gs1Data, BarcodeError> {
    if data.first() == Some(&b'(') {
        return parse_bracketed(data, offset);
    }
    let mut els = Elements::default();
    let n = data.len();
    let mut i = 0;
    while i < n {
        if data[i] == GS {
            i += 1;
            continue;
        }
        let place = Place::At(offset + i + 1);
        let (ai_len, field) = lookup_or_err(&data[i..], place)?;
        let ai = ascii(&data[i..i + ai_len]);
        let start = i + ai_len;
        let stop = data[start..].iter().position(|&b| b == GS).map_or(n, |p| start + p);
        let end = match field.fixed_len() {
            Some(want) if predefined(ai.as_bytes()) => {
                if stop - start < want {
                    return Err(BarcodeError::AiLength {
                        ai,
                        place,
                        reason: format!("needs {want} digits, found {}", stop - start),
                    });
                }
                start + want
            }
            _ => stop,
        };
        let value = &data[start..end];
        if let Field::Alnum { max } | Field::NumericVar { max } = field {
            if value.len() > max {
                return Err(BarcodeError::AiLength {
                    ai,
                    place,
                    reason: format!(
                        "holds at most {max} characters, found {} (missing GS separator?)",
                        value.len()
                    ),
                });
            }
        }
        els.add(&ai, field, value, place)?;
        i = end;
    }
    if els.is_empty() {
        return Err(BarcodeError::Gs1Syntax {
            place: Place::At(offset + 1),
            reason: "no element string after the GS1 marker".into(),
        });
    }
    Ok(els.finish())
}

/// The human-readable form `(AI)value(AI)value…`. A value ends at the next `(`, so values holding `(` cannot be
/// typed this way (they are rare; the scanned form has no such limit).
fn parse_bracketed(data: &[u8], offset: usize) -> Result<Gs1Data, BarcodeError> {
    let mut els = Elements::default();
    let n = data.len();
    let mut i = 0;
    while i < n {
        let place = Place::At(offset + i + 1);
        if data[i] != b'(' {
            return Err(BarcodeError::Gs1Syntax {
                place,
                reason: format!("expected '(', found {}", show(data[i])),
            });
        }
        let close = data[i..]
            .iter()
            .position(|&b| b == b')')
            .map(|p| i + p)
            .ok_or_else(|| BarcodeError::Gs1Syntax {
                place,
                reason: "'(' without ')'".into(),
            })?;
        let ai_digits = &data[i + 1..close];
        let (ai_len, field) = lookup_or_err(ai_digits, place)?;
        if ai_len != ai_digits.len() {
            return Err(BarcodeError::UnknownAi {
                digits: ascii(ai_digits),
                place,
            });
        }
        let start = close + 1;
        let end = data[start..].iter().position(|&b| b == b'(').map_or(n, |p| start + p);
        els.add(&ascii(ai_digits), field, &data[start..end], place)?;
        i = end;
    }
    Ok(els.finish())
}

/// [`lookup`], with an error naming what was found instead of an AI.
fn lookup_or_err(d: &[u8], place: Place) -> Result<(usize, Field), BarcodeError> {
    if let Some(found) = lookup(d) {
        return Ok(found);
    }
    let digits: Vec<u8> = d.iter().copied().take_while(u8::is_ascii_digit).take(4).collect();
    if digits.is_empty() {
        let reason = match d.first() {
            Some(&b) => format!("expected an AI (digits), found {}", show(b)),
            None => "expected an AI, found the end".into(),
        };
        return Err(BarcodeError::Gs1Syntax { place, reason });
    }
    Err(BarcodeError::UnknownAi {
        digits: ascii(&digits),
        place,
    })
}

/// ASCII bytes (checked by the caller) as a String.
fn ascii(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_convert_to_grams_exactly_or_half_up() {
        assert_eq!(kg_to_g("001250", 3), Some(1250));
        assert_eq!(kg_to_g("000015", 0), Some(15_000));
        assert_eq!(kg_to_g("012345", 4), Some(1235)); // 1.2345 kg = 1234.5 g → 1235
        assert_eq!(kg_to_g("012344", 4), Some(1234));
        // 1 lb = 453.59237 g; 2.00 lb = 907.18474 g → 907.
        assert_eq!(lb_to_g("000200", 2), Some(907));
    }

    #[test]
    fn prices_convert_to_cents_only_when_exact() {
        assert_eq!(amount_to_cents("1299", 2), Some(1299));
        assert_eq!(amount_to_cents("13", 0), Some(1300));
        assert_eq!(amount_to_cents("12990", 3), Some(1299));
        assert_eq!(amount_to_cents("12995", 3), None);
    }

    #[test]
    fn predefined_length_table_matches_genspecs() {
        for ai in ["00", "01", "02", "11", "17", "20", "3103", "3922"] {
            assert_eq!(predefined(ai.as_bytes()), ai != "3922", "{ai}");
        }
        assert!(!predefined(b"10") && !predefined(b"21") && !predefined(b"30") && !predefined(b"37"));
    }
}
