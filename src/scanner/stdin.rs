//! The development scanner and station keys: one code per line on standard input (used by `omnigate run` in
//! dev). Owns line reading, routing station commands away from the scanner, and the escapes a developer types
//! for bytes a keyboard cannot: `\x1d` (or any `\xHH`) is that byte — so GS1 strings with GS separators can be
//! typed — and `\\` is a backslash; any other backslash is kept as typed. Spaces, tabs and CR around a line
//! (copy-paste, CRLF files) are trimmed; blank lines are skipped.
//!
//! A line starting with `:` is a station command, the buttons and keypad of a real station: `:pay`, `:cancel`,
//! `:help`, `:clear`, or `:` and digits (`:1234`), a PIN, sent as its digits then Enter. They go to the key
//! stream of [`stdin_streams`] ([`crate::buttons`] with `kind = "stdin"`), never to the scanner; anything else
//! after `:` is logged as unknown with the list of valid commands. A code that really starts with `:` is typed
//! `\x3a…`. Typed PIN digits are never logged.
//!
//! End of input does not end the daemon: the scanner just goes quiet ("stdin closed" is logged once), so the
//! kiosk keeps running under systemd or with `< /dev/null`.
//!
//! Stdin is read once, on a dedicated OS thread, not with `tokio::io::stdin`: tokio reads stdin on its blocking
//! pool and cannot cancel that read, so Ctrl-C would hang the runtime's shutdown until Enter is pressed.
//! A detached thread blocked in `read` ends with the process.

use std::time::Duration;

use std::io::BufRead;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::buttons::Key;

use super::framing::{Debouncer, MAX_CODE_LEN};
use super::supervisor::send;
use super::ScanEvent;

/// Standard input, read once on a dedicated thread and split in two. Each stream may be dropped: what would go
/// to it is then logged and skipped, and reading goes on for the other. Both channels close at end of input.
pub struct StdinStreams {
    /// Lines that are not station commands: the development scanner's input (see [`run`]).
    pub lines: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    /// Keys typed as station commands: the input of [`crate::buttons::spawn`] with `kind = "stdin"`.
    pub keys: mpsc::Receiver<Key>,
}

/// Starts the one reader of standard input. Call it once per process: two readers would share lines at random.
pub fn stdin_streams() -> StdinStreams {
    // Small: a developer pasting a block waits on the channel, not on memory.
    let (line_tx, lines) = mpsc::channel(16);
    let (key_tx, keys) = mpsc::channel(16);
    let reader = move || split_lines(std::io::stdin().lock(), line_tx, key_tx);
    if let Err(e) = std::thread::Builder::new().name("omnigate-stdin".into()).spawn(reader) {
        // The closure (and its senders) was dropped: the scanner sees end of input and says so.
        tracing::error!("stdin scanner: cannot start the reading thread: {e}");
    }
    StdinStreams { lines, keys }
}

/// The barcode lines of standard input (station commands are logged and skipped: nothing reads them).
pub fn stdin_lines() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    stdin_streams().lines
}

/// The reading loop of [`stdin_streams`], over any input: station commands to `keys`, other lines to `lines`,
/// until end of input, a read error (passed to `lines`) or both receivers gone. Blocking: call it on a thread.
pub fn split_lines<R: BufRead>(mut input: R, lines: mpsc::Sender<std::io::Result<Vec<u8>>>, keys: mpsc::Sender<Key>) {
    let (mut lines, mut keys) = (Some(lines), Some(keys));
    while lines.is_some() || keys.is_some() {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return, // end of input: dropping the senders tells both readers
            Ok(_) => {}
            Err(e) => {
                match &lines {
                    Some(tx) => drop(tx.blocking_send(Err(e))),
                    None => tracing::warn!("stdin unreadable, station keys stop: {e}"),
                }
                return;
            }
        }
        match parse_command(line.trim_ascii()) {
            None => match &lines {
                Some(tx) if tx.blocking_send(Ok(line)).is_ok() => {}
                Some(_) => lines = None,
                None => tracing::debug!("stdin: line ignored, the scanner does not read stdin"),
            },
            Some(Ok(typed)) => {
                tracing::debug!("stdin: station command {}", describe(&typed));
                let Some(tx) = &keys else {
                    tracing::warn!("stdin: station command ignored: buttons.kind is not \"stdin\"");
                    continue;
                };
                if typed.into_iter().any(|k| tx.blocking_send(k).is_err()) {
                    tracing::warn!("stdin: station command ignored: buttons.kind is not \"stdin\"");
                    keys = None;
                }
            }
            Some(Err(unknown)) => {
                tracing::warn!("stdin: unknown station command {unknown}, ignored; valid: {VALID_COMMANDS}");
            }
        }
    }
}

/// The station commands, as listed to a developer who typed something else.
pub const VALID_COMMANDS: &str = ":pay, :cancel, :help, :clear, :<digits> (a PIN, sent with Enter)";

/// A line after `:` that is no station command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCommand(String);

/// Shows what was typed, unless it has digits: then it may be a mistyped PIN, and only its length is shown.
impl std::fmt::Display for UnknownCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.chars().any(|c| c.is_ascii_digit()) {
            write!(
                f,
                "(\":\" and {} characters, not shown: it has digits)",
                self.0.chars().count()
            )
        } else {
            write!(f, "\":{}\"", self.0)
        }
    }
}

/// A trimmed stdin line as a station command: `None` when it does not start with `:` (a code), else the keys
/// it types or why it is not a command. Case and spaces after the `:` do not matter.
pub fn parse_command(line: &[u8]) -> Option<Result<Vec<Key>, UnknownCommand>> {
    let rest = line.strip_prefix(b":")?.trim_ascii();
    let keys = match rest.to_ascii_lowercase().as_slice() {
        b"pay" => vec![Key::Pay],
        b"cancel" => vec![Key::Cancel],
        b"help" => vec![Key::Help],
        b"clear" => vec![Key::Clear],
        digits if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
            let mut keys: Vec<Key> = digits.iter().map(|d| Key::Digit(d - b'0')).collect();
            keys.push(Key::Enter);
            keys
        }
        _ => return Some(Err(UnknownCommand(String::from_utf8_lossy(rest).into_owned()))),
    };
    Some(Ok(keys))
}

/// A command's keys for the log, PIN digits masked: `Pay`, `4 digits + Enter`.
fn describe(keys: &[Key]) -> String {
    let digits = keys.iter().filter(|k| matches!(k, Key::Digit(_))).count();
    if digits > 0 {
        format!("{digits} digits + Enter")
    } else {
        format!("{keys:?}")
    }
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

    #[test]
    fn station_commands_are_parsed_into_keys() {
        use Key::*;
        /// `None`: a code; `Some(Err(()))`: an unknown command.
        type Parsed = Option<Result<Vec<Key>, ()>>;
        let table: &[(&[u8], Parsed)] = &[
            (b"4006381333931", None),
            (b"\\x3a123", None),
            (b":pay", Some(Ok(vec![Pay]))),
            (b":cancel", Some(Ok(vec![Cancel]))),
            (b":help", Some(Ok(vec![Help]))),
            (b":clear", Some(Ok(vec![Clear]))),
            (b": PAY", Some(Ok(vec![Pay]))),
            (b":1234", Some(Ok(vec![Digit(1), Digit(2), Digit(3), Digit(4), Enter]))),
            (b":0", Some(Ok(vec![Digit(0), Enter]))),
            (b":", Some(Err(()))),
            (b":12a4", Some(Err(()))),
            (b":-1", Some(Err(()))),
            (b":enter", Some(Err(()))),
            (b":paying", Some(Err(()))),
        ];
        for (typed, want) in table {
            let got = parse_command(typed).map(|r| r.map_err(|_| ()));
            assert_eq!(&got, want, "typed {:?}", String::from_utf8_lossy(typed));
        }
    }

    #[test]
    fn an_unknown_command_is_shown_unless_it_may_be_a_pin() {
        let typo = parse_command(b":hlep").and_then(Result::err).expect("unknown");
        assert_eq!(typo.to_string(), "\":hlep\"");
        let pin_typo = parse_command(b":98x76").and_then(Result::err).expect("unknown");
        let shown = pin_typo.to_string();
        assert!(
            !shown.contains("98") && !shown.contains("76") && shown.contains('5'),
            "{shown}"
        );
        assert!(VALID_COMMANDS.contains(":pay") && VALID_COMMANDS.contains(":clear"));
        assert_eq!(
            describe(&[Key::Digit(1), Key::Digit(9), Key::Enter]),
            "2 digits + Enter"
        );
    }

    /// Runs the reading loop over `input` with both streams read; returns (lines, keys).
    fn split(input: &[u8]) -> (Vec<Vec<u8>>, Vec<Key>) {
        let (line_tx, mut line_rx) = mpsc::channel(64);
        let (key_tx, mut key_rx) = mpsc::channel(64);
        split_lines(std::io::Cursor::new(input.to_vec()), line_tx, key_tx);
        let mut lines = Vec::new();
        while let Ok(l) = line_rx.try_recv() {
            lines.push(l.expect("a line"));
        }
        let mut keys = Vec::new();
        while let Ok(k) = key_rx.try_recv() {
            keys.push(k);
        }
        (lines, keys)
    }

    #[test]
    fn one_reader_sends_codes_to_the_scanner_and_commands_to_the_station() {
        let (lines, keys) = split(b"4006381333931\n:pay\n  :1234\r\n:nope\n\\x3a99\n:clear\n:help");
        assert_eq!(lines, vec![b"4006381333931\n".to_vec(), b"\\x3a99\n".to_vec()]);
        assert_eq!(unescape(lines[1].trim_ascii()), b":99", "an escaped colon is a code");
        use Key::*;
        assert_eq!(
            keys,
            vec![Pay, Digit(1), Digit(2), Digit(3), Digit(4), Enter, Clear, Help],
            "the unknown :nope is dropped"
        );
    }

    #[test]
    fn a_stream_nobody_reads_does_not_stop_the_other() {
        let input = b":pay\n111\n:help\n222\n";
        let (line_tx, mut line_rx) = mpsc::channel(64);
        let (key_tx, key_rx) = mpsc::channel(64);
        drop(key_rx); // buttons are GPIO, not stdin
        split_lines(std::io::Cursor::new(input.to_vec()), line_tx, key_tx);
        let mut lines = Vec::new();
        while let Ok(l) = line_rx.try_recv() {
            lines.push(l.expect("a line"));
        }
        assert_eq!(lines, vec![b"111\n".to_vec(), b"222\n".to_vec()]);

        let (line_tx, line_rx) = mpsc::channel(64);
        let (key_tx, mut key_rx) = mpsc::channel(64);
        drop(line_rx); // the scanner is a real one
        split_lines(std::io::Cursor::new(input.to_vec()), line_tx, key_tx);
        let mut keys = Vec::new();
        while let Ok(k) = key_rx.try_recv() {
            keys.push(k);
        }
        assert_eq!(keys, vec![Key::Pay, Key::Help]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_scanner_never_sees_a_station_command() {
        let (line_tx, line_rx) = mpsc::channel(64);
        let (key_tx, _key_rx) = mpsc::channel(64);
        let input = std::io::Cursor::new(b"123\n:pay\n:42\n456\n".to_vec());
        // On a thread, as in the daemon: its blocking sends may not run on the runtime.
        std::thread::spawn(move || split_lines(input, line_tx, key_tx))
            .join()
            .expect("reader thread");
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(line_rx, Duration::ZERO, tx, cancel.clone()));
        let mut events = Vec::new();
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            events.push(ev);
        }
        let want = vec![
            ScanEvent::Connected,
            ScanEvent::Code(b"123".to_vec()),
            ScanEvent::Code(b"456".to_vec()),
        ];
        assert_eq!(events, want);
        cancel.cancel();
        task.await.expect("stops on cancel");
    }
}
