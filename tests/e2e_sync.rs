//! The daemon and central through a real Mosquitto: a kiosk that lost its link keeps working, its queue is
//! visible to support staff while it runs, and everything reaches central in order once the link is back,
//! with the fleet status following along.

mod support;

use std::time::Duration;

use support::daemon::Daemon;
use support::{wait_until, Broker, Central, Proxy};

const LONG: Duration = Duration::from_secs(30);

fn mqtt_section(port: u16) -> String {
    format!("[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\nstatus_interval_s = 1\n")
}

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_offline_kiosk_queues_visibly_and_delivers_in_order_when_the_link_returns() {
    let broker = Broker::start(true);
    let proxy = Proxy::start(broker.port);
    proxy.cut();
    let events = Central::start(broker.port, "central-events", "omnigate/v1/stores/+/devices/+/events");
    let status = Central::start(
        broker.port,
        "central-status",
        "omnigate/v1/stores/IT-TEST-1/devices/kiosk-9/status",
    );
    wait_until("central subscribed", LONG, || {
        events.subscriptions() > 0 && status.subscriptions() > 0
    });

    let mut kiosk = Daemon::start("kiosk-9", &mqtt_section(proxy.port));
    let codes = ["8001234567897", "8009876543217", "4006381333931", "8002222222224"];
    for code in codes {
        kiosk.scan(code);
    }
    // device.started + one lookup per scan, all queued while offline; support sees them through the daemon.
    wait_until("five events queued", LONG, || {
        let doc: serde_json::Value =
            serde_json::from_str(&stdout(&kiosk.omnigate(&["queue", "status", "--json"]))).expect("status JSON");
        doc["outbox"]["depth"] == 5
    });
    let human = stdout(&kiosk.omnigate(&["queue", "status"]));
    assert!(human.contains("events waiting for central: 5"), "{human}");
    assert!(human.contains("daemon: running"), "{human}");
    let export = stdout(&kiosk.omnigate(&["queue", "export"]));
    let exported: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let kinds: Vec<&str> = exported.iter().map(|e| e["kind"].as_str().unwrap_or("")).collect();
    assert_eq!(
        kinds,
        [
            "device.started",
            "kiosk.lookup",
            "kiosk.lookup",
            "kiosk.lookup",
            "kiosk.lookup"
        ]
    );
    assert_eq!(
        exported[3]["payload"],
        serde_json::json!({ "result": "not_found", "code": "4006381333931" })
    );
    let list = stdout(&kiosk.omnigate(&["queue", "list", "--limit", "2"]));
    assert_eq!(list.lines().count(), 3, "header + 2 events:\n{list}");
    assert!(list.contains("kiosk-9-1") && list.contains("device.started"), "{list}");

    proxy.mend();
    wait_until("all five at central", LONG, || events.count() >= 5);
    let seqs: Vec<u64> = events.json().iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "in sequence order, once each");
    wait_until("queue drained", LONG, || {
        stdout(&kiosk.omnigate(&["queue", "status"])).contains("events waiting for central: 0")
    });
    wait_until("status online with the catalog and an empty queue", LONG, || {
        status.json().iter().any(|s| {
            s["state"] == "online"
                && s["catalog"]["products"] == 3
                && s["outbox"]["depth"] == 0
                && s["health"]["scanner"] == "ok"
        })
    });

    kiosk.terminate();
    wait_until("offline status after a clean stop", LONG, || {
        status.json().last().is_some_and(|s| s["state"] == "offline")
    });
    // Stopped: the queue is read from disk directly.
    let after = stdout(&kiosk.omnigate(&["queue", "status"]));
    assert!(
        after.contains("daemon: not running") && after.contains("events waiting for central: 0"),
        "{after}"
    );
}
