//! The link to central over MQTT: the only module that names rumqttc.
//!
//! Owns the connection and everything about it: client id (= device id), persistent session, TLS (rustls with
//! the ring provider; CA and optional client certificate for mutual TLS, checked at start), credentials,
//! packet size limits, reconnecting with exponential backoff and jitter, rate-limited error lines, subscribing
//! again after every connect (so also when the broker has lost the session), manual acknowledgement of incoming messages (only after the
//! receiver has made them durable), the retained status with an "offline" last will, draining the outbox in
//! sequence order, and a clean disconnect on shutdown.
//!
//! What the events mean and what to do with incoming updates is not this module's business: events come from
//! [`OutboxStore`] as stored bytes, incoming messages go to the daemon through a channel.
//!
//! # The outbox drain
//! Events go out as QoS 1 publishes, lowest seq first, at most `max_in_flight` at a time (the pure
//! [`Outbox`] keeps that state). An event is deleted from disk only after its PUBACK. After every
//! (re)connect, everything not acknowledged is published again, whether or not the broker kept the session:
//! a fresh rumqttc client is built for each connection, so rumqttc's own replay of its in-memory state never
//! doubles ours, and nothing depends on the broker's memory. Central deduplicates by event id.

pub mod backoff;
pub mod oneshot;
pub mod topics;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::config::{MqttConfig, MqttTlsConfig};
use crate::outbox::Outbox;
use crate::storage::outbox_store::{OutboxStore, OutboxStoreError};
pub use backoff::{Backoff, LogLimiter};
pub use topics::{Inbound, Topics};

/// A link that cannot be set up or that failed for good, naming the file or the operation.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// A credential or certificate file cannot be read.
    #[error("{what} {path}: cannot read: {source}")]
    Read {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A certificate or key file is unusable.
    #[error("{what} {path}: {reason}")]
    Pem {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the TLS set-up (key not matching the certificate, unsupported key type…).
    #[error("TLS set-up: {0}")]
    Tls(String),
    /// The outbox failed while draining.
    #[error(transparent)]
    Outbox(#[from] OutboxStoreError),
}

/// Everything needed to connect, checked once at start.
#[derive(Clone)]
pub struct LinkSettings {
    /// Client id: the device id.
    pub client_id: String,
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Keep-alive interval.
    pub keep_alive: Duration,
    /// Largest packet sent or accepted.
    pub max_packet_bytes: usize,
    /// Events published and not yet acknowledged at once.
    pub max_in_flight: u16,
    /// First and longest pause between connection attempts.
    pub backoff_initial: Duration,
    /// Longest pause between connection attempts.
    pub backoff_max: Duration,
    /// User name and password.
    pub credentials: Option<(String, String)>,
    /// TLS client configuration; `None` = plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The device's topics.
    pub topics: Topics,
    /// The retained payload the broker publishes on the status topic when the device vanishes.
    pub last_will: Vec<u8>,
}

impl std::fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No credentials in logs.
        f.debug_struct("LinkSettings")
            .field("client_id", &self.client_id)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl LinkSettings {
    /// Settings from `[mqtt]`: reads the password file and builds the TLS configuration, so a wrong path, an
    /// empty CA file or a key that does not fit the certificate stops the start with a clear message.
    pub fn from_config(
        cfg: &MqttConfig,
        store_id: &str,
        device_id: &str,
        last_will: Vec<u8>,
    ) -> Result<LinkSettings, MqttError> {
        let credentials = match (&cfg.username, &cfg.password_file) {
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file).map_err(|source| MqttError::Read {
                    what: "mqtt.password_file",
                    path: file.clone(),
                    source,
                })?;
                Some((user.clone(), password.trim_end_matches(['\r', '\n']).to_owned()))
            }
            (Some(user), None) => Some((user.clone(), String::new())),
            _ => None,
        };
        let tls = cfg.tls.as_ref().map(tls_config).transpose()?.map(Arc::new);
        Ok(LinkSettings {
            client_id: device_id.to_owned(),
            host: cfg.host.clone(),
            port: cfg.port,
            keep_alive: Duration::from_secs(cfg.keep_alive_s),
            max_packet_bytes: cfg.max_packet_bytes,
            max_in_flight: cfg.max_in_flight,
            backoff_initial: Duration::from_millis(cfg.backoff_initial_ms),
            backoff_max: Duration::from_millis(cfg.backoff_max_ms),
            credentials,
            tls,
            topics: Topics::new(store_id, device_id),
            last_will,
        })
    }

    fn options(&self) -> MqttOptions {
        let mut o = MqttOptions::new(&self.client_id, &self.host, self.port);
        o.set_keep_alive(self.keep_alive)
            // Persistent session: the broker queues catalog updates and commands while the device is away.
            .set_clean_session(false)
            .set_manual_acks(true)
            .set_max_packet_size(self.max_packet_bytes, self.max_packet_bytes)
            .set_inflight(self.max_in_flight)
            // Room for a full window plus status, acks and subscriptions without ever blocking the drain.
            .set_request_channel_capacity(usize::from(self.max_in_flight) + 64)
            .set_last_will(LastWill::new(
                self.topics.status(),
                self.last_will.clone(),
                QoS::AtLeastOnce,
                true,
            ));
        if let Some((user, password)) = &self.credentials {
            o.set_credentials(user, password);
        }
        if let Some(tls) = &self.tls {
            o.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        o
    }
}

/// rustls client configuration from PEM files, with one crypto provider (ring) named explicitly.
fn tls_config(t: &MqttTlsConfig) -> Result<rustls::ClientConfig, MqttError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs("mqtt.tls.ca_file", &t.ca_file)? {
        roots.add(cert).map_err(|e| MqttError::Pem {
            what: "mqtt.tls.ca_file",
            path: t.ca_file.clone(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match (&t.client_cert_file, &t.client_key_file) {
        (Some(cert_file), Some(key_file)) => {
            let chain = read_certs("mqtt.tls.client_cert_file", cert_file)?;
            let key = read_key(key_file)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                MqttError::Tls(format!(
                    "client certificate {} with key {}: {e}",
                    cert_file.display(),
                    key_file.display()
                ))
            })
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|source| MqttError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, MqttError> {
    let pem = read_pem(what, path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MqttError::Pem {
            what,
            path: path.to_owned(),
            reason: format!("not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(MqttError::Pem {
            what,
            path: path.to_owned(),
            reason: "no certificate in it (expected -----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>, MqttError> {
    let what = "mqtt.tls.client_key_file";
    let pem = read_pem(what, path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| MqttError::Pem {
            what,
            path: path.to_owned(),
            reason: format!("not valid PEM: {e}"),
        })?
        .ok_or_else(|| MqttError::Pem {
            what,
            path: path.to_owned(),
            reason: "no private key in it (expected PKCS#8, PKCS#1 or SEC1 PEM)".into(),
        })
}

/// A message from central, to be acknowledged with [`Acker::ack`] once the receiver has made it durable. Not
/// acknowledged (the receiver failed, or the process stopped), the broker sends it again.
#[derive(Debug)]
pub struct InboundMessage {
    /// Which subscription it came from.
    pub kind: Inbound,
    /// The topic.
    pub topic: String,
    /// The payload.
    pub payload: bytes::Bytes,
    /// Retained message (delivered because of a subscription, not published just now).
    pub retained: bool,
    ack: AckToken,
}

impl InboundMessage {
    /// The token to hand to [`Acker::ack`].
    pub fn ack_token(&self) -> AckToken {
        self.ack.clone()
    }
}

/// What the link needs to acknowledge one message on the connection it arrived on.
#[derive(Debug, Clone)]
pub struct AckToken {
    connection: u64,
    publish: rumqttc::Publish,
}

/// Sends acknowledgements back to the link.
#[derive(Debug, Clone)]
pub struct Acker(mpsc::UnboundedSender<AckToken>);

impl Acker {
    /// Acknowledges a message; a message of an earlier connection is left to the broker to send again.
    pub fn ack(&self, token: AckToken) {
        // The link has stopped: the broker redelivers after the restart.
        let _ = self.0.send(token);
    }
}

/// Changes of subscriptions asked by the daemon (the catalog snapshot topics are only wanted while a snapshot
/// is needed, so that a large retained snapshot is not sent again on every reconnect).
#[derive(Debug, Clone)]
pub enum Subscription {
    /// Subscribe to these filters (QoS 1), and again whenever the broker loses the session.
    Add(Vec<String>),
    /// Unsubscribe from these filters.
    Remove(Vec<String>),
}

/// The state of the link, for the status screen and the fleet status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Connected to the broker right now.
    pub connected: bool,
    /// Connections made since start.
    pub connections: u64,
    /// The last connection error, if the last attempt failed.
    pub last_error: Option<String>,
    /// Highest event seq acknowledged by the broker since start.
    pub last_acked: Option<u64>,
}

/// The daemon's side of a running link.
pub struct LinkIo {
    /// Woken by every append, so new events go out at once.
    pub appended: Arc<Notify>,
    /// Incoming messages.
    pub inbound: mpsc::Sender<InboundMessage>,
    /// Acknowledgements of incoming messages.
    pub acks: mpsc::UnboundedReceiver<AckToken>,
    /// Subscription changes.
    pub subscriptions: mpsc::UnboundedReceiver<Subscription>,
    /// The latest status document (JSON), published retained on every change and after every connect.
    pub status: watch::Receiver<Vec<u8>>,
    /// The link's state, for the daemon.
    pub state: watch::Sender<LinkState>,
}

/// Creates the channel pair for acknowledgements.
pub fn ack_channel() -> (Acker, mpsc::UnboundedReceiver<AckToken>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Acker(tx), rx)
}

/// Events loaded per read from disk, and the level below which the next batch is read.
const LOAD_BATCH: usize = 256;

/// How long a clean disconnect may take at shutdown before the connection is just dropped.
const DISCONNECT_GRACE: Duration = Duration::from_millis(1500);

/// What rumqttc was asked to publish, in request order: its `Outgoing::Publish` events come in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Requested {
    Event,
    Other,
}

/// Drain state across connections: the pure window plus the stored bytes of the loaded events.
struct Drain {
    outbox: Outbox,
    bytes: HashMap<u64, Vec<u8>>,
    store: Arc<OutboxStore>,
    last_acked: Option<u64>,
}

impl Drain {
    fn new(store: Arc<OutboxStore>, max_in_flight: u16) -> Drain {
        Drain {
            // The budget is enforced by the appenders against the bytes on disk; this copy only orders sends.
            outbox: Outbox::new(usize::from(max_in_flight)),
            bytes: HashMap::new(),
            store,
            last_acked: None,
        }
    }

    /// Loads the next batch from disk when few events are waiting.
    fn top_up(&mut self) -> Result<(), OutboxStoreError> {
        if self.outbox.pending_len() >= LOAD_BATCH / 2 {
            return Ok(());
        }
        let from = self.outbox.loaded_through() + 1;
        for (seq, bytes) in self.store.pending_encoded(from, LOAD_BATCH)? {
            self.outbox.push(seq, bytes.len() as u64);
            self.bytes.insert(seq, bytes);
        }
        Ok(())
    }

    fn on_puback(&mut self, pkid: u16) -> Result<(), OutboxStoreError> {
        if let Some(seq) = self.outbox.on_puback(pkid) {
            self.bytes.remove(&seq);
            self.store.ack(seq)?;
            self.last_acked = self.last_acked.max(Some(seq));
        }
        Ok(())
    }
}

/// Runs the link until `shutdown`: connects, drains the outbox, forwards incoming messages, publishes the
/// status, reconnects with backoff. Returns only at shutdown (after a clean disconnect) or when the outbox
/// database fails.
pub async fn run(
    settings: LinkSettings,
    store: Arc<OutboxStore>,
    mut io: LinkIo,
    shutdown: CancellationToken,
) -> Result<(), MqttError> {
    let mut drain = Drain::new(store, settings.max_in_flight);
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max, Backoff::random_seed());
    let mut log_limit = LogLimiter::new(Duration::from_secs(60));
    let started = tokio::time::Instant::now();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut unwanted: BTreeSet<String> = BTreeSet::new();
    let mut connection = 0u64;
    loop {
        connection += 1;
        let (client, eventloop) = AsyncClient::new(settings.options(), usize::from(settings.max_in_flight) + 64);
        let outcome = session(
            &settings,
            &client,
            eventloop,
            connection,
            &mut drain,
            &mut wanted,
            &mut unwanted,
            &mut io,
            &shutdown,
        )
        .await;
        let error = match outcome {
            SessionEnd::Shutdown => return Ok(()),
            SessionEnd::Store(e) => return Err(e.into()),
            SessionEnd::Lost { error, was_connected } => {
                if was_connected {
                    backoff.reset();
                    log_limit.reset();
                }
                error
            }
        };
        io.state.send_modify(|s| {
            s.connected = false;
            s.last_error = Some(error.clone());
        });
        let delay = backoff.next_delay();
        if let Some(held_back) = log_limit.allow(started.elapsed()) {
            tracing::warn!(
                broker = %format!("{}:{}", settings.host, settings.port),
                %error,
                retry_in_ms = delay.as_millis() as u64,
                similar_lines_held_back = held_back,
                "central unreachable; events stay queued on disk"
            );
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

enum SessionEnd {
    Shutdown,
    Store(OutboxStoreError),
    Lost { error: String, was_connected: bool },
}

/// One connection, from CONNECT to its loss or to shutdown.
#[allow(clippy::too_many_arguments)]
async fn session(
    settings: &LinkSettings,
    client: &AsyncClient,
    mut eventloop: EventLoop,
    connection: u64,
    drain: &mut Drain,
    wanted: &mut BTreeSet<String>,
    unwanted: &mut BTreeSet<String>,
    io: &mut LinkIo,
    shutdown: &CancellationToken,
) -> SessionEnd {
    let mut requested: VecDeque<Requested> = VecDeque::new();
    let mut connected = false;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                if connected {
                    disconnect_cleanly(settings, client, &mut eventloop).await;
                }
                return SessionEnd::Shutdown;
            }
            polled = eventloop.poll() => {
                let event = match polled {
                    Ok(event) => event,
                    Err(e) => return SessionEnd::Lost { error: describe(&e), was_connected: connected },
                };
                match event {
                    Event::Incoming(Packet::ConnAck(ack)) => {
                        connected = true;
                        tracing::info!(session_present = ack.session_present, "connected to central");
                        io.state.send_modify(|s| {
                            s.connected = true;
                            s.connections += 1;
                            s.last_error = None;
                        });
                        // Subscribe to everything wanted after every connect, not only when the broker lost the
                        // session: SUBSCRIBE is idempotent, a subscription asked for while disconnected (or lost
                        // with a dropped connection before its SUBACK) must reach the broker, and it makes the
                        // broker send the retained snapshot again to a device that still needs it.
                        if !wanted.is_empty() {
                            let filters = wanted.iter().map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                            if let Err(e) = client.try_subscribe_many(filters) {
                                return SessionEnd::Lost { error: format!("subscribe: {e}"), was_connected: true };
                            }
                        }
                        // Filters dropped while disconnected still live in a kept session.
                        if ack.session_present {
                            for f in std::mem::take(unwanted) {
                                if let Err(e) = client.try_unsubscribe(f) {
                                    return SessionEnd::Lost { error: format!("unsubscribe: {e}"), was_connected: true };
                                }
                            }
                        }
                        unwanted.clear();
                        drain.outbox.on_connected();
                        let status = io.status.borrow_and_update().clone();
                        if !status.is_empty() && client.try_publish(settings.topics.status(), QoS::AtLeastOnce, true, status).is_ok() {
                            requested.push_back(Requested::Other);
                        }
                    }
                    Event::Incoming(Packet::PubAck(ack)) => {
                        if let Err(e) = drain.on_puback(ack.pkid) {
                            return SessionEnd::Store(e);
                        }
                        let last = drain.last_acked;
                        io.state.send_if_modified(|s| {
                            let changed = s.last_acked != last;
                            s.last_acked = last;
                            changed
                        });
                    }
                    Event::Outgoing(Outgoing::Publish(pkid)) => {
                        let was_event = requested.pop_front() == Some(Requested::Event);
                        if was_event && drain.outbox.on_outgoing(pkid).is_none() {
                            tracing::error!(pkid, "published an event the drain did not request");
                        }
                    }
                    Event::Incoming(Packet::Publish(publish)) => {
                        let kind = settings.topics.classify(&publish.topic);
                        let message = InboundMessage {
                            kind,
                            topic: publish.topic.clone(),
                            payload: publish.payload.clone(),
                            retained: publish.retain,
                            ack: AckToken { connection, publish },
                        };
                        // The receiver is gone only at shutdown; the message stays unacknowledged.
                        if io.inbound.send(message).await.is_err() {
                            return SessionEnd::Shutdown;
                        }
                    }
                    _ => {}
                }
            }
            Some(token) = io.acks.recv() => {
                if token.connection == connection && client.try_ack(&token.publish).is_err() {
                    tracing::debug!("acknowledgement not sent; the broker will send the message again");
                }
            }
            Some(change) = io.subscriptions.recv() => {
                let result = match change {
                    Subscription::Add(filters) => {
                        for f in &filters {
                            unwanted.remove(f);
                        }
                        let new: Vec<String> = filters.into_iter().filter(|f| wanted.insert(f.clone())).collect();
                        if new.is_empty() || !connected {
                            Ok(())
                        } else {
                            client.try_subscribe_many(new.into_iter().map(|f| rumqttc::SubscribeFilter::new(f, QoS::AtLeastOnce)))
                        }
                    }
                    Subscription::Remove(filters) => {
                        let mut result = Ok(());
                        for f in filters {
                            if wanted.remove(&f) {
                                if connected {
                                    result = result.and(client.try_unsubscribe(f));
                                } else {
                                    unwanted.insert(f);
                                }
                            }
                        }
                        result
                    }
                };
                if let Err(e) = result {
                    return SessionEnd::Lost { error: format!("subscription change: {e}"), was_connected: connected };
                }
            }
            changed = io.status.changed(), if connected => {
                if changed.is_ok() {
                    let status = io.status.borrow_and_update().clone();
                    if client.try_publish(settings.topics.status(), QoS::AtLeastOnce, true, status).is_ok() {
                        requested.push_back(Requested::Other);
                    }
                }
            }
            _ = io.appended.notified(), if connected => {}
        }
        if connected {
            if let Err(e) = fill_window(settings, client, drain, &mut requested) {
                return e;
            }
        }
    }
}

/// Publishes pending events while the window has room.
fn fill_window(
    settings: &LinkSettings,
    client: &AsyncClient,
    drain: &mut Drain,
    requested: &mut VecDeque<Requested>,
) -> Result<(), SessionEnd> {
    drain.top_up().map_err(SessionEnd::Store)?;
    let topic = settings.topics.events();
    while let Some(seq) = drain.outbox.take_next() {
        let Some(bytes) = drain.bytes.get(&seq) else {
            // Loaded seqs always have their bytes; a miss would be a bookkeeping bug: reload from disk.
            return Err(SessionEnd::Lost {
                error: format!("event {seq} missing from the send buffer"),
                was_connected: true,
            });
        };
        client
            .try_publish(topic.clone(), QoS::AtLeastOnce, false, bytes.clone())
            .map_err(|e| SessionEnd::Lost {
                error: format!("publish: {e}"),
                was_connected: true,
            })?;
        requested.push_back(Requested::Event);
        drain.top_up().map_err(SessionEnd::Store)?;
    }
    Ok(())
}

/// Publishes the offline status (a clean DISCONNECT suppresses the last will) and disconnects, waiting a
/// little for both to leave.
async fn disconnect_cleanly(settings: &LinkSettings, client: &AsyncClient, eventloop: &mut EventLoop) {
    let _ = client.try_publish(
        settings.topics.status(),
        QoS::AtLeastOnce,
        true,
        settings.last_will.clone(),
    );
    disconnect(client, eventloop).await;
}

/// Sends DISCONNECT and drives the connection until it is out (or [`DISCONNECT_GRACE`] passed).
async fn disconnect(client: &AsyncClient, eventloop: &mut EventLoop) {
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(DISCONNECT_GRACE, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// A connection error in words a store technician can act on.
fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection: {code:?}"),
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (broker down or wrong port)".into()
        }
        ConnectionError::NetworkTimeout => "no answer from the broker (network timeout)".into(),
        other => explain_tls(&other.to_string()),
    }
}

/// TLS failures arrive as rustls' words inside rumqttc's wrapping; say what a technician should check, and
/// keep the original text for support.
fn explain_tls(raw: &str) -> String {
    const HINTS: [(&str, &str); 7] = [
        (
            "UnknownIssuer",
            "the broker's certificate is not signed by the CA in mqtt.tls.ca_file",
        ),
        ("NotValidForName", "the broker's certificate does not name mqtt.host"),
        ("Expired", "a certificate has expired, or the device clock is wrong"),
        (
            "NotValidYet",
            "a certificate is not valid yet: the device clock is probably not set",
        ),
        (
            "CertificateRequired",
            "the broker wants a client certificate: set mqtt.tls client_cert_file and client_key_file",
        ),
        (
            "UnknownCA",
            "the broker does not trust this device's client certificate",
        ),
        ("BadCertificate", "the broker refused this device's client certificate"),
    ];
    match HINTS.iter().find(|(word, _)| raw.contains(word)) {
        Some((_, hint)) => format!("{hint} ({raw})"),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod describe_tests {
    use super::explain_tls;

    #[test]
    fn tls_failures_say_what_to_check_and_keep_the_original_words() {
        let raw = "Mqtt state: Mqtt serialization/deserialization error: IO: received fatal alert: CertificateRequired";
        let said = explain_tls(raw);
        assert!(
            said.starts_with("the broker wants a client certificate") && said.contains(raw),
            "{said}"
        );
        assert!(explain_tls("TLS: I/O: invalid peer certificate: UnknownIssuer").contains("mqtt.tls.ca_file"));
        assert_eq!(explain_tls("I/O: broken pipe"), "I/O: broken pipe");
    }
}
