//! The development scanner: one code per line on standard input (used by `omnigate run` in dev). Owns line
//! reading and the escapes a developer types for bytes a keyboard cannot: `\x1d` (or any `\xHH`) is that
//! byte — so GS1 strings with GS separators can be typed — and `\\` is a backslash; any other backslash is
//! kept as typed. Spaces, tabs and CR around a line (copy-paste, CRLF files) are trimmed; blank lines are
//! skipped.
//!
//! End of input does not end the daemon: the scanner just goes quiet ("stdin closed" is logged once), so the
//! kiosk keeps running under systemd or with `< /dev/null`.
//!
//! Stdin is read on a dedicated OS thread, not with `tokio::io::stdin`: tokio reads stdin on its blocking
//! pool and cannot cancel that read, so Ctrl-C would hang the runtime's shutdown until Enter is pressed.
//! A detached thread blocked in `read` ends with the process.

use std::time::Duration;

use std::io::BufRead;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::framing::{Debouncer, MAX_CODE_LEN};
use super::supervisor::send;
use super::ScanEvent;

/// The lines of standard input, read on a dedicated thread; the channel closes at end of input.
pub fn stdin_lines() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    // Small: a developer pasting a block waits on the channel, not on memory.
    let (tx, rx) = mpsc::channel(16);
    let reader = move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            let mut line = Vec::new();
            let r = match input.read_until(b'\n', &mut line) {
                Ok(0) => return, // end of input: dropping tx tells the scanner task
                Ok(_) => Ok(line),
                Err(e) => Err(e),
            };
            let failed = r.is_err();
            if tx.blocking_send(r).is_err() || failed {
                return;
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name("omnigate-stdin".into()).spawn(reader) {
        // The closure (and its sender) was dropped: the scanner sees end of input and says so.
        tracing::error!("stdin scanner: cannot start the reading thread: {e}");
    }
    rx
}

/// Reads codes from `lines` (one per line; the channel closing is end of input) until `cancel`. End of input
/// only stops reading. Starts `Connected`.
pub async fn run(
    mut lines: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    debounce: Duration,
    tx: mpsc::Sender<ScanEvent>,
    cancel: CancellationToken,
) {
    if !send(&tx, ScanEvent::Connected, &cancel).await {
        return;
    }
    let mut debounce = Debouncer::new(debounce);
    loop {
        let line = tokio::select! {
            _ = cancel.cancelled() => return,
            l = lines.recv() => l,
        };
        let line = match line {
            Some(Ok(l)) => l,
            None => {
                tracing::info!("stdin closed: the development scanner reads no more codes");
                break;
            }
            Some(Err(e)) => {
                tracing::warn!("stdin unreadable, the development scanner stops: {e}");
                break;
            }
        };
        let code = unescape(line.trim_ascii());
        if code.is_empty() {
            continue;
        }
        if code.len() > MAX_CODE_LEN {
            tracing::warn!(len = code.len(), "stdin: line longer than any code, ignored");
            continue;
        }
        if !debounce.accept(&code, Instant::now()) {
            tracing::debug!("stdin: repeated code within debounce window dropped");
            continue;
        }
        if !send(&tx, ScanEvent::Code(code), &cancel).await {
            return;
        }
    }
    // The daemon keeps running without a scanner rather than shutting down with its input.
    cancel.cancelled().await;
}

/// Applies the typed escapes: `\xHH` → that byte, `\\` → `\`; anything else is kept as typed.
pub fn unescape(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] == b'\\' {
            if line.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            if matches!(line.get(i + 1), Some(b'x' | b'X')) {
                let hex = line.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok());
                if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(line[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_escapes_become_bytes() {
        let table: &[(&[u8], &[u8])] = &[
            (b"4006381333931", b"4006381333931"),
            (b"0104006381333931\\x1d10ABC", b"0104006381333931\x1d10ABC"),
            (b"\\X1D", b"\x1d"),
            (b"a\\\\x1d", b"a\\x1d"),
            (b"\\x1", b"\\x1"),
            (b"\\xZZ", b"\\xZZ"),
            (b"C:\\dir", b"C:\\dir"),
            (b"\\", b"\\"),
        ];
        for (typed, want) in table {
            assert_eq!(&unescape(typed), want, "typed {:?}", String::from_utf8_lossy(typed));
        }
    }

    /// Runs the stdin scanner over `input` (as the reading thread would split it) and collects its events.
    async fn collect(
        input: &[u8],
        debounce: Duration,
    ) -> (Vec<ScanEvent>, tokio::task::JoinHandle<()>, CancellationToken) {
        let (line_tx, line_rx) = mpsc::channel(64);
        for line in input.split_inclusive(|b| *b == b'\n') {
            line_tx.send(Ok(line.to_vec())).await.expect("room for the test input");
        }
        drop(line_tx); // end of input
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(line_rx, debounce, tx, cancel.clone()));
        let mut events = Vec::new();
        // The task stays alive after EOF, so the channel never closes: stop at the first quiet moment.
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            events.push(ev);
        }
        (events, task, cancel)
    }

    #[tokio::test(start_paused = true)]
    async fn each_non_empty_line_is_one_code_and_eof_keeps_the_task_alive() {
        let (events, task, cancel) = collect(b"123\r\n\n  \n 456\t\n01\\x1d10A", Duration::ZERO).await;
        let want = vec![
            ScanEvent::Connected,
            ScanEvent::Code(b"123".to_vec()),
            ScanEvent::Code(b"456".to_vec()),
            ScanEvent::Code(b"01\x1d10A".to_vec()),
        ];
        assert_eq!(events, want);
        assert!(
            !task.is_finished(),
            "end of stdin must not end the scanner task (nor the daemon)"
        );
        cancel.cancel();
        task.await.expect("stops on cancel");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pasted_duplicate_is_debounced_like_a_real_scanner() {
        let (events, _task, cancel) = collect(b"111\n111\n222\n", Duration::from_millis(800)).await;
        let want = vec![
            ScanEvent::Connected,
            ScanEvent::Code(b"111".to_vec()),
            ScanEvent::Code(b"222".to_vec()),
        ];
        assert_eq!(events, want);
        cancel.cancel();
    }
}
