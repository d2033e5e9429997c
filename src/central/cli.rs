//! `omnigate central …`: the back-office tools of protocol v1 for a small fleet or a test bench. `keygen` makes
//! the signing key, `publish-catalog` plans a catalog publish ([`super::plan_publish`]), sends it with
//! [`crate::mqtt::oneshot::publish_all`] and commits it only after every PUBACK, `watch` shows the fleet from
//! the retained status topics and the event stream.
//!
//! Owns the argument shapes, the output (a table on a terminal, JSON Lines otherwise) and the viewer's pure state
//! ([`Fleet`], [`SeenSeqs`]). Never names rumqttc (that is `mqtt::oneshot`'s) and never reads a device's storage.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::catalog::update::{sha256, TrustedKey};
use crate::central::{keygen, load_signing_key, plan_publish, CentralError, PlanKind, PRIVATE_KEY_FILE};
use crate::mqtt::oneshot::{self, BrokerParams, OneshotError, ToolOptions, Watched};

/// Default data bytes per snapshot chunk: devices accept packets of `mqtt.max_packet_bytes` (default 262144)
/// and a chunk must fit with its header and topic (docs/protocol.md §10.3: `max_packet_bytes − 1024` is safe).
pub const DEFAULT_CHUNK_BYTES: u64 = 256 * 1024 - 1024;

/// Events kept for the terminal view (the newest).
const RECENT_EVENTS: usize = 20;

/// Seqs above the highest contiguous one remembered per device before the lowest are given up.
const MAX_SEQS_ABOVE: usize = 1024;

/// Digests of recent events remembered per device (to tell a device reset from a redelivery).
const RECENT_DIGESTS: usize = 64;

/// `omnigate central …`
#[derive(Debug, clap::Subcommand)]
pub enum CentralAction {
    /// Create central's Ed25519 signing key (never overwrites one); prints the public key for device configs.
    Keygen {
        /// Directory for omnigate-signing.key (mode 0600) and omnigate-signing.pub.
        #[arg(long, default_value_os_t = default_state_dir())]
        out: PathBuf,
    },
    /// Sign and publish a store's complete catalog (JSON Lines as for `omnigate catalog import`): a delta when
    /// possible, always the refreshed snapshot. Exit 0 published, 1 file refused, 2 broker or I/O failure.
    PublishCatalog {
        /// Store id.
        #[arg(long)]
        store: String,
        /// The catalog file (every product of the store).
        file: PathBuf,
        /// Where the per-store publish state lives.
        #[arg(long, default_value_os_t = default_state_dir())]
        state_dir: PathBuf,
        /// Private signing key [default: STATE_DIR/omnigate-signing.key]. (`--key` is the TLS client key.)
        #[arg(long)]
        signing_key: Option<PathBuf>,
        /// Send the whole snapshot even if a delta would do (every device downloads it).
        #[arg(long)]
        snapshot: bool,
        /// Data bytes per snapshot chunk (must fit the devices' mqtt.max_packet_bytes with 1024 to spare).
        #[arg(long, default_value_t = DEFAULT_CHUNK_BYTES)]
        chunk_bytes: u64,
        /// The broker.
        #[command(flatten)]
        broker: Box<BrokerArgs>,
    },
    /// Live view of the fleet: one row per device from the retained status topics, and the event stream
    /// (de-duplicated by id). On a terminal a table; otherwise one JSON line per new status or event.
    Watch {
        /// Only this store.
        #[arg(long)]
        store: Option<String>,
        /// The broker.
        #[command(flatten)]
        broker: Box<BrokerArgs>,
    },
}

/// Broker flags shared by the central commands.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// Broker host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker port.
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// User name (central's account).
    #[arg(long)]
    pub username: Option<String>,
    /// File holding the password (kept off the command line, where `ps` shows it).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// CA certificate(s), PEM: connect with TLS.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Client certificate, PEM (mutual TLS, with --key).
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// Client private key, PEM (mutual TLS, with --cert).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// MQTT client id [default: omnigate-central-<pid>].
    #[arg(long)]
    pub client_id: Option<String>,
}

impl BrokerArgs {
    fn params(&self) -> BrokerParams {
        BrokerParams {
            host: self.host.clone(),
            port: self.port,
            username: self.username.clone(),
            password_file: self.password_file.clone(),
            ca_file: self.ca.clone(),
            cert_file: self.cert.clone(),
            key_file: self.key.clone(),
            client_id: self
                .client_id
                .clone()
                .unwrap_or_else(|| format!("omnigate-central-{}", std::process::id())),
        }
    }
}

/// `$XDG_STATE_HOME/omnigate-central`, else `~/.local/state/omnigate-central`.
pub fn default_state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("omnigate-central")
}

/// A central tool that failed before doing its job.
#[derive(Debug, thiserror::Error)]
pub enum CentralCliError {
    /// Keys, plans, state files.
    #[error(transparent)]
    Central(#[from] CentralError),
    /// The broker.
    #[error(transparent)]
    Mqtt(#[from] OneshotError),
    /// stdout, or the async runtime.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs one `omnigate central` command.
pub fn run(action: &CentralAction) -> Result<ExitCode, CentralCliError> {
    match action {
        CentralAction::Keygen { out } => keygen_cmd(out),
        CentralAction::PublishCatalog {
            store,
            file,
            state_dir,
            signing_key,
            snapshot,
            chunk_bytes,
            broker,
        } => {
            let key = signing_key.clone().unwrap_or_else(|| state_dir.join(PRIVATE_KEY_FILE));
            Ok(publish_catalog(&PublishArgs {
                store,
                file,
                state_dir,
                key: &key,
                snapshot: *snapshot,
                chunk_bytes: *chunk_bytes,
                broker,
            }))
        }
        CentralAction::Watch { store, broker } => watch(store.as_deref(), broker),
    }
}

fn keygen_cmd(out: &Path) -> Result<ExitCode, CentralCliError> {
    let public = keygen(out)?;
    let key_id = TrustedKey::from_base64(&public)
        .map(|k| k.key_id().to_owned())
        .unwrap_or_default();
    let mut o = std::io::stdout().lock();
    writeln!(
        o,
        "private key: {} (keep it secret, mode 0600)",
        out.join(PRIVATE_KEY_FILE).display()
    )?;
    writeln!(o, "public key:  {public}")?;
    writeln!(o, "key id:      {key_id}")?;
    writeln!(o, "add to every device's configuration:")?;
    writeln!(o, "[central]")?;
    writeln!(o, "public_key = \"{public}\"")?;
    Ok(ExitCode::SUCCESS)
}

struct PublishArgs<'a> {
    store: &'a str,
    file: &'a Path,
    state_dir: &'a Path,
    key: &'a Path,
    snapshot: bool,
    chunk_bytes: u64,
    broker: &'a BrokerArgs,
}

/// Exit codes of `publish-catalog`.
const EXIT_REFUSED: u8 = 1;
const EXIT_FAILED: u8 = 2;

fn publish_catalog(a: &PublishArgs<'_>) -> ExitCode {
    let fail = |what: &dyn std::fmt::Display| {
        eprintln!("omnigate central publish-catalog: {what}");
        ExitCode::from(EXIT_FAILED)
    };
    // Broker settings and key first: a bad CA path must not cost a catalog version.
    let options = match ToolOptions::from_params(&a.broker.params()) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let key = match load_signing_key(a.key) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let plan = match plan_publish(a.store, a.file, a.state_dir, &key, a.chunk_bytes, a.snapshot) {
        Ok(p) => p,
        Err(CentralError::Rejected { path, rejected }) => {
            let mut o = std::io::stdout().lock();
            for (line, reason) in &rejected {
                let _ = writeln!(o, "{}:{line}: rejected: {reason}", path.display());
            }
            let _ = writeln!(
                o,
                "rejected {} line(s): nothing published (a catalog is published all or nothing)",
                rejected.len()
            );
            return ExitCode::from(EXIT_REFUSED);
        }
        Err(e @ (CentralError::Empty { .. } | CentralError::TooLarge { .. })) => {
            eprintln!("omnigate central publish-catalog: {e}");
            return ExitCode::from(EXIT_REFUSED);
        }
        Err(e) => return fail(&e),
    };
    if plan.kind == PlanKind::Unchanged {
        println!(
            "store {}: catalog version {} unchanged ({} products): nothing published",
            plan.store, plan.version, plan.products
        );
        return ExitCode::SUCCESS;
    }
    let bytes: usize = plan.messages.iter().map(|m| m.payload.len()).sum();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(plan.messages.len() as u64),
        // Hidden by indicatif itself when stderr is not a terminal (scripts, CI logs).
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("publishing [{bar:40}] {pos}/{len} acknowledged")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format_args!("cannot start the async runtime: {e}")),
    };
    let sent = rt.block_on(oneshot::publish_all(&options, &plan.messages, &mut |done, _| {
        bar.set_position(done as u64)
    }));
    bar.finish_and_clear();
    if let Err(e) = sent {
        return fail(&format_args!(
            "{e}; version {} not committed, run the command again (the next attempt takes a new version)",
            plan.version
        ));
    }
    if let Err(e) = plan.commit(a.state_dir) {
        return fail(&format_args!("published, but {e}"));
    }
    let kind = match plan.kind {
        PlanKind::Delta => format!("delta from version {} + snapshot", plan.from_version),
        PlanKind::Snapshot if plan.from_version == 0 => "snapshot (first publish)".to_owned(),
        _ => "snapshot".to_owned(),
    };
    println!(
        "store {}: published catalog version {} as {kind}: {} products, {} changed, {} deleted; {} messages, {bytes} bytes",
        plan.store,
        plan.version,
        plan.products,
        plan.changed,
        plan.deleted,
        plan.messages.len()
    );
    ExitCode::SUCCESS
}

fn watch(store: Option<&str>, broker: &BrokerArgs) -> Result<ExitCode, CentralCliError> {
    let options = ToolOptions::from_params(&broker.params())?;
    let level = store.unwrap_or("+");
    let filters = vec![
        format!("{}/stores/{level}/devices/+/status", crate::mqtt::topics::ROOT),
        format!("{}/stores/{level}/devices/+/events", crate::mqtt::topics::ROOT),
    ];
    let tty = std::io::stdout().is_terminal();
    let broker_name = options.broker();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut rx = oneshot::subscribe(options, filters);
        let mut fleet = Fleet::default();
        let mut link = format!("connecting to {broker_name}");
        let mut out = std::io::stdout();
        if tty {
            write!(out, "{}", fleet.render(&link))?;
        }
        loop {
            let watched = tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                w = rx.recv() => match w { Some(w) => w, None => break },
            };
            let changed = match watched {
                Watched::Connected => {
                    link = format!("connected to {broker_name}");
                    true
                }
                Watched::Lost(reason) => {
                    link = format!("{broker_name}: {reason}; reconnecting");
                    if !tty {
                        eprintln!("omnigate central watch: {link}");
                    }
                    true
                }
                Watched::Refused(filter) => {
                    link = format!("the broker refused the subscription to {filter} (ACL?)");
                    if !tty {
                        eprintln!("omnigate central watch: {link}");
                    }
                    true
                }
                Watched::Message {
                    topic,
                    payload,
                    retained,
                } => match fleet.on_message(&topic, &payload, retained) {
                    Some(line) => {
                        if !tty {
                            writeln!(out, "{line}")?;
                        }
                        true
                    }
                    None => false,
                },
            };
            if tty && changed {
                write!(out, "{}", fleet.render(&link))?;
                out.flush()?;
            }
        }
        Ok::<_, std::io::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Which events of one device were already shown: the highest seq `H` with every seq up to it seen, plus the
/// seqs seen above it. Seqs are dense per device (docs/protocol.md §9), so the set above `H` stays small; it is
/// capped anyway ([`MAX_SEQS_ABOVE`]: past it the lowest are given up, as if the gap below them had filled).
///
/// A viewer shows what arrives after it started: the first seq seen of a device sets `H` just below it. A seq at
/// or below `H` is a redelivery, unless its bytes differ from those seen for it (a device whose state was wiped
/// starts again at seq 1, §9.1): then the device's series starts over.
#[derive(Debug, Clone, Default)]
pub struct SeenSeqs {
    contiguous: Option<u64>,
    above: BTreeSet<u64>,
    digests: VecDeque<(u64, [u8; 32])>,
}

impl SeenSeqs {
    /// Records event `seq` with payload `bytes`; `true` when it was not seen before (show it).
    pub fn insert(&mut self, seq: u64, bytes: &[u8]) -> bool {
        let digest = sha256(bytes);
        let h = *self.contiguous.get_or_insert(seq.saturating_sub(1));
        if seq <= h || self.above.contains(&seq) {
            let known = self.digests.iter().find(|(s, _)| *s == seq).map(|(_, d)| *d);
            let reset = match known {
                Some(d) => d != digest,
                // The device's first event again, not remembered: a wiped device starting over.
                None => seq == 1 && h > 1,
            };
            if !reset {
                return false;
            }
            *self = SeenSeqs::default();
            self.contiguous = Some(seq.saturating_sub(1));
        }
        self.above.insert(seq);
        let mut h = self.contiguous.unwrap_or(0);
        while self.above.remove(&(h + 1)) {
            h += 1;
        }
        while self.above.len() > MAX_SEQS_ABOVE {
            if let Some(lowest) = self.above.pop_first() {
                h = lowest;
                while self.above.remove(&(h + 1)) {
                    h += 1;
                }
            }
        }
        self.contiguous = Some(h);
        self.digests.push_back((seq, digest));
        if self.digests.len() > RECENT_DIGESTS {
            self.digests.pop_front();
        }
        true
    }

    /// The highest seq with every one up to it seen (`None` before the first).
    pub fn contiguous(&self) -> Option<u64> {
        self.contiguous
    }
}

#[derive(Debug, Default)]
struct DeviceView {
    status: Option<serde_json::Value>,
    seen: SeenSeqs,
}

/// The viewer's state: the latest status per device, the events already shown, the newest events for the
/// terminal view. Pure: messages in, lines and text out.
#[derive(Debug, Default)]
pub struct Fleet {
    devices: BTreeMap<(String, String), DeviceView>,
    recent: VecDeque<String>,
}

impl Fleet {
    /// Takes one message of a status or events topic; returns the JSON line to print for a new status or a new
    /// event, `None` for a repeat (a status equal to the one shown, an event id already shown) or another topic.
    pub fn on_message(&mut self, topic: &str, payload: &[u8], retained: bool) -> Option<String> {
        let (store, device, leaf) = parse_device_topic(topic)?;
        let view = self.devices.entry((store.to_owned(), device.to_owned())).or_default();
        let doc: serde_json::Value = match serde_json::from_slice(payload) {
            Ok(d) => d,
            // Not JSON (a broken device, a cleared retained topic): shown raw so it is not missed.
            Err(_) if payload.is_empty() => return None,
            Err(_) => serde_json::Value::String(String::from_utf8_lossy(payload).into_owned()),
        };
        match leaf {
            "status" => {
                if view.status.as_ref() == Some(&doc) {
                    return None;
                }
                view.status = Some(doc.clone());
                let line = serde_json::json!({
                    "type": "status", "store": store, "device": device, "retained": retained, "status": doc,
                });
                Some(line.to_string())
            }
            "events" => {
                if let Some(seq) = doc["seq"].as_u64() {
                    if !view.seen.insert(seq, payload) {
                        return None;
                    }
                }
                let text = format!(
                    "{store}/{device} #{} {} {} {}",
                    doc["seq"],
                    doc["kind"].as_str().unwrap_or("?"),
                    doc["class"].as_str().unwrap_or("?"),
                    doc["payload"]
                );
                self.recent.push_back(text);
                if self.recent.len() > RECENT_EVENTS {
                    self.recent.pop_front();
                }
                let line = serde_json::json!({"type": "event", "store": store, "device": device, "event": doc});
                Some(line.to_string())
            }
            _ => None,
        }
    }

    /// The terminal view: clear screen, the link line, one row per device, then the newest events.
    pub fn render(&self, link: &str) -> String {
        let mut s = String::from("\x1b[H\x1b[2J");
        s.push_str(&format!("omnigate fleet: {link}\n\n"));
        s.push_str(&self.table());
        s.push_str("\nevents (newest last):\n");
        for e in &self.recent {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// The fleet table, one row per device that has published a status.
    pub fn table(&self) -> String {
        let header = [
            "STORE",
            "DEVICE",
            "STATE",
            "SOFTWARE",
            "CATALOG",
            "OUTBOX",
            "OLDEST",
            "SCANNER",
            "DISPLAY",
            "DISK FREE",
            "STATUS#",
        ];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
        for ((store, device), view) in &self.devices {
            let Some(st) = &view.status else { continue };
            let text = |v: &serde_json::Value| match v {
                serde_json::Value::Null => "-".to_owned(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let catalog = match (
                st["catalog"]["central_version"].as_u64(),
                st["catalog"]["products"].as_u64(),
            ) {
                (Some(v), Some(p)) => format!("v{v}/{p}"),
                _ => "-".to_owned(),
            };
            let oldest = st["outbox"]["oldest_age_s"]
                .as_u64()
                .map(crate::status::human_age)
                .unwrap_or_else(|| "-".to_owned());
            let disk = st["disk"]["free_bytes"]
                .as_u64()
                .map(crate::status::human_bytes)
                .unwrap_or_else(|| "-".to_owned());
            let mut state = text(&st["state"]);
            if st["locked"].as_bool() == Some(true) {
                state.push_str(" LOCKED");
            }
            if st["outbox"]["sales_blocked"].as_bool() == Some(true) {
                state.push_str(" SALES-BLOCKED");
            }
            rows.push(vec![
                store.clone(),
                device.clone(),
                state,
                text(&st["software"]),
                catalog,
                text(&st["outbox"]["depth"]),
                oldest,
                text(&st["health"]["scanner"]),
                text(&st["health"]["display"]),
                disk,
                text(&st["status_seq"]),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut s = String::new();
        for r in rows {
            let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            s.push_str(cells.join("  ").trim_end());
            s.push('\n');
        }
        s
    }
}

/// `(store, device, leaf)` of `omnigate/v1/stores/{store}/devices/{device}/{leaf}`.
fn parse_device_topic(topic: &str) -> Option<(&str, &str, &str)> {
    let rest = topic
        .strip_prefix(crate::mqtt::topics::ROOT)?
        .strip_prefix("/stores/")?;
    let mut parts = rest.split('/');
    let (store, devices, device, leaf) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (devices == "devices" && parts.next().is_none()).then_some((store, device, leaf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, kind: &str) -> Vec<u8> {
        format!(r#"{{"seq":{seq},"id":"k1-{seq}","kind":"{kind}","class":"business","payload":{{}}}}"#).into_bytes()
    }

    #[test]
    fn redelivered_events_are_shown_once_and_late_ones_still_show() {
        let mut s = SeenSeqs::default();
        let shown: Vec<bool> = [5, 6, 6, 8, 7, 8, 5, 9]
            .iter()
            .map(|&seq| s.insert(seq, &event(seq, "x")))
            .collect();
        assert_eq!(shown, [true, true, false, true, true, false, false, true]);
        assert_eq!(s.contiguous(), Some(9), "the gap at 7 filled");
    }

    #[test]
    fn a_wiped_device_starting_again_at_seq_1_is_not_taken_for_a_redelivery() {
        let mut s = SeenSeqs::default();
        for seq in 1..=3 {
            assert!(s.insert(seq, &event(seq, "old")));
        }
        assert!(!s.insert(1, &event(1, "old")), "byte-identical: a redelivery");
        assert!(
            s.insert(1, &event(1, "device.started")),
            "same id, other bytes: a reset"
        );
        assert!(s.insert(2, &event(2, "new")));
        assert_eq!(s.contiguous(), Some(2));
        // A viewer that started late never saw seq 1 of the old series: seq 1 again means a reset too.
        let mut late = SeenSeqs::default();
        assert!(late.insert(500, &event(500, "x")));
        assert!(late.insert(1, &event(1, "device.started")));
    }

    #[test]
    fn memory_per_device_stays_bounded_when_a_gap_never_fills() {
        let mut s = SeenSeqs::default();
        assert!(s.insert(1, &event(1, "x")));
        for seq in 3..(3 + MAX_SEQS_ABOVE as u64 + 10) {
            assert!(s.insert(seq, &event(seq, "x")));
        }
        assert!(s.above.len() <= MAX_SEQS_ABOVE && s.digests.len() <= RECENT_DIGESTS);
        assert!(s.contiguous().is_some_and(|h| h > 2), "{:?}", s.contiguous());
    }

    #[test]
    fn the_fleet_prints_new_statuses_and_events_once_and_tables_each_device() {
        let mut f = Fleet::default();
        let topic = |leaf: &str| format!("omnigate/v1/stores/S1/devices/k1/{leaf}");
        let status = br#"{"v":1,"state":"online","store":"S1","device":"k1","software":"0.1.0","status_seq":3,
            "catalog":{"central_version":4,"products":224},"outbox":{"depth":2,"oldest_age_s":300},
            "health":{"scanner":"ok","display":"error"},"disk":{"free_bytes":5368709120},"locked":false}"#;
        let line = f.on_message(&topic("status"), status, true).expect("new status");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(
            (v["type"].as_str(), v["retained"].as_bool()),
            (Some("status"), Some(true))
        );
        assert_eq!(f.on_message(&topic("status"), status, false), None, "same status again");
        assert!(f.on_message(&topic("events"), &event(1, "sale"), false).is_some());
        assert_eq!(f.on_message(&topic("events"), &event(1, "sale"), false), None);
        assert_eq!(f.on_message("omnigate/v1/stores/S1/catalog/delta", b"{}", false), None);
        let table = f.table();
        let row = table.lines().nth(1).expect("a row");
        for cell in ["S1", "k1", "online", "0.1.0", "v4/224", "5 min", "error", "5.4 GB"] {
            assert!(row.contains(cell), "{cell} in {row}");
        }
        let offline = br#"{"v":1,"state":"offline","store":"S1","device":"k1","software":"0.1.0"}"#;
        assert!(f.on_message(&topic("status"), offline, true).is_some());
        assert!(f.table().lines().nth(1).is_some_and(|r| r.contains("offline")));
    }
}
