//! A fake ESC/POS receipt printer on a pty pair, shared by the printer tests and the station tests: the test
//! holds the master side and answers the real-time status requests (DLE EOT 1/2/4: ready, or paper out) at once
//! (unless told to be silent), and keeps every other byte it is sent. The printer under test opens the slave,
//! usually through a symlink, as it would a udev symlink; an unplug is closing the master.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Generous: the build machine is shared and slow; a passing test never waits this long.
const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Shared {
    paper_out: AtomicBool,
    silent: AtomicBool,
    stop: AtomicBool,
    queries: AtomicUsize,
    received: Mutex<Vec<u8>>,
    /// Once this many bytes have arrived the roll ends (0: never).
    runs_out_after: AtomicUsize,
}

/// The master side of a pty pair playing an ESC/POS printer.
pub struct FakePrinter {
    /// The pty slave the printer under test opens (directly or through a symlink).
    pub slave_path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    // Our copy of the slave keeps the pty's master from reading EOF/EIO (and polling HUP in a loop) while
    // the printer under test has the device closed; it is never read or written.
    _slave: OwnedFd,
}

impl FakePrinter {
    pub fn new() -> FakePrinter {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave_path = nix::unistd::ttyname(&pty.slave).expect("ttyname of the pty slave");
        let shared = Arc::new(Shared::default());
        let master = File::from(pty.master);
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || serve(master, &shared))
        };
        FakePrinter {
            slave_path,
            shared,
            thread: Some(thread),
            _slave: pty.slave,
        }
    }

    /// Stops (or resumes) answering status requests: a printer that hangs.
    pub fn set_silent(&self, silent: bool) {
        self.shared.silent.store(silent, Ordering::SeqCst);
    }

    /// A printer with paper (`paper_out == false`) or without, reached through a fresh symlink in a tempdir
    /// (returned with it; the symlink lives as long as the tempdir).
    pub fn behind_link(paper_out: bool) -> (FakePrinter, PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("omnigate-printer");
        let printer = FakePrinter::new();
        printer.set_paper_out(paper_out);
        point(&link, &printer.slave_path);
        (printer, link, dir)
    }

    /// The roll ends once `bytes` bytes have been printed.
    pub fn set_runs_out_after(&self, bytes: usize) {
        self.shared.runs_out_after.store(bytes, Ordering::SeqCst);
    }

    /// Out of paper (`true`) or with paper.
    pub fn set_paper_out(&self, out: bool) {
        self.shared.paper_out.store(out, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<u8> {
        self.shared.received.lock().expect("not poisoned").clone()
    }

    pub fn queries(&self) -> usize {
        self.shared.queries.load(Ordering::SeqCst)
    }

    /// Waits until exactly `want` has arrived (or the deadline passes), and returns what arrived.
    pub fn expect_received(&self, want: &[u8]) {
        let start = Instant::now();
        while self.received().len() < want.len() && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(5));
        }
        let got = self.received();
        assert_eq!(got.len(), want.len(), "bytes received by the printer");
        assert!(got == want, "the printer received other bytes than the receipt's");
    }

    /// Unplugs the printer: the master is closed, the pty vanishes.
    pub fn unplug(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("fake printer thread ends without panic");
        }
    }
}

impl Drop for FakePrinter {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// The fake printer's loop: answers DLE EOT 1/2/4 at once (unless silent), keeps every other byte. Polls
/// with a short timeout only to notice `stop`.
fn serve(mut master: File, shared: &Shared) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while !shared.stop.load(Ordering::SeqCst) {
        let mut fds = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call; `master` outlives it.
        let ready = unsafe { libc::poll(&mut fds, 1, 20) };
        if ready <= 0 || fds.revents & libc::POLLIN == 0 {
            continue;
        }
        let n = match master.read(&mut buf) {
            Ok(0) | Err(_) => continue,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            pending.push(b);
            match pending[..] {
                [0x10] | [0x10, 0x04] => continue,
                [0x10, 0x04, q] => {
                    shared.queries.fetch_add(1, Ordering::SeqCst);
                    let out = shared.paper_out.load(Ordering::SeqCst);
                    let answer = 0x12
                        | match (q, out) {
                            (1, true) => 0x08, // offline
                            (2, true) => 0x20, // stopped: paper end
                            (4, true) => 0x60, // roll paper end
                            _ => 0,
                        };
                    if !shared.silent.load(Ordering::SeqCst) {
                        master.write_all(&[answer]).expect("answer status");
                    }
                }
                _ => {
                    let mut received = shared.received.lock().expect("not poisoned");
                    received.extend_from_slice(&pending);
                    let limit = shared.runs_out_after.load(Ordering::SeqCst);
                    if limit != 0 && received.len() >= limit {
                        shared.paper_out.store(true, Ordering::SeqCst);
                    }
                }
            }
            pending.clear();
        }
    }
}

/// Points `link` at `target`, replacing it atomically (as udev does on replug).
pub fn point(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).expect("create symlink");
    std::fs::rename(&tmp, link).expect("re-point symlink");
}
