//! Barcodes, pure domain: turns the raw bytes a scanner sends into a typed [`Scan`], or a [`BarcodeError`]
//! that says why not. No I/O, no catalog access, no panics on any input.
//!
//! CONTRACT (other modules rely on these names): [`decode`], [`Rules`], [`Rules::from_config`], [`Scan`],
//! [`Kind`], [`ErrorClass`], [`BarcodeError::class`], [`Gtin`], [`report`].
//!
//! How [`decode`] reads an input, in order:
//! 1. Hygiene: more than [`MAX_INPUT_LEN`] bytes is rejected before anything else; surrounding spaces, tabs, CR
//!    and LF are trimmed; control characters (except GS, 0x1D, the GS1 separator) and non-ASCII bytes are
//!    rejected with their position. Everything after this works on ASCII bytes.
//! 2. An AIM symbology identifier (`]E0`, `]C1`, `]d2`, `]Q3`…) is recognised and stripped (`aim.rs`).
//! 3. A GS1 symbology (`]C1`, `]d2`, `]Q3`, `]e0`, `]J1`) or a leading GS means a GS1 element string (`gs1.rs`).
//! 4. Store-code patterns from configuration, in order (`store.rs`); before everything below, so that a loyalty
//!    card numbered like a variable-measure code is still a loyalty card, and an order QR code may be a URL.
//! 5. An `http(s)://` URL is read as a GS1 Digital Link (`digital_link.rs`).
//! 6. Without a GS1 identifier, data holding a GS, starting with `(`, or longer than 14 characters and starting
//!    with AI 00, 01 or 02 is read as a GS1 element string (scanners often have identifiers switched off).
//! 7. Otherwise a product code (`product.rs`) normalised to GTIN-14; an EAN-13 (or UPC-A as `0…`) whose prefix
//!    matches a variable-measure template is read by that template instead (`variable.rs`). A 6- or 7-digit
//!    UPC-E (sent without its check digit) is accepted only with `]E0`: without an identifier it is rejected.
//!
//! Positions in errors are 1-based characters of the input as given.

mod aim;
mod digital_link;
mod error;
mod gs1;
mod gtin;
mod product;
mod store;
mod variable;

pub use aim::symbology_name;
pub use error::{BarcodeError, Place};
pub use gtin::{check_digit, Gtin, GtinError};

use std::collections::BTreeMap;

use crate::config::{BarcodeConfig, StoreCodeKind};

/// Inputs longer than this are rejected before any other work (the longest real code, a GS1 DataMatrix or
/// Digital Link on a pack, is well under it).
pub const MAX_INPUT_LEN: usize = 512;

/// What a scanned code is, as far as the kiosk cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A plain product code (EAN/UPC/GTIN-14).
    Product,
    /// A GS1 element string (GS1-128, GS1 DataMatrix, GS1 QR).
    Gs1,
    /// A GS1 Digital Link URI.
    DigitalLink,
    /// A restricted-circulation variable-measure EAN-13 (price or weight embedded).
    VariableMeasure,
    /// A store loyalty card.
    Loyalty,
    /// A staff badge.
    Staff,
    /// An online-order (click & collect) code.
    Order,
}

/// A successfully decoded code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Scan {
    /// AIM symbology identifier as sent (`]E0`), when there was one.
    pub symbology: Option<String>,
    /// What kind of code this is.
    pub kind: Kind,
    /// The product's GTIN, when the code carries one.
    pub gtin: Option<Gtin>,
    /// Every GS1 application identifier other than 01, AI → value.
    pub ais: BTreeMap<String, String>,
    /// Variable-measure item code (scale PLU), for [`Kind::VariableMeasure`].
    pub item: Option<String>,
    /// Price embedded in the code, in cents.
    pub price_cents: Option<i64>,
    /// Weight embedded in the code, in grams.
    pub weight_g: Option<u32>,
    /// Identifier of a store-issued code (loyalty card number, staff id, order id).
    pub store_id: Option<String>,
    /// How the data was read (EAN-13, UPC-E, GS1 element string…), whether or not an identifier was sent.
    pub format: Format,
}

#[cfg(test)]
impl Scan {
    /// An EAN-13 product scan with an embedded price or weight (a variable-measure label) when given, for
    /// tests of what comes after decoding.
    pub(crate) fn for_test(price_cents: Option<i64>, weight_g: Option<u32>) -> Scan {
        Scan {
            symbology: None,
            kind: if price_cents.is_some() || weight_g.is_some() {
                Kind::VariableMeasure
            } else {
                Kind::Product
            },
            gtin: None,
            ais: BTreeMap::new(),
            item: None,
            price_cents,
            weight_g,
            store_id: None,
            format: Format::Ean13,
        }
    }
}

/// How a code's data was read. Serialises as its human name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Format {
    /// 13-digit EAN.
    #[serde(rename = "EAN-13")]
    Ean13,
    /// 8-digit EAN.
    #[serde(rename = "EAN-8")]
    Ean8,
    /// 12-digit UPC-A.
    #[serde(rename = "UPC-A")]
    UpcA,
    /// UPC-E, expanded to UPC-A.
    #[serde(rename = "UPC-E")]
    UpcE,
    /// 14 digits (ITF-14 or a GTIN-14 sent as is).
    #[serde(rename = "GTIN-14")]
    Gtin14,
    /// A GS1 element string.
    #[serde(rename = "GS1 element string")]
    Gs1ElementString,
    /// A GS1 Digital Link URI.
    #[serde(rename = "GS1 Digital Link")]
    DigitalLink,
    /// A store-issued code matched by a configured pattern.
    #[serde(rename = "store code")]
    StoreCode,
}

impl Format {
    /// The human name, as serialised.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ean13 => "EAN-13",
            Format::Ean8 => "EAN-8",
            Format::UpcA => "UPC-A",
            Format::UpcE => "UPC-E",
            Format::Gtin14 => "GTIN-14",
            Format::Gs1ElementString => "GS1 element string",
            Format::DigitalLink => "GS1 Digital Link",
            Format::StoreCode => "store code",
        }
    }
}

/// Coarse reason a code was rejected, for the shopper-facing "invalid barcode" screen (localised by `ui`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Nothing was read.
    Empty,
    /// A check digit does not match.
    CheckDigit,
    /// Wrong number of characters.
    Length,
    /// Characters that may not appear there.
    Characters,
    /// A date field that is not a date.
    Date,
    /// The structure is broken (unknown AI, missing separator, bad URI…).
    Malformed,
}

/// A configuration rule that cannot be used, with the key it came from relative to `[barcode]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct RuleError {
    /// Key relative to `[barcode]`, e.g. `variable_measure[0].template`.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The store's barcode rules, compiled once from configuration.
///
/// `Rules::default()` is the default `[barcode]` configuration: the Italian variable-measure template
/// `2IIIIIIPPPPPC` and no store codes.
#[derive(Debug, Clone)]
pub struct Rules {
    templates: Vec<variable::Template>,
    store: Vec<store::StorePattern>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules::from_config(&BarcodeConfig::default()).expect("the built-in default barcode configuration is valid")
    }
}

impl Rules {
    /// Compiles the `[barcode]` configuration, validating every template and pattern.
    pub fn from_config(cfg: &BarcodeConfig) -> Result<Rules, RuleError> {
        let templates = cfg
            .variable_measure
            .iter()
            .enumerate()
            .map(|(i, t)| {
                variable::Template::compile(&t.template).map_err(|reason| RuleError {
                    key: format!("variable_measure[{i}].template"),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let store = cfg
            .store_codes
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let kind = match p.kind {
                    StoreCodeKind::Loyalty => Kind::Loyalty,
                    StoreCodeKind::Staff => Kind::Staff,
                    StoreCodeKind::Order => Kind::Order,
                };
                store::StorePattern::compile(kind, &p.pattern).map_err(|reason| RuleError {
                    key: format!("store_codes[{i}].pattern"),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rules { templates, store })
    }
}

/// Decodes raw scanner bytes (see the module doc for the order of rules). Never panics, whatever the input.
pub fn decode(input: &[u8], rules: &Rules) -> Result<Scan, BarcodeError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(BarcodeError::TooLong {
            len: input.len(),
            max: MAX_INPUT_LEN,
        });
    }
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = input.iter().position(|b| !is_space(b)).unwrap_or(input.len());
    let end = input.iter().rposition(|b| !is_space(b)).map_or(start, |p| p + 1);
    let body = &input[start..end];
    if body.is_empty() {
        return Err(BarcodeError::Empty);
    }
    for (i, &b) in body.iter().enumerate() {
        let position = start + i + 1;
        if !b.is_ascii() {
            return Err(BarcodeError::NotAscii { byte: b, position });
        }
        if (b.is_ascii_control() && b != gs1::GS) || b == 0x7F {
            return Err(BarcodeError::ControlCharacter { byte: b, position });
        }
    }
    let (aim, data) = aim::split(body)?;
    let offset = start + (body.len() - data.len());
    let symbology = aim.map(|a| a.text());
    let family = aim.map(|a| a.family);
    if data.is_empty() {
        return Err(BarcodeError::Symbology {
            aim: symbology.unwrap_or_default(),
            reason: "no data follows it".into(),
        });
    }
    if family == Some(aim::Family::AddOnOnly) {
        return Err(BarcodeError::Symbology {
            aim: symbology.unwrap_or_default(),
            reason: "an add-on alone identifies no product; scan the main barcode".into(),
        });
    }
    let scan = |kind, format| Scan {
        symbology: symbology.clone(),
        kind,
        gtin: None,
        ais: BTreeMap::new(),
        item: None,
        price_cents: None,
        weight_g: None,
        store_id: None,
        format,
    };
    let gs1_scan = |d: gs1::Gs1Data, kind, format| Scan {
        gtin: d.gtin,
        ais: d.ais,
        price_cents: d.price_cents,
        weight_g: d.weight_g,
        ..scan(kind, format)
    };

    if family == Some(aim::Family::Gs1) || data[0] == gs1::GS {
        let d = gs1::parse_element_string(data, offset)?;
        return Ok(gs1_scan(d, Kind::Gs1, Format::Gs1ElementString));
    }
    for p in &rules.store {
        if let Some(id) = p.match_id(data) {
            return Ok(Scan {
                store_id: Some(id),
                ..scan(p.kind(), Format::StoreCode)
            });
        }
    }
    if digital_link::looks_like_url(data) {
        let d = digital_link::parse(data)?;
        return Ok(gs1_scan(d, Kind::DigitalLink, Format::DigitalLink));
    }
    let ean_family = matches!(
        family,
        Some(aim::Family::EanUpc | aim::Family::Ean8 | aim::Family::EanWithAddOn)
    );
    if !ean_family && looks_like_gs1(data) {
        let d = gs1::parse_element_string(data, offset)?;
        return Ok(gs1_scan(d, Kind::Gs1, Format::Gs1ElementString));
    }

    let p = product::parse(data, family, offset)?;
    let digits = p.gtin.as_bytes();
    if digits[0] == b'0' && p.format != Format::Ean8 && p.format != Format::UpcE {
        let mut ean13 = [0u8; 13];
        ean13.copy_from_slice(&digits[1..]);
        if let Some(t) = rules.templates.iter().find(|t| t.matches(&ean13)) {
            let m = t.read(&ean13)?;
            return Ok(Scan {
                item: Some(m.item),
                price_cents: m.price_cents,
                weight_g: m.weight_g,
                ..scan(Kind::VariableMeasure, p.format)
            });
        }
    }
    Ok(Scan {
        gtin: Some(p.gtin),
        ..scan(Kind::Product, p.format)
    })
}

/// Whether data sent without a GS1 identifier is nonetheless a GS1 element string.
fn looks_like_gs1(data: &[u8]) -> bool {
    data.contains(&gs1::GS) || data[0] == b'(' || (data.len() > 14 && matches!(data, [b'0', b'0' | b'1' | b'2', ..]))
}

/// The JSON object printed by `omnigate barcode` for one input.
///
/// Every object has the same keys, `null` when a value is absent, so a script can read any line the same way:
/// - `input` (lossy UTF-8, as given) and `valid`;
/// - `error` (detailed message) and `error_class`: null when valid;
/// - `symbology` (AIM identifier as sent) and `symbology_name` (when known; for `]E0` on a valid code, the format
///   it turned out to be): null without an identifier; on an invalid input, set when it started with one;
/// - `format`, `kind`, `gtin`, `ais` (object, AI → value, every AI but 01), `item`, `price_cents`, `weight_g`,
///   `store_id`: what the code carries, null when it carries none; all null when invalid (`ais` included).
pub fn report(input: &[u8], result: &Result<Scan, BarcodeError>) -> serde_json::Value {
    use serde_json::{json, Value};
    let symbology_names = |aim: Option<&str>, format: Option<Format>| -> (Value, Value) {
        // ]E0 covers EAN-13, UPC-A and UPC-E: once decoded, name the one it was.
        let name = match (aim, format) {
            (Some("]E0"), Some(f)) => Some(f.name()),
            _ => aim.and_then(symbology_name),
        };
        (json!(aim), json!(name))
    };
    match result {
        Ok(scan) => {
            let (symbology, symbology_name) = symbology_names(scan.symbology.as_deref(), Some(scan.format));
            json!({
                "input": String::from_utf8_lossy(input),
                "valid": true,
                "error": null,
                "error_class": null,
                "symbology": symbology,
                "symbology_name": symbology_name,
                "format": scan.format.name(),
                "kind": scan.kind,
                "gtin": scan.gtin.as_ref().map(Gtin::as_str),
                "ais": scan.ais,
                "item": scan.item,
                "price_cents": scan.price_cents,
                "weight_g": scan.weight_g,
                "store_id": scan.store_id,
            })
        }
        Err(e) => {
            let aim = match aim::split(input.trim_ascii_start()) {
                Ok((Some(a), _)) => Some(a.text()),
                _ => None,
            };
            let (symbology, symbology_name) = symbology_names(aim.as_deref(), None);
            json!({
                "input": String::from_utf8_lossy(input),
                "valid": false,
                "error": e.to_string(),
                "error_class": e.class(),
                "symbology": symbology,
                "symbology_name": symbology_name,
                "format": null,
                "kind": null,
                "gtin": null,
                "ais": null,
                "item": null,
                "price_cents": null,
                "weight_g": null,
                "store_id": null,
            })
        }
    }
}
