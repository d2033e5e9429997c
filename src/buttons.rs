//! Station buttons: Pay, Cancel and Help on GPIO lines, or typed on standard input in development, plus an
//! optional USB staff keypad (`keypad`, see [`crate::keypad`]) with any of them, all delivered as [`Key`]s on
//! one channel. Owns the `[buttons]` configuration, contact debouncing (the sans-IO [`Debouncer`]) and the
//! threads that wait for GPIO edges. Never decides what a key means: a Help press
//! becoming `assist.requested`, a PIN being checked, are the station's.
//!
//! A press is reported once the line has been steadily pressed for `debounce_ms` (30 ms by default), so
//! contact bounce never gives two presses and holding a button gives one. A release needs the same steadiness,
//! so bounce on release, or a contact that chatters while held, is not a new press either. The price is that a
//! press reaches the station `debounce_ms` after the finger: well under what a shopper notices.
//!
//! GPIO: each button's line is read on its own thread, blocked in the kernel's event read (gpio-cdev has only
//! a blocking reader). The threads forward raw edges; the debouncing and its timers run in one tokio task. A
//! thread blocked in `read` cannot be cancelled: after shutdown it ends at its line's next edge, or with the
//! process. Input lines need no switching off.
//!
//! Development: `kind = "stdin"` takes the keys typed as `:pay`, `:1234` … on standard input; see
//! [`crate::scanner::stdin`], which reads stdin once for both the scanner and these keys.
//!
//! Keypad: `keypad = "/dev/input/by-id/…-event-kbd"` adds a USB numeric keypad, read by its own task, whose
//! keys join the same channel; it is what makes staff mode (PIN, menu) usable on GPIO hardware.
//!
//! CONTRACT: [`Key`], [`ButtonsConfig`], [`spawn`], [`Debouncer`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::PinConfig;
use crate::gpio::{self, GpioError};

/// What the station receives from its buttons (or keypad, or a developer's stdin): the station's own key type.
pub use crate::checkout::station::Key;

/// Default for `buttons.debounce_ms`.
pub const DEFAULT_DEBOUNCE_MS: u64 = 30;

/// Which button backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ButtonsKind {
    /// Push buttons on GPIO lines (`pay`, `cancel`, `help`).
    Gpio,
    /// Keys typed on standard input (development).
    Stdin,
    /// No buttons (a product-information kiosk).
    #[default]
    None,
}

/// `[buttons]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonsConfig {
    /// Backend.
    #[serde(default)]
    pub kind: ButtonsKind,
    /// Pay button (required when `kind = "gpio"`). Usually wired to ground: `active_low = true`.
    #[serde(default)]
    pub pay: Option<PinConfig>,
    /// Cancel button (required when `kind = "gpio"`).
    #[serde(default)]
    pub cancel: Option<PinConfig>,
    /// Help button (required when `kind = "gpio"`).
    #[serde(default)]
    pub help: Option<PinConfig>,
    /// How long a line must be steadily pressed (or released) to count, in milliseconds.
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
    /// A USB numeric keypad for the staff PIN (its evdev node, best under `/dev/input/by-id/`), with any
    /// `kind`, `none` included. Its keys join the buttons' channel; see [`crate::keypad`] for the mapping.
    #[serde(default)]
    pub keypad: Option<PathBuf>,
}

fn default_debounce_ms() -> u64 {
    DEFAULT_DEBOUNCE_MS
}

impl Default for ButtonsConfig {
    fn default() -> Self {
        ButtonsConfig {
            kind: ButtonsKind::default(),
            pay: None,
            cancel: None,
            help: None,
            debounce_ms: DEFAULT_DEBOUNCE_MS,
            keypad: None,
        }
    }
}

/// A `[buttons]` setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ButtonsConfigError {
    /// Full dotted key, e.g. `buttons.help`.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ButtonsConfig {
    /// Rules serde cannot express, naming the key (`buttons.…`) that breaks one.
    pub fn validate(&self) -> Result<(), ButtonsConfigError> {
        let err = |key: &str, reason: String| {
            Err(ButtonsConfigError {
                key: format!("buttons.{key}"),
                reason,
            })
        };
        // Below 5 ms most contacts are still bouncing; above 500 ms a brisk press is shorter than the window
        // and would be lost.
        if !(5..=500).contains(&self.debounce_ms) {
            return err("debounce_ms", "must be between 5 and 500".into());
        }
        // The daemon's working directory is not a place anyone configures a device from.
        if let Some(path) = &self.keypad {
            if !path.is_absolute() {
                return err(
                    "keypad",
                    format!(
                        "must be an absolute path, e.g. /dev/input/by-id/usb-…-event-kbd (got {:?})",
                        path.display().to_string()
                    ),
                );
            }
        }
        if self.kind != ButtonsKind::Gpio {
            return Ok(());
        }
        let mut seen: Vec<(&str, &PinConfig)> = Vec::new();
        for (name, pin) in self.pins() {
            let Some(pin) = pin else {
                return err(name, "required when buttons.kind = \"gpio\"".into());
            };
            if let Some((other, _)) = seen.iter().find(|(_, p)| p.chip == pin.chip && p.line == pin.line) {
                return err(
                    name,
                    format!("same GPIO line as buttons.{other} ({}:{})", pin.chip, pin.line),
                );
            }
            seen.push((name, pin));
        }
        Ok(())
    }

    fn pins(&self) -> [(&'static str, Option<&PinConfig>); 3] {
        [
            ("pay", self.pay.as_ref()),
            ("cancel", self.cancel.as_ref()),
            ("help", self.help.as_ref()),
        ]
    }
}

/// Buttons that could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ButtonsError {
    /// A button's line could not be opened (the GPIO error names chip and line).
    #[error("buttons.{button}: {source}")]
    Gpio {
        /// Which button.
        button: &'static str,
        /// What the kernel said.
        source: GpioError,
    },
    /// `kind = "gpio"` without one of the lines (config validation rejects this first).
    #[error("buttons.{0}: required when buttons.kind = \"gpio\"")]
    Missing(&'static str),
    /// `kind = "stdin"` but the caller passed no stdin key stream.
    #[error("buttons.kind = \"stdin\" but no standard-input reader was given (scanner::stdin::stdin_streams)")]
    NoStdin,
    /// The thread that reads a button's edges could not be started.
    #[error("buttons.{button}: cannot start its reading thread: {source}")]
    Thread {
        /// Which button.
        button: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Turns the raw edges of one contact into presses. Sans-IO: the caller passes every edge with its time, and
/// calls [`Debouncer::poll`] at [`Debouncer::deadline`], the moment a level will have been steady long enough.
///
/// A level counts once it has held for `debounce` with no edge; any edge before that restarts the wait. Two
/// edges reporting the same level mean the opposite edge between them was lost (the kernel reports the level
/// it read after each edge): that is bounce too, and restarts the wait.
#[derive(Debug, Clone)]
pub struct Debouncer {
    debounce: Duration,
    /// The debounced level: true while the button counts as pressed.
    pressed: bool,
    /// A raw level different from `pressed`, and when it was last reported.
    pending: Option<(bool, Instant)>,
}

impl Debouncer {
    /// A released button.
    pub fn new(debounce: Duration) -> Debouncer {
        Debouncer {
            debounce,
            pressed: false,
            pending: None,
        }
    }

    /// The line went to `pressed` at `at`. Returns true when this edge shows that a press had already
    /// completed (the level before it was held for `debounce`, but [`Debouncer::poll`] was late).
    pub fn edge(&mut self, pressed: bool, at: Instant) -> bool {
        let press = self.poll(at);
        self.pending = (pressed != self.pressed).then_some((pressed, at));
        press
    }

    /// When [`Debouncer::poll`] should next be called: a pending level becomes steady then.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.map(|(_, since)| since + self.debounce)
    }

    /// Settles a level that has been steady for `debounce` by `now`. Returns true for a new press.
    pub fn poll(&mut self, now: Instant) -> bool {
        match self.pending {
            Some((level, since)) if now.saturating_duration_since(since) >= self.debounce => {
                self.pressed = level;
                self.pending = None;
                level
            }
            _ => false,
        }
    }

    /// Whether the button counts as held down now.
    pub fn is_pressed(&self) -> bool {
        self.pressed
    }
}

/// One raw edge of a button line, as a reading thread forwards it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RawEdge {
    key: Key,
    pressed: bool,
    at: Instant,
}

/// Starts the configured buttons; keys arrive on the returned channel.
///
/// `stdin_keys` is the key stream of [`crate::scanner::stdin::stdin_streams`], required for `kind = "stdin"`
/// and dropped otherwise. With `keypad` set its keys are merged in; an absent or unplugged keypad is retried
/// in the background and is never an error here. The channel stays open until `cancel` fires, whatever the
/// backend (for `none` it simply stays quiet), so a station selecting on it never sees a closed channel while
/// running. Must be called inside a tokio runtime.
pub fn spawn(
    cfg: &ButtonsConfig,
    stdin_keys: Option<mpsc::Receiver<Key>>,
    cancel: CancellationToken,
) -> Result<mpsc::Receiver<Key>, ButtonsError> {
    let (tx, rx) = mpsc::channel(16);
    // Started after the buttons, so a GPIO error leaves no keypad task behind.
    let keypad = cfg.keypad.clone().map(|path| (path, tx.clone(), cancel.clone()));
    match cfg.kind {
        ButtonsKind::Gpio => {
            let mut lines = Vec::new();
            for (name, pin) in cfg.pins() {
                let pin = pin.ok_or(ButtonsError::Missing(name))?;
                let line = gpio::open_input(pin).map_err(|source| ButtonsError::Gpio { button: name, source })?;
                lines.push((name, line));
            }
            let (edge_tx, edge_rx) = mpsc::channel(64);
            for ((name, line), key) in lines.into_iter().zip([Key::Pay, Key::Cancel, Key::Help]) {
                let edge_tx = edge_tx.clone();
                std::thread::Builder::new()
                    .name(format!("omnigate-btn-{name}"))
                    .spawn(move || read_edges(line, name, key, edge_tx))
                    .map_err(|source| ButtonsError::Thread { button: name, source })?;
            }
            let debounce = Duration::from_millis(cfg.debounce_ms);
            tokio::spawn(debounce_edges(edge_rx, debounce, tx, cancel));
            tracing::info!("buttons: pay, cancel and help on GPIO, debounce {} ms", cfg.debounce_ms);
        }
        ButtonsKind::Stdin => {
            let keys = stdin_keys.ok_or(ButtonsError::NoStdin)?;
            tokio::spawn(forward(keys, tx, cancel));
        }
        ButtonsKind::None => {
            // Hold the sender until shutdown: a closed channel would read as "buttons gone" in a select loop.
            tokio::spawn(async move {
                cancel.cancelled().await;
                drop(tx);
            });
        }
    }
    if let Some((path, keypad_tx, keypad_cancel)) = keypad {
        tracing::info!("buttons: staff keypad at {}", path.display());
        crate::keypad::spawn(path, keypad_tx, keypad_cancel);
    }
    Ok(rx)
}

/// A button line's reading thread: forwards each edge until the line fails or nobody listens.
fn read_edges(mut line: gpio::InputLine, name: &'static str, key: Key, tx: mpsc::Sender<RawEdge>) {
    loop {
        match line.next_edge() {
            Ok(e) => {
                let edge = RawEdge {
                    key,
                    pressed: e.active,
                    at: Instant::from_std(e.at),
                };
                if tx.blocking_send(edge).is_err() {
                    return; // shut down
                }
            }
            Err(e) => {
                // Not retried: a GPIO line does not come and go like a USB device; this is a kernel fault.
                tracing::error!("buttons: {name} button ({}) stops working: {e}", line.name());
                return;
            }
        }
    }
}

/// Debounces the edges of every button; sends a key per press until `cancel` or the key receiver is gone.
async fn debounce_edges(
    mut edges: mpsc::Receiver<RawEdge>,
    debounce: Duration,
    tx: mpsc::Sender<Key>,
    cancel: CancellationToken,
) {
    let mut buttons: Vec<(Key, Debouncer)> = Vec::new();
    let mut edges_open = true;
    loop {
        let deadline = buttons.iter().filter_map(|(_, d)| d.deadline()).min();
        let settle = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let mut pressed = Vec::new();
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            edge = edges.recv(), if edges_open => match edge {
                Some(e) => {
                    let i = buttons.iter().position(|(k, _)| *k == e.key).unwrap_or_else(|| {
                        buttons.push((e.key, Debouncer::new(debounce)));
                        buttons.len() - 1
                    });
                    if buttons[i].1.edge(e.pressed, e.at) {
                        pressed.push(e.key);
                    }
                }
                // Every reading thread has stopped (each logged why): the buttons go quiet, the channel stays.
                None => edges_open = false,
            },
            _ = settle => {
                let now = Instant::now();
                for (key, d) in &mut buttons {
                    if d.poll(now) {
                        pressed.push(*key);
                    }
                }
            }
        }
        for key in pressed {
            tracing::debug!(?key, "button pressed");
            if !send(&tx, key, &cancel).await {
                return;
            }
        }
    }
}

/// Passes typed keys on until `cancel`; the output channel stays open after the input ends (end of stdin).
async fn forward(mut keys: mpsc::Receiver<Key>, tx: mpsc::Sender<Key>, cancel: CancellationToken) {
    loop {
        let key = tokio::select! {
            _ = cancel.cancelled() => return,
            k = keys.recv() => k,
        };
        let Some(key) = key else { break };
        if !send(&tx, key, &cancel).await {
            return;
        }
    }
    cancel.cancelled().await;
}

/// Delivers `key`; false when the receiver is gone or we are cancelled (stop either way).
async fn send(tx: &mpsc::Sender<Key>, key: Key, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        r = tx.send(key) => r.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(30);

    /// Plays `edges` (ms after start, pressed) through a debouncer the way [`debounce_edges`] drives it:
    /// polling at each deadline that falls before the next edge, and after the last edge until `end_ms`.
    /// Returns the ms at which presses were reported.
    fn presses(edges: &[(u64, bool)], end_ms: u64) -> Vec<u64> {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let ms = |t: Instant| u64::try_from((t - t0).as_millis()).expect("short test");
        let mut d = Debouncer::new(DEBOUNCE);
        let mut out = Vec::new();
        let poll_until = |d: &mut Debouncer, until: Instant, out: &mut Vec<u64>| {
            while let Some(due) = d.deadline().filter(|due| *due <= until) {
                if d.poll(due) {
                    out.push(ms(due));
                }
            }
        };
        for &(t, level) in edges {
            poll_until(&mut d, at(t), &mut out);
            if d.edge(level, at(t)) {
                out.push(t);
            }
        }
        poll_until(&mut d, at(end_ms), &mut out);
        out
    }

    #[test]
    fn a_clean_press_is_reported_once_the_contact_has_held_for_the_debounce_time() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(DEBOUNCE);
        assert!(!d.edge(true, t0));
        assert_eq!(d.deadline(), Some(t0 + DEBOUNCE));
        assert!(!d.poll(t0 + Duration::from_millis(29)), "not steady yet");
        assert!(d.poll(t0 + DEBOUNCE), "steady for 30 ms: a press");
        assert!(d.is_pressed());
        assert_eq!(d.deadline(), None, "nothing pending while held");
    }

    #[test]
    fn bounce_on_press_gives_exactly_one_press_after_the_last_bounce_settles() {
        let bouncy = [
            (0, true),
            (2, false),
            (3, true),
            (5, false),
            (6, true),
            (9, false),
            (10, true),
        ];
        assert_eq!(presses(&bouncy, 1000), vec![40]);
    }

    #[test]
    fn a_blip_shorter_than_the_debounce_time_is_never_a_press() {
        assert_eq!(presses(&[(0, true), (20, false)], 1000), Vec::<u64>::new());
        // Interference: many short spikes, none steady for 30 ms.
        let spikes: Vec<(u64, bool)> = (0..50).flat_map(|i| [(i * 25, true), (i * 25 + 10, false)]).collect();
        assert_eq!(presses(&spikes, 5000), Vec::<u64>::new());
    }

    #[test]
    fn holding_a_button_is_one_press() {
        assert_eq!(presses(&[(0, true)], 10_000), vec![30]);
        assert_eq!(presses(&[(0, true), (8_000, false)], 10_000), vec![30]);
    }

    #[test]
    fn two_quick_real_presses_are_two_presses() {
        // 80 ms down, 80 ms up, 80 ms down: a brisk double press.
        let double = [(0, true), (80, false), (160, true), (240, false)];
        assert_eq!(presses(&double, 1000), vec![30, 190]);
    }

    #[test]
    fn bounce_on_release_is_not_a_second_press() {
        let press_then_bouncy_release = [
            (0, true),
            (200, false),
            (202, true),
            (204, false),
            (207, true),
            (209, false),
        ];
        assert_eq!(presses(&press_then_bouncy_release, 1000), vec![30]);
    }

    #[test]
    fn a_contact_chattering_while_held_is_not_a_second_press() {
        let held_with_chatter = [(0, true), (500, false), (503, true), (1_200, false)];
        assert_eq!(presses(&held_with_chatter, 2000), vec![30]);
    }

    #[test]
    fn a_lost_edge_restarts_the_wait_instead_of_completing_a_press() {
        // Two "pressed" reports in a row: the release between them was lost, so the contact was not steady.
        assert_eq!(presses(&[(0, true), (25, true), (40, false)], 1000), Vec::<u64>::new());
    }

    #[test]
    fn a_press_is_not_lost_when_the_poll_comes_late() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(DEBOUNCE);
        d.edge(true, t0);
        // No poll at t0 + 30 ms (a busy runtime): the release edge itself shows the press had completed.
        assert!(d.edge(false, t0 + Duration::from_millis(100)));
        assert!(
            !d.poll(t0 + Duration::from_secs(1)),
            "and the release is no second press"
        );
    }

    fn edge(key: Key, pressed: bool) -> RawEdge {
        RawEdge {
            key,
            pressed,
            at: Instant::now(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_gpio_path_sends_one_key_per_real_press_of_each_button() {
        let (edge_tx, edge_rx) = mpsc::channel(64);
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(debounce_edges(edge_rx, DEBOUNCE, tx, cancel.clone()));
        let start = Instant::now();
        // Pay bounces three times, then holds; Help is pressed cleanly while Pay is settling.
        for (ms, e) in [
            (0, edge(Key::Pay, true)),
            (2, edge(Key::Pay, false)),
            (4, edge(Key::Pay, true)),
            (10, edge(Key::Help, true)),
        ] {
            tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
            edge_tx
                .send(RawEdge {
                    at: Instant::now(),
                    ..e
                })
                .await
                .expect("task running");
        }
        let first = rx.recv().await.expect("a key");
        assert_eq!((first, start.elapsed()), (Key::Pay, Duration::from_millis(34)));
        let second = rx.recv().await.expect("a key");
        assert_eq!((second, start.elapsed()), (Key::Help, Duration::from_millis(40)));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(rx.try_recv().is_err(), "holding both gives nothing more");
        cancel.cancel();
        task.await.expect("stops on cancel");
        assert_eq!(rx.recv().await, None, "the key channel closes after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn the_key_channel_stays_open_when_every_reading_thread_has_stopped() {
        let (edge_tx, edge_rx) = mpsc::channel(4);
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(debounce_edges(edge_rx, DEBOUNCE, tx, cancel.clone()));
        drop(edge_tx);
        let waited = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await;
        assert!(waited.is_err(), "quiet, not closed: {waited:?}");
        cancel.cancel();
        task.await.expect("stops on cancel");
    }

    #[tokio::test(start_paused = true)]
    async fn stdin_keys_are_passed_on_and_the_channel_closes_only_on_cancel() {
        let (typed_tx, typed_rx) = mpsc::channel(16);
        let cfg = ButtonsConfig {
            kind: ButtonsKind::Stdin,
            ..ButtonsConfig::default()
        };
        let cancel = CancellationToken::new();
        let mut keys = spawn(&cfg, Some(typed_rx), cancel.clone()).expect("stdin needs no hardware");
        for k in [Key::Digit(4), Key::Digit(2), Key::Enter, Key::Help] {
            typed_tx.send(k).await.expect("open");
        }
        drop(typed_tx); // end of stdin
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(keys.recv().await.expect("a key"));
        }
        assert_eq!(got, [Key::Digit(4), Key::Digit(2), Key::Enter, Key::Help]);
        let waited = tokio::time::timeout(Duration::from_secs(60), keys.recv()).await;
        assert!(
            waited.is_err(),
            "end of stdin must not close the key channel: {waited:?}"
        );
        cancel.cancel();
        let closed = tokio::time::timeout(Duration::from_secs(1), keys.recv()).await;
        assert_eq!(closed, Ok(None));
    }

    #[tokio::test(start_paused = true)]
    async fn no_buttons_is_a_quiet_channel_until_cancel() {
        let cancel = CancellationToken::new();
        let mut keys = spawn(&ButtonsConfig::default(), None, cancel.clone()).expect("none needs nothing");
        let waited = tokio::time::timeout(Duration::from_secs(60), keys.recv()).await;
        assert!(waited.is_err(), "{waited:?}");
        cancel.cancel();
        let closed = tokio::time::timeout(Duration::from_secs(1), keys.recv()).await;
        assert_eq!(closed, Ok(None));
    }

    #[tokio::test(start_paused = true)]
    async fn an_absent_keypad_does_not_stop_the_other_keys_nor_close_the_channel() {
        let (typed_tx, typed_rx) = mpsc::channel(16);
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = ButtonsConfig {
            kind: ButtonsKind::Stdin,
            keypad: Some(dir.path().join("usb-Keypad-event-kbd")), // never plugged in
            ..ButtonsConfig::default()
        };
        let cancel = CancellationToken::new();
        let mut keys = spawn(&cfg, Some(typed_rx), cancel.clone()).expect("an absent keypad is retried, not fatal");
        // Let the keypad task fail to open a few times first.
        tokio::time::sleep(Duration::from_secs(3)).await;
        for k in [Key::Help, Key::Pay] {
            typed_tx.send(k).await.expect("open");
        }
        assert_eq!(keys.recv().await, Some(Key::Help));
        assert_eq!(keys.recv().await, Some(Key::Pay));
        drop(typed_tx);
        let waited = tokio::time::timeout(Duration::from_secs(60), keys.recv()).await;
        assert!(
            waited.is_err(),
            "neither the keypad nor stdin closes the channel: {waited:?}"
        );
        cancel.cancel();
        let closed = tokio::time::timeout(Duration::from_secs(1), keys.recv()).await;
        assert_eq!(closed, Ok(None), "the keypad task lets go of the channel on cancel");
    }

    #[tokio::test]
    async fn stdin_buttons_without_a_stdin_reader_is_an_error() {
        let cfg = ButtonsConfig {
            kind: ButtonsKind::Stdin,
            ..ButtonsConfig::default()
        };
        let err = spawn(&cfg, None, CancellationToken::new()).expect_err("nothing to read");
        assert!(matches!(err, ButtonsError::NoStdin), "{err}");
    }

    fn pin(chip: &str, line: u32) -> Option<PinConfig> {
        Some(PinConfig {
            chip: chip.into(),
            line,
            active_low: true,
        })
    }

    fn gpio_cfg() -> ButtonsConfig {
        ButtonsConfig {
            kind: ButtonsKind::Gpio,
            pay: pin("pinctrl-rp1", 17),
            cancel: pin("pinctrl-rp1", 27),
            help: pin("pinctrl-rp1", 22),
            debounce_ms: 30,
            keypad: None,
        }
    }

    #[tokio::test]
    async fn a_missing_gpio_chip_is_an_error_naming_the_button_and_the_chip() {
        let mut cfg = gpio_cfg();
        cfg.pay = pin("no-such-chip-omnigate", 17);
        let msg = spawn(&cfg, None, CancellationToken::new())
            .expect_err("no such chip on a test machine")
            .to_string();
        assert!(
            msg.contains("buttons.pay") && msg.contains("no-such-chip-omnigate"),
            "{msg}"
        );
    }

    #[test]
    fn config_parses_with_defaults_and_rejects_unknown_keys() {
        let cfg: ButtonsConfig = toml::from_str("kind = \"stdin\"").expect("valid");
        assert_eq!(cfg.debounce_ms, 30);
        assert_eq!(cfg.kind, ButtonsKind::Stdin);
        let cfg: ButtonsConfig = toml::from_str(
            "kind = \"gpio\"\ndebounce_ms = 20\n\
             pay = { chip = \"pinctrl-rp1\", line = 17, active_low = true }\n\
             cancel = { chip = \"pinctrl-rp1\", line = 27 }\n\
             help = { chip = \"pinctrl-rp1\", line = 22 }",
        )
        .expect("valid");
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(cfg.pay, pin("pinctrl-rp1", 17));
        assert_eq!(ButtonsConfig::default().kind, ButtonsKind::None);
        let err = toml::from_str::<ButtonsConfig>("kind = \"gpio\"\nbounce_ms = 20").expect_err("typo");
        assert!(err.to_string().contains("bounce_ms"), "{err}");
        assert!(toml::from_str::<ButtonsConfig>("kind = \"keypad\"").is_err());
        // A keypad alone, on a station without buttons.
        let cfg: ButtonsConfig = toml::from_str("keypad = \"/dev/input/by-id/usb-Keypad-event-kbd\"").expect("valid");
        assert_eq!(cfg.kind, ButtonsKind::None);
        assert_eq!(cfg.keypad, Some(PathBuf::from("/dev/input/by-id/usb-Keypad-event-kbd")));
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(ButtonsConfig::default().keypad, None);
    }

    #[test]
    fn validation_names_the_bad_key() {
        let mut table: Vec<(ButtonsConfig, &str, &str)> = vec![
            (
                ButtonsConfig {
                    help: None,
                    ..gpio_cfg()
                },
                "buttons.help",
                "required",
            ),
            (
                ButtonsConfig {
                    cancel: pin("pinctrl-rp1", 17),
                    ..gpio_cfg()
                },
                "buttons.cancel",
                "same GPIO line as buttons.pay",
            ),
            (
                ButtonsConfig {
                    debounce_ms: 0,
                    ..gpio_cfg()
                },
                "buttons.debounce_ms",
                "between 5 and 500",
            ),
            (
                ButtonsConfig {
                    debounce_ms: 2_000,
                    ..ButtonsConfig::default()
                },
                "buttons.debounce_ms",
                "between 5 and 500",
            ),
        ];
        for keypad in ["event-kbd", "dev/input/event3", "./keypad", ""] {
            table.push((
                ButtonsConfig {
                    keypad: Some(PathBuf::from(keypad)),
                    ..gpio_cfg()
                },
                "buttons.keypad",
                "absolute path",
            ));
        }
        for (cfg, key, reason) in table {
            let e = cfg.validate().expect_err(key);
            assert_eq!(e.key, key);
            assert!(e.reason.contains(reason), "{key}: {}", e.reason);
        }
        assert_eq!(gpio_cfg().validate(), Ok(()));
        // Pins are only needed for GPIO: a developer's stdin config without them is fine.
        let stdin = ButtonsConfig {
            kind: ButtonsKind::Stdin,
            ..ButtonsConfig::default()
        };
        assert_eq!(stdin.validate(), Ok(()));
    }
}
