//! GPIO lines through the Linux character device (gpio-cdev), chosen by chip *label* and line offset.
//!
//! Owns: finding the chip (Pi 5 kernels renumbered gpiochips, labels are stable), requesting a line as output
//! or as an edge-event input under the consumer name "omnigate", and active-low inversion. Output users get an
//! embedded-hal `OutputPin`; input users get blocking edge events ([`InputLine::next_edge`]) in logical levels.

use std::time::{Duration, Instant};

use embedded_hal::digital::{ErrorType, OutputPin};
use linux_embedded_hal::gpio_cdev::{self, Chip, EventRequestFlags, EventType, LineEventHandle, LineRequestFlags};
use linux_embedded_hal::CdevPin;

use crate::config::PinConfig;

/// A GPIO line that could not be opened or driven, naming chip and line.
#[derive(Debug, thiserror::Error)]
pub enum GpioError {
    /// No gpiochip has that label.
    #[error("no GPIO chip labelled {label:?} (found: {found})")]
    NoChip {
        /// Wanted label.
        label: String,
        /// Labels present, for the technician.
        found: String,
    },
    /// The kernel refused.
    #[error("GPIO {chip}:{line}: {source}")]
    Line {
        /// Chip label.
        chip: String,
        /// Line offset.
        line: u32,
        /// Kernel error.
        source: gpio_cdev::errors::Error,
    },
    /// Setting the level failed.
    #[error("GPIO set: {0}")]
    Set(String),
}

impl embedded_hal::digital::Error for GpioError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

/// An output line with logical on/off (active-low handled here, not by the wiring of callers).
pub struct OutputLine {
    pin: CdevPin,
    active_low: bool,
}

/// Requests `cfg` as an output, initially off.
pub fn open_output(cfg: &PinConfig) -> Result<OutputLine, GpioError> {
    let mut chip = find_chip(cfg)?;
    let wrap = |source| line_error(cfg, source);
    let line = chip.get_line(cfg.line).map_err(wrap)?;
    let off = u8::from(cfg.active_low);
    let handle = line.request(LineRequestFlags::OUTPUT, off, "omnigate").map_err(wrap)?;
    let pin = CdevPin::new(handle).map_err(wrap)?;
    Ok(OutputLine {
        pin,
        active_low: cfg.active_low,
    })
}

/// The chip labelled `cfg.chip`.
fn find_chip(cfg: &PinConfig) -> Result<Chip, GpioError> {
    let mut labels = Vec::new();
    let chips = gpio_cdev::chips().map_err(|source| line_error(cfg, source))?;
    for chip in chips {
        let Ok(chip) = chip else { continue };
        if chip.label() == cfg.chip {
            return Ok(chip);
        }
        labels.push(chip.label().to_string());
    }
    Err(GpioError::NoChip {
        label: cfg.chip.clone(),
        found: if labels.is_empty() {
            "none".into()
        } else {
            labels.join(", ")
        },
    })
}

fn line_error(cfg: &PinConfig, source: gpio_cdev::errors::Error) -> GpioError {
    GpioError::Line {
        chip: cfg.chip.clone(),
        line: cfg.line,
        source,
    }
}

/// An input line requested for edge events on both edges (a button). Levels are logical: `active` is true
/// when the line is at its active level (low for `active_low`), whatever the wiring.
pub struct InputLine {
    events: LineEventHandle,
    cfg: PinConfig,
}

/// One edge of an input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputEdge {
    /// The line is now at its active level (a button: pressed).
    pub active: bool,
    /// When the kernel saw the edge (when it was read, on kernels that stamp events with wall-clock time).
    pub at: Instant,
}

/// Requests `cfg` as an input with events on both edges.
///
/// The line's bias (pull-up or pull-down) is not set here: the v1 character-device ABI that gpio-cdev speaks
/// has no bias flags. A button needs its pull from the board, or from the firmware (`gpio=17=ip,pu` in a Pi's
/// config.txt).
pub fn open_input(cfg: &PinConfig) -> Result<InputLine, GpioError> {
    let mut chip = find_chip(cfg)?;
    let wrap = |source| line_error(cfg, source);
    let line = chip.get_line(cfg.line).map_err(wrap)?;
    // Active-low is applied here, not with the kernel's ACTIVE_LOW flag, the same way as for outputs: the
    // event type is then always the physical level, and one place inverts it.
    let events = line
        .events(LineRequestFlags::INPUT, EventRequestFlags::BOTH_EDGES, "omnigate")
        .map_err(wrap)?;
    Ok(InputLine {
        events,
        cfg: cfg.clone(),
    })
}

impl InputLine {
    /// Blocks until the line's next edge. For a both-edges request the kernel reports the level it read in its
    /// interrupt thread just after the edge, so under contact bounce two edges in a row can report the same
    /// level; the debouncer upstream expects that.
    pub fn next_edge(&mut self) -> Result<InputEdge, GpioError> {
        let event = self
            .events
            .get_event()
            .map_err(|source| line_error(&self.cfg, source))?;
        let read_at = Instant::now();
        let high = event.event_type() == EventType::RisingEdge;
        Ok(InputEdge {
            active: high != self.cfg.active_low,
            at: edge_instant(read_at, monotonic_ns(), event.timestamp()),
        })
    }

    /// The line's chip label and offset, for messages (`pinctrl-rp1:17`).
    pub fn name(&self) -> String {
        format!("{}:{}", self.cfg.chip, self.cfg.line)
    }
}

/// Oldest kernel timestamp still believed: an older one is from another clock (see [`edge_instant`]).
const MAX_EVENT_AGE: Duration = Duration::from_secs(10);

/// When an edge stamped `event_ns` happened, given that it was read at `read_at` when CLOCK_MONOTONIC read
/// `mono_now_ns`. The kernel stamps edges in its interrupt handler, so this keeps a burst of bounces read late
/// (a busy CPU) at their real spacing. Kernels before 5.7 stamp with CLOCK_REALTIME instead: a stamp that is
/// in the future or implausibly old is not on our clock, and the read time is used.
fn edge_instant(read_at: Instant, mono_now_ns: Option<u64>, event_ns: u64) -> Instant {
    let Some(now_ns) = mono_now_ns else { return read_at };
    match now_ns.checked_sub(event_ns).map(Duration::from_nanos) {
        Some(age) if age <= MAX_EVENT_AGE => read_at.checked_sub(age).unwrap_or(read_at),
        _ => read_at,
    }
}

/// CLOCK_MONOTONIC in nanoseconds (the clock of the kernel's event stamps; std's `Instant` does not expose it).
fn monotonic_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass, which lives for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

impl OutputLine {
    /// Logical on (LED lit, buzzer sounding, backlight on).
    pub fn set(&mut self, on: bool) -> Result<(), GpioError> {
        let high = on != self.active_low;
        let r = if high { self.pin.set_high() } else { self.pin.set_low() };
        r.map_err(|e| GpioError::Set(format!("{e:?}")))
    }
}

impl ErrorType for OutputLine {
    type Error = GpioError;
}

/// Raw level control, for drivers (mipidsi DC/RST) that expect a plain `OutputPin`.
impl OutputPin for OutputLine {
    fn set_low(&mut self) -> Result<(), GpioError> {
        self.pin.set_low().map_err(|e| GpioError::Set(format!("{e:?}")))
    }
    fn set_high(&mut self) -> Result<(), GpioError> {
        self.pin.set_high().map_err(|e| GpioError::Set(format!("{e:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_stamp_on_our_clock_dates_the_edge_back_from_its_read() {
        let read_at = Instant::now();
        let at = edge_instant(read_at, Some(5_000_000_000), 4_960_000_000);
        assert_eq!(
            read_at - at,
            Duration::from_millis(40),
            "a bounce read 40 ms late keeps its real time"
        );
    }

    #[test]
    fn a_stamp_from_another_clock_falls_back_to_the_read_time() {
        let read_at = Instant::now();
        // Pre-5.7 kernels: CLOCK_REALTIME, decades ahead of CLOCK_MONOTONIC since boot.
        assert_eq!(
            edge_instant(read_at, Some(5_000_000_000), 1_700_000_000_000_000_000),
            read_at
        );
        assert_eq!(
            edge_instant(read_at, Some(60_000_000_000), 1_000_000_000),
            read_at,
            "older than 10 s"
        );
        assert_eq!(edge_instant(read_at, None, 1), read_at, "no monotonic clock reading");
    }

    #[test]
    fn a_missing_chip_is_an_error_naming_the_chip() {
        let cfg = PinConfig {
            chip: "no-such-chip-omnigate".into(),
            line: 5,
            active_low: true,
        };
        let msg = open_input(&cfg)
            .err()
            .expect("no such chip on a test machine")
            .to_string();
        assert!(msg.contains("no-such-chip-omnigate"), "{msg}");
    }
}
