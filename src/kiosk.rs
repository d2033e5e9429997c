//! The product-information kiosk, pure: decides what the screen shows and what the shopper hears after each
//! scanner event. Owns the mapping scan → catalog query → [`Frame`] + [`Signal`], and the idle timeout rule.
//! Never does I/O itself: the catalog arrives as a [`CatalogStore`] (sled in production, in-memory in tests),
//! and the daemon owns timers, the panel and the feedback outputs.

use crate::barcode::{self, Kind, Rules, Scan};
use crate::catalog::{CatalogStore, Product, StoreError, Unit};
use crate::feedback::Signal;
use crate::money::price_for_weight;
use crate::scanner::ScanEvent;
use crate::ui::{Frame, ProductView, Screen};

/// What the daemon must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// Frame to show, when it changed.
    pub frame: Option<Frame>,
    /// Sound/light to play.
    pub signal: Option<Signal>,
    /// Whether the idle timer should (re)start: true while a result screen is up.
    pub arm_idle_timer: bool,
}

/// Kiosk state: the frame on screen and what it depends on.
pub struct Kiosk {
    rules: Rules,
    frame: Frame,
    scanner_connected: bool,
    /// The code behind the product or not-found screen, so a catalog change can redraw it (a price changed by
    /// central reaches the screen without a new scan). Never a store code: those show no screen.
    shown_code: Option<Vec<u8>>,
    /// Central locked the kiosk (with its message, if any).
    locked: Option<Option<String>>,
    /// The queue for central is full: no payments, and the attract screen says why.
    sales_paused: bool,
}

impl Reaction {
    /// Nothing to show or play.
    fn none() -> Reaction {
        Reaction {
            frame: None,
            signal: None,
            arm_idle_timer: false,
        }
    }
}

impl Kiosk {
    /// A kiosk showing the attract screen. The scanner counts as connected until told otherwise, so a start
    /// with a working scanner does not flash the "disconnected" screen.
    pub fn new(rules: Rules, offline: bool) -> Kiosk {
        Kiosk {
            rules,
            frame: Frame {
                screen: Screen::Idle,
                offline,
            },
            scanner_connected: true,
            shown_code: None,
            locked: None,
            sales_paused: false,
        }
    }

    /// The screen the kiosk rests on: locked beats scanner trouble beats paused payments beats the attract
    /// screen.
    fn rest_screen(&self) -> Screen {
        match (&self.locked, self.scanner_connected, self.sales_paused) {
            (Some(message), _, _) => Screen::OutOfOrder {
                message: message.clone(),
            },
            (None, false, _) => Screen::ScannerDisconnected,
            (None, true, true) => Screen::SalesPaused,
            (None, true, false) => Screen::Idle,
        }
    }

    fn at_rest(&self) -> bool {
        matches!(
            self.frame.screen,
            Screen::Idle | Screen::SalesPaused | Screen::ScannerDisconnected | Screen::OutOfOrder { .. }
        )
    }

    /// Central locked (`Some(message)`) or unlocked (`None`) the kiosk.
    pub fn set_locked(&mut self, lock: Option<Option<String>>) -> Reaction {
        if self.locked == lock {
            return Reaction::none();
        }
        self.locked = lock;
        self.shown_code = None;
        self.show(self.rest_screen(), None, false)
    }

    /// Payments paused (the queue for central is full) or resumed.
    pub fn set_sales_paused(&mut self, paused: bool) -> Reaction {
        if self.sales_paused == paused {
            return Reaction::none();
        }
        self.sales_paused = paused;
        if self.at_rest() {
            self.show(self.rest_screen(), None, false)
        } else {
            Reaction::none()
        }
    }

    /// The catalog changed (central's update or a local import): a product or not-found screen is redrawn from
    /// the new catalog, silently, so the shopper sees the new price.
    pub fn on_catalog_changed(&mut self, catalog: &dyn CatalogStore) -> Reaction {
        let Some(code) = self.shown_code.clone() else {
            return Reaction::none();
        };
        match self.screen_for_code(&code, catalog) {
            (Some(screen), _) => self.show(screen, None, false),
            (None, _) => Reaction::none(),
        }
    }

    /// Whether central locked the device (out of order).
    pub fn locked(&self) -> bool {
        self.locked.is_some()
    }

    /// The frame on screen now.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// Reacts to one scanner event.
    pub fn on_scanner(&mut self, ev: &ScanEvent, catalog: &dyn CatalogStore) -> Reaction {
        if self.locked.is_some() {
            // Out of order: the screen stays; a scan gets the "not available" sound so nobody waits for a price.
            return match ev {
                ScanEvent::Connected | ScanEvent::Disconnected { .. } => {
                    self.scanner_connected = matches!(ev, ScanEvent::Connected);
                    Reaction::none()
                }
                ScanEvent::Code(_) => Reaction {
                    frame: None,
                    signal: Some(Signal::NotFound),
                    arm_idle_timer: false,
                },
            };
        }
        match ev {
            ScanEvent::Connected => {
                self.scanner_connected = true;
                if self.frame.screen == Screen::ScannerDisconnected {
                    return self.show(self.rest_screen(), None, false);
                }
                Reaction {
                    frame: None,
                    signal: None,
                    arm_idle_timer: false,
                }
            }
            ScanEvent::Disconnected { .. } => {
                self.scanner_connected = false;
                self.show(Screen::ScannerDisconnected, None, false)
            }
            ScanEvent::Code(bytes) => {
                // A code can only arrive from a working scanner.
                self.scanner_connected = true;
                let (screen, signal) = self.screen_for_code(bytes, catalog);
                match screen {
                    Some(s) => {
                        self.shown_code =
                            matches!(s, Screen::Product(_) | Screen::NotFound { .. }).then(|| bytes.clone());
                        self.show(s, Some(signal), true)
                    }
                    None => Reaction {
                        frame: None,
                        signal: Some(signal),
                        arm_idle_timer: false,
                    },
                }
            }
        }
    }

    /// The idle timer fired: back to the attract screen (unless the scanner is away).
    pub fn on_idle_timeout(&mut self) -> Reaction {
        self.shown_code = None;
        self.show(self.rest_screen(), None, false)
    }

    /// The link to central went up or down.
    pub fn set_offline(&mut self, offline: bool) -> Reaction {
        if self.frame.offline == offline {
            return Reaction {
                frame: None,
                signal: None,
                arm_idle_timer: false,
            };
        }
        self.frame.offline = offline;
        Reaction {
            frame: Some(self.frame.clone()),
            signal: None,
            arm_idle_timer: false,
        }
    }

    fn show(&mut self, screen: Screen, signal: Option<Signal>, arm_idle_timer: bool) -> Reaction {
        let changed = self.frame.screen != screen;
        self.frame.screen = screen;
        Reaction {
            frame: changed.then(|| self.frame.clone()),
            signal,
            arm_idle_timer,
        }
    }

    /// Screen and sound for one code. `None` screen = keep what is shown.
    fn screen_for_code(&self, bytes: &[u8], catalog: &dyn CatalogStore) -> (Option<Screen>, Signal) {
        let scan = match barcode::decode(bytes, &self.rules) {
            Ok(scan) => scan,
            Err(e) => {
                tracing::info!(reason = %e, "invalid barcode");
                return (Some(Screen::Invalid { reason: e.class() }), Signal::Invalid);
            }
        };
        match lookup(&scan, catalog) {
            Ok(Some(product)) => {
                tracing::info!(sku = %product.sku, "product shown");
                (Some(Screen::Product(product_view(&product, &scan))), Signal::GoodRead)
            }
            Ok(None) => match scan.kind {
                Kind::Loyalty | Kind::Staff | Kind::Order => {
                    // Store-issued codes are for the checkout flows; on the price checker they are
                    // acknowledged and the screen stays as it is. The id is personal data: never logged.
                    tracing::info!(kind = ?scan.kind, "store code read");
                    (None, Signal::GoodRead)
                }
                _ => {
                    let code = shown_code(&scan);
                    tracing::info!(code = %code, kind = ?scan.kind, len = bytes.len(), "product not found");
                    (Some(Screen::NotFound { code }), Signal::NotFound)
                }
            },
            Err(e) => {
                // The catalog could not be read: for the shopper the product is not available; the log says why.
                tracing::error!(error = %e, "catalog lookup failed");
                (
                    Some(Screen::NotFound {
                        code: shown_code(&scan),
                    }),
                    Signal::NotFound,
                )
            }
        }
    }
}

/// Finds the product a scan refers to (by GTIN, or by item code for a weighed label); store codes are not products.
pub fn lookup(scan: &Scan, catalog: &dyn CatalogStore) -> Result<Option<Product>, StoreError> {
    match scan.kind {
        Kind::VariableMeasure => match &scan.item {
            Some(item) => catalog.by_item_code(item),
            None => Ok(None),
        },
        Kind::Loyalty | Kind::Staff | Kind::Order => Ok(None),
        Kind::Product | Kind::Gs1 | Kind::DigitalLink => match &scan.gtin {
            Some(g) => catalog.by_gtin(g),
            None => Ok(None),
        },
    }
}

/// The code as a shopper can compare it with the label: the GTIN in its printed form, or the scale item code.
/// A code with neither (a GS1 string without AI 01, an SSCC link) may carry anything, personal data included:
/// it is neither shown nor logged.
pub(crate) fn shown_code(scan: &Scan) -> String {
    match (&scan.gtin, &scan.item) {
        (Some(g), _) => g.display_form().to_string(),
        (None, Some(item)) => item.clone(),
        (None, None) => String::new(),
    }
}

/// What the product screen shows for `p` as scanned.
pub fn product_view(p: &Product, scan: &Scan) -> ProductView {
    let promo_price = p.promo_unit_price();
    let unit_price = promo_price.unwrap_or(p.price_cents);
    // A label price (variable-measure or GS1 AI 392n) is what the scale printed: it is what the shopper pays.
    let (price_cents, per_kg, weight_g) = match (scan.price_cents, scan.weight_g, p.unit) {
        (Some(price), w, _) => (price, false, w),
        (None, Some(w), Unit::Kg) => (price_for_weight(unit_price, w), false, Some(w)),
        (None, w, Unit::Kg) => (unit_price, true, w),
        (None, w, Unit::Piece) => (unit_price, false, w),
    };
    let labelled = scan.price_cents.is_some() || (scan.weight_g.is_some() && p.unit == Unit::Kg);
    ProductView {
        name: p.name.clone(),
        brand: p.brand.clone(),
        price_cents,
        per_kg,
        weight_g,
        regular_price_cents: if promo_price.is_some() && !labelled {
            Some(p.price_cents)
        } else {
            None
        },
        promotion: p.promotion.as_ref().map(|pr| pr.label.clone()),
        stock: Some(p.stock),
        min_age: p.min_age,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::barcode::Gtin;
    use crate::catalog::{Promotion, PromotionKind};
    use crate::config::BarcodeConfig;

    /// In-memory catalog with real lookups, for the kiosk's decisions.
    #[derive(Default)]
    struct MemCatalog {
        by_gtin: HashMap<Gtin, Product>,
        by_item: HashMap<String, Product>,
    }

    impl CatalogStore for MemCatalog {
        fn by_gtin(&self, g: &Gtin) -> Result<Option<Product>, StoreError> {
            Ok(self.by_gtin.get(g).cloned())
        }
        fn by_item_code(&self, c: &str) -> Result<Option<Product>, StoreError> {
            Ok(self.by_item.get(c).cloned())
        }
        fn search(&self, _q: &str, _l: usize) -> Result<Vec<Product>, StoreError> {
            Ok(vec![])
        }
        fn version(&self) -> Result<u64, StoreError> {
            Ok(1)
        }
        fn len(&self) -> Result<u64, StoreError> {
            Ok(self.by_gtin.len() as u64)
        }
    }

    fn product(sku: &str, gtin: &str, price: i64) -> Product {
        Product {
            sku: sku.into(),
            gtins: vec![Gtin::parse(gtin).expect("test GTIN is valid")],
            item_code: None,
            name: "Spaghetti n.5".into(),
            brand: "Barilla".into(),
            description: String::new(),
            price_cents: price,
            member_price_cents: None,
            vat_rate_bp: 400,
            promotion: None,
            stock: 12,
            min_age: None,
            unit: Unit::Piece,
            url: None,
        }
    }

    fn kiosk() -> Kiosk {
        Kiosk::new(
            Rules::from_config(&BarcodeConfig::default()).expect("default rules compile"),
            true,
        )
    }

    fn catalog_with(p: Product) -> MemCatalog {
        let mut c = MemCatalog::default();
        for g in &p.gtins {
            c.by_gtin.insert(*g, p.clone());
        }
        if let Some(i) = &p.item_code {
            c.by_item.insert(i.clone(), p.clone());
        }
        c
    }

    #[test]
    fn scanning_a_known_product_shows_it_with_its_price_and_beeps_once() {
        let cat = catalog_with(product("P1", "8001234567897", 129));
        let mut k = kiosk();
        let r = k.on_scanner(&ScanEvent::Code(b"8001234567897".to_vec()), &cat);
        let Some(Frame {
            screen: Screen::Product(v),
            offline: true,
        }) = r.frame
        else {
            panic!("expected product screen, got {:?}", r.frame)
        };
        assert_eq!(
            (v.name.as_str(), v.price_cents, v.stock),
            ("Spaghetti n.5", 129, Some(12))
        );
        assert_eq!(r.signal, Some(Signal::GoodRead));
        assert!(r.arm_idle_timer);
    }

    fn price_on_screen(k: &Kiosk) -> Option<i64> {
        match &k.frame().screen {
            Screen::Product(v) => Some(v.price_cents),
            _ => None,
        }
    }

    #[test]
    fn a_price_change_redraws_the_product_on_screen_silently() {
        let mut k = kiosk();
        k.on_scanner(
            &ScanEvent::Code(b"8001234567897".to_vec()),
            &catalog_with(product("P1", "8001234567897", 129)),
        );
        let r = k.on_catalog_changed(&catalog_with(product("P1", "8001234567897", 99)));
        assert_eq!(price_on_screen(&k), Some(99));
        assert!(r.frame.is_some() && r.signal.is_none(), "redrawn without a beep: {r:?}");
        // Deleted from the catalog: the shopper sees it is no longer sold here.
        k.on_catalog_changed(&MemCatalog::default());
        assert!(matches!(k.frame().screen, Screen::NotFound { .. }));
        // Back at rest, a catalog change draws nothing.
        k.on_idle_timeout();
        assert_eq!(
            k.on_catalog_changed(&catalog_with(product("P1", "8001234567897", 5)))
                .frame,
            None
        );
    }

    #[test]
    fn a_locked_kiosk_shows_out_of_order_until_unlocked_and_ignores_scans() {
        let cat = catalog_with(product("P1", "8001234567897", 129));
        let mut k = kiosk();
        k.on_scanner(&ScanEvent::Code(b"8001234567897".to_vec()), &cat);
        let r = k.set_locked(Some(Some("Manutenzione".into())));
        assert_eq!(
            r.frame.map(|f| f.screen),
            Some(Screen::OutOfOrder {
                message: Some("Manutenzione".into())
            })
        );
        let scan = k.on_scanner(&ScanEvent::Code(b"8001234567897".to_vec()), &cat);
        assert_eq!(
            (scan.frame, scan.signal),
            (None, Some(Signal::NotFound)),
            "no price while out of order"
        );
        assert_eq!(k.on_idle_timeout().frame, None, "the idle timer does not unlock");
        k.on_scanner(
            &ScanEvent::Disconnected {
                reason: "unplugged".into(),
            },
            &cat,
        );
        assert_eq!(
            k.set_locked(None).frame.map(|f| f.screen),
            Some(Screen::ScannerDisconnected),
            "unlocked, it says what is wrong now"
        );
    }

    #[test]
    fn paused_payments_show_on_the_attract_screen_but_price_checks_work() {
        let cat = catalog_with(product("P1", "8001234567897", 129));
        let mut k = kiosk();
        assert_eq!(
            k.set_sales_paused(true).frame.map(|f| f.screen),
            Some(Screen::SalesPaused)
        );
        k.on_scanner(&ScanEvent::Code(b"8001234567897".to_vec()), &cat);
        assert_eq!(price_on_screen(&k), Some(129));
        assert_eq!(k.on_idle_timeout().frame.map(|f| f.screen), Some(Screen::SalesPaused));
        assert_eq!(k.set_sales_paused(false).frame.map(|f| f.screen), Some(Screen::Idle));
    }

    #[test]
    fn a_scanner_that_adds_a_leading_zero_finds_the_same_product() {
        let cat = catalog_with(product("P1", "8001234567897", 129));
        let mut k = kiosk();
        let r = k.on_scanner(&ScanEvent::Code(b"08001234567897".to_vec()), &cat);
        assert!(matches!(r.frame.map(|f| f.screen), Some(Screen::Product(_))));
    }

    #[test]
    fn unknown_product_shows_not_found_with_the_printed_code() {
        let cat = MemCatalog::default();
        let mut k = kiosk();
        let r = k.on_scanner(&ScanEvent::Code(b"8001234567897".to_vec()), &cat);
        assert_eq!(
            r.frame.map(|f| f.screen),
            Some(Screen::NotFound {
                code: "8001234567897".into()
            })
        );
        assert_eq!(r.signal, Some(Signal::NotFound));
    }

    #[test]
    fn a_code_without_gtin_is_not_echoed_on_screen() {
        // A GS1 string with only a lot/serial may carry a card number: the screen must not repeat it.
        let mut k = kiosk();
        let r = k.on_scanner(&ScanEvent::Code(b"]C110CARD12345678".to_vec()), &MemCatalog::default());
        assert_eq!(
            r.frame.map(|f| f.screen),
            Some(Screen::NotFound { code: String::new() })
        );
    }

    #[test]
    fn bad_check_digit_shows_invalid_and_says_why() {
        let mut k = kiosk();
        let r = k.on_scanner(&ScanEvent::Code(b"8001234567890".to_vec()), &MemCatalog::default());
        assert_eq!(
            r.frame.map(|f| f.screen),
            Some(Screen::Invalid {
                reason: crate::barcode::ErrorClass::CheckDigit
            })
        );
        assert_eq!(r.signal, Some(Signal::Invalid));
    }

    #[test]
    fn percent_promotion_shows_promo_price_and_struck_regular_price() {
        let mut p = product("P1", "8001234567897", 199);
        p.promotion = Some(Promotion {
            id: "PR1".into(),
            label: "-20%".into(),
            valid_from: None,
            valid_to: None,
            members_only: false,
            kind: PromotionKind::PercentOff { percent: 20 },
        });
        let scan = barcode::decode(b"8001234567897", &kiosk().rules).expect("valid");
        let v = product_view(&p, &scan);
        // 199 × 20 % = 39.8 → 40 off (half-up) → 159.
        assert_eq!(
            (v.price_cents, v.regular_price_cents, v.promotion.as_deref()),
            (159, Some(199), Some("-20%"))
        );
    }

    #[test]
    fn weighed_label_shows_the_label_price_not_the_price_per_kg() {
        let mut p = product("DELI-1", "8001234567897", 1990);
        p.unit = Unit::Kg;
        p.item_code = Some("012345".into());
        let cat = catalog_with(p);
        let mut k = kiosk();
        // Italian layout: 2 + item 012345 + price 00199 cents + check digit.
        let r = k.on_scanner(&ScanEvent::Code(b"2012345001992".to_vec()), &cat);
        let Some(Screen::Product(v)) = r.frame.map(|f| f.screen) else {
            panic!("expected the deli product")
        };
        assert_eq!((v.price_cents, v.per_kg), (199, false));
    }

    #[test]
    fn loose_product_without_label_shows_price_per_kg() {
        let mut p = product("P2", "8001234567897", 1290);
        p.unit = Unit::Kg;
        let scan = barcode::decode(b"8001234567897", &kiosk().rules).expect("valid");
        let v = product_view(&p, &scan);
        assert!(v.per_kg);
        assert_eq!(v.price_cents, 1290);
    }

    #[test]
    fn unplug_shows_disconnected_and_replug_returns_to_idle() {
        let cat = MemCatalog::default();
        let mut k = kiosk();
        let r = k.on_scanner(&ScanEvent::Disconnected { reason: "EIO".into() }, &cat);
        assert_eq!(r.frame.map(|f| f.screen), Some(Screen::ScannerDisconnected));
        // The idle timer must not hide the fact that the scanner is away.
        assert_eq!(k.on_idle_timeout().frame, None);
        let r = k.on_scanner(&ScanEvent::Connected, &cat);
        assert_eq!(r.frame.map(|f| f.screen), Some(Screen::Idle));
    }

    #[test]
    fn result_screen_returns_to_idle_after_the_timeout() {
        let cat = catalog_with(product("P1", "8001234567897", 129));
        let mut k = kiosk();
        k.on_scanner(&ScanEvent::Code(b"8001234567897".to_vec()), &cat);
        assert_eq!(k.on_idle_timeout().frame.map(|f| f.screen), Some(Screen::Idle));
    }

    #[test]
    fn going_online_redraws_without_the_offline_marker() {
        let mut k = kiosk();
        let r = k.set_offline(false);
        assert_eq!(
            r.frame,
            Some(Frame {
                screen: Screen::Idle,
                offline: false
            })
        );
        assert_eq!(k.set_offline(false).frame, None);
    }
}
