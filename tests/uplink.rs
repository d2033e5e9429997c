//! The outbox drain to central through a real Mosquitto: offline events arrive in sequence order after the
//! link comes back, nothing is lost when the broker forgets the device's session, the retained status says
//! online and offline (last will), and bad TLS settings stop the start with a clear message.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use omnigate::config::{MqttConfig, MqttTlsConfig};
use omnigate::mqtt::LinkSettings;
use omnigate::outbox::EventClass;
use omnigate::storage::outbox_store::OutboxStore;
use serde_json::json;
use support::link::Link;
use support::{wait_until, Broker, Central, Proxy};

const STORE: &str = "IT-TEST-0001";
const DEVICE: &str = "till-07";
const EVENTS: &str = "omnigate/v1/stores/+/devices/+/events";
const LONG: Duration = Duration::from_secs(30);

fn mqtt_config(port: u16) -> MqttConfig {
    let text = format!("host = \"127.0.0.1\"\nport = {port}\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\n");
    toml::from_str(&text).expect("mqtt config")
}

fn open_store(dir: &Path) -> Arc<OutboxStore> {
    Arc::new(OutboxStore::open(dir, 1 << 20, DEVICE).expect("outbox opens"))
}

fn sales(store: &OutboxStore, link: Option<&Link>, n: u64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let e = store
                .append("sale", EventClass::Money, json!({ "total_cents": 100 + i }))
                .expect("sale recorded");
            if let Some(l) = link {
                l.appended.notify_one();
            }
            e.seq
        })
        .collect()
}

fn received_seqs(central: &Central) -> Vec<u64> {
    central
        .json()
        .iter()
        .filter(|e| e["id"].as_str().is_some_and(|id| id.starts_with(DEVICE)))
        .filter_map(|e| e["seq"].as_u64())
        .collect()
}

#[test]
fn sales_made_offline_all_arrive_in_sequence_order_once_central_is_reachable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let broker = Broker::start(true);
    let proxy = Proxy::start(broker.port);
    proxy.cut(); // the shop's line is down
    let central = Central::start(broker.port, "central-test", EVENTS);
    wait_until("central subscribed", LONG, || central.subscriptions() > 0);

    let link = Link::start(store.clone(), &mqtt_config(proxy.port), STORE, DEVICE);
    let confirmed = sales(&store, Some(&link), 300);
    assert_eq!(
        store.status().expect("status").depth,
        300,
        "all kept on disk while offline"
    );
    assert!(!link.connected());

    proxy.mend();
    wait_until("all 300 sales at central", LONG, || {
        received_seqs(&central).len() >= 300
    });
    let got = received_seqs(&central);
    assert_eq!(got, confirmed, "every sale once, in sequence order");
    let first = &central.json()[0];
    assert_eq!(first["id"], format!("{DEVICE}-1"));
    assert_eq!(first["kind"], "sale");
    assert_eq!(first["payload"]["total_cents"], 100);
    wait_until("acknowledged events deleted", LONG, || {
        store.status().expect("status").depth == 0
    });
    // The link reports the ack just after deleting the event.
    wait_until("last ack reported", LONG, || link.state().last_acked == Some(300));
    link.stop();
}

#[test]
fn when_the_broker_forgets_the_session_unacknowledged_events_are_sent_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let mut broker = Broker::start(false);
    let proxy = Proxy::start(broker.port);
    let central = Central::start(broker.port, "central-test", EVENTS);
    wait_until("central subscribed", LONG, || central.subscriptions() > 0);
    let link = Link::start(store.clone(), &mqtt_config(proxy.port), STORE, DEVICE);
    wait_until("device connected", LONG, || link.connected());

    let mut confirmed = sales(&store, Some(&link), 2000);
    // Cut the device off in the middle of the drain, and wait until central has every event the broker
    // acknowledged (those are the broker's responsibility; the rest must come again from the device).
    wait_until("drain under way", LONG, || store.status().expect("status").depth < 1990);
    proxy.cut();
    let acked: BTreeSet<u64> = {
        let left: BTreeSet<u64> = store
            .pending(0, usize::MAX)
            .expect("read")
            .iter()
            .map(|e| e.seq)
            .collect();
        confirmed.iter().copied().filter(|s| !left.contains(s)).collect()
    };
    wait_until("central has what the broker acknowledged", LONG, || {
        let got: BTreeSet<u64> = received_seqs(&central).into_iter().collect();
        acked.is_subset(&got)
    });
    // The drain may or may not have finished before the cut; these are certainly unacknowledged when the
    // broker forgets everything.
    confirmed.extend(sales(&store, Some(&link), 50));

    // The broker restarts without any session: neither the device's nor central's survives.
    let subs_before = central.subscriptions();
    broker.restart_forgetting_sessions();
    wait_until("central subscribed again", LONG, || {
        central.subscriptions() > subs_before
    });
    proxy.mend();

    wait_until("every sale at central", LONG, || {
        let got: BTreeSet<u64> = received_seqs(&central).into_iter().collect();
        confirmed.iter().all(|s| got.contains(s))
    });
    let ids: Vec<String> = central.json().iter().map(|e| e["id"].to_string()).collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        confirmed.len(),
        "after de-duplication by id, each sale exactly once"
    );
    wait_until("outbox empty", LONG, || store.status().expect("status").depth == 0);
    link.stop();
}

#[test]
fn the_retained_status_says_online_and_the_last_will_says_offline_when_the_device_vanishes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());
    let broker = Broker::start(true);
    let proxy = Proxy::start(broker.port);
    let status_topic = format!("omnigate/v1/stores/{STORE}/devices/{DEVICE}/status");
    let link = Link::start(store.clone(), &mqtt_config(proxy.port), STORE, DEVICE);
    link.status
        .send(
            json!({ "v": 1, "state": "online", "device": DEVICE })
                .to_string()
                .into_bytes(),
        )
        .expect("status");
    wait_until("device connected", LONG, || link.connected());

    // A watcher that arrives later still sees it: the status is retained.
    let watcher = Central::start(broker.port, "fleet-watch-1", &status_topic);
    wait_until("online status", LONG, || {
        watcher.json().iter().any(|s| s["state"] == "online")
    });

    // The device drops off the network without a goodbye (the proxy closes its TCP connection, which the
    // broker sees at once; a silent network would take 1.5 keep-alives): the broker publishes its will.
    proxy.cut();
    wait_until("offline status from the last will", LONG, || {
        watcher.json().last().is_some_and(|s| s["state"] == "offline")
    });
    let last = watcher.json().pop().expect("a status");
    assert_eq!(last["device"], DEVICE);
    proxy.mend();
    wait_until("online again", LONG, || {
        watcher.json().last().is_some_and(|s| s["state"] == "online")
    });

    // A clean shutdown says offline too (a clean DISCONNECT suppresses the will).
    link.stop();
    wait_until("offline status after shutdown", LONG, || {
        watcher.json().last().is_some_and(|s| s["state"] == "offline")
    });
}

#[test]
fn unusable_tls_files_stop_the_start_naming_the_file_and_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("ca.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let cases = [
        (dir.path().join("missing.pem"), None, "mqtt.tls.ca_file", "cannot read"),
        (empty.clone(), None, "mqtt.tls.ca_file", "no certificate"),
    ];
    for (ca, key, setting, reason) in cases {
        let mut cfg = mqtt_config(8883);
        cfg.tls = Some(MqttTlsConfig {
            ca_file: ca.clone(),
            client_cert_file: key.clone(),
            client_key_file: key,
        });
        let err = LinkSettings::from_config(&cfg, STORE, DEVICE, Vec::new()).expect_err("must fail");
        let msg = err.to_string();
        assert!(
            msg.contains(setting) && msg.contains(reason) && msg.contains(&ca.display().to_string()),
            "{msg}"
        );
    }
}
