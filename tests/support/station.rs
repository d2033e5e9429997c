//! A self-checkout station under test: the real `omnigate run` with `[checkout]`, a barcode scanner on a pty
//! pair (the test holds the master and types codes), buttons typed on the daemon's stdin (`:pay`), the
//! simulated payment terminal (its journal is the "bank"), and a receipt printer chosen by the test. Events
//! are read with `omnigate queue export`, which works while the daemon runs.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use omnigate::ui::{CheckoutLine, CheckoutPhase, CheckoutView, Frame, LineQuantity, Screen};

use super::daemon::Daemon;

/// Generous: the CI machine is shared and slow; a passing test never waits this long.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Staff badge `STAFF0001` with PIN 2468.
pub const STAFF_BADGE: &str = "STAFF0001";
/// Its PIN.
pub const STAFF_PIN: &str = "2468";
/// A loyalty card.
pub const LOYALTY_CARD: &str = "2990000000017";

/// Spaghetti (1.29, 4 %), coffee (3.99, 22 %), wine (6.50, 22 %, 18+).
pub const PASTA: &str = "8001234567897";
/// See [`PASTA`].
pub const COFFEE: &str = "8009876543217";
/// See [`PASTA`].
pub const WINE: &str = "8003333333335";

const CATALOG: &str = r#"{"sku":"PASTA-5","gtins":["8001234567897"],"name":"Spaghetti n.5","brand":"Barilla","price_cents":129,"vat_rate_bp":400,"stock":24,"unit":"piece"}
{"sku":"CAFFE-250","gtins":["8009876543217"],"name":"Caffe Qualita Rossa","brand":"Lavazza","price_cents":399,"vat_rate_bp":2200,"stock":3,"unit":"piece"}
{"sku":"VINO-75","gtins":["8003333333335"],"name":"Chianti 75 cl","brand":"Ruffino","price_cents":650,"vat_rate_bp":2200,"stock":6,"unit":"piece","min_age":18}
"#;

/// Where receipts go.
pub enum PrinterSetup {
    /// A file the test reads.
    File,
    /// A serial ESC/POS printer at this path (the test plays it, or leaves it absent).
    Serial(PathBuf),
    /// No printer: e-receipts only.
    None,
}

/// How the station is set up.
pub struct Options {
    /// The terminal's script, e.g. `["declined", "approved"]`.
    pub outcomes: &'static str,
    /// The terminal's delay.
    pub delay_ms: u64,
    /// What an unclear attempt settles to.
    pub settles: &'static str,
    /// Receipts.
    pub printer: PrinterSetup,
    /// Seconds before a payment without answer is reconciled.
    pub payment_timeout_s: u64,
    /// Keep the daemon's log in `daemon.log` ([`Station::log`]) instead of the test's output.
    pub log_to_file: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            outcomes: r#"["approved"]"#,
            delay_ms: 200,
            settles: "approved",
            printer: PrinterSetup::File,
            payment_timeout_s: 120,
            log_to_file: false,
        }
    }
}

/// The pty a scanner is plugged into.
pub struct FakeScanner {
    master: File,
    /// The device path the daemon opens.
    pub path: PathBuf,
}

impl FakeScanner {
    /// A new pty pair.
    pub fn new() -> FakeScanner {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let path = nix::unistd::ttyname(&pty.slave).expect("ttyname of the pty slave");
        // The daemon must be the only reader of the slave.
        drop::<OwnedFd>(pty.slave);
        FakeScanner {
            master: File::from(pty.master),
            path,
        }
    }

    /// A code as the scanner sends it (CR-terminated).
    pub fn send(&mut self, code: &str) {
        self.master.write_all(code.as_bytes()).expect("write code");
        self.master.write_all(b"\r").expect("write CR");
        self.master.flush().expect("flush");
    }
}

/// The station.
pub struct Station {
    /// The running daemon.
    pub daemon: Daemon,
    /// Its scanner.
    pub scanner: FakeScanner,
    /// Its directory (config, state, receipts).
    pub dir: PathBuf,
    cfg: PathBuf,
    logged: bool,
    _tmp: tempfile::TempDir,
}

impl Station {
    /// Starts a station set up as `opts` in a fresh directory.
    pub fn start(opts: Options) -> Station {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_owned();
        std::fs::write(dir.join("catalog.jsonl"), CATALOG).expect("catalog");
        let scanner = FakeScanner::new();
        let printer = match &opts.printer {
            PrinterSetup::File => "[printer]\nkind = \"file\"\npath = \"receipts.escpos\"\ncolumns = 48\n".to_string(),
            PrinterSetup::Serial(path) => format!(
                "[printer]\nkind = \"serial\"\npath = \"{}\"\nstatus_timeout_ms = 200\n",
                path.display()
            ),
            PrinterSetup::None => String::new(),
        };
        let hash = omnigate::checkout::station::pin_hash("0001", STAFF_PIN);
        let cfg = dir.join("omnigate.toml");
        std::fs::write(
            &cfg,
            format!(
                r#"
[device]
store_id = "IT-TEST-1"
device_id = "till1"
language = "en"
state_dir = "state"
[catalog]
cache_capacity_mb = 8
seed_file = "catalog.jsonl"
[scanner]
kind = "serial"
debounce_ms = 0
[scanner.serial]
path = "{scanner}"
[display]
kind = "simulator"
[display.simulator]
output_dir = "frames"
[barcode]
store_codes = [
    {{ kind = "loyalty", pattern = "2990#########" }},
    {{ kind = "staff", pattern = "STAFF####" }},
]
[checkout]
e_receipt_url = "https://shop.example.it/r/{{receipt}}"
payment_timeout_s = {timeout}
requery_every_s = 1
staff = [{{ id = "0001", name = "Giulia", pin_sha256 = "{hash}" }}]
[payment]
kind = "simulated"
outcomes = {outcomes}
delay_ms = {delay}
settles = "{settles}"
[receipt]
store_name = "Supermercato Test"
address_lines = ["Via Roma 1, Milano"]
vat_number = "IT01234567890"
footer_lines = []
[buttons]
kind = "stdin"
{printer}
"#,
                scanner = scanner.path.display(),
                timeout = opts.payment_timeout_s,
                outcomes = opts.outcomes,
                delay = opts.delay_ms,
                settles = opts.settles,
            ),
        )
        .expect("config");
        let daemon = if opts.log_to_file {
            Daemon::spawn_logged(&dir, &cfg)
        } else {
            Daemon::spawn_in(&dir, &cfg)
        };
        Station {
            daemon,
            scanner,
            dir,
            cfg,
            logged: opts.log_to_file,
            _tmp: tmp,
        }
    }

    /// Starts the daemon again on the same directory and scanner (after [`Station::kill`]).
    pub fn restart(&mut self) {
        self.daemon = if self.logged {
            Daemon::spawn_logged(&self.dir, &self.cfg)
        } else {
            Daemon::spawn_in(&self.dir, &self.cfg)
        };
    }

    /// The daemon's log so far (with `log_to_file`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.daemon.kill();
    }

    /// Scans a code.
    pub fn scan(&mut self, code: &str) {
        self.scanner.send(code);
    }

    /// Presses a button or types on the keypad: `pay`, `cancel`, `help`, `2468`.
    pub fn press(&mut self, key: &str) {
        self.daemon.scan(&format!(":{key}"));
    }

    /// The events in the outbox (nothing is acknowledged: no broker), in seq order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let out = self.daemon.omnigate(&["queue", "export"]);
        assert!(
            out.status.success(),
            "queue export: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("an event per line"))
            .collect()
    }

    /// The events of `kind`.
    pub fn events_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.events().into_iter().filter(|e| e["kind"] == kind).collect()
    }

    /// Waits until there are `n` events of `kind` and returns them.
    pub fn wait_for_events(&self, kind: &str, n: usize) -> Vec<serde_json::Value> {
        let mut found = Vec::new();
        super::wait_until(&format!("{n} {kind} event(s)"), DEADLINE, || {
            found = self.events_of(kind);
            found.len() >= n
        });
        found
    }

    /// What the simulated terminal was asked, from its journal (the "bank" side).
    pub fn charges(&self) -> Vec<omnigate::payment::JournalEntry> {
        let path = self.dir.join("state").join(omnigate::payment::DEFAULT_JOURNAL_FILE);
        if !path.exists() {
            return Vec::new();
        }
        omnigate::payment::journal_entries(&path).expect("read the terminal's journal")
    }

    /// The bytes the file printer received.
    pub fn receipts(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("receipts.escpos")).unwrap_or_default()
    }

    /// Waits until the screen shows `view` exactly. On timeout the screen and the expected one are kept in
    /// `target/test-screens/` for a look.
    pub fn wait_for_view(&self, view: CheckoutView, what: &str) {
        let frame = Frame {
            screen: Screen::Checkout(view),
            offline: true,
        };
        let deadline = std::time::Instant::now() + DEADLINE;
        while !self.daemon.shows(&frame) {
            if std::time::Instant::now() > deadline {
                let keep = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target")
                    .join("test-screens");
                let _ = std::fs::create_dir_all(&keep);
                let name: String = what
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                let _ = std::fs::copy(
                    self.dir.join("frames").join("screen.png"),
                    keep.join(format!("{name}.png")),
                );
                let _ = omnigate::display::render_png(
                    &frame,
                    omnigate::config::Language::En,
                    240,
                    320,
                    &keep.join(format!("{name}.expected.png")),
                );
                panic!("timed out waiting for {what} (screens kept in {})", keep.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The path of a file in the station's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A basket line of `count` pieces at `unit` cents, no discount.
pub fn line(name: &str, count: u32, unit: i64) -> CheckoutLine {
    CheckoutLine {
        name: name.into(),
        quantity: LineQuantity::Pieces {
            count,
            unit_price_cents: unit,
        },
        amount_cents: unit * i64::from(count),
        discounts: Vec::new(),
        needs_age_check: false,
    }
}

/// A checkout view with `lines` in `phase`, totals summed, no member, no notice.
pub fn view(phase: CheckoutPhase, lines: Vec<CheckoutLine>) -> CheckoutView {
    CheckoutView {
        phase,
        total_cents: lines.iter().map(|l| l.amount_cents).sum(),
        lines,
        savings_cents: 0,
        member: false,
        notice: None,
    }
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A path in a directory that does not exist (a printer that is not plugged in).
pub fn absent(dir: &Path) -> PathBuf {
    dir.join("no-such-printer")
}
