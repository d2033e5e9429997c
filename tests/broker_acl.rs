//! The example broker ACL (firmware-config/mosquitto/acl) and password file, enforced by a real Mosquitto: a
//! device speaks only for itself in its own store, cannot push catalog updates to other kiosks, cannot read
//! another device's commands (not even by taking its client id); central can publish what devices receive;
//! accounts made by make-device-account.sh get exactly a device's rights; no account, no connection.
//!
//! Mosquitto drops a denied publish silently (an MQTT 3.1.1 publisher still gets its PUBACK) and does not
//! deliver what a subscriber may not read, so "never arrived" is proven with a marker: an allowed message sent
//! after the denied one, on a topic the same receiver gets. Messages of one publisher reach one subscriber in
//! order, so once the marker is in, the denied message would have been too.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{ConnectReturnCode, ConnectionError, Event, Packet, QoS};
use support::{wait_until, Broker, Received};

const LONG: Duration = Duration::from_secs(30);
const STORE: &str = "IT-MI-0042";
const OTHER_STORE: &str = "IT-RM-0007";

fn device_topic(store: &str, device: &str, leaf: &str) -> String {
    format!("omnigate/v1/stores/{store}/devices/{device}/{leaf}")
}

fn catalog_topic(store: &str, leaf: &str) -> String {
    format!("omnigate/v1/stores/{store}/catalog/{leaf}")
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Mosquitto with the example ACL (a copy) and a password file made with `mosquitto_passwd -b`; plain TCP.
struct AclBroker {
    broker: Broker,
    _files: tempfile::TempDir,
    /// Password of kiosk-03, an account made by make-device-account.sh in store IT-MI-0042.
    kiosk_03_password: String,
}

impl AclBroker {
    fn start() -> AclBroker {
        let files = tempfile::tempdir().expect("temp dir");
        let acl = files.path().join("acl");
        let passwd = files.path().join("passwd");
        std::fs::copy(repo_file("firmware-config/mosquitto/acl"), &acl).expect("copy the example ACL");
        std::fs::write(&passwd, "").expect("create password file");
        for user in ["central", "kiosk-01", "kiosk-02", "kiosk-09"] {
            let status = Command::new("mosquitto_passwd")
                .arg("-b")
                .arg(&passwd)
                .arg(user)
                .arg(password(user))
                .status()
                .expect("run mosquitto_passwd (package mosquitto; .ci/run installs it)");
            assert!(status.success(), "mosquitto_passwd -b for {user}: {status}");
        }
        let made = Command::new(repo_file("firmware-config/mosquitto/make-device-account.sh"))
            .args([STORE, "kiosk-03"])
            .arg(&passwd)
            .arg(&acl)
            .stderr(Stdio::inherit())
            .output()
            .expect("run make-device-account.sh");
        assert!(made.status.success(), "make-device-account.sh: {}", made.status);
        let kiosk_03_password = String::from_utf8(made.stdout).expect("utf-8").trim().to_owned();
        assert!(
            kiosk_03_password.len() >= 24,
            "a long random password: {kiosk_03_password:?}"
        );
        // support::Broker runs Mosquitto as the test's own user, so it can read these files in our temp dir.
        let conf = format!(
            "allow_anonymous false\npassword_file {}\nacl_file {}\n",
            passwd.display(),
            acl.display()
        );
        AclBroker {
            broker: Broker::start_with(false, &conf),
            _files: files,
            kiosk_03_password,
        }
    }

    fn connect(&self, client_id: &str, user: &str) -> Client {
        Client::connect(self.broker.port, client_id, Some((user, &password(user))), true)
    }
}

fn password(user: &str) -> String {
    format!("pw-{user}-not-a-real-one")
}

/// How a connection attempt ended.
#[derive(Debug, Clone, PartialEq)]
enum Connack {
    Accepted,
    Refused(ConnectReturnCode),
}

/// A test client with its own thread: records the CONNACK, SUBACKs and every message received.
struct Client {
    client: rumqttc::Client,
    received: Received,
    connack: Arc<Mutex<Option<Connack>>>,
    subacks: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
}

impl Client {
    fn connect(port: u16, id: &str, credentials: Option<(&str, &str)>, clean: bool) -> Client {
        let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        opts.set_clean_session(clean).set_keep_alive(Duration::from_secs(5));
        if let Some((user, pass)) = credentials {
            opts.set_credentials(user, pass);
        }
        let (client, mut connection) = rumqttc::Client::new(opts, 64);
        let received: Received = Arc::default();
        let connack: Arc<Mutex<Option<Connack>>> = Arc::default();
        let subacks = Arc::new(AtomicU64::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let (r, c, s, done) = (received.clone(), connack.clone(), subacks.clone(), closed.clone());
        std::thread::spawn(move || {
            let _closed = SetOnDrop(done);
            for ev in connection.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => *c.lock().expect("connack") = Some(Connack::Accepted),
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        s.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        r.lock().expect("received").push((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(ConnectionError::ConnectionRefused(code)) => {
                        *c.lock().expect("connack") = Some(Connack::Refused(code));
                        return;
                    }
                    // Dropped by the test (client gone) or the broker: a test client does not reconnect.
                    Err(_) => return,
                }
            }
        });
        let this = Client {
            client,
            received,
            connack,
            subacks,
            closed,
        };
        wait_until(&format!("{id}: CONNACK"), LONG, || this.connack().is_some());
        this
    }

    /// Disconnects cleanly and waits until the connection is closed.
    fn disconnect(self) {
        self.client.disconnect().expect("disconnect queued");
        wait_until("connection closed", LONG, || self.closed.load(Ordering::Relaxed));
    }

    fn connack(&self) -> Option<Connack> {
        self.connack.lock().expect("connack").clone()
    }

    /// Subscribes (QoS 1) and waits for the SUBACK.
    fn subscribe(&self, filters: &[String]) {
        let before = self.subacks.load(Ordering::Relaxed);
        for f in filters {
            self.client.subscribe(f.clone(), QoS::AtLeastOnce).expect("subscribe");
        }
        wait_until("SUBACKs", LONG, || {
            self.subacks.load(Ordering::Relaxed) >= before + filters.len() as u64
        });
    }

    fn publish(&self, topic: &str, retain: bool, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .expect("publish queued");
    }

    fn got(&self, topic: &str, payload: &str) -> bool {
        self.received
            .lock()
            .expect("received")
            .iter()
            .any(|(t, p)| t == topic && p == payload.as_bytes())
    }

    fn wait_for(&self, what: &str, topic: &str, payload: &str) {
        wait_until(what, LONG, || self.got(topic, payload));
    }

    fn received(&self) -> Vec<(String, String)> {
        self.received
            .lock()
            .expect("received")
            .iter()
            .map(|(t, p)| (t.clone(), String::from_utf8_lossy(p).into_owned()))
            .collect()
    }
}

/// Sets the flag when the client's thread ends, however it ends.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.client.try_disconnect();
    }
}

#[test]
fn a_device_can_publish_its_own_events_and_status_and_nothing_in_another_devices_or_stores_name() {
    let b = AclBroker::start();
    let central = b.connect("central-1", "central");
    central.subscribe(&[
        "omnigate/v1/stores/+/devices/+/events".to_string(),
        "omnigate/v1/stores/+/devices/+/status".to_string(),
    ]);
    let kiosk = b.connect("kiosk-01", "kiosk-01");

    // Forgeries first: another device's events and status, and its own id under another store's tree.
    let forged = [
        (device_topic(STORE, "kiosk-02", "events"), false),
        (device_topic(STORE, "kiosk-02", "status"), true),
        (device_topic(OTHER_STORE, "kiosk-01", "events"), false),
    ];
    for (topic, retain) in &forged {
        kiosk.publish(topic, *retain, r#"{"forged":true}"#);
    }
    let own_status = device_topic(STORE, "kiosk-01", "status");
    let own_events = device_topic(STORE, "kiosk-01", "events");
    kiosk.publish(&own_status, true, r#"{"v":1,"state":"online"}"#);
    kiosk.publish(&own_events, false, r#"{"seq":1,"id":"kiosk-01-1"}"#);

    central.wait_for("kiosk-01's own event", &own_events, r#"{"seq":1,"id":"kiosk-01-1"}"#);
    assert!(central.got(&own_status, r#"{"v":1,"state":"online"}"#), "own status");
    for (topic, _) in &forged {
        assert!(
            !central.got(topic, r#"{"forged":true}"#),
            "{topic} was denied: {:?}",
            central.received()
        );
    }
}

#[test]
fn only_central_can_publish_catalog_updates_and_a_device_reads_only_its_own_stores_catalog() {
    let b = AclBroker::start();
    let catalog_filters = |store: &str| {
        vec![
            catalog_topic(store, "delta"),
            catalog_topic(store, "snapshot"),
            catalog_topic(store, "snapshot/chunk/+"),
        ]
    };
    // Another kiosk of the same store listens, as the link does.
    let reader = b.connect("kiosk-02", "kiosk-02");
    reader.subscribe(&catalog_filters(STORE));
    // A kiosk of another store tries to listen to this store's catalog.
    let stranger = b.connect("kiosk-09", "kiosk-09");
    stranger.subscribe(&catalog_filters(STORE));
    stranger.subscribe(&[catalog_topic(OTHER_STORE, "delta")]);

    let rogue = b.connect("kiosk-01", "kiosk-01");
    let rogue_updates = [
        (catalog_topic(STORE, "delta"), false),
        (catalog_topic(STORE, "snapshot"), true),
        (catalog_topic(STORE, "snapshot/chunk/0"), true),
    ];
    for (topic, retain) in &rogue_updates {
        rogue.publish(topic, *retain, "every price 0.01");
    }
    // The broker handles one connection's packets in order: once central sees the status the rogue kiosk
    // published after its catalog updates, the broker has dealt with those too.
    let own_status = device_topic(STORE, "kiosk-01", "status");
    let central = b.connect("central-1", "central");
    central.subscribe(std::slice::from_ref(&own_status));
    rogue.publish(&own_status, true, "processed");
    central.wait_for("the rogue kiosk's publishes processed", &own_status, "processed");

    let delta = catalog_topic(STORE, "delta");
    central.publish(&delta, false, r#"{"store":"IT-MI-0042","from_version":0,"version":1}"#);
    central.publish(&catalog_topic(OTHER_STORE, "delta"), false, "rome-1");
    reader.wait_for(
        "central's delta",
        &delta,
        r#"{"store":"IT-MI-0042","from_version":0,"version":1}"#,
    );
    for (topic, _) in &rogue_updates {
        assert!(
            !reader.got(topic, "every price 0.01"),
            "{topic}: {:?}",
            reader.received()
        );
    }

    // The stranger gets its own store's delta, never this store's.
    stranger.wait_for("its own store's delta", &catalog_topic(OTHER_STORE, "delta"), "rome-1");
    assert!(
        stranger.received().iter().all(|(t, _)| !t.contains(STORE)),
        "{:?}",
        stranger.received()
    );

    // Nothing rogue was retained either: central's retained snapshot is all a newcomer finds.
    let snapshot = catalog_topic(STORE, "snapshot");
    central.publish(&snapshot, true, "manifest v1");
    let newcomer = b.connect("kiosk-02-again", "kiosk-02");
    newcomer.subscribe(&catalog_filters(STORE));
    newcomer.wait_for("the retained snapshot", &snapshot, "manifest v1");
    assert_eq!(
        newcomer.received(),
        vec![(snapshot, "manifest v1".to_string())],
        "no rogue chunk retained"
    );
}

#[test]
fn a_device_cannot_read_another_devices_commands_not_even_under_its_client_id() {
    let b = AclBroker::start();
    let mine = device_topic(STORE, "kiosk-01", "commands");
    let theirs = device_topic(STORE, "kiosk-02", "commands");
    let owner = b.connect("kiosk-02", "kiosk-02");
    owner.subscribe(std::slice::from_ref(&theirs));
    let snoop = b.connect("kiosk-01", "kiosk-01");
    // Mosquitto 2.0 grants the subscription; what it never does is deliver what the ACL does not let it read.
    snoop.subscribe(&[theirs.clone(), mine.clone()]);
    let central = b.connect("central-1", "central");
    central.publish(&theirs, false, "unlock kiosk-02");
    central.publish(&mine, false, "marker");
    snoop.wait_for("its own command", &mine, "marker");
    owner.wait_for("kiosk-02 gets its command", &theirs, "unlock kiosk-02");
    assert_eq!(snoop.received(), vec![(mine.clone(), "marker".to_string())]);
    snoop.disconnect();

    // kiosk-02 goes offline with a persistent session and a command waiting for it; kiosk-01's account
    // connects with kiosk-02's client id (session takeover) and still reads nothing of it.
    owner.disconnect();
    let persistent = Client::connect(
        b.broker.port,
        "kiosk-02-persistent",
        Some(("kiosk-02", &password("kiosk-02"))),
        false,
    );
    persistent.subscribe(std::slice::from_ref(&theirs));
    persistent.disconnect();
    central.publish(&theirs, false, "lock kiosk-02");
    let impostor = Client::connect(
        b.broker.port,
        "kiosk-02-persistent",
        Some(("kiosk-01", &password("kiosk-01"))),
        false,
    );
    impostor.subscribe(std::slice::from_ref(&mine));
    central.publish(&mine, false, "marker 2");
    impostor.wait_for("its own command", &mine, "marker 2");
    assert!(!impostor.got(&theirs, "lock kiosk-02"), "{:?}", impostor.received());
}

#[test]
fn an_account_made_by_make_device_account_speaks_only_for_its_device() {
    let b = AclBroker::start();
    let central = b.connect("central-1", "central");
    central.subscribe(&["omnigate/v1/stores/+/devices/+/events".to_string()]);
    let kiosk = Client::connect(
        b.broker.port,
        "kiosk-03",
        Some(("kiosk-03", &b.kiosk_03_password)),
        true,
    );
    assert_eq!(kiosk.connack(), Some(Connack::Accepted));
    let forged = device_topic(STORE, "kiosk-01", "events");
    let own = device_topic(STORE, "kiosk-03", "events");
    kiosk.publish(&forged, false, "forged");
    kiosk.publish(&own, false, "mine");
    central.wait_for("kiosk-03's event", &own, "mine");
    assert!(!central.got(&forged, "forged"), "{:?}", central.received());
}

#[test]
fn a_wrong_password_or_no_account_is_refused_at_connect() {
    let b = AclBroker::start();
    let cases: [(&str, Option<(&str, &str)>); 3] = [
        ("wrong password", Some(("kiosk-01", "guess"))),
        ("unknown user", Some(("kiosk-77", "pw-kiosk-77-not-a-real-one"))),
        ("anonymous", None),
    ];
    for (what, credentials) in cases {
        let c = Client::connect(b.broker.port, "kiosk-01", credentials, true);
        assert!(
            matches!(
                c.connack(),
                Some(Connack::Refused(
                    ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword
                ))
            ),
            "{what}: {:?}",
            c.connack()
        );
    }
    let ok = b.connect("kiosk-01", "kiosk-01");
    assert_eq!(ok.connack(), Some(Connack::Accepted), "the right password connects");
}
