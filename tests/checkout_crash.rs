//! Power cuts at the self-checkout: the real daemon is killed with SIGKILL at random moments of a basket and of
//! its payment, 30 times in a row on the same station, and restarted. After each restart the basket on screen
//! must be the one before the kill (or with the scan that was in flight), a payment in doubt must be settled
//! with the terminal, and at the end every charge has exactly one sale, no sale is recorded twice, receipt
//! numbers have no gap, and the terminal was never asked twice for one attempt.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use omnigate::ui::{CheckoutLine, CheckoutPhase, CheckoutView, Frame, Notice, PrinterNote, Screen};
use support::station::{line, view, Options, Station, COFFEE, DEADLINE, PASTA};

const ROUNDS: u64 = 30;

/// The products a round scans: code, name as shown, price.
const ITEMS: [(&str, &str, i64); 2] = [(PASTA, "Spaghetti n.5", 129), (COFFEE, "Caffe Qualita Rossa", 399)];

/// A small xorshift: different kill moments on every run, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn checkout_frame(v: &CheckoutView) -> Frame {
    Frame {
        screen: Screen::Checkout(v.clone()),
        offline: true,
    }
}

/// Waits until the screen shows one of `views`; returns its index.
fn wait_for_any(st: &Station, views: &[CheckoutView], what: &str) -> usize {
    let frames: Vec<Frame> = views.iter().map(checkout_frame).collect();
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(i) = frames.iter().position(|f| st.daemon.shows(f)) {
            return i;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Adds one piece of `item` to `lines` as the basket does (a repeat scan adds to its line).
fn add(lines: &[CheckoutLine], item: (&str, &str, i64)) -> Vec<CheckoutLine> {
    let mut out = lines.to_vec();
    match out.iter_mut().find(|l| l.name == item.1) {
        Some(l) => *l = line(item.1, count(l) + 1, item.2),
        None => out.push(line(item.1, 1, item.2)),
    }
    out
}

fn count(l: &CheckoutLine) -> u32 {
    match l.quantity {
        omnigate::ui::LineQuantity::Pieces { count, .. } => count,
        _ => 0,
    }
}

fn receipt(number: u64, lines: &[CheckoutLine]) -> CheckoutView {
    view(
        CheckoutPhase::Receipt {
            receipt_number: format!("IT-TEST-1-till1-{number:06}"),
            e_receipt_url: None,
            printer: PrinterNote::Printed,
        },
        lines.to_vec(),
    )
}

fn declined(lines: &[CheckoutLine]) -> CheckoutView {
    let mut v = view(CheckoutPhase::Scanning, lines.to_vec());
    v.notice = Some(Notice::PaymentDeclined);
    v
}

/// Presses pay until the sale is on the receipt screen (a declined attempt, after a crash before the terminal
/// saw it, is paid again under a new attempt).
fn pay_until_receipt(st: &mut Station, number: u64, lines: &[CheckoutLine]) {
    for _ in 0..3 {
        st.press("pay");
        let end = [receipt(number, lines), declined(lines)];
        if wait_for_any(st, &end, "the receipt or a decline") == 0 {
            return;
        }
    }
    panic!("sale {number} was never paid");
}

#[test]
fn sigkill_at_any_moment_of_a_basket_or_a_payment_loses_no_sale_and_charges_once() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 | 1)
        .unwrap_or(0x9e37_79b9);
    println!("seed {seed}");
    let mut rng = Rng(seed);
    // The terminal takes 300 ms, so kills land before, during and after the request.
    let mut st = Station::start(Options {
        delay_ms: 300,
        log_to_file: true,
        ..Options::default()
    });
    for round in 0..ROUNDS {
        let number = round + 1;
        // A basket of 1 to 3 scans, each confirmed on screen (what the shopper saw).
        let mut lines = Vec::new();
        for _ in 0..=rng.next(3) {
            let item = ITEMS[rng.next(2) as usize];
            st.scan(item.0);
            lines = add(&lines, item);
            st.wait_for_view(view(CheckoutPhase::Scanning, lines.clone()), "the scan on screen");
        }
        // Not a wait for anything: the random moment of the power cut.
        let cut = |st: &mut Station, rng: &mut Rng, within_ms: u64| {
            std::thread::sleep(Duration::from_millis(rng.next(within_ms)));
            st.kill();
            st.restart();
        };
        match round % 3 {
            0 => {
                // Killed while a scan is being added: the basket is the one before it or the one with it.
                let item = ITEMS[rng.next(2) as usize];
                st.scan(item.0);
                let with = add(&lines, item);
                cut(&mut st, &mut rng, 30);
                let i = wait_for_any(
                    &st,
                    &[
                        view(CheckoutPhase::Scanning, lines.clone()),
                        view(CheckoutPhase::Scanning, with.clone()),
                    ],
                    "the basket as before the kill",
                );
                if i == 1 {
                    lines = with;
                }
                pay_until_receipt(&mut st, number, &lines);
            }
            1 => {
                // Killed around the payment: before it was recorded, while the terminal works, or after.
                st.press("pay");
                cut(&mut st, &mut rng, 500);
                let end = [
                    receipt(number, &lines),
                    declined(&lines),
                    view(CheckoutPhase::Scanning, lines.clone()),
                ];
                if wait_for_any(&st, &end, "the payment settled after the restart") != 0 {
                    pay_until_receipt(&mut st, number, &lines);
                }
            }
            _ => {
                // Killed on the receipt screen: the sale and its receipt number stay.
                pay_until_receipt(&mut st, number, &lines);
                cut(&mut st, &mut rng, 20);
                st.wait_for_view(receipt(number, &lines), "the same receipt after the restart");
            }
        }
        // Done: the next shopper.
        st.press("cancel");
        st.daemon.wait_for_screen(
            &Frame {
                screen: Screen::Idle,
                offline: true,
            },
            "the welcome screen",
        );
    }

    let sales = st.wait_for_events("sale.completed", ROUNDS as usize);
    let numbers: Vec<String> = sales
        .iter()
        .map(|s| s["payload"]["receipt_number"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: Vec<String> = (1..=ROUNDS).map(|n| format!("IT-TEST-1-till1-{n:06}")).collect();
    assert_eq!(
        numbers, expected,
        "one sale per basket, receipt numbers without gap or repeat (seed {seed})"
    );
    let baskets: BTreeSet<&str> = sales
        .iter()
        .filter_map(|s| s["payload"]["basket_id"].as_str())
        .collect();
    assert_eq!(baskets.len(), sales.len(), "no basket sold twice (seed {seed})");

    let charges = st.charges();
    let charged: BTreeSet<&str> = charges.iter().map(|c| c.attempt_id.as_str()).collect();
    let sold: BTreeSet<&str> = sales
        .iter()
        .filter_map(|s| s["payload"]["attempt_id"].as_str())
        .collect();
    assert_eq!(
        charged, sold,
        "every charge has its sale and every sale its charge (seed {seed})"
    );
    assert_eq!(charges.len(), sales.len());
    let paid: i64 = charges.iter().map(|c| c.amount_cents).sum();
    let booked: i64 = sales.iter().filter_map(|s| s["payload"]["total_cents"].as_i64()).sum();
    assert_eq!(paid, booked, "the money taken is the money booked (seed {seed})");
    let log = st.log();
    assert!(
        !log.contains("a second request for an attempt"),
        "the terminal was asked twice for one attempt (seed {seed}):\n{log}"
    );
}
