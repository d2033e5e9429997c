//! Receipt printer scenarios on real pty pairs ("printer paper-out and disconnect"): the test holds the master
//! side and plays an ESC/POS printer that answers the real-time status requests (DLE EOT n) and keeps every
//! other byte it is sent; the printer under test opens the slave through a symlink in a tempdir, as it would a
//! udev symlink, so an unplug is closing the master and a replug is a new pty behind the same path.
//!
//! Waiting is always polling a condition with a deadline; the printer's own status timeout is the only timer.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use omnigate::catalog::{CalendarDate, Product, Unit};
use omnigate::checkout::basket::{Cart, Line, Totals};
use omnigate::checkout::receipt::{self, PaymentInfo, Receipt, ReceiptHeader, ReceiptNumber};
use omnigate::config::Language;
use omnigate::pricing::{price_basket, BasketLine, PricingContext, Quantity};
use omnigate::printer::{open_printer, Printer, PrinterConfig, PrinterError, PrinterKind, PrinterStatus};

/// Generous: the build machine is shared and slow; a passing test never waits this long.
const DEADLINE: Duration = Duration::from_secs(10);

/// The printer's status timeout in these tests.
const STATUS_TIMEOUT_MS: u64 = 200;

#[derive(Default)]
struct Shared {
    paper_out: AtomicBool,
    silent: AtomicBool,
    stop: AtomicBool,
    queries: AtomicUsize,
    received: Mutex<Vec<u8>>,
}

/// The master side of a pty pair playing an ESC/POS printer.
struct FakePrinter {
    slave_path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    // Our copy of the slave keeps the pty's master from reading EOF/EIO (and polling HUP in a loop) while
    // the printer under test has the device closed; it is never read or written.
    _slave: OwnedFd,
}

impl FakePrinter {
    fn new() -> FakePrinter {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave_path = nix::unistd::ttyname(&pty.slave).expect("ttyname of the pty slave");
        let shared = Arc::new(Shared::default());
        let master = File::from(pty.master);
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || serve(master, &shared))
        };
        FakePrinter {
            slave_path,
            shared,
            thread: Some(thread),
            _slave: pty.slave,
        }
    }

    fn set_paper_out(&self, out: bool) {
        self.shared.paper_out.store(out, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<u8> {
        self.shared.received.lock().expect("not poisoned").clone()
    }

    fn queries(&self) -> usize {
        self.shared.queries.load(Ordering::SeqCst)
    }

    /// Waits until exactly `want` has arrived (or the deadline passes), and returns what arrived.
    fn expect_received(&self, want: &[u8]) {
        let start = Instant::now();
        while self.received().len() < want.len() && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(5));
        }
        let got = self.received();
        assert_eq!(got.len(), want.len(), "bytes received by the printer");
        assert!(got == want, "the printer received other bytes than the receipt's");
    }

    /// Unplugs the printer: the master is closed, the pty vanishes.
    fn unplug(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("fake printer thread ends without panic");
        }
    }
}

impl Drop for FakePrinter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// The fake printer's loop: answers DLE EOT 1/2/4 at once (unless silent), keeps every other byte. Polls
/// with a short timeout only to notice `stop`.
fn serve(mut master: File, shared: &Shared) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while !shared.stop.load(Ordering::SeqCst) {
        let mut fds = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call; `master` outlives it.
        let ready = unsafe { libc::poll(&mut fds, 1, 20) };
        if ready <= 0 || fds.revents & libc::POLLIN == 0 {
            continue;
        }
        let n = match master.read(&mut buf) {
            Ok(0) | Err(_) => continue,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            pending.push(b);
            match pending[..] {
                [0x10] | [0x10, 0x04] => continue,
                [0x10, 0x04, q] => {
                    shared.queries.fetch_add(1, Ordering::SeqCst);
                    let out = shared.paper_out.load(Ordering::SeqCst);
                    let answer = 0x12
                        | match (q, out) {
                            (1, true) => 0x08, // offline
                            (2, true) => 0x20, // stopped: paper end
                            (4, true) => 0x60, // roll paper end
                            _ => 0,
                        };
                    if !shared.silent.load(Ordering::SeqCst) {
                        master.write_all(&[answer]).expect("answer status");
                    }
                }
                _ => shared
                    .received
                    .lock()
                    .expect("not poisoned")
                    .extend_from_slice(&pending),
            }
            pending.clear();
        }
    }
}

/// Points `link` at `target`, replacing it atomically (as udev does on replug).
fn point(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).expect("create symlink");
    std::fs::rename(&tmp, link).expect("re-point symlink");
}

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
    fake.shared.silent.store(true, Ordering::SeqCst);
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
    fake.shared.silent.store(false, Ordering::SeqCst);
    assert_eq!(printer.status(), PrinterStatus::Ready);
    assert!(fake.received().is_empty());
}
