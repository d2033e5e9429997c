//! Benchmarks of central → kiosk sync through a real broker and the real daemon: a 100,000-product snapshot
//! published and applied (time and the daemon's peak RSS), and price-change-to-screen latency (a delta
//! published → the product on the simulator panel redrawn with the new price).
//!
//! Owns only the measuring: the daemon is this binary run as a child (`omnigate run`), the publisher is
//! `omnigate central`'s own code ([`crate::central::plan_publish`] + [`crate::mqtt::oneshot::publish_all`]),
//! the broker is the benchmarks' Mosquitto on a free port.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::{setup, BenchError, Mosquitto};
use crate::catalog::update::SigningKey;
use crate::mqtt::oneshot::{BrokerParams, ToolOptions};

/// What the sync benchmarks measured.
#[derive(Debug, Clone)]
pub struct SyncFigures {
    /// Products in the snapshot.
    pub products: u64,
    /// Central's side: plan (delta/snapshot, sign, chunk) of the whole catalog.
    pub plan: Duration,
    /// From the first message published to the kiosk reporting the new central version.
    pub publish_and_apply: Duration,
    /// Peak resident memory of the daemon over the whole run (VmHWM).
    pub daemon_peak_rss_kb: u64,
    /// Peak resident memory of the process that applied the snapshot (from its `catalog.applied` event).
    pub apply_peak_rss_kb: u64,
    /// Price change published → redrawn on screen, one sample per change.
    pub price_to_screen: Vec<Duration>,
}

/// A child process killed on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs both sync benchmarks with a catalog of `products` and `changes` price changes.
pub fn run(dir: &Path, products: u64, changes: usize) -> Result<SyncFigures, BenchError> {
    std::fs::create_dir_all(dir).map_err(setup("scratch dir"))?;
    let broker = Mosquitto::start(&dir.join("broker"), false, "message_size_limit 0\n")?;
    let port = broker.port;
    let key = SigningKey::from_seed(&[42; 32]);
    let state = dir.join("kiosk");
    std::fs::create_dir_all(&state).map_err(setup("state dir"))?;
    let cfg = dir.join("kiosk.toml");
    std::fs::write(
        &cfg,
        format!(
            "[device]\nstore_id = \"BENCH-1\"\ndevice_id = \"bench-kiosk\"\nlanguage = \"it\"\nstate_dir = \"{state}\"\n\
             [catalog]\ncache_capacity_mb = 8\n[scanner]\nkind = \"stdin\"\ndebounce_ms = 0\n\
             [display]\nkind = \"simulator\"\nidle_after_s = 600\n[display.simulator]\noutput_dir = \"{frames}\"\n\
             [mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\n\
             [central]\npublic_key = \"{key}\"\n",
            state = state.display(),
            frames = dir.join("frames").display(),
            key = key.public_base64()
        ),
    )
    .map_err(setup("kiosk config"))?;
    let (mut daemon, pid) = spawn_daemon(dir, &cfg)?;
    let mut stdin = daemon
        .0
        .stdin
        .take()
        .ok_or_else(|| setup("daemon stdin")("not piped"))?;

    // Central: the whole catalog as a snapshot.
    let catalog = dir.join("catalog.jsonl");
    crate::bench::write_synthetic_catalog(&catalog, products).map_err(setup("catalog"))?;
    let central_state = dir.join("central");
    // One worker, so the events subscription below keeps receiving between the publishes.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(setup("runtime"))?;
    let local = |client_id: &str| {
        ToolOptions::from_params(&BrokerParams {
            host: "127.0.0.1".into(),
            port,
            client_id: client_id.into(),
            ..BrokerParams::default()
        })
        .map_err(setup("broker options"))
    };
    let options = local("bench-central")?;
    let watch_options = local("bench-events")?;
    let mut events = rt.block_on(async {
        let mut rx = crate::mqtt::oneshot::subscribe(
            watch_options,
            vec![format!("{}/stores/+/devices/+/events", crate::mqtt::topics::ROOT)],
        );
        // Subscribed before anything is published.
        while let Some(w) = rx.recv().await {
            if matches!(w, crate::mqtt::oneshot::Watched::Connected) {
                break;
            }
        }
        rx
    });
    let t = Instant::now();
    let plan = crate::central::plan_publish("BENCH-1", &catalog, &central_state, &key, 192 * 1024, false)
        .map_err(setup("plan"))?;
    let plan_time = t.elapsed();
    let t = Instant::now();
    rt.block_on(crate::mqtt::oneshot::publish_all(
        &options,
        &plan.messages,
        &mut |_, _| {},
    ))
    .map_err(setup("publish"))?;
    plan.commit(&central_state).map_err(setup("commit"))?;
    wait_for_version(&state, 1, Duration::from_secs(120))?;
    let publish_and_apply = t.elapsed();
    let apply_peak_rss_kb = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(crate::mqtt::oneshot::Watched::Message { payload, .. })) => {
                    let e: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
                    if e["kind"] == "catalog.applied" {
                        return e["payload"]["apply_peak_rss_kb"].as_u64().unwrap_or(0);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return 0,
            }
        }
    });

    // A product on screen, then price changes published by central; each must redraw it.
    let gtin = crate::bench::synthetic_gtin(products / 2);
    let screen = dir.join("frames").join("screen.png");
    let before = screen_id(&screen);
    writeln!(stdin, "{}", gtin.display_form()).map_err(setup("scan"))?;
    wait_for_new_screen(&screen, before, Duration::from_secs(10))?;
    let mut samples = Vec::with_capacity(changes);
    let sku = format!("\"sku\":\"SKU{:07}\"", products / 2);
    let text = std::fs::read_to_string(&catalog).map_err(setup("catalog"))?;
    for round in 0..changes {
        // Only the one product's price changes: its line gets a new price each round.
        let changed: String = text
            .lines()
            .map(|l| {
                if l.contains(&sku) {
                    with_price(l, 100 + round as i64)
                } else {
                    l.to_owned()
                }
            })
            .fold(String::with_capacity(text.len()), |mut acc, l| {
                acc.push_str(&l);
                acc.push('\n');
                acc
            });
        let file = dir.join("changed.jsonl");
        std::fs::write(&file, changed).map_err(setup("changed catalog"))?;
        let plan = crate::central::plan_publish("BENCH-1", &file, &central_state, &key, 192 * 1024, false)
            .map_err(setup("plan"))?;
        let before = screen_id(&screen);
        let t = Instant::now();
        rt.block_on(crate::mqtt::oneshot::publish_all(
            &options,
            &plan.messages,
            &mut |_, _| {},
        ))
        .map_err(setup("publish"))?;
        wait_for_new_screen(&screen, before, Duration::from_secs(10))?;
        samples.push(t.elapsed());
        plan.commit(&central_state).map_err(setup("commit"))?;
    }
    let rss = crate::status::peak_rss_kb_of(&pid.to_string());
    drop(stdin);
    drop(daemon);
    drop(broker);
    Ok(SyncFigures {
        products,
        plan: plan_time,
        publish_and_apply,
        daemon_peak_rss_kb: rss,
        apply_peak_rss_kb,
        price_to_screen: samples,
    })
}

/// The same line with `price_cents` replaced.
fn with_price(line: &str, cents: i64) -> String {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(mut v) => {
            v["price_cents"] = cents.into();
            v.to_string()
        }
        Err(_) => line.to_owned(),
    }
}

fn spawn_daemon(dir: &Path, cfg: &Path) -> Result<(Reaped, u32), BenchError> {
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).map_err(setup("notify socket"))?;
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(setup("notify socket"))?;
    let exe = std::env::current_exe().map_err(setup("own binary"))?;
    let child = Command::new(exe)
        .args(["run", "--config"])
        .arg(cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(setup("start the daemon"))?;
    let pid = child.id();
    let child = Reaped(child);
    let mut buf = [0u8; 256];
    loop {
        let n = sock.recv(&mut buf).map_err(setup("waiting for READY=1"))?;
        if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
            return Ok((child, pid));
        }
    }
}

/// Polls the daemon's status (control socket) until central's catalog `version` is applied.
fn wait_for_version(state_dir: &Path, version: u64, within: Duration) -> Result<(), BenchError> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(mut r)) = crate::control::request(state_dir, &crate::control::Request::Status) {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut r, &mut line).is_ok() {
                let doc: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if doc["catalog"]["central_version"].as_u64() >= Some(version) {
                    return Ok(());
                }
            }
        }
        if Instant::now() > deadline {
            return Err(setup("sync")(format!(
                "central version {version} not applied within {within:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The panel file's identity: the simulator replaces it by rename for every frame, so a new inode is a new frame.
fn screen_id(path: &Path) -> Option<(u64, i64)> {
    std::fs::metadata(path).ok().map(|m| (m.ino(), m.mtime_nsec()))
}

fn wait_for_new_screen(path: &Path, before: Option<(u64, i64)>, within: Duration) -> Result<(), BenchError> {
    let deadline = Instant::now() + within;
    while screen_id(path) == before {
        if Instant::now() > deadline {
            return Err(setup("sync")(format!(
                "{} not redrawn within {within:?}",
                path.display()
            )));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    Ok(())
}
