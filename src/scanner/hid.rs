//! USB HID keyboard-wedge scanners through evdev: open the event node, grab it (so its keystrokes never reach
//! a console or a login prompt), translate raw key codes with our own [`KeyMapper`] and frame them by the
//! configured end-of-code key (`scanner.hid.terminator`). ENODEV on unplug ends the session and the supervisor
//! reopens it. Must never log a code's content, only its length.
//!
//! End of a code ([`KeyFramer`]):
//!
//! | terminator | ends a code                       | typed but ignored   | silence with a partial code         |
//! |------------|-----------------------------------|---------------------|-------------------------------------|
//! | `Enter`    | Enter, keypad Enter               | Tab                 | discarded, and its rest up to Enter |
//! | `Tab`      | Tab                               | Enter, keypad Enter | discarded, and its rest up to Tab   |
//! | `None`     | `inter_key_timeout_ms` of silence | Enter, Tab          | **is** the code                     |
//!
//! Why silence does not complete a code when the scanner sends a suffix: a USB stall (a busy hub, a
//! suspended port waking up) can pause the keystrokes of one code for longer than the inter-key timeout, and
//! either half of a cut EAN-13 can be a valid EAN-8 — the wrong product in the basket. So the head is
//! discarded at the silence and the rest is discarded when its terminator comes ([`Silence::DiscardWithRest`]).
//! The price is one lost read, which the shopper sees (nothing on screen) and simply scans again.
//!
//! The other suffix key is ignored rather than ending a code: Tab and Enter are never part of a retail code,
//! and a scanner left on the other suffix then reads nothing, with a warning per scan naming the configured
//! terminator, instead of reading codes by accident of timing. Ctrl+M and Ctrl+J (CR, LF) are ignored too: only
//! the configured key ends a code.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use evdev::{Device, EventStream, EventType};
use tokio::time::Instant;

use super::framing::{Discard, Framed, Framer, Silence};
use super::keymap::{Key, KeyMapper};
use super::supervisor::{Opener, Session};
use crate::config::{HidConfig, HidTerminator, Terminator};

/// Opens the configured evdev node.
#[derive(Debug, Clone)]
pub struct HidOpener {
    path: PathBuf,
    grab: bool,
    terminator: HidTerminator,
    inter_key: Duration,
}

impl HidOpener {
    /// From `[scanner.hid]`.
    pub fn new(cfg: &HidConfig) -> HidOpener {
        HidOpener {
            path: cfg.device.clone(),
            grab: cfg.grab,
            terminator: cfg.terminator,
            inter_key: Duration::from_millis(cfg.inter_key_timeout_ms),
        }
    }
}

impl Opener for HidOpener {
    type Session = HidSession;

    async fn open(&mut self) -> io::Result<HidSession> {
        let events = open_event_stream(&self.path, self.grab)?;
        Ok(HidSession {
            events,
            framer: KeyFramer::new(self.terminator, self.inter_key),
            terminator: self.terminator,
            ready: VecDeque::new(),
        })
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// Opens the evdev node at `path` for async reading, grabbed when `grab` (then no other reader, console or
/// login prompt included, sees its keystrokes until the stream is dropped). Shared with the staff keypad
/// ([`crate::keypad`]), which always grabs: its digits are PINs.
pub fn open_event_stream(path: &Path, grab: bool) -> io::Result<EventStream> {
    let mut dev = Device::open(path)?;
    if grab {
        dev.grab()?;
    }
    dev.into_event_stream()
}

/// Key events to codes: [`KeyMapper`] then [`Framer`], with the end-of-code rules of the module table. Pure,
/// fed with raw `EV_KEY` (code, value) pairs and the time they were read.
#[derive(Debug)]
pub struct KeyFramer {
    keys: KeyMapper,
    framer: Framer,
    terminator: HidTerminator,
}

/// What the configured end-of-code key is fed to the byte framer as.
const END: u8 = b'\r';

impl KeyFramer {
    /// A key framer for `terminator`; `inter_key` is the silence that discards (Enter, Tab) or completes
    /// (None) a partial code.
    pub fn new(terminator: HidTerminator, inter_key: Duration) -> KeyFramer {
        let framer = match terminator {
            HidTerminator::Enter | HidTerminator::Tab => {
                Framer::new(Terminator::Cr, inter_key, Silence::DiscardWithRest)
            }
            HidTerminator::None => Framer::new(Terminator::None, inter_key, Silence::Emit),
        };
        KeyFramer {
            keys: KeyMapper::new(),
            framer,
            terminator,
        }
    }

    /// Feeds one key event read at `now`.
    pub fn key(&mut self, code: u16, value: i32, now: Instant) -> Vec<Framed> {
        match (self.keys.feed(code, value), self.terminator) {
            (Some(Key::Enter), HidTerminator::Enter) | (Some(Key::Tab), HidTerminator::Tab) => {
                self.framer.push(&[END], now)
            }
            // CR and LF typed with Ctrl must not end a code behind the configured key's back (see module doc).
            (Some(Key::Byte(b)), _) if b != b'\r' && b != b'\n' => self.framer.push(&[b], now),
            // A modifier, the other suffix key or an ignored key: no byte, but a late event still shows the
            // silence before it has passed, so the partial code is judged by the event's time.
            _ => self.framer.expire(now).into_iter().collect(),
        }
    }

    /// When a partial code times out, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        self.framer.deadline()
    }

    /// Applies the silence rule if `now` is past [`KeyFramer::deadline`]: completes the partial code
    /// (terminator None) or discards it.
    pub fn expire(&mut self, now: Instant) -> Option<Framed> {
        self.framer.expire(now)
    }
}

/// An open (and grabbed) keyboard-wedge scanner.
pub struct HidSession {
    events: EventStream,
    framer: KeyFramer,
    terminator: HidTerminator,
    ready: VecDeque<Vec<u8>>,
}

impl HidSession {
    fn take(&mut self, framed: Framed) {
        // Lengths only: a code may be a loyalty number.
        match framed {
            Framed::Code(c) => self.ready.push_back(c),
            Framed::Discarded {
                len,
                reason: Discard::Oversized,
            } => {
                tracing::warn!(len, "scanner: over-long key sequence without end of code discarded");
            }
            Framed::Discarded {
                len,
                reason: Discard::NoTerminator,
            } => {
                tracing::warn!(
                    len,
                    terminator = ?self.terminator,
                    "scanner: partial key sequence without terminator discarded (USB stall, or the scanner's \
                     suffix set differently?)"
                );
            }
            Framed::Discarded {
                len,
                reason: Discard::RestOfCutCode,
            } => {
                tracing::warn!(len, "scanner: rest of a cut key sequence discarded");
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
    use crate::barcode::Gtin;

    const DOWN: i32 = 1;
    const UP: i32 = 0;
    const INTER_KEY: Duration = Duration::from_millis(50);

    /// 13 digits whose first 8 are a valid EAN-8 (96385074).
    const HEAD_IS_EAN8: &str = "9638507412340";
    /// 13 digits whose last 8 are a valid EAN-8 (96385074).
    const TAIL_IS_EAN8: &str = "4012996385074";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn code(s: &str) -> Framed {
        Framed::Code(s.as_bytes().to_vec())
    }

    fn cut(len: usize) -> Framed {
        Framed::Discarded {
            len,
            reason: Discard::NoTerminator,
        }
    }

    fn rest(len: usize) -> Framed {
        Framed::Discarded {
            len,
            reason: Discard::RestOfCutCode,
        }
    }

    /// Key positions for a script: digits, `\n` Enter, `K` keypad Enter, `\t` Tab.
    fn keys(script: &str) -> Vec<KeyCode> {
        use KeyCode as K;
        const DIGITS: [KeyCode; 10] = [
            K::KEY_0,
            K::KEY_1,
            K::KEY_2,
            K::KEY_3,
            K::KEY_4,
            K::KEY_5,
            K::KEY_6,
            K::KEY_7,
            K::KEY_8,
            K::KEY_9,
        ];
        script
            .chars()
            .map(|c| match c {
                '\n' => K::KEY_ENTER,
                'K' => K::KEY_KPENTER,
                '\t' => K::KEY_TAB,
                d => DIGITS[d.to_digit(10).expect("test scripts hold digits and suffix keys") as usize],
            })
            .collect()
    }

    /// What the scanner does, in order.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// Types these keys 5 ms apart.
        Type(&'static str),
        /// Nothing for this long after the next key would have come; the session's timer fires at the end.
        Pause(u64),
    }
    use Step::{Pause, Type};

    /// Feeds `steps` to `f` from `t0`; returns every outcome and the time of the last key.
    fn run(f: &mut KeyFramer, steps: &[Step], t0: Instant) -> (Vec<Framed>, Instant) {
        let (mut out, mut t, mut last_key) = (Vec::new(), t0, t0);
        for step in steps {
            match *step {
                Type(script) => {
                    for k in keys(script) {
                        out.extend(f.key(k.code(), DOWN, t));
                        out.extend(f.key(k.code(), UP, t));
                        last_key = t;
                        t += ms(5);
                    }
                }
                Pause(n) => {
                    t += ms(n);
                    out.extend(f.expire(t));
                }
            }
        }
        (out, last_key)
    }

    fn frame(terminator: HidTerminator, steps: &[Step]) -> Vec<Framed> {
        run(&mut KeyFramer::new(terminator, INTER_KEY), steps, Instant::now()).0
    }

    #[test]
    fn the_test_codes_hide_valid_ean8s_as_claimed() {
        assert!(Gtin::parse(HEAD_IS_EAN8).is_ok() && Gtin::parse(TAIL_IS_EAN8).is_ok());
        assert!(Gtin::parse(&HEAD_IS_EAN8[..8]).is_ok(), "head of {HEAD_IS_EAN8}");
        assert!(Gtin::parse(&TAIL_IS_EAN8[5..]).is_ok(), "tail of {TAIL_IS_EAN8}");
    }

    #[test]
    fn with_enter_only_enter_ends_a_code_and_a_stall_never_yields_a_shorter_code() {
        /// Description, steps, expected outcomes.
        type Case = (&'static str, &'static [Step], Vec<Framed>);
        let table: &[Case] = &[
            (
                "EAN-13 then Enter",
                &[Type("9638507412340\n")],
                vec![code(HEAD_IS_EAN8)],
            ),
            ("keypad Enter", &[Type("96385074K")], vec![code("96385074")]),
            (
                "two codes",
                &[Type("123\n"), Pause(300), Type("456\n")],
                vec![code("123"), code("456")],
            ),
            ("repeated keys are kept", &[Type("2211\n")], vec![code("2211")]),
            (
                "a pause under the timeout",
                &[Type("96385"), Pause(40), Type("07412340\n")],
                vec![code(HEAD_IS_EAN8)],
            ),
            ("Tab is ignored", &[Type("12\t34\n")], vec![code("1234")]),
            (
                "a Tab suffix reads nothing",
                &[Type("96385074\t"), Pause(100)],
                vec![cut(8)],
            ),
            ("Enter alone", &[Type("\n\n")], vec![]),
            (
                "stall after 8 digits: the head is a valid EAN-8",
                &[Type("96385074"), Pause(120), Type("12340\n")],
                vec![cut(8), rest(5)],
            ),
            (
                "stall after 5 digits: the tail is a valid EAN-8",
                &[Type("40129"), Pause(120), Type("96385074\n")],
                vec![cut(5), rest(8)],
            ),
            (
                "a code cut twice",
                &[Type("40129"), Pause(120), Type("963"), Pause(120), Type("85074\n")],
                vec![cut(5), cut(3), rest(5)],
            ),
            (
                "stall just before Enter",
                &[Type("9638507412340"), Pause(120), Type("\n")],
                vec![cut(13)],
            ),
            (
                "the code after a cut one reads normally",
                &[
                    Type("96385074"),
                    Pause(120),
                    Type("12340\n"),
                    Pause(500),
                    Type("4012996385074\n"),
                ],
                vec![cut(8), rest(5), code(TAIL_IS_EAN8)],
            ),
        ];
        for (what, steps, want) in table {
            assert_eq!(&frame(HidTerminator::Enter, steps), want, "{what}");
        }
    }

    #[test]
    fn with_tab_only_tab_ends_a_code_and_a_stall_never_yields_a_shorter_code() {
        type Case = (&'static str, &'static [Step], Vec<Framed>);
        let table: &[Case] = &[
            ("EAN-13 then Tab", &[Type("9638507412340\t")], vec![code(HEAD_IS_EAN8)]),
            ("Enter is ignored", &[Type("12\n34K\t")], vec![code("1234")]),
            (
                "an Enter suffix reads nothing",
                &[Type("96385074\n"), Pause(100)],
                vec![cut(8)],
            ),
            (
                "stall after 8 digits",
                &[Type("96385074"), Pause(120), Type("12340\t")],
                vec![cut(8), rest(5)],
            ),
            (
                "stall after 5 digits",
                &[Type("40129"), Pause(120), Type("96385074\t")],
                vec![cut(5), rest(8)],
            ),
        ];
        for (what, steps, want) in table {
            assert_eq!(&frame(HidTerminator::Tab, steps), want, "{what}");
        }
    }

    #[test]
    fn with_none_silence_completes_a_code_so_a_stall_does_split_one() {
        type Case = (&'static str, &'static [Step], Vec<Framed>);
        let table: &[Case] = &[
            (
                "silence ends the code",
                &[Type("9638507412340"), Pause(60)],
                vec![code(HEAD_IS_EAN8)],
            ),
            ("repeated keys are kept", &[Type("221"), Pause(60)], vec![code("221")]),
            (
                "a pause under the timeout",
                &[Type("96385"), Pause(40), Type("07412340"), Pause(60)],
                vec![code(HEAD_IS_EAN8)],
            ),
            (
                "an Enter suffix is ignored",
                &[Type("123\n"), Pause(60)],
                vec![code("123")],
            ),
            (
                "a Tab suffix is ignored",
                &[Type("123\t"), Pause(60)],
                vec![code("123")],
            ),
            (
                // The risk `terminator = "none"` carries, and why Enter is the default.
                "a stall splits an EAN-13 into two codes",
                &[Type("96385074"), Pause(120), Type("12340"), Pause(60)],
                vec![code("96385074"), code("12340")],
            ),
        ];
        for (what, steps, want) in table {
            assert_eq!(&frame(HidTerminator::None, steps), want, "{what}");
        }
    }

    #[test]
    fn the_silence_counts_from_the_last_key() {
        for terminator in [HidTerminator::Enter, HidTerminator::Tab, HidTerminator::None] {
            let mut f = KeyFramer::new(terminator, INTER_KEY);
            let (out, last_key) = run(&mut f, &[Type("123")], Instant::now());
            assert!(out.is_empty(), "{terminator:?}");
            assert_eq!(f.deadline(), Some(last_key + INTER_KEY), "{terminator:?}");
            assert_eq!(f.expire(last_key + INTER_KEY - ms(1)), None, "{terminator:?}");
            assert!(f.expire(last_key + INTER_KEY).is_some(), "{terminator:?}");
            assert_eq!(f.deadline(), None, "{terminator:?}: nothing pending after the silence");
        }
    }

    #[test]
    fn ctrl_m_is_not_an_enter() {
        use KeyCode as K;
        let mut f = KeyFramer::new(HidTerminator::Tab, INTER_KEY);
        let (mut out, t) = run(&mut f, &[Type("12")], Instant::now());
        out.extend(f.key(K::KEY_LEFTCTRL.code(), DOWN, t));
        out.extend(f.key(K::KEY_M.code(), DOWN, t));
        out.extend(f.key(K::KEY_M.code(), UP, t));
        out.extend(f.key(K::KEY_LEFTCTRL.code(), UP, t));
        out.extend(run(&mut f, &[Type("34\t")], t + ms(5)).0);
        assert_eq!(out, vec![code("1234")]);
    }

    #[test]
    fn shifted_gs1_with_ctrl_bracket_separator_is_one_code() {
        use KeyCode as K;
        let mut f = KeyFramer::new(HidTerminator::Enter, INTER_KEY);
        let (mut out, t) = run(&mut f, &[Type("10")], Instant::now());
        let press = |f: &mut KeyFramer, k: KeyCode, out: &mut Vec<Framed>| {
            out.extend(f.key(k.code(), DOWN, t));
            out.extend(f.key(k.code(), UP, t));
        };
        out.extend(f.key(K::KEY_LEFTCTRL.code(), DOWN, t));
        press(&mut f, K::KEY_RIGHTBRACE, &mut out);
        out.extend(f.key(K::KEY_LEFTCTRL.code(), UP, t));
        out.extend(f.key(K::KEY_LEFTSHIFT.code(), DOWN, t));
        press(&mut f, K::KEY_A, &mut out);
        out.extend(f.key(K::KEY_LEFTSHIFT.code(), UP, t));
        press(&mut f, K::KEY_KPENTER, &mut out);
        assert_eq!(out, vec![Framed::Code(b"10\x1dA".to_vec())]);
    }
}
