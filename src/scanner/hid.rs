//! USB HID keyboard-wedge scanners through evdev: open the event node, grab it (so its keystrokes never reach
//! a console or a login prompt), translate raw key codes with our own [`KeyMapper`] and frame on Enter or an
//! inter-key timeout. ENODEV on unplug ends the session and the supervisor reopens it.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use evdev::{Device, EventStream, EventType};
use tokio::time::Instant;

use super::framing::{Discard, Framed, Framer, Silence};
use super::keymap::{Key, KeyMapper};
use super::supervisor::{Opener, Session};
use crate::config::{HidConfig, Terminator};

/// Opens the configured evdev node.
#[derive(Debug, Clone)]
pub struct HidOpener {
    path: PathBuf,
    grab: bool,
    inter_key: Duration,
}

impl HidOpener {
    /// From `[scanner.hid]`.
    pub fn new(cfg: &HidConfig) -> HidOpener {
        HidOpener {
            path: cfg.device.clone(),
            grab: cfg.grab,
            inter_key: Duration::from_millis(cfg.inter_key_timeout_ms),
        }
    }
}

impl Opener for HidOpener {
    type Session = HidSession;

    async fn open(&mut self) -> io::Result<HidSession> {
        let mut dev = Device::open(&self.path)?;
        if self.grab {
            dev.grab()?;
        }
        let events = dev.into_event_stream()?;
        Ok(HidSession {
            events,
            framer: KeyFramer::new(self.inter_key),
            ready: VecDeque::new(),
        })
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// Key events to codes: [`KeyMapper`] then [`Framer`] (Enter or silence ends a code). Pure, fed with raw
/// `EV_KEY` (code, value) pairs and the time they were read.
#[derive(Debug)]
pub struct KeyFramer {
    keys: KeyMapper,
    framer: Framer,
}

impl KeyFramer {
    /// A key framer whose codes also end after `inter_key` without a key press.
    pub fn new(inter_key: Duration) -> KeyFramer {
        // Enter is fed as CR; silence completes a code too (a scanner set without the Enter suffix).
        KeyFramer {
            keys: KeyMapper::new(),
            framer: Framer::new(Terminator::Cr, inter_key, Silence::Emit),
        }
    }

    /// Feeds one key event read at `now`.
    pub fn key(&mut self, code: u16, value: i32, now: Instant) -> Vec<Framed> {
        match self.keys.feed(code, value) {
            Some(Key::Byte(b)) => self.framer.push(&[b], now),
            Some(Key::End) => self.framer.push(b"\r", now),
            // A modifier or an ignored key still shows the scanner is typing: judge silence from it too.
            None => self.framer.expire(now).into_iter().collect(),
        }
    }

    /// When a partial code times out, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.framer.deadline()
    }

    /// Completes a partial code if `now` is past [`KeyFramer::deadline`].
    pub fn expire(&mut self, now: Instant) -> Option<Framed> {
        self.framer.expire(now)
    }
}

/// An open (and grabbed) keyboard-wedge scanner.
pub struct HidSession {
    events: EventStream,
    framer: KeyFramer,
    ready: VecDeque<Vec<u8>>,
}

impl HidSession {
    fn take(&mut self, framed: Framed) {
        match framed {
            Framed::Code(c) => self.ready.push_back(c),
            Framed::Discarded {
                len,
                reason: Discard::Oversized,
            } => {
                tracing::warn!(len, "scanner: over-long key sequence without Enter discarded");
            }
            Framed::Discarded {
                len,
                reason: Discard::NoTerminator,
            } => {
                tracing::warn!(len, "scanner: partial key sequence discarded");
            }
        }
    }
}

impl Session for HidSession {
    async fn next_code(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(code) = self.ready.pop_front() {
                return Ok(code);
            }
            // next_event() keeps its buffer in the stream, so dropping it at the deadline loses no event.
            let event = match self.framer.deadline() {
                Some(deadline) => match tokio::time::timeout_at(deadline, self.events.next_event()).await {
                    Ok(r) => r?,
                    Err(_elapsed) => {
                        if let Some(f) = self.framer.expire(Instant::now()) {
                            self.take(f);
                        }
                        continue;
                    }
                },
                None => self.events.next_event().await?,
            };
            if event.event_type() != EventType::KEY {
                continue;
            }
            for f in self.framer.key(event.code(), event.value(), Instant::now()) {
                self.take(f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use evdev::KeyCode;

    use super::*;

    const DOWN: i32 = 1;
    const UP: i32 = 0;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Types `keys` 5 ms apart from `t0`, returning the codes and the time of the last key.
    fn type_keys(f: &mut KeyFramer, keys: &[KeyCode], t0: Instant) -> (Vec<Framed>, Instant) {
        let mut out = Vec::new();
        let mut t = t0;
        for k in keys {
            out.extend(f.key(k.code(), DOWN, t));
            out.extend(f.key(k.code(), UP, t));
            t += ms(5);
        }
        (out, t)
    }

    #[test]
    fn digits_then_enter_are_one_code() {
        use KeyCode as K;
        let mut f = KeyFramer::new(ms(50));
        let (out, _) = type_keys(
            &mut f,
            &[K::KEY_9, K::KEY_6, K::KEY_3, K::KEY_8, K::KEY_ENTER],
            Instant::now(),
        );
        assert_eq!(out, vec![Framed::Code(b"9638".to_vec())]);
        assert_eq!(f.deadline(), None);
    }

    #[test]
    fn a_scanner_without_enter_suffix_is_framed_by_the_inter_key_timeout() {
        use KeyCode as K;
        let mut f = KeyFramer::new(ms(50));
        let (out, last) = type_keys(&mut f, &[K::KEY_2, K::KEY_2, K::KEY_1], Instant::now());
        assert!(out.is_empty());
        let deadline = f.deadline().expect("a partial code is pending");
        assert_eq!(
            f.expire(deadline),
            Some(Framed::Code(b"221".to_vec())),
            "repeated keys are never collapsed"
        );
        assert!(deadline >= last, "the timeout counts from the last key");
    }

    #[test]
    fn shifted_gs1_with_ctrl_bracket_separator_is_one_code() {
        use KeyCode as K;
        let mut f = KeyFramer::new(ms(50));
        let t0 = Instant::now();
        let (mut out, t) = type_keys(&mut f, &[K::KEY_1, K::KEY_0], t0);
        out.extend(f.key(K::KEY_LEFTCTRL.code(), DOWN, t));
        let (o, t) = type_keys(&mut f, &[K::KEY_RIGHTBRACE], t);
        out.extend(o);
        out.extend(f.key(K::KEY_LEFTCTRL.code(), UP, t));
        out.extend(f.key(K::KEY_LEFTSHIFT.code(), DOWN, t));
        let (o, t) = type_keys(&mut f, &[K::KEY_A], t);
        out.extend(o);
        out.extend(f.key(K::KEY_LEFTSHIFT.code(), UP, t));
        let (o, _) = type_keys(&mut f, &[K::KEY_KPENTER], t);
        out.extend(o);
        assert_eq!(out, vec![Framed::Code(b"10\x1dA".to_vec())]);
    }
}
