//! Barcode scanners: serial, USB HID (evdev) and stdin (development), all delivering framed, debounced codes
//! as [`ScanEvent`]s on one channel. Owns tokio-serial and evdev, reopening with backoff after an unplug.
//! Never interprets a code: that is [`crate::barcode`]'s job. Never logs a code's content (it may be a
//! loyalty number), only its length.
//!
//! Layers: [`framing`] (sans-IO bytes → codes, debounce) and [`keymap`] (sans-IO key codes → bytes) are pure;
//! [`supervisor`] owns reopen/backoff over the small [`supervisor::Opener`] trait; [`serial`], [`hid`] and
//! [`stdin`] are the thin device edges.
//!
//! CONTRACT: [`ScanEvent`], [`spawn`], [`spawn_sharing_stdin`].

pub mod framing;
pub mod hid;
pub mod keymap;
pub mod serial;
pub mod stdin;
pub mod supervisor;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ScannerConfig, ScannerKind};
use supervisor::Supervision;

/// What a scanner reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEvent {
    /// One complete code, terminator removed, raw bytes (may hold GS 0x1D separators).
    Code(Vec<u8>),
    /// The scanner is (again) open and reading.
    Connected,
    /// The scanner went away; reopening in the background.
    Disconnected {
        /// Why, for the log.
        reason: String,
    },
}

/// Starts the configured scanner; events arrive on `tx` until `cancel` fires.
///
/// The task ends when `cancel` fires or the receiver of `tx` is dropped. A scanner that is absent or
/// unplugged is reported as [`ScanEvent::Disconnected`] (once per outage) and reopened in the background.
/// Must be called inside a tokio runtime.
pub fn spawn(cfg: &ScannerConfig, tx: mpsc::Sender<ScanEvent>, cancel: CancellationToken) -> JoinHandle<()> {
    spawn_sharing_stdin(cfg, None, tx, cancel)
}

/// [`spawn`], where a stdin scanner reads `stdin_lines` (the `lines` of [`stdin::stdin_streams`]) instead of
/// starting its own reader, so one reader of standard input serves both the scanner and the station keys.
/// `None`, or another scanner kind, behaves as [`spawn`] (the lines are dropped: the reader logs and skips them).
pub fn spawn_sharing_stdin(
    cfg: &ScannerConfig,
    stdin_lines: Option<mpsc::Receiver<std::io::Result<Vec<u8>>>>,
    tx: mpsc::Sender<ScanEvent>,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let sup = Supervision {
        debounce: Duration::from_millis(cfg.debounce_ms),
        backoff_max: Duration::from_millis(cfg.reopen_backoff_max_ms),
    };
    match (cfg.kind, &cfg.serial, &cfg.hid) {
        (ScannerKind::Serial, Some(s), _) => {
            tokio::spawn(supervisor::supervise(serial::SerialOpener::new(s), sup, tx, cancel))
        }
        (ScannerKind::Hid, _, Some(h)) => tokio::spawn(supervisor::supervise(hid::HidOpener::new(h), sup, tx, cancel)),
        (ScannerKind::Stdin, _, _) => {
            let lines = stdin_lines.unwrap_or_else(stdin::stdin_lines);
            tokio::spawn(stdin::run(lines, sup.debounce, tx, cancel))
        }
        (kind, _, _) => {
            // Config validation rejects this; should it slip through, say so on screen instead of panicking.
            let reason = format!("scanner.kind = {kind:?} but its settings section is missing");
            tracing::error!("{reason}");
            tokio::spawn(async move {
                if supervisor::send(&tx, ScanEvent::Disconnected { reason }, &cancel).await {
                    cancel.cancelled().await;
                }
            })
        }
    }
}
