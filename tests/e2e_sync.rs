//! The daemon and central through a real Mosquitto: a kiosk that lost its link keeps working, its queue is
//! visible to support staff while it runs, and everything reaches central in order once the link is back,
//! with the fleet status following along.

mod support;

use std::time::Duration;

use omnigate::catalog::update::SigningKey;
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

/// A broker, central's event subscriber, and a kiosk trusting the key made from `seed`, connected to them.
fn with_central(seed: u8, device: &str) -> (SigningKey, Broker, Central, Daemon) {
    let key = SigningKey::from_seed(&[seed; 32]);
    let broker = Broker::start(true);
    let events = Central::start(broker.port, "central-events", "omnigate/v1/stores/+/devices/+/events");
    wait_until("central subscribed", LONG, || events.subscriptions() > 0);
    let extra = format!(
        "{}\n[central]\npublic_key = \"{}\"\n",
        mqtt_section(broker.port),
        key.public_base64()
    );
    let kiosk = Daemon::start(device, &extra);
    (key, broker, events, kiosk)
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

mod central_updates {
    use super::*;
    use omnigate::catalog::update::{seal, UpdateType};
    use omnigate::ui::{Frame, ProductView, Screen};
    use support::daemon::{publish, CATALOG};

    const STORE: &str = "IT-TEST-1";
    const DEVICE: &str = "kiosk-c";

    fn pasta_at(price_cents: i64) -> Frame {
        Frame {
            screen: Screen::Product(ProductView {
                name: "Spaghetti n.5".into(),
                brand: "Barilla".into(),
                price_cents,
                per_kg: false,
                weight_g: None,
                regular_price_cents: None,
                promotion: None,
                stock: Some(24),
                min_age: None,
            }),
            offline: false,
        }
    }

    /// Central's side: publishes the catalog file with the pasta at `price` (a snapshot first, deltas after).
    fn central_publishes(port: u16, state: &std::path::Path, key: &SigningKey, price: i64) {
        let file = state.join("catalog.jsonl");
        std::fs::write(
            &file,
            CATALOG.replace("\"price_cents\":129", &format!("\"price_cents\":{price}")),
        )
        .expect("file");
        let plan = omnigate::central::plan_publish(STORE, &file, state, key, 64 * 1024, false).expect("plan");
        let messages: Vec<(String, Vec<u8>, bool)> = plan
            .messages
            .iter()
            .map(|m| (m.topic.clone(), m.payload.clone(), m.retain))
            .collect();
        publish(port, &messages);
        plan.commit(state).expect("commit");
    }

    fn catalog_events(events: &Central, kind: &str) -> Vec<serde_json::Value> {
        events
            .json()
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["payload"].clone())
            .collect()
    }

    fn delta_body(from: u64, to: u64, price: i64) -> Vec<u8> {
        let product: serde_json::Value =
            serde_json::from_str(CATALOG.lines().next().expect("pasta line")).expect("json");
        let mut product = product;
        product["price_cents"] = price.into();
        serde_json::json!({ "store": STORE, "from_version": from, "version": to, "upsert": [product], "delete": [] })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_price_published_by_central_reaches_the_screen_and_bad_updates_change_nothing() {
        let (key, broker, events, mut kiosk) = with_central(7, DEVICE);
        let central = tempfile::tempdir().expect("central state");

        // First publish: a snapshot (version 1) the kiosk applies in place of its seed catalog.
        central_publishes(broker.port, central.path(), &key, 129);
        wait_until("snapshot applied", LONG, || {
            catalog_events(&events, "catalog.applied")
                .iter()
                .any(|p| p["version"] == 1 && p["kind"] == "snapshot")
        });
        kiosk.scan("8001234567897");
        kiosk.wait_for_screen(&pasta_at(129), "the pasta at 1.29");

        // A price change: a delta to version 2, on screen without anyone scanning again.
        central_publishes(broker.port, central.path(), &key, 99);
        kiosk.wait_for_screen(&pasta_at(99), "the new price 0.99 on screen");
        // The screen follows the apply at once; the event reaches central a moment later.
        wait_until("delta reported applied", LONG, || {
            catalog_events(&events, "catalog.applied")
                .iter()
                .any(|p| p["version"] == 2 && p["kind"] == "delta")
        });

        let delta_topic = format!("omnigate/v1/stores/{STORE}/catalog/delta");
        let forger = SigningKey::from_seed(&[9; 32]);
        let mut corrupted = seal(UpdateType::CatalogDelta, &delta_body(2, 3, 1), &key);
        let at = corrupted.len() / 2;
        corrupted[at] ^= 0x01;
        let bad = [
            (
                "forged",
                seal(UpdateType::CatalogDelta, &delta_body(2, 3, 1), &forger),
                "unknown_key",
            ),
            ("corrupted", corrupted, ""),
            (
                "rollback",
                seal(UpdateType::CatalogDelta, &delta_body(0, 1, 1), &key),
                "rollback",
            ),
            (
                "out of order",
                seal(UpdateType::CatalogDelta, &delta_body(1, 3, 1), &key),
                "out_of_order",
            ),
        ];
        for (n, (what, payload, reason)) in bad.into_iter().enumerate() {
            publish(broker.port, &[(delta_topic.clone(), payload, false)]);
            wait_until(&format!("the {what} update rejected"), LONG, || {
                catalog_events(&events, "catalog.rejected").len() > n
            });
            let rejected = catalog_events(&events, "catalog.rejected");
            let got = rejected[n]["reason"].as_str().unwrap_or("").to_owned();
            if reason.is_empty() {
                assert!(["bad_signature", "malformed"].contains(&got.as_str()), "{what}: {got}");
            } else {
                assert_eq!(got, reason, "{what}");
            }
            assert!(
                kiosk.shows(&pasta_at(99)),
                "after the {what} update the price on screen is unchanged"
            );
        }
        let status = stdout(&kiosk.omnigate(&["queue", "status", "--json"]));
        let doc: serde_json::Value = serde_json::from_str(&status).expect("status");
        assert_eq!(doc["catalog"]["central_version"], 2);
    }

    #[test]
    fn a_resync_command_applies_central_snapshot_again_even_at_the_same_version() {
        let (key, broker, events, kiosk) = with_central(8, "kiosk-resync");
        let central = tempfile::tempdir().expect("central state");
        central_publishes(broker.port, central.path(), &key, 129);
        let applied_v1 = |events: &Central| {
            catalog_events(events, "catalog.applied")
                .iter()
                .filter(|p| p["version"] == 1)
                .count()
        };
        wait_until("snapshot applied", LONG, || applied_v1(&events) == 1);

        let topic = format!("omnigate/v1/stores/{STORE}/devices/kiosk-resync/commands");
        broker.wait_for_subscription("kiosk-resync", &topic);
        let body = serde_json::json!({ "store": STORE, "device": "kiosk-resync", "command_seq": 1, "command": "resync_catalog", "args": null });
        let resync = seal(UpdateType::Command, body.to_string().as_bytes(), &key);
        publish(broker.port, &[(topic, resync, false)]);
        // The retained snapshot is the version already applied: it is fetched and applied once more.
        wait_until("snapshot applied again", LONG, || applied_v1(&events) == 2);
        drop(kiosk);
    }

    #[test]
    fn central_locks_and_unlocks_the_kiosk_and_a_replayed_command_is_refused() {
        let (key, broker, events, mut kiosk) = with_central(7, DEVICE);
        wait_until("kiosk online", LONG, || {
            kiosk.shows(&Frame {
                screen: Screen::Idle,
                offline: false,
            })
        });
        let topic = format!("omnigate/v1/stores/{STORE}/devices/{DEVICE}/commands");
        broker.wait_for_subscription(DEVICE, &topic);
        let command = |seq: u64, name: &str, args: serde_json::Value| {
            let body = serde_json::json!({ "store": STORE, "device": DEVICE, "command_seq": seq, "command": name, "args": args });
            seal(UpdateType::Command, body.to_string().as_bytes(), &key)
        };
        let results = |events: &Central| catalog_events(events, "command.result");

        let lock = command(1, "lock", serde_json::json!({ "message": "Back at 3 pm" }));
        publish(broker.port, &[(topic.clone(), lock.clone(), false)]);
        let out_of_order = Frame {
            screen: Screen::OutOfOrder {
                message: Some("Back at 3 pm".into()),
            },
            offline: false,
        };
        kiosk.wait_for_screen(&out_of_order, "the out-of-order screen");
        kiosk.scan("8001234567897");
        wait_until("lock reported done", LONG, || {
            results(&events).first().is_some_and(|r| r["outcome"] == "done")
        });

        // Still locked after a restart.
        kiosk.terminate();
        let (dir, cfg) = (kiosk.dir.clone(), kiosk.cfg.clone());
        let kiosk2 = Daemon::spawn_in(&dir, &cfg);
        kiosk2.wait_for_screen(&out_of_order, "out of order after a restart");

        // The same signed lock sent again is a replay.
        publish(broker.port, &[(topic.clone(), lock, false)]);
        wait_until("replay refused", LONG, || results(&events).len() >= 2);
        assert_eq!(results(&events)[1]["reason"], "replayed");

        publish(
            broker.port,
            &[(topic.clone(), command(2, "unlock", serde_json::Value::Null), false)],
        );
        kiosk2.wait_for_screen(
            &Frame {
                screen: Screen::Idle,
                offline: false,
            },
            "back in service",
        );
        drop(kiosk);
    }
}

mod large_snapshot {
    use super::*;
    use support::daemon::publish;

    const STORE: &str = "IT-TEST-1";

    fn catalog_status(kiosk: &Daemon) -> String {
        stdout(&kiosk.omnigate(&["catalog", "status"]))
    }

    #[test]
    fn a_100000_product_snapshot_arrives_in_chunks_and_a_kill_during_the_apply_leaves_a_whole_catalog() {
        let (key, broker, events, mut kiosk) = with_central(3, "kiosk-big");
        let before = catalog_status(&kiosk);
        assert!(
            before.contains("3 products") && before.contains("central version 0"),
            "{before}"
        );

        // Central publishes 100,000 products: chunks of 192 KiB, under the device's 256 KiB packet limit.
        let central = tempfile::tempdir().expect("central state");
        let file = central.path().join("big.jsonl");
        omnigate::bench::write_synthetic_catalog(&file, 100_000).expect("catalog file");
        let plan =
            omnigate::central::plan_publish(STORE, &file, central.path(), &key, 192 * 1024, false).expect("plan");
        let chunks = plan.messages.iter().filter(|m| m.topic.contains("/chunk/")).count();
        assert!(chunks >= 2, "the snapshot is split into chunks ({chunks})");
        let messages: Vec<(String, Vec<u8>, bool)> = plan
            .messages
            .iter()
            .map(|m| (m.topic.clone(), m.payload.clone(), m.retain))
            .collect();
        publish(broker.port, &messages);
        plan.commit(central.path()).expect("commit");

        // Kill the kiosk while it assembles or applies (the seed picks the moment; it is printed).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let kill_after = Duration::from_millis(u64::from(nanos % 1500));
        eprintln!("killing the kiosk {kill_after:?} after the publish");
        std::thread::sleep(kill_after);
        kiosk.kill();
        // Whatever the moment: a whole catalog, the old one or the new one (an apply that was decided is
        // finished by whoever opens the catalog next), never a mix.
        let after_kill = catalog_status(&kiosk);
        assert!(
            (after_kill.contains(" 3 products") && after_kill.contains("central version 0"))
                || (after_kill.contains(" 100000 products") && after_kill.contains("central version 1")),
            "after the kill: {after_kill}"
        );

        // Restarted, the kiosk gets the retained snapshot again if it still needs it, and shows the new catalog.
        let (dir, cfg) = (kiosk.dir.clone(), kiosk.cfg.clone());
        let mut kiosk = Daemon::spawn_in(&dir, &cfg);
        wait_until("100,000 products from central", Duration::from_secs(120), || {
            let doc: serde_json::Value =
                serde_json::from_str(&stdout(&kiosk.omnigate(&["queue", "status", "--json"]))).unwrap_or_default();
            doc["catalog"]["central_version"] == 1 && doc["catalog"]["products"] == 100_000
        });
        let last = omnigate::bench::synthetic_gtin(99_999).display_form().to_string();
        kiosk.scan(&last);
        wait_until("the last product found", LONG, || {
            events
                .json()
                .iter()
                .any(|e| e["kind"] == "kiosk.lookup" && e["payload"]["result"] == "found")
        });
        kiosk.terminate();
        let status = catalog_status(&kiosk);
        assert!(
            status.contains("100000 products") && status.contains("central version 1"),
            "{status}"
        );
    }
}
