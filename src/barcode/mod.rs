//! Barcodes, pure domain: turns the raw bytes a scanner sends into a typed [`Scan`], or a [`BarcodeError`]
//! that says why not. No I/O, no catalog access, no panics on any input.
//!
//! CONTRACT (other modules rely on these names): [`decode`], [`Rules`], [`Rules::from_config`], [`Scan`],
//! [`Kind`], [`ErrorClass`], [`BarcodeError::class`], [`Gtin`], [`report`].

mod gtin;

pub use gtin::{check_digit, Gtin, GtinError};

use std::collections::BTreeMap;

use crate::config::BarcodeConfig;

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

/// Why a code was rejected. `Display` is a detailed English message for staff, IT and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    /// Nothing was read.
    #[error("empty input")]
    Empty,
    /// A GTIN failed validation.
    #[error("{0}")]
    Gtin(#[from] GtinError),
}

impl BarcodeError {
    /// The coarse class shown to shoppers.
    pub fn class(&self) -> ErrorClass {
        match self {
            BarcodeError::Empty => ErrorClass::Empty,
            BarcodeError::Gtin(GtinError::CheckDigit { .. }) => ErrorClass::CheckDigit,
            BarcodeError::Gtin(GtinError::Length(_)) => ErrorClass::Length,
            BarcodeError::Gtin(GtinError::NotDigits) => ErrorClass::Characters,
        }
    }
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
#[derive(Debug, Clone, Default)]
pub struct Rules {}

impl Rules {
    /// Compiles the `[barcode]` configuration.
    pub fn from_config(_cfg: &BarcodeConfig) -> Result<Rules, RuleError> {
        Ok(Rules {})
    }
}

/// Decodes raw scanner bytes. Never panics, whatever the input.
pub fn decode(input: &[u8], _rules: &Rules) -> Result<Scan, BarcodeError> {
    let s = String::from_utf8_lossy(input);
    let s = s.trim();
    if s.is_empty() {
        return Err(BarcodeError::Empty);
    }
    let gtin = Gtin::parse(s)?;
    Ok(Scan {
        symbology: None,
        kind: Kind::Product,
        gtin: Some(gtin),
        ais: BTreeMap::new(),
        item: None,
        price_cents: None,
        weight_g: None,
        store_id: None,
    })
}

/// The JSON object printed by `omnigate barcode` for one input.
pub fn report(input: &[u8], result: &Result<Scan, BarcodeError>) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    o.insert("input".into(), String::from_utf8_lossy(input).into_owned().into());
    match result {
        Ok(scan) => {
            o.insert("valid".into(), true.into());
            if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(scan) {
                for (k, v) in m {
                    if !v.is_null() {
                        o.insert(k, v);
                    }
                }
            }
        }
        Err(e) => {
            o.insert("valid".into(), false.into());
            o.insert("error".into(), e.to_string().into());
        }
    }
    serde_json::Value::Object(o)
}
