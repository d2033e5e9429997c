//! The reopen supervisor shared by the serial and HID scanners: open, read codes, and after an unplug report
//! "scanner disconnected" once and reopen with exponential backoff until cancelled. Owns backoff, the
//! connected/disconnected bookkeeping, debounce and delivery of [`ScanEvent`]s. Knows nothing of devices:
//! those sit behind [`Opener`] and [`Session`], so the timing is tested with a fake and a paused clock.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::framing::Debouncer;
use super::ScanEvent;

/// First pause after a failure.
pub const BACKOFF_START: Duration = Duration::from_millis(100);

/// Repeated "still cannot open" warnings are logged at most this often; the rest go to debug.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Opens a scanner device.
pub trait Opener: Send {
    /// An open device.
    type Session: Session;
    /// Opens the device, or says why not.
    fn open(&mut self) -> impl Future<Output = io::Result<Self::Session>> + Send;
    /// What to call the device in logs and in `Disconnected { reason }` (its path).
    fn name(&self) -> String;
}

/// An open scanner device.
pub trait Session: Send {
    /// The next complete code; an error means the device is gone (or unusable) and will be reopened.
    /// Must be cancel-safe: the supervisor drops it when shutting down.
    fn next_code(&mut self) -> impl Future<Output = io::Result<Vec<u8>>> + Send;
}

/// Exponential backoff from [`BACKOFF_START`], doubling to `max`, with up to +10 % jitter so a fleet of
/// kiosks on one power circuit does not hammer in lockstep.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    seed: u64,
}

impl Backoff {
    /// A backoff capped at `max`.
    pub fn new(max: Duration) -> Backoff {
        // std's RandomState is randomly keyed per process: enough entropy for jitter without a rand crate.
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish() | 1;
        Backoff {
            next: BACKOFF_START.min(max),
            max,
            seed,
        }
    }

    /// The pause before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        // xorshift64: jitter only needs to differ between devices, not to be unpredictable.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter_permille = self.seed % 101; // 0..=100 ‰
        base + base * u32::try_from(jitter_permille).expect("below 101") / 1000
    }

    /// Back to the first, short pause (after a connection that worked).
    pub fn reset(&mut self) {
        self.next = BACKOFF_START.min(self.max);
    }
}

/// How a device is run.
#[derive(Debug, Clone)]
pub struct Supervision {
    /// Debounce window.
    pub debounce: Duration,
    /// Longest pause between reopen attempts.
    pub backoff_max: Duration,
}

/// Runs `opener` until `cancel` fires or the receiver of `tx` is gone.
pub async fn supervise<O: Opener>(
    mut opener: O,
    cfg: Supervision,
    tx: mpsc::Sender<ScanEvent>,
    cancel: CancellationToken,
) {
    let name = opener.name();
    let mut backoff = Backoff::new(cfg.backoff_max);
    let mut debounce = Debouncer::new(cfg.debounce);
    // False at start: the first failure to open must be reported too (the screen says "scanner disconnected").
    let mut outage_reported = false;
    let mut last_warn: Option<Instant> = None;
    loop {
        let opened = tokio::select! {
            _ = cancel.cancelled() => return,
            r = opener.open() => r,
        };
        match opened {
            Err(e) => {
                let reason = format!("{name}: cannot open: {e}");
                if !outage_reported {
                    tracing::warn!("scanner disconnected: {reason}");
                    last_warn = Some(Instant::now());
                    outage_reported = true;
                    if !send(&tx, ScanEvent::Disconnected { reason }, &cancel).await {
                        return;
                    }
                } else if last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    tracing::warn!("scanner still disconnected: {reason}");
                    last_warn = Some(Instant::now());
                } else {
                    tracing::debug!("scanner reopen failed: {reason}");
                }
            }
            Ok(mut session) => {
                // No flag reset needed: every session ends below in a freshly reported outage.
                tracing::info!("scanner connected: {name}");
                if !send(&tx, ScanEvent::Connected, &cancel).await {
                    return;
                }
                let since = Instant::now();
                let err = loop {
                    let read = tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = session.next_code() => r,
                    };
                    match read {
                        Ok(code) => {
                            if debounce.accept(&code, Instant::now()) {
                                if !send(&tx, ScanEvent::Code(code), &cancel).await {
                                    return;
                                }
                            } else {
                                tracing::debug!(
                                    len = code.len(),
                                    "scanner: repeated code within debounce window dropped"
                                );
                            }
                        }
                        Err(e) => break e,
                    }
                };
                drop(session);
                // A device that opens and dies at once (a flapping cable) must not be reopened 10× a second.
                if since.elapsed() >= BACKOFF_START * 10 {
                    backoff.reset();
                }
                let reason = format!("{name}: {err}");
                tracing::warn!("scanner disconnected: {reason}");
                last_warn = Some(Instant::now());
                outage_reported = true;
                if !send(&tx, ScanEvent::Disconnected { reason }, &cancel).await {
                    return;
                }
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Delivers `ev`; false when the receiver is gone or we are cancelled (stop either way).
pub(crate) async fn send(tx: &mpsc::Sender<ScanEvent>, ev: ScanEvent, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        r = tx.send(ev) => r.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_from_100ms_to_the_cap_with_at_most_10_percent_jitter() {
        let mut b = Backoff::new(ms(1000));
        for base in [100, 200, 400, 800, 1000, 1000] {
            let d = b.next_delay();
            assert!(d >= ms(base) && d <= ms(base) * 11 / 10, "{d:?} for base {base} ms");
        }
        b.reset();
        assert!(b.next_delay() <= ms(110));
    }

    /// What the fake device does on each open: fail, or serve these reads then the error.
    enum Script {
        Fail,
        Serve(Vec<Vec<u8>>, Option<io::ErrorKind>),
    }

    #[derive(Clone)]
    struct FakeOpener {
        script: Arc<Mutex<VecDeque<Script>>>,
        attempts: Arc<Mutex<Vec<Instant>>>,
    }

    struct FakeSession {
        codes: VecDeque<Vec<u8>>,
        end: Option<io::ErrorKind>,
    }

    impl Opener for FakeOpener {
        type Session = FakeSession;
        async fn open(&mut self) -> io::Result<FakeSession> {
            self.attempts.lock().expect("test lock").push(Instant::now());
            match self.script.lock().expect("test lock").pop_front() {
                Some(Script::Serve(codes, end)) => Ok(FakeSession {
                    codes: codes.into(),
                    end,
                }),
                Some(Script::Fail) | None => Err(io::Error::from(io::ErrorKind::NotFound)),
            }
        }
        fn name(&self) -> String {
            "/dev/fake".into()
        }
    }

    impl Session for FakeSession {
        async fn next_code(&mut self) -> io::Result<Vec<u8>> {
            if let Some(c) = self.codes.pop_front() {
                return Ok(c);
            }
            match self.end {
                Some(kind) => Err(io::Error::from(kind)),
                None => std::future::pending().await,
            }
        }
    }

    fn fake(script: Vec<Script>) -> FakeOpener {
        FakeOpener {
            script: Arc::new(Mutex::new(script.into())),
            attempts: Arc::default(),
        }
    }

    fn start(
        opener: FakeOpener,
        debounce: Duration,
        backoff_max: Duration,
    ) -> (
        mpsc::Receiver<ScanEvent>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let cfg = Supervision { debounce, backoff_max };
        let task = tokio::spawn(supervise(opener, cfg, tx, cancel.clone()));
        (rx, cancel, task)
    }

    async fn next(rx: &mut mpsc::Receiver<ScanEvent>) -> ScanEvent {
        tokio::time::timeout(Duration::from_secs(3600), rx.recv())
            .await
            .expect("an event within the (virtual) hour")
            .expect("supervisor alive")
    }

    fn is_disconnected(ev: &ScanEvent) -> bool {
        matches!(ev, ScanEvent::Disconnected { .. })
    }

    #[tokio::test(start_paused = true)]
    async fn absent_scanner_at_start_is_reported_disconnected_once_while_retrying_with_backoff() {
        let opener = fake(vec![
            Script::Fail,
            Script::Fail,
            Script::Fail,
            Script::Fail,
            Script::Serve(vec![], None),
        ]);
        let attempts = opener.attempts.clone();
        let t0 = Instant::now();
        let (mut rx, cancel, task) = start(opener, ms(0), ms(300));

        let first = next(&mut rx).await;
        assert!(
            is_disconnected(&first),
            "the screen must show 'scanner disconnected': {first:?}"
        );
        if let ScanEvent::Disconnected { reason } = &first {
            assert!(reason.contains("/dev/fake"), "reason names the device: {reason}");
        }
        assert_eq!(
            next(&mut rx).await,
            ScanEvent::Connected,
            "no Disconnected repeated per failed retry"
        );

        let gaps: Vec<Duration> = attempts
            .lock()
            .expect("test lock")
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        let bases = [100, 200, 300, 300]; // doubling, capped at 300 ms
        assert_eq!(gaps.len(), bases.len());
        for (gap, base) in gaps.iter().zip(bases) {
            assert!(
                *gap >= ms(base) && *gap <= ms(base) * 11 / 10,
                "gap {gap:?}, expected ~{base} ms"
            );
        }
        assert!(t0.elapsed() < ms(1100));
        cancel.cancel();
        task.await.expect("supervisor ends cleanly on cancel");
    }

    #[tokio::test(start_paused = true)]
    async fn unplug_reports_disconnected_then_reconnects_and_delivers_codes() {
        let opener = fake(vec![
            Script::Serve(vec![b"111".to_vec()], Some(io::ErrorKind::Other)),
            Script::Fail,
            Script::Serve(vec![b"222".to_vec()], None),
        ]);
        let (mut rx, cancel, task) = start(opener, ms(0), ms(5000));
        assert_eq!(next(&mut rx).await, ScanEvent::Connected);
        assert_eq!(next(&mut rx).await, ScanEvent::Code(b"111".to_vec()));
        assert!(is_disconnected(&next(&mut rx).await));
        assert_eq!(
            next(&mut rx).await,
            ScanEvent::Connected,
            "one Disconnected per outage, then Connected"
        );
        assert_eq!(next(&mut rx).await, ScanEvent::Code(b"222".to_vec()));
        cancel.cancel();
        task.await.expect("supervisor ends cleanly on cancel");
    }

    #[tokio::test(start_paused = true)]
    async fn duplicate_codes_within_the_debounce_window_are_dropped() {
        let codes = vec![b"111".to_vec(), b"111".to_vec(), b"222".to_vec()];
        let opener = fake(vec![Script::Serve(codes, None)]);
        let (mut rx, cancel, _task) = start(opener, ms(800), ms(5000));
        assert_eq!(next(&mut rx).await, ScanEvent::Connected);
        assert_eq!(next(&mut rx).await, ScanEvent::Code(b"111".to_vec()));
        assert_eq!(next(&mut rx).await, ScanEvent::Code(b"222".to_vec()));
        cancel.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn stops_when_the_receiver_is_gone() {
        let opener = fake(vec![Script::Serve(vec![b"1".to_vec(); 100], None)]);
        let (rx, _cancel, task) = start(opener, ms(0), ms(5000));
        drop(rx);
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("supervisor stops without a receiver")
            .expect("no panic");
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_stops_a_supervisor_waiting_in_backoff() {
        let opener = fake(vec![]);
        let (mut rx, cancel, task) = start(opener, ms(0), ms(600_000));
        assert!(is_disconnected(&next(&mut rx).await));
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("cancel is not delayed by the backoff")
            .expect("no panic");
    }
}
