//! The device's status as central and support see it: one JSON document, published retained on the status
//! topic at an interval and on change, and shown by `omnigate queue status`. Owns the document's shape
//! (docs/protocol.md, "status") and the health flags other tasks set; gathering the figures is the daemon's.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

/// Health flags set by the tasks that see the hardware, read when a status is built.
#[derive(Debug)]
pub struct Health {
    scanner_ok: AtomicBool,
    display_ok: AtomicBool,
    catalog_products: AtomicU64,
    catalog_version: AtomicU64,
    /// Index into [`PRINTER_STATES`].
    printer: std::sync::atomic::AtomicU8,
    changed: tokio::sync::Notify,
}

/// What the status says of the receipt printer.
pub const PRINTER_STATES: [&str; 7] = [
    "none",
    "ready",
    "paper_low",
    "paper_out",
    "cover_open",
    "offline",
    "unknown",
];

impl Default for Health {
    fn default() -> Self {
        Health {
            scanner_ok: AtomicBool::new(true),
            display_ok: AtomicBool::new(true),
            catalog_products: AtomicU64::new(0),
            catalog_version: AtomicU64::new(0),
            printer: std::sync::atomic::AtomicU8::new(0),
            changed: tokio::sync::Notify::new(),
        }
    }
}

impl Health {
    /// The scanner is connected (`true`) or unplugged.
    pub fn set_scanner(&self, ok: bool) {
        if self.scanner_ok.swap(ok, Ordering::Relaxed) != ok {
            self.changed.notify_one();
        }
    }

    /// The last frame reached the panel (`true`) or failed.
    pub fn set_display(&self, ok: bool) {
        if self.display_ok.swap(ok, Ordering::Relaxed) != ok {
            self.changed.notify_one();
        }
    }

    /// The catalog on screen: its (local) version and product count.
    pub fn set_catalog(&self, version: u64, products: u64) {
        self.catalog_products.store(products, Ordering::Relaxed);
        if self.catalog_version.swap(version, Ordering::Relaxed) != version {
            self.changed.notify_one();
        }
    }

    /// Products in the catalog on screen.
    pub fn catalog_products(&self) -> u64 {
        self.catalog_products.load(Ordering::Relaxed)
    }

    /// Resolves when a flag changed since the last call.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// `"ok"` or `"disconnected"`.
    /// The receipt printer's state, one of [`PRINTER_STATES`] (anything else reads as `unknown`).
    pub fn set_printer(&self, state: &str) {
        let i = PRINTER_STATES
            .iter()
            .position(|s| *s == state)
            .unwrap_or(PRINTER_STATES.len() - 1);
        let i = u8::try_from(i).unwrap_or(u8::MAX);
        if self.printer.swap(i, Ordering::Relaxed) != i {
            self.changed.notify_one();
        }
    }

    /// The receipt printer's state for the status.
    pub fn printer(&self) -> &'static str {
        PRINTER_STATES
            .get(usize::from(self.printer.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or("unknown")
    }

    /// `"ok"` or `"disconnected"`.
    pub fn scanner(&self) -> &'static str {
        if self.scanner_ok.load(Ordering::Relaxed) {
            "ok"
        } else {
            "disconnected"
        }
    }

    /// `"ok"` or `"error"`.
    pub fn display(&self) -> &'static str {
        if self.display_ok.load(Ordering::Relaxed) {
            "ok"
        } else {
            "error"
        }
    }
}

/// The status document (protocol v1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceStatus {
    /// Document version.
    pub v: u32,
    /// `"online"` (the last will and a clean shutdown publish `"offline"`, see [`offline`]).
    pub state: &'static str,
    /// Store id.
    pub store: String,
    /// Device id.
    pub device: String,
    /// omnigate's version.
    pub software: &'static str,
    /// Counts the documents this process published: a newer one has a higher number (within one run).
    pub status_seq: u64,
    /// Seconds since the daemon started (monotonic).
    pub uptime_s: u64,
    /// Whether the wall clock is synchronised; ages below are `null` while it is not.
    pub clock_synced: bool,
    /// The catalog on screen.
    pub catalog: CatalogStatus,
    /// Events waiting for central.
    pub outbox: QueueStatus,
    /// Hardware.
    pub health: HealthStatus,
    /// Space on the state directory's file system.
    pub disk: DiskStatus,
    /// The kiosk is locked by central ("out of order").
    pub locked: bool,
}

/// Catalog part of the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogStatus {
    /// Version as central numbers it (0 = never received one from central).
    pub central_version: u64,
    /// Products on screen.
    pub products: u64,
    /// Seconds since the catalog on screen was applied, when the clock is synchronised.
    pub age_s: Option<u64>,
}

/// Outbox part of the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStatus {
    /// Events not yet acknowledged by central.
    pub depth: u64,
    /// Lowest seq not yet acknowledged.
    pub oldest_seq: Option<u64>,
    /// Seconds since the oldest pending event was recorded, when known (clock synchronised then and now).
    pub oldest_age_s: Option<u64>,
    /// Bytes on disk for them.
    pub bytes: u64,
    /// The configured budget.
    pub budget_bytes: u64,
    /// Highest seq central acknowledged since start.
    pub last_acked_seq: Option<u64>,
    /// Telemetry dropped for lack of room since start.
    pub dropped_telemetry: u64,
    /// The budget has no room for a sale: the kiosk takes none.
    pub sales_blocked: bool,
}

/// Hardware part of the status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthStatus {
    /// `"ok"` or `"disconnected"`.
    pub scanner: &'static str,
    /// `"ok"` or `"error"`.
    pub display: &'static str,
    /// The receipt printer: `"none"` (no printer: e-receipts only, or a price-check kiosk), `"ready"`,
    /// `"paper_low"`, `"paper_out"`, `"cover_open"`, `"offline"`, `"unknown"` (configured, not asked yet).
    pub printer: &'static str,
}

/// Disk part of the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskStatus {
    /// Bytes available to the daemon.
    pub free_bytes: u64,
    /// Size of the file system.
    pub total_bytes: u64,
}

/// The offline document: the last will, and what a clean shutdown publishes.
pub fn offline(store: &str, device: &str) -> Vec<u8> {
    serde_json::json!({
        "v": 1,
        "state": "offline",
        "store": store,
        "device": device,
        "software": env!("CARGO_PKG_VERSION"),
    })
    .to_string()
    .into_bytes()
}

/// Free and total bytes of the file system holding `path` (zeros when it cannot be read).
pub fn disk_usage(path: &Path) -> DiskStatus {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return DiskStatus {
            free_bytes: 0,
            total_bytes: 0,
        };
    };
    // SAFETY: statvfs writes only into the zeroed struct we pass; the path is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return DiskStatus {
            free_bytes: 0,
            total_bytes: 0,
        };
    }
    let frsize = st.f_frsize as u64;
    DiskStatus {
        free_bytes: st.f_bavail as u64 * frsize,
        total_bytes: st.f_blocks as u64 * frsize,
    }
}

/// Bytes as a person reads them: `512 B`, `12.3 kB`, `45.6 MB`, `1.2 GB`.
pub fn human_bytes(b: u64) -> String {
    match b {
        0..=9_999 => format!("{b} B"),
        10_000..=9_999_999 => format!("{:.1} kB", b as f64 / 1e3),
        10_000_000..=999_999_999 => format!("{:.1} MB", b as f64 / 1e6),
        _ => format!("{:.1} GB", b as f64 / 1e9),
    }
}

/// An age in seconds as a person reads it: `59 s`, `12 min`, `3 h`, `5 days`.
pub fn human_age(s: u64) -> String {
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// This process's peak resident memory (VmHWM) in kB, 0 when unreadable.
pub fn own_peak_rss_kb() -> u64 {
    peak_rss_kb_of("self")
}

/// Peak resident memory (VmHWM) in kB of process `pid` (`"self"` for this one), 0 when unreadable.
pub fn peak_rss_kb_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Seconds between two Unix-millisecond times, `None` when either is unknown (clock not synchronised).
pub fn age_s(then_ms: Option<u64>, now_ms: Option<u64>) -> Option<u64> {
    Some(now_ms?.saturating_sub(then_ms?) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_reported_only_when_both_times_are_known() {
        assert_eq!(age_s(Some(1_000), Some(61_500)), Some(60));
        assert_eq!(
            age_s(None, Some(61_500)),
            None,
            "event recorded before the clock was set"
        );
        assert_eq!(age_s(Some(1_000), None), None, "clock not synchronised now");
        assert_eq!(
            age_s(Some(5_000), Some(1_000)),
            Some(0),
            "a clock set back never gives a negative age"
        );
    }

    #[test]
    fn the_offline_document_names_the_device_and_says_offline() {
        let doc: serde_json::Value = serde_json::from_slice(&offline("S1", "k1")).expect("json");
        assert_eq!(doc["state"], "offline");
        assert_eq!(doc["device"], "k1");
        assert_eq!(doc["store"], "S1");
    }

    #[test]
    fn disk_usage_of_an_existing_directory_is_not_empty() {
        let d = disk_usage(Path::new("/"));
        assert!(d.total_bytes > 0 && d.free_bytes <= d.total_bytes, "{d:?}");
    }
}
