//! The daemon: wires config, catalog, scanner, kiosk, panel and feedback into running tasks, tells systemd
//! when it is ready and alive, and shuts everything down in order on SIGTERM/SIGINT within a deadline.
//!
//! Owns task lifetimes and timers (idle screen timeout, watchdog). Owns no business rule: what the screen
//! shows is [`crate::kiosk`]'s decision.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::barcode::Rules;
use crate::catalog::CatalogStore;
use crate::config::Config;
use crate::display::{self, Panel};
use crate::feedback::Feedback;
use crate::kiosk::{Kiosk, Reaction};
use crate::scanner::{self, ScanEvent};
use crate::snapshot::FollowedSnapshot;
use crate::storage::Storage;

/// How long tasks get to finish after a shutdown request; below systemd's TimeoutStopSec (10 s in the unit).
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// Why the daemon could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The catalog database could not be opened even after moving a damaged one aside.
    #[error("catalog database {dir}: {reason}")]
    Catalog {
        /// Directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// The start-up task failed to run.
    #[error("start-up: {0}")]
    Setup(String),
    /// The seed catalog could not be imported.
    #[error("seed catalog {file}: {reason}")]
    Seed {
        /// File.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The barcode rules in config do not compile (config validation should have caught it).
    #[error("barcode rules: {0}")]
    Rules(#[from] crate::barcode::RuleError),
    /// The panel could not be opened.
    #[error(transparent)]
    Display(#[from] display::DisplayError),
    /// Feedback outputs could not be opened.
    #[error(transparent)]
    Feedback(#[from] crate::feedback::FeedbackError),
}

/// Runs the kiosk until `shutdown` completes.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let started = Instant::now();
    tokio::pin!(shutdown);
    // Opening sled and importing a seed catalog block (file I/O, many fsyncs): off the async workers, and a stop
    // request during them is honoured at once (an interrupted import is finished or discarded at the next open).
    let setup_cfg = cfg.clone();
    // The kiosk reads the committed catalog's snapshot; sled is needed only to apply an import, so it is closed
    // when the task ends. That returns its page table (about 10 MB at 100 000 products) to the kiosk's memory
    // budget, and lets `omnigate catalog import` run while the kiosk serves shoppers.
    let setup = tokio::task::spawn_blocking(move || -> Result<_, DaemonError> {
        let storage = open_catalog(&setup_cfg)?;
        seed_if_empty(&setup_cfg, &storage)?;
        Ok((storage.snapshot(), storage.snapshot_path()))
    });
    let (snapshot, snapshot_path) = tokio::select! {
        _ = &mut shutdown => {
            tracing::info!("stop requested while opening the catalog");
            return Ok(());
        }
        r = setup => r.map_err(|e| DaemonError::Setup(e.to_string()))??,
    };
    release_freed_memory();
    let catalog = FollowedSnapshot::new(snapshot_path, snapshot);
    let rules = Rules::from_config(&cfg.barcode)?;
    let panel = display::open(&cfg.display, cfg.device.language)?;

    let cancel = CancellationToken::new();
    let feedback = Feedback::spawn(&cfg.feedback, cancel.child_token())?;
    let (scan_tx, scan_rx) = mpsc::channel(64);
    let scanner_task = scanner::spawn(&cfg.scanner, scan_tx, cancel.child_token());

    // No uplink yet: the kiosk is offline (and says so) until the MQTT link reports otherwise.
    let kiosk = Kiosk::new(rules, true);
    tracing::info!(
        store = %cfg.device.store_id,
        device = %cfg.device.device_id,
        products = catalog.current().len().unwrap_or(0),
        catalog_version = catalog.current().version(),
        ms = started.elapsed().as_millis() as u64,
        "ready"
    );
    let loop_result = run_loop(
        LoopParts {
            kiosk,
            catalog,
            panel,
            feedback: feedback.clone(),
            scan_rx,
            idle_after: Duration::from_secs(cfg.display.idle_after_s),
            watchdog: sd_notify::watchdog_enabled(),
        },
        &mut shutdown,
    )
    .await;

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("shutting down");
    cancel.cancel();
    // One deadline for everything, below systemd's TimeoutStopSec. The buzzer must be off before the process
    // exits, never left sounding.
    let stopped = async {
        let _ = scanner_task.await;
        feedback.stopped().await;
    };
    if tokio::time::timeout(SHUTDOWN_DEADLINE, stopped).await.is_err() {
        tracing::warn!("tasks did not stop within the shutdown deadline");
    }
    tracing::info!("stopped");
    loop_result
}

/// Everything the event loop drives.
pub struct LoopParts {
    /// Screen decisions.
    pub kiosk: Kiosk,
    /// Product lookups, following imports made while the kiosk runs.
    pub catalog: FollowedSnapshot,
    /// Where frames go.
    pub panel: Box<dyn Panel>,
    /// LED and buzzer.
    pub feedback: Feedback,
    /// Scanner events.
    pub scan_rx: mpsc::Receiver<ScanEvent>,
    /// Result screens return to idle after this.
    pub idle_after: Duration,
    /// systemd watchdog interval, when enabled.
    pub watchdog: Option<Duration>,
}

/// The event loop: scanner events and timers in, frames and signals out. Tells systemd READY=1 once the first
/// frame is on the panel.
pub async fn run_loop(parts: LoopParts, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let LoopParts {
        mut kiosk,
        mut catalog,
        mut panel,
        feedback,
        mut scan_rx,
        idle_after,
        watchdog,
    } = parts;
    show(panel.as_mut(), Some(kiosk.frame().clone()));
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    // Ping at half the interval so one slow frame push never trips the watchdog. WATCHDOG_USEC=0 means none.
    let watchdog = watchdog.filter(|w| !w.is_zero());
    let ping_every = watchdog
        .map(|w| (w / 2).max(Duration::from_millis(1)))
        .unwrap_or(Duration::from_secs(3600));
    let mut ping = tokio::time::interval(ping_every);
    let mut idle_deadline: Option<Instant> = None;
    let mut scanner_open = true;
    tokio::pin!(shutdown);
    loop {
        let idle = async {
            match idle_deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let reaction: Reaction = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            ev = scan_rx.recv(), if scanner_open => match ev {
                Some(ev) => {
                    // One stat per scan: a catalog imported meanwhile is what the shopper sees.
                    catalog.refresh();
                    kiosk.on_scanner(&ev, catalog.current())
                }
                None => {
                    // The scanner task ended (only happens on shutdown); keep serving until told to stop.
                    scanner_open = false;
                    continue;
                }
            },
            _ = idle => {
                idle_deadline = None;
                kiosk.on_idle_timeout()
            }
            _ = ping.tick() => {
                if watchdog.is_some() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
                continue;
            }
        };
        if let Some(s) = reaction.signal {
            feedback.signal(s);
        }
        show(panel.as_mut(), reaction.frame);
        idle_deadline = reaction
            .arm_idle_timer
            .then(|| Instant::now() + idle_after)
            .or(idle_deadline);
        if matches!(
            kiosk.frame().screen,
            crate::ui::Screen::Idle | crate::ui::Screen::ScannerDisconnected
        ) {
            idle_deadline = None;
        }
    }
}

/// Hands the memory sled used at start-up back to the kernel. glibc keeps freed blocks in the arena of the
/// thread that freed them (here the start-up thread), so without a trim the closed database's page table stays
/// resident (about 2 MB at 100 000 products).
fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn show(panel: &mut dyn Panel, frame: Option<crate::ui::Frame>) {
    if let Some(f) = frame {
        if let Err(e) = panel.show(&f) {
            // A flaky panel must not stop the till: log, and the next frame tries again.
            tracing::error!(error = %e, "frame not shown");
        }
    }
}

fn catalog_dir(cfg: &Config) -> PathBuf {
    cfg.device.state_dir.join("catalog")
}

/// Opens the catalog database. A *damaged* database (sled may panic or report corruption after some abrupt
/// stops, sled#1533) is moved aside rather than crash-looping the service: the kiosk then starts with the seed
/// catalog (central resends the catalog once connected), and the damaged copy stays for support to inspect.
pub fn open_catalog(cfg: &Config) -> Result<Storage, DaemonError> {
    let dir = catalog_dir(cfg);
    let cache = cfg.catalog.cache_capacity_mb * 1024 * 1024;
    match Storage::open(&dir, cache) {
        Ok(s) => Ok(s),
        Err(first) if !first.is_damaged_database() => {
            // Locked by another process, permissions, a newer layout: never a reason to touch the catalog.
            Err(DaemonError::Catalog {
                dir: dir.clone(),
                reason: first.to_string(),
            })
        }
        Err(first) => {
            let aside = move_aside(&dir).map_err(|e| DaemonError::Catalog {
                dir: dir.clone(),
                reason: format!("{first}; and it could not be moved aside: {e}"),
            })?;
            tracing::error!(error = %first, moved_to = %aside.display(), "catalog database unreadable, moved aside");
            Storage::open(&dir, cache).map_err(|e| DaemonError::Catalog {
                dir: dir.clone(),
                reason: e.to_string(),
            })
        }
    }
}

fn move_aside(dir: &Path) -> std::io::Result<PathBuf> {
    // A sequence number, not a timestamp: the Pi may have no valid clock.
    for n in 1..10_000u32 {
        let target = dir.with_extension(format!("damaged-{n}"));
        if !target.exists() {
            std::fs::rename(dir, &target)?;
            return Ok(target);
        }
    }
    Err(std::io::Error::other(
        "too many damaged catalog copies; remove old ones",
    ))
}

fn seed_if_empty(cfg: &Config, storage: &Storage) -> Result<(), DaemonError> {
    let Some(file) = &cfg.catalog.seed_file else {
        return Ok(());
    };
    let empty = storage.version().map(|v| v == 0).unwrap_or(false);
    if !empty {
        return Ok(());
    }
    let summary = storage.import_file(file, &|_| {}).map_err(|e| DaemonError::Seed {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    if let Some((line, reason)) = summary.rejected.first() {
        return Err(DaemonError::Seed {
            file: file.clone(),
            reason: format!(
                "line {line}: {reason} ({} line(s) rejected, nothing imported)",
                summary.rejected.len()
            ),
        });
    }
    tracing::info!(
        imported = summary.imported,
        version = summary.version,
        file = %file.display(),
        "seed catalog imported"
    );
    Ok(())
}
