//! Short-lived MQTT clients for the tools (`omnigate central …`, `omnigate doctor`): publish a list of messages
//! and wait for every PUBACK ([`publish_all`]), watch topics with reconnects ([`subscribe`]), and the step-by-step
//! probes of the doctor ([`tls_handshake`], [`probe_session`]).
//!
//! Built from the same settings as the daemon's link ([`LinkSettings::from_config`]: password file, TLS with the
//! ring provider, the same error messages), either from command-line flags ([`BrokerParams`]) or from a device
//! configuration's `[mqtt]` section. Unlike the daemon's link, every client here uses a clean session and no last
//! will: a tool must never leave a session behind on the broker, nor speak for a device.
//!
//! Must never touch a device's storage (outbox, catalog): the doctor runs next to a live daemon.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::mpsc;

use super::{Backoff, LinkSettings, MqttError};
use crate::catalog::update::MAX_CHUNK_BYTES;
use crate::central::OutMessage;
use crate::config::{MqttConfig, MqttTlsConfig};

/// Largest packet a tool sends or accepts: a snapshot chunk of the largest allowed size plus header and topic.
/// The broker's own limit (Mosquitto `max_packet_size`) still applies and is reported when it refuses.
const TOOL_MAX_PACKET: usize = MAX_CHUNK_BYTES as usize + 64 * 1024;

/// Publishes a tool keeps unacknowledged at once (bounded memory in rumqttc and in the broker's queue).
const TOOL_IN_FLIGHT: u16 = 32;

/// Broker flags of a tool, as typed (see `omnigate central --help`).
#[derive(Debug, Clone, Default)]
pub struct BrokerParams {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// User name.
    pub username: Option<String>,
    /// File holding the password (never a password on the command line: it would show in `ps`).
    pub password_file: Option<PathBuf>,
    /// CA certificate(s), PEM: TLS when given.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (chain), PEM, for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Client private key, PEM.
    pub key_file: Option<PathBuf>,
    /// MQTT client id.
    pub client_id: String,
}

/// A tool's connection settings, checked once (files read, TLS built).
#[derive(Debug, Clone)]
pub struct ToolOptions {
    settings: LinkSettings,
    connect_timeout_s: u64,
}

/// A tool's MQTT failure, naming the broker and, mid-publish, the topic.
#[derive(Debug, thiserror::Error)]
pub enum OneshotError {
    /// The settings cannot be used (unreadable password file, bad certificate…).
    #[error(transparent)]
    Setup(#[from] MqttError),
    /// No connection was made.
    #[error("broker {broker}: {reason}")]
    Connect {
        /// `host:port`.
        broker: String,
        /// Why, in words a technician can act on.
        reason: String,
    },
    /// The connection failed before every message was acknowledged. Nothing is resumed: run the command again.
    #[error(
        "broker {broker}: connection lost at message {} of {total} ({topic}), {acked} acknowledged: {reason}",
        index + 1
    )]
    Lost {
        /// `host:port`.
        broker: String,
        /// The first message not acknowledged.
        topic: String,
        /// Its position in the list (0-based).
        index: usize,
        /// Messages in the list.
        total: usize,
        /// Messages acknowledged.
        acked: usize,
        /// Why.
        reason: String,
    },
}

impl ToolOptions {
    /// Options from command-line flags: TLS when `ca_file` is given (with the client certificate when both
    /// `cert_file` and `key_file` are).
    pub fn from_params(p: &BrokerParams) -> Result<ToolOptions, OneshotError> {
        // Through serde, so every other setting takes the daemon's documented default.
        let mut cfg: MqttConfig = serde_json::from_value(serde_json::json!({ "host": p.host, "port": p.port }))
            .map_err(|e| MqttError::Tls(format!("broker settings: {e}")))?;
        cfg.username = p.username.clone();
        cfg.password_file = p.password_file.clone();
        cfg.tls = p.ca_file.as_ref().map(|ca| MqttTlsConfig {
            ca_file: ca.clone(),
            client_cert_file: p.cert_file.clone(),
            client_key_file: p.key_file.clone(),
        });
        let mut o = ToolOptions::from_device_config(&cfg, &p.client_id)?;
        o.settings.max_packet_bytes = TOOL_MAX_PACKET;
        o.settings.max_in_flight = TOOL_IN_FLIGHT;
        Ok(o)
    }

    /// Options from a device's `[mqtt]` section, but with client id `client_id` (never the device's own: the
    /// broker would disconnect the running daemon, MQTT allows one connection per client id).
    pub fn from_device_config(cfg: &MqttConfig, client_id: &str) -> Result<ToolOptions, OneshotError> {
        // Topics and last will are the daemon's business; a tool has neither.
        let mut settings = LinkSettings::from_config(cfg, "tool", client_id, Vec::new())?;
        settings.client_id = client_id.to_owned();
        Ok(ToolOptions {
            connect_timeout_s: 5,
            settings,
        })
    }

    /// Seconds allowed for TCP + TLS + CONNACK (default 5).
    pub fn set_connect_timeout(&mut self, timeout: Duration) {
        self.connect_timeout_s = timeout.as_secs().max(1);
    }

    /// The MQTT client id.
    pub fn client_id(&self) -> &str {
        &self.settings.client_id
    }

    /// Broker host.
    pub fn host(&self) -> &str {
        &self.settings.host
    }

    /// Broker port.
    pub fn port(&self) -> u16 {
        self.settings.port
    }

    /// `host:port`, for messages.
    pub fn broker(&self) -> String {
        format!("{}:{}", self.settings.host, self.settings.port)
    }

    /// Whether the connection uses TLS.
    pub fn uses_tls(&self) -> bool {
        self.settings.tls.is_some()
    }

    /// Whether a user name (and password) is sent.
    pub fn has_credentials(&self) -> bool {
        self.settings.credentials.is_some()
    }

    /// Reconnect pacing, from the same settings as the daemon's.
    fn backoff(&self) -> Backoff {
        Backoff::new(
            self.settings.backoff_initial,
            self.settings.backoff_max,
            Backoff::random_seed(),
        )
    }

    fn mqtt_options(&self) -> MqttOptions {
        let s = &self.settings;
        let mut o = MqttOptions::new(&s.client_id, &s.host, s.port);
        o.set_keep_alive(s.keep_alive)
            // A tool leaves nothing behind: no queued messages for a client id that never comes back.
            .set_clean_session(true)
            .set_max_packet_size(s.max_packet_bytes, s.max_packet_bytes)
            .set_inflight(s.max_in_flight.max(1))
            .set_request_channel_capacity(usize::from(s.max_in_flight) + 16);
        if let Some((user, password)) = &s.credentials {
            o.set_credentials(user, password);
        }
        if let Some(tls) = &s.tls {
            o.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        o
    }

    fn client(&self) -> (AsyncClient, EventLoop) {
        let (client, mut eventloop) =
            AsyncClient::new(self.mqtt_options(), usize::from(self.settings.max_in_flight) + 16);
        let mut net = eventloop.network_options();
        net.set_connection_timeout(self.connect_timeout_s);
        eventloop.set_network_options(net);
        (client, eventloop)
    }
}

/// Publishes `messages` with QoS 1, in order, at most the window unacknowledged at once, and returns only once
/// the broker acknowledged every one. `progress(acknowledged, total)` is called after each PUBACK (and once
/// with 0 at the start). A connection that fails (or never comes up) ends it with an error naming the first
/// unacknowledged topic; nothing is resumed or retried: the caller runs the whole list again.
pub async fn publish_all(
    options: &ToolOptions,
    messages: &[OutMessage],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), OneshotError> {
    let total = messages.len();
    progress(0, total);
    let window = usize::from(options.settings.max_in_flight.max(1));
    let (client, mut eventloop) = options.client();
    let mut next = 0usize;
    // Asked of rumqttc and not yet sent: its `Outgoing::Publish` events come in request order.
    let mut requested: VecDeque<usize> = VecDeque::new();
    let mut in_flight: HashMap<u16, usize> = HashMap::new();
    let mut acked = 0usize;
    let mut connected = false;
    if total == 0 {
        // Still connect: "nothing to send" must not hide a broker that is down or refuses us.
        let _ = client.try_disconnect();
    }
    loop {
        if connected {
            while next < total && requested.len() + in_flight.len() < window {
                let m = &messages[next];
                if let Err(e) = client.try_publish(m.topic.clone(), QoS::AtLeastOnce, m.retain, m.payload.clone()) {
                    return Err(lost(options, messages, next, acked, format!("publish: {e}")));
                }
                requested.push_back(next);
                next += 1;
            }
        }
        let event = match eventloop.poll().await {
            Ok(event) => event,
            Err(e) => {
                if !connected {
                    return Err(OneshotError::Connect {
                        broker: options.broker(),
                        reason: super::describe(&e),
                    });
                }
                if total == 0 {
                    return Ok(());
                }
                let first = in_flight
                    .values()
                    .chain(requested.iter())
                    .copied()
                    .min()
                    .unwrap_or(next.min(total.saturating_sub(1)));
                return Err(lost(options, messages, first, acked, super::describe(&e)));
            }
        };
        match event {
            Event::Incoming(Packet::ConnAck(_)) => {
                connected = true;
                tracing::debug!(broker = %options.broker(), "connected");
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(index) = requested.pop_front() {
                    in_flight.insert(pkid, index);
                }
            }
            Event::Incoming(Packet::PubAck(ack)) if in_flight.remove(&ack.pkid).is_some() => {
                acked += 1;
                progress(acked, total);
                if acked == total {
                    super::disconnect(&client, &mut eventloop).await;
                    return Ok(());
                }
            }
            Event::Outgoing(Outgoing::Disconnect) if total == 0 => return Ok(()),
            _ => {}
        }
    }
}

fn lost(options: &ToolOptions, messages: &[OutMessage], index: usize, acked: usize, reason: String) -> OneshotError {
    OneshotError::Lost {
        broker: options.broker(),
        topic: messages.get(index).map(|m| m.topic.clone()).unwrap_or_default(),
        index,
        total: messages.len(),
        acked,
        reason,
    }
}

/// What a watching client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// Connected (again) and subscribed.
    Connected,
    /// The broker refused a subscription (SUBACK failure: usually the ACL).
    Refused(String),
    /// The connection failed or was lost; reconnecting after a pause.
    Lost(String),
    /// A message.
    Message {
        /// Full topic.
        topic: String,
        /// Payload.
        payload: bytes::Bytes,
        /// Retained (delivered because of the subscription, e.g. a device's last status).
        retained: bool,
    },
}

/// Subscribes to `filters` (QoS 1, clean session: a viewer leaves no queue behind) in a task of the current
/// tokio runtime, and hands out what arrives. Reconnects with backoff and subscribes again after each
/// connection (so retained messages come again: the receiver must tolerate repeats). Stops when the receiver is
/// dropped.
pub fn subscribe(options: ToolOptions, filters: Vec<String>) -> mpsc::Receiver<Watched> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let mut backoff = options.backoff();
        loop {
            let (client, mut eventloop) = options.client();
            let mut asked: VecDeque<Vec<String>> = VecDeque::new();
            let error = loop {
                let event = tokio::select! {
                    _ = tx.closed() => {
                        super::disconnect(&client, &mut eventloop).await;
                        return;
                    }
                    polled = eventloop.poll() => polled,
                };
                let out = match event {
                    Err(e) => break super::describe(&e),
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff.reset();
                        let subs = filters
                            .iter()
                            .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                        if let Err(e) = client.try_subscribe_many(subs) {
                            break format!("subscribe: {e}");
                        }
                        asked.push_back(filters.clone());
                        continue;
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let asked_filters = asked.pop_front().unwrap_or_default();
                        for (i, code) in ack.return_codes.iter().enumerate() {
                            if *code == rumqttc::SubscribeReasonCode::Failure {
                                let f = asked_filters.get(i).cloned().unwrap_or_default();
                                if tx.send(Watched::Refused(f)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Watched::Connected
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => Watched::Message {
                        topic: p.topic.clone(),
                        payload: p.payload.clone(),
                        retained: p.retain,
                    },
                    Ok(_) => continue,
                };
                if tx.send(out).await.is_err() {
                    super::disconnect(&client, &mut eventloop).await;
                    return;
                }
            };
            if tx.send(Watched::Lost(error)).await.is_err() {
                return;
            }
            let delay = backoff.next_delay();
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    });
    rx
}

/// Why a TLS handshake failed, in the doctor's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsProblem {
    /// The broker's certificate is not signed by the configured CA.
    #[error("the broker's certificate is not signed by the configured CA (unknown issuer)")]
    UnknownCa,
    /// The broker's certificate has expired (or the clock is ahead).
    #[error("the broker's certificate has expired, according to this device's clock")]
    Expired,
    /// The broker's certificate is not valid yet (or the clock is behind).
    #[error("the broker's certificate is not valid yet, according to this device's clock")]
    NotYetValid,
    /// The certificate is for another host name.
    #[error("the broker's certificate is not issued for the configured host name")]
    NameMismatch,
    /// The broker wants a client certificate and none was sent.
    #[error("the broker requires a client certificate and none was sent")]
    ClientCertRequired,
    /// The broker refused the client certificate.
    #[error("the broker refused this device's client certificate ({0})")]
    ClientCertRefused(String),
    /// The port does not speak TLS.
    #[error("the broker did not answer with TLS (plain MQTT on this port?): {0}")]
    NotTls(String),
    /// No answer in time.
    #[error("no TLS answer within the time limit")]
    Timeout,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Runs a TLS handshake on a connected socket with the options' TLS settings (blocking, `timeout` per read);
/// `Ok(None)` when the options use no TLS, `Ok(Some(protocol))` once the broker's certificate was accepted.
///
/// With TLS 1.3 a broker that requires a client certificate says so only after the client finished its part;
/// that refusal shows in [`probe_session`] (classified with [`classify_tls`]).
pub fn tls_handshake(
    options: &ToolOptions,
    mut tcp: TcpStream,
    timeout: Duration,
) -> Result<Option<String>, TlsProblem> {
    let Some(config) = &options.settings.tls else {
        return Ok(None);
    };
    let name = rustls::pki_types::ServerName::try_from(options.settings.host.clone())
        .map_err(|e| TlsProblem::Other(format!("host {:?} is not a valid TLS server name: {e}", options.host())))?;
    let mut conn = rustls::ClientConnection::new(Arc::clone(config), name).map_err(|e| classify_rustls(&e))?;
    tcp.set_read_timeout(Some(timeout))
        .and_then(|()| tcp.set_write_timeout(Some(timeout)))
        .map_err(|e| TlsProblem::Other(e.to_string()))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            return Err(classify_io(&e));
        }
    }
    // Flush our last flight so the broker can judge a client certificate (and the connection closes cleanly).
    let _ = conn.complete_io(&mut tcp);
    let protocol = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_else(|| "TLS".to_owned());
    conn.send_close_notify();
    let _ = conn.complete_io(&mut tcp);
    let _ = tcp.flush();
    Ok(Some(protocol))
}

fn classify_io(e: &std::io::Error) -> TlsProblem {
    if let Some(r) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return classify_rustls(r);
    }
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => TlsProblem::Timeout,
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
            TlsProblem::Other(format!("the broker closed the connection during the handshake ({e})"))
        }
        _ => TlsProblem::Other(e.to_string()),
    }
}

fn classify_rustls(e: &rustls::Error) -> TlsProblem {
    use rustls::{AlertDescription as A, CertificateError as C};
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => TlsProblem::UnknownCa,
            C::Expired | C::ExpiredContext { .. } => TlsProblem::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => TlsProblem::NotYetValid,
            C::NotValidForName | C::NotValidForNameContext { .. } => TlsProblem::NameMismatch,
            other => TlsProblem::Other(format!("the broker's certificate is unusable: {other:?}")),
        },
        rustls::Error::AlertReceived(A::CertificateRequired) => TlsProblem::ClientCertRequired,
        rustls::Error::AlertReceived(a @ (A::BadCertificate | A::UnknownCA | A::CertificateExpired)) => {
            TlsProblem::ClientCertRefused(format!("{a:?}"))
        }
        rustls::Error::AlertReceived(A::HandshakeFailure) => TlsProblem::Other(
            "the broker ended the handshake (HandshakeFailure: often a missing client certificate, or no common \
             TLS version)"
                .to_owned(),
        ),
        rustls::Error::InvalidMessage(m) => TlsProblem::NotTls(format!("{m:?}")),
        other => TlsProblem::Other(other.to_string()),
    }
}

/// A TLS problem inside a connection error (rumqttc reports TLS failures as its own error or as I/O errors
/// carrying rustls' error), if there is one.
fn classify_tls(e: &ConnectionError) -> Option<TlsProblem> {
    match e {
        ConnectionError::Tls(rumqttc::TlsError::TLS(r)) => Some(classify_rustls(r)),
        ConnectionError::Tls(rumqttc::TlsError::Io(io)) | ConnectionError::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(classify_rustls),
        ConnectionError::Tls(other) => Some(TlsProblem::Other(other.to_string())),
        _ => None,
    }
}

/// How an MQTT session attempt ended, for the doctor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionProbe {
    /// CONNACK accepted; per filter asked, whether the broker granted the subscription (SUBACK not 0x80).
    Connected {
        /// `(filter, granted)` in the order asked.
        subscriptions: Vec<(String, bool)>,
    },
    /// CONNACK with a refusal code.
    Refused {
        /// The MQTT 3.1.1 return code (1..=5).
        code: u8,
        /// What it means.
        meaning: &'static str,
    },
    /// TLS failed during the connection (e.g. a client certificate refused after a TLS 1.3 handshake).
    Tls(TlsProblem),
    /// Anything else (timeout, reset, protocol error).
    Failed(String),
}

/// Connects once (clean session, the options' client id), subscribes to `filters` and reports the CONNACK and
/// SUBACK outcomes, then unsubscribes and disconnects. Publishes nothing. `timeout` bounds the whole attempt.
pub async fn probe_session(options: &ToolOptions, filters: &[String], timeout: Duration) -> SessionProbe {
    let (client, mut eventloop) = options.client();
    let result = tokio::time::timeout(timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if filters.is_empty() {
                        return SessionProbe::Connected {
                            subscriptions: Vec::new(),
                        };
                    }
                    let subs = filters
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    if let Err(e) = client.try_subscribe_many(subs) {
                        return SessionProbe::Failed(format!("subscribe: {e}"));
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    let subscriptions = filters
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            let granted = ack
                                .return_codes
                                .get(i)
                                .is_some_and(|c| *c != rumqttc::SubscribeReasonCode::Failure);
                            (f.clone(), granted)
                        })
                        .collect();
                    return SessionProbe::Connected { subscriptions };
                }
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => {
                    let (code, meaning) = refusal(code);
                    return SessionProbe::Refused { code, meaning };
                }
                Err(e) => {
                    return match classify_tls(&e) {
                        Some(t) => SessionProbe::Tls(t),
                        None => SessionProbe::Failed(super::describe(&e)),
                    }
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| SessionProbe::Failed(format!("no CONNACK/SUBACK within {} s", timeout.as_secs())));
    if matches!(result, SessionProbe::Connected { .. }) {
        for f in filters {
            let _ = client.try_unsubscribe(f.clone());
        }
        super::disconnect(&client, &mut eventloop).await;
    }
    result
}

/// The MQTT 3.1.1 CONNACK return code and its meaning.
fn refusal(code: ConnectReturnCode) -> (u8, &'static str) {
    match code {
        ConnectReturnCode::Success => (0, "accepted"),
        ConnectReturnCode::RefusedProtocolVersion => (1, "unacceptable protocol version"),
        ConnectReturnCode::BadClientId => (2, "client identifier rejected"),
        ConnectReturnCode::ServiceUnavailable => (3, "server unavailable"),
        ConnectReturnCode::BadUserNamePassword => (4, "bad user name or password"),
        ConnectReturnCode::NotAuthorized => (5, "not authorised"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_are_named_the_way_a_technician_can_act_on() {
        use rustls::CertificateError as C;
        let cases = [
            (C::UnknownIssuer, TlsProblem::UnknownCa),
            (C::Expired, TlsProblem::Expired),
            (C::NotValidYet, TlsProblem::NotYetValid),
            (C::NotValidForName, TlsProblem::NameMismatch),
        ];
        for (error, expected) in cases {
            assert_eq!(classify_rustls(&rustls::Error::InvalidCertificate(error)), expected);
        }
        assert_eq!(
            classify_rustls(&rustls::Error::AlertReceived(
                rustls::AlertDescription::CertificateRequired
            )),
            TlsProblem::ClientCertRequired
        );
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(C::UnknownIssuer),
        );
        assert_eq!(classify_io(&wrapped), TlsProblem::UnknownCa);
        assert_eq!(
            classify_tls(&ConnectionError::Io(wrapped)),
            Some(TlsProblem::UnknownCa),
            "rumqttc passes rustls errors inside I/O errors"
        );
        assert_eq!(classify_tls(&ConnectionError::NetworkTimeout), None);
    }

    #[test]
    fn connack_refusals_carry_their_mqtt_return_code() {
        assert_eq!(refusal(ConnectReturnCode::BadUserNamePassword).0, 4);
        assert_eq!(refusal(ConnectReturnCode::NotAuthorized).0, 5);
    }
}
