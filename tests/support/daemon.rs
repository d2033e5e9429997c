//! The real `omnigate run` as a child process on simulated hardware: codes typed on its stdin scanner,
//! frames as PNG files, systemd's READY=1 received on a notify socket.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::Duration;

/// Three products, enough for price checks.
pub const CATALOG: &str = r#"{"sku":"PASTA-5","gtins":["8001234567897"],"name":"Spaghetti n.5","brand":"Barilla","price_cents":129,"vat_rate_bp":400,"stock":24,"unit":"piece"}
{"sku":"CAFFE-250","gtins":["8009876543217"],"name":"Caffè Qualità Rossa 250 g","brand":"Lavazza","price_cents":399,"vat_rate_bp":2200,"stock":3,"unit":"piece"}
{"sku":"OLIO-1L","gtins":["8002222222224"],"name":"Olio extravergine 1 l","brand":"Monini","price_cents":899,"vat_rate_bp":400,"stock":9,"unit":"piece"}
"#;

pub struct Daemon {
    pub child: Child,
    pub cfg: PathBuf,
    pub dir: PathBuf,
    stdin: Option<ChildStdin>,
    _tmp: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Starts the daemon in a fresh temp dir with `extra` appended to a simulator config.
    pub fn start(device: &str, extra: &str) -> Daemon {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_owned();
        std::fs::write(dir.join("catalog.jsonl"), CATALOG).expect("catalog");
        let cfg = dir.join("omnigate.toml");
        std::fs::write(
            &cfg,
            format!(
                r#"
[device]
store_id = "IT-TEST-1"
device_id = "{device}"
language = "en"
state_dir = "state"
[catalog]
cache_capacity_mb = 8
seed_file = "catalog.jsonl"
[scanner]
kind = "stdin"
debounce_ms = 0
[display]
kind = "simulator"
[display.simulator]
output_dir = "frames"
{extra}
"#
            ),
        )
        .expect("config");
        let mut d = Daemon::spawn_in(&dir, &cfg);
        d._tmp = Some(tmp);
        d
    }

    /// Starts (again) with an existing directory and config.
    pub fn spawn_in(dir: &Path, cfg: &Path) -> Daemon {
        Daemon::spawn_with_stderr(dir, cfg, Stdio::inherit())
    }

    /// [`Daemon::spawn_in`], with the daemon's log (warnings and errors) appended to `<dir>/daemon.log`.
    pub fn spawn_logged(dir: &Path, cfg: &Path) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("daemon.log"))
            .expect("open the daemon log");
        Daemon::spawn_with_stderr(dir, cfg, Stdio::from(log))
    }

    fn spawn_with_stderr(dir: &Path, cfg: &Path, stderr: Stdio) -> Daemon {
        let sock_path = dir.join(format!("notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&sock_path);
        let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
        sock.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let mut child = Command::new(env!("CARGO_BIN_EXE_omnigate"))
            .args(["run", "--config"])
            .arg(cfg)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn daemon");
        let stdin = child.stdin.take();
        let mut buf = [0u8; 256];
        loop {
            let n = sock.recv(&mut buf).expect("daemon never said READY=1");
            if String::from_utf8_lossy(&buf[..n]).lines().any(|l| l == "READY=1") {
                break;
            }
        }
        Daemon {
            child,
            cfg: cfg.to_owned(),
            dir: dir.to_owned(),
            stdin,
            _tmp: None,
        }
    }

    /// Types a code on the stdin scanner.
    pub fn scan(&mut self, code: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{code}").expect("write code");
        stdin.flush().expect("flush");
    }

    /// Runs `omnigate ARGS --config <this config>`.
    pub fn omnigate(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_omnigate"))
            .args(args)
            .arg("--config")
            .arg(&self.cfg)
            .output()
            .expect("run omnigate")
    }

    /// SIGTERM, and waits for a clean exit.
    pub fn terminate(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM);
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "daemon exited with {status}");
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Daemon {
    /// Polls the simulator panel until it shows exactly `frame` (rendered by the same renderer, in English).
    pub fn wait_for_screen(&self, frame: &omnigate::ui::Frame, what: &str) {
        let want = expected_png(frame, &self.dir);
        let screen = self.dir.join("frames").join("screen.png");
        super::wait_until(what, Duration::from_secs(20), || {
            decode_png(&screen).as_ref() == Some(&want)
        });
    }

    /// Whether the panel shows exactly `frame` right now.
    pub fn shows(&self, frame: &omnigate::ui::Frame) -> bool {
        decode_png(&self.dir.join("frames").join("screen.png")) == Some(expected_png(frame, &self.dir))
    }
}

fn decode_png(path: &Path) -> Option<image::RgbImage> {
    let bytes = std::fs::read(path).ok()?;
    image::load_from_memory(&bytes).ok().map(|i| i.to_rgb8())
}

fn expected_png(frame: &omnigate::ui::Frame, dir: &Path) -> image::RgbImage {
    let path = dir.join("expected.png");
    omnigate::display::render_png(frame, omnigate::config::Language::En, 240, 320, &path).expect("render expected");
    decode_png(&path).expect("decode expected")
}

/// Publishes `(topic, payload, retain)` messages at QoS 1 in order and returns once the broker acknowledged all.
pub fn publish(port: u16, messages: &[(String, Vec<u8>, bool)]) {
    let mut opts = rumqttc::MqttOptions::new(format!("test-central-{}", std::process::id()), "127.0.0.1", port);
    opts.set_max_packet_size(1 << 24, 1 << 24);
    let (client, mut connection) = rumqttc::Client::new(opts, messages.len() + 8);
    for (topic, payload, retain) in messages {
        client
            .publish(topic.clone(), rumqttc::QoS::AtLeastOnce, *retain, payload.clone())
            .expect("queue publish");
    }
    let mut acked = 0;
    for ev in connection.iter() {
        match ev {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                acked += 1;
                if acked == messages.len() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => panic!("publishing to the test broker failed: {e}"),
        }
    }
    let _ = client.disconnect();
}
