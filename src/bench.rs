//! `omnigate bench`: measures the speed targets of README's Performance table through the real code paths
//! (pty scanner, sled catalog, renderer, the daemon binary itself, the outbox and its MQTT link against a
//! Mosquitto of its own). Owns the synthetic catalog generator.
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
use crate::storage::outbox_store::{NewEvent, OutboxStore};
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
    /// Self-checkout: one scan into a 50-line basket with active promotions → frame rendered; the step's
    /// durable commit (one station, then eight sharing one outbox).
    CheckoutScan,
    /// Durable outbox appends sharing fsyncs (group commit): 1, 8 and 64 writers, single events and batches.
    OutboxAppend,
    /// The link drains 50,000 queued events to a local Mosquitto, against a plain rumqttc publisher.
    OutboxDrain,
    /// Peer comparison: a persistent Mosquitto bridge and omnigate, each queueing 50,000 events while central
    /// is down, killed with SIGKILL, restarted; what reaches central.
    Bridge,
    /// Central → kiosk through Mosquitto and the daemon: snapshot publish + apply (time, the daemon's peak
    /// RSS), price change published → on screen.
    Sync,
}

/// Price changes published in the sync benchmark.
const SYNC_PRICE_CHANGES: usize = 20;

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

pub(crate) fn setup<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> BenchError {
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
    if let Some(mode) = std::env::var_os(DEVICE_CHILD_ENV) {
        // The device half of `bench bridge`, re-run by the parent as a child process it can SIGKILL.
        return bridge_device_child(&mode.to_string_lossy());
    }
    let scratch = Scratch::new()?;
    let catalog_file = scratch.0.join("synthetic.jsonl");
    let all = which.is_none();
    let want = |w: Which| all || which == Some(w);
    if [Which::Import, Which::Startup, Which::Lookup, Which::ScanToFrame]
        .into_iter()
        .any(want)
    {
        write_synthetic_catalog(&catalog_file, products)?;
    }
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
        // (writers, events per append call, events in total): a checkout station has a handful of concurrent
        // producers; 64 shows where group commit goes with many.
        for (i, (writers, batch, total)) in [(1, 1, 10_000), (8, 1, 40_000), (8, 4, 40_000), (64, 1, 40_000)]
            .into_iter()
            .enumerate()
        {
            let r = bench_outbox_append(&scratch.0.join(format!("outbox-{i}")), writers, batch, total)?;
            let what = if batch == 1 {
                format!("durable outbox appends/s, {writers} writer(s), 1 event per append, group commit")
            } else {
                format!("durable outbox events/s, {writers} writers, append_batch of {batch} events, group commit")
            };
            row(
                &format!("{what} ({:.1} events per log fdatasync)", r.per_commit),
                &format!("{:.0}/s", r.per_s),
                "≥ 20,000/s",
            );
        }
        let syncs = bench_raw_fdatasync(&scratch.0.join("raw-sync"), 5_000)?;
        row(
            "baseline, this disk: one thread writing 300 B + fdatasync in a loop (a preallocated file, as the outbox's log)",
            &format!("{syncs:.0}/s"),
            "report",
        );
        println!("reproduce: target/release/omnigate bench outbox-append 2>/dev/null");
    }
    if want(Which::OutboxDrain) {
        let r = bench_outbox_drain(&scratch.0.join("drain"), DRAIN_EVENTS)?;
        row(
            &format!(
                "outbox drain, {DRAIN_EVENTS} queued events to a local Mosquitto, QoS 1, window {}: omnigate link \
                 (mqtt::run until the outbox is empty)",
                r.window
            ),
            &format!("{:.0}/s", r.link_per_s),
            "≥ 0.8 × plain",
        );
        row(
            &format!(
                "same payloads, plain rumqttc QoS 1 publisher, window {}, same broker",
                r.window
            ),
            &format!("{:.0}/s", r.plain_per_s),
            "baseline",
        );
        row(
            "drain ratio, omnigate link / plain rumqttc",
            &format!("{:.2}×", r.link_per_s / r.plain_per_s),
            "≥ 0.8×",
        );
        println!("reproduce: target/release/omnigate bench outbox-drain 2>/dev/null");
    }
    if want(Which::Bridge) {
        bench_bridge(&scratch.0.join("bridge"), BRIDGE_EVENTS)?;
        println!("reproduce: target/release/omnigate bench bridge 2>/dev/null");
    }
    if want(Which::Sync) {
        let f = crate::bench_sync::run(&scratch.0.join("sync"), products, SYNC_PRICE_CHANGES)?;
        row(
            &format!(
                "snapshot of {} products: plan (diff, sign, chunk) at central",
                f.products
            ),
            &format!("{:.2} s", f.plan.as_secs_f64()),
            "report",
        );
        row(
            &format!("snapshot of {} products: publish → applied on the kiosk", f.products),
            &format!("{:.2} s", f.publish_and_apply.as_secs_f64()),
            "≤ 5 s",
        );
        row(
            "kiosk daemon peak RSS over the sync run (snapshot, then the price changes)",
            &format!("{:.1} MB", f.daemon_peak_rss_kb as f64 / 1024.0),
            "≤ 48 MB",
        );
        row(
            "peak RSS of the process that applied the snapshot (the daemon's child, from catalog.applied)",
            &format!("{:.1} MB", f.apply_peak_rss_kb as f64 / 1024.0),
            "≤ 48 MB",
        );
        let samples: Vec<f64> = f.price_to_screen.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        let (p50, _) = percentiles(samples.clone());
        let max = samples.iter().copied().fold(0.0, f64::max);
        row(
            &format!(
                "price change published → on screen, {} changes, p50 / max",
                samples.len()
            ),
            &format!("{p50:.0} ms / {max:.0} ms"),
            "≤ 1 s",
        );
    }
    if want(Which::CheckoutScan) {
        checkout_scan_rows(&scratch.0.join("checkout"), products)?;
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

/// Scans measured per row of `bench checkout-scan`.
const CHECKOUT_SCANS: usize = 2_000;

fn checkout_scan_rows(dir: &Path, products: u64) -> Result<(), BenchError> {
    let f = crate::bench_checkout::run(dir, products, CHECKOUT_SCANS)?;
    let (p50, p99, max) = f.scan_us;
    row(
        &format!(
            "checkout scan, 50-line basket with active promotions (percent, amount, fixed, 3×2, second at 50 %, \
             mix-and-match, member prices) and weighed lines: bytes → decode + lookup → station step → view → \
             240×320 frame, {} scans, p50 / p99 / max",
            f.scans
        ),
        &format!("{p50:.0} µs / {p99:.0} µs / {max:.0} µs"),
        "p99 ≤ 1 ms",
    );
    let [lookup, step, shown, draw] = f.phase_p50_us;
    row(
        &format!(
            "checkout scan, where the time goes (p50 of each): decode + lookup / station step (prices the basket) \
             / view (prices it again for the discount reasons: {:.0} µs of it) / drawing the frame",
            f.repricing_p50_us
        ),
        &format!("{lookup:.0} µs / {step:.0} µs / {shown:.0} µs / {draw:.0} µs"),
        "report",
    );
    let (c50, c99) = f.commit_us;
    row(
        &format!(
            "checkout scan persisted: state {:.1} KB at 50 lines serialised (p50 {:.0} µs) + outbox commit (events \
             and state, one frame), 1 station, {} scans, p50 / p99; outbox commits per scan",
            f.state_bytes as f64 / 1024.0,
            f.serialise_p50_us,
            f.persisted_scans
        ),
        &format!("{c50:.0} µs / {c99:.0} µs; {:.2} commits per scan", f.commits_per_scan),
        "≤ 1 commit per scan",
    );
    // The commit is one fdatasync: its latency is the disk's, so the same run says what the disk gives now.
    let syncs = bench_raw_fdatasync(&dir.join("raw-sync"), 1_000)?;
    row(
        "baseline, this disk during the run: one thread writing 300 B + fdatasync in a loop",
        &format!("{:.0} µs per sync", 1e6 / syncs),
        "report",
    );
    row(
        &format!(
            "checkout scans/s, {} stations sharing one outbox (each scan processed and committed), group commit",
            f.stations
        ),
        &format!(
            "{:.0}/s; {:.2} commits per scan",
            f.shared_scans_per_s, f.shared_commits_per_scan
        ),
        "< 1 commit per scan",
    );
    println!("reproduce: target/release/omnigate bench checkout-scan 2>/dev/null");
    Ok(())
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

/// What one append measurement gave.
struct AppendRate {
    /// Confirmed events per second.
    per_s: f64,
    /// Events covered by one commit (log write + fdatasync, or a checkpoint), on average.
    per_commit: f64,
}

/// `writers` threads each append sale-sized events, `batch` per call (`append` when 1, else `append_batch`),
/// `total` in all; every call returns only once its events are durable, so the rate is what group commit
/// achieves on this disk with that many concurrent producers.
/// What the disk gives one thread that syncs every write: the ceiling of a lone appender, and the unit in which
/// group commit's gain is counted (this VM's fdatasync takes 110–200 µs depending on the minute).
fn bench_raw_fdatasync(path: &Path, n: u64) -> Result<f64, BenchError> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(setup("create the baseline file"))?;
    let record = [b'x'; 300];
    file.write_all_at(&vec![0u8; (n as usize) * record.len()], 0)
        .and_then(|()| file.sync_all())
        .map_err(setup("preallocate the baseline file"))?;
    let start = Instant::now();
    for i in 0..n {
        file.write_all_at(&record, i * record.len() as u64)
            .and_then(|()| file.sync_data())
            .map_err(setup("write + fdatasync"))?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn bench_outbox_append(dir: &Path, writers: u64, batch: u64, total: u64) -> Result<AppendRate, BenchError> {
    let store = OutboxStore::open(dir, 8 * 1024 * 1024, "bench-till").map_err(setup("open outbox"))?;
    let payload = serde_json::json!({ "basket": 123, "lines": 4, "total_cents": 1299, "tender": "card" });
    let calls_each = total / writers / batch;
    let start = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..writers)
            .map(|_| {
                let (store, payload) = (&store, &payload);
                s.spawn(move || -> Result<(), BenchError> {
                    for _ in 0..calls_each {
                        if batch == 1 {
                            store
                                .append("sale", EventClass::Money, payload.clone())
                                .map_err(setup("append"))?;
                        } else {
                            let events = (0..batch).map(|_| sale_event(payload.clone())).collect();
                            store.append_batch(events).map_err(setup("append_batch"))?;
                        }
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
    let elapsed = start.elapsed().as_secs_f64();
    let events = (writers * calls_each * batch) as f64;
    Ok(AppendRate {
        per_s: events / elapsed,
        per_commit: events / store.commits().max(1) as f64,
    })
}

fn sale_event(payload: serde_json::Value) -> NewEvent {
    NewEvent {
        kind: "sale".into(),
        class: EventClass::Money,
        payload,
        recorded_at_ms: None,
    }
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

// ---------------------------------------------------------------------------------------------------------------
// MQTT benchmarks: a Mosquitto of the bench's own, the link draining to it, and the bridge comparison.
//
// Plain rumqttc appears here (outside src/mqtt/) only as the measuring baseline and as the "central" subscriber
// and the bridge's publisher: what omnigate is compared with must not go through omnigate's own link.
// ---------------------------------------------------------------------------------------------------------------

/// Events queued for `bench outbox-drain`.
const DRAIN_EVENTS: u64 = 50_000;
/// Events queued on each side of `bench bridge`.
const BRIDGE_EVENTS: u64 = 50_000;
/// Set in the child process of `bench bridge`: `append` or `drain`.
const DEVICE_CHILD_ENV: &str = "OMNIGATE_BENCH_DEVICE";
const DEVICE_DIR_ENV: &str = "OMNIGATE_BENCH_DEVICE_DIR";
const DEVICE_PORT_ENV: &str = "OMNIGATE_BENCH_DEVICE_PORT";
const DEVICE_EVENTS_ENV: &str = "OMNIGATE_BENCH_DEVICE_EVENTS";
const BENCH_STORE: &str = "BENCH";
const BENCH_DEVICE: &str = "bench-till";
/// Writers appending in the bridge bench's device (as in the outbox-append row with 8 writers).
const DEVICE_WRITERS: u64 = 8;

/// A port nobody listens on right now (the OS picks it).
fn free_port() -> Result<u16, BenchError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(setup("free port"))?;
    Ok(l.local_addr().map_err(setup("free port"))?.port())
}

/// The user this bench runs as: Mosquitto's `user` option, or, started as root, it drops to user "mosquitto",
/// which cannot write the log and persistence files in our temp dir.
fn current_user() -> String {
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "root".into())
}

fn mosquitto_binary() -> PathBuf {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("mosquitto"))
}

/// A Mosquitto on a free port with its config, log and persistence file in `dir`; SIGKILLed on drop.
pub(crate) struct Mosquitto {
    pub(crate) port: u16,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl Mosquitto {
    /// Writes the config (`extra` appended) and starts the broker, waiting until it listens.
    pub(crate) fn start(dir: &Path, persistence: bool, extra: &str) -> Result<Mosquitto, BenchError> {
        Mosquitto::start_on(dir, free_port()?, persistence, extra)
    }

    /// [`Mosquitto::start`] on a given port (a broker the other side already knows the address of).
    fn start_on(dir: &Path, port: u16, persistence: bool, extra: &str) -> Result<Mosquitto, BenchError> {
        std::fs::create_dir_all(dir).map_err(setup("broker dir"))?;
        let conf = format!(
            "user {user}\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence {persistence}\n\
             persistence_location {dir}/\nmax_queued_messages 1000000\nmax_inflight_messages 100\n\
             log_dest file {dir}/mosquitto.log\nlog_type error\nlog_type warning\nlog_type notice\n{extra}",
            user = current_user(),
            dir = dir.display(),
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).map_err(setup("broker config"))?;
        let mut m = Mosquitto {
            port,
            dir: dir.to_owned(),
            child: None,
        };
        m.spawn()?;
        Ok(m)
    }

    fn spawn(&mut self) -> Result<(), BenchError> {
        let child = std::process::Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(setup("start mosquitto (is it installed?)"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default();
                return Err(BenchError::Setup {
                    what: "mosquitto",
                    reason: format!("exited at start ({status}); log:\n{log}"),
                });
            }
            if Instant::now() > deadline {
                return Err(BenchError::Setup {
                    what: "mosquitto",
                    reason: format!("not listening on {} within 10 s", self.port),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// SIGTERM, then wait: a persistent broker saves its database.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) on our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    /// SIGKILL: whatever the broker had only in memory is gone.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `[mqtt]` for a broker on localhost, everything else at the daemon's defaults (window included).
fn mqtt_config(port: u16) -> Result<crate::config::MqttConfig, BenchError> {
    toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {port}\nbackoff_initial_ms = 50\nbackoff_max_ms = 500\n"
    ))
    .map_err(setup("mqtt config"))
}

/// A running `mqtt::run` of omnigate's own, with the channels the daemon would hold.
struct Link {
    task: tokio::task::JoinHandle<Result<(), crate::mqtt::MqttError>>,
    stop: tokio_util::sync::CancellationToken,
    /// The daemon's ends of the link's channels, held so the link never sees them closed.
    _keep: LinkEnds,
}

/// The daemon's ends of the link's channels (state, status, inbound, acks, subscriptions).
struct LinkEnds {
    _state: tokio::sync::watch::Receiver<crate::mqtt::LinkState>,
    _status: tokio::sync::watch::Sender<Vec<u8>>,
    _inbound: tokio::sync::mpsc::Receiver<crate::mqtt::InboundMessage>,
    _acker: crate::mqtt::Acker,
    _subscriptions: tokio::sync::mpsc::UnboundedSender<crate::mqtt::Subscription>,
}

/// Starts the link on the current runtime (call inside it). The window is the config's `max_in_flight`.
fn start_link(store: &std::sync::Arc<OutboxStore>, port: u16) -> Result<Link, BenchError> {
    use crate::mqtt::{self, LinkIo, LinkSettings, LinkState};
    let settings = LinkSettings::from_config(&mqtt_config(port)?, BENCH_STORE, BENCH_DEVICE, Vec::new())
        .map_err(setup("link settings"))?;
    let (state_tx, state_rx) = tokio::sync::watch::channel(LinkState::default());
    let (status_tx, status) = tokio::sync::watch::channel(Vec::new());
    let (inbound, inbound_rx) = tokio::sync::mpsc::channel(8);
    let (acker, acks) = mqtt::ack_channel();
    let (sub_tx, subscriptions) = tokio::sync::mpsc::unbounded_channel();
    let io = LinkIo {
        appended: std::sync::Arc::new(tokio::sync::Notify::new()),
        inbound,
        acks,
        subscriptions,
        status,
        state: state_tx,
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(mqtt::run(settings, store.clone(), io, stop.clone()));
    Ok(Link {
        task,
        stop,
        _keep: LinkEnds {
            _state: state_rx,
            _status: status_tx,
            _inbound: inbound_rx,
            _acker: acker,
            _subscriptions: sub_tx,
        },
    })
}

impl Link {
    async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Polls (1 ms) until the outbox is empty, or fails after `within`.
async fn wait_empty(store: &OutboxStore, within: Duration) -> Result<(), BenchError> {
    let deadline = Instant::now() + within;
    loop {
        let depth = store.status().map_err(setup("outbox status"))?.depth;
        if depth == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Setup {
                what: "drain",
                reason: format!("{depth} events still queued after {within:?}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Queues `n` sale events quickly (batches of 500: the setup, not what is measured).
fn fill_outbox(store: &OutboxStore, n: u64) -> Result<(), BenchError> {
    let mut left = n;
    while left > 0 {
        let k = left.min(500);
        let events = (0..k)
            .map(|i| sale_event(serde_json::json!({ "basket": i, "lines": 4, "total_cents": 1299, "tender": "card" })))
            .collect();
        store.append_batch(events).map_err(setup("fill outbox"))?;
        left -= k;
    }
    Ok(())
}

struct DrainRates {
    window: u16,
    link_per_s: f64,
    plain_per_s: f64,
}

fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    // As the daemon: two workers.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(setup("runtime"))
}

/// `n` events queued in a fresh outbox, drained by `mqtt::run` until the outbox is empty; then the same
/// payloads from a plain rumqttc client with the same in-flight window to the same broker.
fn bench_outbox_drain(dir: &Path, n: u64) -> Result<DrainRates, BenchError> {
    let broker = Mosquitto::start(&dir.join("broker"), false, "")?;
    let store = std::sync::Arc::new(
        OutboxStore::open(&dir.join("outbox"), 8 * 1024 * 1024, BENCH_DEVICE).map_err(setup("open outbox"))?,
    );
    fill_outbox(&store, n)?;
    let payloads: Vec<Vec<u8>> = store
        .pending_encoded(0, usize::MAX)
        .map_err(setup("read outbox"))?
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect();
    let window = mqtt_config(broker.port)?.max_in_flight;
    let rt = runtime()?;
    let link_s = rt.block_on(async {
        let start = Instant::now();
        let link = start_link(&store, broker.port)?;
        wait_empty(&store, Duration::from_secs(120)).await?;
        let elapsed = start.elapsed();
        link.stop().await;
        Ok::<_, BenchError>(elapsed.as_secs_f64())
    })?;
    let topic = crate::mqtt::Topics::new(BENCH_STORE, BENCH_DEVICE).events();
    let plain_s = rt.block_on(plain_publish(broker.port, "bench-plain", &topic, payloads, window))?;
    Ok(DrainRates {
        window,
        link_per_s: n as f64 / link_s,
        plain_per_s: n as f64 / plain_s,
    })
}

/// The baseline: a plain rumqttc QoS 1 publisher (window `window`) sending `payloads`; seconds from the start
/// until the last PUBACK.
async fn plain_publish(
    port: u16,
    client_id: &str,
    topic: &str,
    payloads: Vec<Vec<u8>>,
    window: u16,
) -> Result<f64, BenchError> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let n = payloads.len();
    let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_inflight(window)
        .set_max_packet_size(256 * 1024, 256 * 1024);
    let start = Instant::now();
    let (client, mut eventloop) = AsyncClient::new(o, usize::from(window) + 64);
    let topic = topic.to_owned();
    let publisher = tokio::spawn(async move {
        for p in payloads {
            if client
                .publish(topic.as_str(), QoS::AtLeastOnce, false, p)
                .await
                .is_err()
            {
                break;
            }
        }
        client
    });
    let mut acked = 0usize;
    let deadline = Duration::from_secs(120);
    let result = tokio::time::timeout(deadline, async {
        while acked < n {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => return Err(setup("plain publisher")(e)),
            }
        }
        Ok(())
    })
    .await;
    let elapsed = start.elapsed().as_secs_f64();
    if let Ok(client) = publisher.await {
        let _ = client.try_disconnect();
    }
    match result {
        Ok(Ok(())) => Ok(elapsed),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(BenchError::Setup {
            what: "plain publisher",
            reason: format!("only {acked} of {n} acknowledged within {deadline:?}"),
        }),
    }
}

/// "Central": a persistent-session QoS 1 subscriber to every device's events topic, counting messages and
/// distinct event ids.
struct CentralCounter {
    ids: std::sync::Arc<std::sync::Mutex<(u64, std::collections::HashSet<String>)>>,
}

impl CentralCounter {
    /// Connects and returns once the subscription is confirmed.
    fn start(port: u16, id: &str) -> Result<CentralCounter, BenchError> {
        use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
        let ids: std::sync::Arc<std::sync::Mutex<(u64, std::collections::HashSet<String>)>> = Default::default();
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = Client::new(o, 1024);
        client
            .subscribe("omnigate/v1/stores/+/devices/+/events", QoS::AtLeastOnce)
            .map_err(setup("central subscribe"))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let seen = ids.clone();
        std::thread::spawn(move || {
            let _client = client;
            for ev in connection.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let id = serde_json::from_slice::<serde_json::Value>(&p.payload)
                            .ok()
                            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned));
                        let mut g = seen.lock().unwrap_or_else(|e| e.into_inner());
                        g.0 += 1;
                        if let Some(id) = id {
                            g.1.insert(id);
                        }
                    }
                    Ok(_) => {}
                    // The bench drops the broker at the end; a loop without a pause would spin.
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(setup("central subscription"))?;
        Ok(CentralCounter { ids })
    }

    /// (messages received, distinct ids)
    fn counts(&self) -> (u64, u64) {
        let g = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        (g.0, g.1.len() as u64)
    }

    /// Waits until `n` distinct ids arrived, or nothing new came for `quiet` (after `start`), or `within`
    /// passed; returns the counts and the time from `start` to the last new id.
    fn wait_for(&self, n: u64, start: Instant, quiet: Duration, within: Duration) -> (u64, u64, Duration) {
        let (mut last_count, mut last_change) = (0u64, start.elapsed());
        loop {
            let (msgs, distinct) = self.counts();
            if distinct != last_count {
                last_count = distinct;
                last_change = start.elapsed();
            }
            let now = start.elapsed();
            if distinct >= n || now > within || now.saturating_sub(last_change) > quiet {
                return (msgs, distinct, last_change);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// One bridge round: queue `n` events through a local bridging broker while central is down, stop it (SIGKILL
/// when `kill`, else SIGTERM), start central and its subscriber, restart the local broker, count arrivals.
/// Returns (seconds to queue, messages, distinct ids, time from restart to the last new id).
fn bridge_round(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    topic: &str,
    n: u64,
    kill: bool,
) -> Result<(f64, u64, u64, Duration), BenchError> {
    let central_port = free_port()?;
    let bridge_conf = format!(
        "autosave_interval {BRIDGE_AUTOSAVE_S}\nconnection central\naddress 127.0.0.1:{central_port}\n\
         topic omnigate/v1/# out 1\ncleansession false\nclientid bench-bridge\nstart_type automatic\n\
         restart_timeout 1\nbridge_protocol_version mqttv311\n"
    );
    let mut local = Mosquitto::start(&dir.join("local"), true, &bridge_conf)?;
    let payloads: Vec<Vec<u8>> = (1..=n)
        .map(|seq| {
            serde_json::to_vec(&serde_json::json!({
                "seq": seq, "id": format!("bench-bridge-{seq}"), "kind": "sale", "class": "money",
                "payload": { "basket": seq, "lines": 4, "total_cents": 1299, "tender": "card" }
            }))
            .expect("a JSON value always serialises")
        })
        .collect();
    let window = mqtt_config(central_port)?.max_in_flight;
    let queue_s = rt.block_on(plain_publish(local.port, "bench-pos", topic, payloads, window))?;
    // Every publish is acknowledged by the local broker: the producer considers them delivered. Stop it now.
    if kill {
        local.kill();
    } else {
        local.stop();
    }
    let central = Mosquitto::start_on(&dir.join("central"), central_port, false, "")?;
    let counter = CentralCounter::start(central.port, "bench-central")?;
    let restart = Instant::now();
    local.spawn()?;
    let (msgs, distinct, last) = counter.wait_for(n, restart, Duration::from_secs(5), Duration::from_secs(30));
    Ok((queue_s, msgs, distinct, last))
}

/// The bridge's Mosquitto persistence setting: Mosquitto has no per-message fsync; it writes its whole
/// database every `autosave_interval` seconds (default 1800) and at a clean stop. 1 s is the most favourable
/// setting short of never being killed.
const BRIDGE_AUTOSAVE_S: u64 = 1;

/// The peer comparison. Prints the table rows.
fn bench_bridge(dir: &Path, n: u64) -> Result<(), BenchError> {
    let topic = crate::mqtt::Topics::new(BENCH_STORE, "bench-bridge").events();
    let rt = runtime()?;

    // 1. A local Mosquitto bridging omnigate/v1/# to central, central down; stopped cleanly first (the control:
    //    the bridge does forward what it kept), then killed.
    for kill in [false, true] {
        let (queue_s, msgs, distinct, last) = bridge_round(&rt, &dir.join(format!("bridge-{kill}")), &topic, n, kill)?;
        let stop = if kill {
            "SIGKILLed"
        } else {
            "stopped cleanly (SIGTERM, control)"
        };
        row(
            &format!(
                "peer: Mosquitto bridge (persistence, autosave_interval {BRIDGE_AUTOSAVE_S} s), {n} QoS 1 events \
                 acknowledged in {queue_s:.1} s while central is down, broker {stop}, restarted, central up"
            ),
            &format!(
                "{distinct} of {n} arrived ({msgs} messages), last after {:.1} s",
                last.as_secs_f64()
            ),
            "report",
        );
    }

    // 2. omnigate: a device process appends while central is unreachable, is SIGKILLed, restarts and drains.
    let central_port = free_port()?;
    let outbox = dir.join("device-outbox");
    let t = Instant::now();
    let mut device = spawn_device("append", &outbox, central_port, n)?;
    let confirmed = read_device_line(&mut device, "appended ", Duration::from_secs(90))?;
    let append_s = t.elapsed().as_secs_f64();
    let _ = device.0.kill();
    let _ = device.0.wait();
    let central = Mosquitto::start_on(&dir.join("central2"), central_port, false, "")?;
    let counter = CentralCounter::start(central.port, "bench-central-2")?;
    let restart = Instant::now();
    let mut device = spawn_device("drain", &outbox, central_port, n)?;
    let (msgs, distinct, last) = counter.wait_for(n, restart, Duration::from_secs(5), Duration::from_secs(60));
    let _ = device.0.kill();
    let _ = device.0.wait();
    drop(central);
    row(
        &format!(
            "omnigate: {confirmed} events confirmed durable by {DEVICE_WRITERS} writers in {append_s:.1} s while \
             central is unreachable, device process SIGKILLed, restarted, central up"
        ),
        &format!(
            "{distinct} of {n} arrived ({msgs} messages, de-duplicated by id), last after {:.1} s",
            last.as_secs_f64()
        ),
        "all",
    );
    Ok(())
}

/// The device child and the lines it prints.
struct DeviceChild(std::process::Child, std::sync::mpsc::Receiver<String>);

fn spawn_device(mode: &str, dir: &Path, port: u16, n: u64) -> Result<DeviceChild, BenchError> {
    let exe = std::env::current_exe().map_err(setup("device child"))?;
    let mut child = std::process::Command::new(exe)
        .args(["bench", "bridge"])
        .env(DEVICE_CHILD_ENV, mode)
        .env(DEVICE_DIR_ENV, dir)
        .env(DEVICE_PORT_ENV, port.to_string())
        .env(DEVICE_EVENTS_ENV, n.to_string())
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(setup("device child"))?;
    let stdout = child.stdout.take().ok_or_else(|| BenchError::Setup {
        what: "device child",
        reason: "no stdout".into(),
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(DeviceChild(child, rx))
}

/// Waits for a line starting with `prefix`; returns the rest.
fn read_device_line(device: &mut DeviceChild, prefix: &str, within: Duration) -> Result<String, BenchError> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match device.1.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Ok(rest.to_owned());
                }
            }
            Err(e) => {
                return Err(BenchError::Setup {
                    what: "device child",
                    reason: format!("no \"{prefix}\" line: {e}"),
                })
            }
        }
    }
}

/// The device half of `bench bridge`: `append` opens the outbox, runs the link (central is unreachable) and
/// appends the events from [`DEVICE_WRITERS`] threads, prints `appended <n>` and waits to be killed; `drain`
/// reopens the outbox after the kill and runs the link until it is empty.
fn bridge_device_child(mode: &str) -> Result<ExitCode, BenchError> {
    let env = |name: &'static str| {
        std::env::var(name).map_err(|_| BenchError::Setup {
            what: "device child",
            reason: format!("{name} is not set"),
        })
    };
    let dir = PathBuf::from(env(DEVICE_DIR_ENV)?);
    let port: u16 = env(DEVICE_PORT_ENV)?.parse().map_err(setup("device port"))?;
    let n: u64 = env(DEVICE_EVENTS_ENV)?.parse().map_err(setup("device events"))?;
    let store =
        std::sync::Arc::new(OutboxStore::open(&dir, 8 * 1024 * 1024, BENCH_DEVICE).map_err(setup("open outbox"))?);
    let rt = runtime()?;
    let link = rt.block_on(async { start_link(&store, port) })?;
    match mode {
        "append" => {
            let payload = serde_json::json!({ "basket": 1, "lines": 4, "total_cents": 1299, "tender": "card" });
            std::thread::scope(|s| {
                for _ in 0..DEVICE_WRITERS {
                    let (store, payload) = (&store, &payload);
                    s.spawn(move || -> Result<(), BenchError> {
                        for _ in 0..n / DEVICE_WRITERS {
                            store
                                .append("sale", EventClass::Money, payload.clone())
                                .map_err(setup("append"))?;
                        }
                        Ok(())
                    });
                }
            });
            let depth = store.status().map_err(setup("outbox status"))?.depth;
            println!("appended {depth}");
            // Bounded, so an orphan ends on its own; the parent SIGKILLs it long before.
            std::thread::sleep(Duration::from_secs(300));
        }
        _ => {
            rt.block_on(async {
                let result = wait_empty(&store, Duration::from_secs(120)).await;
                link.stop().await;
                result
            })?;
            println!("drained");
        }
    }
    Ok(ExitCode::SUCCESS)
}
