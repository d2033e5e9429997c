//! The self-checkout basket state machine, pure and sans-IO (like rumqttc's `state.rs`).
//!
//! Owns what is in the shopper's basket and where the sale stands: idle → scanning → (awaiting staff) →
//! paying → (reconciling) → receipt → idle, with the cancel, abandonment and payment-timeout paths. It decides
//! which scans become which lines (a repeat scan adds a piece; every weight or price label is a line of its
//! own), prices the basket with [`price_basket`] after every change, blocks payment while an age-restricted
//! line is unapproved, and guarantees that a payment is requested at most once per attempt and never again
//! while the terminal's answer is pending or unknown.
//!
//! Must never do I/O, read a clock, draw, or generate randomness. The caller resolves scans against the
//! catalog, passes elapsed monotonic time in [`Input::Tick`], and carries out the returned [`Effect`]s **in
//! order**: events are listed before [`Effect::Persist`] (an event may be recorded twice after a power cut,
//! never lost; central deduplicates on the basket id), and `Persist` comes before anything the outside world
//! sees ([`Effect::RequestPayment`], the screen), so that after a restart the persisted [`Basket`] tells
//! whether a payment may have been requested. After loading a persisted basket, call [`Basket::resume`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::barcode::{ErrorClass, Scan};
use crate::catalog::{CalendarDate, Product};
use crate::outbox::EventClass;
use crate::pricing::{price_basket, BasketLine, LineProblem, PricedBasket, PricingContext, PricingError, Quantity};

/// The most lines a basket takes. The station's saved state holds the basket and, on the receipt screen, a
/// copy of the sale (about 450 bytes per line each), and must stay under the outbox's 112 KiB state limit; the
/// sale event, under its 64 KiB limit. A shopper with more goes to a staffed till.
pub const MAX_LINES: usize = 80;

/// Event kind: a sale was paid (or cost nothing). Money class.
pub const SALE_COMPLETED: &str = "sale.completed";
/// Event kind: a basket was left alone past the inactivity limit (the abandonment KPI). Business class.
pub const CHECKOUT_ABANDONED: &str = "checkout.abandoned";
/// Event kind: the shopper cancelled a basket. Business class.
pub const CHECKOUT_CANCELLED: &str = "checkout.cancelled";
/// Event kind: something a member of staff did at the station (age approval, line removal, cancel). Business.
pub const STAFF_ACTION: &str = "staff.action";
/// Event kind: a payment attempt was declined or cancelled at the terminal. Money class.
pub const PAYMENT_FAILED: &str = "payment.failed";

/// serde form of [`Quantity`], which the pricing engine keeps free of serialisation concerns.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Quantity", rename_all = "snake_case")]
enum QuantityDef {
    Pieces(u32),
    Weight { grams: u32 },
    LabelPrice { cents: i64 },
}

/// One line of the basket: the product as it was when scanned and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The product snapshot (a catalog update during the sale does not reprice it).
    pub product: Product,
    /// Pieces, a weight, or a label price.
    #[serde(with = "QuantityDef")]
    pub quantity: Quantity,
}

impl Line {
    fn to_pricing(&self) -> BasketLine {
        BasketLine {
            product: self.product.clone(),
            quantity: self.quantity,
        }
    }
}

/// What one line costs, as last priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTotal {
    /// Unit price before discounts (per piece or per kg; the label price for a price label).
    pub unit_price_cents: i64,
    /// Line price before discounts.
    pub gross_cents: i64,
    /// Everything taken off the line.
    pub discount_cents: i64,
    /// What the line costs.
    pub net_cents: i64,
    /// VAT rate in basis points.
    pub vat_rate_bp: u32,
}

/// The basket's totals as last priced by [`price_basket`], one [`LineTotal`] per [`Line`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Per line, in line order.
    pub lines: Vec<LineTotal>,
    /// Sum of the lines before discounts.
    pub gross_cents: i64,
    /// Sum of all discounts.
    pub discount_cents: i64,
    /// Of which member prices.
    pub member_savings_cents: i64,
    /// What the shopper pays.
    pub total_cents: i64,
}

impl Totals {
    fn from_priced(p: &PricedBasket) -> Totals {
        Totals {
            lines: p
                .lines
                .iter()
                .map(|l| LineTotal {
                    unit_price_cents: l.unit_price_cents,
                    gross_cents: l.gross_cents,
                    discount_cents: l.gross_cents - l.net_cents,
                    net_cents: l.net_cents,
                    vat_rate_bp: l.vat_rate_bp,
                })
                .collect(),
            gross_cents: p.gross_cents,
            discount_cents: p.discount_cents,
            member_savings_cents: p.member_savings_cents,
            total_cents: p.total_cents,
        }
    }
}

/// The open basket: everything a sale needs, kept from its first scan until the station is idle again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// Unique per device and basket: `<device id>-<sequence>`.
    pub id: String,
    /// The business date the basket was opened on; the whole sale is priced with it, even across midnight.
    pub business_date: CalendarDate,
    /// Lines in scan order.
    pub lines: Vec<Line>,
    /// The loyalty card scanned for this basket: member prices apply while it is set.
    pub loyalty_id: Option<String>,
    /// The highest minimum age a member of staff approved for this shopper; lines up to it need no approval.
    pub age_approved: Option<u8>,
    /// Payment attempts requested so far (each has its own attempt id).
    pub attempts: u32,
    /// As last priced.
    pub totals: Totals,
}

impl Cart {
    /// The full pricing (discount reasons, VAT summary) of this basket, as the receipt prints it.
    pub fn priced(&self) -> Result<PricedBasket, PricingError> {
        price_basket(&pricing_lines(&self.lines), &self.context())
    }

    fn context(&self) -> PricingContext {
        PricingContext {
            business_date: self.business_date,
            member: self.loyalty_id.is_some(),
        }
    }

    /// Prices `self` as it now is, storing the totals; fails (leaving the totals as they were) when a line
    /// cannot be priced.
    fn reprice(&mut self) -> Result<(), PricingError> {
        let priced = price_basket(&pricing_lines(&self.lines), &self.context())?;
        self.totals = Totals::from_priced(&priced);
        Ok(())
    }

    /// The highest minimum age among lines that still need a staff approval.
    fn age_needed(&self) -> Option<u8> {
        self.lines
            .iter()
            .filter_map(|l| l.product.min_age)
            .filter(|&age| age > 0 && Some(age) > self.age_approved)
            .max()
    }

    fn value_and_count(&self) -> Value {
        json!({
            "basket_id": self.id,
            "value_cents": self.totals.total_cents,
            "line_count": self.lines.len(),
        })
    }
}

/// The message for a basket that cannot be priced, naming the product from the cart.
fn cannot_price(cart: &Cart, e: PricingError) -> Effect {
    let name = cart
        .lines
        .iter()
        .find(|l| l.product.sku == e.sku)
        .map(|l| l.product.name.clone())
        .unwrap_or_else(|| e.sku.clone());
    Effect::Message(Message::CannotAdd {
        sku: e.sku,
        name,
        problem: e.problem,
    })
}

fn pricing_lines(lines: &[Line]) -> Vec<BasketLine> {
    lines.iter().map(Line::to_pricing).collect()
}

/// Where the sale stands: what the screen shows and which inputs are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// No basket: the welcome screen. The first product or loyalty card opens a basket.
    Idle,
    /// A basket is open and takes scans.
    Scanning,
    /// The shopper asked to pay but an age-restricted line needs a member of staff first.
    AwaitingStaff,
    /// A payment was requested from the terminal; its answer is awaited. No second request, no scans.
    Paying {
        /// The attempt's id, unique per basket and attempt: the terminal can be queried for it idempotently.
        attempt_id: String,
        /// The amount requested.
        amount_cents: i64,
    },
    /// The terminal's answer is unknown (timed out, unknown, or a restart during payment): it must be queried
    /// for the attempt before anything else happens to the basket.
    Reconciling {
        /// The attempt being reconciled.
        attempt_id: String,
        /// The amount that was requested.
        amount_cents: i64,
        /// A member of staff asked to cancel the basket: done if the attempt turns out not paid.
        cancel_requested_by: Option<String>,
    },
    /// Paid: the receipt screen, until the shopper is done, a new scan, or a timeout.
    Receipt {
        /// The terminal's reference; `None` for a sale that cost nothing.
        payment_reference: Option<String>,
        /// The sale's receipt number ([`receipt_number`]).
        receipt_number: String,
    },
}

/// What a payment terminal said about an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Paid.
    Approved {
        /// The terminal's transaction reference.
        reference: String,
    },
    /// Refused by the card issuer or the terminal.
    Declined,
    /// Cancelled by the shopper at the terminal.
    Cancelled,
    /// No answer in time: the payment may or may not have happened.
    TimedOut,
    /// An answer that says nothing definite: the payment may or may not have happened.
    Unknown,
}

impl PaymentOutcome {
    fn name(&self) -> &'static str {
        match self {
            PaymentOutcome::Approved { .. } => "approved",
            PaymentOutcome::Declined => "declined",
            PaymentOutcome::Cancelled => "cancelled",
            PaymentOutcome::TimedOut => "timed_out",
            PaymentOutcome::Unknown => "unknown",
        }
    }
}

/// Something that happened at the station, already resolved by the caller (catalog lookup, badge check).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A code that resolved to a product.
    Product {
        /// The product as the catalog has it now (boxed: inputs are small otherwise).
        product: Box<Product>,
        /// The scan, for the embedded price or weight.
        scan: Box<Scan>,
    },
    /// A valid code the catalog does not know.
    Unknown {
        /// The code as the shopper can compare it with the label.
        code: String,
    },
    /// A code that could not be read.
    Invalid {
        /// Why, coarsely.
        reason: ErrorClass,
    },
    /// A loyalty card: the shopper becomes a member for this basket.
    LoyaltyCard {
        /// The card's id.
        id: String,
    },
    /// The shopper pressed "pay".
    Pay,
    /// The shopper pressed "cancel" (or "done" on the receipt screen).
    Cancel,
    /// Monotonic time passed since the previous tick (never wall-clock time).
    Tick {
        /// How much.
        elapsed: Duration,
    },
    /// A member of staff checked the shopper's age for every age-restricted line in the basket.
    StaffApproveAge {
        /// Who.
        staff_id: String,
    },
    /// A member of staff removed a line.
    StaffRemoveLine {
        /// Who.
        staff_id: String,
        /// 0-based index of the line.
        line: usize,
    },
    /// A member of staff cancelled the basket.
    StaffCancel {
        /// Who.
        staff_id: String,
    },
    /// The terminal's answer to [`Effect::RequestPayment`].
    PaymentResult {
        /// The attempt it answers.
        attempt_id: String,
        /// What it said.
        outcome: PaymentOutcome,
    },
    /// The terminal's answer to [`Effect::QueryPayment`].
    ReconcileResult {
        /// The attempt it answers.
        attempt_id: String,
        /// What it said.
        outcome: PaymentOutcome,
    },
}

/// A message for the shopper's screen (localised by `ui`). Nothing in the basket changed because of it unless
/// the same step also returned [`Effect::Persist`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The code is valid but not in the catalog.
    UnknownCode {
        /// The code as shown on the label.
        code: String,
    },
    /// The code could not be read.
    InvalidCode {
        /// Why.
        reason: ErrorClass,
    },
    /// The product cannot be added (e.g. sold by kg without a weight, too many pieces).
    CannotAdd {
        /// The product's SKU.
        sku: String,
        /// Its name, for the screen.
        name: String,
        /// Why.
        problem: LineProblem,
    },
    /// The basket has [`MAX_LINES`] lines: this product would be one more.
    BasketFull {
        /// The product's name, for the screen.
        name: String,
    },
    /// A payment is in progress: scans, cancel and pay wait for its outcome.
    PaymentInProgress,
    /// Nothing to pay.
    EmptyBasket,
    /// A member of staff must check the shopper's age before payment.
    AgeCheckNeeded {
        /// The highest minimum age to check.
        min_age: u8,
    },
    /// Staff is on the way: wait.
    WaitForStaff,
    /// There is no age-restricted line waiting for approval.
    NothingToApprove,
    /// There is no such line.
    NoSuchLine {
        /// The 0-based index asked for.
        line: usize,
    },
    /// Member prices now apply.
    MemberPricesApplied {
        /// What they save on the basket so far.
        savings_cents: i64,
    },
    /// A loyalty card was already scanned for this basket.
    AlreadyMember,
    /// The payment was declined; the basket is unchanged.
    PaymentDeclined,
    /// The payment was cancelled at the terminal; the basket is unchanged.
    PaymentCancelled,
    /// The cancel takes effect once the terminal confirms the payment did not happen.
    CancelAfterReconcile,
}

/// What the caller must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Persist the serialised [`Basket`] durably before carrying out the following effects or showing it.
    Persist,
    /// Ask the terminal for a payment.
    RequestPayment {
        /// Unique per basket and attempt; the terminal is queried with it.
        attempt_id: String,
        /// How much.
        amount_cents: i64,
    },
    /// Ask the terminal what became of an attempt; answer with [`Input::ReconcileResult`].
    QueryPayment {
        /// The attempt.
        attempt_id: String,
    },
    /// Record an event in the outbox.
    Event {
        /// The kind, one of this module's constants ([`SALE_COMPLETED`]…).
        kind: &'static str,
        /// Its class.
        class: EventClass,
        /// Its data.
        payload: Value,
    },
    /// Print the receipt of the basket now on the [`State::Receipt`] screen (its cart is still
    /// [`Basket::cart`]).
    PrintReceipt {
        /// The basket.
        basket_id: String,
        /// Its receipt number.
        receipt_number: String,
    },
    /// Show a message.
    Message(Message),
}

/// What the machine needs from outside besides its inputs: the business date and the timeouts
/// (configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Env {
    /// The business date a new basket is priced with.
    pub business_date: CalendarDate,
    /// An open basket (scanning or awaiting staff) without any input for this long is abandoned.
    pub abandon_after: Duration,
    /// A payment without an answer for this long is reconciled (the terminal is queried).
    pub payment_timeout: Duration,
    /// While reconciling, the terminal is queried again this often until it gives a definite answer.
    pub requery_every: Duration,
    /// The receipt screen goes back to idle after this long.
    pub receipt_for: Duration,
    /// Loyalty points a member earns per whole euro paid.
    pub points_per_euro: u32,
}

impl Env {
    /// `business_date` with the default timeouts: abandon after 3 min, payment timeout 2 min, re-query every
    /// 5 s, receipt for 30 s; one loyalty point per euro.
    pub fn new(business_date: CalendarDate) -> Env {
        Env {
            business_date,
            abandon_after: Duration::from_secs(180),
            payment_timeout: Duration::from_secs(120),
            requery_every: Duration::from_secs(5),
            receipt_for: Duration::from_secs(30),
            points_per_euro: 1,
        }
    }
}

/// The station's checkout state: what [`Effect::Persist`] saves, whole, and what a restart resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basket {
    /// The store, for receipt numbers.
    #[serde(default)]
    store_id: String,
    device_id: String,
    /// Baskets opened on this device so far; the next basket is numbered one more.
    sequence: u64,
    /// Sales completed on this device so far: the last receipt number's sequence. Persisted with the sale, in
    /// the same durable step as its event, so the numbers have no gap and never repeat.
    #[serde(default)]
    receipts: u64,
    state: State,
    cart: Option<Cart>,
    /// Time without input in this state (scanning, awaiting staff, receipt), or since the payment request
    /// (paying) or the last query (reconciling).
    quiet: Duration,
}

impl Basket {
    /// An idle station. `device_id` must be unique in the fleet: basket and attempt ids are built from it.
    pub fn new(device_id: impl Into<String>) -> Basket {
        Basket {
            store_id: String::new(),
            device_id: device_id.into(),
            sequence: 0,
            receipts: 0,
            state: State::Idle,
            cart: None,
            quiet: Duration::ZERO,
        }
    }

    /// The same station in store `store_id` (printed in receipt numbers).
    pub fn in_store(mut self, store_id: impl Into<String>) -> Basket {
        self.store_id = store_id.into();
        self
    }

    /// Where the sale stands.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The open basket; `None` when idle.
    pub fn cart(&self) -> Option<&Cart> {
        self.cart.as_ref()
    }

    /// The open basket's lines (empty when idle).
    pub fn lines(&self) -> &[Line] {
        self.cart.as_ref().map_or(&[], |c| c.lines.as_slice())
    }

    /// The open basket's totals as last priced (zero when idle).
    pub fn totals(&self) -> Totals {
        self.cart.as_ref().map(|c| c.totals.clone()).unwrap_or_default()
    }

    /// The full pricing (discount reasons, VAT summary) for the screen and the receipt; `None` when idle.
    pub fn priced(&self) -> Option<Result<PricedBasket, PricingError>> {
        self.cart.as_ref().map(Cart::priced)
    }

    /// Something happened at the station outside the basket (Help pressed, staff badged in or working the
    /// menu): an open basket is not abandoned meanwhile. Payment timers are not touched.
    pub fn note_activity(&mut self) {
        if matches!(
            self.state,
            State::Scanning | State::AwaitingStaff | State::Receipt { .. }
        ) {
            self.quiet = Duration::ZERO;
        }
    }

    /// After loading a persisted basket at start: a basket that was paying may have been charged, so it goes
    /// to reconciling and the terminal is queried; one already reconciling is queried again.
    pub fn resume(&mut self) -> Vec<Effect> {
        self.quiet = Duration::ZERO;
        match &self.state {
            State::Paying {
                attempt_id,
                amount_cents,
            } => {
                let attempt_id = attempt_id.clone();
                self.state = State::Reconciling {
                    attempt_id: attempt_id.clone(),
                    amount_cents: *amount_cents,
                    cancel_requested_by: None,
                };
                vec![Effect::Persist, Effect::QueryPayment { attempt_id }]
            }
            State::Reconciling { attempt_id, .. } => vec![Effect::QueryPayment {
                attempt_id: attempt_id.clone(),
            }],
            _ => Vec::new(),
        }
    }

    /// Applies one input; returns what the caller must do, in order. The new state is [`Basket::state`].
    pub fn handle(&mut self, input: Input, env: &Env) -> Vec<Effect> {
        let activity = !matches!(
            input,
            Input::Tick { .. } | Input::PaymentResult { .. } | Input::ReconcileResult { .. }
        );
        if activity
            && matches!(
                self.state,
                State::Scanning | State::AwaitingStaff | State::Receipt { .. }
            )
        {
            self.quiet = Duration::ZERO;
        }
        match input {
            Input::Product { product, scan } => self.on_product(*product, &scan, env),
            Input::Unknown { code } => vec![Effect::Message(Message::UnknownCode { code })],
            Input::Invalid { reason } => vec![Effect::Message(Message::InvalidCode { reason })],
            Input::LoyaltyCard { id } => self.on_loyalty(id, env),
            Input::Pay => self.on_pay(env),
            Input::Cancel => self.on_cancel(),
            Input::Tick { elapsed } => self.on_tick(elapsed, env),
            Input::StaffApproveAge { staff_id } => self.on_approve_age(staff_id, env),
            Input::StaffRemoveLine { staff_id, line } => self.on_remove_line(staff_id, line),
            Input::StaffCancel { staff_id } => self.on_staff_cancel(staff_id),
            Input::PaymentResult { attempt_id, outcome } | Input::ReconcileResult { attempt_id, outcome } => {
                self.on_outcome(&attempt_id, outcome, env)
            }
        }
    }

    fn payment_pending(&self) -> bool {
        matches!(self.state, State::Paying { .. } | State::Reconciling { .. })
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.quiet = Duration::ZERO;
    }

    fn close(&mut self) {
        self.cart = None;
        self.enter(State::Idle);
    }

    /// The basket a scan goes into: the open one, or a new one (not yet numbered in `self`) when idle or on
    /// the receipt screen.
    fn working_cart(&self, env: &Env) -> (Cart, bool) {
        match (&self.state, &self.cart) {
            (State::Scanning | State::AwaitingStaff, Some(cart)) => (cart.clone(), false),
            _ => (
                Cart {
                    id: format!("{}-{}", self.device_id, self.sequence + 1),
                    business_date: env.business_date,
                    lines: Vec::new(),
                    loyalty_id: None,
                    age_approved: None,
                    attempts: 0,
                    totals: Totals::default(),
                },
                true,
            ),
        }
    }

    fn commit(&mut self, cart: Cart, opened: bool) {
        if opened {
            self.sequence += 1;
        }
        self.cart = Some(cart);
        self.enter(State::Scanning);
    }

    fn on_product(&mut self, product: Product, scan: &Scan, env: &Env) -> Vec<Effect> {
        if self.payment_pending() {
            return vec![Effect::Message(Message::PaymentInProgress)];
        }
        let (sku, name) = (product.sku.clone(), product.name.clone());
        let line = BasketLine::scanned(product, scan);
        if let Err(problem) = line.check() {
            return vec![Effect::Message(Message::CannotAdd { sku, name, problem })];
        }
        let (mut cart, opened) = self.working_cart(env);
        // A repeat scan of a piece adds to its line; weight and price labels are each a line of their own. Only
        // the same product snapshot merges: after a catalog update mid-sale the new price is a new line.
        let merged = match line.quantity {
            Quantity::Pieces(n) => cart
                .lines
                .iter_mut()
                .find(|l| matches!(l.quantity, Quantity::Pieces(_)) && l.product == line.product)
                .map(|l| {
                    if let Quantity::Pieces(m) = l.quantity {
                        l.quantity = Quantity::Pieces(m.saturating_add(n));
                    }
                })
                .is_some(),
            Quantity::Weight { .. } | Quantity::LabelPrice { .. } => false,
        };
        if !merged && cart.lines.len() >= MAX_LINES {
            return vec![Effect::Message(Message::BasketFull { name })];
        }
        if !merged {
            cart.lines.push(Line {
                product: line.product,
                quantity: line.quantity,
            });
        }
        if let Err(e) = cart.reprice() {
            return vec![Effect::Message(Message::CannotAdd {
                sku,
                name,
                problem: e.problem,
            })];
        }
        self.commit(cart, opened);
        vec![Effect::Persist]
    }

    fn on_loyalty(&mut self, id: String, env: &Env) -> Vec<Effect> {
        if self.payment_pending() {
            return vec![Effect::Message(Message::PaymentInProgress)];
        }
        let (mut cart, opened) = self.working_cart(env);
        if cart.loyalty_id.is_some() {
            return vec![Effect::Message(Message::AlreadyMember)];
        }
        cart.loyalty_id = Some(id);
        if let Err(e) = cart.reprice() {
            return vec![cannot_price(&cart, e)];
        }
        let savings_cents = cart.totals.member_savings_cents;
        self.commit(cart, opened);
        vec![
            Effect::Persist,
            Effect::Message(Message::MemberPricesApplied { savings_cents }),
        ]
    }

    fn on_pay(&mut self, env: &Env) -> Vec<Effect> {
        match &self.state {
            State::Paying { .. } | State::Reconciling { .. } => vec![Effect::Message(Message::PaymentInProgress)],
            State::AwaitingStaff => vec![Effect::Message(Message::WaitForStaff)],
            State::Idle | State::Receipt { .. } => vec![Effect::Message(Message::EmptyBasket)],
            State::Scanning => {
                let Some(cart) = &self.cart else {
                    return vec![Effect::Message(Message::EmptyBasket)];
                };
                if cart.lines.is_empty() {
                    return vec![Effect::Message(Message::EmptyBasket)];
                }
                if let Some(min_age) = cart.age_needed() {
                    self.enter(State::AwaitingStaff);
                    return vec![Effect::Persist, Effect::Message(Message::AgeCheckNeeded { min_age })];
                }
                self.start_payment(env)
            }
        }
    }

    /// From scanning or awaiting staff, with every age-restricted line approved and at least one line.
    fn start_payment(&mut self, env: &Env) -> Vec<Effect> {
        let Some(cart) = self.cart.as_mut() else {
            return vec![Effect::Message(Message::EmptyBasket)];
        };
        let amount_cents = cart.totals.total_cents;
        if amount_cents == 0 {
            // Nothing to charge (free items, or a label price of 0): a terminal refuses a zero amount.
            return self.complete_sale(None, None, env);
        }
        cart.attempts += 1;
        let attempt_id = format!("{}-p{}", cart.id, cart.attempts);
        self.enter(State::Paying {
            attempt_id: attempt_id.clone(),
            amount_cents,
        });
        vec![
            Effect::Persist,
            Effect::RequestPayment {
                attempt_id,
                amount_cents,
            },
        ]
    }

    fn complete_sale(&mut self, reference: Option<String>, attempt_id: Option<String>, env: &Env) -> Vec<Effect> {
        let Some(cart) = &self.cart else {
            return Vec::new();
        };
        // The full pricing for the record: the same engine and inputs as the stored totals, so it cannot fail
        // where they did not; if it somehow did, the sale is still recorded from the stored totals.
        let priced = cart.priced().ok();
        let lines: Vec<Value> = cart
            .lines
            .iter()
            .zip(&cart.totals.lines)
            .enumerate()
            .map(|(i, (l, t))| {
                let discounts: Vec<Value> = priced
                    .as_ref()
                    .and_then(|p| p.lines.get(i))
                    .map(|pl| {
                        pl.discounts
                            .iter()
                            .map(|d| json!({ "reason": d.reason.text(crate::config::Language::En), "cents": d.cents }))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "sku": l.product.sku,
                    "name": l.product.name,
                    "quantity": quantity_json(l.quantity),
                    "unit_price_cents": t.unit_price_cents,
                    "gross_cents": t.gross_cents,
                    "discount_cents": t.discount_cents,
                    "discounts": discounts,
                    "net_cents": t.net_cents,
                    "vat_rate_bp": t.vat_rate_bp,
                })
            })
            .collect();
        let promotions: Vec<Value> = priced
            .as_ref()
            .map(|p| {
                p.promotions
                    .iter()
                    .map(|pr| json!({ "id": pr.id, "label": pr.label, "cents": pr.cents, "lines": pr.lines }))
                    .collect()
            })
            .unwrap_or_default();
        let vat: Vec<Value> = priced
            .as_ref()
            .map(|p| {
                p.vat
                    .iter()
                    .map(|v| {
                        json!({
                            "rate_bp": v.rate_bp,
                            "total_cents": v.total_cents,
                            "base_cents": v.base_cents,
                            "vat_cents": v.vat_cents,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let points_earned = match &cart.loyalty_id {
            Some(_) => points_for(cart.totals.total_cents, env.points_per_euro),
            None => 0,
        };
        let receipt_seq = self.receipts + 1;
        let number = receipt_number(&self.store_id, &self.device_id, receipt_seq);
        let payload = json!({
            "basket_id": cart.id,
            "receipt_number": number,
            "business_date": cart.business_date,
            "member": cart.loyalty_id.is_some(),
            "loyalty_id": cart.loyalty_id,
            "points_earned": points_earned,
            "lines": lines,
            "promotions": promotions,
            "vat": vat,
            "gross_cents": cart.totals.gross_cents,
            "discount_cents": cart.totals.discount_cents,
            "member_savings_cents": cart.totals.member_savings_cents,
            "total_cents": cart.totals.total_cents,
            "payment_reference": reference,
            "attempt_id": attempt_id,
            // Central confirms the sale (and credits the points) when it books it; until then it is provisional.
            "provisional": true,
        });
        let basket_id = cart.id.clone();
        self.receipts = receipt_seq;
        self.enter(State::Receipt {
            payment_reference: reference,
            receipt_number: number.clone(),
        });
        vec![
            Effect::Event {
                kind: SALE_COMPLETED,
                class: EventClass::Money,
                payload,
            },
            Effect::Persist,
            Effect::PrintReceipt {
                basket_id,
                receipt_number: number,
            },
        ]
    }

    fn on_cancel(&mut self) -> Vec<Effect> {
        match &self.state {
            State::Idle => Vec::new(),
            State::Paying { .. } | State::Reconciling { .. } => vec![Effect::Message(Message::PaymentInProgress)],
            State::AwaitingStaff => {
                self.enter(State::Scanning);
                vec![Effect::Persist]
            }
            State::Receipt { .. } => {
                self.close();
                vec![Effect::Persist]
            }
            State::Scanning => self.close_reporting(CHECKOUT_CANCELLED),
        }
    }

    fn on_tick(&mut self, elapsed: Duration, env: &Env) -> Vec<Effect> {
        self.quiet = self.quiet.saturating_add(elapsed);
        match &self.state {
            State::Idle => Vec::new(),
            State::Scanning | State::AwaitingStaff => {
                if self.quiet < env.abandon_after {
                    return Vec::new();
                }
                self.close_reporting(CHECKOUT_ABANDONED)
            }
            State::Paying {
                attempt_id,
                amount_cents,
            } => {
                if self.quiet < env.payment_timeout {
                    return Vec::new();
                }
                let attempt_id = attempt_id.clone();
                let amount_cents = *amount_cents;
                self.enter(State::Reconciling {
                    attempt_id: attempt_id.clone(),
                    amount_cents,
                    cancel_requested_by: None,
                });
                vec![Effect::Persist, Effect::QueryPayment { attempt_id }]
            }
            State::Reconciling { attempt_id, .. } => {
                if self.quiet < env.requery_every {
                    return Vec::new();
                }
                let attempt_id = attempt_id.clone();
                self.quiet = Duration::ZERO;
                vec![Effect::QueryPayment { attempt_id }]
            }
            State::Receipt { .. } => {
                if self.quiet < env.receipt_for {
                    return Vec::new();
                }
                self.close();
                vec![Effect::Persist]
            }
        }
    }

    fn on_approve_age(&mut self, staff_id: String, env: &Env) -> Vec<Effect> {
        if self.payment_pending() {
            return vec![Effect::Message(Message::PaymentInProgress)];
        }
        let awaiting = matches!(self.state, State::AwaitingStaff);
        let open = awaiting || matches!(self.state, State::Scanning);
        let Some(cart) = self.cart.as_mut().filter(|_| open) else {
            return vec![Effect::Message(Message::NothingToApprove)];
        };
        let Some(min_age) = cart.age_needed() else {
            return vec![Effect::Message(Message::NothingToApprove)];
        };
        cart.age_approved = Some(min_age);
        let event = Effect::Event {
            kind: STAFF_ACTION,
            class: EventClass::Business,
            payload: json!({
                "action": "approve_age",
                "staff_id": staff_id,
                "basket_id": cart.id,
                "min_age": min_age,
            }),
        };
        let mut effects = vec![event];
        if awaiting {
            // The shopper already asked to pay: the approval lets the payment go ahead.
            effects.extend(self.start_payment(env));
        } else {
            self.quiet = Duration::ZERO;
            effects.push(Effect::Persist);
        }
        effects
    }

    fn on_remove_line(&mut self, staff_id: String, line: usize) -> Vec<Effect> {
        if self.payment_pending() {
            return vec![Effect::Message(Message::PaymentInProgress)];
        }
        let open = matches!(self.state, State::Scanning | State::AwaitingStaff);
        let Some(mut cart) = self.cart.clone().filter(|c| open && line < c.lines.len()) else {
            return vec![Effect::Message(Message::NoSuchLine { line })];
        };
        let removed = cart.lines.remove(line);
        let value_cents = cart.totals.lines.get(line).map_or(0, |t| t.net_cents);
        if let Err(e) = cart.reprice() {
            return vec![cannot_price(&cart, e)];
        }
        let payload = json!({
            "action": "remove_line",
            "staff_id": staff_id,
            "basket_id": cart.id,
            "line": line,
            "sku": removed.product.sku,
            "quantity": quantity_json(removed.quantity),
            "value_cents": value_cents,
        });
        // Back to scanning also from awaiting staff: the shopper presses "pay" again on the changed basket.
        self.commit(cart, false);
        vec![
            Effect::Event {
                kind: STAFF_ACTION,
                class: EventClass::Business,
                payload,
            },
            Effect::Persist,
        ]
    }

    fn on_staff_cancel(&mut self, staff_id: String) -> Vec<Effect> {
        match &mut self.state {
            State::Idle => Vec::new(),
            State::Receipt { .. } => {
                self.close();
                vec![Effect::Persist]
            }
            State::Scanning | State::AwaitingStaff => self.staff_cancelled(staff_id, Vec::new()),
            State::Paying {
                attempt_id,
                amount_cents,
            } => {
                // The terminal may be charging right now: cancel only once it says the attempt is not paid.
                let attempt_id = attempt_id.clone();
                let amount_cents = *amount_cents;
                self.enter(State::Reconciling {
                    attempt_id: attempt_id.clone(),
                    amount_cents,
                    cancel_requested_by: Some(staff_id),
                });
                vec![
                    Effect::Persist,
                    Effect::QueryPayment { attempt_id },
                    Effect::Message(Message::CancelAfterReconcile),
                ]
            }
            State::Reconciling {
                cancel_requested_by, ..
            } => {
                *cancel_requested_by = Some(staff_id);
                vec![Effect::Persist, Effect::Message(Message::CancelAfterReconcile)]
            }
        }
    }

    /// Closes the open basket and reports it as `kind` with its value and line count, unless it holds no line
    /// (a loyalty card scanned on the welcome screen, or the last line removed): an empty basket is not a
    /// cancelled or abandoned sale, and counting it would skew the abandonment figure.
    fn close_reporting(&mut self, kind: &'static str) -> Vec<Effect> {
        let payload = self
            .cart
            .as_ref()
            .filter(|cart| !cart.lines.is_empty())
            .map(Cart::value_and_count);
        self.close();
        match payload {
            Some(payload) => vec![
                Effect::Event {
                    kind,
                    class: EventClass::Business,
                    payload,
                },
                Effect::Persist,
            ],
            None => vec![Effect::Persist],
        }
    }

    /// Closes the open basket on a staff cancel; `effects` (events) come first.
    fn staff_cancelled(&mut self, staff_id: String, mut effects: Vec<Effect>) -> Vec<Effect> {
        let mut payload = self.cart.as_ref().map(Cart::value_and_count).unwrap_or(json!({}));
        if let Value::Object(map) = &mut payload {
            map.insert("action".into(), json!("cancel_basket"));
            map.insert("staff_id".into(), json!(staff_id));
        }
        self.close();
        effects.push(Effect::Event {
            kind: STAFF_ACTION,
            class: EventClass::Business,
            payload,
        });
        effects.push(Effect::Persist);
        effects
    }

    fn on_outcome(&mut self, answered: &str, outcome: PaymentOutcome, env: &Env) -> Vec<Effect> {
        let (attempt_id, amount_cents, cancel_by, reconciling) = match &self.state {
            State::Paying {
                attempt_id,
                amount_cents,
            } => (attempt_id.clone(), *amount_cents, None, false),
            State::Reconciling {
                attempt_id,
                amount_cents,
                cancel_requested_by,
            } => (attempt_id.clone(), *amount_cents, cancel_requested_by.clone(), true),
            // A late or duplicate answer for an attempt already settled: nothing to do.
            _ => return Vec::new(),
        };
        if attempt_id != answered {
            return Vec::new();
        }
        match outcome {
            PaymentOutcome::Approved { reference } => self.complete_sale(Some(reference), Some(attempt_id), env),
            PaymentOutcome::Declined | PaymentOutcome::Cancelled => {
                let basket_id = self.cart.as_ref().map(|c| c.id.clone());
                let failed = Effect::Event {
                    kind: PAYMENT_FAILED,
                    class: EventClass::Money,
                    payload: json!({
                        "basket_id": basket_id,
                        "attempt_id": attempt_id,
                        "amount_cents": amount_cents,
                        "outcome": outcome.name(),
                    }),
                };
                if let Some(staff_id) = cancel_by {
                    return self.staff_cancelled(staff_id, vec![failed]);
                }
                self.enter(State::Scanning);
                let message = if outcome == PaymentOutcome::Declined {
                    Message::PaymentDeclined
                } else {
                    Message::PaymentCancelled
                };
                vec![failed, Effect::Persist, Effect::Message(message)]
            }
            PaymentOutcome::TimedOut | PaymentOutcome::Unknown => {
                if reconciling {
                    // Still unknown: the next query comes from `Tick` after `requery_every`, not in a loop.
                    return Vec::new();
                }
                self.enter(State::Reconciling {
                    attempt_id: attempt_id.clone(),
                    amount_cents,
                    cancel_requested_by: None,
                });
                vec![Effect::Persist, Effect::QueryPayment { attempt_id }]
            }
        }
    }
}

/// A receipt number: store, device and the device's sale sequence, e.g. `0042-till-07-000123`. Unique per
/// device and gap-free: the sequence advances only with a completed sale, in the same durable step.
pub fn receipt_number(store_id: &str, device_id: &str, seq: u64) -> String {
    super::receipt::ReceiptNumber {
        store: store_id.to_owned(),
        device: device_id.to_owned(),
        seq,
    }
    .to_string()
}

/// Loyalty points for a sale of `total_cents`: `per_euro` for each whole euro (never negative).
pub fn points_for(total_cents: i64, per_euro: u32) -> u64 {
    u64::try_from(total_cents / 100).unwrap_or(0) * u64::from(per_euro)
}

fn quantity_json(q: Quantity) -> Value {
    match q {
        Quantity::Pieces(n) => json!({ "pieces": n }),
        Quantity::Weight { grams } => json!({ "grams": grams }),
        Quantity::LabelPrice { cents } => json!({ "label_price_cents": cents }),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::catalog::Unit;

    fn env() -> Env {
        Env::new("2026-03-10".parse().expect("test date is valid"))
    }

    fn product(sku: &str, price: i64) -> Product {
        Product::for_test(sku, price, 2200)
    }

    fn by_kg(sku: &str, cents_per_kg: i64) -> Product {
        Product {
            unit: Unit::Kg,
            ..product(sku, cents_per_kg)
        }
    }

    fn restricted(sku: &str, price: i64, age: u8) -> Product {
        Product {
            min_age: Some(age),
            ..product(sku, price)
        }
    }

    fn scan_with(price_cents: Option<i64>, weight_g: Option<u32>) -> Scan {
        Scan::for_test(price_cents, weight_g)
    }

    fn scan(p: &Product) -> Input {
        Input::Product {
            product: Box::new(p.clone()),
            scan: Box::new(scan_with(None, None)),
        }
    }

    fn weighed(p: &Product, grams: u32) -> Input {
        Input::Product {
            product: Box::new(p.clone()),
            scan: Box::new(scan_with(None, Some(grams))),
        }
    }

    fn labelled(p: &Product, cents: i64) -> Input {
        Input::Product {
            product: Box::new(p.clone()),
            scan: Box::new(scan_with(Some(cents), None)),
        }
    }

    fn staff(id: &str) -> String {
        id.to_string()
    }

    fn staff_cancel(id: &str) -> Input {
        Input::StaffCancel { staff_id: staff(id) }
    }

    fn tick(secs: u64) -> Input {
        Input::Tick {
            elapsed: Duration::from_secs(secs),
        }
    }

    fn outcome(attempt_id: &str, outcome: PaymentOutcome) -> Input {
        Input::PaymentResult {
            attempt_id: attempt_id.into(),
            outcome,
        }
    }

    fn reconciled(attempt_id: &str, outcome: PaymentOutcome) -> Input {
        Input::ReconcileResult {
            attempt_id: attempt_id.into(),
            outcome,
        }
    }

    fn approved(reference: &str) -> PaymentOutcome {
        PaymentOutcome::Approved {
            reference: reference.into(),
        }
    }

    /// A basket after `inputs`, all applied with the default environment.
    fn after(inputs: impl IntoIterator<Item = Input>) -> Basket {
        let mut b = Basket::new("dev1").in_store("0042");
        for input in inputs {
            b.handle(input, &env());
        }
        b
    }

    /// Two pieces of A (1.00 each) and one B (2.50): 4.50, paying attempt `dev1-1-p1`.
    fn paying() -> Basket {
        let (a, b) = (product("A", 100), product("B", 250));
        let basket = after([scan(&a), scan(&a), scan(&b), Input::Pay]);
        assert_eq!(basket.state(), &paying_state("dev1-1-p1", 450));
        basket
    }

    fn paying_state(attempt_id: &str, amount_cents: i64) -> State {
        State::Paying {
            attempt_id: attempt_id.into(),
            amount_cents,
        }
    }

    fn reconciling() -> Basket {
        let mut b = paying();
        b.handle(outcome("dev1-1-p1", PaymentOutcome::Unknown), &env());
        assert!(matches!(b.state(), State::Reconciling { .. }));
        b
    }

    fn requests(effects: &[Effect]) -> usize {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::RequestPayment { .. }))
            .count()
    }

    fn events(effects: &[Effect]) -> Vec<(&'static str, Value)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Event { kind, payload, .. } => Some((*kind, payload.clone())),
                _ => None,
            })
            .collect()
    }

    fn message(m: Message) -> Vec<Effect> {
        vec![Effect::Message(m)]
    }

    #[test]
    fn a_first_product_scan_opens_a_basket_and_persists() {
        let mut b = Basket::new("dev1");
        let effects = b.handle(scan(&product("A", 100)), &env());
        assert_eq!(effects, vec![Effect::Persist]);
        assert_eq!(b.state(), &State::Scanning);
        let cart = b.cart().expect("a basket is open");
        assert_eq!(cart.id, "dev1-1");
        assert_eq!(cart.totals.total_cents, 100);
    }

    #[test]
    fn a_repeat_scan_of_a_piece_product_adds_a_piece_to_its_line() {
        let (a, b) = (product("A", 100), product("B", 250));
        let basket = after([scan(&a), scan(&b), scan(&a)]);
        let quantities: Vec<Quantity> = basket.lines().iter().map(|l| l.quantity).collect();
        assert_eq!(quantities, vec![Quantity::Pieces(2), Quantity::Pieces(1)]);
        assert_eq!(basket.totals().total_cents, 450);
    }

    #[test]
    fn each_weight_label_becomes_its_own_line_priced_half_up_to_the_cent() {
        let apples = by_kg("APL", 2590);
        let basket = after([weighed(&apples, 350), weighed(&apples, 350)]);
        assert_eq!(basket.lines().len(), 2);
        // 350 g × 25.90 €/kg = 9.065 → 9.07 per line.
        let nets: Vec<i64> = basket.totals().lines.iter().map(|l| l.net_cents).collect();
        assert_eq!(nets, vec![907, 907]);
        assert_eq!(basket.totals().total_cents, 1814);
    }

    #[test]
    fn each_price_label_becomes_its_own_line_at_the_label_price() {
        let cheese = by_kg("CHZ", 1990);
        let basket = after([labelled(&cheese, 345), labelled(&cheese, 345)]);
        assert_eq!(basket.lines().len(), 2);
        assert_eq!(basket.lines()[0].quantity, Quantity::LabelPrice { cents: 345 });
        assert_eq!(basket.totals().total_cents, 690);
    }

    #[test]
    fn a_product_that_cannot_be_added_is_explained_without_touching_the_basket() {
        let a = product("A", 100);
        let cases = [
            (scan(&by_kg("K", 1000)), LineProblem::NeedsWeight),
            (weighed(&by_kg("K", 1000), 0), LineProblem::ZeroWeight),
            (labelled(&a, -5), LineProblem::LabelPrice(-5)),
        ];
        for (input, problem) in cases {
            for mut basket in [Basket::new("dev1"), after([scan(&a)])] {
                let before = basket.clone();
                let (sku, name) = match &input {
                    Input::Product { product, .. } => (product.sku.clone(), product.name.clone()),
                    _ => unreachable!("cases are products"),
                };
                let effects = basket.handle(input.clone(), &env());
                assert_eq!(effects, message(Message::CannotAdd { sku, name, problem }));
                assert_eq!(basket, before);
            }
        }
    }

    #[test]
    fn a_basket_takes_at_most_max_lines_lines_but_repeat_scans_still_add_pieces() {
        let products: Vec<Product> = (0..=MAX_LINES).map(|i| product(&format!("P{i}"), 100)).collect();
        let mut basket = after(products[..MAX_LINES].iter().map(scan));
        assert_eq!(basket.lines().len(), MAX_LINES);
        let before = basket.clone();
        let effects = basket.handle(scan(&products[MAX_LINES]), &env());
        assert_eq!(
            effects,
            message(Message::BasketFull {
                name: products[MAX_LINES].name.clone()
            })
        );
        assert_eq!(basket, before, "nothing added");
        basket.handle(scan(&products[0]), &env());
        assert_eq!(
            basket.lines()[0].quantity,
            Quantity::Pieces(2),
            "a repeat scan is not a new line"
        );
        // The full basket can still be paid: its state and sale event fit the outbox's limits.
        basket.handle(Input::Pay, &env());
        let effects = basket.handle(outcome("dev1-1-p1", approved("T-1")), &env());
        let sale = serde_json::to_vec(&events(&effects)[0].1).expect("serialises");
        assert!(
            sale.len() < crate::storage::outbox_store::MAX_EVENT_BYTES / 2,
            "{} bytes",
            sale.len()
        );
        let state = serde_json::to_vec(&basket).expect("serialises");
        assert!(
            2 * state.len() < crate::storage::outbox_store::MAX_STATE_BYTES,
            "basket and its copy for a reprint: 2 × {} bytes",
            state.len()
        );
    }

    #[test]
    fn too_many_pieces_is_refused_and_the_line_keeps_its_quantity() {
        let a = product("A", 1);
        let mut basket = after([scan(&a)]);
        basket.cart.as_mut().expect("open").lines[0].quantity = Quantity::Pieces(crate::pricing::MAX_PIECES);
        let effects = basket.handle(scan(&a), &env());
        assert!(matches!(
            effects.as_slice(),
            [Effect::Message(Message::CannotAdd {
                problem: LineProblem::TooManyPieces(_),
                ..
            })]
        ));
        assert_eq!(basket.lines()[0].quantity, Quantity::Pieces(crate::pricing::MAX_PIECES));
    }

    #[test]
    fn a_product_changed_by_a_catalog_update_mid_sale_gets_a_line_of_its_own() {
        let old = product("A", 100);
        let new = product("A", 120);
        let basket = after([scan(&old), scan(&new)]);
        assert_eq!(basket.lines().len(), 2);
        assert_eq!(basket.totals().total_cents, 220);
    }

    #[test]
    fn unknown_and_invalid_codes_are_explained_without_touching_the_basket() {
        let inputs = [
            (
                Input::Unknown {
                    code: "8001234567890".into(),
                },
                Message::UnknownCode {
                    code: "8001234567890".into(),
                },
            ),
            (
                Input::Invalid {
                    reason: ErrorClass::CheckDigit,
                },
                Message::InvalidCode {
                    reason: ErrorClass::CheckDigit,
                },
            ),
        ];
        for (input, shown) in inputs {
            for mut basket in [Basket::new("dev1"), after([scan(&product("A", 100))]), paying()] {
                let before = basket.clone();
                assert_eq!(basket.handle(input.clone(), &env()), message(shown.clone()));
                assert_eq!(basket, before, "no persist, no change for {input:?}");
            }
        }
    }

    #[test]
    fn a_loyalty_card_applies_member_prices_to_lines_already_scanned() {
        let a = Product {
            member_price_cents: Some(80),
            ..product("A", 100)
        };
        let mut basket = after([scan(&a), scan(&a)]);
        assert_eq!(basket.totals().total_cents, 200);
        let effects = basket.handle(Input::LoyaltyCard { id: "L1".into() }, &env());
        assert_eq!(
            effects,
            vec![
                Effect::Persist,
                Effect::Message(Message::MemberPricesApplied { savings_cents: 40 })
            ]
        );
        assert_eq!(basket.totals().total_cents, 160);
        assert_eq!(basket.cart().and_then(|c| c.loyalty_id.as_deref()), Some("L1"));
    }

    #[test]
    fn a_second_loyalty_card_changes_nothing() {
        let mut basket = after([Input::LoyaltyCard { id: "L1".into() }]);
        let before = basket.clone();
        let effects = basket.handle(Input::LoyaltyCard { id: "L2".into() }, &env());
        assert_eq!(effects, message(Message::AlreadyMember));
        assert_eq!(basket, before);
    }

    #[test]
    fn a_loyalty_card_on_the_welcome_screen_opens_a_member_basket() {
        let a = Product {
            member_price_cents: Some(80),
            ..product("A", 100)
        };
        let basket = after([Input::LoyaltyCard { id: "L1".into() }, scan(&a)]);
        assert_eq!(basket.state(), &State::Scanning);
        assert_eq!(basket.totals().total_cents, 80);
    }

    #[test]
    fn an_empty_basket_cannot_pay() {
        let a = product("A", 100);
        let emptied = after([
            scan(&a),
            Input::StaffRemoveLine {
                staff_id: staff("S1"),
                line: 0,
            },
        ]);
        let member_only = after([Input::LoyaltyCard { id: "L1".into() }]);
        for mut basket in [Basket::new("dev1"), emptied, member_only] {
            let before = basket.clone();
            assert_eq!(basket.handle(Input::Pay, &env()), message(Message::EmptyBasket));
            assert_eq!(basket, before);
        }
    }

    #[test]
    fn pay_persists_then_requests_the_total_with_an_attempt_id() {
        let (a, b) = (product("A", 100), product("B", 250));
        let mut basket = after([scan(&a), scan(&a), scan(&b)]);
        let effects = basket.handle(Input::Pay, &env());
        assert_eq!(
            effects,
            vec![
                Effect::Persist,
                Effect::RequestPayment {
                    attempt_id: "dev1-1-p1".into(),
                    amount_cents: 450
                }
            ]
        );
        assert_eq!(basket.state(), &paying_state("dev1-1-p1", 450));
    }

    #[test]
    fn an_unapproved_age_restricted_item_blocks_payment() {
        let mut basket = after([scan(&product("A", 100)), scan(&restricted("WINE", 900, 18))]);
        let effects = basket.handle(Input::Pay, &env());
        assert_eq!(
            effects,
            vec![
                Effect::Persist,
                Effect::Message(Message::AgeCheckNeeded { min_age: 18 })
            ]
        );
        assert_eq!(basket.state(), &State::AwaitingStaff);
        assert_eq!(basket.handle(Input::Pay, &env()), message(Message::WaitForStaff));
    }

    #[test]
    fn staff_age_approval_while_awaiting_staff_records_it_and_starts_the_payment() {
        let mut basket = after([scan(&restricted("WINE", 900, 18)), Input::Pay]);
        let effects = basket.handle(Input::StaffApproveAge { staff_id: staff("S1") }, &env());
        let recorded = events(&effects);
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].0, STAFF_ACTION);
        assert_eq!(recorded[0].1["staff_id"], "S1");
        assert_eq!(recorded[0].1["action"], "approve_age");
        assert_eq!(
            &effects[1..],
            &[
                Effect::Persist,
                Effect::RequestPayment {
                    attempt_id: "dev1-1-p1".into(),
                    amount_cents: 900
                }
            ]
        );
    }

    #[test]
    fn an_age_approval_covers_later_items_up_to_the_approved_age_only() {
        let wine = restricted("WINE", 900, 18);
        let beer = restricted("BEER", 200, 16);
        let spirit = restricted("RUM", 2000, 21);
        let mut basket = after([
            scan(&wine),
            Input::StaffApproveAge { staff_id: staff("S1") },
            scan(&beer),
        ]);
        assert_eq!(basket.state(), &State::Scanning);
        assert_eq!(requests(&basket.clone().handle(Input::Pay, &env())), 1);
        basket.handle(scan(&spirit), &env());
        assert_eq!(
            basket.handle(Input::Pay, &env()),
            vec![
                Effect::Persist,
                Effect::Message(Message::AgeCheckNeeded { min_age: 21 })
            ]
        );
    }

    #[test]
    fn an_age_approval_with_nothing_restricted_is_refused() {
        let mut basket = after([scan(&product("A", 100))]);
        let before = basket.clone();
        let effects = basket.handle(Input::StaffApproveAge { staff_id: staff("S1") }, &env());
        assert_eq!(effects, message(Message::NothingToApprove));
        assert_eq!(basket, before);
    }

    #[test]
    fn cancel_while_awaiting_staff_returns_to_scanning_with_the_basket() {
        let mut basket = after([scan(&restricted("WINE", 900, 18)), Input::Pay]);
        assert_eq!(basket.handle(Input::Cancel, &env()), vec![Effect::Persist]);
        assert_eq!(basket.state(), &State::Scanning);
        assert_eq!(basket.lines().len(), 1);
    }

    #[test]
    fn a_scan_while_awaiting_staff_returns_to_scanning() {
        let mut basket = after([scan(&restricted("WINE", 900, 18)), Input::Pay]);
        assert_eq!(basket.handle(scan(&product("A", 100)), &env()), vec![Effect::Persist]);
        assert_eq!(basket.state(), &State::Scanning);
        assert_eq!(basket.totals().total_cents, 1000);
    }

    #[test]
    fn no_second_payment_request_while_a_payment_is_pending_or_unreconciled() {
        for mut basket in [paying(), reconciling()] {
            let before = basket.clone();
            for input in [
                Input::Pay,
                Input::StaffApproveAge { staff_id: staff("S1") },
                tick(1),
                tick(10_000),
            ] {
                assert_eq!(requests(&basket.handle(input, &env())), 0);
            }
            assert_eq!(basket.lines(), before.lines());
        }
    }

    #[test]
    fn scans_and_basket_changes_while_paying_or_reconciling_are_ignored_with_a_message() {
        let inputs = [
            scan(&product("C", 100)),
            weighed(&by_kg("K", 1000), 100),
            Input::LoyaltyCard { id: "L1".into() },
            Input::Pay,
            Input::Cancel,
            Input::StaffRemoveLine {
                staff_id: staff("S1"),
                line: 0,
            },
            Input::StaffApproveAge { staff_id: staff("S1") },
        ];
        for start in [paying(), reconciling()] {
            for input in inputs.clone() {
                let mut basket = start.clone();
                let effects = basket.handle(input.clone(), &env());
                assert_eq!(effects, message(Message::PaymentInProgress), "{input:?}");
                assert_eq!(basket, start, "{input:?} changed the basket");
            }
        }
    }

    #[test]
    fn an_approved_payment_records_the_sale_persists_and_prints_the_receipt() {
        let mut basket = paying();
        let effects = basket.handle(outcome("dev1-1-p1", approved("T-42")), &env());
        assert_eq!(effects.len(), 3);
        let (kind, payload) = &events(&effects)[0];
        assert_eq!(*kind, SALE_COMPLETED);
        assert_eq!(payload["basket_id"], "dev1-1");
        assert_eq!(payload["payment_reference"], "T-42");
        assert_eq!(payload["total_cents"], 450);
        assert_eq!(payload["lines"].as_array().map(Vec::len), Some(2));
        assert_eq!(payload["lines"][0]["quantity"]["pieces"], 2);
        assert_eq!(payload["receipt_number"], "0042-dev1-000001");
        assert_eq!(payload["provisional"], true);
        assert_eq!(payload["member"], false);
        assert_eq!(payload["points_earned"], 0, "no card, no points");
        // 4.50 at 22 %: 0.81 VAT on a base of 3.69, the summary the receipt prints.
        assert_eq!(
            payload["vat"],
            json!([{ "rate_bp": 2200, "total_cents": 450, "base_cents": 369, "vat_cents": 81 }])
        );
        assert_eq!(
            &effects[1..],
            &[
                Effect::Persist,
                Effect::PrintReceipt {
                    basket_id: "dev1-1".into(),
                    receipt_number: "0042-dev1-000001".into(),
                }
            ]
        );
        assert_eq!(
            basket.state(),
            &State::Receipt {
                payment_reference: Some("T-42".into()),
                receipt_number: "0042-dev1-000001".into(),
            }
        );
    }

    #[test]
    fn receipt_numbers_advance_only_with_completed_sales_and_have_no_gap() {
        let a = product("A", 1250);
        // Sale 1 paid; basket 2 declined then abandoned; sale 3 paid: receipts 1 and 2, no number for basket 2.
        let mut basket = after([scan(&a), Input::Pay]);
        basket.handle(outcome("dev1-1-p1", approved("T-1")), &env());
        basket.handle(Input::Cancel, &env());
        basket.handle(scan(&a), &env());
        basket.handle(Input::Pay, &env());
        basket.handle(outcome("dev1-2-p1", PaymentOutcome::Declined), &env());
        basket.handle(tick(10_000), &env());
        assert_eq!(basket.state(), &State::Idle, "abandoned");
        basket.handle(Input::LoyaltyCard { id: "LOY1".into() }, &env());
        basket.handle(scan(&a), &env());
        basket.handle(Input::Pay, &env());
        let effects = basket.handle(outcome("dev1-3-p1", approved("T-3")), &env());
        let (_, payload) = &events(&effects)[0];
        assert_eq!(payload["receipt_number"], "0042-dev1-000002");
        assert_eq!(payload["loyalty_id"], "LOY1");
        assert_eq!(payload["points_earned"], 12, "one point per whole euro of 12.50");
        let restored: Basket =
            serde_json::from_str(&serde_json::to_string(&basket).expect("serialises")).expect("restores");
        let mut restored = restored;
        restored.handle(Input::Cancel, &env());
        restored.handle(scan(&a), &env());
        restored.handle(Input::Pay, &env());
        let effects = restored.handle(outcome("dev1-4-p1", approved("T-4")), &env());
        assert_eq!(
            events(&effects)[0].1["receipt_number"],
            "0042-dev1-000003",
            "the count survives a restart"
        );
    }

    #[test]
    fn a_declined_or_cancelled_payment_returns_to_scanning_with_the_basket_intact() {
        let cases = [
            (PaymentOutcome::Declined, Message::PaymentDeclined, "declined"),
            (PaymentOutcome::Cancelled, Message::PaymentCancelled, "cancelled"),
        ];
        for (result, shown, name) in cases {
            for (mut basket, input) in [
                (paying(), outcome("dev1-1-p1", result.clone())),
                (reconciling(), reconciled("dev1-1-p1", result.clone())),
            ] {
                let lines = basket.lines().to_vec();
                let effects = basket.handle(input, &env());
                let recorded = events(&effects);
                assert_eq!(recorded[0].0, PAYMENT_FAILED);
                assert_eq!(recorded[0].1["outcome"], name);
                assert_eq!(&effects[1..], &[Effect::Persist, Effect::Message(shown.clone())]);
                assert_eq!(basket.state(), &State::Scanning);
                assert_eq!(basket.lines(), lines.as_slice());
            }
        }
    }

    #[test]
    fn a_timed_out_or_unknown_payment_goes_to_reconciling_and_queries_the_terminal() {
        for result in [PaymentOutcome::TimedOut, PaymentOutcome::Unknown] {
            let mut basket = paying();
            let effects = basket.handle(outcome("dev1-1-p1", result), &env());
            assert_eq!(
                effects,
                vec![
                    Effect::Persist,
                    Effect::QueryPayment {
                        attempt_id: "dev1-1-p1".into()
                    }
                ]
            );
            assert_eq!(
                basket.state(),
                &State::Reconciling {
                    attempt_id: "dev1-1-p1".into(),
                    amount_cents: 450,
                    cancel_requested_by: None
                }
            );
        }
    }

    #[test]
    fn only_an_approval_completes_a_sale_after_an_unknown_outcome() {
        let mut basket = reconciling();
        let effects = basket.handle(reconciled("dev1-1-p1", approved("T-7")), &env());
        assert_eq!(events(&effects)[0].0, SALE_COMPLETED);
        assert_eq!(events(&effects)[0].1["payment_reference"], "T-7");
        assert!(matches!(basket.state(), State::Receipt { .. }));
    }

    #[test]
    fn a_reconciled_decline_lets_the_shopper_pay_again_with_a_new_attempt() {
        let mut basket = reconciling();
        basket.handle(reconciled("dev1-1-p1", PaymentOutcome::Declined), &env());
        let effects = basket.handle(Input::Pay, &env());
        assert_eq!(
            effects[1],
            Effect::RequestPayment {
                attempt_id: "dev1-1-p2".into(),
                amount_cents: 450
            }
        );
    }

    #[test]
    fn while_reconciling_the_terminal_is_queried_again_only_every_requery_interval() {
        let mut basket = reconciling();
        // Still unknown: no immediate re-query (that would spin), the next comes from time passing.
        assert_eq!(
            basket.handle(reconciled("dev1-1-p1", PaymentOutcome::Unknown), &env()),
            vec![]
        );
        assert_eq!(basket.handle(tick(3), &env()), vec![]);
        let query = vec![Effect::QueryPayment {
            attempt_id: "dev1-1-p1".into(),
        }];
        assert_eq!(basket.handle(tick(2), &env()), query);
        assert_eq!(basket.handle(tick(4), &env()), vec![]);
        assert_eq!(basket.handle(tick(1), &env()), query);
        assert!(matches!(basket.state(), State::Reconciling { .. }));
    }

    #[test]
    fn a_payment_without_an_answer_is_reconciled_after_the_payment_timeout() {
        let mut basket = paying();
        assert_eq!(basket.handle(tick(119), &env()), vec![]);
        assert_eq!(
            basket.handle(tick(1), &env()),
            vec![
                Effect::Persist,
                Effect::QueryPayment {
                    attempt_id: "dev1-1-p1".into()
                }
            ]
        );
        assert!(matches!(basket.state(), State::Reconciling { .. }));
    }

    #[test]
    fn answers_for_another_attempt_or_a_settled_basket_are_ignored() {
        for mut basket in [paying(), reconciling()] {
            let before = basket.clone();
            assert_eq!(basket.handle(outcome("dev1-1-p0", approved("X")), &env()), vec![]);
            assert_eq!(
                basket.handle(reconciled("other", PaymentOutcome::Declined), &env()),
                vec![]
            );
            assert_eq!(basket, before);
        }
        let mut done = paying();
        done.handle(outcome("dev1-1-p1", approved("T-1")), &env());
        let before = done.clone();
        assert_eq!(done.handle(outcome("dev1-1-p1", approved("T-1")), &env()), vec![]);
        assert_eq!(done, before, "a duplicate approval records no second sale");
    }

    #[test]
    fn staff_cancel_during_payment_goes_through_reconcile_and_never_drops_a_paid_sale() {
        let mut basket = paying();
        let effects = basket.handle(staff_cancel("S9"), &env());
        assert_eq!(
            effects,
            vec![
                Effect::Persist,
                Effect::QueryPayment {
                    attempt_id: "dev1-1-p1".into()
                },
                Effect::Message(Message::CancelAfterReconcile)
            ]
        );
        // Paid after all: the sale is completed, not cancelled.
        let mut paid = basket.clone();
        let effects = paid.handle(reconciled("dev1-1-p1", approved("T-9")), &env());
        assert_eq!(events(&effects)[0].0, SALE_COMPLETED);
        assert!(matches!(paid.state(), State::Receipt { .. }));
        // Not paid: the cancel takes effect.
        let mut unpaid = basket;
        let effects = unpaid.handle(reconciled("dev1-1-p1", PaymentOutcome::Cancelled), &env());
        let kinds: Vec<&str> = events(&effects).iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, vec![PAYMENT_FAILED, STAFF_ACTION]);
        assert_eq!(events(&effects)[1].1["staff_id"], "S9");
        assert_eq!(unpaid.state(), &State::Idle);
        assert!(unpaid.cart().is_none());
    }

    #[test]
    fn staff_cancel_closes_an_open_basket_and_records_the_staff_action() {
        let a = product("A", 100);
        for mut basket in [
            after([scan(&a)]),
            after([scan(&restricted("WINE", 900, 18)), Input::Pay]),
        ] {
            let effects = basket.handle(staff_cancel("S1"), &env());
            let recorded = events(&effects);
            assert_eq!(recorded[0].0, STAFF_ACTION);
            assert_eq!(recorded[0].1["action"], "cancel_basket");
            assert_eq!(recorded[0].1["staff_id"], "S1");
            assert_eq!(recorded[0].1["line_count"], 1);
            assert_eq!(effects.last(), Some(&Effect::Persist));
            assert_eq!(basket.state(), &State::Idle);
        }
    }

    #[test]
    fn shopper_cancel_closes_the_basket_with_a_cancelled_event() {
        let mut basket = after([scan(&product("A", 100)), scan(&product("B", 250))]);
        let effects = basket.handle(Input::Cancel, &env());
        assert_eq!(
            effects,
            vec![
                Effect::Event {
                    kind: CHECKOUT_CANCELLED,
                    class: EventClass::Business,
                    payload: json!({"basket_id": "dev1-1", "value_cents": 350, "line_count": 2}),
                },
                Effect::Persist
            ]
        );
        assert_eq!(basket.state(), &State::Idle);
        assert!(basket.lines().is_empty());
    }

    #[test]
    fn staff_remove_line_reprices_and_records_the_staff_action() {
        let (a, b) = (product("A", 100), product("B", 250));
        let mut basket = after([scan(&a), scan(&b), scan(&a)]);
        let effects = basket.handle(
            Input::StaffRemoveLine {
                staff_id: staff("S1"),
                line: 0,
            },
            &env(),
        );
        let recorded = events(&effects);
        assert_eq!(recorded[0].0, STAFF_ACTION);
        assert_eq!(recorded[0].1["sku"], "A");
        assert_eq!(recorded[0].1["value_cents"], 200);
        assert_eq!(effects.last(), Some(&Effect::Persist));
        assert_eq!(basket.lines().len(), 1);
        assert_eq!(basket.totals().total_cents, 250);
    }

    #[test]
    fn removing_a_line_that_does_not_exist_changes_nothing() {
        for mut basket in [Basket::new("dev1"), after([scan(&product("A", 100))])] {
            let before = basket.clone();
            let effects = basket.handle(
                Input::StaffRemoveLine {
                    staff_id: staff("S1"),
                    line: 1,
                },
                &env(),
            );
            assert_eq!(effects, message(Message::NoSuchLine { line: 1 }));
            assert_eq!(basket, before);
        }
    }

    #[test]
    fn removing_the_restricted_line_while_awaiting_staff_lets_the_shopper_pay() {
        let mut basket = after([scan(&product("A", 100)), scan(&restricted("WINE", 900, 18)), Input::Pay]);
        basket.handle(
            Input::StaffRemoveLine {
                staff_id: staff("S1"),
                line: 1,
            },
            &env(),
        );
        assert_eq!(basket.state(), &State::Scanning);
        assert_eq!(requests(&basket.handle(Input::Pay, &env())), 1);
    }

    #[test]
    fn abandonment_after_inactivity_emits_the_event_once_with_value_and_line_count() {
        let (a, b) = (product("A", 100), product("B", 250));
        for extra in [vec![], vec![Input::Pay]] {
            let wine = restricted("WINE", 900, 18);
            let mut basket = after([scan(&a), scan(&a), scan(&b), scan(&wine)].into_iter().chain(extra));
            assert_eq!(basket.handle(tick(179), &env()), vec![]);
            let effects = basket.handle(tick(1), &env());
            assert_eq!(
                effects,
                vec![
                    Effect::Event {
                        kind: CHECKOUT_ABANDONED,
                        class: EventClass::Business,
                        payload: json!({"basket_id": "dev1-1", "value_cents": 1350, "line_count": 3}),
                    },
                    Effect::Persist
                ]
            );
            assert_eq!(basket.state(), &State::Idle);
            assert!(basket.cart().is_none());
            assert_eq!(basket.handle(tick(1000), &env()), vec![], "only once");
        }
    }

    #[test]
    fn any_shopper_input_restarts_the_inactivity_count() {
        let a = product("A", 100);
        let asks_staff = [scan(&restricted("WINE", 900, 18)), Input::Pay];
        for input in [
            scan(&a),
            Input::Unknown { code: "1".into() },
            Input::LoyaltyCard { id: "L".into() },
        ] {
            let mut basket = after([scan(&a)]);
            basket.handle(tick(170), &env());
            basket.handle(input.clone(), &env());
            assert_eq!(basket.handle(tick(170), &env()), vec![], "{input:?}");
            assert_ne!(basket.state(), &State::Idle);
        }
        let mut waiting = after(asks_staff);
        waiting.handle(tick(170), &env());
        waiting.handle(Input::Unknown { code: "1".into() }, &env());
        assert_eq!(waiting.handle(tick(170), &env()), vec![]);
        assert_eq!(waiting.state(), &State::AwaitingStaff);
    }

    #[test]
    fn a_pending_payment_is_never_abandoned_by_inactivity() {
        for mut basket in [paying(), reconciling()] {
            for _ in 0..100 {
                let effects = basket.handle(tick(60), &env());
                assert!(events(&effects).is_empty());
            }
            assert!(basket.cart().is_some());
            assert!(matches!(basket.state(), State::Reconciling { .. }));
        }
    }

    #[test]
    fn the_receipt_screen_returns_to_idle_on_done_or_timeout() {
        let mut receipt = paying();
        receipt.handle(outcome("dev1-1-p1", approved("T-1")), &env());
        for inputs in [vec![Input::Cancel], vec![tick(29), tick(1)], vec![staff_cancel("S1")]] {
            let mut basket = receipt.clone();
            let mut effects = Vec::new();
            for input in inputs {
                effects = basket.handle(input, &env());
            }
            assert_eq!(effects, vec![Effect::Persist]);
            assert_eq!(basket.state(), &State::Idle);
            assert!(basket.cart().is_none());
        }
    }

    #[test]
    fn a_scan_on_the_receipt_screen_opens_a_new_basket() {
        let mut basket = paying();
        basket.handle(outcome("dev1-1-p1", approved("T-1")), &env());
        basket.handle(scan(&product("C", 70)), &env());
        assert_eq!(basket.state(), &State::Scanning);
        let cart = basket.cart().expect("open");
        assert_eq!((cart.id.as_str(), cart.lines.len(), cart.attempts), ("dev1-2", 1, 0));
        assert_eq!(cart.totals.total_cents, 70);
    }

    #[test]
    fn a_basket_that_costs_nothing_completes_without_a_payment_request() {
        let mut basket = after([scan(&product("FREE", 0))]);
        let effects = basket.handle(Input::Pay, &env());
        assert_eq!(requests(&effects), 0);
        assert_eq!(events(&effects)[0].0, SALE_COMPLETED);
        assert_eq!(
            basket.state(),
            &State::Receipt {
                payment_reference: None,
                receipt_number: "0042-dev1-000001".into(),
            }
        );
    }

    #[test]
    fn the_basket_round_trips_through_serde_with_identical_state_and_totals() {
        let a = Product {
            member_price_cents: Some(80),
            ..product("A", 100)
        };
        let apples = by_kg("APL", 2590);
        let baskets = [
            Basket::new("dev1"),
            after([
                scan(&a),
                scan(&a),
                weighed(&apples, 350),
                labelled(&apples, 345),
                Input::LoyaltyCard { id: "L1".into() },
                tick(42),
            ]),
            after([scan(&restricted("WINE", 900, 18)), Input::Pay]),
            paying(),
            reconciling(),
        ];
        for basket in baskets {
            let text = serde_json::to_string(&basket).expect("a basket serialises");
            let back: Basket = serde_json::from_str(&text).expect("and deserialises");
            assert_eq!(back, basket);
            // The stored totals (what sale.completed reports) agree with a fresh pricing (what the receipt shows).
            if let Some(priced) = back.priced() {
                assert_eq!(
                    back.totals().total_cents,
                    priced.expect("an open basket prices").total_cents
                );
            }
        }
    }

    #[test]
    fn resuming_a_basket_persisted_during_payment_reconciles_before_anything_else() {
        let text = serde_json::to_string(&paying()).expect("serialises");
        let mut restarted: Basket = serde_json::from_str(&text).expect("deserialises");
        assert_eq!(
            restarted.resume(),
            vec![
                Effect::Persist,
                Effect::QueryPayment {
                    attempt_id: "dev1-1-p1".into()
                }
            ]
        );
        assert!(matches!(restarted.state(), State::Reconciling { .. }));
        assert_eq!(requests(&restarted.handle(Input::Pay, &env())), 0);
        let mut scanning = after([scan(&product("A", 100))]);
        assert_eq!(scanning.resume(), vec![]);
        assert_eq!(scanning.state(), &State::Scanning);
    }

    #[test]
    fn a_business_date_change_does_not_reprice_an_open_basket() {
        // 20 % off until today (2026-03-10): the basket opened today keeps it after midnight.
        let mut a = product("A", 100);
        a.promotion = Some(crate::catalog::Promotion {
            id: "PR-A".into(),
            label: "-20%".into(),
            valid_from: None,
            valid_to: Some("2026-03-10".parse().expect("valid")),
            members_only: false,
            kind: crate::catalog::PromotionKind::PercentOff { percent: 20 },
        });
        let mut basket = after([scan(&a)]);
        let tomorrow = Env {
            business_date: "2026-03-11".parse().expect("valid"),
            ..env()
        };
        basket.handle(scan(&a), &tomorrow);
        let cart = basket.cart().expect("open");
        assert_eq!(cart.business_date, env().business_date);
        assert_eq!(
            basket.totals().total_cents,
            160,
            "2 × (100 − 20), the promotion of the day it opened"
        );
    }

    #[test]
    fn an_empty_basket_closes_without_counting_as_abandoned_or_cancelled() {
        let mut basket = Basket::new("till-1");
        basket.handle(Input::LoyaltyCard { id: "CARD-1".into() }, &env());
        assert!(basket.cart().is_some(), "the card opened a basket");
        let effects = basket.handle(
            Input::Tick {
                elapsed: env().abandon_after,
            },
            &env(),
        );
        assert_eq!(effects, vec![Effect::Persist]);
        assert_eq!(basket.state(), &State::Idle);
    }

    fn any_input() -> impl Strategy<Value = Input> {
        let a = product("A", 100);
        let wine = restricted("WINE", 900, 18);
        let apples = by_kg("APL", 2590);
        let outcomes = prop_oneof![
            Just(approved("T")),
            Just(PaymentOutcome::Declined),
            Just(PaymentOutcome::Cancelled),
            Just(PaymentOutcome::TimedOut),
            Just(PaymentOutcome::Unknown),
        ];
        prop_oneof![
            Just(scan(&a)),
            Just(scan(&wine)),
            (1u32..2000).prop_map(move |g| weighed(&apples, g)),
            Just(Input::LoyaltyCard { id: "L".into() }),
            Just(Input::Pay),
            Just(Input::Cancel),
            (0u64..200).prop_map(tick),
            Just(Input::StaffApproveAge { staff_id: staff("S") }),
            (0usize..3).prop_map(|line| Input::StaffRemoveLine {
                staff_id: staff("S"),
                line
            }),
            Just(staff_cancel("S")),
            (1u32..3, outcomes.clone()).prop_map(|(n, o)| outcome(&format!("dev1-1-p{n}"), o)),
            (1u32..3, outcomes).prop_map(|(n, o)| reconciled(&format!("dev1-1-p{n}"), o)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever happens: a payment is requested only from an open basket with lines and every age approved,
        /// never while another is pending, always after a persist; a sale is recorded only for the attempt the
        /// terminal approved; only the terminal's answer ends a pending payment, and the basket does not change
        /// meanwhile; idle means no basket.
        #[test]
        fn the_payment_invariants_hold_for_any_sequence_of_inputs(inputs in prop::collection::vec(any_input(), 1..60)) {
            let mut basket = Basket::new("dev1");
            for input in inputs {
                let before = basket.clone();
                let effects = basket.handle(input.clone(), &env());
                if let Some(at) = effects.iter().position(|e| matches!(e, Effect::RequestPayment { .. })) {
                    prop_assert!(matches!(before.state(), State::Scanning | State::AwaitingStaff));
                    prop_assert!(!before.lines().is_empty());
                    prop_assert_eq!(basket.cart().and_then(Cart::age_needed), None);
                    prop_assert!(effects[..at].contains(&Effect::Persist));
                    prop_assert_eq!(requests(&effects), 1);
                }
                for (kind, _) in events(&effects) {
                    if kind == SALE_COMPLETED && before.totals().total_cents > 0 {
                        let approved_attempt = match (&before.state, &input) {
                            (
                                State::Paying { attempt_id, .. } | State::Reconciling { attempt_id, .. },
                                Input::PaymentResult { attempt_id: a, outcome: PaymentOutcome::Approved { .. } }
                                | Input::ReconcileResult { attempt_id: a, outcome: PaymentOutcome::Approved { .. } },
                            ) => attempt_id == a,
                            _ => false,
                        };
                        prop_assert!(approved_attempt, "sale without an approved attempt: {:?}", input);
                    }
                }
                if before.payment_pending() && !matches!(input, Input::PaymentResult { .. } | Input::ReconcileResult { .. }) {
                    prop_assert_eq!(basket.lines(), before.lines());
                    prop_assert!(basket.payment_pending(), "{:?} left a pending payment unsettled", input);
                }
                prop_assert_eq!(basket.state() == &State::Idle, basket.cart().is_none());
            }
        }
    }
}
