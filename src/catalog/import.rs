//! JSON Lines import format, pure: one [`Product`] per line in its serde form, e.g.
//!
//! ```text
//! {"sku":"PAS-001","gtins":["8076809513753"],"name":"Spaghetti n.5","brand":"Barilla","price_cents":129,
//!  "vat_rate_bp":400,"stock":120,"unit":"piece",
//!  "promotion":{"id":"P1","label":"3x2","type":"multi_buy","buy":3,"pay":2}}
//! ```
//!
//! Owns line framing ([`LineReader`]: 1-based numbers, blank lines skipped, lines over [`MAX_LINE_BYTES`]
//! refused without buffering them), the validation of one product ([`parse_product`], [`check_product`]) and
//! the checks that span the file ([`Validator`]: a SKU, GTIN or item code used twice, one mix-and-match group
//! with two different offers). Every refusal is a
//! sentence naming the field. Nothing here touches storage; whether a GTIN already belongs to a product in
//! the store is the storage layer's check, through [`Validator::gtin_owners`].
//!
//! GTINs may be written with 8, 12, 13 or 14 digits; they are stored as GTIN-14, so `"8001234567897"` and
//! `"08001234567897"` are the same code.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::sync::Arc;

use super::{Product, Promotion, PromotionKind};
use crate::barcode::Gtin;

/// Longest line accepted, in bytes (without the line end). A real product is under 2 KiB; anything this long
/// is a broken export, and refusing it keeps memory bounded.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Highest price accepted, in cents (999 999,99 €): above that it is a unit mix-up, not a price.
pub const MAX_PRICE_CENTS: i64 = 99_999_999;

/// Highest VAT rate accepted, in basis points (100 %). Italy uses 400, 500, 1000 and 2200.
pub const MAX_VAT_RATE_BP: u32 = 10_000;

/// One non-blank line of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the file.
    pub number: u64,
    /// The text without its line end, or why the line cannot be read as text.
    pub text: Result<String, String>,
}

/// Splits a reader into numbered lines, skipping blank ones. Never holds more than [`MAX_LINE_BYTES`] of a
/// line in memory, whatever the input.
pub struct LineReader<R> {
    inner: R,
    number: u64,
    bytes_read: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    /// Reads lines from `inner`.
    pub fn new(inner: R) -> LineReader<R> {
        LineReader {
            inner,
            number: 0,
            bytes_read: 0,
            buf: Vec::new(),
        }
    }

    /// Bytes consumed so far (for a progress bar over the file size).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next non-blank line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            self.buf.clear();
            let mut too_long = false;
            let mut saw_any = false;
            loop {
                let chunk = self.inner.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                saw_any = true;
                let (take, found_end) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => (i, true),
                    None => (chunk.len(), false),
                };
                // One byte of slack for a `\r` before the `\n`. Once too long, the rest of the line is only skipped.
                if !too_long && self.buf.len() + take <= MAX_LINE_BYTES + 1 {
                    self.buf.extend_from_slice(&chunk[..take]);
                } else {
                    too_long = true;
                    self.buf.clear();
                }
                let consumed = take + usize::from(found_end);
                self.inner.consume(consumed);
                self.bytes_read += consumed as u64;
                if found_end {
                    break;
                }
            }
            if !saw_any {
                return Ok(None);
            }
            self.number += 1;
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            if too_long || self.buf.len() > MAX_LINE_BYTES {
                let reason = format!("line is longer than {MAX_LINE_BYTES} bytes");
                return Ok(Some(Line {
                    number: self.number,
                    text: Err(reason),
                }));
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(s) => Ok(s.to_owned()),
                Err(e) => Err(format!("not UTF-8 text (byte {})", e.valid_up_to() + 1)),
            };
            return Ok(Some(Line {
                number: self.number,
                text,
            }));
        }
    }
}

/// Parses one line into a checked [`Product`]. The error names the field (`gtins[1]`, `promotion.percent`)
/// and what is wrong with it.
pub fn parse_product(text: &str) -> Result<Product, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let product: Product = match serde_path_to_error::deserialize(&mut de) {
        Ok(p) => p,
        Err(e) => return Err(describe_parse_error(text, e)),
    };
    de.end().map_err(|e| format!("text after the product: {e}"))?;
    check_product(&product)?;
    Ok(product)
}

/// Turns a serde error into "field: reason", quoting the offending GTIN when a GTIN is the problem.
fn describe_parse_error(text: &str, e: serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.into_inner();
    // serde_json appends "at line 1 column N"; the column is useful, the line is always 1.
    let msg = inner.to_string().replace(" at line 1 column ", " at column ");
    if path == "." {
        return msg;
    }
    if let Some(index) = path.strip_prefix("gtins[").and_then(|r| r.strip_suffix(']')) {
        let raw = serde_json::from_str::<serde_json::Value>(text).ok().and_then(|v| {
            v.get("gtins")?
                .get(index.parse::<usize>().ok()?)?
                .as_str()
                .map(str::to_owned)
        });
        if let Some(raw) = raw {
            return format!("{path} \"{raw}\": {msg}");
        }
    }
    format!("{path}: {msg}")
}

/// Checks the rules serde cannot express. The error names the field.
pub fn check_product(p: &Product) -> Result<(), String> {
    check_text("sku", &p.sku, true)?;
    if p.sku.trim() != p.sku {
        return Err(format!("sku \"{}\": leading or trailing spaces", p.sku));
    }
    if p.sku.len() > 64 {
        return Err("sku: longer than 64 bytes".into());
    }
    check_text("name", &p.name, true)?;
    check_text("brand", &p.brand, false)?;
    for (i, g) in p.gtins.iter().enumerate() {
        if let Some(j) = p.gtins[..i].iter().position(|h| h == g) {
            return Err(format!("gtins[{i}] \"{}\": same GTIN as gtins[{j}]", g.display_form()));
        }
    }
    if let Some(code) = &p.item_code {
        if code.is_empty() || code.len() > 12 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("item_code \"{code}\": must be 1 to 12 digits"));
        }
    }
    if !(0..=MAX_PRICE_CENTS).contains(&p.price_cents) {
        return Err(format!("price_cents {}: must be 0..={MAX_PRICE_CENTS}", p.price_cents));
    }
    if let Some(member) = p.member_price_cents {
        if member < 0 || member >= p.price_cents {
            return Err(format!(
                "member_price_cents {member}: must be 0 or more and below price_cents ({})",
                p.price_cents
            ));
        }
    }
    if p.vat_rate_bp > MAX_VAT_RATE_BP {
        return Err(format!(
            "vat_rate_bp {}: must be 0..={MAX_VAT_RATE_BP} basis points (2200 = 22 %)",
            p.vat_rate_bp
        ));
    }
    if let Some(promo) = &p.promotion {
        check_text("promotion.id", &promo.id, true)?;
        check_text("promotion.label", &promo.label, true)?;
        check_promotion(promo, p.price_cents)?;
    }
    if let Some(age) = p.min_age {
        if !(1..=99).contains(&age) {
            return Err(format!(
                "min_age {age}: must be 1..=99 (leave it out when there is no restriction)"
            ));
        }
    }
    if let Some(url) = &p.url {
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("url \"{url}\": must be an http(s) URL without spaces"));
        }
    }
    Ok(())
}

fn check_text(field: &str, value: &str, required: bool) -> Result<(), String> {
    if required && value.trim().is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field}: contains a control character"));
    }
    Ok(())
}

/// Longest mix-and-match group id, in bytes: an id, not a description.
pub const MAX_GROUP_BYTES: usize = 64;

fn check_promotion(promo: &Promotion, price_cents: i64) -> Result<(), String> {
    if let (Some(from), Some(to)) = (promo.valid_from, promo.valid_to) {
        if to < from {
            return Err(format!(
                "promotion.valid_to {to}: before promotion.valid_from {from} (both days are inclusive)"
            ));
        }
    }
    match promo.kind {
        PromotionKind::PercentOff { percent } if !(1..=99).contains(&percent) => {
            Err(format!("promotion.percent {percent}: must be 1..=99 for percent_off"))
        }
        PromotionKind::AmountOff { cents } if cents < 1 || cents >= price_cents => Err(format!(
            "promotion.cents {cents}: amount_off must be at least 1 and below the price ({price_cents})"
        )),
        PromotionKind::FixedPrice { cents } if cents < 0 || cents >= price_cents => Err(format!(
            "promotion.cents {cents}: fixed_price must be 0 or more and below the price ({price_cents})"
        )),
        PromotionKind::MultiBuy { buy, pay } if buy < 2 || pay < 1 || pay >= buy => Err(format!(
            "promotion: multi_buy {buy} for {pay}: needs buy >= 2 and 1 <= pay < buy"
        )),
        PromotionKind::SecondAtPercentOff { percent } if !(1..=100).contains(&percent) => Err(format!(
            "promotion.percent {percent}: must be 1..=100 for second_at_percent_off"
        )),
        PromotionKind::MixAndMatch { ref group, buy, pay } => {
            check_text("promotion.group", group, true)?;
            if group.trim() != group || group.len() > MAX_GROUP_BYTES {
                return Err(format!(
                    "promotion.group \"{group}\": must be at most {MAX_GROUP_BYTES} bytes without leading or \
                     trailing spaces"
                ));
            }
            if buy < 2 || pay < 1 || pay >= buy {
                return Err(format!(
                    "promotion: mix_and_match {buy} for {pay}: needs buy >= 2 and 1 <= pay < buy"
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Where a key was first seen in the file.
#[derive(Debug, Clone)]
struct Seen {
    line: u64,
    sku: Arc<str>,
}

/// Checks a whole file line by line: each product on its own, then that no SKU, GTIN or item code appears
/// twice in the file. Keeps only the keys (a few tens of bytes per product), never the products.
#[derive(Debug, Default)]
pub struct Validator {
    skus: HashMap<Arc<str>, u64>,
    gtins: HashMap<Gtin, Seen>,
    item_codes: HashMap<String, Seen>,
    /// Mix-and-match group → its (buy, pay) where first seen: one group is one offer.
    groups: HashMap<String, ((u8, u8), Seen)>,
}

impl Validator {
    /// A validator that has seen nothing.
    pub fn new() -> Validator {
        Validator::default()
    }

    /// Parses and checks line `number`. On success the product's keys are remembered for the later lines.
    pub fn accept(&mut self, number: u64, text: &str) -> Result<Product, String> {
        let p = parse_product(text)?;
        if let Some(line) = self.skus.get(p.sku.as_str()) {
            return Err(format!("sku \"{}\": already on line {line}", p.sku));
        }
        for (i, g) in p.gtins.iter().enumerate() {
            if let Some(seen) = self.gtins.get(g) {
                return Err(format!(
                    "gtins[{i}] \"{}\": already used by sku \"{}\" on line {}",
                    g.display_form(),
                    seen.sku,
                    seen.line
                ));
            }
        }
        if let Some(code) = &p.item_code {
            if let Some(seen) = self.item_codes.get(code) {
                return Err(format!(
                    "item_code \"{code}\": already used by sku \"{}\" on line {}",
                    seen.sku, seen.line
                ));
            }
        }
        let group = match p.promotion.as_ref().map(|pr| &pr.kind) {
            Some(PromotionKind::MixAndMatch { group, buy, pay }) => Some((group, (*buy, *pay))),
            _ => None,
        };
        if let Some((group, terms)) = group {
            if let Some((seen_terms, seen)) = self.groups.get(group) {
                if *seen_terms != terms {
                    return Err(format!(
                        "promotion.group \"{group}\": {} for {} here but {} for {} for sku \"{}\" on line {}",
                        terms.0, terms.1, seen_terms.0, seen_terms.1, seen.sku, seen.line
                    ));
                }
            }
        }
        let sku: Arc<str> = Arc::from(p.sku.as_str());
        if let Some((group, terms)) = group {
            self.groups.entry(group.clone()).or_insert((
                terms,
                Seen {
                    line: number,
                    sku: sku.clone(),
                },
            ));
        }
        self.skus.insert(sku.clone(), number);
        for g in &p.gtins {
            self.gtins.insert(
                *g,
                Seen {
                    line: number,
                    sku: sku.clone(),
                },
            );
        }
        if let Some(code) = &p.item_code {
            self.item_codes.insert(code.clone(), Seen { line: number, sku });
        }
        Ok(p)
    }

    /// Whether an accepted line had this SKU.
    pub fn has_sku(&self, sku: &str) -> bool {
        self.skus.contains_key(sku)
    }

    /// Every GTIN of the accepted lines with its SKU and line number.
    pub fn gtin_owners(&self) -> impl Iterator<Item = (&Gtin, &str, u64)> {
        self.gtins.iter().map(|(g, s)| (g, &*s.sku, s.line))
    }

    /// Every item code of the accepted lines with its SKU and line number.
    pub fn item_code_owners(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.item_codes.iter().map(|(c, s)| (c.as_str(), &*s.sku, s.line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        r#"{"sku":"A1","gtins":["8001234567897"],"name":"Caffè","brand":"X","price_cents":300,"vat_rate_bp":2200}"#;

    fn with(field: &str) -> String {
        GOOD.replacen('}', &format!(",{field}}}"), 1)
    }

    fn lines(input: &str) -> Vec<Line> {
        let mut r = LineReader::new(input.as_bytes());
        let mut out = Vec::new();
        while let Some(l) = r.next_line().expect("reading from memory") {
            out.push(l);
        }
        out
    }

    #[test]
    fn numbers_lines_from_one_and_skips_blank_ones() {
        let got = lines("a\n\n  \r\nb\r\nc");
        let numbered: Vec<_> = got.iter().map(|l| (l.number, l.text.clone())).collect();
        assert_eq!(
            numbered,
            [(1, Ok("a".into())), (4, Ok("b".into())), (5, Ok("c".into()))]
        );
    }

    #[test]
    fn refuses_an_overlong_line_and_carries_on() {
        let input = format!("{}\nok\n", "x".repeat(MAX_LINE_BYTES + 1));
        let got = lines(&input);
        assert_eq!(got[0].number, 1);
        assert!(got[0].text.as_ref().is_err_and(|e| e.contains("longer than 65536")));
        assert_eq!(
            got[1],
            Line {
                number: 2,
                text: Ok("ok".into())
            }
        );
    }

    #[test]
    fn an_overlong_line_read_in_small_chunks_is_refused_whole() {
        let input = format!("{}\nok\n", "x".repeat(MAX_LINE_BYTES + 5000));
        let mut r = LineReader::new(std::io::BufReader::with_capacity(1000, input.as_bytes()));
        let first = r.next_line().expect("in memory").expect("a line");
        assert!(first.text.is_err_and(|e| e.contains("longer than")));
        assert_eq!(
            r.next_line().expect("in memory"),
            Some(Line {
                number: 2,
                text: Ok("ok".into())
            })
        );
        assert_eq!(r.bytes_read(), input.len() as u64);
    }

    #[test]
    fn refuses_bytes_that_are_not_utf8() {
        let got = lines_bytes(b"ok\n\xff\xfe\n");
        assert!(got[1].text.as_ref().is_err_and(|e| e.contains("not UTF-8")));
    }

    fn lines_bytes(input: &[u8]) -> Vec<Line> {
        let mut r = LineReader::new(input);
        std::iter::from_fn(|| r.next_line().expect("reading from memory")).collect()
    }

    #[test]
    fn accepts_every_gtin_length_and_normalises_it() {
        let p = parse_product(&GOOD.replace("8001234567897", "96385074")).expect("EAN-8 is valid");
        assert_eq!(p.gtins[0].as_str(), "00000096385074");
        let p = parse_product(&GOOD.replace("8001234567897", "036000291452")).expect("UPC-A is valid");
        assert_eq!(p.gtins[0].as_str(), "00036000291452");
    }

    #[test]
    fn names_the_field_and_the_reason() {
        let cases = [
            (GOOD.replace("\"A1\"", "\"\""), "sku: must not be empty"),
            (GOOD.replace("Caffè", " "), "name: must not be empty"),
            (GOOD.replace("300", "-5"), "price_cents -5"),
            (GOOD.replace("2200", "12000"), "vat_rate_bp 12000"),
            (
                GOOD.replace("8001234567897", "8001234567890"),
                "gtins[0] \"8001234567890\": GTIN check digit is 0",
            ),
            (GOOD.replace("8001234567897", "80012345"), "gtins[0] \"80012345\""),
            (with(r#""colour":"red""#), "unknown field `colour`"),
            (with(r#""unit":"litre""#), "unit: unknown variant `litre`"),
            (
                with(r#""promotion":{"id":"P","label":"-120%","type":"percent_off","percent":120}"#),
                "promotion.percent 120",
            ),
            (
                with(r#""promotion":{"id":"P","label":"x","type":"percent_off","percent":10,"cents":5}"#),
                "unknown field `cents`",
            ),
            (
                with(r#""promotion":{"id":"P","label":"2x3","type":"multi_buy","buy":2,"pay":3}"#),
                "multi_buy 2 for 3",
            ),
            (
                with(r#""promotion":{"id":"P","label":"x","type":"amount_off","cents":300}"#),
                "promotion.cents 300",
            ),
            (with(r#""min_age":0"#), "min_age 0"),
            (with(r#""item_code":"12a""#), "item_code \"12a\""),
            (with(r#""url":"ftp://x""#), "url \"ftp://x\""),
            (
                GOOD.replace("[\"8001234567897\"]", "[\"8001234567897\",\"08001234567897\"]"),
                "gtins[1] \"8001234567897\": same GTIN as gtins[0]",
            ),
            (
                with(r#""member_price_cents":300"#),
                "member_price_cents 300: must be 0 or more and below",
            ),
            (with(r#""member_price_cents":-1"#), "member_price_cents -1"),
            (
                with(
                    r#""promotion":{"id":"P","label":"x","type":"percent_off","percent":10,"valid_from":"2026-02-30"}"#,
                ),
                "promotion.valid_from: day 30 does not exist in 2026-02",
            ),
            (
                with(r#""promotion":{"id":"P","label":"x","type":"percent_off","percent":10,"valid_to":"1/3/2026"}"#),
                "promotion.valid_to: \"1/3/2026\" is not a date of the form YYYY-MM-DD",
            ),
            (
                with(
                    r#""promotion":{"id":"P","label":"x","type":"percent_off","percent":10,"valid_from":"2026-03-05","valid_to":"2026-03-01"}"#,
                ),
                "promotion.valid_to 2026-03-01: before promotion.valid_from 2026-03-05",
            ),
            (
                with(r#""promotion":{"id":"P","label":"x","type":"percent_off","percent":10,"members_only":"yes"}"#),
                "promotion.members_only: invalid type",
            ),
            (
                with(r#""promotion":{"id":"P","label":"x","type":"mix_and_match","group":"yog","buy":3,"pay":3}"#),
                "mix_and_match 3 for 3",
            ),
            (
                with(r#""promotion":{"id":"P","label":"x","type":"mix_and_match","group":" ","buy":3,"pay":2}"#),
                "promotion.group: must not be empty",
            ),
            (
                with(r#""promotion":{"id":"P","label":"x","type":"mix_and_match","buy":3,"pay":2}"#),
                "missing field `group`",
            ),
            (format!("{GOOD} {{}}"), "text after the product"),
            ("not json".to_owned(), "at column 2"),
        ];
        for (line, want) in cases {
            let err = parse_product(&line).expect_err(&line);
            assert!(err.contains(want), "{line}\n  gave {err:?}\n  wanted {want:?}");
        }
    }

    #[test]
    fn every_promotion_kind_round_trips() {
        for promo in [
            r#"{"id":"P","label":"-20%","type":"percent_off","percent":20}"#,
            r#"{"id":"P","label":"-1€","type":"amount_off","cents":100}"#,
            r#"{"id":"P","label":"2,49€","type":"fixed_price","cents":249}"#,
            r#"{"id":"P","label":"3x2","type":"multi_buy","buy":3,"pay":2}"#,
            r#"{"id":"P","label":"2° -50%","type":"second_at_percent_off","percent":50}"#,
            r#"{"id":"P","label":"3x2 yogurt","type":"mix_and_match","group":"yogurt","buy":3,"pay":2}"#,
            r#"{"id":"P","label":"-10%","valid_from":"2026-03-01","valid_to":"2026-03-31","members_only":true,"type":"percent_off","percent":10}"#,
        ] {
            let p = parse_product(&with(&format!(r#""promotion":{promo}"#))).expect(promo);
            let again = parse_product(&serde_json::to_string(&p).expect("serialises")).expect("reads back");
            assert_eq!(again, p);
        }
    }

    #[test]
    fn new_optional_fields_are_left_out_when_unset() {
        // Products without them must serialise exactly as before they existed (snapshots, golden files).
        let p = parse_product(&with(
            r#""promotion":{"id":"P","label":"-10%","type":"percent_off","percent":10}"#,
        ))
        .expect("valid");
        let json = serde_json::to_string(&p).expect("serialises");
        for field in ["member_price_cents", "valid_from", "valid_to", "members_only"] {
            assert!(!json.contains(field), "{json}");
        }
        let p = parse_product(&with(r#""member_price_cents":250"#)).expect("member price below the price");
        assert_eq!(p.member_price_cents, Some(250));
    }

    #[test]
    fn one_mix_and_match_group_is_one_offer_in_a_file() {
        let mut v = Validator::new();
        let yog = |sku: &str, gtin: &str, buy: u8, pay: u8| {
            with(&format!(
                r#""promotion":{{"id":"P","label":"x","type":"mix_and_match","group":"yogurt","buy":{buy},"pay":{pay}}}"#
            ))
            .replace("\"A1\"", &format!("\"{sku}\""))
            .replace("8001234567897", gtin)
        };
        v.accept(1, &yog("Y1", "8001234567897", 3, 2)).expect("first");
        v.accept(2, &yog("Y2", "8000000000002", 3, 2)).expect("same offer");
        assert_eq!(
            v.accept(3, &yog("Y3", "8000000000019", 4, 3)),
            Err("promotion.group \"yogurt\": 4 for 3 here but 3 for 2 for sku \"Y1\" on line 1".into())
        );
    }

    #[test]
    fn a_sku_gtin_or_item_code_used_twice_in_a_file_is_refused_on_the_later_line() {
        let mut v = Validator::new();
        v.accept(1, &with(r#""item_code":"012345""#))
            .expect("first line is fine");
        let same_sku = GOOD.replace("8001234567897", "8000000000002");
        assert_eq!(v.accept(2, &same_sku), Err("sku \"A1\": already on line 1".into()));
        let same_gtin = GOOD
            .replace("\"A1\"", "\"B2\"")
            .replace("8001234567897", "08001234567897");
        assert_eq!(
            v.accept(3, &same_gtin),
            Err("gtins[0] \"8001234567897\": already used by sku \"A1\" on line 1".into())
        );
        let same_code = with(r#""item_code":"012345""#)
            .replace("\"A1\"", "\"C3\"")
            .replace("8001234567897", "8000000000002");
        assert_eq!(
            v.accept(4, &same_code),
            Err("item_code \"012345\": already used by sku \"A1\" on line 1".into())
        );
        assert!(v.has_sku("A1") && !v.has_sku("B2"));
    }
}
