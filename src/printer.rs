//! The receipt printer edge: whether the printer can print now, and sending it the bytes of a receipt.
//!
//! Owns the devices (an ESC/POS printer on a serial line, a USB printer through the kernel's `usblp` line
//! printer driver, a file for development) behind one small blocking trait, [`Printer`], and `[printer]`'s
//! config ([`PrinterConfig`]). The daemon calls it through `spawn_blocking`. What a receipt says and its bytes
//! are [`crate::checkout::receipt`]'s; this module never builds or changes them.
//!
//! Must never print half a receipt into nothing: [`Printer::print`] asks the printer's status first and
//! refuses unless it can print, so the sale completes with the e-receipt QR code on screen instead. Must never
//! hang the caller: every status question has a timeout, and a device that vanished is reported
//! [`PrinterStatus::Offline`] (naming it) and opened again on the next call, so a USB replug is found again.
//!
//! `kind = "none"` is the e-receipt-only mode: [`open_printer`] gives no printer at all, so nothing can call
//! `print`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_serial::{ClearBuffer, DataBits, FlowControl, Parity, SerialPort, StopBits};

/// What the printer can do now: shown on screen and reported in the fleet status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PrinterStatus {
    /// Ready to print.
    Ready,
    /// Prints, but the roll is nearly finished: staff should change it soon.
    PaperLow,
    /// No paper: nothing is printed until the roll is changed.
    PaperOut,
    /// The cover is open.
    CoverOpen,
    /// The printer cannot be reached or reports an error.
    Offline {
        /// Why, naming the device.
        reason: String,
    },
}

impl PrinterStatus {
    /// Whether a receipt may be sent now (ready, or paper low).
    pub fn can_print(&self) -> bool {
        matches!(self, PrinterStatus::Ready | PrinterStatus::PaperLow)
    }
}

impl fmt::Display for PrinterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrinterStatus::Ready => f.write_str("ready"),
            PrinterStatus::PaperLow => f.write_str("paper low"),
            PrinterStatus::PaperOut => f.write_str("paper out"),
            PrinterStatus::CoverOpen => f.write_str("cover open"),
            PrinterStatus::Offline { reason } => write!(f, "offline: {reason}"),
        }
    }
}

/// Why a receipt was not printed.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    /// The printer cannot print now; nothing was sent.
    #[error("printer {device}: not printing, {status}")]
    NotReady {
        /// The device path.
        device: String,
        /// What the printer said (never `Ready` or `PaperLow`).
        status: PrinterStatus,
    },
    /// The paper ran out while the receipt was printing: the shopper holds at most part of it.
    #[error("printer {device}: ran out of paper while printing the receipt")]
    RanOut {
        /// The device path.
        device: String,
    },
    /// Writing the receipt failed: part of it may have been printed.
    #[error("printer {device}: writing the receipt failed: {source}")]
    Write {
        /// The device path.
        device: String,
        /// What the OS said.
        source: io::Error,
    },
}

/// A receipt printer. Blocking: call it from `spawn_blocking`.
pub trait Printer: Send {
    /// Asks the printer what it can do now. Bounded by the configured status timeout (per question).
    fn status(&mut self) -> PrinterStatus;

    /// Prints `bytes` (from [`crate::checkout::receipt::escpos`]) after checking [`Printer::status`];
    /// refuses with [`PrinterError::NotReady`] without sending anything when it cannot print. Returns once
    /// the bytes have left the computer (drained from the serial line, or taken by the USB printer).
    fn print(&mut self, bytes: &[u8]) -> Result<(), PrinterError>;

    /// What and where the printer is, for logs and the fleet status: e.g. `serial /dev/ttyUSB0 @ 19200`.
    fn describe(&self) -> String;
}

/// `[printer] kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterKind {
    /// An ESC/POS printer on a serial line (RS-232 or USB-serial adapter).
    Serial,
    /// A USB printer through the kernel's usblp driver (`/dev/usb/lp0`).
    UsbLp,
    /// Appends the receipts' bytes to a file (development).
    File,
    /// No printer: e-receipts only.
    #[default]
    None,
}

/// `[printer]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// Which kind of printer.
    #[serde(default)]
    pub kind: PrinterKind,
    /// The device (serial, usb_lp; a udev symlink is best) or file (file). Not used by `none`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Serial speed; must match the printer's setting (its self-test page shows it).
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Characters per line: 48 on 80 mm paper, 32 on 58 mm paper.
    #[serde(default = "default_columns")]
    pub columns: usize,
    /// How long to wait for the printer's answer to one status question (serial).
    #[serde(default = "default_status_timeout_ms")]
    pub status_timeout_ms: u64,
}

fn default_baud() -> u32 {
    // The factory setting of most ESC/POS serial printers.
    9600
}
fn default_columns() -> usize {
    48
}
fn default_status_timeout_ms() -> u64 {
    300
}

impl Default for PrinterConfig {
    fn default() -> Self {
        PrinterConfig {
            kind: PrinterKind::None,
            path: None,
            baud: default_baud(),
            columns: default_columns(),
            status_timeout_ms: default_status_timeout_ms(),
        }
    }
}

/// A `[printer]` value that cannot be used: the dotted key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct PrinterConfigError {
    /// Dotted key, e.g. `printer.columns`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

const BAUDS: [u32; 8] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];

impl PrinterConfig {
    /// Checks what serde cannot, naming the key.
    pub fn validate(&self) -> Result<(), PrinterConfigError> {
        let bad = |key: &str, reason: &str| {
            Err(PrinterConfigError {
                key: key.to_owned(),
                reason: reason.to_owned(),
            })
        };
        if self.kind != PrinterKind::None && self.path.as_deref().is_none_or(|p| p.as_os_str().is_empty()) {
            return bad("printer.path", "is required unless kind = \"none\"");
        }
        if self.kind == PrinterKind::Serial && !BAUDS.contains(&self.baud) {
            return bad(
                "printer.baud",
                "must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200",
            );
        }
        if self.columns != 32 && self.columns != 48 {
            return bad("printer.columns", "must be 32 (58 mm paper) or 48 (80 mm paper)");
        }
        if !(50..=5000).contains(&self.status_timeout_ms) {
            return bad("printer.status_timeout_ms", "must be between 50 and 5000");
        }
        Ok(())
    }
}

/// The printer `cfg` describes, not yet opened (devices are opened on first use, and again after they
/// vanish); `None` for `kind = "none"`, the e-receipt-only mode. Fails on a config [`PrinterConfig::validate`]
/// refuses.
pub fn open_printer(cfg: &PrinterConfig) -> Result<Option<Box<dyn Printer>>, PrinterConfigError> {
    cfg.validate()?;
    let path = cfg.path.clone().unwrap_or_default();
    Ok(match cfg.kind {
        PrinterKind::None => None,
        PrinterKind::Serial => Some(Box::new(SerialPrinter::new(
            path,
            cfg.baud,
            Duration::from_millis(cfg.status_timeout_ms),
        ))),
        PrinterKind::UsbLp => Some(Box::new(UsbLpPrinter::new(path))),
        PrinterKind::File => Some(Box::new(FilePrinter::new(path))),
    })
}

// ---------------------------------------------------------------------------------------------------------
// Serial ESC/POS
// ---------------------------------------------------------------------------------------------------------

/// DLE EOT n: real-time status request; the printer answers one byte even while offline.
const DLE_EOT: [u8; 2] = [0x10, 0x04];

/// Longest a receipt may take to leave the serial port (a few KiB at 9600 baud take a few seconds).
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// An ESC/POS printer on a serial line. Status from the real-time requests DLE EOT 1, 2 and 4.
pub struct SerialPrinter {
    path: PathBuf,
    baud: u32,
    timeout: Duration,
    port: Option<Box<dyn SerialPort>>,
}

impl SerialPrinter {
    /// A printer at `path` (often a udev symlink), `baud` 8N1 without flow control; `timeout` bounds the wait
    /// for each status answer. Opened on first use.
    pub fn new(path: impl Into<PathBuf>, baud: u32, timeout: Duration) -> SerialPrinter {
        SerialPrinter {
            path: path.into(),
            baud,
            timeout,
            port: None,
        }
    }

    fn device(&self) -> String {
        self.path.display().to_string()
    }

    fn offline(&self, why: impl fmt::Display) -> PrinterStatus {
        PrinterStatus::Offline {
            reason: format!("{}: {why}", self.device()),
        }
    }

    /// The open port, opening it first if needed (open(2) follows a udev symlink to the current device).
    fn port(&mut self) -> Result<&mut Box<dyn SerialPort>, String> {
        if self.port.is_none() {
            let port = tokio_serial::new(self.path.to_string_lossy(), self.baud)
                .data_bits(DataBits::Eight)
                .parity(Parity::None)
                .stop_bits(StopBits::One)
                .flow_control(FlowControl::None)
                .timeout(self.timeout)
                .open()
                .map_err(|e| format!("cannot open: {e}"))?;
            tracing::info!(device = %self.path.display(), "receipt printer opened");
            self.port = Some(port);
        }
        self.port.as_mut().ok_or_else(|| "not open".to_owned())
    }

    /// Asks DLE EOT `n` and reads the one-byte answer. `Err` is the reason the printer is offline; after an
    /// I/O error the port is closed so that the next call opens the device again (it may be a new one).
    fn query(&mut self, n: u8) -> Result<u8, String> {
        let timeout = self.timeout;
        let port = self.port()?;
        let asked = (|| {
            // A late answer to an earlier, timed-out question must not be taken for this one's.
            port.clear(ClearBuffer::Input).map_err(io::Error::from)?;
            port.set_timeout(timeout).map_err(io::Error::from)?;
            port.write_all(&[DLE_EOT[0], DLE_EOT[1], n])?;
            let mut answer = [0u8; 1];
            port.read_exact(&mut answer)?;
            Ok::<u8, io::Error>(answer[0])
        })();
        match asked {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                // The device is there but the printer is silent (switched off, wrong baud): keep the port.
                Err(format!(
                    "no answer to status request DLE EOT {n} within {} ms",
                    timeout.as_millis()
                ))
            }
            Err(e) => {
                tracing::warn!(device = %self.path.display(), error = %e, "receipt printer gone");
                self.port = None;
                Err(format!("{e}"))
            }
        }
    }
}

impl Printer for SerialPrinter {
    fn status(&mut self) -> PrinterStatus {
        let mut answers = [0u8; 3];
        for (answer, n) in answers.iter_mut().zip([1, 2, 4]) {
            match self.query(n) {
                Ok(b) => *answer = b,
                Err(reason) => return self.offline(reason),
            }
        }
        match decode_escpos_status(answers[0], answers[1], answers[2]) {
            PrinterStatus::Offline { reason } => self.offline(reason),
            status => status,
        }
    }

    fn print(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        let status = self.status();
        if !status.can_print() {
            return Err(PrinterError::NotReady {
                device: self.device(),
                status,
            });
        }
        let written = match self.port() {
            Ok(port) => (|| {
                port.set_timeout(WRITE_TIMEOUT).map_err(io::Error::from)?;
                port.write_all(bytes)?;
                // serialport's flush is tcdrain(3): back only once the bytes have left the UART.
                port.flush()
            })(),
            Err(reason) => Err(io::Error::new(io::ErrorKind::NotConnected, reason)),
        };
        written.map_err(|source| {
            self.port = None;
            PrinterError::Write {
                device: self.device(),
                source,
            }
        })?;
        // Asked again once the bytes are out: a roll that ends mid-receipt leaves the shopper half a receipt,
        // which must not count as printed (the screen then shows the e-receipt code).
        if matches!(self.status(), PrinterStatus::PaperOut) {
            return Err(PrinterError::RanOut { device: self.device() });
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("serial {} @ {}", self.device(), self.baud)
    }
}

/// Decodes the answers to DLE EOT 1 (printer status), 2 (offline cause) and 4 (roll paper sensor).
///
/// Each answer has fixed bits (bit 1 and bit 4 set, bits 0 and 7 clear); an answer without them is not a
/// status byte, and the printer is taken as offline. DLE EOT 1 bit 3: offline. DLE EOT 2 bit 2: cover open,
/// bit 5: stopped for paper end, bit 6: error. DLE EOT 4 bits 2-3: paper near end, bits 5-6: paper end.
pub fn decode_escpos_status(printer: u8, offline_cause: u8, paper: u8) -> PrinterStatus {
    for (n, b) in [(1, printer), (2, offline_cause), (4, paper)] {
        if b & 0x93 != 0x12 {
            return PrinterStatus::Offline {
                reason: format!("answered 0x{b:02X} to DLE EOT {n}, not a status byte"),
            };
        }
    }
    if offline_cause & 0x04 != 0 {
        PrinterStatus::CoverOpen
    } else if paper & 0x60 != 0 || offline_cause & 0x20 != 0 {
        PrinterStatus::PaperOut
    } else if offline_cause & 0x40 != 0 {
        PrinterStatus::Offline {
            reason: "printer reports an error (cutter jam or mechanism)".into(),
        }
    } else if printer & 0x08 != 0 {
        PrinterStatus::Offline {
            reason: "printer reports offline".into(),
        }
    } else if paper & 0x0C != 0 {
        PrinterStatus::PaperLow
    } else {
        PrinterStatus::Ready
    }
}

// ---------------------------------------------------------------------------------------------------------
// USB line printer (usblp)
// ---------------------------------------------------------------------------------------------------------

/// `LPGETSTATUS` from linux/lp.h: the printer's port status byte into an int.
const LPGETSTATUS: u64 = 0x060b;
/// `LPABORT` from linux/lp.h: with a non-zero argument, usblp fails a write on a printer error instead of
/// retrying it forever.
const LPABORT: u64 = 0x0604;
/// Paper out.
pub const LP_POUTPA: u8 = 0x20;
/// Selected (online).
pub const LP_PSELECD: u8 = 0x10;
/// No error (active high: clear means an error).
pub const LP_PERRORP: u8 = 0x08;

/// A USB printer through the kernel's usblp driver (`/dev/usb/lp0`). Status with the `LPGETSTATUS` ioctl.
pub struct UsbLpPrinter {
    path: PathBuf,
    file: Option<File>,
}

impl UsbLpPrinter {
    /// A printer at `path`. Opened on first use. Kept open between receipts: closing a usblp device cancels
    /// a transfer still in flight.
    pub fn new(path: impl Into<PathBuf>) -> UsbLpPrinter {
        UsbLpPrinter {
            path: path.into(),
            file: None,
        }
    }

    fn device(&self) -> String {
        self.path.display().to_string()
    }

    fn file(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let file = OpenOptions::new().write(true).open(&self.path)?;
            // SAFETY: LPABORT takes an int argument by value; the fd is open for the call's duration.
            let rc = unsafe { libc::ioctl(file.as_raw_fd(), LPABORT as _, 1 as libc::c_int) };
            if rc != 0 {
                tracing::debug!(device = %self.path.display(), error = %io::Error::last_os_error(), "LPABORT refused");
            }
            tracing::info!(device = %self.path.display(), "receipt printer opened");
            self.file = Some(file);
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    fn read_status(&mut self) -> io::Result<u8> {
        let fd = self.file()?.as_raw_fd();
        let mut bits: libc::c_int = 0;
        // SAFETY: LPGETSTATUS writes one int through the pointer, which points at `bits`, alive for the call.
        let rc = unsafe { libc::ioctl(fd, LPGETSTATUS as _, &mut bits as *mut libc::c_int) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // The driver reports the one status byte of the USB printer class' GET_PORT_STATUS.
        Ok((bits & 0xFF) as u8)
    }
}

/// Decodes the `LPGETSTATUS` byte of a usblp printer.
pub fn decode_lp_status(bits: u8) -> PrinterStatus {
    if bits & LP_POUTPA != 0 {
        PrinterStatus::PaperOut
    } else if bits & LP_PSELECD == 0 {
        PrinterStatus::Offline {
            reason: "printer is not selected (offline)".into(),
        }
    } else if bits & LP_PERRORP == 0 {
        PrinterStatus::Offline {
            reason: "printer reports an error".into(),
        }
    } else {
        PrinterStatus::Ready
    }
}

impl Printer for UsbLpPrinter {
    fn status(&mut self) -> PrinterStatus {
        match self.read_status() {
            Ok(bits) => match decode_lp_status(bits) {
                PrinterStatus::Offline { reason } => PrinterStatus::Offline {
                    reason: format!("{}: {reason}", self.device()),
                },
                status => status,
            },
            Err(e) => {
                // ENODEV after an unplug, ENOENT before a replug: open again next time.
                self.file = None;
                PrinterStatus::Offline {
                    reason: format!("{}: {e}", self.device()),
                }
            }
        }
    }

    fn print(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        let status = self.status();
        if !status.can_print() {
            return Err(PrinterError::NotReady {
                device: self.device(),
                status,
            });
        }
        // A blocking usblp write returns once the printer has taken each transfer.
        let written = self.file().and_then(|f| f.write_all(bytes));
        written.map_err(|source| {
            self.file = None;
            PrinterError::Write {
                device: self.device(),
                source,
            }
        })
    }

    fn describe(&self) -> String {
        format!("usb_lp {}", self.device())
    }
}

// ---------------------------------------------------------------------------------------------------------
// File (development)
// ---------------------------------------------------------------------------------------------------------

/// Appends every receipt's bytes to a file; always ready. For development and demos.
pub struct FilePrinter {
    path: PathBuf,
}

impl FilePrinter {
    /// Appends to `path`, creating it if needed.
    pub fn new(path: impl Into<PathBuf>) -> FilePrinter {
        FilePrinter { path: path.into() }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Printer for FilePrinter {
    fn status(&mut self) -> PrinterStatus {
        PrinterStatus::Ready
    }

    fn print(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path())
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|source| PrinterError::Write {
                device: self.path.display().to_string(),
                source,
            })
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lp_status_bits_decode() {
        // A healthy usblp printer reports selected + no error.
        assert_eq!(decode_lp_status(LP_PSELECD | LP_PERRORP), PrinterStatus::Ready);
        assert_eq!(
            decode_lp_status(LP_PSELECD | LP_PERRORP | LP_POUTPA),
            PrinterStatus::PaperOut
        );
        // Paper out wins over the error bit it usually comes with.
        assert_eq!(decode_lp_status(LP_PSELECD | LP_POUTPA), PrinterStatus::PaperOut);
        assert!(
            matches!(decode_lp_status(LP_PERRORP), PrinterStatus::Offline { reason } if reason.contains("not selected"))
        );
        assert!(matches!(decode_lp_status(LP_PSELECD), PrinterStatus::Offline { reason } if reason.contains("error")));
    }

    #[test]
    fn escpos_status_bytes_decode() {
        let ok = 0x12;
        assert_eq!(decode_escpos_status(ok, ok, ok), PrinterStatus::Ready);
        assert_eq!(decode_escpos_status(ok, ok, ok | 0x0C), PrinterStatus::PaperLow);
        assert_eq!(
            decode_escpos_status(ok | 0x08, ok | 0x20, ok | 0x60),
            PrinterStatus::PaperOut
        );
        assert_eq!(decode_escpos_status(ok | 0x08, ok | 0x04, ok), PrinterStatus::CoverOpen);
        assert!(
            matches!(decode_escpos_status(ok | 0x08, ok | 0x40, ok), PrinterStatus::Offline { reason } if reason.contains("error"))
        );
        assert!(matches!(
            decode_escpos_status(ok | 0x08, ok, ok),
            PrinterStatus::Offline { .. }
        ));
        // Line noise or a printer in another mode is not a status.
        assert!(
            matches!(decode_escpos_status(0x00, ok, ok), PrinterStatus::Offline { reason } if reason.contains("0x00"))
        );
        assert!(!PrinterStatus::PaperOut.can_print() && PrinterStatus::PaperLow.can_print());
    }

    #[test]
    fn config_validation_names_the_key() {
        let parse = |t: &str| toml::from_str::<PrinterConfig>(t);
        let cfg = parse("kind = \"serial\"\npath = \"/dev/ttyUSB0\"\n").expect("valid");
        assert_eq!((cfg.baud, cfg.columns, cfg.status_timeout_ms), (9600, 48, 300));
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(PrinterConfig::default().validate(), Ok(()));
        for (text, key) in [
            ("kind = \"usb_lp\"\n", "printer.path"),
            ("kind = \"serial\"\npath = \"/dev/x\"\nbaud = 9601\n", "printer.baud"),
            ("kind = \"file\"\npath = \"r.bin\"\ncolumns = 40\n", "printer.columns"),
            ("kind = \"none\"\nstatus_timeout_ms = 10\n", "printer.status_timeout_ms"),
        ] {
            let err = parse(text).expect("parses").validate().expect_err(text);
            assert_eq!(err.key, key, "{text}");
        }
        assert!(parse("kind = \"lpt\"\n").is_err());
        assert!(parse("kind = \"none\"\npaper = 1\n")
            .expect_err("unknown key")
            .to_string()
            .contains("paper"));
    }

    #[test]
    fn none_is_no_printer_and_file_appends() {
        assert!(open_printer(&PrinterConfig::default()).expect("valid").is_none());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("receipts.bin");
        let cfg = PrinterConfig {
            kind: PrinterKind::File,
            path: Some(path.clone()),
            ..PrinterConfig::default()
        };
        let mut p = open_printer(&cfg).expect("valid").expect("a printer");
        assert_eq!(p.status(), PrinterStatus::Ready);
        p.print(b"one").expect("prints");
        p.print(b"two").expect("prints");
        assert_eq!(std::fs::read(&path).expect("file written"), b"onetwo");
    }
}
