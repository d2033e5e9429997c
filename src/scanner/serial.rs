//! Serial scanners (USB CDC-ACM or RS-232) through tokio-serial: open at the configured baud, 8N1, no flow
//! control; frame the byte stream with [`Framer`]. Owns the read loop and its inter-character timer; an EOF or
//! an error (EIO when a USB scanner is unplugged) ends the session and the supervisor reopens it.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;
use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, SerialStream, StopBits};

use super::framing::{Discard, Framed, Framer};
use super::supervisor::{Opener, Session};
use crate::config::{SerialConfig, Terminator};

/// Opens the configured serial port.
#[derive(Debug, Clone)]
pub struct SerialOpener {
    path: PathBuf,
    baud: u32,
    terminator: Terminator,
    inter_char: Duration,
}

impl SerialOpener {
    /// From `[scanner.serial]`.
    pub fn new(cfg: &SerialConfig) -> SerialOpener {
        SerialOpener {
            path: cfg.path.clone(),
            baud: cfg.baud,
            terminator: cfg.terminator,
            inter_char: Duration::from_millis(cfg.inter_char_timeout_ms),
        }
    }
}

impl Opener for SerialOpener {
    type Session = SerialSession;

    async fn open(&mut self) -> io::Result<SerialSession> {
        // The path is often a udev symlink (/dev/omnigate-scanner): open(2) follows it, so a replug that gives
        // the scanner a new ttyACM number is found again.
        let port = tokio_serial::new(self.path.to_string_lossy(), self.baud)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .open_native_async()
            .map_err(io::Error::from)?;
        Ok(SerialSession {
            port,
            framer: Framer::serial(self.terminator, self.inter_char),
            ready: VecDeque::new(),
            terminator: self.terminator,
        })
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// An open serial scanner.
pub struct SerialSession {
    port: SerialStream,
    framer: Framer,
    ready: VecDeque<Vec<u8>>,
    terminator: Terminator,
}

impl SerialSession {
    fn take(&mut self, framed: Framed) {
        match framed {
            Framed::Code(c) => self.ready.push_back(c),
            Framed::Discarded {
                len,
                reason: Discard::Oversized,
            } => {
                tracing::warn!(len, "scanner: over-long input without end of code discarded");
            }
            Framed::Discarded {
                len,
                reason: Discard::NoTerminator | Discard::RestOfCutCode,
            } => {
                // Lengths only: a code may be a loyalty number.
                tracing::warn!(
                    len,
                    terminator = ?self.terminator,
                    "scanner: partial code without terminator discarded (scanner suffix set differently?)"
                );
            }
        }
    }
}

impl Session for SerialSession {
    async fn next_code(&mut self) -> io::Result<Vec<u8>> {
        let mut buf = [0u8; 512];
        loop {
            if let Some(code) = self.ready.pop_front() {
                return Ok(code);
            }
            // `read` is cancel-safe, so racing it against the inter-character deadline loses no byte.
            let read = match self.framer.deadline() {
                Some(deadline) => match tokio::time::timeout_at(deadline, self.port.read(&mut buf)).await {
                    Ok(r) => r,
                    Err(_elapsed) => {
                        if let Some(f) = self.framer.expire(Instant::now()) {
                            self.take(f);
                        }
                        continue;
                    }
                },
                None => self.port.read(&mut buf).await,
            };
            let n = read?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "device closed"));
            }
            for f in self.framer.push(&buf[..n], Instant::now()) {
                self.take(f);
            }
        }
    }
}
