//! The self-checkout station, pure: the [`Basket`] plus everything around it that is not the sale itself —
//! staff mode (badge, PIN, the staff menu), the shopper's call for help, the last receipt for a reprint, the
//! printer's verdict on the receipt screen, and the notice the screen shows after an input.
//!
//! Owns turning station inputs (resolved scans, keys, time, the terminal's and the printer's answers) into one
//! [`Step`]: the events to record and whether the station's [`Persisted`] state changed — both to be made
//! durable *together*, in one outbox frame, before anything else — and then the outward actions (pay, query,
//! print, beep) in order. Merging the basket's `Persist` effects into that one commit, ahead of the actions, is
//! what makes "a sale's event and the basket that says sold" one durable step, and "persisted before the
//! terminal is asked" hold for every step.
//!
//! Must never do I/O, read a clock or draw; staff PINs are checked against salted SHA-256 hashes from the
//! configuration and never kept once checked.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::basket::{Basket, Cart, Effect, Env, Input, Message, PaymentOutcome, State};
use crate::barcode::{ErrorClass, Scan};
use crate::catalog::Product;
use crate::feedback::Signal;
use crate::outbox::EventClass;

/// Event kind: a terminal approved an attempt the basket had already given up (declined on a query, cancelled):
/// money taken without a sale, for central to refund or book. Money class.
pub const PAYMENT_ORPHANED: &str = "payment.orphaned";

/// Event kind: the shopper pressed Help. Business class.
pub const ASSIST_REQUESTED: &str = "assist.requested";

/// Wrong PINs in a row that close the PIN prompt (and are recorded as a staff action).
pub const MAX_PIN_TRIES: u8 = 3;

/// After [`MAX_PIN_TRIES`] wrong PINs a badge opens nothing here for this long (badge scans again do not
/// reset the count: guessing a 4-digit PIN three tries a scan would otherwise take minutes).
pub const PIN_LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// A call for help nobody answered is dropped after this long without input (the shopper was helped in
/// person, or left).
pub const HELP_FOR: Duration = Duration::from_secs(5 * 60);

/// Longest PIN accepted from the keypad.
pub const MAX_PIN_DIGITS: usize = 8;

/// Staff mode closes by itself after this long without a key or scan (a badge left logged in is a risk).
pub const STAFF_IDLE: Duration = Duration::from_secs(60);

/// On an idle station, a notice (an unknown code scanned, a badge refused…) gives way to the welcome screen
/// after this long without input.
pub const IDLE_NOTICE_FOR: Duration = Duration::from_secs(10);

/// A key from the station's buttons or keypad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// The Pay button (in staff mode: choose).
    Pay,
    /// The Cancel button (in staff mode: back / leave).
    Cancel,
    /// The Help button (in staff mode: next item).
    Help,
    /// A keypad digit 0–9.
    Digit(u8),
    /// The keypad's Enter.
    Enter,
    /// The keypad's Clear (deletes the last digit).
    Clear,
}

/// A scan, already decoded and looked up by the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Scanned {
    /// A product from the catalog.
    Product {
        /// As the catalog has it now.
        product: Box<Product>,
        /// The scan (for an embedded price or weight).
        scan: Box<Scan>,
    },
    /// A valid code the catalog does not know.
    Unknown {
        /// As printed on the label.
        code: String,
    },
    /// Not a readable code.
    Invalid {
        /// Why, coarsely.
        reason: ErrorClass,
    },
    /// A loyalty card.
    Loyalty {
        /// The card id.
        id: String,
    },
    /// A staff badge.
    StaffBadge {
        /// The staff id.
        id: String,
    },
}

/// What the printer did with a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintResult {
    /// Printed.
    Printed,
    /// Out of paper: nothing printed.
    PaperOut,
    /// Not answering, unplugged, or failed mid-way.
    Offline,
    /// The station has no printer (e-receipt only).
    NoPrinter,
}

/// An input to the station.
#[derive(Debug, Clone, PartialEq)]
pub enum StationInput {
    /// A scan.
    Scan(Scanned),
    /// A key.
    Key(Key),
    /// Monotonic time passed.
    Tick {
        /// How much.
        elapsed: Duration,
    },
    /// The terminal answered a payment request.
    PaymentResult {
        /// The attempt.
        attempt_id: String,
        /// Its answer.
        outcome: PaymentOutcome,
    },
    /// The terminal answered a query.
    ReconcileResult {
        /// The attempt.
        attempt_id: String,
        /// Its answer.
        outcome: PaymentOutcome,
    },
    /// The printer's verdict on the last receipt.
    Printed(PrintResult),
}

/// An event to record, without its seq and id (the outbox adds them).
#[derive(Debug, Clone, PartialEq)]
pub struct StationEvent {
    /// Kind, e.g. `sale.completed`.
    pub kind: &'static str,
    /// Class.
    pub class: EventClass,
    /// Data.
    pub payload: serde_json::Value,
}

/// Something the caller does after the commit, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask the terminal for a payment (once per attempt id).
    RequestPayment {
        /// The attempt.
        attempt_id: String,
        /// How much.
        amount_cents: i64,
    },
    /// Ask the terminal what became of an attempt.
    QueryPayment {
        /// The attempt.
        attempt_id: String,
    },
    /// Print the receipt of [`Station::last_sale`] (a new sale or a reprint); answer with
    /// [`StationInput::Printed`].
    Print {
        /// Whether it is a reprint (printed as a copy).
        reprint: bool,
    },
    /// Play a sound/light.
    Signal(Signal),
}

/// The outcome of one input: first make `events` and (when `persist`) [`Station::persisted`] durable in one
/// commit; only then carry out `actions`, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// Events to record in the commit.
    pub events: Vec<StationEvent>,
    /// The persisted state changed: write it in the same commit.
    pub persist: bool,
    /// What to do after the commit.
    pub actions: Vec<Action>,
}

impl Step {
    /// Whether the caller has anything to write.
    pub fn commits(&self) -> bool {
        self.persist || !self.events.is_empty()
    }
}

/// A completed sale, kept for a reprint until the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleRecord {
    /// The basket as sold.
    pub cart: Cart,
    /// Its receipt number.
    pub receipt_number: String,
    /// The terminal's reference (`None` for a sale that cost nothing).
    pub payment_reference: Option<String>,
}

/// What survives a restart: the basket (the whole sale) and the last sale for a reprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persisted {
    /// The basket state machine.
    pub basket: Basket,
    /// The last completed sale.
    pub last_sale: Option<SaleRecord>,
    /// The printer's verdict on the receipt now on screen (decides whether the e-receipt QR is shown).
    #[serde(default)]
    pub receipt_print: Option<PrintResult>,
}

/// One entry of the staff directory (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffMember {
    /// The id the badge carries.
    pub id: String,
    /// The name shown in staff mode.
    pub name: String,
    /// `sha256("omnigate-staff-pin" 0x00 id 0x00 pin)` in hex: see [`pin_hash`].
    pub pin_sha256: String,
}

/// The PIN hash stored in the configuration for `id` and `pin`. Salting with the id means two members with the
/// same PIN have different hashes; a 4–8 digit PIN is still guessable from its hash, so the configuration
/// file stays readable by root only.
pub fn pin_hash(id: &str, pin: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"omnigate-staff-pin\0");
    h.update(id.as_bytes());
    h.update(b"\0");
    h.update(pin.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The staff mode's items, in menu order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuItem {
    /// Approve the age-restricted lines.
    ApproveAge,
    /// Remove a line.
    RemoveLine,
    /// Cancel the basket.
    CancelBasket,
    /// Print the last receipt again.
    Reprint,
    /// Leave staff mode.
    Exit,
}

impl MenuItem {
    /// Every item, in order; digit `n` chooses the n-th (1-based).
    pub const ALL: [MenuItem; 5] = [
        MenuItem::ApproveAge,
        MenuItem::RemoveLine,
        MenuItem::CancelBasket,
        MenuItem::Reprint,
        MenuItem::Exit,
    ];

    fn next(self) -> MenuItem {
        let i = MenuItem::ALL.iter().position(|m| *m == self).unwrap_or(0);
        MenuItem::ALL[(i + 1) % MenuItem::ALL.len()]
    }
}

/// Staff mode, never persisted: after a restart staff badge in again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffMode {
    /// The shopper's screens.
    Off,
    /// A badge was scanned; its PIN is being typed.
    Pin {
        /// The badge's id.
        staff_id: String,
        /// Digits typed so far.
        entered: String,
        /// Wrong PINs so far.
        wrong: u8,
    },
    /// Logged in: the menu.
    Menu {
        /// Who.
        staff_id: String,
        /// Their name.
        name: String,
        /// The highlighted item.
        selected: MenuItem,
    },
    /// Choosing the line to remove.
    RemoveLine {
        /// Who.
        staff_id: String,
        /// Their name.
        name: String,
        /// The highlighted line (0-based).
        line: usize,
        /// A line number being typed on the keypad (1-based as shown).
        typed: String,
    },
}

/// A short message for the screen after an input; cleared by the next input that changes the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// From the basket.
    Basket(Message),
    /// Sales are paused (the queue for central is full): no new basket.
    SalesPaused,
    /// The badge is not in the staff directory.
    UnknownBadge,
    /// The PIN was wrong (`left` tries before the prompt closes).
    WrongPin {
        /// Tries left.
        left: u8,
    },
    /// No sale to reprint.
    NothingToReprint,
    /// Help was called.
    HelpComing,
}

/// The station.
#[derive(Debug, Clone)]
pub struct Station {
    persisted: Persisted,
    staff: StaffMode,
    staff_quiet: Duration,
    /// Time without a scan or key (for [`IDLE_NOTICE_FOR`]).
    idle_quiet: Duration,
    /// Wrong PINs in a row per badge, and how long each locked badge stays locked.
    pin_failures: std::collections::HashMap<String, u8>,
    pin_locked: std::collections::HashMap<String, Duration>,
    directory: Vec<StaffMember>,
    help_requested: bool,
    notice: Option<Notice>,
    sales_blocked: bool,
}

impl Station {
    /// A station with `persisted` state (a fresh [`Basket`] on first start) and the staff `directory`.
    pub fn new(persisted: Persisted, directory: Vec<StaffMember>) -> Station {
        Station {
            persisted,
            staff: StaffMode::Off,
            staff_quiet: Duration::ZERO,
            idle_quiet: Duration::ZERO,
            pin_failures: std::collections::HashMap::new(),
            pin_locked: std::collections::HashMap::new(),
            directory,
            help_requested: false,
            notice: None,
            sales_blocked: false,
        }
    }

    /// A station that never sold anything.
    pub fn fresh(store_id: &str, device_id: &str, directory: Vec<StaffMember>) -> Station {
        Station::new(
            Persisted {
                basket: Basket::new(device_id).in_store(store_id),
                last_sale: None,
                receipt_print: None,
            },
            directory,
        )
    }

    /// What to persist (whole) when a [`Step`] says so.
    pub fn persisted(&self) -> &Persisted {
        &self.persisted
    }

    /// The basket.
    pub fn basket(&self) -> &Basket {
        &self.persisted.basket
    }

    /// The last completed sale (what [`Action::Print`] prints).
    pub fn last_sale(&self) -> Option<&SaleRecord> {
        self.persisted.last_sale.as_ref()
    }

    /// The printer's verdict on the receipt on screen.
    pub fn receipt_print(&self) -> Option<PrintResult> {
        self.persisted.receipt_print
    }

    /// Staff mode.
    pub fn staff(&self) -> &StaffMode {
        &self.staff
    }

    /// The notice on screen, if any.
    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    /// Whether the shopper called for help and nobody came yet.
    pub fn help_requested(&self) -> bool {
        self.help_requested
    }

    /// Whether the station needs a member of staff (age check, help, unclear payment): the status light.
    pub fn needs_staff(&self) -> bool {
        self.help_requested || matches!(self.basket().state(), State::AwaitingStaff | State::Reconciling { .. })
    }

    /// Payments paused (the queue for central is full) or resumed. While paused, no new basket is opened; an
    /// open one may finish (the outbox keeps room for it).
    pub fn set_sales_blocked(&mut self, blocked: bool) {
        self.sales_blocked = blocked;
    }

    /// After loading a persisted station at start: a payment that may have happened is queried first.
    pub fn resume(&mut self) -> Step {
        let effects = self.persisted.basket.resume();
        let mut step = self.apply(effects);
        if matches!(self.basket().state(), State::Receipt { .. })
            && self.persisted.receipt_print.is_none()
            && self.last_sale().is_some()
        {
            // Stopped between the sale and the printer's verdict: the receipt may never have come out. Print it
            // (at worst a second paper of the same sale, with the same number) rather than leave the shopper
            // with neither paper nor the e-receipt code.
            step.actions.push(Action::Print { reprint: false });
        }
        step
    }

    /// Handles one input.
    pub fn handle(&mut self, input: StationInput, env: &Env) -> Step {
        match input {
            StationInput::Scan(scanned) => {
                self.staff_quiet = Duration::ZERO;
                self.idle_quiet = Duration::ZERO;
                self.persisted.basket.note_activity();
                self.on_scan(scanned, env)
            }
            StationInput::Key(key) => {
                self.staff_quiet = Duration::ZERO;
                self.idle_quiet = Duration::ZERO;
                self.persisted.basket.note_activity();
                self.on_key(key, env)
            }
            StationInput::Tick { elapsed } => {
                let mut step = Step::default();
                self.idle_quiet = self.idle_quiet.saturating_add(elapsed);
                self.pin_locked.retain(|_, left| {
                    *left = left.saturating_sub(elapsed);
                    !left.is_zero()
                });
                if self.help_requested && self.idle_quiet >= HELP_FOR {
                    self.help_requested = false;
                }
                if self.idle_quiet >= IDLE_NOTICE_FOR && matches!(self.basket().state(), State::Idle) {
                    self.notice = None;
                }
                if self.staff != StaffMode::Off {
                    self.staff_quiet = self.staff_quiet.saturating_add(elapsed);
                    if self.staff_quiet >= STAFF_IDLE {
                        self.staff = StaffMode::Off;
                    }
                }
                let waiting = matches!(self.basket().state(), State::Scanning | State::AwaitingStaff);
                if waiting && (self.help_requested || self.staff != StaffMode::Off) {
                    // Someone is coming or working at the station: the open basket waits for them and is not
                    // abandoned. (Staff mode closes by itself after STAFF_IDLE; the basket's clock restarts.)
                    self.persisted.basket.note_activity();
                    return step;
                }
                let was_receipt = matches!(self.basket().state(), State::Receipt { .. });
                let effects = self.persisted.basket.handle(Input::Tick { elapsed }, env);
                if !effects.is_empty() {
                    self.notice = None;
                }
                step.merge(self.apply(effects));
                if was_receipt && !matches!(self.basket().state(), State::Receipt { .. }) {
                    self.persisted.receipt_print = None;
                }
                step
            }
            StationInput::PaymentResult { attempt_id, outcome } => {
                let effects = self.persisted.basket.handle(
                    Input::PaymentResult {
                        attempt_id: attempt_id.clone(),
                        outcome: outcome.clone(),
                    },
                    env,
                );
                self.settled(effects, &attempt_id, outcome)
            }
            StationInput::ReconcileResult { attempt_id, outcome } => {
                let effects = self.persisted.basket.handle(
                    Input::ReconcileResult {
                        attempt_id: attempt_id.clone(),
                        outcome: outcome.clone(),
                    },
                    env,
                );
                self.settled(effects, &attempt_id, outcome)
            }
            StationInput::Printed(result) => {
                if !matches!(self.basket().state(), State::Receipt { .. }) || self.last_sale().is_none() {
                    // A reprint after the shopper left: nothing on screen depends on it.
                    return Step::default();
                }
                self.persisted.receipt_print = Some(result);
                Step {
                    persist: true,
                    ..Step::default()
                }
            }
        }
    }

    /// The step for a terminal's answer. An approval the basket did not take (an attempt no longer current: the
    /// basket was cancelled or paid again after the terminal said "declined" or went silent, then the charge
    /// went through after all) is money taken without a sale: recorded as [`PAYMENT_ORPHANED`] for central to
    /// refund or book, never dropped. A repeated approval of the sale just made is not.
    fn settled(&mut self, effects: Vec<Effect>, attempt_id: &str, outcome: PaymentOutcome) -> Step {
        let PaymentOutcome::Approved { reference } = outcome else {
            return self.apply(effects);
        };
        if !effects.is_empty() || self.is_sold_attempt(attempt_id) {
            return self.apply(effects);
        }
        Step {
            events: vec![StationEvent {
                kind: PAYMENT_ORPHANED,
                class: EventClass::Money,
                payload: json!({
                    "attempt_id": attempt_id,
                    "payment_reference": reference,
                    "basket_id": attempt_id.rsplit_once("-p").map(|(basket, _)| basket),
                }),
            }],
            persist: false,
            actions: vec![Action::Signal(Signal::Invalid)],
        }
    }

    /// Whether `attempt_id` is the attempt that paid the basket on screen or the last sale.
    fn is_sold_attempt(&self, attempt_id: &str) -> bool {
        let paid = |cart: &Cart| format!("{}-p{}", cart.id, cart.attempts) == attempt_id;
        let on_receipt =
            matches!(self.basket().state(), State::Receipt { .. }) && self.basket().cart().is_some_and(paid);
        on_receipt || self.last_sale().is_some_and(|s| paid(&s.cart))
    }

    fn on_scan(&mut self, scanned: Scanned, env: &Env) -> Step {
        let input = match scanned {
            Scanned::StaffBadge { id } => return self.on_badge(id),
            Scanned::Product { product, scan } => {
                if self.opens_basket() && self.sales_blocked {
                    self.notice = Some(Notice::SalesPaused);
                    return signal(Signal::NotFound);
                }
                Input::Product { product, scan }
            }
            Scanned::Loyalty { id } => {
                if self.opens_basket() && self.sales_blocked {
                    self.notice = Some(Notice::SalesPaused);
                    return signal(Signal::NotFound);
                }
                Input::LoyaltyCard { id }
            }
            Scanned::Unknown { code } => Input::Unknown { code },
            Scanned::Invalid { reason } => Input::Invalid { reason },
        };
        let sound = match &input {
            Input::Unknown { .. } => Signal::NotFound,
            Input::Invalid { .. } => Signal::Invalid,
            _ => Signal::GoodRead,
        };
        let was_receipt = matches!(self.basket().state(), State::Receipt { .. });
        self.notice = None;
        let effects = self.persisted.basket.handle(input, env);
        let added = effects.contains(&Effect::Persist);
        let refused = effects.iter().any(|e| {
            matches!(
                e,
                Effect::Message(Message::CannotAdd { .. } | Message::BasketFull { .. } | Message::PaymentInProgress)
            )
        });
        let mut step = self.apply(effects);
        if was_receipt && added {
            // A new basket replaced the receipt screen.
            self.persisted.receipt_print = None;
        }
        step.actions
            .push(Action::Signal(if refused { Signal::NotFound } else { sound }));
        step
    }

    /// Whether a product or card scanned now would open a new basket.
    fn opens_basket(&self) -> bool {
        matches!(self.basket().state(), State::Idle | State::Receipt { .. })
    }

    fn on_badge(&mut self, id: String) -> Step {
        if !self.directory.iter().any(|m| m.id == id) {
            self.notice = Some(Notice::UnknownBadge);
            return signal(Signal::Invalid);
        }
        if self.pin_locked.contains_key(&id) {
            self.notice = Some(Notice::UnknownBadge);
            return signal(Signal::Invalid);
        }
        self.notice = None;
        let wrong = self.pin_failures.get(&id).copied().unwrap_or(0);
        self.staff = StaffMode::Pin {
            staff_id: id,
            entered: String::new(),
            wrong,
        };
        signal(Signal::GoodRead)
    }

    fn on_key(&mut self, key: Key, env: &Env) -> Step {
        match std::mem::replace(&mut self.staff, StaffMode::Off) {
            StaffMode::Off => self.shopper_key(key, env),
            StaffMode::Pin {
                staff_id,
                mut entered,
                wrong,
            } => match key {
                Key::Digit(d) if d <= 9 => {
                    if entered.len() < MAX_PIN_DIGITS {
                        entered.push(char::from(b'0' + d));
                    }
                    self.staff = StaffMode::Pin {
                        staff_id,
                        entered,
                        wrong,
                    };
                    Step::default()
                }
                Key::Clear => {
                    entered.pop();
                    self.staff = StaffMode::Pin {
                        staff_id,
                        entered,
                        wrong,
                    };
                    Step::default()
                }
                Key::Enter | Key::Pay => self.check_pin(staff_id, &entered, wrong),
                // Cancel leaves; Help and others are ignored while typing.
                Key::Cancel => Step::default(),
                _ => {
                    self.staff = StaffMode::Pin {
                        staff_id,
                        entered,
                        wrong,
                    };
                    Step::default()
                }
            },
            StaffMode::Menu {
                staff_id,
                name,
                selected,
            } => {
                let chosen = match key {
                    Key::Digit(d) => MenuItem::ALL.get(usize::from(d).wrapping_sub(1)).copied(),
                    Key::Pay | Key::Enter => Some(selected),
                    Key::Help => {
                        self.staff = StaffMode::Menu {
                            staff_id,
                            name,
                            selected: selected.next(),
                        };
                        return Step::default();
                    }
                    Key::Cancel => return Step::default(),
                    Key::Clear => None,
                };
                match chosen {
                    Some(item) => self.menu_choice(item, staff_id, name, env),
                    None => {
                        self.staff = StaffMode::Menu {
                            staff_id,
                            name,
                            selected,
                        };
                        Step::default()
                    }
                }
            }
            StaffMode::RemoveLine {
                staff_id,
                name,
                line,
                mut typed,
            } => {
                let count = self.basket().lines().len();
                let back = |staff_id, name| StaffMode::Menu {
                    staff_id,
                    name,
                    selected: MenuItem::RemoveLine,
                };
                match key {
                    Key::Digit(d) if d <= 9 && typed.len() < 3 => {
                        typed.push(char::from(b'0' + d));
                        self.staff = StaffMode::RemoveLine {
                            staff_id,
                            name,
                            line,
                            typed,
                        };
                        Step::default()
                    }
                    Key::Help => {
                        // Up the list (from the newest line), wrapping.
                        let line = if line == 0 { count.saturating_sub(1) } else { line - 1 };
                        self.staff = StaffMode::RemoveLine {
                            staff_id,
                            name,
                            line,
                            typed: String::new(),
                        };
                        Step::default()
                    }
                    Key::Clear => {
                        typed.pop();
                        self.staff = StaffMode::RemoveLine {
                            staff_id,
                            name,
                            line,
                            typed,
                        };
                        Step::default()
                    }
                    Key::Cancel => {
                        self.staff = back(staff_id, name);
                        Step::default()
                    }
                    Key::Digit(_) => {
                        // A fourth digit: no basket has a thousand lines; ignored.
                        self.staff = StaffMode::RemoveLine {
                            staff_id,
                            name,
                            line,
                            typed,
                        };
                        Step::default()
                    }
                    Key::Enter if typed.is_empty() => {
                        // Nothing typed: Enter alone (a keypad's, or the one a typed `:2` ends with) does not
                        // remove the highlighted line; Pay does.
                        self.staff = StaffMode::RemoveLine {
                            staff_id,
                            name,
                            line,
                            typed,
                        };
                        Step::default()
                    }
                    Key::Pay | Key::Enter => {
                        let target = match typed.parse::<usize>() {
                            Ok(n) if n >= 1 => n - 1,
                            // "0" is no line: the basket answers "no such line", nothing is removed.
                            Ok(_) => usize::MAX,
                            Err(_) => line,
                        };
                        self.notice = None;
                        let effects = self.persisted.basket.handle(
                            Input::StaffRemoveLine {
                                staff_id: staff_id.clone(),
                                line: target,
                            },
                            env,
                        );
                        let step = self.apply(effects);
                        // Back to the menu: another line, or done.
                        self.staff = back(staff_id, name);
                        step
                    }
                }
            }
        }
    }

    fn shopper_key(&mut self, key: Key, env: &Env) -> Step {
        let input = match key {
            Key::Pay => Input::Pay,
            Key::Cancel => Input::Cancel,
            Key::Help => return self.call_for_help(),
            // The keypad means nothing to the shopper's screens.
            Key::Digit(_) | Key::Enter | Key::Clear => return Step::default(),
        };
        let was_receipt = matches!(self.basket().state(), State::Receipt { .. });
        self.notice = None;
        let effects = self.persisted.basket.handle(input, env);
        let step = self.apply(effects);
        if was_receipt && !matches!(self.basket().state(), State::Receipt { .. }) {
            self.persisted.receipt_print = None;
        }
        step
    }

    fn call_for_help(&mut self) -> Step {
        if self.help_requested {
            // Already on its way: one call, not one per press.
            self.notice = Some(Notice::HelpComing);
            return Step::default();
        }
        self.help_requested = true;
        self.notice = Some(Notice::HelpComing);
        let basket = self.basket();
        let state = serde_json::to_value(basket.state())
            .ok()
            .and_then(|v| v.get("state").cloned())
            .unwrap_or(serde_json::Value::Null);
        Step {
            events: vec![StationEvent {
                kind: ASSIST_REQUESTED,
                class: EventClass::Business,
                payload: json!({
                    "basket_id": basket.cart().map(|c| c.id.clone()),
                    "state": state,
                    "line_count": basket.lines().len(),
                }),
            }],
            persist: false,
            actions: Vec::new(),
        }
    }

    fn check_pin(&mut self, staff_id: String, entered: &str, wrong: u8) -> Step {
        let member = self
            .directory
            .iter()
            .find(|m| m.id == staff_id && m.pin_sha256.eq_ignore_ascii_case(&pin_hash(&staff_id, entered)));
        if let Some(member) = member {
            // Staff arrived: the shopper's call is answered.
            self.help_requested = false;
            self.pin_failures.remove(&staff_id);
            self.notice = None;
            self.staff = StaffMode::Menu {
                staff_id: staff_id.clone(),
                name: member.name.clone(),
                selected: MenuItem::ALL[0],
            };
            return Step {
                events: vec![staff_event(&staff_id, "open_staff_mode", self.basket())],
                persist: false,
                actions: vec![Action::Signal(Signal::GoodRead)],
            };
        }
        let wrong = wrong + 1;
        self.pin_failures.insert(staff_id.clone(), wrong);
        if wrong >= MAX_PIN_TRIES {
            self.notice = None;
            self.pin_failures.remove(&staff_id);
            self.pin_locked.insert(staff_id.clone(), PIN_LOCKOUT);
            return Step {
                events: vec![staff_event(&staff_id, "pin_refused", self.basket())],
                persist: false,
                actions: vec![Action::Signal(Signal::Invalid)],
            };
        }
        self.notice = Some(Notice::WrongPin {
            left: MAX_PIN_TRIES - wrong,
        });
        self.staff = StaffMode::Pin {
            staff_id,
            entered: String::new(),
            wrong,
        };
        signal(Signal::Invalid)
    }

    fn menu_choice(&mut self, item: MenuItem, staff_id: String, name: String, env: &Env) -> Step {
        self.notice = None;
        match item {
            MenuItem::ApproveAge => {
                let effects = self.persisted.basket.handle(Input::StaffApproveAge { staff_id }, env);
                self.apply(effects)
            }
            MenuItem::CancelBasket => {
                let effects = self.persisted.basket.handle(Input::StaffCancel { staff_id }, env);
                self.apply(effects)
            }
            MenuItem::RemoveLine => {
                let count = self.basket().lines().len();
                if count == 0 || !matches!(self.basket().state(), State::Scanning | State::AwaitingStaff) {
                    self.notice = Some(Notice::Basket(Message::NoSuchLine { line: 0 }));
                    self.staff = StaffMode::Menu {
                        staff_id,
                        name,
                        selected: item,
                    };
                    return Step::default();
                }
                self.staff = StaffMode::RemoveLine {
                    staff_id,
                    name,
                    line: count - 1,
                    typed: String::new(),
                };
                Step::default()
            }
            MenuItem::Reprint => {
                let Some(sale) = self.last_sale() else {
                    self.notice = Some(Notice::NothingToReprint);
                    self.staff = StaffMode::Menu {
                        staff_id,
                        name,
                        selected: item,
                    };
                    return Step::default();
                };
                let mut event = staff_event(&staff_id, "reprint_receipt", self.basket());
                if let serde_json::Value::Object(map) = &mut event.payload {
                    map.insert("receipt_number".into(), json!(sale.receipt_number));
                }
                Step {
                    events: vec![event],
                    persist: false,
                    actions: vec![Action::Print { reprint: true }],
                }
            }
            MenuItem::Exit => Step::default(),
        }
    }

    /// Turns the basket's effects into a step: its events and persists become the one commit, the rest
    /// actions; a completed sale becomes the last sale (in the same commit).
    fn apply(&mut self, effects: Vec<Effect>) -> Step {
        let step = self.apply_effects(effects);
        if step.persist && matches!(self.basket().state(), State::Idle | State::Receipt { .. }) {
            // The basket closed or sold: whoever called for help is done.
            self.help_requested = false;
        }
        step
    }

    fn apply_effects(&mut self, effects: Vec<Effect>) -> Step {
        let mut step = Step::default();
        for effect in effects {
            match effect {
                Effect::Event { kind, class, payload } => step.events.push(StationEvent { kind, class, payload }),
                Effect::Persist => step.persist = true,
                Effect::RequestPayment {
                    attempt_id,
                    amount_cents,
                } => step.actions.push(Action::RequestPayment {
                    attempt_id,
                    amount_cents,
                }),
                Effect::QueryPayment { attempt_id } => step.actions.push(Action::QueryPayment { attempt_id }),
                Effect::PrintReceipt { receipt_number, .. } => {
                    let payment_reference = match self.basket().state() {
                        State::Receipt { payment_reference, .. } => payment_reference.clone(),
                        _ => None,
                    };
                    if let Some(cart) = self.basket().cart() {
                        self.persisted.last_sale = Some(SaleRecord {
                            cart: cart.clone(),
                            receipt_number,
                            payment_reference,
                        });
                        self.persisted.receipt_print = None;
                        step.persist = true;
                        step.actions.push(Action::Print { reprint: false });
                    }
                }
                Effect::Message(message) => self.notice = Some(Notice::Basket(message)),
            }
        }
        step
    }
}

impl Step {
    fn merge(&mut self, other: Step) {
        self.events.extend(other.events);
        self.persist |= other.persist;
        self.actions.extend(other.actions);
    }
}

fn signal(s: Signal) -> Step {
    Step {
        actions: vec![Action::Signal(s)],
        ..Step::default()
    }
}

fn staff_event(staff_id: &str, action: &str, basket: &Basket) -> StationEvent {
    StationEvent {
        kind: super::basket::STAFF_ACTION,
        class: EventClass::Business,
        payload: json!({
            "action": action,
            "staff_id": staff_id,
            "basket_id": basket.cart().map(|c| c.id.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "2468";

    fn env() -> Env {
        Env::new("2026-03-10".parse().expect("test date is valid"))
    }

    fn station() -> Station {
        Station::fresh(
            "0042",
            "till-7",
            vec![StaffMember {
                id: "S01".into(),
                name: "Giulia".into(),
                pin_sha256: pin_hash("S01", PIN),
            }],
        )
    }

    fn product(sku: &str, price: i64, min_age: Option<u8>) -> Product {
        Product {
            min_age,
            ..Product::for_test(sku, price, 2200)
        }
    }

    fn scan_of(p: &Product) -> StationInput {
        StationInput::Scan(Scanned::Product {
            product: Box::new(p.clone()),
            scan: Box::new(Scan::for_test(None, None)),
        })
    }

    /// The terminal approved `attempt` with `reference`.
    fn approved(attempt: &str, reference: &str) -> StationInput {
        StationInput::PaymentResult {
            attempt_id: attempt.into(),
            outcome: PaymentOutcome::Approved {
                reference: reference.into(),
            },
        }
    }

    fn key(k: Key) -> StationInput {
        StationInput::Key(k)
    }

    fn run(st: &mut Station, inputs: impl IntoIterator<Item = StationInput>) -> Vec<Step> {
        inputs.into_iter().map(|i| st.handle(i, &env())).collect()
    }

    fn type_pin(pin: &str) -> Vec<StationInput> {
        let mut keys: Vec<StationInput> = pin.bytes().map(|b| key(Key::Digit(b - b'0'))).collect();
        keys.push(key(Key::Enter));
        keys
    }

    fn badge() -> StationInput {
        StationInput::Scan(Scanned::StaffBadge { id: "S01".into() })
    }

    fn kinds(step: &Step) -> Vec<&'static str> {
        step.events.iter().map(|e| e.kind).collect()
    }

    fn attempt(step: &Step) -> Option<String> {
        step.actions.iter().find_map(|a| match a {
            Action::RequestPayment { attempt_id, .. } => Some(attempt_id.clone()),
            _ => None,
        })
    }

    #[test]
    fn paying_persists_the_basket_before_the_terminal_is_asked() {
        let mut st = station();
        run(&mut st, [scan_of(&product("A", 300, None))]);
        let step = st.handle(key(Key::Pay), &env());
        assert!(step.persist, "the paying state is written in the step's commit");
        assert_eq!(
            step.actions,
            vec![Action::RequestPayment {
                attempt_id: "till-7-1-p1".into(),
                amount_cents: 300
            }]
        );
    }

    #[test]
    fn a_paid_sale_commits_its_event_with_the_last_sale_and_then_prints() {
        let mut st = station();
        run(&mut st, [scan_of(&product("A", 300, None)), key(Key::Pay)]);
        let step = st.handle(approved("till-7-1-p1", "T-9"), &env());
        assert_eq!(kinds(&step), vec![super::super::basket::SALE_COMPLETED]);
        assert!(step.persist);
        assert_eq!(step.actions, vec![Action::Print { reprint: false }]);
        let sale = st.last_sale().expect("kept for a reprint");
        assert_eq!(sale.receipt_number, "0042-till-7-000001");
        assert_eq!(sale.payment_reference.as_deref(), Some("T-9"));
        assert_eq!(
            st.persisted().last_sale.as_ref(),
            Some(sale),
            "in the same commit as the sale"
        );

        // Out of paper: the verdict is persisted so a restart still shows the e-receipt code.
        let step = st.handle(StationInput::Printed(PrintResult::PaperOut), &env());
        assert!(step.persist);
        assert_eq!(st.receipt_print(), Some(PrintResult::PaperOut));
        // The next shopper's first scan clears it.
        run(&mut st, [scan_of(&product("B", 100, None))]);
        assert_eq!(st.receipt_print(), None);
    }

    #[test]
    fn staff_approve_an_age_check_with_badge_and_pin_and_the_payment_goes_ahead() {
        let mut st = station();
        run(&mut st, [scan_of(&product("WINE", 899, Some(18))), key(Key::Pay)]);
        assert_eq!(st.basket().state(), &State::AwaitingStaff);
        assert!(st.needs_staff(), "the light calls staff");
        run(&mut st, [badge()]);
        assert!(matches!(st.staff(), StaffMode::Pin { .. }));
        let steps = run(&mut st, type_pin(PIN));
        let login = steps.last().expect("enter");
        assert_eq!(kinds(login), vec![super::super::basket::STAFF_ACTION]);
        assert_eq!(login.events[0].payload["action"], "open_staff_mode");
        assert_eq!(login.events[0].payload["staff_id"], "S01");
        assert!(matches!(st.staff(), StaffMode::Menu { name, .. } if name == "Giulia"));
        // Item 1: approve the age check.
        let step = st.handle(key(Key::Digit(1)), &env());
        assert_eq!(step.events[0].payload["action"], "approve_age");
        assert!(step.persist);
        assert_eq!(attempt(&step).as_deref(), Some("till-7-1-p1"));
        assert_eq!(st.staff(), &StaffMode::Off, "staff mode closes after the approval");
    }

    #[test]
    fn a_wrong_pin_is_refused_and_three_close_the_prompt_with_a_recorded_refusal() {
        let mut st = station();
        run(
            &mut st,
            [scan_of(&product("WINE", 899, Some(18))), key(Key::Pay), badge()],
        );
        run(&mut st, type_pin("1111"));
        assert_eq!(st.notice(), Some(&Notice::WrongPin { left: 2 }));
        assert!(matches!(st.staff(), StaffMode::Pin { entered, .. } if entered.is_empty()));
        run(&mut st, type_pin("2222"));
        let last = run(&mut st, type_pin("3333")).pop().expect("enter");
        assert_eq!(last.events[0].payload["action"], "pin_refused");
        assert_eq!(st.staff(), &StaffMode::Off);
        assert_eq!(st.basket().state(), &State::AwaitingStaff, "nothing approved");
        // Digits on the shopper's screen do nothing.
        assert_eq!(st.handle(key(Key::Digit(1)), &env()), Step::default());
    }

    #[test]
    fn an_unknown_badge_opens_nothing() {
        let mut st = station();
        st.handle(StationInput::Scan(Scanned::StaffBadge { id: "X99".into() }), &env());
        assert_eq!(st.staff(), &StaffMode::Off);
        assert_eq!(st.notice(), Some(&Notice::UnknownBadge));
    }

    #[test]
    fn help_raises_one_assist_request_until_staff_log_in() {
        let mut st = station();
        run(&mut st, [scan_of(&product("A", 300, None))]);
        let step = st.handle(key(Key::Help), &env());
        assert_eq!(kinds(&step), vec![ASSIST_REQUESTED]);
        assert_eq!(step.events[0].payload["basket_id"], "till-7-1");
        assert_eq!(step.events[0].payload["state"], "scanning");
        assert!(st.help_requested() && st.needs_staff());
        assert!(
            st.handle(key(Key::Help), &env()).events.is_empty(),
            "a second press calls nobody else"
        );
        run(&mut st, [badge()]);
        run(&mut st, type_pin(PIN));
        assert!(!st.help_requested(), "staff arrived");
    }

    #[test]
    fn staff_remove_a_chosen_line_from_the_keys() {
        let mut st = station();
        run(
            &mut st,
            [
                scan_of(&product("A", 100, None)),
                scan_of(&product("B", 200, None)),
                scan_of(&product("C", 300, None)),
                badge(),
            ],
        );
        run(&mut st, type_pin(PIN));
        st.handle(key(Key::Digit(2)), &env());
        assert!(
            matches!(st.staff(), StaffMode::RemoveLine { line: 2, .. }),
            "starts at the newest line"
        );
        // Help moves up to B; Pay removes it.
        st.handle(key(Key::Help), &env());
        let step = st.handle(key(Key::Pay), &env());
        assert_eq!(step.events[0].payload["action"], "remove_line");
        assert_eq!(step.events[0].payload["sku"], "B");
        assert!(step.persist);
        let skus: Vec<&str> = st.basket().lines().iter().map(|l| l.product.sku.as_str()).collect();
        assert_eq!(skus, vec!["A", "C"]);
        // Typing a line number works too: line 1 is A.
        st.handle(key(Key::Digit(2)), &env());
        st.handle(key(Key::Digit(1)), &env());
        st.handle(key(Key::Enter), &env());
        let skus: Vec<&str> = st.basket().lines().iter().map(|l| l.product.sku.as_str()).collect();
        assert_eq!(skus, vec!["C"]);
    }

    #[test]
    fn staff_reprint_the_last_receipt_as_a_copy_and_the_reprint_is_recorded() {
        let mut st = station();
        run(&mut st, [badge()]);
        run(&mut st, type_pin(PIN));
        st.handle(key(Key::Digit(4)), &env());
        assert_eq!(st.notice(), Some(&Notice::NothingToReprint));
        st.handle(key(Key::Cancel), &env());

        run(&mut st, [scan_of(&product("A", 300, None)), key(Key::Pay)]);
        run(&mut st, [approved("till-7-1-p1", "T-1")]);
        run(&mut st, [key(Key::Cancel), badge()]);
        run(&mut st, type_pin(PIN));
        let step = st.handle(key(Key::Digit(4)), &env());
        assert_eq!(step.actions, vec![Action::Print { reprint: true }]);
        assert_eq!(step.events[0].payload["action"], "reprint_receipt");
        assert_eq!(step.events[0].payload["receipt_number"], "0042-till-7-000001");
    }

    #[test]
    fn while_sales_are_paused_no_basket_opens_but_an_open_one_can_finish() {
        let mut st = station();
        run(&mut st, [scan_of(&product("A", 300, None))]);
        st.set_sales_blocked(true);
        run(&mut st, [scan_of(&product("B", 100, None))]);
        assert_eq!(st.basket().lines().len(), 2, "the open basket goes on");
        let step = st.handle(key(Key::Pay), &env());
        assert!(attempt(&step).is_some(), "and can be paid");
        st.handle(approved("till-7-1-p1", "T-1"), &env());
        let step = st.handle(scan_of(&product("C", 100, None)), &env());
        assert_eq!(st.notice(), Some(&Notice::SalesPaused));
        assert!(!step.commits(), "nothing written");
        assert!(matches!(st.basket().state(), State::Receipt { .. }), "no new basket");
    }

    #[test]
    fn staff_mode_closes_by_itself_after_a_minute_without_a_key() {
        let mut st = station();
        run(&mut st, [badge()]);
        run(&mut st, type_pin(PIN));
        st.handle(
            StationInput::Tick {
                elapsed: STAFF_IDLE / 2,
            },
            &env(),
        );
        assert!(matches!(st.staff(), StaffMode::Menu { .. }));
        st.handle(
            StationInput::Tick {
                elapsed: STAFF_IDLE / 2,
            },
            &env(),
        );
        assert_eq!(st.staff(), &StaffMode::Off);
    }

    #[test]
    fn the_persisted_station_round_trips_and_resumes_a_payment_with_a_query() {
        let mut st = station();
        run(&mut st, [scan_of(&product("A", 300, None)), key(Key::Pay)]);
        let bytes = serde_json::to_vec(st.persisted()).expect("serialises");
        let back: Persisted = serde_json::from_slice(&bytes).expect("restores");
        assert_eq!(&back, st.persisted());
        let mut restarted = Station::new(back, Vec::new());
        let step = restarted.resume();
        assert!(step.persist);
        assert_eq!(
            step.actions,
            vec![Action::QueryPayment {
                attempt_id: "till-7-1-p1".into()
            }],
            "a payment that may have happened is queried, never requested again"
        );
    }

    #[test]
    fn a_notice_on_the_idle_station_gives_way_to_the_welcome_screen() {
        let mut st = station();
        st.handle(
            StationInput::Scan(Scanned::Unknown {
                code: "8000000000001".into(),
            }),
            &env(),
        );
        assert!(st.notice().is_some(), "the shopper is told the code is unknown");
        st.handle(
            StationInput::Tick {
                elapsed: IDLE_NOTICE_FOR / 2,
            },
            &env(),
        );
        assert!(st.notice().is_some());
        st.handle(
            StationInput::Tick {
                elapsed: IDLE_NOTICE_FOR / 2,
            },
            &env(),
        );
        assert_eq!(st.notice(), None, "back to the welcome screen");
    }

    #[test]
    fn a_basket_waiting_for_help_is_not_abandoned() {
        let mut st = station();
        run(&mut st, [scan_of(&product("A", 300, None)), key(Key::Help)]);
        // Longer than the 3 minutes of abandonment, shorter than the call for help lasts.
        let step = st.handle(
            StationInput::Tick {
                elapsed: Duration::from_secs(240),
            },
            &env(),
        );
        assert!(step.events.is_empty(), "no checkout.abandoned while help is coming");
        assert_eq!(st.basket().state(), &State::Scanning);
        // Staff came and left; the shopper walked away: then it is abandoned.
        run(&mut st, [badge()]);
        run(&mut st, type_pin(PIN));
        st.handle(key(Key::Cancel), &env());
        let step = st.handle(
            StationInput::Tick {
                elapsed: Duration::from_secs(3600),
            },
            &env(),
        );
        assert_eq!(kinds(&step), vec![super::super::basket::CHECKOUT_ABANDONED]);
    }

    #[test]
    fn an_approval_that_comes_after_the_basket_gave_up_is_recorded_as_money_without_a_sale() {
        let mut st = station();
        run(&mut st, [scan_of(&product("A", 300, None)), key(Key::Pay)]);
        // The terminal said "declined" to a query; the shopper pays again, and that attempt is approved.
        st.handle(
            StationInput::ReconcileResult {
                attempt_id: "till-7-1-p1".into(),
                outcome: PaymentOutcome::Declined,
            },
            &env(),
        );
        run(&mut st, [key(Key::Pay)]);
        let sale = st.handle(approved("till-7-1-p2", "T-LATE"), &env());
        assert_eq!(kinds(&sale), vec![super::super::basket::SALE_COMPLETED]);
        // The same approval again (the request's answer after the query's): nothing.
        assert!(st.handle(approved("till-7-1-p2", "T-LATE"), &env()).events.is_empty());
        // The first attempt's charge went through after all: recorded, not dropped.
        let late = st.handle(approved("till-7-1-p1", "T-LATE"), &env());
        assert_eq!(kinds(&late), vec![PAYMENT_ORPHANED]);
        assert_eq!(late.events[0].class, EventClass::Money);
        assert_eq!(late.events[0].payload["payment_reference"], "T-LATE");
        assert_eq!(late.events[0].payload["basket_id"], "till-7-1");
    }

    #[test]
    fn three_wrong_pins_lock_the_badge_for_a_while_even_if_scanned_again() {
        let mut st = station();
        for _ in 0..2 {
            run(&mut st, [badge()]);
            run(&mut st, type_pin("1111"));
            st.handle(key(Key::Cancel), &env());
        }
        run(&mut st, [badge()]);
        assert!(
            matches!(st.staff(), StaffMode::Pin { wrong: 2, .. }),
            "the count survives a new badge scan"
        );
        let refused = run(&mut st, type_pin("1111")).pop().expect("enter");
        assert_eq!(refused.events[0].payload["action"], "pin_refused");
        run(&mut st, [badge()]);
        assert_eq!(st.staff(), &StaffMode::Off, "locked: no prompt");
        assert_eq!(st.notice(), Some(&Notice::UnknownBadge));
        st.handle(StationInput::Tick { elapsed: PIN_LOCKOUT }, &env());
        run(&mut st, [badge()]);
        run(&mut st, type_pin(PIN));
        assert!(
            matches!(st.staff(), StaffMode::Menu { .. }),
            "open again after the lockout"
        );
    }

    #[test]
    fn help_ends_with_the_sale_or_after_a_while() {
        let mut st = station();
        run(
            &mut st,
            [scan_of(&product("A", 300, None)), key(Key::Help), key(Key::Pay)],
        );
        assert!(st.help_requested());
        st.handle(approved("till-7-1-p1", "T"), &env());
        assert!(
            !st.help_requested(),
            "the receipt screen is not hidden by an old call for help"
        );
        run(&mut st, [key(Key::Cancel), key(Key::Help)]);
        assert!(st.help_requested());
        st.handle(StationInput::Tick { elapsed: HELP_FOR }, &env());
        assert!(!st.help_requested(), "an unanswered call expires");
    }

    #[test]
    fn line_zero_removes_nothing() {
        let mut st = station();
        run(
            &mut st,
            [
                scan_of(&product("A", 100, None)),
                scan_of(&product("B", 200, None)),
                badge(),
            ],
        );
        run(&mut st, type_pin(PIN));
        st.handle(key(Key::Digit(2)), &env());
        st.handle(key(Key::Digit(0)), &env());
        let step = st.handle(key(Key::Enter), &env());
        assert!(step.events.is_empty());
        assert_eq!(st.basket().lines().len(), 2);
    }

    #[test]
    fn a_restart_on_the_receipt_screen_before_the_printer_answered_prints_the_receipt() {
        let mut st = station();
        run(&mut st, [scan_of(&product("A", 300, None)), key(Key::Pay)]);
        st.handle(approved("till-7-1-p1", "T"), &env());
        let mut restarted = Station::new(st.persisted().clone(), Vec::new());
        assert_eq!(restarted.resume().actions, vec![Action::Print { reprint: false }]);
        st.handle(StationInput::Printed(PrintResult::Printed), &env());
        let mut restarted = Station::new(st.persisted().clone(), Vec::new());
        assert!(restarted.resume().actions.is_empty(), "printed: not again");
    }

    #[test]
    fn pin_hashes_are_salted_by_the_staff_id() {
        assert_ne!(pin_hash("S01", "1234"), pin_hash("S02", "1234"));
        assert_eq!(pin_hash("S01", "1234").len(), 64);
    }
}
