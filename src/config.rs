//! Configuration: the typed shape of `omnigate.toml`, loaded and validated once at start.
//!
//! Owns: parsing, unknown-key rejection, cross-field validation and error messages that name the file, the
//! key and the reason. A till fails fast on bad config; nothing else in omnigate reads the file.
//! Relative paths in the file are resolved against the file's own directory, so the daemon behaves the same
//! whatever directory systemd or a developer starts it from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A configuration that cannot be used: the file, the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A key is missing, unknown, of the wrong type or has an unusable value.
    #[error("{file}{}: {key}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Line in the file, when known.
        line: Option<usize>,
        /// Dotted key, e.g. `scanner.serial.baud`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who this device is.
    pub device: DeviceConfig,
    /// The local catalog database.
    pub catalog: CatalogConfig,
    /// The barcode scanner.
    pub scanner: ScannerConfig,
    /// The display panel.
    pub display: DisplayConfig,
    /// Good-read LED and buzzer.
    #[serde(default)]
    pub feedback: FeedbackConfig,
    /// Store-specific barcode rules.
    #[serde(default)]
    pub barcode: BarcodeConfig,
    /// The queue of events for central.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// The link to central. Absent: the device runs offline and queues every event.
    #[serde(default)]
    pub mqtt: Option<MqttConfig>,
    /// Trust in what central sends (catalog updates, commands).
    #[serde(default)]
    pub central: Option<CentralTrustConfig>,
    /// The self-checkout. Absent: the device is a price-check kiosk only.
    #[serde(default)]
    pub checkout: Option<CheckoutConfig>,
    /// The payment terminal; required with `[checkout]` (never a silent default that takes money).
    #[serde(default)]
    pub payment: Option<crate::payment::PaymentConfig>,
    /// The receipt printer. Absent or `kind = "none"`: e-receipts only (the QR code on screen).
    #[serde(default)]
    pub printer: crate::printer::PrinterConfig,
    /// The receipt's header and footer; required with `[checkout]`.
    #[serde(default)]
    pub receipt: Option<crate::checkout::receipt::ReceiptHeader>,
    /// Pay, Cancel and Help (default none).
    #[serde(default)]
    pub buttons: crate::buttons::ButtonsConfig,
    /// The station's status light (default none).
    #[serde(default)]
    pub status_led: crate::status_led::StatusLedConfig,
}

/// `[checkout]`: this device is a self-checkout station.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutConfig {
    /// An open basket without any input for this long is abandoned (a `checkout.abandoned` event).
    #[serde(default = "default_abandon_after_s")]
    pub abandon_after_s: u64,
    /// A payment without an answer from the terminal for this long is reconciled (the terminal is queried).
    #[serde(default = "default_payment_timeout_s")]
    pub payment_timeout_s: u64,
    /// While reconciling, the terminal is queried again this often.
    #[serde(default = "default_requery_every_s")]
    pub requery_every_s: u64,
    /// The receipt screen stays this long.
    #[serde(default = "default_receipt_for_s")]
    pub receipt_for_s: u64,
    /// Loyalty points per whole euro paid (shown provisional until central books the sale).
    #[serde(default = "default_points_per_euro")]
    pub points_per_euro: u32,
    /// The e-receipt in the shopper's online account: `{receipt}` is replaced by the receipt number. Printed
    /// as a QR code, and shown on screen when the receipt could not be printed.
    pub e_receipt_url: String,
    /// Staff who may open staff mode with their badge and PIN.
    #[serde(default)]
    pub staff: Vec<crate::checkout::station::StaffMember>,
}

fn default_abandon_after_s() -> u64 {
    180
}
fn default_payment_timeout_s() -> u64 {
    120
}
fn default_requery_every_s() -> u64 {
    5
}
fn default_receipt_for_s() -> u64 {
    30
}
fn default_points_per_euro() -> u32 {
    1
}

impl CheckoutConfig {
    /// The basket's timeouts and rules, for `business_date`.
    pub fn env(&self, business_date: crate::catalog::CalendarDate) -> crate::checkout::basket::Env {
        crate::checkout::basket::Env {
            business_date,
            abandon_after: Duration::from_secs(self.abandon_after_s),
            payment_timeout: Duration::from_secs(self.payment_timeout_s),
            requery_every: Duration::from_secs(self.requery_every_s),
            receipt_for: Duration::from_secs(self.receipt_for_s),
            points_per_euro: self.points_per_euro,
        }
    }

    /// The e-receipt address of `receipt_number`.
    pub fn e_receipt_url_for(&self, receipt_number: &str) -> String {
        self.e_receipt_url.replace("{receipt}", receipt_number)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: &str, r: &str| Err((format!("checkout.{k}"), r.to_string()));
        for (key, v, range) in [
            ("abandon_after_s", self.abandon_after_s, 10..=86_400),
            ("payment_timeout_s", self.payment_timeout_s, 5..=3_600),
            ("requery_every_s", self.requery_every_s, 1..=600),
            ("receipt_for_s", self.receipt_for_s, 3..=3_600),
        ] {
            if !range.contains(&v) {
                return Err((
                    format!("checkout.{key}"),
                    format!("must be between {} and {}", range.start(), range.end()),
                ));
            }
        }
        if self.points_per_euro > 1000 {
            return err("points_per_euro", "must be at most 1000");
        }
        if !self.e_receipt_url.starts_with("https://") || !self.e_receipt_url.contains("{receipt}") {
            return err(
                "e_receipt_url",
                "must be an https:// address containing {receipt}, e.g. https://shop.example/r/{receipt}",
            );
        }
        if self.e_receipt_url.len() > 200 {
            // The QR code must stay scannable on a 58 mm receipt and a small screen.
            return err("e_receipt_url", "must be at most 200 characters");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.staff.iter().enumerate() {
            if m.id.is_empty() || m.name.trim().is_empty() {
                return Err((format!("checkout.staff[{i}]"), "id and name must not be empty".into()));
            }
            if m.pin_sha256.len() != 64 || !m.pin_sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err((
                    format!("checkout.staff[{i}].pin_sha256"),
                    "must be 64 hex digits (`omnigate staff pin-hash ID` prints it)".into(),
                ));
            }
            if !seen.insert(m.id.as_str()) {
                return Err((format!("checkout.staff[{i}].id"), format!("{:?} is listed twice", m.id)));
            }
        }
        Ok(())
    }
}

/// `[outbox]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Disk budget for events not yet acknowledged by central, in MiB. When it is full telemetry is dropped
    /// (and counted) and the kiosk stops taking sales, saying why; money events are never dropped.
    #[serde(default = "default_outbox_budget_mb")]
    pub budget_mb: u64,
    /// sled page cache of the outbox database, in MiB.
    #[serde(default = "default_outbox_cache_mb")]
    pub cache_capacity_mb: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            budget_mb: default_outbox_budget_mb(),
            cache_capacity_mb: default_outbox_cache_mb(),
        }
    }
}

fn default_outbox_budget_mb() -> u64 {
    256
}
fn default_outbox_cache_mb() -> u64 {
    2
}

/// `[mqtt]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port (8883 for TLS, 1883 plain).
    pub port: u16,
    /// Seconds between keep-alive pings.
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u64,
    /// Largest MQTT packet sent or accepted, in bytes (catalog chunks must fit).
    #[serde(default = "default_max_packet_bytes")]
    pub max_packet_bytes: usize,
    /// Events published and not yet acknowledged at once.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u16,
    /// First pause after a failed connection; doubles (with jitter) up to `backoff_max_ms`.
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// Longest pause between connection attempts.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Seconds between retained status publications (also published on every change).
    #[serde(default = "default_status_interval_s")]
    pub status_interval_s: u64,
    /// User name for the broker (defaults to none).
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the broker password (kept out of this file so it can be readable by root only).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// TLS settings; absent means plain TCP (development only).
    #[serde(default)]
    pub tls: Option<MqttTlsConfig>,
}

fn default_keep_alive_s() -> u64 {
    30
}
fn default_max_packet_bytes() -> usize {
    256 * 1024
}
fn default_max_in_flight() -> u16 {
    32
}
fn default_backoff_initial_ms() -> u64 {
    500
}
fn default_backoff_max_ms() -> u64 {
    60_000
}
fn default_status_interval_s() -> u64 {
    60
}

/// `[mqtt.tls]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttTlsConfig {
    /// PEM file with the CA certificate(s) that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// PEM client certificate (chain) for mutual TLS; requires `client_key_file`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
}

/// `[central]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentralTrustConfig {
    /// Central's Ed25519 public key (base64 of 32 bytes), from `omnigate central keygen`. Catalog updates
    /// and commands not signed by it are rejected.
    pub public_key: String,
}

/// UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Italiano.
    It,
    /// English.
    En,
}

/// `[device]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Store id as central knows it (letters, digits, `-`, `_`).
    pub store_id: String,
    /// Device id, unique in the fleet (letters, digits, `-`, `_`).
    pub device_id: String,
    /// Shopper-facing language.
    pub language: Language,
    /// Where the catalog database and other state live (systemd's StateDirectory in production).
    pub state_dir: PathBuf,
}

/// `[catalog]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// sled page cache in MiB. Set explicitly: sled's default of 1 GiB would swallow a Pi's memory.
    pub cache_capacity_mb: u64,
    /// JSON Lines file imported at start when the local catalog is empty (the demo catalog in dev).
    #[serde(default)]
    pub seed_file: Option<PathBuf>,
}

/// Which scanner backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScannerKind {
    /// Serial (USB CDC-ACM or RS-232), `[scanner.serial]`.
    Serial,
    /// USB HID keyboard wedge via evdev, `[scanner.hid]`.
    Hid,
    /// One code per line on standard input (development).
    Stdin,
}

/// `[scanner]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// Backend.
    pub kind: ScannerKind,
    /// The same code read again within this window is ignored (a scanner re-reading a label held still).
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
    /// Longest pause between attempts to reopen an unplugged scanner.
    #[serde(default = "default_reopen_max_ms")]
    pub reopen_backoff_max_ms: u64,
    /// Serial settings (required when `kind = "serial"`).
    #[serde(default)]
    pub serial: Option<SerialConfig>,
    /// HID settings (required when `kind = "hid"`).
    #[serde(default)]
    pub hid: Option<HidConfig>,
}

fn default_debounce_ms() -> u64 {
    800
}
fn default_reopen_max_ms() -> u64 {
    5000
}

/// End-of-code marker a serial scanner sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Terminator {
    /// Carriage return (most scanners' default).
    Cr,
    /// Line feed.
    Lf,
    /// CR LF.
    Crlf,
    /// No terminator: a code ends when the line is quiet for `inter_char_timeout_ms`.
    None,
}

/// `[scanner.serial]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// Device path, e.g. `/dev/ttyACM0` or a udev symlink `/dev/omnigate-scanner`.
    pub path: PathBuf,
    /// Baud rate.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// End-of-code marker.
    #[serde(default = "default_terminator")]
    pub terminator: Terminator,
    /// Silence after which a partial code is complete (terminator `none`), or else discarded together with
    /// whatever follows it up to the next terminator (the tail of a cut EAN-13 can pass as a valid EAN-8).
    #[serde(default = "default_inter_char_ms")]
    pub inter_char_timeout_ms: u64,
}

fn default_baud() -> u32 {
    9600
}
fn default_terminator() -> Terminator {
    Terminator::Cr
}
fn default_inter_char_ms() -> u64 {
    50
}

/// `[scanner.hid]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HidConfig {
    /// evdev node, e.g. `/dev/input/by-id/usb-Datalogic_Scanner-event-kbd`.
    pub device: PathBuf,
    /// Grab the device so its keystrokes never reach a console or another program.
    #[serde(default = "default_true")]
    pub grab: bool,
    /// End-of-code key the scanner is programmed to send.
    #[serde(default = "default_hid_terminator")]
    pub terminator: HidTerminator,
    /// Silence after which a partial code is discarded with its rest up to the next terminator (terminator
    /// `enter` or `tab`: a USB stall must not turn a cut EAN-13 into a valid EAN-8) or complete (`none`).
    #[serde(default = "default_inter_char_ms")]
    pub inter_key_timeout_ms: u64,
}

/// End-of-code key of a USB HID scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HidTerminator {
    /// Enter or keypad Enter (most scanners' factory setting).
    Enter,
    /// Tab.
    Tab,
    /// No suffix: a code ends after `inter_key_timeout_ms` of silence.
    None,
}

fn default_hid_terminator() -> HidTerminator {
    HidTerminator::Enter
}

fn default_true() -> bool {
    true
}

/// Which panel driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelKind {
    /// Sitronix ST7789 over SPI, `[display.spi]`.
    St7789,
    /// Ilitek ILI9341 over SPI, `[display.spi]`.
    Ili9341,
    /// Solomon SSD1306 128×64 monochrome over I2C, `[display.i2c]`.
    Ssd1306,
    /// Headless: every frame written as PNG, `[display.simulator]`.
    Simulator,
}

/// `[display]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayConfig {
    /// Driver.
    pub kind: PanelKind,
    /// Rotation in degrees (0, 90, 180, 270) for SPI panels.
    #[serde(default)]
    pub rotation: u16,
    /// SPI panel settings.
    #[serde(default)]
    pub spi: Option<SpiPanelConfig>,
    /// I2C panel settings.
    #[serde(default)]
    pub i2c: Option<I2cPanelConfig>,
    /// Simulator settings.
    #[serde(default)]
    pub simulator: Option<SimulatorConfig>,
    /// A result screen (product, not found, invalid) goes back to the attract screen after this many seconds.
    #[serde(default = "default_idle_after_s")]
    pub idle_after_s: u64,
}

fn default_idle_after_s() -> u64 {
    15
}

/// A GPIO line, chosen by chip label (stable across Pi kernels) and line offset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinConfig {
    /// gpiochip label, e.g. `pinctrl-bcm2711` (Pi 4) or `pinctrl-rp1` (Pi 5).
    pub chip: String,
    /// Line offset on that chip (BCM GPIO number on a Pi).
    pub line: u32,
    /// The device is on when the line is low.
    #[serde(default)]
    pub active_low: bool,
}

/// `[display.spi]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpiPanelConfig {
    /// spidev node.
    pub device: PathBuf,
    /// SPI clock.
    #[serde(default = "default_spi_hz")]
    pub speed_hz: u32,
    /// Data/command pin.
    pub dc: PinConfig,
    /// Reset pin.
    #[serde(default)]
    pub reset: Option<PinConfig>,
    /// Backlight enable pin.
    #[serde(default)]
    pub backlight: Option<PinConfig>,
    /// Panel width in pixels (before rotation).
    pub width: u16,
    /// Panel height in pixels (before rotation).
    pub height: u16,
    /// Most ST7789 modules need inverted colours.
    #[serde(default = "default_true")]
    pub invert_colors: bool,
}

fn default_spi_hz() -> u32 {
    40_000_000
}

/// `[display.i2c]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct I2cPanelConfig {
    /// i2c-dev node.
    pub device: PathBuf,
    /// 7-bit address.
    #[serde(default = "default_i2c_addr")]
    pub address: u8,
}

fn default_i2c_addr() -> u8 {
    0x3c
}

/// `[display.simulator]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Where `screen.png` (the frame on screen now) is written.
    pub output_dir: PathBuf,
    /// Width in pixels.
    #[serde(default = "default_sim_w")]
    pub width: u32,
    /// Height in pixels.
    #[serde(default = "default_sim_h")]
    pub height: u32,
}

fn default_sim_w() -> u32 {
    240
}
fn default_sim_h() -> u32 {
    320
}

/// Which feedback backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackKind {
    /// LED and buzzer on GPIO lines.
    Gpio,
    /// Logged only (development, tests).
    #[default]
    Simulated,
}

/// `[feedback]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackConfig {
    /// Backend.
    #[serde(default)]
    pub kind: FeedbackKind,
    /// Good-read LED.
    #[serde(default)]
    pub led: Option<PinConfig>,
    /// Buzzer (active buzzer: on = sound).
    #[serde(default)]
    pub buzzer: Option<PinConfig>,
}

/// `[barcode]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BarcodeConfig {
    /// Restricted-circulation variable-measure templates, tried in order.
    #[serde(default = "default_vm_templates")]
    pub variable_measure: Vec<VariableMeasureTemplate>,
    /// Store-issued codes (loyalty cards, staff badges, online-order codes).
    #[serde(default)]
    pub store_codes: Vec<StoreCodePattern>,
}

impl Default for BarcodeConfig {
    fn default() -> Self {
        BarcodeConfig {
            variable_measure: default_vm_templates(),
            store_codes: Vec::new(),
        }
    }
}

fn default_vm_templates() -> Vec<VariableMeasureTemplate> {
    vec![VariableMeasureTemplate {
        template: "2IIIIIIPPPPPC".into(),
    }]
}

/// One variable-measure layout over the 13 digits of an EAN-13.
///
/// Letters: digits are the literal prefix, `I` item code, `P` price in cents, `W` weight in grams,
/// `V` price/weight verifier digit (GS1 GenSpecs §7.9), `C` the EAN-13 check digit. Example (Italy):
/// `2IIIIIIPPPPPC`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableMeasureTemplate {
    /// The layout.
    pub template: String,
}

/// What a store-issued code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreCodeKind {
    /// Loyalty card.
    Loyalty,
    /// Staff badge.
    Staff,
    /// Online-order collection code.
    Order,
}

/// A store-issued code: literal characters, `#` any digit, `?` any letter or digit, `*` any number of
/// letters or digits. What the wildcards match is the id (card number, staff id, order id).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreCodePattern {
    /// What the code is.
    pub kind: StoreCodeKind,
    /// The pattern, e.g. `2990#########` or `ORD-*`.
    pub pattern: String,
}

impl Config {
    /// Reads, parses and validates `file`. Relative paths are resolved against the file's directory.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::parse(&text, file)?;
        let base = file.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        Ok(cfg)
    }

    /// Parses and validates TOML text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let mut key = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.span().map(|s| {
                text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1
            });
            let reason = inner.message().trim().to_string();
            // serde reports a missing or unknown field at its parent table: name the field itself.
            for prefix in ["missing field `", "unknown field `"] {
                if let Some(rest) = reason.strip_prefix(prefix) {
                    if let Some(name) = rest.split('`').next() {
                        key = if key == "." || key.is_empty() {
                            name.to_string()
                        } else if key.ends_with(name) {
                            key
                        } else {
                            format!("{key}.{name}")
                        };
                    }
                }
            }
            if key == "." {
                key = "(top level)".into();
            }
            ConfigError::Invalid {
                file: file.to_path_buf(),
                line,
                key,
                reason,
            }
        })?;
        cfg.validate().map_err(|(key, reason)| ConfigError::Invalid {
            file: file.to_path_buf(),
            line: None,
            key,
            reason,
        })?;
        Ok(cfg)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.device.state_dir);
        if let Some(p) = self.catalog.seed_file.as_mut() {
            fix(p);
        }
        if let Some(s) = self.display.simulator.as_mut() {
            fix(&mut s.output_dir);
        }
        if let Some(p) = self.payment.as_mut().and_then(|p| p.journal.as_mut()) {
            fix(p);
        }
        if let Some(p) = self.printer.path.as_mut() {
            fix(p);
        }
        if let Some(m) = self.mqtt.as_mut() {
            if let Some(p) = m.password_file.as_mut() {
                fix(p);
            }
            if let Some(t) = m.tls.as_mut() {
                fix(&mut t.ca_file);
                if let Some(p) = t.client_cert_file.as_mut() {
                    fix(p);
                }
                if let Some(p) = t.client_key_file.as_mut() {
                    fix(p);
                }
            }
        }
    }

    /// Cross-field rules serde cannot express. Returns (key, reason).
    fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: &str, r: &str| Err((k.to_string(), r.to_string()));
        if let Some(c) = &self.checkout {
            c.validate()?;
            match &self.payment {
                None => return err("payment", "required with [checkout]: the terminal that takes the money"),
                Some(p) => p.validate().map_err(|e| (format!("payment.{}", e.key), e.reason))?,
            }
            match &self.receipt {
                None => {
                    return err(
                        "receipt",
                        "required with [checkout]: the store name and VAT number printed",
                    )
                }
                Some(r) => r.validate().map_err(|e| (e.key, e.reason))?,
            }
        }
        self.printer.validate().map_err(|e| (e.key, e.reason))?;
        self.buttons.validate().map_err(|e| (e.key, e.reason))?;
        if let (Some(keypad), Some(hid)) = (&self.buttons.keypad, &self.scanner.hid) {
            // Both are grabbed: the second grab would fail and be retried quietly forever.
            if self.scanner.kind == ScannerKind::Hid && *keypad == hid.device {
                return err(
                    "buttons.keypad",
                    "is the scanner's device (scanner.hid.device): name the keypad's own",
                );
            }
        }
        self.status_led.validate().map_err(|e| (e.key, e.reason))?;
        for (key, v) in [
            ("device.store_id", &self.device.store_id),
            ("device.device_id", &self.device.device_id),
        ] {
            // Ids end up in MQTT topic names and receipt numbers: keep them to a safe alphabet.
            if v.is_empty() || v.len() > 64 {
                return err(key, "must be 1 to 64 characters");
            }
            if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return err(key, "may only contain letters, digits, '-' and '_'");
            }
        }
        // The service unit caps memory at 128 MB (MemoryMax): the cache must leave room for everything else.
        if !(1..=64).contains(&self.catalog.cache_capacity_mb) {
            return err("catalog.cache_capacity_mb", "must be between 1 and 64");
        }
        if self.scanner.debounce_ms > 10_000 {
            return err("scanner.debounce_ms", "must be at most 10000 (10 s)");
        }
        if !(100..=600_000).contains(&self.scanner.reopen_backoff_max_ms) {
            return err("scanner.reopen_backoff_max_ms", "must be between 100 and 600000");
        }
        match self.scanner.kind {
            ScannerKind::Serial => match &self.scanner.serial {
                None => return err("scanner.serial", "required when scanner.kind = \"serial\""),
                Some(s) => {
                    if !(1200..=4_000_000).contains(&s.baud) {
                        return err("scanner.serial.baud", "must be between 1200 and 4000000");
                    }
                    if !(5..=2000).contains(&s.inter_char_timeout_ms) {
                        return err("scanner.serial.inter_char_timeout_ms", "must be between 5 and 2000");
                    }
                }
            },
            ScannerKind::Hid => match &self.scanner.hid {
                None => return err("scanner.hid", "required when scanner.kind = \"hid\""),
                Some(h) => {
                    if !(5..=2000).contains(&h.inter_key_timeout_ms) {
                        return err("scanner.hid.inter_key_timeout_ms", "must be between 5 and 2000");
                    }
                }
            },
            ScannerKind::Stdin => {}
        }
        if !(1..=600).contains(&self.display.idle_after_s) {
            return err("display.idle_after_s", "must be between 1 and 600");
        }
        if !matches!(self.display.rotation, 0 | 90 | 180 | 270) {
            return err("display.rotation", "must be 0, 90, 180 or 270");
        }
        match self.display.kind {
            PanelKind::St7789 | PanelKind::Ili9341 => match &self.display.spi {
                None => return err("display.spi", "required for an SPI panel (st7789, ili9341)"),
                Some(s) => {
                    if s.width == 0 || s.height == 0 || s.width > 480 || s.height > 480 {
                        return err("display.spi.width", "width and height must be 1 to 480 pixels");
                    }
                }
            },
            PanelKind::Ssd1306 => {
                if self.display.i2c.is_none() {
                    return err("display.i2c", "required when display.kind = \"ssd1306\"");
                }
            }
            PanelKind::Simulator => match &self.display.simulator {
                None => return err("display.simulator", "required when display.kind = \"simulator\""),
                Some(s) => {
                    if !(64..=1024).contains(&s.width) || !(64..=1024).contains(&s.height) {
                        return err("display.simulator.width", "width and height must be 64 to 1024 pixels");
                    }
                }
            },
        }
        if self.feedback.kind == FeedbackKind::Gpio && self.feedback.led.is_none() && self.feedback.buzzer.is_none() {
            return err("feedback", "kind = \"gpio\" needs at least one of led, buzzer");
        }
        crate::barcode::Rules::from_config(&self.barcode).map_err(|e| (format!("barcode.{}", e.key), e.reason))?;
        if !(1..=65_536).contains(&self.outbox.budget_mb) {
            return err("outbox.budget_mb", "must be between 1 and 65536");
        }
        if !(1..=16).contains(&self.outbox.cache_capacity_mb) {
            return err("outbox.cache_capacity_mb", "must be between 1 and 16");
        }
        if let Some(m) = &self.mqtt {
            self.validate_mqtt(m)?;
        }
        if let Some(c) = &self.central {
            crate::catalog::update::TrustedKey::from_base64(&c.public_key)
                .map_err(|e| ("central.public_key".to_string(), e.to_string()))?;
        }
        Ok(())
    }

    fn validate_mqtt(&self, m: &MqttConfig) -> Result<(), (String, String)> {
        let err = |k: &str, r: &str| Err((k.to_string(), r.to_string()));
        if m.host.trim().is_empty() || m.host.chars().any(char::is_whitespace) {
            return err("mqtt.host", "must be a host name or address without spaces");
        }
        if m.port == 0 {
            return err("mqtt.port", "must be between 1 and 65535");
        }
        if !(5..=3600).contains(&m.keep_alive_s) {
            return err("mqtt.keep_alive_s", "must be between 5 and 3600");
        }
        // Events are up to 64 KiB; 256 MiB is MQTT's own ceiling.
        if !(crate::storage::outbox_store::MAX_EVENT_BYTES + 1024..=256 * 1024 * 1024).contains(&m.max_packet_bytes) {
            return err(
                "mqtt.max_packet_bytes",
                "must be between 66560 (an event of 64 KiB) and 268435456",
            );
        }
        if !(1..=1024).contains(&m.max_in_flight) {
            return err("mqtt.max_in_flight", "must be between 1 and 1024");
        }
        if !(10..=60_000).contains(&m.backoff_initial_ms) {
            return err("mqtt.backoff_initial_ms", "must be between 10 and 60000");
        }
        if !(m.backoff_initial_ms..=3_600_000).contains(&m.backoff_max_ms) {
            return err("mqtt.backoff_max_ms", "must be between backoff_initial_ms and 3600000");
        }
        if !(1..=86_400).contains(&m.status_interval_s) {
            return err("mqtt.status_interval_s", "must be between 1 and 86400");
        }
        if m.password_file.is_some() && m.username.is_none() {
            return err("mqtt.password_file", "needs mqtt.username");
        }
        if let Some(t) = &m.tls {
            if t.client_cert_file.is_some() != t.client_key_file.is_some() {
                return err(
                    "mqtt.tls.client_key_file",
                    "client_cert_file and client_key_file go together (mutual TLS needs both)",
                );
            }
        }
        Ok(())
    }
}
