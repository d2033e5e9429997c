//! GPIO lines through the Linux character device (gpio-cdev), chosen by chip *label* and line offset.
//!
//! Owns: finding the chip (Pi 5 kernels renumbered gpiochips, labels are stable), requesting a line as output
//! under the consumer name "omnigate", and active-low inversion. Users get an embedded-hal `OutputPin`.

use embedded_hal::digital::{ErrorType, OutputPin};
use linux_embedded_hal::gpio_cdev::{self, LineRequestFlags};
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
    let mut labels = Vec::new();
    let chips = gpio_cdev::chips().map_err(|source| GpioError::Line {
        chip: cfg.chip.clone(),
        line: cfg.line,
        source,
    })?;
    for chip in chips {
        let Ok(mut chip) = chip else { continue };
        if chip.label() != cfg.chip {
            labels.push(chip.label().to_string());
            continue;
        }
        let wrap = |source| GpioError::Line {
            chip: cfg.chip.clone(),
            line: cfg.line,
            source,
        };
        let line = chip.get_line(cfg.line).map_err(wrap)?;
        let off = u8::from(cfg.active_low);
        let handle = line.request(LineRequestFlags::OUTPUT, off, "omnigate").map_err(wrap)?;
        let pin = CdevPin::new(handle).map_err(wrap)?;
        return Ok(OutputLine {
            pin,
            active_low: cfg.active_low,
        });
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
