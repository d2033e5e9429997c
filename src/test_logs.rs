//! Test support, compiled only for unit tests: capturing what the daemon logs, for the tests that check a
//! simulated device says what it does (and that nothing personal is logged).

use std::sync::{Arc, Mutex};

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
