//! Good-read feedback: the LED and buzzer patterns a shopper hears and sees after a scan. Owns the timing of
//! each pattern; drives GPIO lines through [`crate::gpio`] or just logs them (simulated). Must never leave the
//! buzzer sounding: every way out of a pattern (its end, a newer signal, shutdown) switches both lines off.
//!
//! Patterns (milliseconds, on/off alternating, both lines start together):
//!
//! | signal                 | buzzer                     | LED                                | sounds like     |
//! |------------------------|----------------------------|------------------------------------|-----------------|
//! | [`Signal::GoodRead`]   | 80 on                      | 200 on                             | one short beep  |
//! | [`Signal::NotFound`]   | 60 on, 80 off, 60 on       | 60 on, 80 off, 60 on               | two short beeps |
//! | [`Signal::Invalid`]    | 400 on                     | 100 on, 100 off ×3 (three blinks)  | one long beep   |
//!
//! The buzzer is an *active* buzzer (on = sound at its own fixed pitch), so "low" cannot be played: length and
//! count are what tell the signals apart, and the LED pattern differs too for shoppers who cannot hear it.
//!
//! Simulated feedback logs each signal once at info, as it would be heard and seen (`feedback (simulated):
//! good read — beep 80 ms, LED 200 ms`), so a dev run at the default log level shows it; each line switch is
//! logged at trace. The GPIO backend logs a signal at debug only: on a kiosk the shopper hears it.
//!
//! A new signal replaces the one still playing: both lines go off at once, and the new pattern starts after
//! [`INTERRUPT_GAP`] if something was on, so two good reads in a row are heard as two beeps, not one long one.
//!
//! CONTRACT: [`Signal`], [`Feedback`], [`Feedback::spawn`], [`Feedback::signal`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{FeedbackConfig, FeedbackKind, PinConfig};
use crate::gpio::{self, OutputLine};

/// What happened, as the shopper should hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Product found: one short beep, LED flash.
    GoodRead,
    /// Valid code, not in the catalog.
    NotFound,
    /// Unreadable code.
    Invalid,
}

/// Feedback errors.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// A GPIO line could not be opened.
    #[error("feedback: {0}")]
    Gpio(String),
}

/// Silence between an interrupted pattern and the next one.
pub const INTERRUPT_GAP: Duration = Duration::from_millis(50);

/// Which output a pattern step drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// The good-read LED.
    Led,
    /// The buzzer.
    Buzzer,
}

/// A pattern: per line, `(on_ms, off_ms)` steps played from the same start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    /// LED steps.
    pub led: &'static [(u64, u64)],
    /// Buzzer steps.
    pub buzzer: &'static [(u64, u64)],
}

impl Signal {
    /// The pattern documented in the module table.
    pub fn pattern(self) -> Pattern {
        match self {
            Signal::GoodRead => Pattern {
                led: &[(200, 0)],
                buzzer: &[(80, 0)],
            },
            Signal::NotFound => Pattern {
                led: &[(60, 80), (60, 0)],
                buzzer: &[(60, 80), (60, 0)],
            },
            Signal::Invalid => Pattern {
                led: &[(100, 100), (100, 100), (100, 0)],
                buzzer: &[(400, 0)],
            },
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Signal::GoodRead => "good read",
            Signal::NotFound => "not found",
            Signal::Invalid => "invalid",
        }
    }

    /// The signal as heard and seen, from its pattern: `good read — beep 80 ms, LED 200 ms`.
    fn summary(self) -> String {
        let p = self.pattern();
        format!(
            "{} — {}, LED {}",
            self.describe(),
            pulses(p.buzzer, "beep", "beeps"),
            pulses(p.led, "", "blinks")
        )
    }
}

/// `80 ms` as a single pulse (after `one`, if any), `3 blinks of 100 ms` for several equal ones, `2 beeps of
/// 60/90 ms` for unequal ones.
fn pulses(steps: &[(u64, u64)], one: &str, many: &str) -> String {
    let ons: Vec<String> = steps.iter().filter(|s| s.0 > 0).map(|s| s.0.to_string()).collect();
    match ons.as_slice() {
        [] => "off".to_string(),
        [only] if one.is_empty() => format!("{only} ms"),
        [only] => format!("{one} {only} ms"),
        [first, rest @ ..] if rest.iter().all(|r| r == first) => format!("{} {many} of {first} ms", ons.len()),
        _ => format!("{} {many} of {} ms", ons.len(), ons.join("/")),
    }
}

/// One switch of one line, `at` after the pattern starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Offset from the start of the pattern.
    pub at: Duration,
    /// Which line.
    pub line: Line,
    /// Switched on (true) or off.
    pub on: bool,
}

impl Pattern {
    /// The pattern as a time-ordered list of switches; every line ends off.
    pub fn edges(&self) -> Vec<Edge> {
        let mut edges = Vec::new();
        for (line, steps) in [(Line::Led, self.led), (Line::Buzzer, self.buzzer)] {
            let mut t = Duration::ZERO;
            for &(on, off) in steps {
                if on > 0 {
                    edges.push(Edge { at: t, line, on: true });
                    t += Duration::from_millis(on);
                    edges.push(Edge { at: t, line, on: false });
                }
                t += Duration::from_millis(off);
            }
        }
        edges.sort_by_key(|e| e.at); // stable: at equal times the LED switches first
        edges
    }
}

/// Something that can be switched on and off: a GPIO line, a log, a test recorder.
pub trait Output: Send {
    /// Switches the output. Failures are the output's to report; the pattern goes on.
    fn set(&mut self, on: bool);
}

/// A GPIO output line; a failing line is logged once, not on every switch. Also the status light's lamps.
pub(crate) struct GpioOutput {
    line: OutputLine,
    /// What it drives, for the log: `"feedback: led"`, `"status light: green"`.
    name: String,
    failed: bool,
}

impl GpioOutput {
    /// `line`, logged as `name`.
    pub(crate) fn new(line: OutputLine, name: String) -> GpioOutput {
        GpioOutput {
            line,
            name,
            failed: false,
        }
    }
}

impl Output for GpioOutput {
    fn set(&mut self, on: bool) {
        match self.line.set(on) {
            Ok(()) => self.failed = false,
            Err(e) if !self.failed => {
                tracing::warn!("{} line: {e}", self.name);
                self.failed = true;
            }
            Err(e) => tracing::debug!("{} line: {e}", self.name),
        }
    }
}

/// A simulated output: logs each switch at trace, as `"<name> on|off"`. Also the status light's lamps.
pub(crate) struct LogOutput(pub(crate) String);

impl Output for LogOutput {
    fn set(&mut self, on: bool) {
        tracing::trace!("{} {}", self.0, if on { "on" } else { "off" });
    }
}

/// A line that is not fitted (a kiosk with an LED but no buzzer).
struct Absent;

impl Output for Absent {
    fn set(&mut self, _on: bool) {}
}

/// Handle to the feedback task.
#[derive(Clone)]
pub struct Feedback {
    // watch: "latest wins" is exactly "a new signal replaces the one playing", and sending never blocks.
    tx: Arc<watch::Sender<Option<Signal>>>,
    stopped: CancellationToken,
}

impl Feedback {
    /// Opens the configured outputs and starts the pattern player (inside a tokio runtime). The lines are
    /// switched off when `cancel` fires; await [`Feedback::stopped`] before exiting to be sure.
    pub fn spawn(cfg: &FeedbackConfig, cancel: CancellationToken) -> Result<Feedback, FeedbackError> {
        let (led, buzzer): (Box<dyn Output>, Box<dyn Output>) = match cfg.kind {
            FeedbackKind::Simulated => {
                let (led, buzzer) = (
                    Box::new(LogOutput("feedback: led".into())),
                    Box::new(LogOutput("feedback: buzzer".into())),
                );
                return Ok(Feedback::start(led, buzzer, Announce::Info, cancel));
            }
            FeedbackKind::Gpio => (
                open_line(cfg.led.as_ref(), "led")?,
                open_line(cfg.buzzer.as_ref(), "buzzer")?,
            ),
        };
        Ok(Feedback::spawn_with(led, buzzer, cancel))
    }

    /// Starts the pattern player on the given outputs (tests, or a board with other wiring).
    pub fn spawn_with(led: Box<dyn Output>, buzzer: Box<dyn Output>, cancel: CancellationToken) -> Feedback {
        Feedback::start(led, buzzer, Announce::Debug, cancel)
    }

    fn start(led: Box<dyn Output>, buzzer: Box<dyn Output>, announce: Announce, cancel: CancellationToken) -> Feedback {
        let (tx, rx) = watch::channel(None);
        let stopped = CancellationToken::new();
        tokio::spawn(play(
            Player {
                led,
                buzzer,
                lit: [false; 2],
                announce,
            },
            rx,
            cancel,
            stopped.clone(),
        ));
        Feedback {
            tx: Arc::new(tx),
            stopped,
        }
    }

    /// Plays `s` (never blocks; a new signal replaces one still playing).
    pub fn signal(&self, s: Signal) {
        // send_replace never fails; if the player has stopped (shutdown) the signal is simply not played.
        self.tx.send_replace(Some(s));
    }

    /// Resolves once the player has stopped with LED and buzzer off (after cancel, or all handles dropped).
    pub async fn stopped(&self) {
        self.stopped.cancelled().await;
    }
}

fn open_line(pin: Option<&PinConfig>, name: &'static str) -> Result<Box<dyn Output>, FeedbackError> {
    let Some(pin) = pin else { return Ok(Box::new(Absent)) };
    let line = gpio::open_output(pin).map_err(|e| FeedbackError::Gpio(format!("{name}: {e}")))?;
    Ok(Box::new(GpioOutput::new(line, format!("feedback: {name}"))))
}

/// At which level a signal is logged when it starts.
#[derive(Debug, Clone, Copy)]
enum Announce {
    /// Simulated outputs: the log is the only place the signal shows, so at the default level.
    Info,
    /// Real outputs: the shopper hears it; the log is for debugging.
    Debug,
}

struct Player {
    led: Box<dyn Output>,
    buzzer: Box<dyn Output>,
    /// What we last set, to know whether an interruption needs a gap.
    lit: [bool; 2],
    announce: Announce,
}

impl Player {
    fn set(&mut self, line: Line, on: bool) {
        match line {
            Line::Led => self.led.set(on),
            Line::Buzzer => self.buzzer.set(on),
        }
        self.lit[line as usize] = on;
    }

    /// Both off; returns whether anything was on.
    fn all_off(&mut self) -> bool {
        let was_lit = self.lit.iter().any(|l| *l);
        self.set(Line::Led, false);
        self.set(Line::Buzzer, false);
        was_lit
    }
}

async fn play(
    mut out: Player,
    mut rx: watch::Receiver<Option<Signal>>,
    cancel: CancellationToken,
    stopped: CancellationToken,
) {
    out.all_off();
    // The pattern playing: its start, its edges and the next edge to apply.
    let mut playing: Option<(Instant, Vec<Edge>, usize)> = None;
    loop {
        let next_at = playing
            .as_ref()
            .and_then(|(start, edges, i)| edges.get(*i).map(|e| *start + e.at));
        let next_edge = async {
            match next_at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            changed = rx.changed() => {
                if changed.is_err() {
                    break; // every Feedback handle is gone
                }
                let Some(signal) = *rx.borrow_and_update() else { continue };
                match out.announce {
                    Announce::Info => tracing::info!("feedback (simulated): {}", signal.summary()),
                    Announce::Debug => tracing::debug!("feedback: {}", signal.describe()),
                }
                let start = if out.all_off() { Instant::now() + INTERRUPT_GAP } else { Instant::now() };
                playing = Some((start, signal.pattern().edges(), 0));
            }
            _ = next_edge => {
                if let Some((start, edges, i)) = playing.as_mut() {
                    // Apply every edge due now, so lines switched "together" are not a poll apart.
                    let now = Instant::now();
                    while let Some(e) = edges.get(*i).filter(|e| *start + e.at <= now) {
                        let (line, on) = (e.line, e.on);
                        *i += 1;
                        out.set(line, on);
                    }
                    if *i >= edges.len() {
                        playing = None;
                    }
                }
            }
        }
    }
    out.all_off();
    stopped.cancel();
}

#[cfg(test)]
mod tests {

    use super::*;

    type Recorder = crate::test_logs::Recorder<Line>;

    fn start() -> (Feedback, Recorder, CancellationToken) {
        let rec = Recorder::new();
        let cancel = CancellationToken::new();
        let fb = Feedback::spawn_with(rec.output(Line::Led), rec.output(Line::Buzzer), cancel.clone());
        (fb, rec, cancel)
    }

    async fn play_alone(s: Signal) -> Vec<(u64, Line, bool)> {
        let (fb, rec, cancel) = start();
        fb.signal(s);
        tokio::time::sleep(Duration::from_secs(2)).await; // virtual time: the whole pattern plays out
        cancel.cancel();
        fb.stopped().await;
        rec.timeline()
    }

    use Line::{Buzzer, Led};

    #[tokio::test(start_paused = true)]
    async fn good_read_is_one_80ms_beep_with_a_200ms_led_flash() {
        let want = vec![
            (0, Led, true),
            (0, Buzzer, true),
            (80, Buzzer, false),
            (200, Led, false),
        ];
        assert_eq!(play_alone(Signal::GoodRead).await, want);
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_is_two_short_beeps() {
        let want = vec![
            (0, Led, true),
            (0, Buzzer, true),
            (60, Led, false),
            (60, Buzzer, false),
            (140, Led, true),
            (140, Buzzer, true),
            (200, Led, false),
            (200, Buzzer, false),
        ];
        assert_eq!(play_alone(Signal::NotFound).await, want);
    }

    #[tokio::test(start_paused = true)]
    async fn invalid_is_one_long_beep_and_three_led_blinks() {
        let want = vec![
            (0, Led, true),
            (0, Buzzer, true),
            (100, Led, false),
            (200, Led, true),
            (300, Led, false),
            (400, Led, true),
            (400, Buzzer, false),
            (500, Led, false),
        ];
        assert_eq!(play_alone(Signal::Invalid).await, want);
    }

    #[tokio::test(start_paused = true)]
    async fn the_three_signals_sound_different() {
        let good = play_alone(Signal::GoodRead).await;
        let not_found = play_alone(Signal::NotFound).await;
        let invalid = play_alone(Signal::Invalid).await;
        let buzz = |t: &[(u64, Line, bool)]| t.iter().filter(|e| e.1 == Buzzer).copied().collect::<Vec<_>>();
        assert_ne!(buzz(&good), buzz(&not_found));
        assert_ne!(buzz(&good), buzz(&invalid));
        assert_ne!(buzz(&not_found), buzz(&invalid));
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_signal_cuts_the_playing_one_short_and_plays_after_a_gap() {
        let (fb, rec, cancel) = start();
        fb.signal(Signal::Invalid);
        tokio::time::sleep(Duration::from_millis(30)).await;
        fb.signal(Signal::GoodRead);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let want = vec![
            (0, Led, true),
            (0, Buzzer, true),
            (30, Led, false),
            (30, Buzzer, false),
            (80, Led, true),
            (80, Buzzer, true),
            (160, Buzzer, false),
            (280, Led, false),
        ];
        assert_eq!(
            rec.timeline(),
            want,
            "the long beep stops at once; the good-read beep is heard on its own"
        );
        cancel.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_mid_pattern_switches_everything_off() {
        let (fb, rec, cancel) = start();
        fb.signal(Signal::Invalid);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(rec.is_on(Buzzer), "precondition: the long beep is sounding");
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(1), fb.stopped())
            .await
            .expect("player stops on cancel");
        assert!(
            !rec.is_on(Buzzer) && !rec.is_on(Led),
            "never left beeping: {:?}",
            rec.timeline()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_every_handle_stops_the_player_with_lines_off() {
        let (fb, rec, _cancel) = start();
        fb.signal(Signal::Invalid);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let watcher = fb.stopped.clone();
        drop(fb);
        tokio::time::timeout(Duration::from_secs(1), watcher.cancelled())
            .await
            .expect("player stops");
        assert!(!rec.is_on(Buzzer) && !rec.is_on(Led));
    }

    #[tokio::test(start_paused = true)]
    async fn simulated_feedback_starts_without_hardware() {
        let cancel = CancellationToken::new();
        let fb = Feedback::spawn(&FeedbackConfig::default(), cancel.clone()).expect("simulated needs no GPIO");
        fb.signal(Signal::GoodRead);
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(1), fb.stopped())
            .await
            .expect("stops on cancel");
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_gpio_chip_is_an_error_naming_the_line_and_chip() {
        let cfg = FeedbackConfig {
            kind: FeedbackKind::Gpio,
            led: None,
            buzzer: Some(PinConfig {
                chip: "no-such-chip-omnigate".into(),
                line: 17,
                active_low: false,
            }),
        };
        let err = Feedback::spawn(&cfg, CancellationToken::new())
            .err()
            .expect("no such chip on a test machine");
        let msg = err.to_string();
        assert!(msg.contains("buzzer") && msg.contains("no-such-chip-omnigate"), "{msg}");
    }

    #[test]
    fn each_signal_is_summarised_as_heard_and_seen() {
        let table = [
            (Signal::GoodRead, "good read — beep 80 ms, LED 200 ms"),
            (Signal::NotFound, "not found — 2 beeps of 60 ms, LED 2 blinks of 60 ms"),
            (Signal::Invalid, "invalid — beep 400 ms, LED 3 blinks of 100 ms"),
        ];
        for (s, want) in table {
            assert_eq!(s.summary(), want);
        }
        assert_eq!(pulses(&[(60, 80), (90, 0)], "beep", "beeps"), "2 beeps of 60/90 ms");
    }

    use crate::test_logs::capture_logs;

    #[tokio::test(start_paused = true)]
    async fn simulated_feedback_logs_each_signal_once_at_info_as_the_readme_promises() {
        let (logs, _guard) = capture_logs(tracing::Level::INFO);
        let cancel = CancellationToken::new();
        let fb = Feedback::spawn(&FeedbackConfig::default(), cancel.clone()).expect("simulated needs no GPIO");
        fb.signal(Signal::GoodRead);
        tokio::time::sleep(Duration::from_secs(1)).await;
        fb.signal(Signal::Invalid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
        fb.stopped().await;
        let text = String::from_utf8(logs.lock().expect("test lock").clone()).expect("utf-8 log");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "one line per signal, no per-edge noise at info: {text}");
        assert!(
            lines[0].contains("INFO") && lines[0].ends_with("feedback (simulated): good read — beep 80 ms, LED 200 ms"),
            "{text}"
        );
        assert!(
            lines[1].ends_with("feedback (simulated): invalid — beep 400 ms, LED 3 blinks of 100 ms"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn real_outputs_log_signals_below_info() {
        let (logs, _guard) = capture_logs(tracing::Level::INFO);
        let (fb, rec, cancel) = start();
        fb.signal(Signal::GoodRead);
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
        fb.stopped().await;
        assert!(!rec.timeline().is_empty(), "precondition: the pattern played");
        assert!(
            logs.lock().expect("test lock").is_empty(),
            "a kiosk's log is not a beep counter"
        );
    }

    #[test]
    fn every_pattern_ends_with_both_lines_off() {
        for s in [Signal::GoodRead, Signal::NotFound, Signal::Invalid] {
            let edges = s.pattern().edges();
            for line in [Led, Buzzer] {
                let last = edges
                    .iter()
                    .rev()
                    .find(|e| e.line == line)
                    .expect("each pattern uses both lines");
                assert!(!last.on, "{s:?} leaves {line:?} on");
            }
        }
    }
}
