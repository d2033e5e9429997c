//! `omnigate doctor`: checks a device's link to central one step at a time, with the device's own `[mqtt]`
//! settings, and prints one line per check (OK / WARN / FAIL / SKIP) with what a store technician can do about
//! it: configuration, clock, DNS, TCP, TLS, MQTT CONNECT, and the ACL for the subscriptions the daemon makes.
//!
//! Safe next to a running daemon, by construction: it never opens the outbox or the catalog (sled allows one
//! process per database), it connects with client id `<device>-doctor` (MQTT allows one connection per client
//! id: using the device's own would kick the daemon off the broker), with a clean session (nothing is left on
//! the broker), and it publishes nothing (see [`PUBLISH_NOT_TESTED`]).
//!
//! The wording of each diagnosis is pure (`*_diagnosis` functions, unit-tested); [`run`] does the I/O.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::mqtt::oneshot::{self, SessionProbe, TlsProblem, ToolOptions};
use crate::mqtt::Topics;

/// Time allowed for each network step.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the publish right is not probed. A probe was considered (a QoS 1 `doctor.probe` event on the device's
/// events topic) and rejected: Mosquitto acknowledges a publish its ACL denies exactly like an allowed one (MQTT
/// 3.1.1 has no way to say no), so the probe could not detect the very problem it would look for; and a probe
/// event would enter central's event stream under an id outside the device's `{device}-{seq}` series, which
/// central stores and de-duplicates by id. Publishing on the status topic would overwrite the fleet view.
pub const PUBLISH_NOT_TESTED: &str = "publish rights not tested: the broker acknowledges a denied publish like an \
     allowed one, and a test message would show up at central; the daemon's log shows whether events are \
     acknowledged (`omnigate queue status`)";

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Works.
    Ok,
    /// Works, but something deserves attention.
    Warn,
    /// Broken: the link cannot work until it is fixed.
    Fail,
    /// Not run (an earlier step failed, or not applicable).
    Skip,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        }
    }
}

/// One line of the diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Verdict.
    pub verdict: Verdict,
    /// Which step (`config`, `clock`, `dns`, `tcp`, `tls`, `mqtt`, `acl`, `publish`).
    pub name: &'static str,
    /// What was found.
    pub detail: String,
    /// What to do, when something is wrong.
    pub hint: Option<String>,
}

impl Check {
    fn new(verdict: Verdict, name: &'static str, detail: impl Into<String>, hint: Option<String>) -> Check {
        Check {
            verdict,
            name,
            detail: detail.into(),
            hint,
        }
    }

    /// The printed form: `FAIL tcp      detail`, then `     what to do: hint` when there is one.
    pub fn render(&self) -> String {
        let mut s = format!("{:<4} {:<8} {}", self.verdict.label(), self.name, self.detail);
        if let Some(h) = &self.hint {
            s.push_str(&format!("\n     what to do: {h}"));
        }
        s
    }
}

/// A doctor failure that is not a diagnosis (stdout gone, no runtime).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// stdout or the async runtime.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The exit status for a list of checks: 0 when none failed (warnings do not fail), 1 otherwise.
pub fn exit_code(checks: &[Check]) -> ExitCode {
    if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The clock check. A Pi has no battery clock: until NTP has set it, TLS judges certificate dates wrongly.
pub fn clock_diagnosis(synced: bool, tls: bool) -> Check {
    match (synced, tls) {
        (true, _) => Check::new(Verdict::Ok, "clock", "synchronised (kernel reports NTP sync)", None),
        (false, true) => Check::new(
            Verdict::Warn,
            "clock",
            "not synchronised: TLS checks the broker's certificate dates against this clock, so a wrong time makes \
             a valid certificate look expired or not yet valid",
            Some(
                "check that the device reaches an NTP server (`timedatectl status`, `chronyc sources`); the \
                 store firewall must allow NTP (UDP 123)"
                    .into(),
            ),
        ),
        (false, false) => Check::new(
            Verdict::Warn,
            "clock",
            "not synchronised: event times and ages are left out until it is (no TLS here, so the link is not \
             affected)",
            Some("check NTP (`timedatectl status`)".into()),
        ),
    }
}

/// The TCP check's failure, by the OS error.
pub fn tcp_diagnosis(addr: &str, e: &std::io::Error) -> Check {
    use std::io::ErrorKind as K;
    let (detail, hint) = match e.kind() {
        K::ConnectionRefused => (
            format!("{addr}: connection refused: the host answers but nothing listens on that port"),
            "check that the broker runs and mqtt.port is right (8883 for TLS, 1883 plain)",
        ),
        K::TimedOut | K::WouldBlock => (
            format!("{addr}: no answer within {} s", STEP_TIMEOUT.as_secs()),
            "a firewall drops the packets or the host is down: check the store firewall allows this port \
             outbound, and that the broker host is up",
        ),
        K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown => (
            format!("{addr}: unreachable ({e})"),
            "the device has no route to the broker: check the network cable or Wi-Fi, the IP address and the \
             gateway (`ip addr`, `ip route`)",
        ),
        _ => (
            format!("{addr}: {e}"),
            "check the network between the device and the broker",
        ),
    };
    Check::new(Verdict::Fail, "tcp", detail, Some(hint.into()))
}

/// The TLS check's failure, with what to do; `clock_synced` decides whether to blame the clock first.
pub fn tls_diagnosis(problem: &TlsProblem, clock_synced: bool, host: &str) -> Check {
    let clock = if clock_synced {
        ""
    } else {
        "this device's clock is NOT synchronised (see the clock check): fix NTP first, that alone may cure it; "
    };
    let hint = match problem {
        TlsProblem::UnknownCa => "mqtt.tls.ca_file must hold the CA that signed the broker's certificate (ask \
                                  central IT for the fleet CA file)"
            .to_owned(),
        TlsProblem::Expired => format!("{clock}otherwise the broker's certificate must be renewed (central IT)"),
        TlsProblem::NotYetValid => {
            format!("{clock}otherwise the broker's certificate was issued with a future start date (central IT)")
        }
        TlsProblem::NameMismatch => format!(
            "mqtt.host ({host}) must be a name the broker's certificate is issued for: use the host name from the \
             installation sheet, not an IP address"
        ),
        TlsProblem::ClientCertRequired => "set mqtt.tls.client_cert_file and mqtt.tls.client_key_file to this \
                                           device's certificate and key"
            .to_owned(),
        TlsProblem::ClientCertRefused(_) => format!(
            "{clock}the device certificate is not from the fleet CA, has expired, or does not match its key: \
             re-enrol the device"
        ),
        TlsProblem::NotTls(_) => "this port speaks plain MQTT: use the TLS port (usually 8883), or remove \
                                  [mqtt.tls] on a development bench"
            .to_owned(),
        TlsProblem::Timeout => "the broker accepted TCP but does not answer TLS: check the port".to_owned(),
        TlsProblem::Other(_) => "check the [mqtt.tls] files and the broker's TLS set-up".to_owned(),
    };
    Check::new(Verdict::Fail, "tls", problem.to_string(), Some(hint))
}

/// The MQTT CONNECT check's failure for a CONNACK refusal. Mosquitto 2 answers a wrong password or an unknown
/// user with code 5 ("not authorised"), not 4: with a user name configured, both mean the credentials.
pub fn connack_diagnosis(code: u8, meaning: &str, user: Option<&str>) -> Check {
    let (detail, hint) = match (code, user) {
        (4 | 5, Some(u)) => (
            format!(
                "authentication failed: the broker refused user {u} (CONNACK return code {code}, {meaning}; brokers \
                 answer a wrong password or an unknown user this way)"
            ),
            format!(
                "check mqtt.username ({u}) and the content of mqtt.password_file (no stray spaces); if both are \
                 right, have the device account re-created (make-device-account.sh) and the broker reloaded"
            ),
        ),
        (4 | 5, None) => (
            format!("authentication failed: the broker wants credentials (CONNACK return code {code}, {meaning})"),
            "set mqtt.username (the device id) and mqtt.password_file, or with mutual TLS the client certificate \
             (its CN must be the device id)"
                .to_owned(),
        ),
        (2, _) => (
            format!("client id refused (CONNACK return code 2, {meaning})"),
            "the broker restricts client ids; ask central IT to allow <device>-doctor".to_owned(),
        ),
        _ => (
            format!("connection refused (CONNACK return code {code}, {meaning})"),
            "the broker is overloaded or starting: try again in a minute".to_owned(),
        ),
    };
    Check::new(Verdict::Fail, "mqtt", detail, Some(hint))
}

/// Runs every check for the configuration `config` and prints them. Exit 0 when none failed.
pub fn run(config: &Path) -> Result<ExitCode, DoctorError> {
    let checks = diagnose(config, &mut |c| println!("{}", c.render()))?;
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    let warned = checks.iter().filter(|c| c.verdict == Verdict::Warn).count();
    if failed == 0 {
        println!("result: the link to central works ({warned} warning(s))");
    } else {
        println!("result: {failed} check(s) failed: fix the first FAIL above, then run `omnigate doctor` again");
    }
    Ok(exit_code(&checks))
}

/// Runs the checks in order, handing each to `report` as soon as it is known; stops at the first failure the
/// next steps depend on.
fn diagnose(config: &Path, report: &mut dyn FnMut(&Check)) -> Result<Vec<Check>, DoctorError> {
    let mut checks = Vec::new();
    let mut push = |c: Check, checks: &mut Vec<Check>| {
        report(&c);
        checks.push(c);
    };
    let cfg = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            let hint = "correct the file (`omnigate check-config FILE` shows the same message)".to_owned();
            push(
                Check::new(Verdict::Fail, "config", e.to_string(), Some(hint)),
                &mut checks,
            );
            return Ok(checks);
        }
    };
    let (store, device) = (&cfg.device.store_id, &cfg.device.device_id);
    let Some(mqtt) = &cfg.mqtt else {
        let detail = format!(
            "{}: no [mqtt] section: this device runs offline by design",
            config.display()
        );
        let hint = "add [mqtt] with the broker's host and port (see firmware-config/omnigate.toml)".to_owned();
        push(Check::new(Verdict::Fail, "config", detail, Some(hint)), &mut checks);
        return Ok(checks);
    };
    let client_id = format!("{device}-doctor");
    let options = match ToolOptions::from_device_config(mqtt, &client_id) {
        Ok(o) => o,
        Err(e) => {
            let hint = "the file named must exist and be readable by the user running the doctor (run it as the \
                        service user: `sudo -u omnigate omnigate doctor …`)"
                .to_owned();
            push(
                Check::new(Verdict::Fail, "config", e.to_string(), Some(hint)),
                &mut checks,
            );
            return Ok(checks);
        }
    };
    push(
        Check::new(
            Verdict::Ok,
            "config",
            format!(
                "{}: store {store}, device {device}, broker {}; connecting as client id \"{client_id}\" (not \
                 \"{device}\": a running daemon stays connected)",
                config.display(),
                options.broker()
            ),
            None,
        ),
        &mut checks,
    );

    let synced = crate::clock::kernel_clock_synced();
    push(clock_diagnosis(synced, options.uses_tls()), &mut checks);

    let host = options.host().to_owned();
    let addrs: Vec<SocketAddr> = if host.parse::<std::net::IpAddr>().is_ok() {
        let addrs = (host.as_str(), options.port()).to_socket_addrs().map(Iterator::collect);
        let addrs = addrs.unwrap_or_default();
        push(
            Check::new(
                Verdict::Ok,
                "dns",
                format!("{host} is an address (no lookup needed)"),
                None,
            ),
            &mut checks,
        );
        addrs
    } else {
        match (host.as_str(), options.port()).to_socket_addrs() {
            Ok(a) => {
                let addrs: Vec<SocketAddr> = a.collect();
                let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                push(
                    Check::new(Verdict::Ok, "dns", format!("{host} → {}", list.join(", ")), None),
                    &mut checks,
                );
                addrs
            }
            Err(e) => {
                let hint = "check mqtt.host for typing errors, and the device's DNS (`resolvectl status`, \
                            /etc/resolv.conf); the store router must forward DNS"
                    .to_owned();
                push(
                    Check::new(Verdict::Fail, "dns", format!("{host}: cannot resolve: {e}"), Some(hint)),
                    &mut checks,
                );
                return Ok(checks);
            }
        }
    };

    let mut stream = None;
    let mut last_error = None;
    for addr in &addrs {
        let started = Instant::now();
        match TcpStream::connect_timeout(addr, STEP_TIMEOUT) {
            Ok(s) => {
                let detail = format!("connected to {addr} in {} ms", started.elapsed().as_millis());
                push(Check::new(Verdict::Ok, "tcp", detail, None), &mut checks);
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some((addr.to_string(), e)),
        }
    }
    let Some(stream) = stream else {
        let check = match last_error {
            Some((addr, e)) => tcp_diagnosis(&addr, &e),
            None => Check::new(Verdict::Fail, "tcp", format!("{host}: no address to connect to"), None),
        };
        push(check, &mut checks);
        return Ok(checks);
    };

    match oneshot::tls_handshake(&options, stream, STEP_TIMEOUT) {
        Ok(Some(protocol)) => push(
            Check::new(
                Verdict::Ok,
                "tls",
                format!("{protocol}: the broker's certificate is valid for {host} and signed by the configured CA"),
                None,
            ),
            &mut checks,
        ),
        Ok(None) => push(
            Check::new(
                Verdict::Warn,
                "tls",
                "not configured: plain TCP, so the password and every event cross the network readable",
                Some("use TLS in stores ([mqtt.tls] with the fleet CA, port 8883); plain TCP is for benches".into()),
            ),
            &mut checks,
        ),
        Err(p) => {
            push(tls_diagnosis(&p, synced, &host), &mut checks);
            return Ok(checks);
        }
    }

    let topics = Topics::new(store, device);
    let filters = vec![topics.commands(), topics.catalog_delta()];
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let probe = rt.block_on(oneshot::probe_session(&options, &filters, 2 * STEP_TIMEOUT));
    let user = mqtt.username.as_deref();
    match probe {
        SessionProbe::Connected { subscriptions } => {
            let who = user.map(|u| format!("user {u}")).unwrap_or_else(|| "anonymous".into());
            push(Check::new(Verdict::Ok, "mqtt", format!("CONNACK accepted ({who})"), None), &mut checks);
            for (filter, granted) in subscriptions {
                let check = if granted {
                    // Mosquitto 2 grants a subscription its ACL denies and filters on delivery instead (checked
                    // with 2.0.11): a granted SUBACK proves only that the broker did not refuse it outright.
                    Check::new(
                        Verdict::Ok,
                        "acl",
                        format!("subscription to {filter} granted (SUBACK; Mosquitto grants even what its ACL hides)"),
                        None,
                    )
                } else {
                    let hint = format!(
                        "the broker's ACL must let {} read {filter} (firmware-config/mosquitto/make-device-account.sh \
                         writes the right block)",
                        user.unwrap_or(device)
                    );
                    Check::new(
                        Verdict::Fail,
                        "acl",
                        format!("subscription to {filter} refused (SUBACK 0x80)"),
                        Some(hint),
                    )
                };
                push(check, &mut checks);
            }
            push(Check::new(Verdict::Skip, "publish", PUBLISH_NOT_TESTED, None), &mut checks);
        }
        SessionProbe::Refused { code, meaning } => push(connack_diagnosis(code, meaning, user), &mut checks),
        SessionProbe::Tls(p) => push(tls_diagnosis(&p, synced, &host), &mut checks),
        SessionProbe::Failed(reason) => push(
            Check::new(
                Verdict::Fail,
                "mqtt",
                format!("no MQTT session: {reason}"),
                Some("the port answers but not as an MQTT broker, or the broker dropped us: check mqtt.port and the broker's log".into()),
            ),
            &mut checks,
        ),
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_port_and_a_silent_one_get_different_advice() {
        let refused = tcp_diagnosis("10.0.0.1:8883", &std::io::ErrorKind::ConnectionRefused.into());
        let silent = tcp_diagnosis("10.0.0.1:8883", &std::io::ErrorKind::TimedOut.into());
        assert_eq!((refused.verdict, silent.verdict), (Verdict::Fail, Verdict::Fail));
        assert!(refused.detail.contains("refused") && refused.hint.as_deref().is_some_and(|h| h.contains("port")));
        assert!(
            silent.hint.as_deref().is_some_and(|h| h.contains("firewall")),
            "{silent:?}"
        );
    }

    #[test]
    fn certificate_date_problems_blame_an_unsynchronised_clock_first() {
        let unsynced = tls_diagnosis(&TlsProblem::Expired, false, "broker.example");
        assert!(
            unsynced.hint.as_deref().is_some_and(|h| h.contains("NTP")),
            "{unsynced:?}"
        );
        let synced = tls_diagnosis(&TlsProblem::Expired, true, "broker.example");
        assert!(synced
            .hint
            .as_deref()
            .is_some_and(|h| !h.contains("NTP") && h.contains("renewed")));
        let name = tls_diagnosis(&TlsProblem::NameMismatch, true, "10.1.2.3");
        assert!(name.hint.as_deref().is_some_and(|h| h.contains("10.1.2.3")));
        assert_eq!(clock_diagnosis(false, true).verdict, Verdict::Warn);
        assert!(clock_diagnosis(false, true).detail.contains("certificate"));
    }

    #[test]
    fn bad_credentials_name_the_return_code_and_warnings_do_not_fail_the_exit_status() {
        let c = connack_diagnosis(4, "bad user name or password", Some("kiosk-01"));
        assert!(c.detail.contains("authentication failed") && c.detail.contains("return code 4"));
        let mosquitto = connack_diagnosis(5, "not authorised", Some("kiosk-01"));
        assert!(mosquitto.detail.contains("authentication failed") && mosquitto.detail.contains("code 5"));
        assert!(c.render().contains("what to do: check mqtt.username (kiosk-01)"));
        let warn_only = [clock_diagnosis(false, false)];
        assert_eq!(exit_code(&warn_only), ExitCode::SUCCESS);
        assert_eq!(exit_code(&[c]), ExitCode::from(1));
    }
}
