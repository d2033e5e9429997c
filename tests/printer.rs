//! Receipt printer scenarios on real pty pairs ("printer paper-out and disconnect"): the test holds the master
//! side and plays an ESC/POS printer that answers the real-time status requests (DLE EOT n) and keeps every
//! other byte it is sent; the printer under test opens the slave through a symlink in a tempdir, as it would a
//! udev symlink, so an unplug is closing the master and a replug is a new pty behind the same path.
//!
//! Waiting is always polling a condition with a deadline; the printer's own status timeout is the only timer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use omnigate::catalog::{CalendarDate, Product, Unit};
use omnigate::checkout::basket::{Cart, Line, Totals};
use omnigate::checkout::receipt::{self, PaymentInfo, Receipt, ReceiptHeader, ReceiptNumber};
use omnigate::config::Language;
use omnigate::pricing::{price_basket, BasketLine, PricingContext, Quantity};
use omnigate::printer::{open_printer, Printer, PrinterConfig, PrinterError, PrinterKind, PrinterStatus};
use support::fake_printer::{point, FakePrinter};

mod support;

/// The printer's status timeout in these tests.
const STATUS_TIMEOUT_MS: u64 = 200;

/// A serial printer at a symlink in a fresh tempdir (not yet pointing anywhere).
fn serial_printer() -> (Box<dyn Printer>, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("omnigate-printer");
    let cfg = PrinterConfig {
        kind: PrinterKind::Serial,
        path: Some(link.clone()),
        baud: 19200,
        columns: 48,
        status_timeout_ms: STATUS_TIMEOUT_MS,
    };
    let printer = open_printer(&cfg).expect("valid config").expect("a printer");
    (printer, link, dir)
}

/// The ESC/POS bytes of a two-line sale.
fn receipt_bytes() -> Vec<u8> {
    let date: CalendarDate = "2026-12-02".parse().expect("a date");
    let product = |sku: &str, name: &str, price_cents, unit| Product {
        sku: sku.into(),
        gtins: Vec::new(),
        item_code: None,
        name: name.into(),
        brand: "B".into(),
        description: String::new(),
        price_cents,
        member_price_cents: None,
        vat_rate_bp: 1000,
        promotion: None,
        stock: 0,
        min_age: None,
        unit,
        url: None,
    };
    let lines = vec![
        Line {
            product: product("caffe", "Caffè macinato", 349, Unit::Piece),
            quantity: Quantity::Pieces(2),
        },
        Line {
            product: product("mele", "Mele Golden", 199, Unit::Kg),
            quantity: Quantity::Weight { grams: 1234 },
        },
    ];
    let pricing: Vec<BasketLine> = lines
        .iter()
        .map(|l| BasketLine {
            product: l.product.clone(),
            quantity: l.quantity,
        })
        .collect();
    let priced = price_basket(
        &pricing,
        &PricingContext {
            business_date: date,
            member: false,
        },
    )
    .expect("prices");
    let cart = Cart {
        id: "K07-000001".into(),
        business_date: date,
        lines,
        loyalty_id: None,
        age_approved: None,
        attempts: 1,
        totals: Totals::default(),
    };
    let header = ReceiptHeader {
        store_name: "Supermercato".into(),
        address_lines: vec!["Via Roma 1, Milano".into()],
        vat_number: "IT01234567890".into(),
        footer_lines: Vec::new(),
    };
    let number: ReceiptNumber = "0042-K07-000001".parse().expect("a receipt number");
    let payment = Some(PaymentInfo {
        reference: "TX1".into(),
        amount_cents: priced.total_cents,
    });
    let url = "https://shop.example.it/r/0042-K07-000001".to_owned();
    let r = Receipt::build(&header, number, &cart, &priced, payment, url, Language::It).expect("builds");
    let bytes = receipt::escpos(&r, 48);
    // The fake printer, like a real one, would take DLE EOT inside the data for a status request.
    assert!(!bytes.windows(2).any(|w| w == [0x10, 0x04]));
    bytes
}

fn assert_offline_naming(status: PrinterStatus, link: &Path, why: &str) {
    match status {
        PrinterStatus::Offline { reason } => {
            assert!(
                reason.contains(&link.display().to_string()),
                "{reason:?} does not name the device"
            );
            assert!(reason.contains(why), "{reason:?} does not say {why:?}");
        }
        other => panic!("expected Offline, got {other:?}"),
    }
}

#[test]
fn with_paper_a_receipt_arrives_byte_for_byte() {
    let (mut printer, link, _dir) = serial_printer();
    let fake = FakePrinter::new();
    point(&link, &fake.slave_path);
    assert_eq!(printer.status(), PrinterStatus::Ready);
    let bytes = receipt_bytes();
    printer.print(&bytes).expect("prints");
    fake.expect_received(&bytes);
    assert!(printer.describe().contains(&link.display().to_string()));
}

#[test]
fn a_roll_that_ends_mid_receipt_is_reported_so_the_shopper_gets_the_e_receipt() {
    let (mut printer, link, _dir) = serial_printer();
    let fake = FakePrinter::new();
    point(&link, &fake.slave_path);
    let bytes = receipt_bytes();
    fake.set_runs_out_after(bytes.len() / 2);
    let err = printer
        .print(&bytes)
        .expect_err("half a receipt is not a printed receipt");
    assert!(matches!(err, PrinterError::RanOut { .. }), "{err}");
    assert_eq!(printer.status(), PrinterStatus::PaperOut);
}

#[test]
fn out_of_paper_the_receipt_is_refused_and_nothing_is_sent() {
    let (mut printer, link, _dir) = serial_printer();
    let fake = FakePrinter::new();
    point(&link, &fake.slave_path);
    fake.set_paper_out(true);
    assert_eq!(printer.status(), PrinterStatus::PaperOut);

    let bytes = receipt_bytes();
    match printer.print(&bytes) {
        Err(PrinterError::NotReady { device, status }) => {
            assert_eq!(status, PrinterStatus::PaperOut);
            assert_eq!(device, link.display().to_string());
        }
        other => panic!("expected a refusal for paper out, got {other:?}"),
    }
    // The fake handles bytes in order: once it has answered a later status request, anything print had
    // sent would have arrived before it.
    let asked = fake.queries();
    assert_eq!(printer.status(), PrinterStatus::PaperOut);
    assert!(fake.queries() > asked);
    assert!(
        fake.received().is_empty(),
        "part of a receipt was sent to a printer without paper"
    );

    // A new roll: the same receipt prints whole.
    fake.set_paper_out(false);
    printer.print(&bytes).expect("prints once the paper is back");
    fake.expect_received(&bytes);
}

#[test]
fn an_unplugged_printer_is_offline_and_works_again_after_replug() {
    let (mut printer, link, _dir) = serial_printer();
    // Nothing at the path yet (the printer is switched on later).
    assert_offline_naming(printer.status(), &link, "cannot open");

    let first = FakePrinter::new();
    point(&link, &first.slave_path);
    assert_eq!(printer.status(), PrinterStatus::Ready);

    first.unplug();
    assert_offline_naming(printer.status(), &link, "");
    let bytes = receipt_bytes();
    assert!(matches!(printer.print(&bytes), Err(PrinterError::NotReady { .. })));

    // Replugged: a new device behind the same path, found on the next call.
    let second = FakePrinter::new();
    point(&link, &second.slave_path);
    assert_eq!(printer.status(), PrinterStatus::Ready);
    printer.print(&bytes).expect("prints after replug");
    second.expect_received(&bytes);
}

#[test]
fn a_printer_that_never_answers_is_offline_within_the_timeout() {
    let (mut printer, link, _dir) = serial_printer();
    let fake = FakePrinter::new();
    fake.set_silent(true);
    point(&link, &fake.slave_path);

    let start = Instant::now();
    let status = printer.status();
    let took = start.elapsed();
    assert_offline_naming(status, &link, "no answer");
    assert!(
        took >= Duration::from_millis(STATUS_TIMEOUT_MS),
        "gave up before the timeout: {took:?}"
    );
    let bound = Duration::from_millis(3 * STATUS_TIMEOUT_MS) + Duration::from_secs(2);
    assert!(took < bound, "status took {took:?}");
    assert!(matches!(
        printer.print(&receipt_bytes()),
        Err(PrinterError::NotReady { .. })
    ));

    // It answers again: ready, and the refused receipt never reached it.
    fake.set_silent(false);
    assert_eq!(printer.status(), PrinterStatus::Ready);
    assert!(fake.received().is_empty());
}
