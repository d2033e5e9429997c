//! Screens, pure: draws a [`Frame`] onto any embedded-graphics `DrawTarget` (panel framebuffer, test buffer,
//! headless simulator). Owns layout, fonts, colours and the Italian/English texts. Never touches hardware,
//! the catalog or the clock: everything it shows arrives in the [`Frame`].
//!
//! CONTRACT: [`Frame`], [`Screen`], [`ProductView`], [`render`] (RGB565, any size ≥ 128×128, portrait or
//! landscape), [`render_mono`] (128×64 monochrome for SSD1306).

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
