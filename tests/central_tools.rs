//! `omnigate central` through the real binary and a real Mosquitto: keygen prints a key whose signatures the
//! device code verifies; publish-catalog sends a snapshot a device can assemble, then a delta holding exactly the
//! change; a refused file names its line and sends nothing; watch (JSON mode, not a terminal) shows a device's
//! retained status and each event id once.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnigate::catalog::update::{
    inflate_capped, open, ChunkAssembler, Delta, SnapshotManifest, TrustedKey, UpdateType,
};
use support::daemon::{publish as publish_messages, CATALOG};
use support::{wait_until, Broker, Central};

const LONG: Duration = Duration::from_secs(30);

fn omnigate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omnigate"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run omnigate")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `central keygen --out DIR`: the public key from the printed config line.
fn keygen(dir: &Path) -> TrustedKey {
    let out = omnigate(&["central", "keygen", "--out", dir.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l == "[central]"), "{stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("public_key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no public_key line in:\n{stdout}"));
    TrustedKey::from_base64(line).expect("a valid public key")
}

fn publish(dir: &Path, store: &str, file: &Path, port: u16) -> Output {
    omnigate(&[
        "central",
        "publish-catalog",
        "--store",
        store,
        file.to_str().expect("utf-8"),
        "--state-dir",
        dir.to_str().expect("utf-8"),
        "--port",
        &port.to_string(),
        "--chunk-bytes",
        "1024",
    ])
}

fn messages(c: &Central) -> Vec<(String, Vec<u8>)> {
    c.received.lock().expect("received").clone()
}

#[test]
fn published_catalogs_verify_with_the_printed_key_and_a_price_change_is_a_one_product_delta() {
    let broker = Broker::start(false);
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(dir.path());
    let store = "IT-TOOLS-1";
    let central = Central::start(
        broker.port,
        "test-device-view",
        &format!("omnigate/v1/stores/{store}/catalog/#"),
    );
    wait_until("subscribed", LONG, || central.subscriptions() > 0);

    let file = dir.path().join("catalog.jsonl");
    std::fs::write(&file, CATALOG).expect("catalog");
    let out = publish(dir.path(), store, &file, broker.port);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("version 1") && stdout.contains("3 products"),
        "{stdout}"
    );

    // Every message was acknowledged before the command returned; the subscriber gets them a moment later.
    let manifest_topic = format!("omnigate/v1/stores/{store}/catalog/snapshot");
    wait_until("the manifest", LONG, || {
        messages(&central).iter().any(|(t, _)| *t == manifest_topic)
    });
    let mut assembler = ChunkAssembler::new();
    let mut assembled = None;
    for (topic, payload) in messages(&central) {
        if topic == manifest_topic {
            let body = open(&payload, &key, UpdateType::CatalogSnapshot).expect("a manifest signed by the key");
            let manifest = SnapshotManifest::decode(&body, store).expect("valid manifest");
            assert_eq!((manifest.version, manifest.products), (1, 3));
            assembled = assembled.or(assembler.set_manifest(manifest).expect("chunks fit"));
        } else if topic.contains("/snapshot/chunk/") {
            assembled = assembled.or(assembler.add_chunk(&payload).expect("a valid chunk"));
        }
    }
    let blob = assembled.expect("every chunk arrived before the manifest").blob;
    let lines: Vec<String> = inflate_capped(&blob, 1 << 20)
        .lines()
        .collect::<Result<_, _>>()
        .expect("inflates");
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .any(|l| l.contains("\"PASTA-5\"") && l.contains("\"price_cents\":129")));

    // One price changes: the delta carries that product only.
    let before = messages(&central).len();
    std::fs::write(&file, CATALOG.replace("\"price_cents\":899", "\"price_cents\":949")).expect("catalog");
    let out = publish(dir.path(), store, &file, broker.port);
    assert!(out.status.success(), "{}", text(&out));
    let delta_topic = format!("omnigate/v1/stores/{store}/catalog/delta");
    wait_until("the delta and the new manifest", LONG, || {
        let m = messages(&central);
        m[before..].iter().any(|(t, _)| *t == delta_topic) && m[before..].iter().any(|(t, _)| *t == manifest_topic)
    });
    let m = messages(&central);
    let deltas: Vec<&Vec<u8>> = m[before..]
        .iter()
        .filter(|(t, _)| *t == delta_topic)
        .map(|(_, p)| p)
        .collect();
    assert_eq!(deltas.len(), 1);
    let body = open(deltas[0], &key, UpdateType::CatalogDelta).expect("a delta signed by the key");
    let delta = Delta::decode(&body, store).expect("valid delta");
    assert_eq!((delta.from_version, delta.version), (1, 2));
    assert_eq!(delta.upsert.len(), 1, "{delta:?}");
    assert_eq!(
        (delta.upsert[0].sku.as_str(), delta.upsert[0].price_cents),
        ("OLIO-1L", 949)
    );
    assert!(delta.delete.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 changed, 0 deleted"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_refused_catalog_file_names_its_line_exits_1_and_publishes_nothing() {
    let broker = Broker::start(false);
    let dir = tempfile::tempdir().expect("tempdir");
    keygen(dir.path());
    let store = "IT-TOOLS-2";
    let central = Central::start(broker.port, "test-watcher-2", &format!("omnigate/v1/stores/{store}/#"));
    wait_until("subscribed", LONG, || central.subscriptions() > 0);
    let file = dir.path().join("catalog.jsonl");
    let bad = CATALOG.replace("\"price_cents\":399", "\"price_cents\":-5");
    std::fs::write(&file, bad).expect("catalog");
    let out = publish(dir.path(), store, &file, broker.port);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("catalog.jsonl:2: rejected"), "{stdout}");
    assert!(stdout.contains("nothing published"), "{stdout}");

    // Proof that nothing went out: a marker published after it is the only message the subscriber gets.
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, CATALOG).expect("catalog");
    let out = publish(dir.path(), store, &good, broker.port);
    assert!(out.status.success(), "{}", text(&out));
    wait_until("the good publish", LONG, || central.count() > 0);
    wait_until("its manifest", LONG, || {
        messages(&central).iter().any(|(t, _)| t.ends_with("/snapshot"))
    });
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("version 1"),
        "the refused file took no version"
    );
    assert!(
        messages(&central).iter().all(|(t, _)| !t.ends_with("/delta")),
        "no delta: the refused file never counted as published"
    );

    // Broker down: exit 2, and nothing is committed.
    let out = omnigate(&[
        "central",
        "publish-catalog",
        "--store",
        store,
        good.to_str().expect("utf-8"),
        "--state-dir",
        dir.path().to_str().expect("utf-8"),
        "--port",
        &support::free_port().to_string(),
        "--snapshot",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not committed"),
        "{}",
        text(&out)
    );
}

/// `central watch` as a child process; its stdout lines collected by a thread.
struct Watch {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watch {
    fn start(port: u16, store: &str) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_omnigate"))
            .args(["central", "watch", "--store", store, "--port", &port.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watch");
        let stdout = child.stdout.take().expect("stdout");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                l.lock().expect("lines").push(line);
            }
        });
        Watch { child, lines }
    }

    fn json(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l}: {e}")))
            .collect()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_shows_the_retained_status_and_each_event_id_once() {
    let broker = Broker::start(false);
    let store = "IT-WATCH-1";
    let base = format!("omnigate/v1/stores/{store}/devices/kiosk-01");
    let status = r#"{"v":1,"state":"online","store":"IT-WATCH-1","device":"kiosk-01","software":"0.1.0","status_seq":7,"catalog":{"central_version":3,"products":224},"outbox":{"depth":0}}"#;
    // Retained before the watcher starts: the broker hands it over on subscription.
    publish_messages(broker.port, &[(format!("{base}/status"), status.into(), true)]);
    let watch = Watch::start(broker.port, store);
    wait_until("the retained status line", LONG, || {
        watch.json().iter().any(|j| j["type"] == "status")
    });
    let first = watch.json();
    let st = first.iter().find(|j| j["type"] == "status").expect("status line");
    assert_eq!(
        (
            st["device"].as_str(),
            st["retained"].as_bool(),
            st["status"]["status_seq"].as_u64()
        ),
        (Some("kiosk-01"), Some(true), Some(7))
    );

    let event = r#"{"seq":1,"id":"kiosk-01-1","kind":"device.started","class":"business","payload":{"software":"0.1.0","catalog_version":3}}"#;
    let marker =
        r#"{"seq":2,"id":"kiosk-01-2","kind":"kiosk.lookup","class":"telemetry","payload":{"result":"found"}}"#;
    let events = format!("{base}/events");
    // One connection, QoS 1: they arrive in this order, the marker last.
    publish_messages(
        broker.port,
        &[
            (events.clone(), event.into(), false),
            (events.clone(), event.into(), false),
            (events, marker.into(), false),
        ],
    );
    wait_until("the marker event", LONG, || {
        watch.json().iter().any(|j| j["event"]["id"] == "kiosk-01-2")
    });
    let ids: Vec<String> = watch
        .json()
        .iter()
        .filter(|j| j["type"] == "event")
        .map(|j| j["event"]["id"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(ids, ["kiosk-01-1", "kiosk-01-2"], "the redelivered event shows once");
    assert_eq!(
        watch.json().iter().filter(|j| j["type"] == "status").count(),
        1,
        "the same status is not printed twice"
    );
}
