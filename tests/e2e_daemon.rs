//! End to end through the real binary: a serial scanner on a pty, the catalog in sled, the simulator panel.
//! A shopper scans; the screen must show the product (or say why not) within a deadline.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omnigate::config::Language;
use omnigate::ui::{ErrorClass, Frame, ProductView, Screen};

const DEADLINE: Duration = Duration::from_secs(10);

const CATALOG: &str = r#"{"sku":"PASTA-5","gtins":["8001234567897"],"name":"Spaghetti n.5","brand":"Barilla","price_cents":129,"vat_rate_bp":400,"stock":24,"unit":"piece"}
{"sku":"CAFFE-250","gtins":["8009876543217","80098768"],"name":"Caffè Qualità Rossa 250 g","brand":"Lavazza","price_cents":399,"vat_rate_bp":2200,"stock":0,"unit":"piece","promotion":{"id":"PR-7","label":"-25%","type":"percent_off","percent":25}}
"#;

struct Kiosk {
    child: Child,
    cfg: PathBuf,
    master: std::fs::File,
    frames: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `omnigate run` with its scanner on a fresh pty and waits for systemd's READY=1.
fn start_kiosk(lang: &str) -> Kiosk {
    let dir = tempfile::tempdir().expect("tempdir");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    // openpty does not set close-on-exec: without it every daemon spawned by a parallel test would inherit this
    // master and the "unplug" below would never reach the daemon.
    for fd in [pty.master.as_raw_fd(), pty.slave.as_raw_fd()] {
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC)).expect("cloexec");
    }
    // READY=1 does not wait for the scanner (a kiosk with an absent scanner is still up), so a test may write
    // before the daemon has opened the port. A real scanner line is raw; make the pty raw from the start, or its
    // line discipline would turn the CR terminator into LF.
    let mut tio = nix::sys::termios::tcgetattr(&pty.slave).expect("tcgetattr");
    nix::sys::termios::cfmakeraw(&mut tio);
    nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &tio).expect("tcsetattr");
    let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).expect("pty name");
    std::fs::write(dir.path().join("catalog.jsonl"), CATALOG).expect("catalog");
    let cfg = dir.path().join("omnigate.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[device]
store_id = "IT-TEST-1"
device_id = "e2e-1"
language = "{lang}"
state_dir = "state"
[catalog]
cache_capacity_mb = 8
seed_file = "catalog.jsonl"
[scanner]
kind = "serial"
debounce_ms = 200
[scanner.serial]
path = "{}"
baud = 115200
terminator = "cr"
[display]
kind = "simulator"
[display.simulator]
output_dir = "frames"
"#,
            slave_path.display()
        ),
    )
    .expect("config");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
    sock.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let child = Command::new(env!("CARGO_BIN_EXE_omnigate"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn daemon");
    let mut buf = [0u8; 256];
    loop {
        let n = sock.recv(&mut buf).expect("daemon never said READY=1");
        if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
            break;
        }
    }
    // The slave fd stays with the test's pty struct until here; the daemon opened its own handle by path.
    drop(pty.slave);
    Kiosk {
        child,
        cfg,
        master: std::fs::File::from(pty.master),
        frames: dir.path().join("frames"),
        _dir: dir,
    }
}

fn decode_png(path: &Path) -> Option<image::RgbImage> {
    let bytes = std::fs::read(path).ok()?;
    image::load_from_memory(&bytes).ok().map(|i| i.to_rgb8())
}

/// What a shopper should see, rendered by the same renderer the golden tests pin down.
fn expected(frame: &Frame, lang: Language, dir: &Path) -> image::RgbImage {
    let path = dir.join("expected.png");
    omnigate::display::render_png(frame, lang, 240, 320, &path).expect("render expected");
    decode_png(&path).expect("decode expected")
}

/// Polls the panel until it shows `want` or the deadline passes.
fn wait_for_screen(k: &Kiosk, want: &image::RgbImage, what: &str) {
    let screen = k.frames.join("screen.png");
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if decode_png(&screen).as_ref() == Some(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the screen did not show {what} within {DEADLINE:?}");
}

/// The pasta of `CATALOG` as the product screen shows it, at `price_cents`.
fn pasta_at(price_cents: i64) -> Frame {
    Frame {
        screen: Screen::Product(ProductView {
            name: "Spaghetti n.5".into(),
            brand: "Barilla".into(),
            price_cents,
            per_kg: false,
            weight_g: None,
            regular_price_cents: None,
            promotion: None,
            stock: Some(24),
            min_age: None,
        }),
        offline: true,
    }
}

fn scan(k: &mut Kiosk, code: &str) {
    k.master
        .write_all(format!("{code}\r").as_bytes())
        .expect("write to scanner pty");
}

#[test]
fn scanning_shows_product_then_not_found_then_invalid_then_disconnected() {
    let mut k = start_kiosk("it");
    let scratch = tempfile::tempdir().expect("tempdir");
    let idle = expected(
        &Frame {
            screen: Screen::Idle,
            offline: true,
        },
        Language::It,
        scratch.path(),
    );
    wait_for_screen(&k, &idle, "the attract screen");

    scan(&mut k, "8001234567897");
    let pasta = pasta_at(129);
    wait_for_screen(&k, &expected(&pasta, Language::It, scratch.path()), "the pasta");

    scan(&mut k, "8001234567880");
    let not_found = Frame {
        screen: Screen::NotFound {
            code: "8001234567880".into(),
        },
        offline: true,
    };
    wait_for_screen(
        &k,
        &expected(&not_found, Language::It, scratch.path()),
        "product not found",
    );

    scan(&mut k, "8001234567890");
    let invalid = Frame {
        screen: Screen::Invalid {
            reason: ErrorClass::CheckDigit,
        },
        offline: true,
    };
    wait_for_screen(
        &k,
        &expected(&invalid, Language::It, scratch.path()),
        "invalid barcode (check digit)",
    );

    // Unplugging the scanner (the pty's other end closes) must be visible to staff.
    let Kiosk { master, .. } = &mut k;
    let closed = std::mem::replace(master, std::fs::File::open("/dev/null").expect("/dev/null"));
    drop(closed);
    let gone = Frame {
        screen: Screen::ScannerDisconnected,
        offline: true,
    };
    wait_for_screen(
        &k,
        &expected(&gone, Language::It, scratch.path()),
        "scanner disconnected",
    );
}

#[test]
fn second_gtin_and_short_form_find_the_product_with_its_promotion_in_english() {
    let mut k = start_kiosk("en");
    let scratch = tempfile::tempdir().expect("tempdir");
    scan(&mut k, "80098768");
    let coffee = Frame {
        screen: Screen::Product(ProductView {
            name: "Caffè Qualità Rossa 250 g".into(),
            brand: "Lavazza".into(),
            // 399 − 25 % (99.75 → 100 off, half-up) = 299.
            price_cents: 299,
            per_kg: false,
            weight_g: None,
            regular_price_cents: Some(399),
            promotion: Some("-25%".into()),
            stock: Some(0),
            min_age: None,
        }),
        offline: true,
    };
    wait_for_screen(
        &k,
        &expected(&coffee, Language::En, scratch.path()),
        "the coffee by its EAN-8",
    );
}

#[test]
fn sigterm_stops_the_daemon_cleanly_and_quickly() {
    let mut k = start_kiosk("it");
    let pid = nix::unistd::Pid::from_raw(k.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
    let start = Instant::now();
    loop {
        if let Some(status) = k.child.try_wait().expect("wait") {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            break;
        }
        assert!(
            start.elapsed() < omnigate::daemon::SHUTDOWN_DEADLINE,
            "daemon did not stop within its shutdown deadline of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_price_change_imported_while_the_kiosk_runs_is_what_the_next_scan_shows() {
    let mut k = start_kiosk("it");
    let scratch = tempfile::tempdir().expect("tempdir");
    let update = scratch.path().join("prices.jsonl");
    std::fs::write(
        &update,
        CATALOG
            .lines()
            .next()
            .expect("pasta line")
            .replace("\"price_cents\":129", "\"price_cents\":99"),
    )
    .expect("write update");
    let out = Command::new(env!("CARGO_BIN_EXE_omnigate"))
        .args(["catalog", "--config"])
        .arg(&k.cfg)
        .arg("import")
        .arg(&update)
        .output()
        .expect("run import");
    assert!(
        out.status.success(),
        "import while the kiosk runs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    scan(&mut k, "8001234567897");
    let pasta = pasta_at(99);
    wait_for_screen(&k, &expected(&pasta, Language::It, scratch.path()), "the new price");
}
