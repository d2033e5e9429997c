//! `omnigate bench checkout-scan`: the self-checkout's per-scan cost with a 50-line basket under active
//! promotions of every kind. Owns the checkout bench's synthetic catalog (promotions, member prices, weighed
//! items, written as the daemon's catalog snapshot), the station rig that replays a scan exactly as the daemon
//! does (bytes → decode + lookup → [`Station::handle`] → [`view`] → [`crate::ui::render`]), and the
//! persistence figures (the step committed to a real outbox, one station and eight sharing one outbox).
//! Timing lives here, never in tests.

use std::path::Path;
use std::time::Instant;

use crate::barcode::{check_digit, Rules};
use crate::bench::{setup, synthetic_gtin, BenchError};
use crate::catalog::{CalendarDate, Product, Promotion, PromotionKind, Unit};
use crate::checkout::basket::Env;
use crate::checkout::station::{Scanned, Station, StationInput, Step};
use crate::checkout::view::view;
use crate::config::{BarcodeConfig, Language, VariableMeasureTemplate};
use crate::display::Framebuffer;
use crate::snapshot::CatalogSnapshot;
use crate::storage::outbox_store::OutboxStore;
use crate::ui::{Frame, Screen};

/// Lines in the basket every measured scan starts from (about).
pub const BASKET_LINES: usize = 50;

/// Weighed lines among the [`BASKET_LINES`]; the rest are pieces.
const WEIGHED_LINES: usize = 5;

/// Above this many lines the basket goes back to its 50-line state, outside the timed region.
const RESET_ABOVE: usize = 60;

/// Every this many scans, one is a weighed label (a new line); the others repeat a piece line.
const WEIGHED_EVERY: usize = 10;

/// Weighed products in the catalog (item codes `00000`..).
const WEIGHED_PRODUCTS: u64 = 20;

/// The business date of the bench's baskets: inside every promotion's window.
fn business_date() -> Result<CalendarDate, BenchError> {
    CalendarDate::new(2026, 6, 15).map_err(setup("business date"))
}

/// The state key the till uses.
const STATE_KEY: &str = crate::till::STATE_KEY;

/// What `omnigate bench checkout-scan` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutFigures {
    /// Scans measured in the per-scan row.
    pub scans: usize,
    /// Per scan, bytes → frame rendered: p50, p99, max in µs.
    pub scan_us: (f64, f64, f64),
    /// Where a scan's time goes, p50 in µs of each phase: decode + lookup, the station's step (which prices
    /// the basket), the view (which prices it again for the discount reasons), drawing the frame.
    pub phase_p50_us: [f64; 4],
    /// Of the view, pricing the whole basket again ([`crate::checkout::basket::Basket::priced`], timed on its
    /// own after each scan): p50 in µs. What caching the step's pricing would save.
    pub repricing_p50_us: f64,
    /// The station's persisted state at [`BASKET_LINES`] lines, serialised as the till writes it.
    pub state_bytes: usize,
    /// Scans committed by one station.
    pub persisted_scans: usize,
    /// Per scan, serialising the state + the durable outbox commit: p50, p99 in µs.
    pub commit_us: (f64, f64),
    /// Of which serialising the state (JSON, as the till writes it): p50 in µs.
    pub serialise_p50_us: f64,
    /// Outbox commits (log fdatasyncs or checkpoints) per scan, one station.
    pub commits_per_scan: f64,
    /// Stations sharing one outbox in the shared row.
    pub stations: usize,
    /// Scans per second, every station together, each scan processed and committed.
    pub shared_scans_per_s: f64,
    /// Outbox commits per scan with the stations sharing the outbox (group commit).
    pub shared_commits_per_scan: f64,
}

/// The synthetic checkout catalog: `n` piece products with GTINs (most with a promotion: percent off, amount
/// off, fixed price, "3 for 2", second at 50 %, a mix-and-match group per hundred products, member prices
/// and members-only promotions), then [`WEIGHED_PRODUCTS`] products sold by kg with scale item codes.
pub fn catalog_products(n: u64) -> Vec<Product> {
    let window = |kind: PromotionKind, i: u64, members_only: bool| Promotion {
        id: format!("P{i}"),
        label: "promo".into(),
        valid_from: CalendarDate::new(2026, 1, 1).ok(),
        valid_to: CalendarDate::new(2026, 12, 31).ok(),
        members_only,
        kind,
    };
    let mut out: Vec<Product> = (0..n)
        .map(|i| {
            let price_cents = 80 + ((i * 37) % 1900) as i64;
            let (promotion, member_price_cents) = match i % 10 {
                0 => (Some(window(PromotionKind::PercentOff { percent: 20 }, i, false)), None),
                1 => (Some(window(PromotionKind::MultiBuy { buy: 3, pay: 2 }, i, false)), None),
                2 => (
                    Some(window(PromotionKind::SecondAtPercentOff { percent: 50 }, i, false)),
                    None,
                ),
                3 => (
                    Some(window(
                        PromotionKind::MixAndMatch {
                            group: format!("mm-{}", i / 100),
                            buy: 3,
                            pay: 2,
                        },
                        i,
                        false,
                    )),
                    None,
                ),
                4 => (None, Some(price_cents * 9 / 10)),
                5 => (
                    Some(window(PromotionKind::PercentOff { percent: 10 }, i, true)),
                    Some(price_cents * 95 / 100),
                ),
                6 => (Some(window(PromotionKind::AmountOff { cents: 15 }, i, false)), None),
                7 => (
                    Some(window(
                        PromotionKind::FixedPrice {
                            cents: price_cents * 3 / 4,
                        },
                        i,
                        false,
                    )),
                    None,
                ),
                // Some products have no offer at all, as on a real shelf.
                _ => (None, None),
            };
            Product {
                sku: format!("SKU{i:07}"),
                gtins: vec![synthetic_gtin(i)],
                item_code: None,
                name: format!("Prodotto di prova {i}"),
                brand: "Marca".into(),
                description: "Prodotto di prova per le misure di prestazione.".into(),
                price_cents,
                member_price_cents,
                vat_rate_bp: if i % 3 == 0 { 400 } else { 2200 },
                promotion,
                stock: 10,
                min_age: None,
                unit: Unit::Piece,
                url: None,
            }
        })
        .collect();
    out.extend((0..WEIGHED_PRODUCTS).map(|w| Product {
        sku: format!("KG{w:05}"),
        gtins: Vec::new(),
        item_code: Some(format!("{w:05}")),
        name: format!("Frutta sfusa {w}"),
        brand: "Banco".into(),
        description: String::new(),
        price_cents: 199 + (w as i64 * 50),
        member_price_cents: None,
        vat_rate_bp: 400,
        promotion: (w % 2 == 0).then(|| window(PromotionKind::PercentOff { percent: 30 }, n + w, false)),
        stock: 0,
        min_age: None,
        unit: Unit::Kg,
        url: None,
    }));
    out
}

/// The bench's barcode rules: weight labels `22IIIIIWWWWWC` (5-digit item code, grams), then the default
/// price labels.
pub fn bench_rules() -> Result<Rules, BenchError> {
    let cfg = BarcodeConfig {
        variable_measure: vec![
            VariableMeasureTemplate {
                template: "22IIIIIWWWWWC".into(),
            },
            VariableMeasureTemplate {
                template: "2IIIIIIPPPPPC".into(),
            },
        ],
        store_codes: Vec::new(),
    };
    Rules::from_config(&cfg).map_err(setup("barcode rules"))
}

/// The bytes a scale label for weighed item `item` at `grams` scans as (with its CR, as a serial scanner ends
/// a code).
pub fn weight_label(item: u64, grams: u32) -> Vec<u8> {
    let body = format!("22{:05}{:05}", item % WEIGHED_PRODUCTS, grams % 100_000);
    format!("{body}{}\r", check_digit(body.as_bytes())).into_bytes()
}

/// The bytes the scanner sends for piece product `i`.
pub fn product_code(i: u64) -> Vec<u8> {
    format!("{}\r", synthetic_gtin(i).display_form()).into_bytes()
}

/// What the till does with scanned bytes (decode, catalog lookup), shared so the bench measures the daemon's code.
pub use crate::till::resolve;

/// One station with its 50-line basket, replaying scans the way the daemon handles them.
pub struct Rig<'c> {
    catalog: &'c CatalogSnapshot,
    rules: Rules,
    env: Env,
    /// The station as it is now.
    pub station: Station,
    /// The 50-line state the station goes back to.
    baseline: Station,
    /// Codes of the piece lines, scanned round-robin.
    repeat_codes: Vec<Vec<u8>>,
    /// The framebuffer the checkout screen is drawn into.
    pub fb: Framebuffer,
    /// Scans replayed so far.
    pub scanned: usize,
    /// The last scan's phases (see [`CheckoutFigures::phase_p50_us`]), in µs.
    pub last_phases_us: [f64; 4],
}

/// The e-receipt address (unused while scanning; the view asks for it only on the receipt screen).
fn e_receipt_url(n: &str) -> String {
    format!("https://shop.example/r/{n}")
}

impl<'c> Rig<'c> {
    /// A station of `device_id` whose basket holds [`BASKET_LINES`] lines (piece products of every promotion
    /// kind, a mix-and-match group, [`WEIGHED_LINES`] weighed lines) with a loyalty card scanned, so member
    /// prices and members-only promotions apply too.
    pub fn new(catalog: &'c CatalogSnapshot, device_id: &str) -> Result<Rig<'c>, BenchError> {
        let rules = bench_rules()?;
        let env = Env::new(business_date()?);
        let mut station = Station::fresh("BENCH", device_id, Vec::new());
        let step = station.handle(
            StationInput::Scan(Scanned::Loyalty {
                id: "LOYALTY-BENCH".into(),
            }),
            &env,
        );
        if !step.persist {
            return Err(BenchError::Setup {
                what: "checkout basket",
                reason: "the loyalty card did not open the basket".into(),
            });
        }
        let pieces = (BASKET_LINES - WEIGHED_LINES) as u64;
        let repeat_codes: Vec<Vec<u8>> = (0..pieces).map(product_code).collect();
        let setup_codes = repeat_codes
            .iter()
            .cloned()
            .chain((0..WEIGHED_LINES as u64).map(|w| weight_label(w, 350 + w as u32 * 111)));
        for code in setup_codes {
            let scanned = resolve(&code, &rules, catalog);
            station.handle(StationInput::Scan(scanned), &env);
        }
        if station.basket().lines().len() != BASKET_LINES {
            return Err(BenchError::Setup {
                what: "checkout basket",
                reason: format!(
                    "{} lines after the set-up scans, not {BASKET_LINES}",
                    station.basket().lines().len()
                ),
            });
        }
        Ok(Rig {
            catalog,
            rules,
            env,
            baseline: station.clone(),
            station,
            repeat_codes,
            fb: Framebuffer::new(240, 320),
            scanned: 0,
            last_phases_us: [0.0; 4],
        })
    }

    /// The bytes of the next scan: a repeat of a piece line (one more piece), or every
    /// [`WEIGHED_EVERY`]th a weighed label (a new line).
    pub fn next_code(&self) -> Vec<u8> {
        let k = self.scanned;
        if k % WEIGHED_EVERY == WEIGHED_EVERY - 1 {
            weight_label(k as u64, 200 + (k % 1500) as u32)
        } else {
            self.repeat_codes[k % self.repeat_codes.len()].clone()
        }
    }

    /// Puts the basket back to its 50-line state once it has grown past [`RESET_ABOVE`] lines (call outside
    /// the timed region).
    pub fn keep_size(&mut self) {
        if self.station.basket().lines().len() > RESET_ABOVE {
            self.station = self.baseline.clone();
        }
    }

    /// One scan, as the daemon does it: decode + catalog lookup, the station's step, the checkout view, the
    /// frame drawn into the 240×320 framebuffer. Fails when the scan did not change the basket (the bench
    /// would be measuring something else).
    pub fn scan(&mut self, bytes: &[u8]) -> Result<Step, BenchError> {
        let t0 = Instant::now();
        let scanned = resolve(bytes, &self.rules, self.catalog);
        let t1 = Instant::now();
        let step = self.station.handle(StationInput::Scan(scanned), &self.env);
        let t2 = Instant::now();
        let shown = view(&self.station, &e_receipt_url).ok_or_else(|| BenchError::Setup {
            what: "checkout scan",
            reason: "no checkout screen".into(),
        })?;
        let frame = Frame {
            screen: Screen::Checkout(shown),
            offline: false,
        };
        let t3 = Instant::now();
        let Ok(()) = crate::ui::render(&frame, Language::It, &mut self.fb);
        let t4 = Instant::now();
        let us = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e6;
        self.last_phases_us = [us(t0, t1), us(t1, t2), us(t2, t3), us(t3, t4)];
        self.scanned += 1;
        if !step.persist {
            return Err(BenchError::Setup {
                what: "checkout scan",
                reason: format!("scan {} did not change the basket", self.scanned),
            });
        }
        Ok(step)
    }
}

/// Commits `step` and the station's state in one outbox frame, as the till does (serialising included);
/// returns the time spent serialising.
fn commit(store: &OutboxStore, station: &Station, step: &Step, key: &str) -> Result<std::time::Duration, BenchError> {
    let t = Instant::now();
    let state = serde_json::to_vec(station.persisted()).map_err(setup("serialise the station"))?;
    let serialised = t.elapsed();
    let events = crate::till::step_events(step);
    store
        .append_with_state(events, Some((key, state)))
        .map_err(setup("commit the step"))?;
    Ok(serialised)
}

/// p50, p99 and max of `samples`.
fn spread(mut samples: Vec<f64>) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99), samples[samples.len() - 1])
}

/// Stations sharing one outbox in the group-commit row.
const SHARED_STATIONS: usize = 8;

/// Runs the whole measurement in `dir` (catalog snapshot, outboxes) with `products` piece products and
/// `scans` measured scans per row.
pub fn run(dir: &Path, products: u64, scans: usize) -> Result<CheckoutFigures, BenchError> {
    std::fs::create_dir_all(dir).map_err(setup("checkout bench dir"))?;
    let snapshot_path = dir.join("catalog.snapshot");
    CatalogSnapshot::write(
        &snapshot_path,
        1,
        catalog_products(products.max(BASKET_LINES as u64)).into_iter().map(Ok),
    )
    .map_err(setup("write the catalog snapshot"))?;
    let catalog = CatalogSnapshot::open(&snapshot_path)
        .map_err(setup("open the catalog snapshot"))?
        .ok_or_else(|| BenchError::Setup {
            what: "open the catalog snapshot",
            reason: "not written".into(),
        })?;

    // 1. Per scan, no disk: the first 200 warm the caches.
    let mut rig = Rig::new(&catalog, "bench-1")?;
    let mut samples = Vec::with_capacity(scans);
    let mut phases: [Vec<f64>; 4] = Default::default();
    let mut repricing = Vec::with_capacity(scans);
    for i in 0..scans + 200 {
        rig.keep_size();
        let code = rig.next_code();
        let t = Instant::now();
        rig.scan(&code)?;
        let us = t.elapsed().as_secs_f64() * 1e6;
        let t = Instant::now();
        let priced = rig.station.basket().priced();
        let repriced = t.elapsed().as_secs_f64() * 1e6;
        if !matches!(priced, Some(Ok(_))) {
            return Err(BenchError::Setup {
                what: "checkout scan",
                reason: "the basket cannot be priced".into(),
            });
        }
        if i >= 200 {
            samples.push(us);
            repricing.push(repriced);
            for (all, one) in phases.iter_mut().zip(rig.last_phases_us) {
                all.push(one);
            }
        }
    }
    let scan_us = spread(samples);
    let phase_p50_us = phases.map(|p| spread(p).0);

    // 2. One station commits every scan's step to a real outbox.
    let store =
        OutboxStore::open(&dir.join("outbox-1"), 8 * 1024 * 1024, "bench-till").map_err(setup("open outbox"))?;
    let mut rig = Rig::new(&catalog, "bench-1")?;
    let state_bytes = serde_json::to_vec(rig.station.persisted())
        .map_err(setup("serialise the station"))?
        .len();
    let before = store.commits();
    let mut samples = Vec::with_capacity(scans);
    let mut serialising = Vec::with_capacity(scans);
    for _ in 0..scans {
        rig.keep_size();
        let code = rig.next_code();
        let step = rig.scan(&code)?;
        let t = Instant::now();
        let serialised = commit(&store, &rig.station, &step, STATE_KEY)?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        serialising.push(serialised.as_secs_f64() * 1e6);
    }
    let commits_per_scan = (store.commits() - before) as f64 / scans as f64;
    let (c50, c99, _) = spread(samples);
    drop(store);

    // 3. Eight stations, one outbox: each thread scans and commits in turn, as eight tills would.
    let store =
        OutboxStore::open(&dir.join("outbox-8"), 8 * 1024 * 1024, "bench-shared").map_err(setup("open outbox"))?;
    let each = scans.div_ceil(SHARED_STATIONS);
    let mut rigs = (0..SHARED_STATIONS)
        .map(|k| Rig::new(&catalog, &format!("bench-{k}")))
        .collect::<Result<Vec<_>, _>>()?;
    let before = store.commits();
    let start = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = rigs
            .iter_mut()
            .enumerate()
            .map(|(k, rig)| {
                let store = &store;
                s.spawn(move || -> Result<(), BenchError> {
                    let key = format!("{STATE_KEY}-{k}");
                    for _ in 0..each {
                        rig.keep_size();
                        let code = rig.next_code();
                        let step = rig.scan(&code)?;
                        commit(store, &rig.station, &step, &key)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join().map_err(|_| BenchError::Setup {
                what: "shared outbox",
                reason: "a station thread panicked".into(),
            })?
        })
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    let total = (each * SHARED_STATIONS) as f64;
    Ok(CheckoutFigures {
        scans,
        scan_us,
        phase_p50_us,
        repricing_p50_us: spread(repricing).0,
        state_bytes,
        persisted_scans: scans,
        commit_us: (c50, c99),
        serialise_p50_us: spread(serialising).0,
        commits_per_scan,
        stations: SHARED_STATIONS,
        shared_scans_per_s: total / elapsed,
        shared_commits_per_scan: (store.commits() - before) as f64 / total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkout::basket::State;
    use crate::pricing::Quantity;
    use crate::ui::CheckoutPhase;

    fn snapshot(dir: &Path) -> CatalogSnapshot {
        let path = dir.join("catalog.snapshot");
        CatalogSnapshot::write(&path, 1, catalog_products(200).into_iter().map(Ok)).expect("snapshot written");
        CatalogSnapshot::open(&path)
            .expect("snapshot opens")
            .expect("snapshot exists")
    }

    fn pieces(station: &Station, sku: &str) -> u32 {
        station
            .basket()
            .lines()
            .iter()
            .filter(|l| l.product.sku == sku)
            .map(|l| match l.quantity {
                Quantity::Pieces(n) => n,
                _ => 0,
            })
            .sum()
    }

    /// The measured loop does what a shopper sees: a repeat scan of a product without an offer adds one piece
    /// and exactly its price to the total; the tenth scan (a scale label) adds a weighed line priced per kg;
    /// the screen is the checkout's basket with every line, the member mark and the savings.
    #[test]
    fn measured_scans_update_the_basket_and_draw_the_checkout_screen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = snapshot(dir.path());
        let mut rig = Rig::new(&catalog, "t-1").expect("rig");
        assert_eq!(rig.station.basket().lines().len(), BASKET_LINES);
        assert!(
            rig.station.basket().totals().member_savings_cents > 0,
            "member prices apply"
        );
        assert!(
            rig.station.basket().totals().discount_cents > rig.station.basket().totals().member_savings_cents,
            "promotions apply too"
        );

        // Product 8 has no offer and no member price: skip to it in the round-robin.
        rig.scanned = 8;
        let plain = &catalog_products(9)[8];
        assert!(plain.promotion.is_none() && plain.member_price_cents.is_none());
        let total_before = rig.station.basket().totals().total_cents;
        let code = rig.next_code();
        rig.scan(&code).expect("scan");
        assert_eq!(pieces(&rig.station, "SKU0000008"), 2);
        assert_eq!(rig.station.basket().lines().len(), BASKET_LINES);
        assert_eq!(
            rig.station.basket().totals().total_cents,
            total_before + catalog_products(9)[8].price_cents,
            "one more piece at its list price"
        );

        // Scan index 9 is a scale label: item 9 (no promotion, 649 c/kg) at 209 g → 1.3564 € → 136 cents.
        let code = rig.next_code();
        assert_eq!(code, weight_label(9, 209));
        let total_before = rig.station.basket().totals().total_cents;
        rig.scan(&code).expect("scan");
        let lines = rig.station.basket().lines();
        assert_eq!(lines.len(), BASKET_LINES + 1);
        let last = lines.last().expect("a new line");
        assert_eq!(last.product.sku, "KG00009");
        assert_eq!(last.quantity, Quantity::Weight { grams: 209 });
        assert_eq!(rig.station.basket().totals().total_cents, total_before + 136);

        let shown = view(&rig.station, &e_receipt_url).expect("checkout screen");
        assert_eq!(shown.phase, CheckoutPhase::Scanning);
        assert_eq!(shown.lines.len(), BASKET_LINES + 1);
        assert_eq!(shown.total_cents, rig.station.basket().totals().total_cents);
        assert!(shown.member && shown.savings_cents > 0);
        assert!(matches!(rig.station.basket().state(), State::Scanning));
        // The frame was drawn: the framebuffer is no longer the black it started as.
        assert!(rig.fb.pixels().iter().any(|p| *p != Framebuffer::new(1, 1).pixels()[0]));
    }

    /// Past 60 lines the basket goes back to the same 50-line state, so every measured scan sees the same
    /// basket size; every scan changes the basket (else `scan` fails).
    #[test]
    fn the_basket_stays_near_fifty_lines_over_many_scans() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = snapshot(dir.path());
        let mut rig = Rig::new(&catalog, "t-2").expect("rig");
        let mut most = 0;
        for _ in 0..300 {
            rig.keep_size();
            assert!(rig.station.basket().lines().len() <= RESET_ABOVE);
            let code = rig.next_code();
            rig.scan(&code).expect("every scan changes the basket");
            most = most.max(rig.station.basket().lines().len());
        }
        assert_eq!(most, RESET_ABOVE + 1);
    }

    /// Each committed scan is one outbox commit with a single station, and the state read back is the basket.
    #[test]
    fn one_station_commits_once_per_scan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = snapshot(dir.path());
        let store = OutboxStore::open(&dir.path().join("outbox"), 1024 * 1024, "t").expect("outbox");
        let mut rig = Rig::new(&catalog, "t-3").expect("rig");
        let before = store.commits();
        for _ in 0..5 {
            let code = rig.next_code();
            let step = rig.scan(&code).expect("scan");
            commit(&store, &rig.station, &step, STATE_KEY).expect("commit");
        }
        assert_eq!(store.commits() - before, 5);
        let saved = store.state(STATE_KEY).expect("read").expect("state saved");
        let back: crate::checkout::station::Persisted = serde_json::from_slice(&saved).expect("decodes");
        assert_eq!(&back, rig.station.persisted());
    }
}
