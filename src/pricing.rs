//! The pricing engine: what a basket costs, pure and sans-IO.
//!
//! Owns the semantics written down in docs/pricing.md: member prices, every promotion kind of the catalog
//! ([`PromotionKind`]) and its validity window, the order in which they apply, where amounts are rounded, the
//! explanation of every discount, and the VAT summary by rate. The basket state machine calls [`price_basket`]
//! after every scan and shows the result; the online shop implements docs/pricing.md to reach the same totals.
//!
//! Must never do I/O, read a clock or use floating point. "Today" is the business date in
//! [`PricingContext`], handed in by the caller: a device has no trustworthy clock. Amounts are integer cents
//! (i64); fractions of a cent are rounded half-up exactly where docs/pricing.md says. It never decides what is
//! in the basket (that is the basket's job), only what it costs.

use std::collections::{BTreeMap, HashMap};

use crate::barcode::Scan;
use crate::catalog::import::MAX_PRICE_CENTS;
use crate::catalog::{CalendarDate, Product, Promotion, PromotionKind, Unit};
use crate::config::Language;
use crate::money::{format_eur, price_for_weight};

/// Most pieces on one line: beyond that it is a typing or scanning mistake, and the bound keeps every sum far
/// from overflowing.
pub const MAX_PIECES: u32 = 9_999;

/// Heaviest weighed line, in grams (just under one tonne).
pub const MAX_WEIGHT_G: u32 = 999_999;

/// How much of a product a basket line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Pieces of a product sold by the piece.
    Pieces(u32),
    /// Grams of a product sold by kg, from a weight-embedded label or the till's scale.
    Weight {
        /// Grams, 1..=[`MAX_WEIGHT_G`].
        grams: u32,
    },
    /// A price-embedded label: the scale printed the price, and that price is the line's price. No member
    /// price or promotion changes it (the scale applied whatever it was configured with).
    LabelPrice {
        /// Cents, 0..=[`MAX_PRICE_CENTS`].
        cents: i64,
    },
}

/// One line of a basket: the product as it was when scanned (a snapshot, so a catalog update in the middle of
/// a sale does not reprice it behind the shopper's back) and how much of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasketLine {
    /// The product snapshot.
    pub product: Product,
    /// How much.
    pub quantity: Quantity,
}

impl BasketLine {
    /// The line a scan of `product` adds: the label's price when the code carries one, its weight for a
    /// product sold by kg, otherwise one piece. A product sold by kg scanned without a weight gives a line that
    /// [`BasketLine::check`] refuses: the basket must ask for a weight first.
    pub fn scanned(product: Product, scan: &Scan) -> BasketLine {
        let quantity = match (scan.price_cents, scan.weight_g, product.unit) {
            (Some(cents), _, _) => Quantity::LabelPrice { cents },
            (None, Some(grams), Unit::Kg) => Quantity::Weight { grams },
            // A weight on a product sold by the piece is the label's information only, as on the kiosk; a
            // product sold by kg without a weight is refused by `check` (NeedsWeight).
            (None, _, _) => Quantity::Pieces(1),
        };
        BasketLine { product, quantity }
    }

    /// Whether the engine can price this line; the basket calls it before adding a line so that a bad line
    /// never enters the basket.
    pub fn check(&self) -> Result<(), LineProblem> {
        let p = &self.product;
        if !(0..=MAX_PRICE_CENTS).contains(&p.price_cents) {
            return Err(LineProblem::Price(p.price_cents));
        }
        if let Some(m) = p.member_price_cents {
            if !(0..=MAX_PRICE_CENTS).contains(&m) {
                return Err(LineProblem::MemberPrice(m));
            }
        }
        match (self.quantity, p.unit) {
            (Quantity::Pieces(0), _) => Err(LineProblem::ZeroPieces),
            (Quantity::Pieces(n), _) if n > MAX_PIECES => Err(LineProblem::TooManyPieces(n)),
            (Quantity::Pieces(_), Unit::Kg) => Err(LineProblem::NeedsWeight),
            (Quantity::Weight { .. }, Unit::Piece) => Err(LineProblem::NotSoldByWeight),
            (Quantity::Weight { grams: 0 }, _) => Err(LineProblem::ZeroWeight),
            (Quantity::Weight { grams }, _) if grams > MAX_WEIGHT_G => Err(LineProblem::TooHeavy(grams)),
            (Quantity::LabelPrice { cents }, _) if !(0..=MAX_PRICE_CENTS).contains(&cents) => {
                Err(LineProblem::LabelPrice(cents))
            }
            _ => Ok(()),
        }
    }
}

/// What the pricing of a basket depends on besides its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricingContext {
    /// The business date the sale happens on, for promotion validity windows. Comes with the catalog or the
    /// till's day opening; never from the system clock.
    pub business_date: CalendarDate,
    /// Whether the shopper identified themselves with a loyalty card: member prices and members-only
    /// promotions apply.
    pub member: bool,
}

/// Why a line cannot be priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// `Pieces(0)`.
    #[error("quantity 0: a line holds at least one piece")]
    ZeroPieces,
    /// More than [`MAX_PIECES`].
    #[error("quantity {0}: at most {MAX_PIECES} pieces on a line")]
    TooManyPieces(u32),
    /// Pieces of a product sold by kg.
    #[error("sold by kg: needs a weight or a price label, not a number of pieces")]
    NeedsWeight,
    /// A weight for a product sold by the piece.
    #[error("sold by the piece: a weight cannot be priced")]
    NotSoldByWeight,
    /// Weight 0 g.
    #[error("weight 0 g: nothing to price")]
    ZeroWeight,
    /// More than [`MAX_WEIGHT_G`].
    #[error("weight {0} g: at most {MAX_WEIGHT_G} g on a line")]
    TooHeavy(u32),
    /// Label price out of range.
    #[error("label price {0} cents: must be 0..={MAX_PRICE_CENTS}")]
    LabelPrice(i64),
    /// The product's list price is out of the catalog's range (a product that did not come through import).
    #[error("price_cents {0}: must be 0..={MAX_PRICE_CENTS}")]
    Price(i64),
    /// The product's member price is out of range.
    #[error("member_price_cents {0}: must be 0..={MAX_PRICE_CENTS}")]
    MemberPrice(i64),
}

/// A basket line that cannot be priced, naming the line and the product.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("basket line {} (sku \"{sku}\"): {problem}", .index + 1)]
pub struct PricingError {
    /// 0-based index of the line in the basket (the message counts from 1).
    pub index: usize,
    /// The line's SKU.
    pub sku: String,
    /// What is wrong.
    pub problem: LineProblem,
}

/// Why money came off a line, structured so the screen and the receipt render it in either language
/// ([`Reason::text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The loyalty member price replaced the list price.
    MemberPrice {
        /// Member price per piece, or per kg when `unit` is [`Unit::Kg`].
        unit_price_cents: i64,
        /// Piece or kg.
        unit: Unit,
    },
    /// A promotion of the catalog.
    Promotion {
        /// Central's promotion id.
        id: String,
        /// Badge text as central wrote it.
        label: String,
        /// What it did on this line.
        detail: PromotionDetail,
    },
}

/// What a promotion did on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromotionDetail {
    /// `percent_off`.
    PercentOff {
        /// Percent off the unit price.
        percent: u8,
    },
    /// `amount_off`.
    AmountOff {
        /// Cents off per piece, or per kg.
        cents: i64,
        /// Piece or kg.
        unit: Unit,
    },
    /// `fixed_price`.
    FixedPrice {
        /// The promotional unit price (per piece, or per kg).
        cents: i64,
        /// Piece or kg.
        unit: Unit,
    },
    /// `multi_buy`.
    MultiBuy {
        /// Pieces in a set.
        buy: u8,
        /// Pieces paid in a set.
        pay: u8,
        /// Pieces of this line that came free.
        free: u32,
    },
    /// `second_at_percent_off`.
    SecondAtPercentOff {
        /// Percent off the second piece of each pair.
        percent: u8,
        /// Pieces of this line that got the reduction.
        pieces: u32,
    },
    /// `mix_and_match`.
    MixAndMatch {
        /// The group id.
        group: String,
        /// Pieces in a set.
        buy: u8,
        /// Pieces paid in a set.
        pay: u8,
        /// Pieces of this line that came free.
        free: u32,
    },
}

impl Reason {
    /// The explanation shown on screen and printed on the receipt, e.g. `Prendi 3 paghi 2: 1 gratis`.
    pub fn text(&self, lang: Language) -> String {
        let per = |unit: Unit| match unit {
            Unit::Piece => "",
            Unit::Kg => "/kg",
        };
        let it = lang == Language::It;
        match self {
            Reason::MemberPrice { unit_price_cents, unit } => {
                let price = format_eur(*unit_price_cents);
                if it {
                    format!("Prezzo soci {price}{}", per(*unit))
                } else {
                    format!("Member price {price}{}", per(*unit))
                }
            }
            Reason::Promotion { detail, .. } => match detail {
                PromotionDetail::PercentOff { percent } if it => format!("Sconto {percent}%"),
                PromotionDetail::PercentOff { percent } => format!("{percent}% off"),
                PromotionDetail::AmountOff { cents, unit } => {
                    let amount = format_eur(*cents);
                    match (it, unit) {
                        (true, Unit::Piece) => format!("Sconto {amount} al pezzo"),
                        (true, Unit::Kg) => format!("Sconto {amount} al kg"),
                        (false, Unit::Piece) => format!("{amount} off each"),
                        (false, Unit::Kg) => format!("{amount} off per kg"),
                    }
                }
                PromotionDetail::FixedPrice { cents, unit } => {
                    let price = format_eur(*cents);
                    if it {
                        format!("Prezzo promo {price}{}", per(*unit))
                    } else {
                        format!("Promo price {price}{}", per(*unit))
                    }
                }
                PromotionDetail::MultiBuy { buy, pay, free } if it => {
                    format!("Prendi {buy} paghi {pay}: {free} gratis")
                }
                PromotionDetail::MultiBuy { buy, pay, free } => format!("Buy {buy} pay {pay}: {free} free"),
                PromotionDetail::SecondAtPercentOff { percent, pieces } if it => {
                    format!("Il 2° a -{percent}%: {pieces} pz")
                }
                PromotionDetail::SecondAtPercentOff { percent, pieces } => {
                    format!("Second at {percent}% off: {pieces} pc")
                }
                PromotionDetail::MixAndMatch { buy, pay, free, .. } if it => {
                    format!("Prendi {buy} paghi {pay}, assortiti: {free} gratis")
                }
                PromotionDetail::MixAndMatch { buy, pay, free, .. } => {
                    format!("Any {buy} pay {pay}, mix and match: {free} free")
                }
            },
        }
    }
}

/// Money taken off a line, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discount {
    /// Why.
    pub reason: Reason,
    /// Cents taken off, > 0 (a rule that takes nothing off leaves no discount).
    pub cents: i64,
}

/// A priced basket line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    /// The product's SKU.
    pub sku: String,
    /// How much, as given.
    pub quantity: Quantity,
    /// List price per piece or per kg; the label's price for [`Quantity::LabelPrice`].
    pub unit_price_cents: i64,
    /// Price before any discount: list price × pieces, `price_for_weight(list price, grams)`, or the label.
    pub gross_cents: i64,
    /// Discounts in the order they were applied (member price, then the promotion).
    pub discounts: Vec<Discount>,
    /// What the line costs: gross − discounts, never below 0.
    pub net_cents: i64,
    /// VAT rate in basis points, from the product.
    pub vat_rate_bp: u32,
}

/// What one promotion took off the whole basket: a discount line of the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionTotal {
    /// Central's promotion id.
    pub id: String,
    /// Badge text.
    pub label: String,
    /// Cents taken off, summed over its lines.
    pub cents: i64,
    /// Indexes of the basket lines it took money off, ascending.
    pub lines: Vec<usize>,
}

/// VAT of one rate. Prices include VAT: `vat = round_half_up(total × rate / (100 % + rate))` on the rate's
/// total, and `base = total − vat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VatLine {
    /// Rate in basis points (2200 = 22 %).
    pub rate_bp: u32,
    /// Sum of the net prices of the lines at this rate (VAT included).
    pub total_cents: i64,
    /// VAT contained in `total_cents`.
    pub vat_cents: i64,
    /// Taxable base: `total_cents − vat_cents`.
    pub base_cents: i64,
}

/// A priced basket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedBasket {
    /// One per input line, same order and index.
    pub lines: Vec<PricedLine>,
    /// Receipt discount lines, one per promotion that took something off, in the order of their first line.
    pub promotions: Vec<PromotionTotal>,
    /// What member prices saved, summed over the lines.
    pub member_savings_cents: i64,
    /// VAT by rate, ascending by rate.
    pub vat: Vec<VatLine>,
    /// Sum of the lines' gross prices.
    pub gross_cents: i64,
    /// Sum of every discount.
    pub discount_cents: i64,
    /// What the shopper pays: `gross_cents − discount_cents`, the sum of the lines' net prices.
    pub total_cents: i64,
}

/// Prices a basket. Pure and deterministic: the same lines and context give the same result, whatever the
/// machine. Fails only when a line cannot be priced ([`BasketLine::check`]), naming the first such line.
///
/// Order (docs/pricing.md §3): (1) member price replaces the list price; (2) per-piece promotions (fixed
/// price, percent off, amount off) on the resulting unit price; (3) multi-buy and second-at-percent-off per
/// product over the pieces in scan order; (4) mix-and-match per group, groups in id order.
pub fn price_basket(lines: &[BasketLine], ctx: &PricingContext) -> Result<PricedBasket, PricingError> {
    for (index, line) in lines.iter().enumerate() {
        line.check().map_err(|problem| PricingError {
            index,
            sku: line.product.sku.clone(),
            problem,
        })?;
    }
    let mut priced: Vec<PricedLine> = lines.iter().map(|l| price_line(l, ctx)).collect();
    apply_per_product_sets(lines, ctx, &mut priced);
    apply_mix_and_match(lines, ctx, &mut priced);
    for line in &mut priced {
        let off: i64 = line.discounts.iter().map(|d| d.cents).sum();
        // Every step is bounded by what the line still costs; the clamp states the rule, it does not fix it.
        line.net_cents = (line.gross_cents - off).max(0);
    }
    Ok(summarise(priced))
}

/// The unit price left by a per-piece promotion (`percent_off`, `amount_off`, `fixed_price`) applied to
/// `unit_price` cents (per piece or per kg), never below 0 nor above `unit_price`; `None` for promotions that
/// do not change the unit price (multi-buy, second at percent off, mix and match).
///
/// Percent off: the cents taken off are `unit_price × percent / 100` rounded half-up.
pub fn unit_price_after(unit_price: i64, kind: &PromotionKind) -> Option<i64> {
    let after = match *kind {
        PromotionKind::PercentOff { percent } => unit_price - percent_of(unit_price, percent),
        PromotionKind::AmountOff { cents } => unit_price - cents.max(0),
        PromotionKind::FixedPrice { cents } => cents,
        PromotionKind::MultiBuy { .. }
        | PromotionKind::SecondAtPercentOff { .. }
        | PromotionKind::MixAndMatch { .. } => return None,
    };
    Some(after.clamp(0, unit_price.max(0)))
}

/// `cents × percent / 100`, rounded half-up to the cent. Inputs are non-negative.
fn percent_of(cents: i64, percent: u8) -> i64 {
    div_half_up(i128::from(cents) * i128::from(percent), 100)
}

/// `num / den` rounded half-up, for `num >= 0`, `den > 0`. i128 so that no product of checked amounts can
/// overflow.
fn div_half_up(num: i128, den: i128) -> i64 {
    let q = (num * 2 + den) / (den * 2);
    // Amounts are bounded by MAX_PRICE_CENTS × MAX_PIECES × lines: far inside i64.
    i64::try_from(q).unwrap_or(i64::MAX)
}

/// Price of a line's quantity at `unit` cents per piece or per kg. Label-priced lines never get here.
fn extend(quantity: Quantity, unit: i64) -> i64 {
    match quantity {
        Quantity::Pieces(n) => unit * i64::from(n),
        Quantity::Weight { grams } => price_for_weight(unit, grams),
        Quantity::LabelPrice { cents } => cents,
    }
}

/// The member price if it applies: a member is identified and the price is below the list price (a member
/// price at or above the list price would not be a reduction; import refuses it anyway).
fn member_price(p: &Product, ctx: &PricingContext) -> Option<i64> {
    p.member_price_cents
        .filter(|&m| ctx.member && (0..p.price_cents).contains(&m))
}

/// The price one piece costs before count-based promotions: the member price or the list price.
fn effective_unit(p: &Product, ctx: &PricingContext) -> i64 {
    member_price(p, ctx).unwrap_or(p.price_cents)
}

/// Steps 1 and 2: gross, member price, per-piece promotions. `net_cents` is filled in at the end.
fn price_line(line: &BasketLine, ctx: &PricingContext) -> PricedLine {
    let p = &line.product;
    let mut out = PricedLine {
        sku: p.sku.clone(),
        quantity: line.quantity,
        unit_price_cents: p.price_cents,
        gross_cents: 0,
        discounts: Vec::new(),
        net_cents: 0,
        vat_rate_bp: p.vat_rate_bp,
    };
    if let Quantity::LabelPrice { cents } = line.quantity {
        out.unit_price_cents = cents;
        out.gross_cents = cents;
        return out;
    }
    out.gross_cents = extend(line.quantity, p.price_cents);
    let unit = effective_unit(p, ctx);
    if let Some(m) = member_price(p, ctx) {
        let cents = out.gross_cents - extend(line.quantity, m);
        push(
            &mut out,
            Reason::MemberPrice {
                unit_price_cents: m,
                unit: p.unit,
            },
            cents,
        );
    }
    let Some(promo) = p
        .promotion
        .as_ref()
        .filter(|pr| pr.is_active(ctx.business_date, ctx.member))
    else {
        return out;
    };
    let Some(after) = unit_price_after(unit, &promo.kind) else {
        return out;
    };
    let detail = match promo.kind {
        PromotionKind::PercentOff { percent } => PromotionDetail::PercentOff { percent },
        PromotionKind::AmountOff { cents } => PromotionDetail::AmountOff { cents, unit: p.unit },
        PromotionKind::FixedPrice { cents } => PromotionDetail::FixedPrice { cents, unit: p.unit },
        // unit_price_after returned None for the others.
        _ => return out,
    };
    let cents = extend(line.quantity, unit) - extend(line.quantity, after);
    push(&mut out, promotion_reason(promo, detail), cents);
    out
}

fn promotion_reason(promo: &crate::catalog::Promotion, detail: PromotionDetail) -> Reason {
    Reason::Promotion {
        id: promo.id.clone(),
        label: promo.label.clone(),
        detail,
    }
}

/// Adds a discount when it takes something off, never more than the line still costs.
fn push(line: &mut PricedLine, reason: Reason, cents: i64) {
    let left = line.gross_cents - line.discounts.iter().map(|d| d.cents).sum::<i64>();
    let cents = cents.min(left);
    if cents > 0 {
        line.discounts.push(Discount { reason, cents });
    }
}

/// How many of the first `m` pieces, counted in sets of `buy`, are among the last `buy − pay` of their set:
/// the free (or reduced) pieces once `m` pieces are counted.
fn reduced_among_first(m: u64, buy: u8, pay: u8) -> u64 {
    let (buy, pay) = (u64::from(buy), u64::from(pay));
    (m / buy) * (buy - pay) + (m % buy).saturating_sub(pay)
}

/// The pieces of a piece line and its product's promotion, when that promotion is active: what the set
/// promotions (steps 3 and 4) count. Weighed and label-priced lines have no pieces to count.
fn piece_promotion<'a>(line: &'a BasketLine, ctx: &PricingContext) -> Option<(u32, &'a Promotion)> {
    let Quantity::Pieces(n) = line.quantity else {
        return None;
    };
    let promo = line
        .product
        .promotion
        .as_ref()
        .filter(|pr| pr.is_active(ctx.business_date, ctx.member))?;
    Some((n, promo))
}

/// Step 3: `multi_buy` and `second_at_percent_off`, per product. The pieces of every piece line of the same
/// SKU under the same promotion are counted in scan order; the piece that completes a set carries the
/// reduction ("the third pack is free"), at its own line's unit price.
fn apply_per_product_sets(lines: &[BasketLine], ctx: &PricingContext, priced: &mut [PricedLine]) {
    // (sku, promotion id, buy, pay) → pieces counted so far. Only looked up, never iterated: no order leaks.
    let mut counted: HashMap<(&str, &str, u8, u8), u64> = HashMap::new();
    for (line, out) in lines.iter().zip(priced.iter_mut()) {
        let Some((n, promo)) = piece_promotion(line, ctx) else {
            continue;
        };
        let p = &line.product;
        let (buy, pay) = match promo.kind {
            PromotionKind::MultiBuy { buy, pay } => (buy, pay),
            // "The second at x % off" is sets of 2 with 1 piece at full price.
            PromotionKind::SecondAtPercentOff { .. } => (2, 1),
            _ => continue,
        };
        if buy == 0 || pay >= buy {
            // Refused at import; a hand-made product like this gets no reduction rather than a wrong one.
            continue;
        }
        let before = counted
            .entry((p.sku.as_str(), promo.id.as_str(), buy, pay))
            .or_insert(0);
        let reduced = reduced_among_first(*before + u64::from(n), buy, pay) - reduced_among_first(*before, buy, pay);
        *before += u64::from(n);
        // At most n ≤ MAX_PIECES.
        let reduced = u32::try_from(reduced).unwrap_or(n);
        let unit = effective_unit(p, ctx);
        let (detail, cents) = match promo.kind {
            PromotionKind::SecondAtPercentOff { percent } => (
                PromotionDetail::SecondAtPercentOff {
                    percent,
                    pieces: reduced,
                },
                // Rounded per piece, so a pair costs the same whichever line it sits on.
                percent_of(unit, percent).min(unit) * i64::from(reduced),
            ),
            _ => (
                PromotionDetail::MultiBuy {
                    buy,
                    pay,
                    free: reduced,
                },
                unit * i64::from(reduced),
            ),
        };
        push(out, promotion_reason(promo, detail), cents);
    }
}

/// Step 4: `mix_and_match`, per (group, buy, pay), groups in ascending order of id. The group's pieces are
/// ranked by unit price, dearest first, ties in scan order; consecutive runs of `buy` pieces form the sets and
/// the last `buy − pay` pieces of each set (its cheapest) are free. Left-over pieces (fewer than `buy`) are
/// the cheapest and pay full price. This ranking gives the shopper the most a "cheapest free" offer can give.
fn apply_mix_and_match(lines: &[BasketLine], ctx: &PricingContext, priced: &mut [PricedLine]) {
    // Per pool: (unit price, line index, pieces, promotion), one entry per line.
    type Pool<'a> = BTreeMap<(&'a str, u8, u8), Vec<(i64, usize, u32, &'a Promotion)>>;
    let mut pools: Pool = BTreeMap::new();
    for (index, line) in lines.iter().enumerate() {
        let Some((n, promo)) = piece_promotion(line, ctx) else {
            continue;
        };
        let p = &line.product;
        if let PromotionKind::MixAndMatch { ref group, buy, pay } = promo.kind {
            if buy >= 2 && pay >= 1 && pay < buy {
                let entry = (effective_unit(p, ctx), index, n, promo);
                pools.entry((group.as_str(), buy, pay)).or_default().push(entry);
            }
        }
    }
    for ((group, buy, pay), mut entries) in pools {
        // Dearest first; equal prices keep scan order (stable sort), so the later scanned piece is the one
        // counted as cheaper.
        entries.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut counted = 0u64;
        for (unit, index, n, promo) in entries {
            let free = reduced_among_first(counted + u64::from(n), buy, pay) - reduced_among_first(counted, buy, pay);
            counted += u64::from(n);
            let free = u32::try_from(free).unwrap_or(n);
            let detail = PromotionDetail::MixAndMatch {
                group: group.to_owned(),
                buy,
                pay,
                free,
            };
            push(
                &mut priced[index],
                promotion_reason(promo, detail),
                unit * i64::from(free),
            );
        }
    }
}

/// Totals, receipt discount lines and the VAT summary.
fn summarise(lines: Vec<PricedLine>) -> PricedBasket {
    let mut promotions: Vec<PromotionTotal> = Vec::new();
    let mut member_savings_cents = 0;
    let mut by_rate: BTreeMap<u32, i64> = BTreeMap::new();
    for (index, line) in lines.iter().enumerate() {
        for d in &line.discounts {
            match &d.reason {
                Reason::MemberPrice { .. } => member_savings_cents += d.cents,
                Reason::Promotion { id, label, .. } => match promotions.iter_mut().find(|t| &t.id == id) {
                    Some(t) => {
                        t.cents += d.cents;
                        if t.lines.last() != Some(&index) {
                            t.lines.push(index);
                        }
                    }
                    None => promotions.push(PromotionTotal {
                        id: id.clone(),
                        label: label.clone(),
                        cents: d.cents,
                        lines: vec![index],
                    }),
                },
            }
        }
        *by_rate.entry(line.vat_rate_bp).or_insert(0) += line.net_cents;
    }
    let vat = by_rate
        .into_iter()
        .map(|(rate_bp, total_cents)| {
            let vat_cents = vat_included(total_cents, rate_bp);
            VatLine {
                rate_bp,
                total_cents,
                vat_cents,
                base_cents: total_cents - vat_cents,
            }
        })
        .collect();
    let gross_cents = lines.iter().map(|l| l.gross_cents).sum();
    let total_cents = lines.iter().map(|l| l.net_cents).sum();
    PricedBasket {
        lines,
        promotions,
        member_savings_cents,
        vat,
        gross_cents,
        discount_cents: gross_cents - total_cents,
        total_cents,
    }
}

/// VAT contained in a VAT-inclusive `total`: `total × rate / (10 000 + rate)` (rate in basis points), rounded
/// half-up to the cent.
pub fn vat_included(total_cents: i64, rate_bp: u32) -> i64 {
    let rate = i128::from(rate_bp);
    div_half_up(i128::from(total_cents.max(0)) * rate, 10_000 + rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Promotion;

    fn date(s: &str) -> CalendarDate {
        s.parse().expect("test date is valid")
    }

    fn ctx() -> PricingContext {
        PricingContext {
            business_date: date("2026-03-10"),
            member: false,
        }
    }

    fn product(sku: &str, price: i64, vat_bp: u32) -> Product {
        Product::for_test(sku, price, vat_bp)
    }

    fn promo(kind: PromotionKind) -> Option<Promotion> {
        Some(Promotion {
            id: "P".into(),
            label: "promo".into(),
            valid_from: None,
            valid_to: None,
            members_only: false,
            kind,
        })
    }

    fn line(p: &Product, n: u32) -> BasketLine {
        BasketLine {
            product: p.clone(),
            quantity: Quantity::Pieces(n),
        }
    }

    fn total(lines: &[BasketLine]) -> i64 {
        price_basket(lines, &ctx()).expect("valid basket").total_cents
    }

    #[test]
    fn an_empty_basket_costs_nothing() {
        let b = price_basket(&[], &ctx()).expect("empty is valid");
        assert_eq!((b.gross_cents, b.discount_cents, b.total_cents), (0, 0, 0));
        assert!(b.lines.is_empty() && b.vat.is_empty() && b.promotions.is_empty());
    }

    #[test]
    fn a_free_product_costs_nothing_and_gets_no_discount() {
        let mut p = product("Z", 0, 2200);
        p.promotion = promo(PromotionKind::PercentOff { percent: 50 });
        let b = price_basket(&[line(&p, 3)], &ctx()).expect("valid");
        assert_eq!(b.total_cents, 0);
        assert!(b.lines[0].discounts.is_empty());
        assert_eq!(b.vat[0].vat_cents, 0);
    }

    #[test]
    fn an_amount_larger_than_the_price_clamps_at_zero() {
        // Import refuses this; a hand-made snapshot must still never go negative.
        let mut p = product("A", 100, 2200);
        p.promotion = promo(PromotionKind::AmountOff { cents: 150 });
        let b = price_basket(&[line(&p, 2)], &ctx()).expect("valid");
        assert_eq!((b.lines[0].net_cents, b.discount_cents), (0, 200));
    }

    #[test]
    fn a_fixed_price_above_the_member_price_takes_nothing_off() {
        let mut p = product("F", 300, 400);
        p.member_price_cents = Some(200);
        p.promotion = promo(PromotionKind::FixedPrice { cents: 250 });
        let member = PricingContext { member: true, ..ctx() };
        let b = price_basket(&[line(&p, 1)], &member).expect("valid");
        assert_eq!(b.total_cents, 200);
        assert_eq!(
            b.lines[0].discounts.len(),
            1,
            "only the member price: {:?}",
            b.lines[0].discounts
        );
    }

    #[test]
    fn refuses_lines_it_cannot_price_and_names_them() {
        let p = product("P1", 100, 400);
        let mut kg = product("K1", 1000, 400);
        kg.unit = Unit::Kg;
        let cases = [
            (line(&p, 0), LineProblem::ZeroPieces),
            (line(&p, MAX_PIECES + 1), LineProblem::TooManyPieces(MAX_PIECES + 1)),
            (line(&kg, 1), LineProblem::NeedsWeight),
            (
                BasketLine {
                    product: p.clone(),
                    quantity: Quantity::Weight { grams: 100 },
                },
                LineProblem::NotSoldByWeight,
            ),
            (
                BasketLine {
                    product: kg.clone(),
                    quantity: Quantity::Weight { grams: 0 },
                },
                LineProblem::ZeroWeight,
            ),
            (
                BasketLine {
                    product: kg.clone(),
                    quantity: Quantity::Weight {
                        grams: MAX_WEIGHT_G + 1,
                    },
                },
                LineProblem::TooHeavy(MAX_WEIGHT_G + 1),
            ),
            (
                BasketLine {
                    product: kg.clone(),
                    quantity: Quantity::LabelPrice { cents: -1 },
                },
                LineProblem::LabelPrice(-1),
            ),
            (line(&product("N", -5, 400), 1), LineProblem::Price(-5)),
        ];
        for (bad, problem) in cases {
            let err = price_basket(&[line(&p, 1), bad.clone()], &ctx()).expect_err("a bad line");
            assert_eq!((err.index, err.problem), (1, problem), "{bad:?}");
            assert!(err.to_string().starts_with("basket line 2 (sku"), "{err}");
        }
    }

    #[test]
    fn the_error_message_names_line_sku_and_problem() {
        let err = price_basket(&[line(&product("PAS-1", 100, 400), 0)], &ctx()).expect_err("quantity 0");
        assert_eq!(
            err.to_string(),
            "basket line 1 (sku \"PAS-1\"): quantity 0: a line holds at least one piece"
        );
    }

    #[test]
    fn percent_off_rounds_the_cents_off_half_up() {
        assert_eq!(percent_of(199, 20), 40); // 39.8
        assert_eq!(percent_of(125, 10), 13); // 12.5 → up
        assert_eq!(percent_of(124, 10), 12); // 12.4
        assert_eq!(
            unit_price_after(199, &PromotionKind::PercentOff { percent: 20 }),
            Some(159)
        );
    }

    #[test]
    fn vat_is_extracted_half_up() {
        assert_eq!(vat_included(122, 2200), 22); // exactly 22
        assert_eq!(vat_included(100, 2200), 18); // 18.03
        assert_eq!(vat_included(11, 1000), 1); // 1.0
        assert_eq!(vat_included(52, 400), 2); // 2.0
        assert_eq!(vat_included(13, 400), 1); // 0.5 → up
        assert_eq!(vat_included(500, 0), 0);
    }

    #[test]
    fn sets_count_pieces_across_lines_of_the_same_product() {
        let mut p = product("M", 100, 400);
        p.promotion = promo(PromotionKind::MultiBuy { buy: 3, pay: 2 });
        // 1 + 1 + 1 pieces: the third line completes the set and carries the free piece.
        let b = price_basket(&[line(&p, 1), line(&p, 1), line(&p, 1)], &ctx()).expect("valid");
        let nets: Vec<_> = b.lines.iter().map(|l| l.net_cents).collect();
        assert_eq!(nets, [100, 100, 0]);
        assert_eq!(b.promotions[0].lines, [2]);
        assert_eq!(total(&[line(&p, 2), line(&p, 5)]), 500); // 7 pieces: 2 free
    }

    #[test]
    fn reduced_pieces_are_the_last_of_each_set() {
        assert_eq!(reduced_among_first(0, 3, 2), 0);
        assert_eq!(reduced_among_first(2, 3, 2), 0);
        assert_eq!(reduced_among_first(3, 3, 2), 1);
        assert_eq!(reduced_among_first(7, 3, 2), 2);
        assert_eq!(reduced_among_first(4, 4, 2), 2);
        assert_eq!(reduced_among_first(3, 4, 2), 1);
    }

    #[test]
    fn a_scan_becomes_a_piece_a_weight_or_a_label_price() {
        let scan = |price: Option<i64>, weight: Option<u32>| Scan {
            symbology: None,
            kind: crate::barcode::Kind::VariableMeasure,
            gtin: None,
            ais: BTreeMap::new(),
            item: Some("020028".into()),
            price_cents: price,
            weight_g: weight,
            store_id: None,
            format: crate::barcode::Format::Ean13,
        };
        let p = product("P", 100, 400);
        let mut kg = product("K", 1000, 400);
        kg.unit = Unit::Kg;
        assert_eq!(
            BasketLine::scanned(p.clone(), &scan(None, None)).quantity,
            Quantity::Pieces(1)
        );
        assert_eq!(
            BasketLine::scanned(kg.clone(), &scan(None, Some(250))).quantity,
            Quantity::Weight { grams: 250 }
        );
        assert_eq!(
            BasketLine::scanned(kg.clone(), &scan(Some(499), None)).quantity,
            Quantity::LabelPrice { cents: 499 }
        );
        assert_eq!(
            BasketLine::scanned(kg, &scan(None, None)).check(),
            Err(LineProblem::NeedsWeight)
        );
    }

    #[test]
    fn explains_in_both_languages() {
        let r = Reason::Promotion {
            id: "P".into(),
            label: "3x2".into(),
            detail: PromotionDetail::MultiBuy {
                buy: 3,
                pay: 2,
                free: 1,
            },
        };
        assert_eq!(r.text(Language::It), "Prendi 3 paghi 2: 1 gratis");
        assert_eq!(r.text(Language::En), "Buy 3 pay 2: 1 free");
        let m = Reason::MemberPrice {
            unit_price_cents: 1990,
            unit: Unit::Kg,
        };
        assert_eq!(m.text(Language::It), "Prezzo soci € 19,90/kg");
        assert_eq!(m.text(Language::En), "Member price € 19,90/kg");
    }
}
