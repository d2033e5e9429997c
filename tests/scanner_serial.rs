//! Serial scanner scenarios through the public API on real pty pairs: the test holds the master side (the
//! "scanner"), the daemon opens the slave through a symlink in a tempdir — as it would a udev symlink — so an
//! unplug is closing the master and a replug is a new pty behind the same path.
//!
//! Waiting is always `timeout(deadline, rx.recv())`; the only pauses are stimuli (a scanner pausing
//! mid-code), never waits.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use omnigate::config::{ScannerConfig, ScannerKind, SerialConfig, Terminator};
use omnigate::scanner::{self, ScanEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Generous: the build machine is shared and slow; a passing test never waits this long.
const DEADLINE: Duration = Duration::from_secs(10);

/// One end of a pty pair playing the scanner.
struct FakeScanner {
    master: File,
    slave_path: PathBuf,
}

impl FakeScanner {
    fn new() -> FakeScanner {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave_path = nix::unistd::ttyname(&pty.slave).expect("ttyname of the pty slave");
        // Our copy of the slave is closed: the daemon must be the only one reading the scanner.
        drop::<OwnedFd>(pty.slave);
        FakeScanner {
            master: File::from(pty.master),
            slave_path,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty master");
        self.master.flush().expect("flush pty master");
    }

    /// Unplugs the scanner: the daemon's side of the pty reads EIO.
    fn unplug(self) {
        drop(self.master);
    }
}

/// Points `link` at `target`, replacing it atomically (as udev does on replug).
fn point(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).expect("create symlink");
    std::fs::rename(&tmp, link).expect("re-point symlink");
}

struct Daemon {
    rx: mpsc::Receiver<ScanEvent>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
    link: PathBuf,
}

impl Daemon {
    fn start(terminator: Terminator, inter_char_timeout_ms: u64, debounce_ms: u64) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("omnigate-scanner");
        let cfg = ScannerConfig {
            kind: ScannerKind::Serial,
            debounce_ms,
            reopen_backoff_max_ms: 200,
            serial: Some(SerialConfig {
                path: link.clone(),
                baud: 9600,
                terminator,
                inter_char_timeout_ms,
            }),
            hid: None,
        };
        let (tx, rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let task = scanner::spawn(&cfg, tx, cancel.clone());
        Daemon {
            rx,
            cancel,
            task,
            _dir: dir,
            link,
        }
    }

    /// Starts with a scanner plugged in and waits until it is open.
    async fn with_scanner(
        terminator: Terminator,
        inter_char_timeout_ms: u64,
        debounce_ms: u64,
    ) -> (Daemon, FakeScanner) {
        let scanner = FakeScanner::new();
        let mut d = Daemon::start(terminator, inter_char_timeout_ms, debounce_ms);
        point(&d.link, &scanner.slave_path);
        d.expect_connected().await;
        (d, scanner)
    }

    async fn next(&mut self) -> ScanEvent {
        tokio::time::timeout(DEADLINE, self.rx.recv())
            .await
            .expect("a scanner event before the deadline")
            .expect("scanner task still running")
    }

    /// Skips the Disconnected an absent-at-start scanner may report before it is found.
    async fn expect_connected(&mut self) {
        loop {
            match self.next().await {
                ScanEvent::Connected => return,
                ScanEvent::Disconnected { .. } => continue,
                other => panic!("expected Connected, got {other:?}"),
            }
        }
    }

    async fn expect_code(&mut self, want: &[u8]) {
        match self.next().await {
            ScanEvent::Code(c) => assert_eq!(c, want, "got {:?}", String::from_utf8_lossy(&c)),
            other => panic!("expected code {:?}, got {other:?}", String::from_utf8_lossy(want)),
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("scanner stops on cancel")
            .expect("no panic");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cr_terminated_code_arrives_with_its_exact_bytes() {
    let (mut d, mut s) = Daemon::with_scanner(Terminator::Cr, 50, 0).await;
    s.send(b"4006381333931\r");
    d.expect_code(b"4006381333931").await;
    s.send(b"0104006381333931\x1d10LOT42\r");
    d.expect_code(b"0104006381333931\x1d10LOT42").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lf_terminated_codes_arrive() {
    let (mut d, mut s) = Daemon::with_scanner(Terminator::Lf, 50, 0).await;
    s.send(b"96385074\n");
    d.expect_code(b"96385074").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_config_takes_cr_lf_and_either_alone_without_empty_codes() {
    let (mut d, mut s) = Daemon::with_scanner(Terminator::Crlf, 50, 0).await;
    s.send(b"111\r\n222\r333\n");
    d.expect_code(b"111").await;
    d.expect_code(b"222").await;
    d.expect_code(b"333").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_terminator_a_code_ends_after_the_inter_char_silence() {
    let (mut d, mut s) = Daemon::with_scanner(Terminator::None, 50, 0).await;
    s.send(b"4006381333931");
    d.expect_code(b"4006381333931").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_codes_in_one_write_arrive_as_two_codes() {
    let (mut d, mut s) = Daemon::with_scanner(Terminator::Cr, 50, 0).await;
    s.send(b"4006381333931\r96385074\r");
    d.expect_code(b"4006381333931").await;
    d.expect_code(b"96385074").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_split_across_writes_with_short_pauses_arrives_whole() {
    // 1 s inter-char timeout vs 20 ms pauses: a loaded CI machine cannot make the pauses look like silence.
    for terminator in [Terminator::Cr, Terminator::None] {
        let (mut d, mut s) = Daemon::with_scanner(terminator, 1000, 0).await;
        for chunk in [&b"400"[..], b"6381", b"33393", b"1"] {
            s.send(chunk);
            // A stimulus, not a wait: the scanner pausing mid-code.
            std::thread::sleep(Duration::from_millis(20));
        }
        if terminator == Terminator::Cr {
            s.send(b"\r");
        }
        d.expect_code(b"4006381333931").await;
        d.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_line_does_not_kill_the_scanner() {
    let (mut d, mut s) = Daemon::with_scanner(Terminator::Cr, 50, 0).await;
    // Every byte value except the line ends, far beyond the longest code, as a bad cable might deliver.
    let garbage: Vec<u8> = (0..10_000u32)
        .map(|i| (i * 37 % 256) as u8)
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    s.send(&garbage);
    s.send(b"\r");
    s.send(b"4006381333931\r");
    d.expect_code(b"4006381333931").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debounce_drops_an_immediate_duplicate_but_passes_a_different_code() {
    let (mut d, mut s) = Daemon::with_scanner(Terminator::Cr, 50, 800).await;
    s.send(b"4006381333931\r4006381333931\r96385074\r");
    d.expect_code(b"4006381333931").await;
    d.expect_code(b"96385074").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_reports_disconnected_and_a_replugged_scanner_reads_again() {
    let (mut d, mut s) = Daemon::with_scanner(Terminator::Cr, 50, 0).await;
    s.send(b"111\r");
    d.expect_code(b"111").await;

    s.unplug();
    match d.next().await {
        ScanEvent::Disconnected { reason } => {
            assert!(
                reason.contains("omnigate-scanner"),
                "the reason names the device: {reason}"
            )
        }
        other => panic!("expected Disconnected after unplug, got {other:?}"),
    }

    let mut replugged = FakeScanner::new();
    point(&d.link, &replugged.slave_path);
    assert_eq!(
        d.next().await,
        ScanEvent::Connected,
        "one Disconnected per outage, then Connected"
    );
    replugged.send(b"222\r");
    d.expect_code(b"222").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_absent_at_start_shows_disconnected_then_connects_when_plugged() {
    let mut d = Daemon::start(Terminator::Cr, 50, 0);
    assert!(
        matches!(d.next().await, ScanEvent::Disconnected { .. }),
        "absent at start is reported"
    );
    let mut s = FakeScanner::new();
    point(&d.link, &s.slave_path);
    assert_eq!(d.next().await, ScanEvent::Connected);
    s.send(b"96385074\r");
    d.expect_code(b"96385074").await;
    d.stop().await;
}
