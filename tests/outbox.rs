//! The durable outbox through its public API: sequence numbers never repeat or go back, across restarts and
//! crashes, and every confirmed event is still there until it is acknowledged.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use omnigate::outbox::{Event, EventClass};
use omnigate::storage::outbox_store::{
    NewEvent, OutboxOptions, OutboxStore, OutboxStoreError, ACKS_PER_WRITE, MAX_EVENT_BYTES,
};
use serde_json::json;

const CACHE: u64 = 1 << 20;
const DEVICE: &str = "till-07";

fn open(dir: &Path) -> OutboxStore {
    OutboxStore::open(dir, CACHE, DEVICE).expect("the outbox opens")
}

/// The write-ahead log of the crash test: small, so the child checkpoints (and starts the log again) every
/// few hundred events and the kill can land before, during or after a checkpoint.
const SMALL_WAL: u64 = 64 * 1024;

fn open_small_wal(dir: &Path) -> OutboxStore {
    OutboxStore::open_with(
        dir,
        DEVICE,
        &OutboxOptions {
            cache_bytes: CACHE,
            wal_bytes: SMALL_WAL,
        },
    )
    .expect("the outbox opens")
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
fn a_state_is_back_after_a_restart_with_its_events_and_an_oversized_one_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = open_small_wal(dir.path());
        assert_eq!(
            store.state("basket").expect("read"),
            None,
            "a new outbox holds no basket"
        );
        sale(&store, 100);
        let none = store
            .append_with_state(Vec::new(), Some(("basket", b"two lines".to_vec())))
            .expect("a state alone is recorded");
        assert!(none.is_empty(), "a state alone takes no seq");
        let sold = store
            .append_with_state(sales([250]), Some(("basket", b"sold".to_vec())))
            .expect("the sale and its basket are recorded");
        assert_eq!(sold[0].seq, 2, "the state alone used no seq: no gap for central");
        let huge = vec![b'x'; omnigate::storage::outbox_store::MAX_STATE_BYTES + 1];
        let refused = store
            .append_with_state(sales([999]), Some(("basket", huge)))
            .expect_err("an oversized state is refused");
        assert!(refused.to_string().contains("basket"), "{refused}");
        // No sync: what the log holds is what a crash would leave.
    }
    let store = open_small_wal(dir.path());
    assert_eq!(store.state("basket").expect("read").as_deref(), Some(&b"sold"[..]));
    assert_eq!(stored_seqs(&store), vec![1, 2], "the refused sale left nothing behind");
    assert_eq!(sale(&store, 1).seq, 3);
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

#[test]
fn after_a_stop_without_sync_acknowledged_events_stay_gone_and_unacknowledged_ones_stay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_small_wal(dir.path());
    let mut unacked = BTreeSet::new();
    // 3,000 sales, half of them acknowledged as they go: the log is written over many times meanwhile.
    for b in 0..300u64 {
        let events = store.append_batch(sales(b * 10..b * 10 + 10)).expect("recorded");
        for e in &events[..5] {
            store.ack(e.seq).expect("ack");
        }
        unacked.extend(events[5..].iter().map(|e| e.seq));
    }
    assert!(store.checkpoints() > 3, "the log was started again several times");
    // No sync: what the log and sled hold is what a crash of the process would leave.
    drop(store);

    // Reopened at once: the store waits out sled's lingering file lock itself.
    let options = OutboxOptions {
        cache_bytes: CACHE,
        wal_bytes: SMALL_WAL,
    };
    let store = OutboxStore::open_with(dir.path(), DEVICE, &options).expect("the outbox reopens");
    let stored: BTreeSet<u64> = stored_seqs(&store).into_iter().collect();
    let missing: Vec<&u64> = unacked.difference(&stored).collect();
    assert!(missing.is_empty(), "unacknowledged events lost: {missing:?}");
    // Only the last acks, not yet written to the log, may come back (sent again, deduplicated by central).
    let back = stored.difference(&unacked).count();
    assert!(
        back < ACKS_PER_WRITE,
        "{back} acknowledged events came back; central would get them all again"
    );
    assert_eq!(store.status().expect("status").depth, stored.len() as u64);
}

/// Set in the child process of the crash test: the outbox directory it appends to.
const CHILD_DIR_ENV: &str = "OMNIGATE_OUTBOX_CRASH_CHILD_DIR";
const CHILD_TEST: &str = "crash_child_appends_until_killed";

/// The child half of [`a_crash_never_loses_a_confirmed_event_nor_reuses_its_seq`]: appends from four threads
/// (two one event at a time, two in batches of three) and prints `confirmed <seq>` for each event whose append
/// returned, while a fifth acknowledges every third durable event as the uplink would. Ignored in normal runs; the
/// parent runs it.
#[test]
#[ignore = "child process of a_crash_never_loses_a_confirmed_event_nor_reuses_its_seq, which runs it"]
fn crash_child_appends_until_killed() {
    let dir = std::env::var_os(CHILD_DIR_ENV).expect("run by the crash test, which sets the directory");
    let store = open_small_wal(Path::new(&dir));
    std::thread::scope(|s| {
        // Acks go through the same log: deletions must never take a confirmed, unacknowledged event with them.
        let acker = &store;
        s.spawn(move || {
            let mut from = 0;
            for _ in 0..200_000u64 {
                // The uplink only ever sends (and so only gets acks for) durable events. Every third is acked,
                // so most confirmed events are still unacknowledged at the kill and must survive it.
                let durable = acker.pending_encoded(from, 64).expect("read the outbox");
                for (seq, bytes) in &durable {
                    from = seq + 1;
                    // The basket's events stay, so the parent can match them with the basket state.
                    if seq % 3 != 0 || !String::from_utf8_lossy(bytes).contains(r#""kind":"sale""#) {
                        continue;
                    }
                    // Said before it is done: a kill between the two must not make a deleted event look lost.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "acking {seq}").expect("stdout");
                    out.flush().expect("stdout");
                    drop(out);
                    acker.ack(*seq).expect("ack");
                }
                std::thread::yield_now();
            }
        });
        // A basket: each step writes its state and one event in one frame, so after a crash the state and the
        // events must agree (the events of steps 1..=n exist exactly when the state says n).
        let basket = &store;
        s.spawn(move || {
            let mut n = basket_step(basket);
            for _ in 0..200_000u64 {
                n += 1;
                basket
                    .append_with_state(
                        vec![NewEvent {
                            kind: "basket.step".into(),
                            class: EventClass::Business,
                            payload: json!({ "n": n }),
                            recorded_at_ms: None,
                        }],
                        Some(("basket", json!({ "n": n }).to_string().into_bytes())),
                    )
                    .expect("the basket step is recorded");
                let mut out = std::io::stdout().lock();
                writeln!(out, "basket {n}").expect("stdout");
                out.flush().expect("stdout");
            }
        });
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

/// What the crash child reported, one whole line each.
enum ChildSaid {
    Confirmed(u64),
    Acked(u64),
    Basket(u64),
}

/// The basket step the state says (0 before the first).
fn basket_step(store: &OutboxStore) -> u64 {
    store
        .state("basket")
        .expect("read the basket state")
        .map(|bytes| {
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("the state is JSON");
            v["n"].as_u64().expect("n")
        })
        .unwrap_or(0)
}

#[test]
fn a_crash_never_loses_a_confirmed_event_nor_reuses_its_seq() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Three crashes in a row on the same outbox: each reopen replays what the last one left in the log, and the
    // next child goes on from there.
    let mut confirmed = BTreeSet::new();
    let mut acked = BTreeSet::new();
    let mut basket_confirmed = 0u64;
    for round in 0..3 {
        // A different kill point on every run (from before the first checkpoint to several log passes in);
        // wall-clock only seeds it.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let kill_after = confirmed.len() + 20 + nanos as usize % 3000;

        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", CHILD_TEST, "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<ChildSaid>();
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            // Only whole lines: a line cut by the kill was never a confirmation.
            while lines.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                // libtest prints `test <name> ... ` without a newline before the child's first line, so only
                // the last two words of a line count.
                let words: Vec<&str> = line.split_whitespace().collect();
                let said = match (line.ends_with('\n'), words.as_slice()) {
                    (true, [.., "confirmed", n]) => n.parse().ok().map(ChildSaid::Confirmed),
                    (true, [.., "acking", n]) => n.parse().ok().map(ChildSaid::Acked),
                    (true, [.., "basket", n]) => n.parse().ok().map(ChildSaid::Basket),
                    _ => None,
                };
                if let Some(said) = said {
                    if tx.send(said).is_err() {
                        break;
                    }
                }
                line.clear();
            }
        });

        let mut note = |said: ChildSaid| match said {
            ChildSaid::Confirmed(seq) => assert!(confirmed.insert(seq), "seq {seq} confirmed twice"),
            ChildSaid::Acked(seq) => {
                acked.insert(seq);
            }
            ChildSaid::Basket(n) => basket_confirmed = basket_confirmed.max(n),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = 0usize;
        while seen < kill_after {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(said) => {
                    seen += usize::from(matches!(said, ChildSaid::Confirmed(_)));
                    note(said);
                }
                Err(e) => {
                    let _ = child.kill();
                    panic!("round {round}: the child confirmed only {seen} appends: {e}");
                }
            }
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL the child");
        child.wait().expect("reap the child");
        reader.join().expect("reader thread");
        // Lines printed before the kill and still in the pipe.
        for said in rx.try_iter() {
            note(said);
        }

        let store = open_small_wal(dir.path());
        let step = basket_step(&store);
        assert!(
            step >= basket_confirmed,
            "round {round}: the basket went back from confirmed step {basket_confirmed} to {step}"
        );
        let steps: Vec<u64> = store
            .pending(0, usize::MAX)
            .expect("read the outbox")
            .iter()
            .filter(|e| e.kind == "basket.step")
            .filter_map(|e| e.payload["n"].as_u64())
            .collect();
        assert_eq!(
            steps,
            (1..=step).collect::<Vec<u64>>(),
            "round {round}: the basket's events disagree with its state"
        );
        let stored: BTreeSet<u64> = stored_seqs(&store).into_iter().collect();
        let kept = confirmed.difference(&acked).count();
        assert!(
            kept >= 10,
            "round {round}: only {kept} confirmed events were left unacknowledged to check"
        );
        let lost: Vec<&u64> = confirmed.difference(&stored).filter(|s| !acked.contains(s)).collect();
        assert!(
            lost.is_empty(),
            "round {round}: confirmed, never acknowledged, and gone after the crash: {lost:?}"
        );
        let highest = *confirmed.last().expect("at least one confirmation");
        let next = sale(&store, 1).seq;
        assert!(
            next > highest,
            "round {round}: seq {next} after the crash, but {highest} was already confirmed"
        );
        // That sale was confirmed too; the next child must keep it.
        confirmed.insert(next);
    }
    assert!(
        !acked.is_empty(),
        "the acker ran, so deletions were logged across the crashes"
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
            "trace=write,pwrite64,fsync,fdatasync,sync_file_range,msync",
            // Whole write buffers, so the trace shows the event itself going into the log.
            "-s",
            "65536",
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
    // The write-ahead log is the file whose sync confirms an append (src/storage/outbox_store.rs).
    let log = format!("{}>", outbox.join("wal").display());
    let between = &lines[begin..confirmed];
    let written = between
        .iter()
        .position(|l| l.contains("pwrite64(") && l.contains(&log) && l.contains("\\\"total_cents\\\":250"));
    let written = written.unwrap_or_else(|| {
        panic!(
            "the event was not written to {log} between the append and its confirmation:\n{}",
            lines[begin..=confirmed].join("\n")
        )
    });
    // strace splits a call that another thread interrupts: `fdatasync(5<…wal> <unfinished ...>` and later
    // `<pid> <... fdatasync resumed>) = 0`.
    let synced = between[written..].iter().enumerate().any(|(i, l)| {
        let is_sync = (l.contains("fdatasync(") || l.contains("fsync(")) && l.contains(&log);
        if !is_sync {
            return false;
        }
        if l.ends_with("= 0") {
            return true;
        }
        let pid = l.split_whitespace().next();
        between[written + i + 1..]
            .iter()
            .any(|r| r.split_whitespace().next() == pid && r.contains("<... fdatasync resumed>") && r.ends_with("= 0"))
    });
    assert!(
        synced,
        "no successful fsync/fdatasync of {log} after the event was written and before its confirmation:\n{}",
        lines[begin..=confirmed].join("\n")
    );
}

#[test]
fn a_state_whose_frame_never_reached_the_disk_is_not_back_with_its_events_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = open_small_wal(dir.path());
        store
            .append_with_state(Vec::new(), Some(("basket", b"paying".to_vec())))
            .expect("recorded");
        store.sync().expect("checkpoint: 'paying' is in sled, durably");
        store
            .append_with_state(sales([450]), Some(("basket", b"sold".to_vec())))
            .expect("the sale and its basket are recorded");
        // Dropped without a sync: sled may write what it holds back to its file on the way out.
    }
    // The crash took the log's frame (as if its write never reached the disk): the sale is not confirmed.
    let wal = dir.path().join("wal");
    let len = std::fs::metadata(&wal).expect("wal").len();
    std::fs::write(&wal, vec![0u8; usize::try_from(len).expect("small")]).expect("zero the log");
    let store = open_small_wal(dir.path());
    assert!(stored_seqs(&store).is_empty(), "the unconfirmed sale event is gone");
    assert_eq!(
        store.state("basket").expect("read").as_deref(),
        Some(&b"paying"[..]),
        "so the basket must not say 'sold': it is still paying (and will query the terminal)"
    );
}
