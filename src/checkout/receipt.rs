//! The receipt of a paid sale: what is printed on it, laid out as text, and the ESC/POS bytes that print it.
//!
//! Owns the receipt number format (`store-device-sequence`), the shop header from config (`[receipt]`), the
//! layout at 32 or 48 columns, and the translation of that layout into ESC/POS for a thermal printer. Pure
//! and sans-IO: it never talks to a printer (that is [`crate::printer`]), never reads a clock (the date
//! printed is the basket's business date) and never numbers receipts itself (the caller hands in the next
//! gap-free sequence number it persisted).
//!
//! [`text`] is the single source of the layout: [`escpos`] prints the same rows, adding only styling (bold,
//! double size) and the QR code, so the paper receipt and the e-receipt text never disagree. Every row is at
//! most `columns` characters wide (double-size rows at most `columns / 2`): long names are wrapped at spaces
//! and words longer than a row are cut, never left to overflow.
//!
//! The loyalty id is printed masked (only its last 4 characters), as it is in logs.
//!
//! # ESC/POS sequences emitted by [`escpos`]
//!
//! Hex as it appears in a captured byte dump, in the order it appears:
//!
//! | Bytes (hex)                            | Command          | Meaning                                          |
//! |----------------------------------------|------------------|--------------------------------------------------|
//! | `1B 40`                                | ESC @            | initialise the printer (clears styles)           |
//! | `1B 74 13`                             | ESC t 19         | character code table PC858 (CP850 with € at D5)  |
//! | `1B 45 01` / `1B 45 00`                | ESC E n          | bold on / off (header store name, labels)        |
//! | `1D 21 11` / `1D 21 00`                | GS ! n           | double width and height on / off (the total)     |
//! | `0A`                                   | LF               | print the row and feed one line                  |
//! | `1B 61 01` / `1B 61 00`                | ESC a n          | centre / left-justify (around the QR code only)  |
//! | `1D 28 6B 04 00 31 41 32 00`           | GS ( k fn 65     | QR: model 2                                      |
//! | `1D 28 6B 03 00 31 43 nn`              | GS ( k fn 67     | QR: module size nn dots (4 at 32 col, 6 at 48)   |
//! | `1D 28 6B 03 00 31 45 31`              | GS ( k fn 69     | QR: error correction level M                     |
//! | `1D 28 6B pL pH 31 50 30 <url bytes>`  | GS ( k fn 80     | QR: store the URL; pL + 256·pH = URL length + 3  |
//! | `1D 28 6B 03 00 31 51 30`              | GS ( k fn 81     | QR: print the stored symbol                      |
//! | `1D 56 42 00`                          | GS V 66 0        | feed to the cutter and cut partially             |
//!
//! Text bytes are PC858: ASCII as is, `€` = `D5`, `à` `85`, `è` `8A`, `é` `82`, `ì` `8D`, `ò` `95`, `ù` `97`
//! (capitals `B7 D4 90 DE E3 EB`), `°` `F8`; any other character prints as `?`. Control characters in
//! catalog text are printed as `?` too, so that a product name can never smuggle a command to the printer.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::catalog::CalendarDate;
use crate::checkout::basket::Cart;
use crate::config::Language;
use crate::money::format_eur;
use crate::pricing::{PricedBasket, Quantity, VatLine};

/// Longest header or footer line accepted in `[receipt]`: the width of a 48-column printer. Narrower
/// printers wrap them.
pub const MAX_HEADER_LINE: usize = 48;

/// Fewest columns the layout works with; narrower requests are laid out at this width.
pub const MIN_COLUMNS: usize = 24;

/// Longest e-receipt URL printed as a QR code: the byte capacity of a version 40 symbol at error correction
/// level M. A longer URL is printed as text only.
pub const MAX_QR_BYTES: usize = 2331;

/// The number of a receipt: unique per device and gap-free, `store-device-sequence`, e.g. `0042-K07-000123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReceiptNumber {
    /// Store id (`device.store_id`).
    pub store: String,
    /// Device id (`device.device_id`).
    pub device: String,
    /// The device's receipt sequence: starts at 1, one more per printed or e-receipt, never reused.
    pub seq: u64,
}

impl fmt::Display for ReceiptNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{:06}", self.store, self.device, self.seq)
    }
}

/// Why a text is not a receipt number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{text}\" is not a receipt number of the form store-device-sequence: {reason}")]
pub struct ReceiptNumberError {
    /// The text.
    pub text: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl FromStr for ReceiptNumber {
    type Err = ReceiptNumberError;

    /// Parses `store-device-sequence`. Store and device ids may not contain `-` here: with one more dash the
    /// split between store and device would be a guess.
    fn from_str(s: &str) -> Result<ReceiptNumber, ReceiptNumberError> {
        let err = |reason| ReceiptNumberError {
            text: s.to_owned(),
            reason,
        };
        let parts: Vec<&str> = s.split('-').collect();
        let [store, device, seq] = parts[..] else {
            return Err(err("expected exactly three parts separated by '-'"));
        };
        if store.is_empty() || device.is_empty() {
            return Err(err("store and device must not be empty"));
        }
        if seq.len() < 6 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the sequence must be at least 6 digits"));
        }
        let seq = seq.parse().map_err(|_| err("the sequence is too large"))?;
        Ok(ReceiptNumber {
            store: store.to_owned(),
            device: device.to_owned(),
            seq,
        })
    }
}

/// `[receipt]`: the shop's header and footer printed on every receipt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptHeader {
    /// Store name, printed bold at the top.
    pub store_name: String,
    /// Address lines under the name.
    #[serde(default)]
    pub address_lines: Vec<String>,
    /// The company's VAT number (Partita IVA), required on an Italian receipt.
    pub vat_number: String,
    /// Lines printed at the bottom ("Grazie e arrivederci").
    #[serde(default)]
    pub footer_lines: Vec<String>,
}

/// A `[receipt]` value that cannot be used: the dotted key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct HeaderError {
    /// Dotted key, e.g. `receipt.address_lines[1]`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl ReceiptHeader {
    /// Checks what serde cannot: names present, every line printable within [`MAX_HEADER_LINE`] columns.
    pub fn validate(&self) -> Result<(), HeaderError> {
        let bad = |key: String, reason: &str| {
            Err(HeaderError {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.store_name.trim().is_empty() {
            return bad("receipt.store_name".into(), "must not be empty");
        }
        if self.vat_number.trim().is_empty() {
            return bad("receipt.vat_number".into(), "must not be empty (required on a receipt)");
        }
        let singles = [
            ("receipt.store_name".to_owned(), &self.store_name),
            ("receipt.vat_number".to_owned(), &self.vat_number),
        ];
        let lists = [
            ("address_lines", &self.address_lines),
            ("footer_lines", &self.footer_lines),
        ];
        let all = singles.into_iter().chain(
            lists
                .into_iter()
                .flat_map(|(k, v)| v.iter().enumerate().map(move |(i, l)| (format!("receipt.{k}[{i}]"), l))),
        );
        for (key, line) in all {
            if line.chars().count() > MAX_HEADER_LINE {
                return bad(key, &format!("is longer than {MAX_HEADER_LINE} characters"));
            }
            if line.chars().any(char::is_control) {
                return bad(key, "must not contain control characters (one line per entry)");
            }
        }
        Ok(())
    }
}

/// How the sale was paid, from the payment terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentInfo {
    /// The terminal's transaction reference.
    pub reference: String,
    /// The amount paid.
    pub amount_cents: i64,
}

/// Money taken off, as printed: the explanation and the amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptDiscount {
    /// Reason or promotion label, in the receipt's language.
    pub text: String,
    /// Cents taken off, > 0 (printed as a negative amount).
    pub cents: i64,
}

/// One basket line as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLine {
    /// Product name.
    pub name: String,
    /// `3 x 1,20`, `0,532 kg x 12,90 €/kg`, or the label-price note; `None` for a single piece.
    pub quantity_text: Option<String>,
    /// Line price before discounts.
    pub gross_cents: i64,
    /// Discounts on this line, in the order they applied.
    pub discounts: Vec<ReceiptDiscount>,
}

/// The loyalty member line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoyaltyLine {
    /// The card id masked: only its last 4 characters are kept ([`mask_loyalty_id`]).
    pub masked_id: String,
    /// Points the sale earned, when the caller knows them.
    pub points_earned: Option<u64>,
}

/// Everything printed on a receipt, already in the receipt's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Language of the labels.
    pub lang: Language,
    /// The shop's header and footer.
    pub header: ReceiptHeader,
    /// The receipt number.
    pub number: ReceiptNumber,
    /// The basket id (`Cart::id`), for support and central.
    pub basket_id: String,
    /// The business date of the sale.
    pub business_date: CalendarDate,
    /// Lines in scan order.
    pub lines: Vec<ReceiptLine>,
    /// One row per promotion that took something off the basket.
    pub promotions: Vec<ReceiptDiscount>,
    /// What the shopper paid.
    pub total_cents: i64,
    /// Everything taken off (member prices and promotions).
    pub savings_cents: i64,
    /// VAT summary by rate, as priced.
    pub vat: Vec<VatLine>,
    /// The payment; `None` for a sale that cost nothing.
    pub payment: Option<PaymentInfo>,
    /// The loyalty member line, when a card was scanned.
    pub loyalty: Option<LoyaltyLine>,
    /// The e-receipt in the shopper's online account, printed as a QR code and as text.
    pub e_receipt_url: String,
    /// A reprint asked for by staff: printed under the header as a copy, so two papers of one sale are told
    /// apart.
    pub copy: bool,
}

/// Why a receipt cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The priced basket is not the pricing of this cart (a caller bug): a receipt with the wrong lines
    /// must never be printed.
    #[error("priced basket does not match cart {basket_id}: {detail}")]
    Mismatch {
        /// The cart's id.
        basket_id: String,
        /// What differs.
        detail: String,
    },
}

impl Receipt {
    /// Builds the receipt of a paid `cart` priced as `priced` (the pricing of the same lines, in the same
    /// order). The loyalty line comes from `cart.loyalty_id`; add the points with
    /// [`Receipt::with_points_earned`].
    pub fn build(
        header: &ReceiptHeader,
        number: ReceiptNumber,
        cart: &Cart,
        priced: &PricedBasket,
        payment: Option<PaymentInfo>,
        e_receipt_url: String,
        lang: Language,
    ) -> Result<Receipt, ReceiptError> {
        let mismatch = |detail: String| ReceiptError::Mismatch {
            basket_id: cart.id.clone(),
            detail,
        };
        if cart.lines.len() != priced.lines.len() {
            return Err(mismatch(format!(
                "{} cart lines, {} priced lines",
                cart.lines.len(),
                priced.lines.len()
            )));
        }
        let l = labels(lang);
        let mut lines = Vec::with_capacity(cart.lines.len());
        for (i, (line, p)) in cart.lines.iter().zip(&priced.lines).enumerate() {
            if line.product.sku != p.sku {
                return Err(mismatch(format!(
                    "line {}: cart sku {}, priced sku {}",
                    i + 1,
                    line.product.sku,
                    p.sku
                )));
            }
            let quantity_text = match p.quantity {
                Quantity::Pieces(1) => None,
                Quantity::Pieces(n) => Some(format!("{n} x {}", amount(p.unit_price_cents))),
                Quantity::Weight { grams } => Some(format!(
                    "{},{:03} kg x {} €/kg",
                    grams / 1000,
                    grams % 1000,
                    amount(p.unit_price_cents)
                )),
                Quantity::LabelPrice { .. } => Some(l.label_price.to_owned()),
            };
            lines.push(ReceiptLine {
                name: line.product.name.clone(),
                quantity_text,
                gross_cents: p.gross_cents,
                discounts: p
                    .discounts
                    .iter()
                    .map(|d| ReceiptDiscount {
                        text: d.reason.text(lang),
                        cents: d.cents,
                    })
                    .collect(),
            });
        }
        Ok(Receipt {
            lang,
            header: header.clone(),
            number,
            basket_id: cart.id.clone(),
            business_date: cart.business_date,
            lines,
            promotions: priced
                .promotions
                .iter()
                .map(|p| ReceiptDiscount {
                    text: p.label.clone(),
                    cents: p.cents,
                })
                .collect(),
            total_cents: priced.total_cents,
            savings_cents: priced.discount_cents,
            vat: priced.vat.clone(),
            payment,
            loyalty: cart.loyalty_id.as_deref().map(|id| LoyaltyLine {
                masked_id: mask_loyalty_id(id),
                points_earned: None,
            }),
            e_receipt_url,
            copy: false,
        })
    }

    /// The same receipt marked as a copy (a staff reprint).
    pub fn as_copy(mut self) -> Receipt {
        self.copy = true;
        self
    }

    /// The same receipt with the loyalty points the sale earned (ignored without a loyalty card).
    pub fn with_points_earned(mut self, points: u64) -> Receipt {
        if let Some(loyalty) = &mut self.loyalty {
            loyalty.points_earned = Some(points);
        }
        self
    }
}

/// A loyalty id as it may be shown or logged: `****` and its last 4 characters; an id of 4 characters or
/// fewer is all stars (its last 4 would be the whole id). The length of the id is not revealed either.
pub fn mask_loyalty_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 4 {
        return "****".to_owned();
    }
    let last4: String = chars[chars.len() - 4..].iter().collect();
    format!("****{last4}")
}

/// The receipt as plain text, one row per line, each at most `columns` characters (fewer than
/// [`MIN_COLUMNS`] are laid out at [`MIN_COLUMNS`]): the layout [`escpos`] prints (for the e-receipt payload,
/// and for tests and eyes). The QR code is not drawn; its URL follows it as text on both. The double-size
/// total row is `columns / 2` characters wide, as it is on paper.
pub fn text(receipt: &Receipt, columns: usize) -> String {
    let mut out = String::new();
    for item in layout(receipt, columns) {
        if let Item::Row { text, .. } = item {
            out.push_str(&text);
            out.push('\n');
        }
    }
    out
}

/// The receipt as ESC/POS bytes for a `columns`-wide printer (32 or 48): the rows of [`text`] with styling,
/// the QR code of the e-receipt URL, and a partial cut. The sequences are listed in the module docs.
pub fn escpos(receipt: &Receipt, columns: usize) -> Vec<u8> {
    let columns = columns.max(MIN_COLUMNS);
    let mut out = Vec::with_capacity(2048);
    out.extend_from_slice(&[ESC, b'@', ESC, b't', 19]);
    for item in layout(receipt, columns) {
        match item {
            Item::Row { text, style } => {
                if style.bold {
                    out.extend_from_slice(&[ESC, b'E', 1]);
                }
                if style.double {
                    out.extend_from_slice(&[GS, b'!', 0x11]);
                }
                out.extend(text.chars().map(pc858));
                out.push(b'\n');
                if style.double {
                    out.extend_from_slice(&[GS, b'!', 0]);
                }
                if style.bold {
                    out.extend_from_slice(&[ESC, b'E', 0]);
                }
            }
            Item::Qr(url) => {
                let module = if columns >= 48 { 6 } else { 4 };
                out.extend_from_slice(&[ESC, b'a', 1]);
                out.extend_from_slice(&qr_code(url.as_bytes(), module));
                out.push(b'\n');
                out.extend_from_slice(&[ESC, b'a', 0]);
            }
        }
    }
    out.extend_from_slice(&[GS, b'V', 66, 0]);
    out
}

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;

/// GS ( k: model 2, module size, error correction M, store `data`, print. `data` must be at most
/// [`MAX_QR_BYTES`] (the caller checks), so its length always fits the two length bytes.
fn qr_code(data: &[u8], module: u8) -> Vec<u8> {
    let store_len = data.len() + 3;
    let mut out = Vec::with_capacity(store_len + 40);
    out.extend_from_slice(&[GS, b'(', b'k', 4, 0, 49, 65, 50, 0]);
    out.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 67, module]);
    out.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 69, 49]);
    let (p_l, p_h) = ((store_len % 256) as u8, (store_len / 256) as u8);
    out.extend_from_slice(&[GS, b'(', b'k', p_l, p_h, 49, 80, 48]);
    out.extend_from_slice(data);
    out.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 81, 48]);
    out
}

/// One character in code page PC858; `?` for anything it cannot print, control characters included.
fn pc858(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '€' => 0xD5,
        'à' => 0x85,
        'è' => 0x8A,
        'é' => 0x82,
        'ì' => 0x8D,
        'ò' => 0x95,
        'ù' => 0x97,
        'À' => 0xB7,
        'È' => 0xD4,
        'É' => 0x90,
        'Ì' => 0xDE,
        'Ò' => 0xE3,
        'Ù' => 0xEB,
        'á' => 0xA0,
        'í' => 0xA1,
        'ó' => 0xA2,
        'ú' => 0xA3,
        'â' => 0x83,
        'ê' => 0x88,
        'î' => 0x8C,
        'ô' => 0x93,
        'û' => 0x96,
        'ä' => 0x84,
        'ë' => 0x89,
        'ï' => 0x8B,
        'ö' => 0x94,
        'ü' => 0x81,
        'Ä' => 0x8E,
        'Ö' => 0x99,
        'Ü' => 0x9A,
        'ç' => 0x87,
        'Ç' => 0x80,
        'ñ' => 0xA4,
        'Ñ' => 0xA5,
        'ß' => 0xE1,
        '£' => 0x9C,
        '°' => 0xF8,
        _ => b'?',
    }
}

/// An amount as in receipt columns: `1,20`, `1.234,50`, `-0,50` (the money module's grouping, without `€`).
fn amount(cents: i64) -> String {
    format_eur(cents).replacen("€ ", "", 1)
}

/// A VAT rate in basis points as printed: `22%`, `5,5%`.
fn rate(bp: u32) -> String {
    match bp % 100 {
        0 => format!("{}%", bp / 100),
        r if r % 10 == 0 => format!("{},{}%", bp / 100, r / 10),
        r => format!("{},{:02}%", bp / 100, r),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    bold: bool,
    double: bool,
}

/// One element of the layout: a row of at most the row width, or the QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Row { text: String, style: Style },
    Qr(String),
}

/// Receipt labels in one language.
struct Labels {
    vat_no: &'static str,
    copy: &'static str,
    label_price: &'static str,
    promotions: &'static str,
    total: &'static str,
    savings: &'static str,
    vat_header: [&'static str; 4],
    paid_card: &'static str,
    reference: &'static str,
    loyalty: &'static str,
    points: &'static str,
    receipt_no: &'static str,
    basket: &'static str,
    date: &'static str,
    e_receipt: &'static str,
}

const IT: Labels = Labels {
    vat_no: "P.IVA",
    copy: "*** COPIA ***",
    label_price: "Prezzo da etichetta",
    promotions: "Promozioni",
    total: "TOTALE €",
    savings: "Hai risparmiato",
    vat_header: ["IVA", "Imponib.", "Imposta", "Totale"],
    paid_card: "Pagamento elettronico",
    reference: "Rif.",
    loyalty: "Carta fedeltà",
    points: "Punti guadagnati",
    receipt_no: "Scontrino",
    basket: "Carrello",
    date: "Data",
    e_receipt: "Lo scontrino digitale è nel tuo account:",
};

const EN: Labels = Labels {
    vat_no: "VAT no.",
    copy: "*** COPY ***",
    label_price: "Price from label",
    promotions: "Promotions",
    total: "TOTAL €",
    savings: "You saved",
    vat_header: ["VAT", "Base", "VAT", "Total"],
    paid_card: "Card payment",
    reference: "Ref.",
    loyalty: "Loyalty card",
    points: "Points earned",
    receipt_no: "Receipt",
    basket: "Basket",
    date: "Date",
    e_receipt: "Your e-receipt is in your online account:",
};

fn labels(lang: Language) -> &'static Labels {
    match lang {
        Language::It => &IT,
        Language::En => &EN,
    }
}

/// Rows being laid out at a fixed width.
struct Layout {
    width: usize,
    items: Vec<Item>,
}

impl Layout {
    fn row(&mut self, text: String, style: Style) {
        debug_assert!(text.chars().count() <= self.width);
        self.items.push(Item::Row { text, style });
    }

    fn plain(&mut self, text: &str) {
        for row in wrap(text, self.width) {
            self.row(row, Style::default());
        }
    }

    fn centered(&mut self, text: &str, style: Style) {
        let width = self.width;
        for row in wrap(text, width) {
            let pad = (width - row.chars().count()) / 2;
            self.row(format!("{}{row}", " ".repeat(pad)), style);
        }
    }

    fn rule(&mut self) {
        self.row("-".repeat(self.width), Style::default());
    }

    /// `left` and `right` on one row, `right` right-aligned; when both do not fit, `left` wraps onto rows of
    /// its own and `right` gets the last row (or one of its own).
    fn pair(&mut self, left: &str, right: &str, style: Style, width: usize) {
        let rlen = right.chars().count();
        if rlen + 1 >= width {
            for row in wrap(left, width).into_iter().chain(wrap(right, width)) {
                self.row(row, style);
            }
            return;
        }
        let mut rows = wrap(left, width - rlen - 1);
        let last = rows.pop().unwrap_or_default();
        for row in rows {
            self.row(row, style);
        }
        let pad = width - last.chars().count() - rlen;
        self.row(format!("{last}{}{right}", " ".repeat(pad)), style);
    }

    /// Cells right-aligned in equal columns after a first, left-aligned one; `None` when they do not fit.
    fn table_row(&self, first: &str, cells: &[String]) -> Option<String> {
        let cell_w = (self.width - 5) / cells.len();
        let first_w = self.width - cell_w * cells.len();
        if first.chars().count() > first_w || cells.iter().any(|c| c.chars().count() > cell_w) {
            return None;
        }
        let mut row = format!("{first:<first_w$}");
        for c in cells {
            row.push_str(&format!("{c:>cell_w$}"));
        }
        Some(row)
    }
}

/// Splits `text` into rows of at most `width` characters: at spaces where possible, cutting words longer
/// than a row. Leading spaces (an indent narrower than half the row) are repeated on every row. Control
/// characters become spaces. Always at least one row.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let indent = text.chars().take_while(|&c| c == ' ').count();
    if indent > 0 && indent < width / 2 {
        let pad = " ".repeat(indent);
        return wrap(&text[indent..], width - indent)
            .into_iter()
            .map(|row| format!("{pad}{row}"))
            .collect();
    }
    let mut rows = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0;
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    for word in cleaned.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let sep = usize::from(cur_len > 0);
            if cur_len + sep + word.len() <= width {
                if sep == 1 {
                    cur.push(' ');
                }
                cur.extend(word.iter());
                cur_len += sep + word.len();
                break;
            }
            if cur_len > 0 {
                rows.push(std::mem::take(&mut cur));
                cur_len = 0;
                continue;
            }
            // A word longer than a whole row: cut it.
            let rest = word.split_off(width);
            rows.push(word.iter().collect());
            word = rest;
        }
    }
    if cur_len > 0 || rows.is_empty() {
        rows.push(cur);
    }
    rows
}

fn layout(r: &Receipt, columns: usize) -> Vec<Item> {
    let width = columns.max(MIN_COLUMNS);
    let l = labels(r.lang);
    let plain = Style::default();
    let bold = Style {
        bold: true,
        double: false,
    };
    let double = Style {
        bold: true,
        double: true,
    };
    let mut out = Layout {
        width,
        items: Vec::new(),
    };

    out.centered(&r.header.store_name, bold);
    for line in &r.header.address_lines {
        out.centered(line, plain);
    }
    out.centered(&format!("{} {}", l.vat_no, r.header.vat_number), plain);
    if r.copy {
        out.centered(l.copy, bold);
    }
    out.rule();

    for line in &r.lines {
        out.pair(&line.name, &amount(line.gross_cents), plain, width);
        if let Some(q) = &line.quantity_text {
            out.plain(&format!("  {q}"));
        }
        for d in &line.discounts {
            out.pair(&format!("  {}", d.text), &amount(-d.cents), plain, width);
        }
    }
    out.rule();

    if !r.promotions.is_empty() {
        out.row(l.promotions.to_owned(), bold);
        for p in &r.promotions {
            out.pair(&p.text, &amount(-p.cents), plain, width);
        }
        out.rule();
    }

    out.pair(l.total, &amount(r.total_cents), double, width / 2);
    if r.savings_cents > 0 {
        out.pair(l.savings, &amount(r.savings_cents), plain, width);
    }
    out.rule();

    let head: Vec<String> = l.vat_header[1..].iter().map(|s| s.to_string()).collect();
    match out.table_row(l.vat_header[0], &head) {
        Some(row) => out.row(row, bold),
        None => out.plain(&l.vat_header.join(" ")),
    }
    for v in &r.vat {
        let cells = [amount(v.base_cents), amount(v.vat_cents), amount(v.total_cents)];
        match out.table_row(&rate(v.rate_bp), &cells) {
            Some(row) => out.row(row, plain),
            None => {
                // Amounts too wide for the table: one labelled row each, never an overflowing row.
                out.row(rate(v.rate_bp), plain);
                for (label, cell) in l.vat_header[1..].iter().zip(&cells) {
                    out.pair(&format!("  {label}"), cell, plain, width);
                }
            }
        }
    }
    out.rule();

    if let Some(p) = &r.payment {
        out.pair(l.paid_card, &amount(p.amount_cents), plain, width);
        out.plain(&format!("{} {}", l.reference, p.reference));
    }
    if let Some(loyalty) = &r.loyalty {
        out.pair(l.loyalty, &loyalty.masked_id, plain, width);
        if let Some(points) = loyalty.points_earned {
            out.pair(l.points, &points.to_string(), plain, width);
        }
    }
    out.pair(l.receipt_no, &r.number.to_string(), plain, width);
    out.pair(l.basket, &r.basket_id, plain, width);
    let d = r.business_date;
    let date = match r.lang {
        Language::It => format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year()),
        Language::En => d.to_string(),
    };
    out.pair(l.date, &date, plain, width);
    out.rule();

    out.centered(l.e_receipt, plain);
    if !r.e_receipt_url.is_empty() && r.e_receipt_url.len() <= MAX_QR_BYTES {
        out.items.push(Item::Qr(r.e_receipt_url.clone()));
    }
    out.plain(&r.e_receipt_url);

    if !r.header.footer_lines.is_empty() {
        out.rule();
        for line in &r.header.footer_lines {
            out.centered(line, plain);
        }
    }
    out.items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Product, Promotion, PromotionKind, Unit};
    use crate::checkout::basket::{Line, Totals};
    use crate::pricing::{price_basket, BasketLine, PricingContext};

    const URL: &str = "https://shop.example.it/account/receipts/0042-K07-000123";

    fn header() -> ReceiptHeader {
        ReceiptHeader {
            store_name: "Supermercato Città Alta".into(),
            address_lines: vec!["Via Colleoni 1".into(), "24129 Bergamo BG".into()],
            vat_number: "IT01234567890".into(),
            footer_lines: vec!["Grazie e arrivederci".into()],
        }
    }

    fn number() -> ReceiptNumber {
        ReceiptNumber {
            store: "0042".into(),
            device: "K07".into(),
            seq: 123,
        }
    }

    fn date() -> CalendarDate {
        "2026-12-02".parse().expect("a real date")
    }

    /// A cart of three lines: 3 pieces with 3-for-2, a weighed line, and a price label; and its pricing.
    fn sale(name: &str, loyalty_id: Option<&str>) -> (Cart, PricedBasket) {
        let mut milk = Product::for_test("milk", 120, 400);
        milk.name = name.into();
        milk.promotion = Some(Promotion {
            id: "P1".into(),
            label: "3x2".into(),
            valid_from: None,
            valid_to: None,
            members_only: false,
            kind: PromotionKind::MultiBuy { buy: 3, pay: 2 },
        });
        let mut cheese = Product::for_test("cheese", 1290, 1000);
        cheese.name = "Grana Padano".into();
        cheese.unit = Unit::Kg;
        let mut bread = Product::for_test("bread", 0, 2200);
        bread.name = "Pane".into();
        let lines = vec![
            Line {
                product: milk,
                quantity: Quantity::Pieces(3),
            },
            Line {
                product: cheese,
                quantity: Quantity::Weight { grams: 532 },
            },
            Line {
                product: bread,
                quantity: Quantity::LabelPrice { cents: 250 },
            },
        ];
        let pricing: Vec<BasketLine> = lines
            .iter()
            .map(|l| BasketLine {
                product: l.product.clone(),
                quantity: l.quantity,
            })
            .collect();
        let ctx = PricingContext {
            business_date: date(),
            member: loyalty_id.is_some(),
        };
        let priced = price_basket(&pricing, &ctx).expect("prices");
        let cart = Cart {
            id: "K07-000077".into(),
            business_date: date(),
            lines,
            loyalty_id: loyalty_id.map(str::to_owned),
            age_approved: None,
            attempts: 1,
            totals: Totals::default(),
        };
        (cart, priced)
    }

    fn receipt(lang: Language, name: &str, loyalty_id: Option<&str>) -> Receipt {
        let (cart, priced) = sale(name, loyalty_id);
        let payment = Some(PaymentInfo {
            reference: "TX-998877".into(),
            amount_cents: priced.total_cents,
        });
        Receipt::build(&header(), number(), &cart, &priced, payment, URL.into(), lang).expect("builds")
    }

    fn rows(r: &Receipt, columns: usize) -> Vec<String> {
        text(r, columns).lines().map(str::to_owned).collect()
    }

    fn row_with<'a>(rows: &'a [String], needle: &str) -> &'a str {
        rows.iter()
            .find(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle:?} in\n{}", rows.join("\n")))
    }

    #[test]
    fn receipt_numbers_are_store_device_sequence_and_parse_back() {
        assert_eq!(number().to_string(), "0042-K07-000123");
        assert_eq!("0042-K07-000123".parse::<ReceiptNumber>(), Ok(number()));
        let big = ReceiptNumber {
            seq: 12_345_678,
            ..number()
        };
        assert_eq!(big.to_string(), "0042-K07-12345678");
        assert_eq!(big.to_string().parse::<ReceiptNumber>(), Ok(big));
        for bad in [
            "0042-K07",
            "0042-K-07-000123",
            "0042-K07-123",
            "0042-K07-00012a",
            "-K07-000123",
        ] {
            assert!(bad.parse::<ReceiptNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_are_right_aligned_at_32_and_48_columns() {
        let r = receipt(Language::It, "Latte intero", None);
        for columns in [32, 48] {
            let rows = rows(&r, columns);
            for row in &rows {
                assert!(row.chars().count() <= columns, "{columns}: {row:?} overflows");
            }
            // Lines: 3 x 1,20 = 3,60; 0,532 kg at 12,90 = 6,86 (half-up of 6,8628); the label's 2,50.
            for (name, amt) in [("Latte intero", "3,60"), ("Grana Padano", "6,86"), ("Pane", "2,50")] {
                let row = row_with(&rows, name);
                assert!(row.ends_with(amt), "{row:?}");
                assert_eq!(row.chars().count(), columns, "{row:?} is not right-aligned");
            }
            assert!(rows.iter().any(|r| r.trim() == "3 x 1,20"));
            assert!(rows.iter().any(|r| r.trim() == "0,532 kg x 12,90 €/kg"));
            assert!(rows.iter().any(|r| r.trim() == "Prezzo da etichetta"));
            // The discount under its line, indented (wrapped at 32 columns), its amount right-aligned.
            let flowing = rows.iter().map(|r| r.trim()).collect::<Vec<_>>().join(" ");
            assert!(flowing.contains("3 x 1,20 Prendi 3 paghi 2:"), "{flowing}");
            let discount = row_with(&rows, "  Prendi 3 paghi 2");
            assert!(discount.starts_with("  Prendi"), "{discount:?}");
            assert!(rows
                .iter()
                .any(|r| r.ends_with(" -1,20") && r.chars().count() == columns));
            // Total 3,60 - 1,20 + 6,86 + 2,50 = 11,76, on a double-size row of half the width.
            let total = row_with(&rows, "TOTALE");
            assert!(
                total.ends_with("11,76") && total.chars().count() == columns / 2,
                "{total:?}"
            );
            assert!(row_with(&rows, "Hai risparmiato").ends_with("1,20"));
            assert!(row_with(&rows, "Scontrino").ends_with("0042-K07-000123"));
            assert!(row_with(&rows, "Carrello").ends_with("K07-000077"));
            assert!(row_with(&rows, "Data").ends_with("02/12/2026"));
        }
    }

    #[test]
    fn a_long_name_wraps_and_never_overflows() {
        let name = "Biscotti frollini al cacao con gocce di cioccolato fondente confezione famiglia \
                    Supercalifragilistichespiralidosoextralunghissimo";
        let r = receipt(Language::En, name, None);
        for columns in [32, 48] {
            let rows = rows(&r, columns);
            for row in &rows {
                assert!(row.chars().count() <= columns, "{columns}: {row:?} overflows");
            }
            // Every word of the name is printed, in order (the over-long one cut across rows).
            let printed: String = rows.iter().map(|r| r.trim()).collect::<Vec<_>>().join(" ");
            assert!(printed.contains("Biscotti frollini al cacao"), "{printed}");
            let joined: String = rows.concat();
            assert!(joined.contains("famiglia"));
            assert!(row_with(&rows, "Biscotti").starts_with("Biscotti"));
            // The amount sits on the name's last row.
            let at = rows.iter().position(|r| r.ends_with("3,60")).expect("amount row");
            assert!(rows[at].starts_with("Supercal") || rows[at - 1].starts_with("Supercal"));
        }
        // A lone word longer than the row is cut, not overflowing.
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
    }

    #[test]
    fn vat_summary_rows_match_the_priced_vat() {
        let r = receipt(Language::It, "Latte", None);
        assert_eq!(r.vat.len(), 3);
        for columns in [32, 48] {
            let rows = rows(&r, columns);
            for v in &r.vat {
                let row = rows
                    .iter()
                    .find(|r| r.starts_with(&format!("{} ", rate(v.rate_bp))))
                    .expect("a row per VAT rate");
                let cells: Vec<&str> = row.split_whitespace().collect();
                assert_eq!(
                    cells,
                    [
                        rate(v.rate_bp),
                        amount(v.base_cents),
                        amount(v.vat_cents),
                        amount(v.total_cents)
                    ],
                    "{row:?}"
                );
                assert_eq!(row.chars().count(), columns);
            }
            let sum: i64 = r.vat.iter().map(|v| v.total_cents).sum();
            assert_eq!(sum, r.total_cents);
        }
        assert_eq!(rate(2200), "22%");
        assert_eq!(rate(550), "5,5%");
        assert_eq!(rate(1025), "10,25%");
    }

    #[test]
    fn the_qr_code_stores_the_url_with_its_length() {
        let r = receipt(Language::It, "Latte", None);
        let bytes = escpos(&r, 48);
        let k = URL.len() + 3;
        let mut store = vec![GS, b'(', b'k', (k % 256) as u8, (k / 256) as u8, 49, 80, 48];
        store.extend_from_slice(URL.as_bytes());
        store.extend_from_slice(&[GS, b'(', b'k', 3, 0, 49, 81, 48]);
        assert!(
            bytes.windows(store.len()).any(|w| w == store),
            "store + print not found"
        );
        for setup in [
            &[GS, b'(', b'k', 4, 0, 49, 65, 50, 0][..],
            &[GS, b'(', b'k', 3, 0, 49, 67, 6],
            &[GS, b'(', b'k', 3, 0, 49, 69, 49],
        ] {
            assert!(bytes.windows(setup.len()).any(|w| w == setup), "{setup:02X?}");
        }
        // A URL over 255 bytes needs the high length byte.
        let long = format!("https://shop.example.it/r/{}", "a".repeat(300));
        let qr = qr_code(long.as_bytes(), 4);
        let k = long.len() + 3;
        assert_eq!(
            &qr[25..33],
            &[GS, b'(', b'k', (k % 256) as u8, (k / 256) as u8, 49, 80, 48]
        );
        assert_eq!(k / 256, 1);
    }

    #[test]
    fn bytes_start_with_init_and_code_page_and_end_with_a_partial_cut() {
        let bytes = escpos(&receipt(Language::It, "Latte", None), 32);
        assert_eq!(&bytes[..5], &[ESC, b'@', ESC, b't', 19]);
        assert_eq!(&bytes[bytes.len() - 4..], &[GS, b'V', 66, 0]);
        // The total is printed double size, and reset after.
        let total: Vec<u8> = [&[GS, b'!', 0x11][..], b"TOTALE "].concat();
        assert!(bytes.windows(total.len()).any(|w| w == total));
        // A fake printer's status parser must never see DLE EOT inside a receipt.
        assert!(!bytes.windows(2).any(|w| w == [0x10, 0x04]));
    }

    #[test]
    fn euro_and_italian_letters_map_to_pc858() {
        let r = receipt(Language::It, "Caffè perché più già così può", None);
        let bytes = escpos(&r, 48);
        assert!(bytes.contains(&0xD5), "€ is printed as D5");
        assert!(!bytes.windows(3).any(|w| w == "€".as_bytes()), "no UTF-8 € left");
        let name: Vec<u8> = "Caffè perché più già così può".chars().map(pc858).collect();
        assert_eq!(name, b"Caff\x8A perch\x82 pi\x97 gi\x85 cos\x8D pu\x95");
        assert!(bytes.windows(name.len()).any(|w| w == name));
        assert_eq!(pc858('\x1b'), b'?');
        assert_eq!(pc858('\x10'), b'?');
        assert_eq!(pc858('漢'), b'?');
    }

    #[test]
    fn the_loyalty_id_is_masked_to_its_last_four() {
        let id = "2900012345678";
        let r = receipt(Language::It, "Latte", Some(id)).with_points_earned(12);
        for columns in [32, 48] {
            let t = text(&r, columns);
            assert!(!t.contains(id), "full loyalty id printed");
            assert!(row_with(&rows(&r, columns), "Carta fedeltà").ends_with("****5678"));
            assert!(row_with(&rows(&r, columns), "Punti guadagnati").ends_with("12"));
            let bytes = escpos(&r, columns);
            assert!(!bytes.windows(id.len()).any(|w| w == id.as_bytes()));
        }
        assert_eq!(mask_loyalty_id("1234"), "****");
        assert_eq!(mask_loyalty_id("12345"), "****2345");
        // Without a card there is no loyalty line, and points alone add none.
        let anon = receipt(Language::It, "Latte", None).with_points_earned(5);
        assert!(!text(&anon, 48).contains("Carta fedeltà"));
    }

    #[test]
    fn labels_follow_the_language() {
        let it = text(&receipt(Language::It, "Latte", None), 48);
        let en = text(&receipt(Language::En, "Latte", None), 48);
        for want in [
            "TOTALE €",
            "Hai risparmiato",
            "Pagamento elettronico",
            "Rif. TX-998877",
            "P.IVA",
            "Prendi 3",
        ] {
            assert!(it.contains(want), "{want} missing from\n{it}");
        }
        for want in [
            "TOTAL €",
            "You saved",
            "Card payment",
            "Ref. TX-998877",
            "VAT no.",
            "Buy 3 pay 2",
        ] {
            assert!(en.contains(want), "{want} missing from\n{en}");
        }
        assert!(en.contains("Date") && en.contains("2026-12-02"));
        assert!(!en.contains("TOTALE"));
    }

    #[test]
    fn a_priced_basket_of_another_cart_is_refused() {
        let (cart, priced) = sale("Latte", None);
        let (mut other, _) = sale("Latte", None);
        other.lines.pop();
        let err = Receipt::build(&header(), number(), &other, &priced, None, URL.into(), Language::It);
        assert!(matches!(err, Err(ReceiptError::Mismatch { .. })));
        let mut swapped = cart.clone();
        swapped.lines.swap(0, 1);
        assert!(Receipt::build(&header(), number(), &swapped, &priced, None, URL.into(), Language::It).is_err());
    }

    #[test]
    fn header_validation_names_the_key() {
        assert_eq!(header().validate(), Ok(()));
        let mut h = header();
        h.store_name = " ".into();
        assert_eq!(h.validate().expect_err("empty").key, "receipt.store_name");
        let mut h = header();
        h.address_lines.push("x".repeat(49));
        assert_eq!(h.validate().expect_err("long").key, "receipt.address_lines[2]");
        let mut h = header();
        h.footer_lines = vec!["ok".into(), "a\nb".into()];
        assert_eq!(h.validate().expect_err("control").key, "receipt.footer_lines[1]");
        let toml_err = toml::from_str::<ReceiptHeader>("store_name = \"a\"\nvat_number = \"b\"\nlogo = 1\n");
        assert!(toml_err.expect_err("unknown key").to_string().contains("logo"));
    }
}
