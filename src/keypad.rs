//! The staff keypad: a USB HID numeric keypad read through evdev (`[buttons] keypad`), so a PIN can be typed
//! on real hardware. Owns the key mapping ([`keypad_key`], pure) and the task that opens the device, grabs it,
//! turns its key presses into [`Key`]s and reopens it with backoff after an unplug. The keys join the channel
//! of [`crate::buttons::spawn`]; what a key means stays the station's.
//!
//! Mapping (presses only; auto-repeat and releases are ignored, so holding a key types it once):
//!
//! | keypad key                                   | [`Key`]        |
//! |----------------------------------------------|----------------|
//! | `0`–`9` (keypad or top row)                  | `Digit(0..=9)` |
//! | Enter, keypad Enter                          | `Enter`        |
//! | Backspace, keypad `.` / Del, Delete          | `Clear`        |
//! | Esc                                          | `Cancel`       |
//! | anything else (`+`, `-`, `*`, `/`, NumLock…) | nothing        |
//!
//! Why no Pay or Help: Enter already submits a PIN and chooses in the staff menu, a digit chooses menu item
//! *n*, and Esc leaves; a `+` or `-` is printed on the key, not "Pay" or "Help", so giving it a meaning would
//! surprise a shopper who touches the keypad. Esc is kept because many keypads have it and a station without
//! buttons (`kind = "none"`) needs a way out of staff mode that does not wait for the 60 s idle close.
//!
//! The device is always grabbed: a PIN must never reach a console or a login prompt. Never logs a key: digits
//! are PINs. An unplugged (or not yet plugged) keypad is retried with [`Backoff`] up to
//! [`REOPEN_BACKOFF_MAX`]; the keys of the other backends keep coming meanwhile.
//!
//! CONTRACT: [`keypad_key`], [`REOPEN_BACKOFF_MAX`].

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use evdev::{EventStream, EventType, KeyCode};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::checkout::station::Key;
use crate::scanner::hid::open_event_stream;
use crate::scanner::supervisor::{Backoff, BACKOFF_START};

/// Longest pause between attempts to reopen an absent keypad: short, because staff who plug it in are
/// standing at the station waiting to type.
pub const REOPEN_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// evdev's value for a key going down (1 = press, 0 = release, 2 = auto-repeat).
const PRESS: i32 = 1;

/// The station key for a raw evdev key event (`code`, `value`), or `None` when it is no key press we use
/// (see the module's table).
pub fn keypad_key(code: u16, value: i32) -> Option<Key> {
    if value != PRESS {
        return None;
    }
    use KeyCode as K;
    if let Some(d) = crate::scanner::keymap::digit_key(KeyCode(code)) {
        return Some(Key::Digit(d));
    }
    let key = match KeyCode(code) {
        K::KEY_KPENTER | K::KEY_ENTER => Key::Enter,
        // Keypads with their own NumLock send Delete for the `.`/Del key when it is off.
        K::KEY_BACKSPACE | K::KEY_KPDOT | K::KEY_DELETE => Key::Clear,
        K::KEY_ESC => Key::Cancel,
        _ => return None,
    };
    Some(key)
}

/// An open keypad: its raw key events, in order.
pub(crate) trait KeyEvents: Send {
    /// The next `EV_KEY` event as (code, value); an error means the device is gone and will be reopened.
    /// Must be cancel-safe: the task drops it at shutdown.
    fn next_key(&mut self) -> impl Future<Output = io::Result<(u16, i32)>> + Send;
}

/// A grabbed evdev keypad.
struct EvdevKeys(EventStream);

impl KeyEvents for EvdevKeys {
    async fn next_key(&mut self) -> io::Result<(u16, i32)> {
        loop {
            // next_event() keeps its buffer in the stream, so dropping it at shutdown loses nothing we need.
            let event = self.0.next_event().await?;
            if event.event_type() == EventType::KEY {
                return Ok((event.code(), event.value()));
            }
        }
    }
}

/// Starts reading the keypad at `path` (grabbed) onto `tx` until `cancel`. Never fails: a keypad that is
/// absent now is retried, as after an unplug. Must be called inside a tokio runtime.
pub(crate) fn spawn(path: PathBuf, tx: mpsc::Sender<Key>, cancel: CancellationToken) {
    let name = path.display().to_string();
    let open = move || open_event_stream(&path, true).map(EvdevKeys);
    tokio::spawn(run(open, name, tx, cancel));
}

/// Opens with `open`, forwards key presses, and after a failure reopens with backoff; until `cancel` fires or
/// the receiver of `tx` is gone.
pub(crate) async fn run<S, F>(mut open: F, name: String, tx: mpsc::Sender<Key>, cancel: CancellationToken)
where
    S: KeyEvents,
    F: FnMut() -> io::Result<S> + Send,
{
    let mut backoff = Backoff::new(REOPEN_BACKOFF_MAX);
    // One warning per outage, not one per attempt: a station may run without its keypad for days.
    let mut outage_reported = false;
    loop {
        match open() {
            Err(e) if !outage_reported => {
                tracing::warn!("keypad {name}: cannot open: {e} (retrying; staff cannot type a PIN meanwhile)");
                outage_reported = true;
            }
            Err(e) => tracing::debug!("keypad {name}: reopen failed: {e}"),
            Ok(mut keys) => {
                tracing::info!("keypad connected: {name}");
                let since = Instant::now();
                let err = loop {
                    let read = tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = keys.next_key() => r,
                    };
                    match read {
                        Ok((code, value)) => {
                            // Deliberately no log of the key: digits are PINs.
                            let Some(key) = keypad_key(code, value) else { continue };
                            let sent = tokio::select! {
                                _ = cancel.cancelled() => return,
                                r = tx.send(key) => r.is_ok(),
                            };
                            if !sent {
                                return;
                            }
                        }
                        Err(e) => break e,
                    }
                };
                drop(keys);
                // A keypad that opens and dies at once (a flapping cable) must not be reopened 10× a second.
                if since.elapsed() >= BACKOFF_START * 10 {
                    backoff.reset();
                }
                tracing::warn!("keypad disconnected: {name}: {err}");
                outage_reported = true;
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;

    const DOWN: i32 = 1;
    const UP: i32 = 0;
    const REPEAT: i32 = 2;

    #[test]
    fn digits_from_the_keypad_and_the_top_row_are_digits() {
        use KeyCode as K;
        let keypad = [
            K::KEY_KP0,
            K::KEY_KP1,
            K::KEY_KP2,
            K::KEY_KP3,
            K::KEY_KP4,
            K::KEY_KP5,
            K::KEY_KP6,
            K::KEY_KP7,
            K::KEY_KP8,
            K::KEY_KP9,
        ];
        let top_row = [
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
        for (d, (kp, top)) in (0u8..).zip(keypad.into_iter().zip(top_row)) {
            assert_eq!(keypad_key(kp.code(), DOWN), Some(Key::Digit(d)), "{kp:?}");
            assert_eq!(keypad_key(top.code(), DOWN), Some(Key::Digit(d)), "{top:?}");
        }
    }

    #[test]
    fn enter_clear_and_esc_map_to_the_station_keys() {
        use KeyCode as K;
        for (k, want) in [
            (K::KEY_KPENTER, Key::Enter),
            (K::KEY_ENTER, Key::Enter),
            (K::KEY_BACKSPACE, Key::Clear),
            (K::KEY_KPDOT, Key::Clear),
            (K::KEY_DELETE, Key::Clear),
            (K::KEY_ESC, Key::Cancel),
        ] {
            assert_eq!(keypad_key(k.code(), DOWN), Some(want), "{k:?}");
        }
    }

    #[test]
    fn releases_and_auto_repeat_are_not_presses() {
        use KeyCode as K;
        for k in [K::KEY_KP5, K::KEY_KPENTER, K::KEY_BACKSPACE, K::KEY_ESC] {
            assert_eq!(keypad_key(k.code(), UP), None, "{k:?} released");
            assert_eq!(keypad_key(k.code(), REPEAT), None, "{k:?} held");
        }
    }

    #[test]
    fn letters_operators_and_lock_keys_mean_nothing() {
        use KeyCode as K;
        for k in [
            K::KEY_A,
            K::KEY_Q,
            K::KEY_KPPLUS,
            K::KEY_KPMINUS,
            K::KEY_KPASTERISK,
            K::KEY_KPSLASH,
            K::KEY_NUMLOCK,
            K::KEY_TAB,
            K::KEY_LEFTSHIFT,
        ] {
            assert_eq!(keypad_key(k.code(), DOWN), None, "{k:?}");
        }
    }

    /// A scripted keypad: its events, then an error (unplugged) or, when `then_silent`, silence forever.
    struct FakeKeys {
        events: VecDeque<(u16, i32)>,
        then_silent: bool,
    }

    impl KeyEvents for FakeKeys {
        async fn next_key(&mut self) -> io::Result<(u16, i32)> {
            match self.events.pop_front() {
                Some(e) => Ok(e),
                None if self.then_silent => std::future::pending().await,
                None => Err(io::Error::from_raw_os_error(19)), // ENODEV: unplugged
            }
        }
    }

    fn typed(keys: &[KeyCode]) -> VecDeque<(u16, i32)> {
        keys.iter()
            .flat_map(|k| [(k.code(), DOWN), (k.code(), REPEAT), (k.code(), UP)])
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_pin_typed_on_the_keypad_arrives_and_the_keypad_is_reopened_after_an_unplug() {
        use KeyCode as K;
        // Absent at start, then a PIN cut short by an unplug, absent once more, then plugged in again.
        let script: VecDeque<Option<FakeKeys>> = VecDeque::from([
            None,
            Some(FakeKeys {
                events: typed(&[K::KEY_KP4, K::KEY_KP2, K::KEY_KPDOT, K::KEY_KP7]),
                then_silent: false,
            }),
            None,
            Some(FakeKeys {
                events: typed(&[K::KEY_KP1, K::KEY_KPENTER]),
                then_silent: true,
            }),
        ]);
        let script = Arc::new(Mutex::new(script));
        let opens = Arc::new(Mutex::new(Vec::new()));
        let open = {
            let (script, opens) = (script.clone(), opens.clone());
            move || {
                opens.lock().expect("test lock").push(Instant::now());
                match script.lock().expect("test lock").pop_front().flatten() {
                    Some(keys) => Ok(keys),
                    None => Err(io::Error::from_raw_os_error(2)), // ENOENT: not plugged in
                }
            }
        };
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(open, "test-keypad".into(), tx, cancel.clone()));
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(rx.recv().await.expect("a key"));
        }
        assert_eq!(
            got,
            [
                Key::Digit(4),
                Key::Digit(2),
                Key::Clear,
                Key::Digit(7),
                Key::Digit(1),
                Key::Enter
            ],
            "one key per press, none for repeats or releases, and keys again after the reopen"
        );
        let opens = opens.lock().expect("test lock").clone();
        assert_eq!(opens.len(), 4, "opened until it worked, and again after the unplug");
        for pair in opens.windows(2) {
            assert!(pair[1] - pair[0] >= BACKOFF_START, "reopens are paced: {opens:?}");
        }
        let waited = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await;
        assert!(waited.is_err(), "a quiet keypad keeps the channel open: {waited:?}");
        cancel.cancel();
        task.await.expect("stops on cancel");
        assert_eq!(rx.recv().await, None, "the sender is gone after shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn an_absent_keypad_is_retried_at_most_every_few_seconds_until_cancel() {
        let attempts = Arc::new(Mutex::new(0u32));
        let open = {
            let attempts = attempts.clone();
            move || -> io::Result<FakeKeys> {
                *attempts.lock().expect("test lock") += 1;
                Err(io::Error::from_raw_os_error(2))
            }
        };
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(open, "test-keypad".into(), tx, cancel.clone()));
        let waited = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await;
        assert!(waited.is_err(), "no keys, and no closed channel: {waited:?}");
        let n = *attempts.lock().expect("test lock");
        // 0.1 + 0.2 + … up to 5 s steps (with ≤ 10 % jitter) in a minute: some 15 attempts, never a busy loop.
        assert!((10..=20).contains(&n), "{n} attempts in 60 s");
        cancel.cancel();
        task.await.expect("stops on cancel");
    }
}
