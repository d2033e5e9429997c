//! Screens, pure: draws a [`Frame`] onto any embedded-graphics `DrawTarget` (panel framebuffer, test buffer,
//! headless simulator). Owns layout, fonts, colours and the Italian/English texts. Never touches hardware,
//! the catalog or the clock: everything it shows arrives in the [`Frame`].
//!
//! CONTRACT: [`Frame`], [`Screen`], [`ProductView`], [`CheckoutView`], [`render`] (RGB565, any size ≥ 128×128, portrait or
//! landscape), [`render_mono`] (128×64 monochrome for SSD1306).

mod checkout;
mod draw;
pub mod fit;
mod mono;
mod screens;
pub mod text;

use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;

pub use crate::barcode::ErrorClass;
pub use crate::config::Language;

/// Everything on screen at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The main content.
    pub screen: Screen,
    /// Show the "offline" marker (no link to central).
    pub offline: bool,
}

/// The main content of the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    /// Attract screen: invites the shopper to scan.
    Idle,
    /// A product was found.
    Product(ProductView),
    /// A valid code that is not in the catalog (`code` as printed under the barcode).
    NotFound {
        /// The code, e.g. the EAN-13.
        code: String,
    },
    /// A code that could not be read as any known barcode.
    Invalid {
        /// Why, coarse (localised on screen).
        reason: ErrorClass,
    },
    /// The scanner is unplugged or not answering.
    ScannerDisconnected,
    /// The attract screen while payments are paused (the queue for central is full): price checks still work,
    /// and the screen says why the checkout is not taking sales.
    SalesPaused,
    /// Central locked the kiosk: nothing works until it is unlocked. `message` is central's text, if any.
    OutOfOrder {
        /// Text from central (at most 120 characters), shown under the headline.
        message: Option<String>,
    },
    /// The self-checkout: the basket and every state of a sale (paying, receipt, staff...).
    Checkout(CheckoutView),
}

/// What the product screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductView {
    /// Product name (wrapped, then ellipsised: never overflows).
    pub name: String,
    /// Brand.
    pub brand: String,
    /// The price the shopper pays (for a variable-measure label: the label's total).
    pub price_cents: i64,
    /// `price_cents` is per kg (loose item, no weight known).
    pub per_kg: bool,
    /// Weight from a variable-measure label.
    pub weight_g: Option<u32>,
    /// Price before the promotion, shown struck through, when a promotion lowers the unit price.
    pub regular_price_cents: Option<i64>,
    /// Promotion badge text, e.g. `-20%`, `3x2`, `Prendi 3 paghi 2`.
    pub promotion: Option<String>,
    /// Units in stock in this store.
    pub stock: Option<i64>,
    /// Minimum age to buy.
    pub min_age: Option<u8>,
}

/// What the self-checkout shows, free of language and of pixels: the station maps the basket's state into it,
/// the screens choose words and places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutView {
    /// Where the sale is.
    pub phase: CheckoutPhase,
    /// The basket lines in scan order (the last one is the newest, shown at the bottom and highlighted).
    pub lines: Vec<CheckoutLine>,
    /// What the shopper pays, after every discount.
    pub total_cents: i64,
    /// What promotions and member prices took off the basket (shown as "you saved" when > 0).
    pub savings_cents: i64,
    /// A loyalty card was scanned: member prices apply (a badge by the total).
    pub member: bool,
    /// The answer to the shopper's last action, shown as a coloured banner; `None` for nothing to say.
    pub notice: Option<Notice>,
}

/// One basket line as the shopper sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutLine {
    /// Product name (cut to one line on screen).
    pub name: String,
    /// How much of it.
    pub quantity: LineQuantity,
    /// What the line costs after its discounts.
    pub amount_cents: i64,
    /// Each discount on the line with its reason, shown under the line (e.g. "Prendi 3 paghi 2: 1 gratis").
    pub discounts: Vec<crate::pricing::Discount>,
    /// The product is age-restricted and no member of staff has approved the sale yet: the line is flagged.
    pub needs_age_check: bool,
}

/// How much of a product a line holds, as shown under its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineQuantity {
    /// Pieces (a single piece shows no quantity line).
    Pieces {
        /// How many.
        count: u32,
        /// The price of one piece before the line's discounts, for "3 x € 1,20".
        unit_price_cents: i64,
    },
    /// A weighed item.
    Weight {
        /// Grams.
        grams: u32,
        /// The price per kg the amount came from.
        price_per_kg_cents: i64,
    },
    /// A price-embedded label: the scale printed the price.
    LabelPrice,
}

/// Where the sale is: each phase has its own screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutPhase {
    /// The basket is open and takes scans.
    Scanning,
    /// The shopper asked to pay; an age-restricted line waits for a member of staff.
    AwaitingStaff {
        /// The highest minimum age to check.
        min_age: u8,
    },
    /// The terminal was asked for a payment; the shopper follows its instructions.
    Paying {
        /// The amount requested.
        amount_cents: i64,
    },
    /// The terminal's answer got lost and it is being asked again: the shopper must wait and not pay again.
    Reconciling,
    /// Paid.
    Receipt {
        /// The receipt's number as printed on it.
        receipt_number: String,
        /// Where the e-receipt can be read; `Some` shows it as a QR code.
        e_receipt_url: Option<String>,
        /// What became of the paper receipt.
        printer: PrinterNote,
    },
    /// The shopper pressed Help: a member of staff is on the way.
    HelpComing,
    /// A member of staff is typing their PIN.
    StaffPin {
        /// Digits typed so far (shown masked, never the digits).
        digits_entered: u8,
        /// The last PIN was wrong.
        wrong: bool,
    },
    /// The staff menu, after a good PIN.
    StaffMenu {
        /// The member of staff's display name.
        staff_name: String,
        /// The choice the Help button has moved to (the Pay button confirms it), if any.
        highlighted: Option<StaffChoice>,
        /// The basket line (0-based index into `lines`) chosen for removal, if any.
        selected_line: Option<usize>,
    },
    /// The basket was cancelled: nothing was charged.
    Cancelled,
}

/// What became of the paper receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrinterNote {
    /// Printed: take it.
    Printed,
    /// The printer ran out of paper: take the e-receipt.
    PaperOut,
    /// The printer is not answering: take the e-receipt.
    Offline,
    /// This station gives e-receipts only.
    EReceiptOnly,
}

/// The staff menu's choices, in the order of their keypad digits (1 to 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffChoice {
    /// 1: approve the age-restricted lines.
    ApproveAge,
    /// 2: remove the selected line.
    RemoveLine,
    /// 3: cancel the whole basket.
    CancelBasket,
    /// 4: print the last receipt again.
    ReprintReceipt,
}

impl StaffChoice {
    /// Every choice, in keypad order.
    pub const ALL: [StaffChoice; 4] = [
        StaffChoice::ApproveAge,
        StaffChoice::RemoveLine,
        StaffChoice::CancelBasket,
        StaffChoice::ReprintReceipt,
    ];
}

/// The answer to the shopper's last action. None of them touches the basket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A valid code that is not in the catalog.
    UnknownCode {
        /// The code as printed under the barcode.
        code: String,
    },
    /// A code that could not be read.
    InvalidCode {
        /// Why, coarse.
        reason: ErrorClass,
    },
    /// The product was found but cannot be added (e.g. sold by kg without a weight).
    CannotAdd {
        /// The product's name.
        name: String,
    },
    /// The terminal declined the payment; the basket is unchanged.
    PaymentDeclined,
    /// The payment was cancelled at the terminal; the basket is unchanged.
    PaymentCancelled,
    /// A payment is in progress: the action waits for its outcome.
    PaymentInProgress,
    /// A member of staff must check the shopper's age before payment.
    AgeCheckNeeded {
        /// The highest minimum age to check.
        min_age: u8,
    },
    /// Member prices now apply.
    MemberPricesApplied {
        /// What they save on the basket so far.
        savings_cents: i64,
    },
    /// Staff is on the way: wait.
    WaitForStaff,
    /// Pay was pressed with nothing in the basket.
    EmptyBasket,
    /// A loyalty card was already scanned for this basket.
    AlreadyMember,
    /// Staff asked to approve an age, but no line needs it.
    NothingToApprove,
    /// Staff asked for a line that does not exist.
    NoSuchLine {
        /// The line's 0-based index (shown 1-based).
        line: usize,
    },
    /// A cancel waits until the terminal confirms the payment did not happen.
    CancelAfterReconcile,
    /// The queue for central is full: no new basket until it drains (price checks still work).
    SalesPaused,
    /// A staff badge that is not in this station's staff list.
    UnknownBadge,
    /// Staff asked for a reprint, but no sale was made here since the last start of the list.
    NothingToReprint,
}

/// Draws `frame` in `lang` onto an RGB565 target, filling it whole.
pub fn render<D: DrawTarget<Color = Rgb565>>(frame: &Frame, lang: Language, target: &mut D) -> Result<(), D::Error> {
    screens::render(frame, lang, target)
}

/// Draws `frame` in `lang` onto a 128×64 monochrome target (SSD1306).
pub fn render_mono<D: DrawTarget<Color = BinaryColor>>(
    frame: &Frame,
    lang: Language,
    target: &mut D,
) -> Result<(), D::Error> {
    mono::render(frame, lang, target)
}
