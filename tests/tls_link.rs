//! omnigate's own link to central over mutual TLS, against a Mosquitto that requires client certificates (the
//! production set-up of firmware-config/mosquitto/mosquitto.conf): with the fleet CA and the device's
//! certificate events reach central; a broker signed by another CA, a device without a certificate or with
//! one from another CA never get a session; a client key that does not fit its certificate stops the start.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use omnigate::config::{MqttConfig, MqttTlsConfig};
use omnigate::mqtt::LinkSettings;
use omnigate::outbox::EventClass;
use omnigate::storage::outbox_store::OutboxStore;
use serde_json::json;
use support::certs::{self, Pki};
use support::link::Link;
use support::{free_port, wait_until, Broker, Central};

const STORE: &str = "IT-TEST-0001";
const DEVICE: &str = "till-07";
const EVENTS: &str = "omnigate/v1/stores/+/devices/+/events";
const LONG: Duration = Duration::from_secs(30);

/// A broker with a plain listener (for the test's "central") and a TLS listener that requires a client
/// certificate signed by the fleet CA and takes the certificate's CN as the user name.
struct TlsBroker {
    broker: Broker,
    tls_port: u16,
}

impl TlsBroker {
    fn start(pki: &Pki) -> TlsBroker {
        let tls_port = free_port();
        let conf = format!(
            "allow_anonymous true\nlog_type information\n\
             listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n\
             tls_version tlsv1.2\nrequire_certificate true\nuse_identity_as_username true\n",
            ca = pki.ca.display(),
            cert = pki.server_cert.display(),
            key = pki.server_key.display(),
        );
        let broker = Broker::start_with(false, &conf);
        wait_until("TLS listener up", LONG, || {
            std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
        });
        TlsBroker { broker, tls_port }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.broker.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Waits until the log has `needle` at least `times` times; a timeout shows the log.
    fn wait_for_log(&self, what: &str, needle: &str, times: usize) {
        let deadline = std::time::Instant::now() + LONG;
        while self.log().matches(needle).count() < times {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what} ({times} × {needle:?}); broker log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A client certificate file and its key file.
type ClientCert<'a> = (&'a Path, &'a Path);

fn tls_config(port: u16, ca: &Path, client: Option<ClientCert>) -> MqttConfig {
    let text = format!("host = \"127.0.0.1\"\nport = {port}\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\n");
    let mut cfg: MqttConfig = toml::from_str(&text).expect("mqtt config");
    cfg.tls = Some(MqttTlsConfig {
        ca_file: ca.to_owned(),
        client_cert_file: client.map(|(c, _)| c.to_owned()),
        client_key_file: client.map(|(_, k)| k.to_owned()),
    });
    cfg
}

fn open_store(dir: &Path) -> Arc<OutboxStore> {
    Arc::new(OutboxStore::open(dir, 1 << 20, DEVICE).expect("outbox opens"))
}

fn sales(store: &OutboxStore, link: &Link, n: u64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let e = store
                .append("sale", EventClass::Money, json!({ "total_cents": 100 + i }))
                .expect("sale recorded");
            link.appended.notify_one();
            e.seq
        })
        .collect()
}

fn received_seqs(central: &Central) -> Vec<u64> {
    central.json().iter().filter_map(|e| e["seq"].as_u64()).collect()
}

#[test]
fn with_the_fleet_ca_and_the_device_certificate_events_reach_central_over_mutual_tls() {
    let pki = certs::generate(DEVICE);
    let broker = TlsBroker::start(&pki);
    let central = Central::start(broker.broker.port, "central-test", EVENTS);
    wait_until("central subscribed", LONG, || central.subscriptions() > 0);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());

    let cfg = tls_config(broker.tls_port, &pki.ca, Some((&pki.client_cert, &pki.client_key)));
    let link = Link::start(store.clone(), &cfg, STORE, DEVICE);
    let confirmed = sales(&store, &link, 50);
    wait_until("50 sales at central", LONG, || received_seqs(&central).len() >= 50);
    assert_eq!(received_seqs(&central), confirmed, "every sale once, in sequence order");
    wait_until("acknowledged events deleted", LONG, || {
        store.status().expect("status").depth == 0
    });
    let state = link.state();
    assert!(state.connected && state.last_error.is_none(), "{state:?}");
    // use_identity_as_username: the broker knows the device by its certificate's CN, which the ACL keys on.
    broker.wait_for_log("the device known by its certificate's name", &format!("u'{DEVICE}'"), 1);
    link.stop();
}

#[test]
fn a_broker_certificate_from_another_ca_is_refused_and_the_link_says_it_is_the_certificate() {
    let pki = certs::generate(DEVICE);
    let broker = TlsBroker::start(&pki);
    let central = Central::start(broker.broker.port, "central-test", EVENTS);
    wait_until("central subscribed", LONG, || central.subscriptions() > 0);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(dir.path());

    // The device trusts only the rogue CA: the real broker looks like an impostor to it.
    let cfg = tls_config(
        broker.tls_port,
        &pki.rogue_ca,
        Some((&pki.client_cert, &pki.client_key)),
    );
    let link = Link::start(store.clone(), &cfg, STORE, DEVICE);
    sales(&store, &link, 3);
    wait_until("a connection error mentioning the certificate", LONG, || {
        link.state()
            .last_error
            .is_some_and(|e| e.to_lowercase().contains("certificate"))
    });
    // Let it retry a few times (backoff 20–200 ms): every attempt must fail the same way. (The first failed
    // handshake in the log is the test's own probe of the TLS port.)
    broker.wait_for_log("several failed attempts", "Client connection from 127.0.0.1 failed", 4);
    let state = link.state();
    assert_eq!((state.connected, state.connections), (false, 0), "{state:?}");
    let error = state.last_error.expect("error");
    assert!(
        error.contains("UnknownIssuer"),
        "the reason is an unknown issuer: {error}"
    );
    assert_eq!(store.status().expect("status").depth, 3, "the events stay on disk");
    assert_eq!(central.count(), 0, "nothing reached central");
    link.stop();
}

#[test]
fn a_device_without_a_fleet_client_certificate_never_gets_a_session() {
    let pki = certs::generate(DEVICE);
    let broker = TlsBroker::start(&pki);
    let central = Central::start(broker.broker.port, "central-test", EVENTS);
    wait_until("central subscribed", LONG, || central.subscriptions() > 0);
    // (what, client certificate and key, what the broker logs, the TLS alert the link reports)
    let cases: [(&str, Option<ClientCert>, &str, &str); 2] = [
        (
            "no client certificate",
            None,
            "peer did not return a certificate",
            "CertificateRequired",
        ),
        (
            "a client certificate from another CA",
            Some((&pki.rogue_client_cert, &pki.rogue_client_key)),
            "certificate verify failed",
            "UnknownCA",
        ),
    ];
    for (what, client, broker_says, alert) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(dir.path());
        let before = broker.log().matches(broker_says).count();
        let link = Link::start(
            store.clone(),
            &tls_config(broker.tls_port, &pki.ca, client),
            STORE,
            DEVICE,
        );
        sales(&store, &link, 3);
        broker.wait_for_log(
            &format!("{what}: the broker refused the handshake"),
            broker_says,
            before + 2,
        );
        wait_until(&format!("{what}: the link reports the broker's alert"), LONG, || {
            link.state().last_error.is_some_and(|e| e.contains(alert))
        });
        let state = link.state();
        assert_eq!((state.connected, state.connections), (false, 0), "{what}: {state:?}");
        assert_eq!(store.status().expect("status").depth, 3, "{what}: events stay on disk");
        link.stop();
    }
    assert_eq!(central.count(), 0, "nothing reached central");
}

#[test]
fn a_client_key_that_does_not_fit_its_certificate_or_is_missing_stops_the_start_naming_the_file() {
    let pki = certs::generate(DEVICE);
    let missing = pki.dir.path().join("missing.key");
    let not_a_key = pki.client_cert.clone();
    // (what, certificate, key, the file the message must name, what it must say)
    let cases: [(&str, &Path, &Path, &Path, &str); 4] = [
        (
            "the key of another certificate",
            &pki.client_cert,
            &pki.rogue_client_key,
            &pki.rogue_client_key,
            "KeyMismatch",
        ),
        (
            "a missing key file",
            &pki.client_cert,
            &missing,
            &missing,
            "cannot read",
        ),
        (
            "a certificate where the key should be",
            &pki.client_cert,
            &not_a_key,
            &not_a_key,
            "no private key",
        ),
        (
            "a missing certificate file",
            &missing,
            &pki.client_key,
            &missing,
            "cannot read",
        ),
    ];
    for (what, cert, key, named, says) in cases {
        let cfg = tls_config(8883, &pki.ca, Some((cert, key)));
        let err = LinkSettings::from_config(&cfg, STORE, DEVICE, Vec::new()).expect_err(what);
        let msg = err.to_string();
        assert!(
            msg.contains(&named.display().to_string()) && msg.contains(says),
            "{what}: {msg}"
        );
    }
}
