//! Sans-IO framing and debounce: turns a byte stream plus the passing of time into complete codes, and drops a
//! scanner re-reading the same label. Owns the end-of-code rules; must never do I/O, read a clock or panic on
//! any input (serial lines deliver garbage at plug-in and on bad cables).
//!
//! End of a code:
//!
//! | terminator | ends a code                     | ignored bytes | silence with a partial code |
//! |------------|---------------------------------|---------------|-----------------------------|
//! | `Cr`       | CR                              | LF, NUL       | discarded (see below)       |
//! | `Lf`       | LF                              | CR, NUL       | discarded                   |
//! | `Crlf`     | CR, LF or CR LF (one terminator) | NUL           | discarded                   |
//! | `None`     | `silence` without a byte        | CR, LF, NUL   | **is** the code             |
//!
//! An empty code is never emitted (so CR LF, or a blank line, yields nothing extra). GS (0x1D, the GS1
//! separator) is kept. With [`Silence::Emit`] a partial code is complete after the silence even when a
//! terminator is configured. With [`Silence::DiscardWithRest`] (the HID wedge, see [`super::hid`]) the rest of
//! a cut code is dropped too: everything up to and including the next terminator, reported as
//! [`Discard::RestOfCutCode`].
//!
//! Why a partial code with a terminator is *discarded* after silence on serial: the partial is what is left
//! of a code cut short (unplug mid-transfer, line noise, a scanner resetting), and a truncated code can be a
//! valid shorter one — the first 8 digits of an EAN-13 pass the EAN-8 check one time in ten — which would put
//! the wrong product in the basket. A misconfigured scanner that sends no suffix therefore reads nothing; the
//! caller logs a [`Discard::NoTerminator`] that says so, and the fix is `terminator = "none"`.
//!
//! Input longer than [`MAX_CODE_LEN`] without an end is discarded ([`Discard::Oversized`], reported once),
//! and everything up to the next end of code (terminator, or silence) is dropped with it: framing resumes
//! cleanly on the code after.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Terminator;

/// Longest code accepted. GS1 2D codes stay well under 3 kB; anything longer is a runaway stream.
pub const MAX_CODE_LEN: usize = 4096;

const NUL: u8 = 0x00;
const LF: u8 = b'\n';
const CR: u8 = b'\r';

/// What a partial code becomes after `silence` without a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// It is a complete code (terminator `None`; HID wedge without Enter).
    Emit,
    /// It is noise or a cut-off code and is dropped (serial with a terminator).
    Discard,
    /// It is the head of a cut code and is dropped, and so is its rest: every byte up to and including the
    /// next terminator, however long that takes (a later silence discards what came so far, again as a head).
    /// A stall in the middle of a code otherwise leaves a tail that can be a valid shorter code (the last 8
    /// digits of an EAN-13 pass the EAN-8 check one time in ten). The price: if the partial was a whole code
    /// whose terminator was lost, the next code is dropped too.
    DiscardWithRest,
}

/// Why bytes were thrown away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// More than [`MAX_CODE_LEN`] bytes without an end of code.
    Oversized,
    /// A partial code followed by silence, while a terminator is expected.
    NoTerminator,
    /// What arrived after a [`Discard::NoTerminator`] up to the next terminator ([`Silence::DiscardWithRest`]).
    RestOfCutCode,
}

/// One framing outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A complete code, terminator removed.
    Code(Vec<u8>),
    /// Bytes dropped; the caller logs this (length only: codes may be loyalty numbers).
    Discarded {
        /// How many bytes (at least; an oversized run is reported when it starts).
        len: usize,
        /// Why.
        reason: Discard,
    },
}

/// Byte-stream framer. Feed it with [`Framer::push`]; when [`Framer::deadline`] passes without a byte, call
/// [`Framer::expire`].
#[derive(Debug)]
pub struct Framer {
    terminator: Terminator,
    silence: Duration,
    on_silence: Silence,
    buf: Vec<u8>,
    /// Dropping bytes until the next end of code, after an oversized run.
    skipping: bool,
    /// The bytes up to the next terminator are the rest of a cut code ([`Silence::DiscardWithRest`]). Silence
    /// does not end this (a stall can cut one code twice): each silent partial is discarded as a cut head.
    rest_of_cut: bool,
    last_byte: Option<Instant>,
}

impl Framer {
    /// A framer for `terminator`; `silence` is the inter-character timeout.
    pub fn new(terminator: Terminator, silence: Duration, on_silence: Silence) -> Framer {
        // Without a terminator, silence is the only end of a code: it must be emitted.
        let on_silence = if terminator == Terminator::None {
            Silence::Emit
        } else {
            on_silence
        };
        Framer {
            terminator,
            silence,
            on_silence,
            buf: Vec::new(),
            skipping: false,
            rest_of_cut: false,
            last_byte: None,
        }
    }

    /// The serial framer for a configured terminator: silence completes a code only without a terminator. With
    /// one, a code cut by silence is dropped together with its rest up to the next terminator, as on the HID
    /// wedge: the tail of a cut EAN-13 can itself pass as a valid EAN-8.
    pub fn serial(terminator: Terminator, silence: Duration) -> Framer {
        Framer::new(terminator, silence, Silence::DiscardWithRest)
    }

    /// Feeds `bytes` received at `now`, returning what they complete, in order.
    pub fn push(&mut self, bytes: &[u8], now: Instant) -> Vec<Framed> {
        let mut out = Vec::new();
        if let Some(f) = self.expire(now) {
            out.push(f);
        }
        for &b in bytes {
            self.byte(b, &mut out);
        }
        if !bytes.is_empty() {
            self.last_byte = Some(now);
        }
        out
    }

    /// When the current partial code times out, if there is one.
    pub fn deadline(&self) -> Option<Instant> {
        if self.buf.is_empty() && !self.skipping {
            return None;
        }
        self.last_byte.map(|t| t + self.silence)
    }

    /// Applies the silence rule if `now` is past [`Framer::deadline`]; otherwise does nothing.
    pub fn expire(&mut self, now: Instant) -> Option<Framed> {
        let deadline = self.deadline()?;
        if now < deadline {
            return None;
        }
        if self.skipping {
            self.skipping = false;
            self.buf.clear();
            return None;
        }
        let code = std::mem::take(&mut self.buf);
        let discarded = Framed::Discarded {
            len: code.len(),
            reason: Discard::NoTerminator,
        };
        Some(match self.on_silence {
            Silence::Emit => Framed::Code(code),
            Silence::Discard => discarded,
            Silence::DiscardWithRest => {
                self.rest_of_cut = true;
                discarded
            }
        })
    }

    fn byte(&mut self, b: u8, out: &mut Vec<Framed>) {
        let (ends, ignored) = match (self.terminator, b) {
            (_, NUL) => (false, true),
            (Terminator::Cr, CR) | (Terminator::Lf, LF) | (Terminator::Crlf, CR | LF) => (true, false),
            // The other half of a line ending is a scanner set to CR LF while we expect one of them.
            // Without a terminator, a line ending is a suffix the scanner was left configured to send.
            (Terminator::Cr, LF) | (Terminator::Lf, CR) | (Terminator::None, CR | LF) => (false, true),
            _ => (false, false),
        };
        if ignored {
            return;
        }
        if ends {
            let rest_of_cut = std::mem::take(&mut self.rest_of_cut);
            if self.skipping {
                self.skipping = false;
            } else if rest_of_cut {
                if !self.buf.is_empty() {
                    out.push(Framed::Discarded {
                        len: std::mem::take(&mut self.buf).len(),
                        reason: Discard::RestOfCutCode,
                    });
                }
            } else if !self.buf.is_empty() {
                out.push(Framed::Code(std::mem::take(&mut self.buf)));
            }
            return;
        }
        if self.skipping {
            return;
        }
        if self.buf.len() == MAX_CODE_LEN {
            out.push(Framed::Discarded {
                len: MAX_CODE_LEN + 1,
                reason: Discard::Oversized,
            });
            self.buf.clear();
            self.skipping = true;
            return;
        }
        self.buf.push(b);
    }
}

/// Drops the same code read again within a window of its previous *accepted* read (a label held still under
/// a scanner in presentation mode). A different code passes at once; the same code passes again once the
/// window has passed. Monotonic time only.
#[derive(Debug)]
pub struct Debouncer {
    window: Duration,
    /// Recently accepted codes, oldest first. Per code, so a scanner alternating between two labels on one
    /// pack (A B A B …) does not add A twice.
    recent: VecDeque<(Vec<u8>, Instant)>,
}

/// Codes remembered at most; a window of a few hundred ms never holds more than a handful.
const DEBOUNCE_MEMORY: usize = 32;

impl Debouncer {
    /// A debouncer with `window` (zero disables it).
    pub fn new(window: Duration) -> Debouncer {
        Debouncer {
            window,
            recent: VecDeque::new(),
        }
    }

    /// Whether `code` read at `now` should be delivered.
    pub fn accept(&mut self, code: &[u8], now: Instant) -> bool {
        if self.window.is_zero() {
            return true;
        }
        let window = self.window;
        self.recent
            .retain(|(_, at)| now.saturating_duration_since(*at) < window);
        if self.recent.iter().any(|(c, _)| c == code) {
            return false;
        }
        if self.recent.len() == DEBOUNCE_MEMORY {
            self.recent.pop_front();
        }
        self.recent.push_back((code.to_vec(), now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: Duration = Duration::from_millis(50);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn code(s: &[u8]) -> Framed {
        Framed::Code(s.to_vec())
    }

    /// Feeds all chunks at one instant and returns the codes.
    fn frame_at_once(t: Terminator, chunks: &[&[u8]]) -> Vec<Framed> {
        let mut f = Framer::serial(t, GAP);
        let now = Instant::now();
        chunks.iter().flat_map(|c| f.push(c, now)).collect()
    }

    #[test]
    fn terminators_frame_codes_as_documented() {
        use Terminator::*;
        /// Terminator, input chunks, expected outcome.
        type Case = (Terminator, &'static [&'static [u8]], Vec<Framed>);
        let table: &[Case] = &[
            (Cr, &[b"4006381333931\r"], vec![code(b"4006381333931")]),
            (Cr, &[b"123\r456\r"], vec![code(b"123"), code(b"456")]),
            (Cr, &[b"12", b"3\r"], vec![code(b"123")]),
            (Cr, &[b"123\r\n456\r\n"], vec![code(b"123"), code(b"456")]),
            (Cr, &[b"\r\r\r"], vec![]),
            (Lf, &[b"123\n"], vec![code(b"123")]),
            (Lf, &[b"123\r\n"], vec![code(b"123")]),
            (Lf, &[b"123\r"], vec![]),
            (Crlf, &[b"123\r\n"], vec![code(b"123")]),
            (Crlf, &[b"123\r"], vec![code(b"123")]),
            (Crlf, &[b"123\n"], vec![code(b"123")]),
            (Crlf, &[b"123\r", b"\n456\r\n"], vec![code(b"123"), code(b"456")]),
            (Crlf, &[b"\r\n\r\n"], vec![]),
            (Cr, &[b"01\x1d10ABC\r"], vec![code(b"01\x1d10ABC")]),
            (Cr, &[b"\x001\x002\x003\r"], vec![code(b"123")]),
            (Cr, &[b"\x00\r"], vec![]),
            (None, &[b"123"], vec![]),
            (None, &[b"12\r\n3"], vec![]),
        ];
        for (t, chunks, want) in table {
            assert_eq!(&frame_at_once(*t, chunks), want, "terminator {t:?}, input {chunks:?}");
        }
    }

    #[test]
    fn without_terminator_silence_completes_the_code() {
        let mut f = Framer::serial(Terminator::None, GAP);
        let t0 = Instant::now();
        assert!(f.push(b"40063", t0).is_empty());
        assert!(
            f.push(b"81333931", t0 + ms(30)).is_empty(),
            "30 ms is below the 50 ms gap"
        );
        assert_eq!(f.deadline(), Some(t0 + ms(80)));
        assert_eq!(f.expire(t0 + ms(79)), Option::None);
        assert_eq!(f.expire(t0 + ms(80)), Some(code(b"4006381333931")));
        assert_eq!(f.deadline(), Option::None, "nothing pending after the code");
    }

    #[test]
    fn a_late_byte_first_completes_the_previous_code() {
        // The caller may be late calling expire(): the gap is judged from the timestamps, not the call.
        let mut f = Framer::serial(Terminator::None, GAP);
        let t0 = Instant::now();
        f.push(b"111", t0);
        assert_eq!(f.push(b"222\r\n", t0 + ms(200)), vec![code(b"111")]);
        assert_eq!(f.expire(t0 + ms(250)), Some(code(b"222")));
    }

    #[test]
    fn with_terminator_a_partial_code_then_silence_is_discarded_not_emitted() {
        let mut f = Framer::serial(Terminator::Cr, GAP);
        let t0 = Instant::now();
        f.push(b"40063813", t0);
        assert_eq!(
            f.expire(t0 + ms(50)),
            Some(Framed::Discarded {
                len: 8,
                reason: Discard::NoTerminator
            })
        );
        // What arrives up to the next terminator is the rest of the cut code, and is dropped with it: a tail like
        // this one would otherwise be read as a valid EAN-8.
        assert_eq!(
            f.push(b"96385074\r", t0 + ms(500)),
            vec![Framed::Discarded {
                len: 8,
                reason: Discard::RestOfCutCode
            }]
        );
        // The next code is intact: nothing of the cut-off one sticks to it.
        assert_eq!(f.push(b"4006381333931\r", t0 + ms(900)), vec![code(b"4006381333931")]);
    }

    #[test]
    fn discard_with_rest_drops_a_cut_code_up_to_its_terminator_then_frames_normally() {
        let mut f = Framer::new(Terminator::Cr, GAP, Silence::DiscardWithRest);
        let t0 = Instant::now();
        let discarded = |len, reason| Framed::Discarded { len, reason };
        f.push(b"96385074", t0);
        assert_eq!(f.expire(t0 + ms(50)), Some(discarded(8, Discard::NoTerminator)));
        assert_eq!(
            f.deadline(),
            Option::None,
            "nothing pending: the rest may come after any stall"
        );
        assert_eq!(
            f.push(b"12340\r", t0 + ms(900)),
            vec![discarded(5, Discard::RestOfCutCode)],
            "the tail of the cut code is never a code"
        );
        assert_eq!(f.push(b"4012996385074\r", t0 + ms(1000)), vec![code(b"4012996385074")]);
    }

    #[test]
    fn hid_style_framer_emits_a_partial_code_after_silence() {
        let mut f = Framer::new(Terminator::Cr, GAP, Silence::Emit);
        let t0 = Instant::now();
        f.push(b"123", t0);
        assert_eq!(f.expire(t0 + ms(50)), Some(code(b"123")));
    }

    #[test]
    fn oversized_input_is_discarded_and_framing_resumes_at_next_terminator() {
        let mut f = Framer::serial(Terminator::Cr, GAP);
        let t0 = Instant::now();
        let junk = vec![b'x'; MAX_CODE_LEN + 100];
        let out = f.push(&junk, t0);
        assert_eq!(
            out,
            vec![Framed::Discarded {
                len: MAX_CODE_LEN + 1,
                reason: Discard::Oversized
            }]
        );
        assert!(f.push(&junk, t0).is_empty(), "an oversized run is reported once");
        assert_eq!(f.push(b"tail\r123\r", t0), vec![code(b"123")]);
    }

    #[test]
    fn a_code_of_exactly_the_maximum_length_is_kept() {
        let mut f = Framer::serial(Terminator::Cr, GAP);
        let mut input = vec![b'7'; MAX_CODE_LEN];
        input.push(CR);
        assert_eq!(
            f.push(&input, Instant::now()),
            vec![Framed::Code(vec![b'7'; MAX_CODE_LEN])]
        );
    }

    #[test]
    fn oversized_input_without_terminator_resynchronises_after_silence() {
        let mut f = Framer::serial(Terminator::None, GAP);
        let t0 = Instant::now();
        f.push(&vec![b'x'; MAX_CODE_LEN + 1], t0);
        assert_eq!(f.expire(t0 + ms(60)), Option::None, "the oversized run is not a code");
        f.push(b"42", t0 + ms(100));
        assert_eq!(f.expire(t0 + ms(200)), Some(code(b"42")));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_codes_stay_bounded() {
        // A cheap deterministic byte soup covering every value, terminators included.
        let mut x: u32 = 12345;
        let soup: Vec<u8> = (0..50_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 256) as u8
            })
            .collect();
        for t in [Terminator::Cr, Terminator::Lf, Terminator::Crlf, Terminator::None] {
            let mut f = Framer::serial(t, GAP);
            let t0 = Instant::now();
            for (i, chunk) in soup.chunks(97).enumerate() {
                for out in f.push(chunk, t0 + ms(i as u64 * 7)) {
                    if let Framed::Code(c) = out {
                        assert!(!c.is_empty() && c.len() <= MAX_CODE_LEN && !c.contains(&NUL));
                    }
                }
            }
        }
    }

    #[test]
    fn debounce_drops_the_same_code_within_the_window() {
        let mut d = Debouncer::new(ms(800));
        let t0 = Instant::now();
        assert!(d.accept(b"4006381333931", t0));
        assert!(!d.accept(b"4006381333931", t0 + ms(100)));
        assert!(!d.accept(b"4006381333931", t0 + ms(799)));
        assert!(
            d.accept(b"4006381333931", t0 + ms(800)),
            "the window is measured from the accepted read"
        );
    }

    #[test]
    fn debounce_window_counts_from_the_accepted_read_not_the_dropped_ones() {
        let mut d = Debouncer::new(ms(800));
        let t0 = Instant::now();
        assert!(d.accept(b"A", t0));
        assert!(!d.accept(b"A", t0 + ms(700)));
        assert!(
            d.accept(b"A", t0 + ms(900)),
            "a label held still is read again once per window"
        );
    }

    #[test]
    fn debounce_passes_a_different_code_immediately() {
        let mut d = Debouncer::new(ms(800));
        let t0 = Instant::now();
        assert!(d.accept(b"111", t0));
        assert!(d.accept(b"222", t0 + ms(1)));
        assert!(
            !d.accept(b"111", t0 + ms(2)),
            "per-code window: alternating labels do not re-add the first"
        );
    }

    #[test]
    fn zero_window_disables_debounce() {
        let mut d = Debouncer::new(Duration::ZERO);
        let t0 = Instant::now();
        assert!(d.accept(b"1", t0));
        assert!(d.accept(b"1", t0));
    }
}
