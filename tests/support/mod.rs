//! Test support shared by the MQTT tests: a real Mosquitto on a free port, a TCP proxy the test can cut to
//! take the device off the network at a chosen moment, and a "central" subscriber that collects events.
//! Every helper waits by polling with a deadline, never by sleeping a fixed time.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Polls `cond` every 10 ms until it holds or `within` passes; panics with `what` on timeout.
pub fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A port nobody listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// A Mosquitto broker of the test's own, on a free port, with its files in a temp dir.
pub struct Broker {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    persistence: bool,
    extra_conf: String,
}

impl Broker {
    /// Starts a broker; `persistence` keeps sessions and queued messages across a clean restart.
    pub fn start(persistence: bool) -> Broker {
        Broker::start_with(persistence, "allow_anonymous true\n")
    }

    /// Starts a broker with extra configuration lines (authentication, ACL…).
    pub fn start_with(persistence: bool, extra_conf: &str) -> Broker {
        let mut b = Broker {
            port: free_port(),
            dir: tempfile::tempdir().expect("broker temp dir"),
            child: None,
            persistence,
            extra_conf: extra_conf.to_owned(),
        };
        b.spawn();
        b
    }

    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    fn spawn(&mut self) {
        let dir = self.dir.path();
        let conf = format!(
            // Run as root, Mosquitto switches to user "mosquitto", which could then neither write its log nor its
            // persistence file in our 0700 temp dir, and "persistence true" would silently keep nothing.
            "user {user}\nlistener {port} 127.0.0.1\npersistence {persist}\npersistence_location {dir}/\n\
             max_queued_messages 1000000\nmax_inflight_messages 100\nlog_dest file {dir}/mosquitto.log\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type subscribe\n{extra}",
            user = current_user(),
            port = self.port,
            persist = self.persistence,
            dir = dir.display(),
            extra = self.extra_conf
        );
        std::fs::write(self.conf_path(), conf).expect("write mosquitto.conf");
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.conf_path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto (is it installed? .ci/run installs it)");
        self.child = Some(child);
        let port = self.port;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
                panic!("mosquitto exited at start ({status}); log:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the broker's log shows `client` subscribed to `topic` (Mosquitto logs subscriptions with
    /// `log_type subscribe`, which every test broker has): messages published after that reach the client.
    pub fn wait_for_subscription(&self, client: &str, topic: &str) {
        let log = self.dir.path().join("mosquitto.log");
        wait_until(
            &format!("{client} subscribed to {topic}"),
            Duration::from_secs(30),
            || {
                std::fs::read_to_string(&log)
                    .map(|l| l.lines().any(|line| line.contains(client) && line.contains(topic)))
                    .unwrap_or(false)
            },
        );
    }

    /// Stops with SIGTERM (a persistent broker saves its sessions) and waits for the exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::SIGTERM);
            let _ = c.wait();
        }
    }

    /// Kills with SIGKILL: whatever the broker had only in memory is gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port (after `stop` or `kill`).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts again without persistence, whatever it had: every session is gone.
    pub fn restart_forgetting_sessions(&mut self) {
        self.kill();
        self.persistence = false;
        for f in std::fs::read_dir(self.dir.path()).expect("broker dir").flatten() {
            if f.path().extension().is_some_and(|e| e == "db") {
                let _ = std::fs::remove_file(f.path());
            }
        }
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The user this test runs as (Mosquitto's `user` option).
fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".into())
}

fn mosquitto_binary() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("mosquitto")
}

/// A TCP proxy in front of the broker: `cut()` drops every connection and refuses new ones until `mend()`,
/// so a test decides exactly when the device is off the network.
pub struct Proxy {
    pub port: u16,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (o, c, s) = (open.clone(), conns.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        if !o.load(Ordering::Relaxed) {
                            drop(client);
                            continue;
                        }
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                            continue;
                        };
                        let mut guard = c.lock().expect("conns");
                        for (from, to) in [(&client, &server), (&server, &client)] {
                            let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                                continue;
                            };
                            std::thread::spawn(move || {
                                let mut buf = [0u8; 16 * 1024];
                                while let Ok(n) = from.read(&mut buf) {
                                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                let _ = to.shutdown(Shutdown::Both);
                                let _ = from.shutdown(Shutdown::Both);
                            });
                        }
                        guard.push(client);
                        guard.push(server);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy {
            port,
            open,
            conns,
            stop,
        }
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::Relaxed);
        for c in self.conns.lock().expect("conns").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again.
    pub fn mend(&self) {
        self.open.store(true, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
    }
}

/// Messages as received: topic and payload.
pub type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// "Central": a persistent-session subscriber on a broker, collecting every message of a topic filter.
pub struct Central {
    pub received: Received,
    pub subscribed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Central {
    /// Subscribes to `filter` (QoS 1) as client `id`, subscribing again whenever the broker lost the session.
    pub fn start(port: u16, id: &str, filter: &str) -> Central {
        let received: Received = Arc::default();
        let subscribed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        opts.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 24, 1 << 24);
        let (client, mut connection) = rumqttc::Client::new(opts, 1024);
        let (r, sub, st, filter) = (received.clone(), subscribed.clone(), stop.clone(), filter.to_owned());
        let handle = std::thread::spawn(move || {
            for ev in connection.iter() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack))) => {
                        if !ack.session_present {
                            let _ = client.try_subscribe(filter.clone(), rumqttc::QoS::AtLeastOnce);
                        } else {
                            sub.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        sub.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        r.lock().expect("received").push((p.topic.clone(), p.payload.to_vec()));
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Central {
            received,
            subscribed,
            stop,
            handle: Some(handle),
        }
    }

    /// Times a subscription was confirmed (or a session found): grows after each (re)connect.
    pub fn subscriptions(&self) -> u64 {
        self.subscribed.load(Ordering::Relaxed)
    }

    /// The payloads received so far, parsed as JSON.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .expect("received")
            .iter()
            .filter_map(|(_, p)| serde_json::from_slice(p).ok())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.received.lock().expect("received").len()
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The thread ends at its next event (keep-alive at the latest); do not wait for it.
        drop(self.handle.take());
    }
}
pub mod certs;
pub mod daemon;
pub mod fake_printer;
pub mod link;
pub mod station;
