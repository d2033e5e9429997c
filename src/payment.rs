//! Payment terminals: the [`PaymentTerminal`] trait the daemon charges through, and [`SimulatedTerminal`], a
//! terminal for development and tests that behaves like a real external one (its memory survives a crash of
//! the daemon).
//!
//! Owns the edge between the pure basket state machine ([`crate::checkout::basket`], which decides *when* to
//! request or query a payment and reconciles unclear answers) and whatever device takes the card. It reuses
//! the basket's [`PaymentOutcome`] so both sides speak of the same five answers.
//!
//! Must never decide what happens to a basket, retry a request on its own (a retried request is how a
//! shopper gets charged twice), or log anything about the shopper.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checkout::basket::PaymentOutcome;

/// A boxed, sendable future: what [`PaymentTerminal`] methods return, so the trait stays object safe and
/// `Arc<dyn PaymentTerminal>` can be driven from any tokio task.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A payment terminal: takes the shopper's card for one attempt and tells what became of it.
///
/// Contract (every implementation keeps it; the basket state machine relies on it):
/// - [`request`](PaymentTerminal::request) is called **at most once per attempt id** by the daemon (the basket
///   persists the attempt before asking). It answers [`PaymentOutcome::TimedOut`] or
///   [`PaymentOutcome::Unknown`] when it cannot tell whether the card was charged; the daemon then queries.
/// - [`query`](PaymentTerminal::query) is idempotent and may be called any number of times, also after a
///   restart of the daemon: it says what became of the attempt. It answers `TimedOut`/`Unknown` only while the
///   terminal itself cannot tell yet (the daemon keeps querying; the basket stays in reconciliation).
/// - An attempt the terminal never saw was not charged, so `query` answers [`PaymentOutcome::Declined`].
///   That is the safe answer: the basket returns to scanning and the shopper pays again under a *new* attempt
///   id, so nothing is charged twice, and no basket is left paid without a sale (nothing was paid).
pub trait PaymentTerminal: Send + Sync {
    /// Asks the terminal to charge `amount_cents` (positive) for `attempt_id`; resolves with its answer.
    fn request<'a>(&'a self, attempt_id: &'a str, amount_cents: i64) -> BoxFuture<'a, PaymentOutcome>;

    /// Asks the terminal what became of `attempt_id`; idempotent.
    fn query<'a>(&'a self, attempt_id: &'a str) -> BoxFuture<'a, PaymentOutcome>;

    /// One line for the status screen and the logs: which terminal this is and how it is set up.
    fn describe(&self) -> String;
}

/// Something went wrong with the simulated terminal's journal (its memory), naming the file.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The journal could not be opened, read, created or repaired.
    #[error("payment terminal journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A line that is not the last one is not a journal entry: the file was damaged by something other than a
    /// crash mid-write, and guessing which attempts were charged would risk a double charge.
    #[error("payment terminal journal {path}: line {line} is not a journal entry: {source}")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the parser said.
        source: serde_json::Error,
    },
}

/// `[payment]`: which terminal to charge through.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentConfig {
    /// Which terminal.
    pub kind: TerminalKind,
    /// Simulated terminal: its answers as a script; each request takes the next, the last repeats.
    #[serde(default = "default_outcomes")]
    pub outcomes: Vec<SimOutcome>,
    /// Simulated terminal: how long it takes to answer a request, in milliseconds.
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
    /// Simulated terminal: what a query reveals for an attempt whose request answered `timed_out` or
    /// `unknown` (the charge did or did not go through).
    #[serde(default = "default_settles")]
    pub settles: Settles,
    /// Simulated terminal: its journal (memory). Absent: `<state_dir>/terminal-sim.jsonl`
    /// (see [`PaymentConfig::journal_path`]).
    #[serde(default)]
    pub journal: Option<PathBuf>,
}

impl Default for PaymentConfig {
    fn default() -> Self {
        PaymentConfig {
            kind: TerminalKind::Simulated,
            outcomes: default_outcomes(),
            delay_ms: default_delay_ms(),
            settles: default_settles(),
            journal: None,
        }
    }
}

fn default_outcomes() -> Vec<SimOutcome> {
    vec![SimOutcome::Approved]
}
fn default_delay_ms() -> u64 {
    1500
}
// "approved" exercises the harder path by default: a timed-out attempt that was in fact paid must still
// become a sale.
fn default_settles() -> Settles {
    Settles::Approved
}

/// The journal's file name in the state directory when `[payment] journal` is not set.
pub const DEFAULT_JOURNAL_FILE: &str = "terminal-sim.jsonl";

/// Longest simulated delay accepted (10 minutes): anything longer is a typo, not a test.
const MAX_DELAY_MS: u64 = 600_000;

/// A `[payment]` value that cannot be used, with the key relative to `[payment]` (the caller prefixes
/// `payment.`, as for [`crate::barcode::RuleError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct PaymentConfigError {
    /// Key relative to `[payment]`, e.g. `delay_ms`.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl PaymentConfig {
    /// Rules serde cannot express. An unknown outcome or `settles` word is already refused while parsing,
    /// with the key and the accepted words.
    pub fn validate(&self) -> Result<(), PaymentConfigError> {
        let err = |key: &str, reason: &str| {
            Err(PaymentConfigError {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if self.outcomes.is_empty() {
            return err("outcomes", "must name at least one outcome (the last one repeats)");
        }
        if self.delay_ms > MAX_DELAY_MS {
            return err("delay_ms", "must be at most 600000 (10 minutes)");
        }
        if self.journal.as_deref().is_some_and(|p| p.as_os_str().is_empty()) {
            return err(
                "journal",
                "must be a file path (leave it out for <state_dir>/terminal-sim.jsonl)",
            );
        }
        Ok(())
    }

    /// The simulated terminal's journal: `journal` if set, else `<state_dir>/terminal-sim.jsonl`.
    pub fn journal_path(&self, state_dir: &Path) -> PathBuf {
        self.journal
            .clone()
            .unwrap_or_else(|| state_dir.join(DEFAULT_JOURNAL_FILE))
    }
}

/// Opens the terminal `config` names, as the daemon holds it.
pub fn open_terminal(config: &PaymentConfig, state_dir: &Path) -> Result<Arc<dyn PaymentTerminal>, PaymentError> {
    match config.kind {
        TerminalKind::Simulated => Ok(Arc::new(SimulatedTerminal::open(
            config,
            config.journal_path(state_dir),
        )?)),
    }
}

/// Which payment terminal the station has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalKind {
    /// [`SimulatedTerminal`]: for development and tests; charges nobody.
    Simulated,
}

/// One answer in the simulated terminal's script (and in its journal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimOutcome {
    /// Paid.
    Approved,
    /// Refused.
    Declined,
    /// Cancelled by the shopper.
    Cancelled,
    /// No answer in time; [`Settles`] tells what a query reveals.
    TimedOut,
    /// An unclear answer; [`Settles`] tells what a query reveals.
    Unknown,
}

/// What became of an attempt in the simulated terminal: charged or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settles {
    /// The charge went through.
    Approved,
    /// The charge did not go through.
    Declined,
}

/// One line of the simulated terminal's journal: one request it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalEntry {
    /// The attempt.
    pub attempt_id: String,
    /// The amount requested.
    pub amount_cents: i64,
    /// What the request answered (taken from the script).
    pub outcome: SimOutcome,
    /// Whether the card was charged, fixed when the request was accepted (a later change of `settles` in the
    /// configuration does not rewrite history, as with a real terminal).
    pub settled: Settles,
}

impl JournalEntry {
    /// What a query for this attempt answers.
    fn queried(&self) -> PaymentOutcome {
        match self.outcome {
            SimOutcome::Approved => approved(&self.attempt_id),
            SimOutcome::Declined => PaymentOutcome::Declined,
            SimOutcome::Cancelled => PaymentOutcome::Cancelled,
            SimOutcome::TimedOut | SimOutcome::Unknown => match self.settled {
                Settles::Approved => approved(&self.attempt_id),
                Settles::Declined => PaymentOutcome::Declined,
            },
        }
    }

    /// What the request answered.
    fn answered(&self) -> PaymentOutcome {
        match self.outcome {
            SimOutcome::Approved => approved(&self.attempt_id),
            SimOutcome::Declined => PaymentOutcome::Declined,
            SimOutcome::Cancelled => PaymentOutcome::Cancelled,
            SimOutcome::TimedOut => PaymentOutcome::TimedOut,
            SimOutcome::Unknown => PaymentOutcome::Unknown,
        }
    }
}

/// The simulated terminal's reference for an attempt: deterministic, so a query after a restart gives the
/// same reference the request gave.
pub fn sim_reference(attempt_id: &str) -> String {
    let digest = crate::catalog::update::sha256(attempt_id.as_bytes());
    format!("SIM-{}", crate::catalog::update::hex(&digest[..4]))
}

fn approved(attempt_id: &str) -> PaymentOutcome {
    PaymentOutcome::Approved {
        reference: sim_reference(attempt_id),
    }
}

/// Reads the journal at `path`: one entry per request the terminal accepted, in order. A torn last line (a
/// crash while it was written) is left out with a warning. For tests: count the requests per basket.
pub fn journal_entries(path: &Path) -> Result<Vec<JournalEntry>, PaymentError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| io_error(path, source))?;
    Ok(parse_journal(path, &bytes)?.entries)
}

struct Parsed {
    entries: Vec<JournalEntry>,
    /// Bytes up to the end of the last whole entry: where the next entry goes.
    valid_len: u64,
}

fn parse_journal(path: &Path, bytes: &[u8]) -> Result<Parsed, PaymentError> {
    let mut entries = Vec::new();
    let mut valid_len = 0usize;
    let mut rest = bytes;
    let mut line_no = 0;
    while !rest.is_empty() {
        line_no += 1;
        let (line, complete) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], true),
            None => (rest, false),
        };
        let consumed = line.len() + usize::from(complete);
        let is_last = consumed == rest.len();
        // A write is whole only with its newline: an entry without one was cut by a crash before its fdatasync
        // returned, so its request was never answered and the terminal never charged it. Only the last line
        // can be torn like that (a power cut can also leave it full of zeros, hence the parse check too).
        if complete {
            match serde_json::from_slice::<JournalEntry>(line) {
                Ok(entry) => {
                    entries.push(entry);
                    valid_len += consumed;
                    rest = &rest[consumed..];
                    continue;
                }
                Err(source) if !is_last => {
                    return Err(PaymentError::Corrupt {
                        path: path.to_owned(),
                        line: line_no,
                        source,
                    });
                }
                Err(_) => {}
            }
        }
        tracing::warn!(
            journal = %path.display(),
            line = line_no,
            bytes = line.len(),
            "payment terminal journal: torn last line (crash while writing) ignored; that request was never \
             answered and was not charged"
        );
        break;
    }
    Ok(Parsed {
        entries,
        valid_len: valid_len as u64,
    })
}

fn io_error(path: &Path, source: io::Error) -> PaymentError {
    PaymentError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A payment terminal for development and tests, set up by [`PaymentConfig`]: answers from a script after a
/// delay, and remembers every request in an append-only journal (JSON lines, fdatasynced before it answers),
/// like a real terminal whose memory outlives a crash of the daemon.
///
/// - `request` first records `{attempt_id, amount_cents, outcome, settled}`, *then* waits the delay
///   (`tokio::time::sleep`, so paused test time skips it), then answers. The script position is the number of
///   journal entries, so it carries on across restarts.
/// - `query` answers from the journal: approved, declined and cancelled attempts as they were answered;
///   timed-out and unknown ones as `settles` fixed them; attempts it never saw are `Declined` (not charged).
/// - A second `request` for an attempt already in the journal does not charge again: it answers like `query`
///   and logs a warning (the daemon never does this; defence in depth).
/// - If the journal cannot be written the terminal has no memory of the attempt, so it did not charge:
///   the request answers `Declined` and logs an error. Answering `Unknown` instead would send the basket to
///   reconciliation, whose query would find nothing and say `Declined` anyway, only later. After a failed
///   write the journal is cut back to its last whole entry, so a half-written entry cannot turn into a charge
///   at the next start; if even that fails the terminal declines every request until it is reopened.
pub struct SimulatedTerminal {
    path: PathBuf,
    outcomes: Vec<SimOutcome>,
    delay: Duration,
    settles: Settles,
    // A std mutex: it is held only for the in-memory lookup and the (short, blocking) journal append, never
    // across an await, so the append is ordered with the script position and no two requests take one slot.
    inner: Mutex<Journal>,
}

struct Journal {
    file: File,
    /// Every accepted request by attempt id.
    entries: HashMap<String, JournalEntry>,
    /// Entries in the file: the script position.
    count: usize,
    /// Bytes of whole entries in the file.
    len: u64,
    /// The file may end in a partial entry that could not be cut off: accept no more requests.
    broken: bool,
}

impl SimulatedTerminal {
    /// Opens (creating if needed) the journal at `journal` and carries on from what it remembers. A torn last
    /// line is cut off with a warning; any other damage is an error.
    pub fn open(config: &PaymentConfig, journal: PathBuf) -> Result<SimulatedTerminal, PaymentError> {
        let path = journal;
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        if !existed {
            // The journal is the terminal's memory: its directory entry must survive a power cut too.
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            crate::durable::sync_dir(dir).map_err(|e| io_error(&path, e))?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_error(&path, e))?;
        let parsed = parse_journal(&path, &bytes)?;
        if parsed.valid_len < bytes.len() as u64 {
            // Cut the torn tail off so the next entry starts on a line of its own.
            file.set_len(parsed.valid_len)
                .and_then(|()| file.sync_data())
                .map_err(|e| io_error(&path, e))?;
        }
        file.seek(SeekFrom::Start(parsed.valid_len))
            .map_err(|e| io_error(&path, e))?;
        let count = parsed.entries.len();
        let entries = parsed.entries.into_iter().map(|e| (e.attempt_id.clone(), e)).collect();
        Ok(SimulatedTerminal {
            path,
            outcomes: config.outcomes.clone(),
            delay: Duration::from_millis(config.delay_ms),
            settles: config.settles,
            inner: Mutex::new(Journal {
                file,
                entries,
                count,
                len: parsed.valid_len,
                broken: false,
            }),
        })
    }

    /// The journal file.
    pub fn journal_path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Journal> {
        // The journal's fields change only after a write succeeded, so a panic elsewhere while the lock was
        // held cannot leave them inconsistent: a poisoned lock is safe to use.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides the answer to a request and records it in the journal when it is a new charge.
    fn accept(&self, attempt_id: &str, amount_cents: i64) -> Answer {
        let mut journal = self.lock();
        if let Some(entry) = journal.entries.get(attempt_id) {
            tracing::warn!(
                attempt_id,
                amount_cents,
                first_amount_cents = entry.amount_cents,
                "simulated terminal: a second request for an attempt it already has; not charging again, \
                 answering what became of the first"
            );
            return Answer::AtOnce(entry.queried());
        }
        if amount_cents <= 0 {
            tracing::warn!(
                attempt_id,
                amount_cents,
                "simulated terminal: declined a request for no money"
            );
            return Answer::AtOnce(PaymentOutcome::Declined);
        }
        if journal.broken {
            tracing::error!(
                journal = %self.path.display(),
                attempt_id,
                "simulated terminal: declined; its journal could not be repaired after a failed write"
            );
            return Answer::AtOnce(PaymentOutcome::Declined);
        }
        let last = self.outcomes.len().saturating_sub(1);
        let outcome = self
            .outcomes
            .get(journal.count.min(last))
            .copied()
            .unwrap_or(SimOutcome::Declined);
        let settled = match outcome {
            SimOutcome::Approved => Settles::Approved,
            SimOutcome::Declined | SimOutcome::Cancelled => Settles::Declined,
            SimOutcome::TimedOut | SimOutcome::Unknown => self.settles,
        };
        let entry = JournalEntry {
            attempt_id: attempt_id.to_owned(),
            amount_cents,
            outcome,
            settled,
        };
        let mut line = match serde_json::to_vec(&entry) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(attempt_id, error = %e, "simulated terminal: declined; cannot encode the entry");
                return Answer::AtOnce(PaymentOutcome::Declined);
            }
        };
        line.push(b'\n');
        let written = journal.file.write_all(&line).and_then(|()| journal.file.sync_data());
        if let Err(e) = written {
            let len = journal.len;
            let repaired = journal
                .file
                .set_len(len)
                .and_then(|()| journal.file.seek(SeekFrom::Start(len)).map(drop))
                .and_then(|()| journal.file.sync_data());
            if let Err(repair) = &repaired {
                journal.broken = true;
                tracing::error!(
                    journal = %self.path.display(),
                    error = %repair,
                    "simulated terminal: cannot cut a failed entry off its journal; declining every request \
                     until it is reopened"
                );
            }
            tracing::error!(
                journal = %self.path.display(),
                attempt_id,
                error = %e,
                "simulated terminal: declined; its journal (its memory) could not be written, so it did not charge"
            );
            return Answer::AtOnce(PaymentOutcome::Declined);
        }
        journal.len += line.len() as u64;
        journal.count += 1;
        let answer = entry.answered();
        tracing::info!(attempt_id, amount_cents, outcome = ?outcome, "simulated terminal: request recorded");
        journal.entries.insert(entry.attempt_id.clone(), entry);
        Answer::AfterDelay(answer)
    }
}

/// What [`SimulatedTerminal::accept`] decided.
enum Answer {
    /// A new request, recorded: answer after the configured delay.
    AfterDelay(PaymentOutcome),
    /// Nothing new was charged (a repeat, no money, or a journal that cannot be written): answer at once.
    AtOnce(PaymentOutcome),
}

impl PaymentTerminal for SimulatedTerminal {
    fn request<'a>(&'a self, attempt_id: &'a str, amount_cents: i64) -> BoxFuture<'a, PaymentOutcome> {
        Box::pin(async move {
            match self.accept(attempt_id, amount_cents) {
                Answer::AfterDelay(answer) => {
                    tokio::time::sleep(self.delay).await;
                    answer
                }
                Answer::AtOnce(answer) => answer,
            }
        })
    }

    fn query<'a>(&'a self, attempt_id: &'a str) -> BoxFuture<'a, PaymentOutcome> {
        Box::pin(async move {
            // A real terminal answers a status query quickly; no delay here keeps reconciliation tests short.
            self.lock()
                .entries
                .get(attempt_id)
                .map_or(PaymentOutcome::Declined, JournalEntry::queried)
        })
    }

    fn describe(&self) -> String {
        let script: Vec<&str> = self
            .outcomes
            .iter()
            .map(|o| match o {
                SimOutcome::Approved => "approved",
                SimOutcome::Declined => "declined",
                SimOutcome::Cancelled => "cancelled",
                SimOutcome::TimedOut => "timed_out",
                SimOutcome::Unknown => "unknown",
            })
            .collect();
        let settles = match self.settles {
            Settles::Approved => "approved",
            Settles::Declined => "declined",
        };
        format!(
            "simulated terminal (script {}, last repeats; {} ms; unclear answers settle {settles}; journal {})",
            script.join(", "),
            self.delay.as_millis(),
            self.path.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(outcomes: &[SimOutcome], delay_ms: u64, settles: Settles) -> PaymentConfig {
        PaymentConfig {
            kind: TerminalKind::Simulated,
            outcomes: outcomes.to_vec(),
            delay_ms,
            settles,
            journal: None,
        }
    }

    fn open(dir: &tempfile::TempDir, cfg: &PaymentConfig) -> SimulatedTerminal {
        SimulatedTerminal::open(cfg, dir.path().join("sim.jsonl")).expect("open the simulated terminal")
    }

    fn paid(attempt_id: &str) -> PaymentOutcome {
        PaymentOutcome::Approved {
            reference: sim_reference(attempt_id),
        }
    }

    fn entry_line(attempt_id: &str, outcome: &str, settled: &str) -> String {
        format!(
            "{{\"attempt_id\":\"{attempt_id}\",\"amount_cents\":250,\"outcome\":\"{outcome}\",\"settled\":\"{settled}\"}}\n"
        )
    }

    #[tokio::test(start_paused = true)]
    async fn requests_follow_the_script_in_order_and_the_last_outcome_repeats() {
        use SimOutcome::*;
        let dir = tempfile::tempdir().expect("tempdir");
        let term = open(
            &dir,
            &config(&[Declined, Cancelled, TimedOut, Approved], 0, Settles::Declined),
        );
        let mut answers = Vec::new();
        for i in 1..=6 {
            answers.push(term.request(&format!("dev1-{i}-p1"), 1000).await);
        }
        assert_eq!(
            answers,
            vec![
                PaymentOutcome::Declined,
                PaymentOutcome::Cancelled,
                PaymentOutcome::TimedOut,
                paid("dev1-4-p1"),
                paid("dev1-5-p1"),
                paid("dev1-6-p1"),
            ]
        );
        assert_ne!(
            paid("dev1-4-p1"),
            paid("dev1-5-p1"),
            "each attempt has its own reference"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_is_remembered_before_the_delay_and_answered_after_it_without_real_waiting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = PaymentConfig::default();
        let term = open_terminal(&cfg, dir.path()).expect("open");
        let journal = dir.path().join(DEFAULT_JOURNAL_FILE);
        let real_start = std::time::Instant::now();
        let start = tokio::time::Instant::now();
        let t = Arc::clone(&term);
        let pending = tokio::spawn(async move { t.request("dev1-1-p1", 1234).await });

        tokio::time::sleep(Duration::from_millis(1499)).await;
        assert!(!pending.is_finished(), "answered before the configured 1500 ms");
        // A daemon crash now would leave the terminal remembering the charge: the journal already has it.
        let entries = journal_entries(&journal).expect("journal");
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].attempt_id.as_str(), entries[0].amount_cents),
            ("dev1-1-p1", 1234)
        );
        assert_eq!(term.query("dev1-1-p1").await, paid("dev1-1-p1"));

        assert_eq!(pending.await.expect("request task"), paid("dev1-1-p1"));
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
        assert!(
            real_start.elapsed() < Duration::from_secs(1),
            "the delay used real time"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unclear_answer_is_settled_by_a_query_as_configured() {
        for unclear in [SimOutcome::TimedOut, SimOutcome::Unknown] {
            for (settles, expected) in [
                (Settles::Approved, paid("dev1-1-p1")),
                (Settles::Declined, PaymentOutcome::Declined),
            ] {
                let dir = tempfile::tempdir().expect("tempdir");
                let term = open(&dir, &config(&[unclear], 10, settles));
                let answer = term.request("dev1-1-p1", 500).await;
                assert!(
                    matches!(answer, PaymentOutcome::TimedOut | PaymentOutcome::Unknown),
                    "{unclear:?}: {answer:?}"
                );
                assert_eq!(
                    term.query("dev1-1-p1").await,
                    expected,
                    "{unclear:?} settling {settles:?}"
                );
                // Queries are idempotent.
                assert_eq!(
                    term.query("dev1-1-p1").await,
                    expected,
                    "{unclear:?} settling {settles:?}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_the_terminal_never_saw_is_declined_and_declined_attempts_stay_declined() {
        use SimOutcome::*;
        let dir = tempfile::tempdir().expect("tempdir");
        let term = open(&dir, &config(&[Declined, Cancelled], 0, Settles::Approved));
        assert_eq!(term.query("dev1-9-p1").await, PaymentOutcome::Declined);
        term.request("dev1-1-p1", 100).await;
        term.request("dev1-2-p1", 100).await;
        assert_eq!(term.query("dev1-1-p1").await, PaymentOutcome::Declined);
        assert_eq!(term.query("dev1-2-p1").await, PaymentOutcome::Cancelled);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeated_request_for_an_attempt_does_not_charge_again() {
        use SimOutcome::*;
        let dir = tempfile::tempdir().expect("tempdir");
        let term = open(&dir, &config(&[Approved, TimedOut, Declined], 1500, Settles::Approved));
        assert_eq!(term.request("dev1-1-p1", 700).await, paid("dev1-1-p1"));
        assert_eq!(term.request("dev1-2-p1", 300).await, PaymentOutcome::TimedOut);

        let start = tokio::time::Instant::now();
        assert_eq!(term.request("dev1-1-p1", 700).await, paid("dev1-1-p1"));
        // The repeat of the timed-out attempt reveals what became of it, as a query would.
        assert_eq!(term.request("dev1-2-p1", 300).await, paid("dev1-2-p1"));
        assert_eq!(start.elapsed(), Duration::ZERO, "a repeat is answered from memory");

        let entries = journal_entries(term.journal_path()).expect("journal");
        let ids: Vec<&str> = entries.iter().map(|e| e.attempt_id.as_str()).collect();
        assert_eq!(ids, ["dev1-1-p1", "dev1-2-p1"], "one charge per attempt");
        // Repeats take no place in the script: the next new attempt gets the third outcome.
        assert_eq!(term.request("dev1-3-p1", 300).await, PaymentOutcome::Declined);
    }

    #[tokio::test(start_paused = true)]
    async fn the_journal_survives_a_restart_the_script_continues_and_old_attempts_are_answered() {
        use SimOutcome::*;
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = config(&[Approved, TimedOut, Cancelled, Declined], 0, Settles::Approved);
        {
            let term = open(&dir, &cfg);
            term.request("dev1-1-p1", 100).await;
            term.request("dev1-2-p1", 200).await;
        }
        // The settlement was fixed when the request was taken: a changed setting does not rewrite history.
        let term = open(&dir, &config(&cfg.outcomes, 0, Settles::Declined));
        assert_eq!(term.query("dev1-1-p1").await, paid("dev1-1-p1"));
        assert_eq!(term.query("dev1-2-p1").await, paid("dev1-2-p1"));
        assert_eq!(term.request("dev1-3-p1", 300).await, PaymentOutcome::Cancelled);
        assert_eq!(
            term.request("dev1-1-p1", 100).await,
            paid("dev1-1-p1"),
            "no second charge after restart"
        );
        assert_eq!(journal_entries(term.journal_path()).expect("journal").len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_torn_last_line_is_ignored_and_the_next_entry_starts_clean() {
        for torn in ["{\"attempt_id\":\"dev1-3-p1\",\"amo", "\0\0\0\0\0\0\0\0\n"] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("sim.jsonl");
            let whole =
                entry_line("dev1-1-p1", "approved", "approved") + &entry_line("dev1-2-p1", "unknown", "declined");
            std::fs::write(&path, whole.clone() + torn).expect("write journal");

            assert_eq!(
                journal_entries(&path).expect("read with a torn tail").len(),
                2,
                "{torn:?}"
            );
            let cfg = config(
                &[SimOutcome::Approved, SimOutcome::Declined, SimOutcome::Cancelled],
                0,
                Settles::Approved,
            );
            let term = SimulatedTerminal::open(&cfg, path.clone()).expect("open with a torn tail");
            assert_eq!(term.query("dev1-1-p1").await, paid("dev1-1-p1"));
            assert_eq!(term.query("dev1-2-p1").await, PaymentOutcome::Declined);
            // The torn request was never answered, so it was never charged.
            assert_eq!(term.query("dev1-3-p1").await, PaymentOutcome::Declined);
            // The script carries on after the two whole entries.
            assert_eq!(term.request("dev1-4-p1", 100).await, PaymentOutcome::Cancelled);

            let text = std::fs::read_to_string(&path).expect("read journal");
            assert!(text.starts_with(&whole) && text.ends_with('\n'), "{torn:?}: {text:?}");
            assert_eq!(journal_entries(&path).expect("journal").len(), 3, "{torn:?}");
        }
    }

    #[test]
    fn damage_before_the_last_line_refuses_to_open_naming_the_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sim.jsonl");
        let text = entry_line("dev1-1-p1", "approved", "approved")
            + "garbage\n"
            + &entry_line("dev1-2-p1", "declined", "declined");
        std::fs::write(&path, text).expect("write journal");
        let Err(err) = SimulatedTerminal::open(&PaymentConfig::default(), path.clone()) else {
            panic!("a damaged journal was accepted");
        };
        assert!(matches!(err, PaymentError::Corrupt { line: 2, .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_journal_that_cannot_be_written_declines_without_charging() {
        let dir = tempfile::tempdir().expect("tempdir");
        let term = open(&dir, &config(&[SimOutcome::Approved], 0, Settles::Approved));
        term.request("dev1-1-p1", 100).await;
        // Swap the journal's handle for a read-only one: every write to it fails, as on a full or failing disk.
        term.lock().file = File::open(term.journal_path()).expect("read-only handle");

        assert_eq!(term.request("dev1-2-p1", 100).await, PaymentOutcome::Declined);
        assert_eq!(term.query("dev1-2-p1").await, PaymentOutcome::Declined);
        let entries = journal_entries(term.journal_path()).expect("journal");
        assert_eq!(entries.len(), 1, "the declined attempt left no charge behind");
        assert_eq!(
            term.query("dev1-1-p1").await,
            paid("dev1-1-p1"),
            "earlier charges are still known"
        );
    }

    #[test]
    fn payment_config_defaults_parse_and_bad_values_name_their_key() {
        let cfg: PaymentConfig = toml::from_str("kind = \"simulated\"").expect("defaults");
        assert_eq!(cfg, PaymentConfig::default());
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!(
            cfg.journal_path(Path::new("/var/lib/omnigate")),
            Path::new("/var/lib/omnigate/terminal-sim.jsonl")
        );

        let text = "kind = \"simulated\"\noutcomes = [\"approved\", \"approve\"]";
        let err = serde_path_to_error::deserialize::<_, PaymentConfig>(toml::Deserializer::new(text))
            .expect_err("unknown outcome word");
        assert_eq!(err.path().to_string(), "outcomes[1]");
        assert!(
            err.to_string().contains("timed_out"),
            "the accepted words are listed: {err}"
        );
        assert!(toml::from_str::<PaymentConfig>("kind = \"simulated\"\nsettles = \"maybe\"").is_err());
        assert!(toml::from_str::<PaymentConfig>("kind = \"simulated\"\ndelay = 5").is_err());

        for (cfg, key) in [
            (config(&[], 0, Settles::Approved), "outcomes"),
            (config(&[SimOutcome::Approved], 600_001, Settles::Approved), "delay_ms"),
            (
                PaymentConfig {
                    journal: Some(PathBuf::new()),
                    ..PaymentConfig::default()
                },
                "journal",
            ),
        ] {
            assert_eq!(cfg.validate().map_err(|e| e.key), Err(key.to_string()));
        }
        assert_eq!(
            config(&[SimOutcome::Approved], 600_000, Settles::Approved).validate(),
            Ok(())
        );
    }
}
