//! `omnigate doctor` through the real binary: a working broker passes (exit 0), a port with nothing listening
//! fails the TCP check with advice (exit 1), a wrong password fails the MQTT check as an authentication failure
//! with its return code.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use std::time::Duration;

use support::{wait_until, Broker, Central};

const LONG: Duration = Duration::from_secs(30);

const STORE: &str = "IT-DOC-1";
const DEVICE: &str = "kiosk-01";

/// A device configuration in `dir` with `mqtt` as its `[mqtt]` body.
fn config(dir: &Path, mqtt: &str) -> std::path::PathBuf {
    let cfg = dir.join("omnigate.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[device]
store_id = "{STORE}"
device_id = "{DEVICE}"
language = "en"
state_dir = "state"
[catalog]
cache_capacity_mb = 8
[scanner]
kind = "stdin"
[display]
kind = "simulator"
[display.simulator]
output_dir = "frames"
[mqtt]
{mqtt}
"#
        ),
    )
    .expect("config");
    cfg
}

fn doctor(cfg: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omnigate"))
        .args(["doctor", "--config"])
        .arg(cfg)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run omnigate doctor")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn line<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no {check} line in:\n{out}"))
}

#[test]
fn a_working_broker_passes_every_check_and_the_running_daemon_is_not_disturbed() {
    // Everything logged, so the broker's own words tell whether a connection was taken over.
    let broker = Broker::start_with(false, "allow_anonymous true\nlog_type all\n");
    // The daemon's connection: client id = device id, persistent session.
    let daemon = Central::start(
        broker.port,
        DEVICE,
        &format!("omnigate/v1/stores/{STORE}/devices/{DEVICE}/commands"),
    );
    wait_until("the daemon stand-in subscribed", LONG, || daemon.subscriptions() > 0);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &format!("host = \"127.0.0.1\"\nport = {}", broker.port));
    let out = doctor(&cfg);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for check in ["config", "dns", "tcp", "mqtt"] {
        assert!(line(&text, check).starts_with("OK"), "{check}: {text}");
    }
    let acl: Vec<&str> = text.lines().filter(|l| l.starts_with("OK   acl")).collect();
    assert_eq!(acl.len(), 2, "commands and catalog delta: {text}");
    assert!(
        text.contains(&format!("\"{DEVICE}-doctor\"")),
        "says which client id it uses: {text}"
    );
    assert!(!text.contains("FAIL"), "{text}");
    let log_path = broker.dir.path().join("mosquitto.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    wait_until("the doctor's connection in the broker log", LONG, || {
        log().contains(&format!("{DEVICE}-doctor"))
    });
    assert!(
        !log().contains("already connected"),
        "the daemon was kicked off:\n{}",
        log()
    );
    assert_eq!(daemon.subscriptions(), 1, "the daemon never had to reconnect");
    // It opened nothing of the device's state.
    assert!(
        !dir.path().join("state").exists(),
        "the doctor must not create or open the state directory"
    );
}

#[test]
fn nothing_listening_fails_the_tcp_check_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        dir.path(),
        &format!("host = \"127.0.0.1\"\nport = {}", support::free_port()),
    );
    let out = doctor(&cfg);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let tcp = line(&text, "tcp");
    assert!(tcp.starts_with("FAIL") && tcp.contains("refused"), "{text}");
    assert!(text.contains("what to do: check that the broker runs"), "{text}");
    assert!(
        !text.lines().any(|l| l.split_whitespace().nth(1) == Some("mqtt")),
        "stops at the first failure: {text}"
    );
}

#[test]
fn a_wrong_password_is_reported_as_an_authentication_failure() {
    let files = tempfile::tempdir().expect("tempdir");
    let passwd = files.path().join("passwd");
    std::fs::write(&passwd, "").expect("password file");
    let status = Command::new("mosquitto_passwd")
        .arg("-b")
        .arg(&passwd)
        .arg(DEVICE)
        .arg("the-right-one")
        .status()
        .expect("run mosquitto_passwd (package mosquitto)");
    assert!(status.success());
    let broker = Broker::start_with(
        false,
        &format!("allow_anonymous false\npassword_file {}\n", passwd.display()),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("password"), "a-wrong-one\n").expect("password");
    let cfg = config(
        dir.path(),
        &format!(
            "host = \"127.0.0.1\"\nport = {}\nusername = \"{DEVICE}\"\npassword_file = \"password\"",
            broker.port
        ),
    );
    let out = doctor(&cfg);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let mqtt = line(&text, "mqtt");
    assert!(
        mqtt.starts_with("FAIL") && mqtt.contains("authentication failed") && mqtt.contains("return code"),
        "{text}"
    );
    assert!(text.contains("mqtt.password_file"), "{text}");

    // The right password passes.
    std::fs::write(dir.path().join("password"), "the-right-one\n").expect("password");
    let out = doctor(&cfg);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
