//! `omnigate bench`: measures the speed targets of README's Performance table through the real code paths
//! (pty scanner, sled catalog, renderer, the daemon binary itself). Owns the synthetic catalog generator.
//! Timing lives here, never in tests.

use std::io::{BufWriter, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::barcode::{check_digit, Gtin, Rules};
use crate::catalog::CatalogStore;
use crate::config::Config;
use crate::display::Framebuffer;
use crate::kiosk::Kiosk;
use crate::outbox::EventClass;
use crate::scanner::ScanEvent;
use crate::storage::outbox_store::OutboxStore;
use crate::storage::Storage;

/// Which measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Serial bytes in → frame rendered in the framebuffer.
    ScanToFrame,
    /// GTIN lookup on the synthetic catalog.
    Lookup,
    /// `omnigate catalog import` of the synthetic catalog: time and peak RSS.
    Import,
    /// Daemon start to READY=1 with the synthetic catalog, then idle RSS.
    Startup,
    /// Size of this binary.
    Size,
    /// Durable outbox appends from 8 writers sharing fsyncs (group commit).
    OutboxAppend,
}

/// A benchmark that could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setup failed.
    #[error("bench {what}: {reason}")]
    Setup {
        /// Which step.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

fn setup<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Setup {
        what,
        reason: e.to_string(),
    }
}

/// A scratch directory removed on drop (the library has no tempfile dependency outside tests).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, BenchError> {
        let p = std::env::temp_dir().join(format!("omnigate-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).map_err(setup("scratch dir"))?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the chosen measurements and prints one Markdown table row per figure.
pub fn run(which: Option<Which>, products: u64) -> Result<ExitCode, BenchError> {
    let scratch = Scratch::new()?;
    let catalog_file = scratch.0.join("synthetic.jsonl");
    write_synthetic_catalog(&catalog_file, products)?;
    let all = which.is_none();
    let want = |w: Which| all || which == Some(w);
    println!("| measurement | result | target |");
    println!("|---|---|---|");
    let mut imported_state: Option<PathBuf> = None;
    if want(Which::Import) || want(Which::Startup) {
        let (cfg_path, elapsed, rss_kb) = bench_import(&scratch.0, &catalog_file)?;
        if want(Which::Import) {
            row(
                &format!("import {products} products"),
                &format!("{:.2} s", elapsed.as_secs_f64()),
                "≤ 10 s",
            );
            row(
                &format!("import {products} products, peak RSS"),
                &format!("{:.1} MB", rss_kb as f64 / 1024.0),
                "≤ 64 MB",
            );
        }
        imported_state = Some(cfg_path);
    }
    if want(Which::Startup) {
        let cfg = imported_state.as_deref().ok_or_else(|| BenchError::Setup {
            what: "startup",
            reason: "no catalog".into(),
        })?;
        let (ready, rss_kb) = bench_startup(&scratch.0, cfg)?;
        row(
            &format!("start to ready, {products} products"),
            &format!("{:.0} ms", ready.as_secs_f64() * 1000.0),
            "≤ 300 ms",
        );
        row(
            "idle daemon RSS",
            &format!("{:.1} MB", rss_kb as f64 / 1024.0),
            "≤ 16 MB",
        );
    }
    if want(Which::Lookup) || want(Which::ScanToFrame) {
        let dir = scratch.0.join("inproc");
        let storage = Storage::open(&dir, 16 * 1024 * 1024).map_err(setup("open catalog"))?;
        storage.import_file(&catalog_file, &|_| {}).map_err(setup("import"))?;
        if want(Which::Lookup) {
            let (p50, p99) = bench_lookup(&storage, products)?;
            row(
                &format!("GTIN lookup, {products} products, p50 / p99"),
                &format!("{:.2} µs / {:.2} µs", p50, p99),
                "p99 ≤ 10 µs",
            );
        }
        if want(Which::ScanToFrame) {
            let (p50, p99) = bench_scan_to_frame(&storage, products)?;
            row(
                "scan-to-frame (pty → framebuffer), p50 / p99",
                &format!("{:.0} µs / {:.0} µs", p50, p99),
                "p99 ≤ 1 ms",
            );
        }
    }
    if want(Which::OutboxAppend) {
        let per_s = bench_outbox_append(&scratch.0.join("outbox"))?;
        row(
            "durable appends/s with group commit (8 writers), each confirmed after fsync",
            &format!("{per_s:.0}/s"),
            "≥ 20,000/s",
        );
    }
    if want(Which::Size) {
        let exe = std::env::current_exe().map_err(setup("binary size"))?;
        let len = std::fs::metadata(&exe).map_err(setup("binary size"))?.len();
        row(
            "binary size (this build)",
            &format!("{:.1} MB", len as f64 / 1_048_576.0),
            "report",
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn row(what: &str, result: &str, target: &str) {
    println!("| {what} | {result} | {target} |");
}

/// The GTIN of synthetic product `i`: an Italian-prefix EAN-13 with a correct check digit.
pub fn synthetic_gtin(i: u64) -> Gtin {
    let body = format!("80{:010}", i % 10_000_000_000);
    let code = format!("{body}{}", check_digit(body.as_bytes()));
    Gtin::parse(&code).expect("synthetic GTINs are built valid")
}

/// Writes `n` products in the import format, with realistic name words for the search index.
pub fn write_synthetic_catalog(path: &Path, n: u64) -> Result<(), BenchError> {
    const A: [&str; 8] = [
        "Pasta",
        "Caffè",
        "Biscotti",
        "Latte",
        "Passata",
        "Olio",
        "Formaggio",
        "Tè",
    ];
    const B: [&str; 8] = [
        "integrale",
        "classico",
        "biologico",
        "leggero",
        "al forno",
        "di montagna",
        "extra",
        "dolce",
    ];
    const BRANDS: [&str; 6] = ["Barilla", "Lavazza", "Mutti", "Granarolo", "De Cecco", "Mulino Bianco"];
    let f = std::fs::File::create(path).map_err(setup("write synthetic catalog"))?;
    let mut w = BufWriter::new(f);
    for i in 0..n {
        let line = serde_json::json!({
            "sku": format!("SKU{i:07}"),
            "gtins": [synthetic_gtin(i).display_form()],
            "name": format!("{} {} {}", A[(i % 8) as usize], B[(i / 8 % 8) as usize], i),
            "brand": BRANDS[(i % 6) as usize],
            "description": "Prodotto di prova per le misure di prestazione.",
            "price_cents": 50 + (i * 37) % 2000,
            "vat_rate_bp": if i % 3 == 0 { 400 } else { 2200 },
            "stock": (i % 40) as i64,
        });
        writeln!(w, "{line}").map_err(setup("write synthetic catalog"))?;
    }
    w.flush().map_err(setup("write synthetic catalog"))
}

/// Deterministic xorshift: the same GTIN sequence on every run.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

/// 8 threads each append sale-sized events; every append returns only once durable, so the rate is what
/// group commit achieves on this disk.
fn bench_outbox_append(dir: &Path) -> Result<f64, BenchError> {
    const WRITERS: u64 = 8;
    const EACH: u64 = 5_000;
    let store = OutboxStore::open(dir, 8 * 1024 * 1024, "bench-till").map_err(setup("open outbox"))?;
    let payload = serde_json::json!({ "basket": 123, "lines": 4, "total_cents": 1299, "tender": "card" });
    let start = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (store, payload) = (&store, &payload);
                s.spawn(move || -> Result<(), BenchError> {
                    for _ in 0..EACH {
                        store
                            .append("sale", EventClass::Money, payload.clone())
                            .map_err(setup("append"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join().map_err(|_| BenchError::Setup {
                what: "append",
                reason: "a writer thread panicked".into(),
            })?
        })
    })?;
    Ok((WRITERS * EACH) as f64 / start.elapsed().as_secs_f64())
}

fn bench_lookup(storage: &Storage, products: u64) -> Result<(f64, f64), BenchError> {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut samples = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let g = synthetic_gtin(xorshift(&mut rng) % products);
        let t = Instant::now();
        let found = storage.by_gtin(&g).map_err(setup("lookup"))?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        if found.is_none() {
            return Err(BenchError::Setup {
                what: "lookup",
                reason: format!("{g} not found"),
            });
        }
    }
    Ok(percentiles(samples))
}

/// Opens a pty pair; returns (master, slave path). The slave is what a serial scanner config points at.
fn open_pty() -> Result<(std::fs::File, PathBuf), BenchError> {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two fds into the provided ints; null name/termios/winsize are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(BenchError::Setup {
            what: "pty",
            reason: std::io::Error::last_os_error().to_string(),
        });
    }
    // openpty does not set close-on-exec; the daemon and import children spawned by other benchmarks must not
    // inherit the scanner's pty.
    for fd in [master, slave] {
        // SAFETY: fcntl on fds we own.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: both fds were just returned by openpty and are owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let path = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd())).map_err(setup("pty name"))?;
    // Keep the slave open for the life of the process so the master never sees a hang-up before the scanner
    // opens its own handle.
    std::mem::forget(slave);
    Ok((std::fs::File::from(master), path))
}

fn bench_scan_to_frame(storage: &Storage, products: u64) -> Result<(f64, f64), BenchError> {
    let mut catalog = crate::snapshot::FollowedSnapshot::new(storage.snapshot_path(), storage.snapshot());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(setup("runtime"))?;
    let (mut master, slave) = open_pty()?;
    let cfg = Config::parse(
        &format!(
            "[device]\nstore_id='B'\ndevice_id='b'\nlanguage='it'\nstate_dir='/nonexistent'\n\
             [catalog]\ncache_capacity_mb=16\n\
             [scanner]\nkind='serial'\ndebounce_ms=0\n[scanner.serial]\npath='{}'\nbaud=115200\n\
             [display]\nkind='simulator'\n[display.simulator]\noutput_dir='/nonexistent'\n",
            slave.display()
        ),
        Path::new("bench"),
    )
    .map_err(setup("config"))?;
    let rules = Rules::from_config(&cfg.barcode).map_err(setup("rules"))?;
    let mut kiosk = Kiosk::new(rules, true);
    let mut fb = Framebuffer::new(240, 320);
    let samples = rt.block_on(async {
        let cancel = tokio_util::sync::CancellationToken::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let task = crate::scanner::spawn(&cfg.scanner, tx, cancel.clone());
        // Wait for the scanner to open the pty before timing anything.
        loop {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Some(ScanEvent::Connected)) => break,
                Ok(Some(_)) => continue,
                _ => {
                    return Err(BenchError::Setup {
                        what: "scan-to-frame",
                        reason: "scanner never connected".into(),
                    })
                }
            }
        }
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut samples = Vec::with_capacity(2000);
        for i in 0..2200 {
            let code = format!("{}\r", synthetic_gtin(xorshift(&mut rng) % products).display_form());
            let t = Instant::now();
            master.write_all(code.as_bytes()).map_err(setup("pty write"))?;
            let ev = match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Some(ev)) => ev,
                _ => {
                    return Err(BenchError::Setup {
                        what: "scan-to-frame",
                        reason: "no scan event".into(),
                    })
                }
            };
            // Exactly the daemon's path: look for a newer snapshot (one stat), then decide and draw.
            catalog.refresh();
            let r = kiosk.on_scanner(&ev, catalog.current());
            let frame = r.frame.ok_or_else(|| BenchError::Setup {
                what: "scan-to-frame",
                reason: "no frame".into(),
            })?;
            let _ = crate::ui::render(&frame, crate::config::Language::It, &mut fb);
            // The first 200 warm the caches and the pty path.
            if i >= 200 {
                samples.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        cancel.cancel();
        let _ = task.await;
        Ok(samples)
    })?;
    // Drain anything the pty echoed so the master is not left full (the scanner sets raw mode, so normally none).
    let _ = master.read(&mut [0u8; 0]);
    Ok(percentiles(samples))
}

fn write_config(dir: &Path, catalog_dir_name: &str) -> Result<PathBuf, BenchError> {
    let cfg = dir.join(format!("{catalog_dir_name}.toml"));
    let text = format!(
        "[device]\nstore_id='BENCH'\ndevice_id='bench-1'\nlanguage='it'\nstate_dir='{}'\n\
         [catalog]\ncache_capacity_mb=8\n\
         [scanner]\nkind='stdin'\n\
         [display]\nkind='simulator'\n[display.simulator]\noutput_dir='{}'\n",
        dir.join(catalog_dir_name).display(),
        dir.join("frames").display()
    );
    std::fs::write(&cfg, text).map_err(setup("write config"))?;
    Ok(cfg)
}

/// Spawns `omnigate catalog import` and measures wall time and the child's peak RSS.
fn bench_import(dir: &Path, file: &Path) -> Result<(PathBuf, Duration, i64), BenchError> {
    let cfg = write_config(dir, "state")?;
    let exe = std::env::current_exe().map_err(setup("import"))?;
    let t = Instant::now();
    let child = std::process::Command::new(exe)
        .args(["catalog", "--config"])
        .arg(&cfg)
        .arg("import")
        .arg(file)
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(setup("import"))?;
    let (status, rss_kb) = wait_with_rusage(child.id())?;
    let elapsed = t.elapsed();
    if status != 0 {
        return Err(BenchError::Setup {
            what: "import",
            reason: format!("exit status {status}"),
        });
    }
    Ok((cfg, elapsed, rss_kb))
}

/// Waits for `pid`; returns its exit status and peak RSS in KiB (from the kernel's rusage, exact).
fn wait_with_rusage(pid: u32) -> Result<(i32, i64), BenchError> {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut ru) };
    if rc < 0 {
        return Err(BenchError::Setup {
            what: "wait",
            reason: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok((libc::WEXITSTATUS(status), ru.ru_maxrss))
}

/// Starts the daemon with a systemd-style NOTIFY_SOCKET; measures spawn → READY=1, then RSS after idling.
fn bench_startup(dir: &Path, cfg: &Path) -> Result<(Duration, i64), BenchError> {
    use std::os::unix::net::UnixDatagram;
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).map_err(setup("notify socket"))?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(setup("notify socket"))?;
    let exe = std::env::current_exe().map_err(setup("startup"))?;
    let t = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(["run", "--config"])
        .arg(cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(setup("startup"))?;
    let mut buf = [0u8; 512];
    let ready = loop {
        let n = sock.recv(&mut buf).map_err(setup("waiting for READY=1"))?;
        if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
            break t.elapsed();
        }
    };
    // Let start-up allocations settle into the idle working set before reading RSS.
    std::thread::sleep(Duration::from_secs(2));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).map_err(setup("rss"))?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(-1);
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    Ok((ready, rss_kb))
}
