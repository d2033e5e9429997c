//! The durable outbox through its public API: sequence numbers never repeat or go back, across restarts and
//! crashes, and every confirmed event is still there until it is acknowledged.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use omnigate::outbox::{Event, EventClass};
use omnigate::storage::outbox_store::{NewEvent, OutboxStore, OutboxStoreError, MAX_EVENT_BYTES};
use serde_json::json;

const CACHE: u64 = 1 << 20;
const DEVICE: &str = "till-07";

fn open(dir: &Path) -> OutboxStore {
    OutboxStore::open(dir, CACHE, DEVICE).expect("the outbox opens")
}

fn sale(store: &OutboxStore, cents: u64) -> Event {
    store
        .append("sale", EventClass::Money, json!({ "total_cents": cents }))
        .expect("the sale is recorded")
}

fn sales(cents: impl IntoIterator<Item = u64>) -> Vec<NewEvent> {
    cents
        .into_iter()
        .map(|c| NewEvent {
            kind: "sale".into(),
            class: EventClass::Money,
            payload: json!({ "total_cents": c }),
            recorded_at_ms: None,
        })
        .collect()
}

fn stored_seqs(store: &OutboxStore) -> Vec<u64> {
    let events = store.pending(0, usize::MAX).expect("read the outbox");
    events.iter().map(|e| e.seq).collect()
}

#[test]
fn appends_get_consecutive_seqs_and_unique_ids_and_come_back_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path());
    let appended: Vec<Event> = (0..5).map(|i| sale(&store, 100 + i)).collect();
    let seqs: Vec<u64> = appended.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let ids: BTreeSet<&str> = appended.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 5, "ids are unique: {ids:?}");
    assert_eq!(appended[2].id, "till-07-3");
    assert_eq!(store.pending(0, usize::MAX).expect("read"), appended);
    assert_eq!(
        store.pending(3, 1).expect("read"),
        vec![appended[2].clone()],
        "from a seq, limited"
    );
}

#[test]
fn after_a_restart_seqs_continue_and_only_unacked_events_remain() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = open(dir.path());
        for cents in [100, 200, 300] {
            sale(&store, cents);
        }
        store.ack(2).expect("ack");
        store.sync().expect("sync before closing");
    }
    let store = open(dir.path());
    let events = store.pending(0, usize::MAX).expect("read");
    let kept: Vec<(u64, serde_json::Value)> = events.into_iter().map(|e| (e.seq, e.payload)).collect();
    assert_eq!(
        kept,
        vec![(1, json!({ "total_cents": 100 })), (3, json!({ "total_cents": 300 }))]
    );
    assert_eq!(sale(&store, 400).seq, 4);
}

#[test]
fn seqs_never_go_back_even_when_every_event_was_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = open(dir.path());
        for seq in 1..=3 {
            assert_eq!(sale(&store, 1).seq, seq);
            store.ack(seq).expect("ack");
        }
        store.sync().expect("sync before closing");
    }
    let store = open(dir.path());
    assert_eq!(stored_seqs(&store), Vec::<u64>::new());
    let status = store.status().expect("status");
    assert_eq!(
        (status.depth, status.oldest, status.next_seq, status.bytes),
        (0, None, 4, 0)
    );
    assert_eq!(sale(&store, 1).seq, 4);
}

#[test]
fn the_budget_bytes_are_the_encoded_sizes_of_unacked_events_also_after_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let expected = {
        let store = open(dir.path());
        let a = sale(&store, 1);
        let b = store
            .append("telemetry", EventClass::Telemetry, json!({ "cpu_temp_mc": 51000 }))
            .expect("append");
        let c = sale(&store, 3);
        let size = OutboxStore::encoded_size;
        assert_eq!(store.bytes(), size(&a) + size(&b) + size(&c));
        store.ack(b.seq).expect("ack");
        assert_eq!(store.bytes(), size(&a) + size(&c));
        store.sync().expect("sync");
        size(&a) + size(&c)
    };
    let store = open(dir.path());
    let status = store.status().expect("status");
    assert_eq!((status.depth, status.oldest, status.bytes), (2, Some(1), expected));
}

#[test]
fn an_oversized_event_is_refused_without_using_a_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path());
    let huge = "x".repeat(MAX_EVENT_BYTES);
    let err = store
        .append("staff_note", EventClass::Business, json!({ "text": huge }))
        .expect_err("too large");
    assert!(matches!(err, OutboxStoreError::TooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("staff_note"),
        "the error names the event: {err}"
    );
    assert_eq!(sale(&store, 1).seq, 1);
    assert_eq!(stored_seqs(&store), vec![1]);
}

#[test]
fn a_batch_gets_consecutive_seqs_in_its_order_and_is_kept_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = open(dir.path());
        assert_eq!(sale(&store, 1).seq, 1);
        let batch = store.append_batch(sales([10, 20, 30])).expect("the batch is recorded");
        let got: Vec<(u64, String, serde_json::Value)> = batch.into_iter().map(|e| (e.seq, e.id, e.payload)).collect();
        assert_eq!(
            got,
            vec![
                (2, "till-07-2".to_owned(), json!({ "total_cents": 10 })),
                (3, "till-07-3".to_owned(), json!({ "total_cents": 20 })),
                (4, "till-07-4".to_owned(), json!({ "total_cents": 30 })),
            ]
        );
        assert_eq!(store.append_batch(Vec::new()).expect("empty batch"), Vec::new());
        store.sync().expect("sync before closing");
    }
    let store = open(dir.path());
    assert_eq!(stored_seqs(&store), vec![1, 2, 3, 4]);
    assert_eq!(sale(&store, 5).seq, 5, "an empty batch used no seq");
}

#[test]
fn one_oversized_event_refuses_the_whole_batch_without_using_a_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path());
    let mut batch = sales([1, 2]);
    batch.push(NewEvent {
        kind: "staff_note".into(),
        class: EventClass::Business,
        payload: json!({ "text": "x".repeat(MAX_EVENT_BYTES) }),
        recorded_at_ms: None,
    });
    let err = store.append_batch(batch).expect_err("too large");
    assert!(matches!(err, OutboxStoreError::TooLarge { .. }), "{err}");
    assert_eq!(
        stored_seqs(&store),
        Vec::<u64>::new(),
        "nothing of the batch was written"
    );
    assert_eq!(store.bytes(), 0);
    assert_eq!(sale(&store, 1).seq, 1);
}

#[test]
fn concurrent_appends_are_all_confirmed_without_duplicate_or_gap() {
    const THREADS: u64 = 8;
    const EACH: u64 = 100;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path());
    let mut seqs: Vec<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = &store;
                s.spawn(move || {
                    if t % 2 == 0 {
                        (0..EACH).map(|i| sale(store, t * 1000 + i).seq).collect::<Vec<u64>>()
                    } else {
                        // Odd threads append in batches of 4: seqs of one batch are consecutive.
                        let mut seqs = Vec::new();
                        for i in 0..EACH / 4 {
                            let batch = store
                                .append_batch(sales((0..4).map(|k| t * 1000 + i * 4 + k)))
                                .expect("batch");
                            let got: Vec<u64> = batch.iter().map(|e| e.seq).collect();
                            let first = got[0];
                            assert_eq!(got, (first..first + 4).collect::<Vec<u64>>(), "a batch is consecutive");
                            seqs.extend(got);
                        }
                        seqs
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("appender thread"))
            .collect()
    });
    seqs.sort_unstable();
    let all: Vec<u64> = (1..=THREADS * EACH).collect();
    assert_eq!(seqs, all);
    assert_eq!(stored_seqs(&store), all);
}

/// Set in the child process of the crash test: the outbox directory it appends to.
const CHILD_DIR_ENV: &str = "OMNIGATE_OUTBOX_CRASH_CHILD_DIR";
const CHILD_TEST: &str = "crash_child_appends_until_killed";

/// The child half of [`a_crash_never_loses_a_confirmed_event_nor_reuses_its_seq`]: appends from four threads
/// (two one event at a time, two in batches of three) and prints `confirmed <seq>` for each event whose append
/// returned. Ignored in normal runs; the parent runs it.
#[test]
#[ignore = "child process of a_crash_never_loses_a_confirmed_event_nor_reuses_its_seq, which runs it"]
fn crash_child_appends_until_killed() {
    let dir = std::env::var_os(CHILD_DIR_ENV).expect("run by the crash test, which sets the directory");
    let store = open(Path::new(&dir));
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = &store;
            s.spawn(move || {
                // Bounded, so an orphaned child ends on its own.
                for i in 0..200_000u64 {
                    let seqs: Vec<u64> = if t % 2 == 0 {
                        vec![sale(store, i).seq]
                    } else {
                        let batch = store
                            .append_batch(sales([i, i + 1, i + 2]))
                            .expect("the batch is recorded");
                        batch.iter().map(|e| e.seq).collect()
                    };
                    let mut out = std::io::stdout().lock();
                    for seq in seqs {
                        writeln!(out, "confirmed {seq}").expect("stdout");
                    }
                    out.flush().expect("stdout");
                }
            });
        }
    });
}

#[test]
fn a_crash_never_loses_a_confirmed_event_nor_reuses_its_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A different kill point on every run; wall-clock only seeds it.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let kill_after = 20 + u64::from(nanos) % 400;

    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<u64>();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        // Only whole lines: a line cut by the kill was never a confirmation.
        while lines.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if let Some(seq) = line.strip_suffix('\n').and_then(|l| l.strip_prefix("confirmed ")) {
                if tx.send(seq.parse().expect("the child prints numbers")).is_err() {
                    break;
                }
            }
            line.clear();
        }
    });

    let mut confirmed = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (confirmed.len() as u64) < kill_after {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(seq) => assert!(confirmed.insert(seq), "seq {seq} confirmed twice"),
            Err(e) => {
                let _ = child.kill();
                panic!("the child confirmed only {} appends: {e}", confirmed.len());
            }
        }
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL the child");
    child.wait().expect("reap the child");
    reader.join().expect("reader thread");
    // Confirmations printed before the kill and still in the pipe.
    for seq in rx.try_iter() {
        assert!(confirmed.insert(seq), "seq {seq} confirmed twice");
    }

    let store = open(dir.path());
    let stored: BTreeSet<u64> = stored_seqs(&store).into_iter().collect();
    let lost: Vec<&u64> = confirmed.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "confirmed before the crash but gone after it: {lost:?}"
    );
    let highest = *confirmed.last().expect("at least one confirmation");
    let next = sale(&store, 1).seq;
    assert!(
        next > highest,
        "seq {next} after the crash, but {highest} was already confirmed"
    );
}

/// Set in the child process of the strace test: the outbox directory.
const STRACE_DIR_ENV: &str = "OMNIGATE_OUTBOX_STRACE_DIR";
const STRACE_CHILD: &str = "strace_child_appends_one_event";

/// The child half of [`a_confirmed_append_has_fsynced_the_data_file_before_it_is_confirmed`]: marks the start
/// and the confirmation of one append on stdout, so the trace shows what happened in between.
#[test]
#[ignore = "child process of a_confirmed_append_has_fsynced_the_data_file_before_it_is_confirmed, which runs it"]
fn strace_child_appends_one_event() {
    let dir = std::env::var_os(STRACE_DIR_ENV).expect("run by the strace test");
    let store = open(Path::new(&dir));
    let mut out = std::io::stdout().lock();
    out.write_all(b"APPEND-BEGIN\n").expect("stdout");
    out.flush().expect("stdout");
    let seq = sale(&store, 250).seq;
    writeln!(out, "APPEND-CONFIRMED {seq}").expect("stdout");
    out.flush().expect("stdout");
}

#[test]
fn a_confirmed_append_has_fsynced_the_data_file_before_it_is_confirmed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = dir.path().join("trace.txt");
    let outbox = dir.path().join("outbox");
    // -f: sled writes from its own threads; -y: file descriptors printed with their paths.
    let status = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-qq",
            "-e",
            "trace=write,fsync,fdatasync,sync_file_range,msync",
            "-o",
        ])
        .arg(&trace)
        .arg(std::env::current_exe().expect("test binary"))
        .args(["--exact", STRACE_CHILD, "--ignored", "--nocapture", "--test-threads=1"])
        .env(STRACE_DIR_ENV, &outbox)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("strace runs (.ci/run installs it)");
    assert!(status.success(), "traced child failed: {status}");
    let text = std::fs::read_to_string(&trace).expect("trace");
    let lines: Vec<&str> = text.lines().collect();
    let begin = lines
        .iter()
        .position(|l| l.contains("APPEND-BEGIN"))
        .expect("start marker in the trace");
    let confirmed = lines
        .iter()
        .position(|l| l.contains("APPEND-CONFIRMED 1"))
        .expect("confirmation in the trace");
    let data_file = format!("{}>", outbox.join("db").display());
    let synced = lines[begin..confirmed]
        .iter()
        .any(|l| (l.contains("fdatasync(") || l.contains("fsync(")) && l.contains(&data_file) && l.ends_with("= 0"));
    assert!(
        synced,
        "no successful fsync/fdatasync of {data_file} between the append and its confirmation:\n{}",
        lines[begin..=confirmed].join("\n")
    );
}
