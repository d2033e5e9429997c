//! Test support, compiled only for unit tests: capturing what the daemon logs (for the tests that check a
//! simulated device says what it does, and that nothing personal is logged), and recording what output lines
//! (LEDs, buzzer, lamps) did and when.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::feedback::Output;

/// Records (ms since start, which output, on) for every actual change of the outputs it hands out.
#[derive(Clone)]
pub(crate) struct Recorder<L> {
    t0: Instant,
    log: Arc<Mutex<Vec<(u64, L, bool)>>>,
}

struct RecOutput<L> {
    rec: Recorder<L>,
    label: L,
    on: bool,
}

impl<L: Copy + Send + 'static> Output for RecOutput<L> {
    fn set(&mut self, on: bool) {
        if on != self.on {
            self.on = on;
            let ms = u64::try_from(self.rec.t0.elapsed().as_millis()).expect("short test");
            self.rec.log.lock().expect("test lock").push((ms, self.label, on));
        }
    }
}

impl<L: Copy + PartialEq + Send + 'static> Recorder<L> {
    /// Starts the clock now (paused tokio time in the tests).
    pub(crate) fn new() -> Recorder<L> {
        Recorder {
            t0: Instant::now(),
            log: Arc::default(),
        }
    }

    /// An output recorded as `label`, initially off.
    pub(crate) fn output(&self, label: L) -> Box<dyn Output> {
        Box::new(RecOutput {
            rec: self.clone(),
            label,
            on: false,
        })
    }

    /// Every change so far.
    pub(crate) fn timeline(&self) -> Vec<(u64, L, bool)> {
        self.log.lock().expect("test lock").clone()
    }

    /// Whether `label`'s last recorded state is on.
    pub(crate) fn is_on(&self, label: L) -> bool {
        self.timeline()
            .iter()
            .rev()
            .find(|(_, l, _)| *l == label)
            .is_some_and(|(_, _, on)| *on)
    }
}

/// Collects what a `fmt` subscriber at `level` writes while the returned guard lives (this thread only: the
/// current-thread test runtime polls spawned tasks here too).
pub(crate) fn capture_logs(level: tracing::Level) -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("test lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || Sink(sink.clone()))
        .finish();
    (buf, tracing::subscriber::set_default(subscriber))
}
