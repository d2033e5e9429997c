//! Whether the wall clock can be believed. A Pi has no real-time clock: until NTP has synchronised it after a
//! boot, the time may be days off. Wall-clock time is therefore only ever *shown* (event times, ages in the
//! status), and only when the kernel says the clock is synchronised; nothing is ordered or expired by it.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in Unix milliseconds, or `None` while the kernel reports the clock unsynchronised.
pub fn synced_unix_ms() -> Option<u64> {
    if !kernel_clock_synced() {
        return None;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

/// adjtimex(2) with no modes only reads: its return value is `TIME_ERROR` while the clock is not synchronised
/// (the kernel's STA_UNSYNC), which systemd-timesyncd and chrony clear once they have set the time.
///
/// The service unit's `ProtectClock=yes` forbids adjtimex even for reading (EPERM); then the flag file
/// systemd-timesyncd writes once it has synchronised the clock answers instead.
pub fn kernel_clock_synced() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: a zeroed timex with modes = 0 asks the kernel only to fill it in; no state is changed.
        let mut tx: libc::timex = unsafe { std::mem::zeroed() };
        let state = unsafe { libc::adjtimex(&mut tx) };
        if state >= 0 {
            return state != libc::TIME_ERROR;
        }
        std::path::Path::new(TIMESYNCD_FLAG).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Created by systemd-timesyncd when the clock is synchronised (see systemd-timesyncd.service(8)).
const TIMESYNCD_FLAG: &str = "/run/systemd/timesync/synchronized";
