//! The self-checkout's edge: runs the pure [`Station`] against the world. Owns resolving scanned bytes
//! (barcode rules, catalog), making each step durable (its events and the station's state in one outbox
//! commit, [`EventSink::commit_with_state`]) *before* anything the step does outside, asking the payment
//! terminal on its own tasks, printing receipts off the async workers, and the business date.
//!
//! The order in [`Till::handle`] is the whole safety argument: commit, then act. A payment is requested only
//! once the state that says "paying, attempt N" is on disk, so after a crash the station queries attempt N
//! instead of charging again; a sale's event and the basket that says "sold" are one frame, so a crash can
//! never leave one without the other. If a commit fails the till stops (out of order) and does nothing more:
//! what is on disk is the last step that was confirmed, and a restart resumes from it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::barcode::{self, Kind, Rules};
use crate::catalog::{CalendarDate, CatalogStore};
use crate::checkout::basket::{points_for, PaymentOutcome};
use crate::checkout::receipt::{escpos, PaymentInfo, Receipt, ReceiptHeader, ReceiptNumber};
use crate::checkout::station::{Action, Persisted, PrintResult, SaleRecord, Scanned, Station, StationInput, Step};
use crate::config::{CheckoutConfig, Language};
use crate::events::EventSink;
use crate::feedback::Signal;
use crate::payment::PaymentTerminal;
use crate::printer::{Printer, PrinterError, PrinterStatus};
use crate::storage::outbox_store::NewEvent;

/// The longest a query to the terminal may take before it counts as "don't know".
pub const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The outbox state key of the station.
pub const STATE_KEY: &str = "checkout";

/// Why the till cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TillError {
    /// The persisted station cannot be read.
    #[error("checkout state in the outbox: {0}")]
    Load(String),
}

/// Everything the till is built from.
pub struct TillParts {
    /// `[checkout]`.
    pub checkout: CheckoutConfig,
    /// `[receipt]`.
    pub header: ReceiptHeader,
    /// Receipt language.
    pub language: Language,
    /// Receipt width in characters.
    pub columns: usize,
    /// Barcode rules (templates, store codes).
    pub rules: Rules,
    /// Where steps are committed.
    pub sink: Arc<EventSink>,
    /// The payment terminal.
    pub terminal: Arc<dyn PaymentTerminal>,
    /// The receipt printer; `None` = e-receipt only.
    pub printer: Option<Box<dyn Printer>>,
    /// This store.
    pub store_id: String,
    /// This device.
    pub device_id: String,
}

/// The running self-checkout.
pub struct Till {
    station: Station,
    checkout: CheckoutConfig,
    header: ReceiptHeader,
    language: Language,
    columns: usize,
    rules: Rules,
    sink: Arc<EventSink>,
    terminal: Arc<dyn PaymentTerminal>,
    printer: Option<Arc<Mutex<Box<dyn Printer>>>>,
    store_id: String,
    device_id: String,
    results: mpsc::Sender<StationInput>,
    business_date: CalendarDate,
    broken: Option<String>,
    printer_status: Option<PrinterStatus>,
    /// Attempts whose request to the terminal has not answered yet, and when it was sent.
    in_flight: std::collections::HashMap<String, tokio::time::Instant>,
}

impl Till {
    /// Loads the persisted station (a fresh one on first start) and resumes it: a payment that may have
    /// happened before a crash is queried first. Terminal and printer answers arrive on the returned
    /// receiver; feed them back to [`Till::handle`].
    pub async fn open(parts: TillParts) -> Result<(Till, mpsc::Receiver<StationInput>), TillError> {
        let store = parts.sink.store().clone();
        let saved = tokio::task::spawn_blocking(move || store.state(STATE_KEY))
            .await
            .map_err(|e| TillError::Load(e.to_string()))?
            .map_err(|e| TillError::Load(e.to_string()))?;
        let directory = parts.checkout.staff.clone();
        let station = match saved {
            Some(bytes) => {
                let persisted: Persisted =
                    serde_json::from_slice(&bytes).map_err(|e| TillError::Load(format!("cannot be decoded: {e}")))?;
                Station::new(persisted, directory)
            }
            None => Station::fresh(&parts.store_id, &parts.device_id, directory),
        };
        let (results, rx) = mpsc::channel(16);
        let mut till = Till {
            business_date: business_date(&station),
            station,
            checkout: parts.checkout,
            header: parts.header,
            language: parts.language,
            columns: parts.columns,
            rules: parts.rules,
            sink: parts.sink,
            terminal: parts.terminal,
            printer: parts.printer.map(|p| Arc::new(Mutex::new(p))),
            store_id: parts.store_id,
            device_id: parts.device_id,
            results,
            broken: None,
            printer_status: None,
            in_flight: std::collections::HashMap::new(),
        };
        tracing::info!(
            state = ?till.station.basket().state(),
            lines = till.station.basket().lines().len(),
            "checkout resumed"
        );
        let step = till.station.resume();
        till.carry_out(step).await;
        Ok((till, rx))
    }

    /// The station (what the screen shows).
    pub fn station(&self) -> &Station {
        &self.station
    }

    /// Why the till stopped taking input, when a commit failed.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// The printer's last known status (`None`: no printer, or never asked).
    pub fn printer_status(&self) -> Option<&PrinterStatus> {
        self.printer_status.as_ref()
    }

    /// The printer's state as the fleet status says it (see [`crate::status::PRINTER_STATES`]).
    pub fn printer_health(&self) -> &'static str {
        match (&self.printer, &self.printer_status) {
            (None, _) => "none",
            (Some(_), None) => "unknown",
            (Some(_), Some(PrinterStatus::Ready)) => "ready",
            (Some(_), Some(PrinterStatus::PaperLow)) => "paper_low",
            (Some(_), Some(PrinterStatus::PaperOut)) => "paper_out",
            (Some(_), Some(PrinterStatus::CoverOpen)) => "cover_open",
            (Some(_), Some(PrinterStatus::Offline { .. })) => "offline",
        }
    }

    /// The e-receipt address of a receipt number.
    pub fn e_receipt_url(&self, receipt_number: &str) -> String {
        self.checkout.e_receipt_url_for(receipt_number)
    }

    /// Payments paused (outbox full) or resumed.
    pub fn set_sales_blocked(&mut self, blocked: bool) {
        self.station.set_sales_blocked(blocked);
    }

    /// Decodes and looks up scanned bytes (see [`resolve`]).
    pub fn resolve(&self, bytes: &[u8], catalog: &dyn CatalogStore) -> Scanned {
        resolve(bytes, &self.rules, catalog)
    }

    /// Handles one input: the station decides, the step is committed, then carried out. Returns the sounds to
    /// play. Does nothing once a commit has failed.
    pub async fn handle(&mut self, input: StationInput) -> Vec<Signal> {
        if self.broken.is_some() {
            return Vec::new();
        }
        let input = match input {
            StationInput::ReconcileResult { attempt_id, outcome }
                if self.request_pending(&attempt_id)
                    && matches!(outcome, PaymentOutcome::Declined | PaymentOutcome::Cancelled) =>
            {
                // The terminal says it has no such payment while our request for it is still on its way (a
                // staff cancel or a timeout queried early): not final. The request's own answer, or a later
                // query, settles it; otherwise the basket could close and the charge land after.
                tracing::info!(attempt = %attempt_id, "query answered 'not paid' while the request is in flight: not final");
                StationInput::ReconcileResult {
                    attempt_id,
                    outcome: PaymentOutcome::Unknown,
                }
            }
            StationInput::PaymentResult { attempt_id, outcome } => {
                self.in_flight.remove(&attempt_id);
                StationInput::PaymentResult { attempt_id, outcome }
            }
            other => other,
        };
        match &input {
            StationInput::Tick { .. } => self.business_date = business_date(&self.station),
            StationInput::Printed(result) => {
                self.printer_status = match result {
                    PrintResult::Printed => Some(PrinterStatus::Ready),
                    PrintResult::PaperOut => Some(PrinterStatus::PaperOut),
                    PrintResult::Offline => Some(PrinterStatus::Offline {
                        reason: "the last receipt could not be printed".into(),
                    }),
                    PrintResult::NoPrinter => None,
                }
            }
            _ => {}
        }
        let env = self.checkout.env(self.business_date);
        let step = self.station.handle(input, &env);
        self.carry_out(step).await
    }

    /// Whether the request for `attempt_id` is still on its way. A request silent for twice the payment
    /// timeout counts as lost (a hung terminal must not keep the basket reconciling for ever): the terminal's
    /// query answers then stand.
    fn request_pending(&self, attempt_id: &str) -> bool {
        let limit = std::time::Duration::from_secs(self.checkout.payment_timeout_s.saturating_mul(2));
        self.in_flight
            .get(attempt_id)
            .is_some_and(|sent| sent.elapsed() < limit)
    }

    async fn carry_out(&mut self, step: Step) -> Vec<Signal> {
        if step.commits() {
            if let Err(reason) = self.commit(&step).await {
                tracing::error!(error = %reason, "checkout step not recorded: the station stops until restarted");
                self.broken = Some(reason);
                return vec![Signal::Invalid];
            }
        }
        let mut signals = Vec::new();
        for action in step.actions {
            match action {
                Action::Signal(s) => signals.push(s),
                Action::RequestPayment {
                    attempt_id,
                    amount_cents,
                } => {
                    tracing::info!(attempt = %attempt_id, amount_cents, "payment requested");
                    self.in_flight.insert(attempt_id.clone(), tokio::time::Instant::now());
                    let (terminal, tx) = (self.terminal.clone(), self.results.clone());
                    tokio::spawn(async move {
                        let outcome = terminal.request(&attempt_id, amount_cents).await;
                        tracing::info!(attempt = %attempt_id, ?outcome, "terminal answered");
                        let _ = tx.send(StationInput::PaymentResult { attempt_id, outcome }).await;
                    });
                }
                Action::QueryPayment { attempt_id } => {
                    tracing::info!(attempt = %attempt_id, "payment queried");
                    let (terminal, tx) = (self.terminal.clone(), self.results.clone());
                    tokio::spawn(async move {
                        // A terminal that does not answer a query within the time a payment may take is as good
                        // as "don't know": the basket keeps reconciling and asks again later.
                        let outcome = tokio::time::timeout(QUERY_TIMEOUT, terminal.query(&attempt_id))
                            .await
                            .unwrap_or(PaymentOutcome::Unknown);
                        tracing::info!(attempt = %attempt_id, ?outcome, "terminal answered the query");
                        let _ = tx.send(StationInput::ReconcileResult { attempt_id, outcome }).await;
                    });
                }
                Action::Print { reprint } => self.print(reprint),
            }
        }
        signals
    }

    /// The step's events and the station's state, in one durable outbox frame.
    async fn commit(&self, step: &Step) -> Result<(), String> {
        let state = serde_json::to_vec(self.station.persisted()).map_err(|e| e.to_string())?;
        let events = step_events(step);
        let sink = self.sink.clone();
        tokio::task::spawn_blocking(move || sink.commit_with_state(events, STATE_KEY, state))
            .await
            .map_err(|e| e.to_string())?
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn print(&mut self, reprint: bool) {
        let tx = self.results.clone();
        let Some(sale) = self.station.last_sale() else {
            return;
        };
        let Some(printer) = self.printer.clone() else {
            if !reprint {
                // Sent from a task: the loop reads this channel only after the current step, so the send must
                // wait rather than be dropped when the channel is momentarily full.
                tokio::spawn(async move {
                    let _ = tx.send(StationInput::Printed(PrintResult::NoPrinter)).await;
                });
            }
            return;
        };
        let bytes = match self.receipt_bytes(sale, reprint) {
            Ok(bytes) => bytes,
            Err(reason) => {
                // Never print a receipt that disagrees with the sale; the e-receipt is still on screen.
                tracing::error!(error = %reason, "receipt not printed");
                if !reprint {
                    tokio::spawn(async move {
                        let _ = tx.send(StationInput::Printed(PrintResult::Offline)).await;
                    });
                }
                return;
            }
        };
        tokio::task::spawn_blocking(move || {
            let mut printer = printer.lock().unwrap_or_else(|p| p.into_inner());
            let result = match printer.print(&bytes) {
                Ok(()) => PrintResult::Printed,
                Err(
                    PrinterError::NotReady {
                        status: PrinterStatus::PaperOut,
                        ..
                    }
                    | PrinterError::RanOut { .. },
                ) => {
                    tracing::warn!(printer = %printer.describe(), "receipt not printed: out of paper");
                    PrintResult::PaperOut
                }
                Err(e) => {
                    tracing::warn!(error = %e, "receipt not printed");
                    PrintResult::Offline
                }
            };
            if !reprint {
                let _ = tx.blocking_send(StationInput::Printed(result));
            }
        });
    }

    /// The ESC/POS bytes of `sale`'s receipt (`copy`: a staff reprint, marked as such).
    pub fn receipt_bytes(&self, sale: &SaleRecord, copy: bool) -> Result<Vec<u8>, String> {
        let prefix = format!("{}-{}-", self.store_id, self.device_id);
        let seq = sale
            .receipt_number
            .strip_prefix(&prefix)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| format!("receipt number {} is not this device's", sale.receipt_number))?;
        let number = ReceiptNumber {
            store: self.store_id.clone(),
            device: self.device_id.clone(),
            seq,
        };
        let priced = sale.cart.priced().map_err(|e| format!("{e:?}"))?;
        let payment = sale.payment_reference.as_ref().map(|reference| PaymentInfo {
            reference: reference.clone(),
            amount_cents: sale.cart.totals.total_cents,
        });
        let receipt = Receipt::build(
            &self.header,
            number,
            &sale.cart,
            &priced,
            payment,
            self.e_receipt_url(&sale.receipt_number),
            self.language,
        )
        .map_err(|e| e.to_string())?
        .with_points_earned(points_for(sale.cart.totals.total_cents, self.checkout.points_per_euro));
        let receipt = if copy { receipt.as_copy() } else { receipt };
        Ok(escpos(&receipt, self.columns))
    }

    /// Asks the printer for its status (blocking up to its timeout: call off the async workers' hot path).
    pub async fn refresh_printer_status(&mut self) {
        let Some(printer) = self.printer.clone() else {
            return;
        };
        let status = tokio::task::spawn_blocking(move || printer.lock().unwrap_or_else(|p| p.into_inner()).status())
            .await
            .unwrap_or(PrinterStatus::Offline {
                reason: "status check failed".into(),
            });
        self.printer_status = Some(status);
    }

    /// How often the station's timers advance.
    pub const TICK: Duration = Duration::from_secs(1);
}

/// A step's events as the outbox takes them, stamped with the wall-clock time when the clock is synchronised.
pub fn step_events(step: &Step) -> Vec<NewEvent> {
    let at = crate::clock::synced_unix_ms();
    step.events
        .iter()
        .map(|e| NewEvent {
            kind: e.kind.to_owned(),
            class: e.class,
            payload: e.payload.clone(),
            recorded_at_ms: at,
        })
        .collect()
}

/// Decodes and looks up scanned bytes as the station takes them. Store codes become cards and badges; order
/// codes are not handled at the checkout yet and read as unknown.
pub fn resolve(bytes: &[u8], rules: &Rules, catalog: &dyn CatalogStore) -> Scanned {
    let scan = match barcode::decode(bytes, rules) {
        Ok(scan) => scan,
        Err(e) => {
            tracing::info!(reason = %e, "invalid barcode at the checkout");
            return Scanned::Invalid { reason: e.class() };
        }
    };
    match scan.kind {
        // The ids are personal data: never logged.
        Kind::Loyalty => {
            return Scanned::Loyalty {
                id: scan.store_id.clone().unwrap_or_default(),
            }
        }
        Kind::Staff => {
            return Scanned::StaffBadge {
                id: scan.store_id.clone().unwrap_or_default(),
            }
        }
        Kind::Order => return Scanned::Unknown { code: String::new() },
        _ => {}
    }
    match crate::kiosk::lookup(&scan, catalog) {
        Ok(Some(product)) => Scanned::Product {
            product: Box::new(product),
            scan: Box::new(scan),
        },
        Ok(None) => Scanned::Unknown {
            code: crate::kiosk::shown_code(&scan),
        },
        Err(e) => {
            tracing::error!(error = %e, "catalog lookup failed at the checkout");
            Scanned::Unknown {
                code: crate::kiosk::shown_code(&scan),
            }
        }
    }
}

/// Today's business date: the local date when the clock is synchronised; otherwise the system's date (a Pi
/// restores roughly the last shutdown time) but never earlier than the basket's or the last sale's date, so
/// an unsynchronised clock cannot take promotions back in time.
fn business_date(station: &Station) -> CalendarDate {
    let known = station
        .basket()
        .cart()
        .map(|c| c.business_date)
        .into_iter()
        .chain(station.last_sale().map(|s| s.cart.business_date))
        .max();
    let local = local_date();
    match (crate::clock::kernel_clock_synced(), local, known) {
        (true, Some(today), _) => today,
        (false, Some(today), Some(known)) => today.max(known),
        (false, Some(today), None) => today,
        (_, None, Some(known)) => known,
        (_, None, None) => CalendarDate::UNIX_EPOCH,
    }
}

/// The local calendar date (the system's time zone, e.g. Europe/Rome).
fn local_date() -> Option<CalendarDate> {
    let now = libc::time_t::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs(),
    )
    .ok()?;
    // SAFETY: localtime_r only writes into the struct we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    if !ok {
        return None;
    }
    CalendarDate::new(
        u16::try_from(tm.tm_year + 1900).ok()?,
        u8::try_from(tm.tm_mon + 1).ok()?,
        u8::try_from(tm.tm_mday).ok()?,
    )
    .ok()
}
