//! The product catalog, pure domain: the [`Product`] record, JSON Lines import parsing ([`import`]) and
//! accent-folded search words ([`search`]). Storage is behind the [`CatalogStore`] trait; the sled
//! implementation lives in [`crate::storage`] and nothing here names sled.
//!
//! CONTRACT: [`Product`], [`Unit`], [`Promotion`], [`PromotionKind`], [`CatalogStore`], [`ImportSummary`],
//! [`import`].
//!
//! Must never do I/O beyond reading lines from a caller-supplied reader, and never name the database.

use serde::{Deserialize, Serialize};

use crate::barcode::Gtin;

/// How a product is sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// By the piece; `price_cents` is per piece.
    #[default]
    Piece,
    /// By weight; `price_cents` is per kg.
    Kg,
}

/// A promotion attached to a product.
///
/// Unknown fields are refused by [`PromotionKind`], not here: serde's `deny_unknown_fields` on a struct with a
/// `flatten`ed field refuses every field of the flattened part (even `type`), so it must sit on the enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// Central's promotion id.
    pub id: String,
    /// Badge text as central wrote it, e.g. `3x2`.
    pub label: String,
    /// What it does.
    #[serde(flatten)]
    pub kind: PromotionKind,
}

/// What a promotion does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PromotionKind {
    /// Percent off the unit price.
    PercentOff {
        /// 1..=99.
        percent: u8,
    },
    /// Cents off the unit price.
    AmountOff {
        /// Cents.
        cents: i64,
    },
    /// A fixed promotional unit price.
    FixedPrice {
        /// Cents.
        cents: i64,
    },
    /// Buy `buy`, pay `pay` ("3 per 2").
    MultiBuy {
        /// Items taken.
        buy: u8,
        /// Items paid.
        pay: u8,
    },
    /// The second item at `percent` off.
    SecondAtPercentOff {
        /// 1..=100.
        percent: u8,
    },
}

/// A product as stored. Its serde form is also the JSON Lines import format (see [`import`]); unknown fields
/// are refused so that a misspelt `price_cent` is an error, not a silently missing price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Stock-keeping unit, the primary key.
    pub sku: String,
    /// Every GTIN that identifies the product (several pack variants, old and new codes). May be empty for
    /// loose items found by `item_code`.
    #[serde(default)]
    pub gtins: Vec<Gtin>,
    /// Scale item code for variable-measure labels (the `I` digits of the template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_code: Option<String>,
    /// Name.
    pub name: String,
    /// Brand.
    pub brand: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Price in cents (per piece, or per kg for [`Unit::Kg`]).
    pub price_cents: i64,
    /// VAT rate in basis points (2200 = 22 %).
    pub vat_rate_bp: u32,
    /// Promotion, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
    /// Units (or kg for loose items) on hand in this store.
    #[serde(default)]
    pub stock: i64,
    /// Minimum age to buy (alcohol 18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u8>,
    /// Piece or kg.
    #[serde(default)]
    pub unit: Unit,
    /// Product page on the online shop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Product {
    /// The unit price under a single-unit promotion (percent, amount, fixed price), if it lowers the price.
    /// Multi-buy promotions do not change the unit price.
    pub fn promo_unit_price(&self) -> Option<i64> {
        let p = self.promotion.as_ref()?;
        let price = match p.kind {
            PromotionKind::PercentOff { percent } => {
                // Round half-up to the cent: the same rule the pricing engine uses.
                let off = (self.price_cents * percent as i64 * 2 + 100) / 200;
                self.price_cents - off
            }
            PromotionKind::AmountOff { cents } => self.price_cents - cents,
            PromotionKind::FixedPrice { cents } => cents,
            PromotionKind::MultiBuy { .. } | PromotionKind::SecondAtPercentOff { .. } => return None,
        };
        (price >= 0 && price < self.price_cents).then_some(price)
    }
}

/// Storage failures, naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("catalog storage: {0}")]
    Backend(String),
    /// A stored record cannot be read back.
    #[error("catalog storage: corrupt record {key}: {reason}")]
    Corrupt {
        /// Key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Result of an import.
///
/// An import is all-or-nothing: when `rejected` is not empty nothing was applied, `imported` and `updated`
/// are 0 and `version` is the unchanged version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// New products.
    pub imported: u64,
    /// Products that existed and were replaced.
    pub updated: u64,
    /// Lines refused, with line number (1-based) and reason, in file order.
    pub rejected: Vec<(u64, String)>,
    /// Catalog version after the import.
    pub version: u64,
}

impl ImportSummary {
    /// Whether the import was applied (no line was rejected).
    pub fn applied(&self) -> bool {
        self.rejected.is_empty()
    }
}

/// Read access to the catalog, as the kiosk needs it.
pub trait CatalogStore: Send + Sync {
    /// The product with this GTIN.
    fn by_gtin(&self, gtin: &Gtin) -> Result<Option<Product>, StoreError>;
    /// The product with this variable-measure item code.
    fn by_item_code(&self, code: &str) -> Result<Option<Product>, StoreError>;
    /// Products whose name, brand or description contains every word of `query` (accent- and
    /// case-insensitive), at most `limit`.
    fn search(&self, query: &str, limit: usize) -> Result<Vec<Product>, StoreError>;
    /// Catalog version (0 = empty, never imported).
    fn version(&self) -> Result<u64, StoreError>;
    /// Number of products.
    fn len(&self) -> Result<u64, StoreError>;
    /// Whether the catalog has no product (the daemon seeds it then).
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

pub mod import;
pub mod search;
pub mod update;
