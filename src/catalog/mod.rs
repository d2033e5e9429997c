//! The product catalog, pure domain: the [`Product`] record, JSON Lines import parsing ([`import`]) and
//! accent-folded search words ([`search`]). Storage is behind the [`CatalogStore`] trait; the sled
//! implementation lives in [`crate::storage`] and nothing here names sled.
//!
//! CONTRACT: [`Product`], [`Unit`], [`Promotion`], [`PromotionKind`], [`CalendarDate`], [`CatalogStore`],
//! [`ImportSummary`], [`import`].
//!
//! What a promotion does to a basket is the pricing engine's ([`crate::pricing`], docs/pricing.md); this module
//! only holds the catalog's words for it.
//!
//! Must never do I/O beyond reading lines from a caller-supplied reader, and never name the database.

use serde::{Deserialize, Serialize};

use crate::barcode::Gtin;

pub use date::{CalendarDate, DateError};

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
/// The optional fields were added after the first catalogs; each is left out of the JSON when unset, so a
/// product without them reads and writes exactly as before.
///
/// Unknown fields are refused by [`PromotionKind`], not here: serde's `deny_unknown_fields` on a struct with a
/// `flatten`ed field refuses every field of the flattened part (even `type`), so it must sit on the enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// Central's promotion id.
    pub id: String,
    /// Badge text as central wrote it, e.g. `3x2`.
    pub label: String,
    /// First day it applies (inclusive), in the business date of the basket; `None`: no start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<CalendarDate>,
    /// Last day it applies (inclusive); `None`: no end. Import refuses `valid_to` before `valid_from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<CalendarDate>,
    /// Only for shoppers who identified themselves with a loyalty card.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub members_only: bool,
    /// What it does.
    #[serde(flatten)]
    pub kind: PromotionKind,
}

impl Promotion {
    /// Whether the promotion applies on `business_date` to a shopper who is (`member`) or is not a loyalty
    /// member. The window is inclusive at both ends.
    pub fn is_active(&self, business_date: CalendarDate, member: bool) -> bool {
        let started = self.valid_from.is_none_or(|from| from <= business_date);
        let not_ended = self.valid_to.is_none_or(|to| business_date <= to);
        started && not_ended && (member || !self.members_only)
    }
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
    /// Mix and match: any `buy` pieces of the products whose promotion names the same `group` (with the same
    /// `buy` and `pay`), the cheapest `buy - pay` of each set free. "Any 3 yogurts of the group, pay 2."
    MixAndMatch {
        /// Group id shared by the products of the offer, e.g. `yogurt-yomo`.
        group: String,
        /// Pieces in a set.
        buy: u8,
        /// Pieces paid in a set.
        pay: u8,
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
    /// Price for loyalty members, same unit as `price_cents` and below it; replaces it when a card is scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_price_cents: Option<i64>,
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
    /// The unit price under a single-unit promotion (percent, amount, fixed price), if it lowers the price:
    /// the promotional price on the shelf label and on the kiosk's screen, for a shopper without a loyalty
    /// card. Computed by the pricing engine's own rule ([`crate::pricing::unit_price_after`]), so the screen
    /// and the basket agree.
    ///
    /// Multi-buy and mix-and-match promotions do not change the unit price; members-only promotions are not
    /// the shelf price. The validity window is not checked here: the kiosk has no business date; the basket
    /// (the pricing engine) does check it.
    pub fn promo_unit_price(&self) -> Option<i64> {
        let p = self.promotion.as_ref()?;
        if p.members_only {
            return None;
        }
        let price = crate::pricing::unit_price_after(self.price_cents, &p.kind)?;
        (price >= 0 && price < self.price_cents).then_some(price)
    }
}

#[cfg(test)]
impl Product {
    /// A plain piece product for unit tests: name = sku, no codes, no promotion, no stock.
    pub(crate) fn for_test(sku: &str, price_cents: i64, vat_rate_bp: u32) -> Product {
        Product {
            sku: sku.into(),
            gtins: Vec::new(),
            item_code: None,
            name: sku.into(),
            brand: "B".into(),
            description: String::new(),
            price_cents,
            member_price_cents: None,
            vat_rate_bp,
            promotion: None,
            stock: 0,
            min_age: None,
            unit: Unit::Piece,
            url: None,
        }
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

mod date;
pub mod import;
pub mod search;
pub mod update;
