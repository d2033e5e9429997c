//! What the self-checkout shows, pure: maps the [`Station`] (basket, staff mode, help, printer verdict, notice)
//! to the language-free [`CheckoutView`] the screens draw. Owns the precedence of what is on screen: staff mode
//! over everything (staff are at the station), then the shopper's call for help, then the sale's own phase.

use super::basket::State;
use super::station::{MenuItem, Notice as StationNotice, PrintResult, StaffMode, Station};
use crate::pricing::Quantity;
use crate::ui::{CheckoutLine, CheckoutPhase, CheckoutView, LineQuantity, Notice, PrinterNote, StaffChoice};

use super::basket::Message;

/// The checkout screen for `station`, or `None` when the station is idle with nothing to say (the caller
/// shows its rest screen: welcome, sales paused, out of order). `e_receipt_url` gives the address of a
/// receipt number.
pub fn view(station: &Station, e_receipt_url: &dyn Fn(&str) -> String) -> Option<CheckoutView> {
    let basket = station.basket();
    let notice = station.notice().and_then(notice);
    let staff_phase = staff_phase(station);
    let idle = matches!(basket.state(), State::Idle);
    if idle && staff_phase.is_none() && notice.is_none() && !station.help_requested() {
        return None;
    }
    let priced = basket.priced().and_then(Result::ok);
    let cart = basket.cart();
    let lines: Vec<CheckoutLine> = basket
        .lines()
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let priced_line = priced.as_ref().and_then(|p| p.lines.get(i));
            let total = cart.and_then(|c| c.totals.lines.get(i));
            let unit = total.map_or(line.product.price_cents, |t| t.unit_price_cents);
            CheckoutLine {
                name: line.product.name.clone(),
                quantity: match line.quantity {
                    Quantity::Pieces(count) => LineQuantity::Pieces {
                        count,
                        unit_price_cents: unit,
                    },
                    Quantity::Weight { grams } => LineQuantity::Weight {
                        grams,
                        price_per_kg_cents: unit,
                    },
                    Quantity::LabelPrice { .. } => LineQuantity::LabelPrice,
                },
                amount_cents: total.map_or(0, |t| t.net_cents),
                discounts: priced_line.map(|p| p.discounts.clone()).unwrap_or_default(),
                needs_age_check: line
                    .product
                    .min_age
                    .is_some_and(|age| age > 0 && Some(age) > cart.and_then(|c| c.age_approved)),
            }
        })
        .collect();
    let totals = basket.totals();
    let phase = match staff_phase {
        Some(phase) => phase,
        None if station.help_requested()
            && !matches!(basket.state(), State::Paying { .. } | State::Reconciling { .. }) =>
        {
            CheckoutPhase::HelpComing
        }
        None => match basket.state() {
            State::Idle | State::Scanning => CheckoutPhase::Scanning,
            State::AwaitingStaff => CheckoutPhase::AwaitingStaff {
                min_age: lines_min_age(station),
            },
            State::Paying { amount_cents, .. } => CheckoutPhase::Paying {
                amount_cents: *amount_cents,
            },
            State::Reconciling { .. } => CheckoutPhase::Reconciling,
            State::Receipt { receipt_number, .. } => {
                let printer = match station.receipt_print() {
                    None | Some(PrintResult::Printed) => PrinterNote::Printed,
                    Some(PrintResult::PaperOut) => PrinterNote::PaperOut,
                    Some(PrintResult::Offline) => PrinterNote::Offline,
                    Some(PrintResult::NoPrinter) => PrinterNote::EReceiptOnly,
                };
                CheckoutPhase::Receipt {
                    receipt_number: receipt_number.clone(),
                    // The code on screen only when there is no paper receipt to take.
                    e_receipt_url: (printer != PrinterNote::Printed).then(|| e_receipt_url(receipt_number)),
                    printer,
                }
            }
        },
    };
    Some(CheckoutView {
        phase,
        lines,
        total_cents: totals.total_cents,
        savings_cents: totals.discount_cents,
        member: cart.is_some_and(|c| c.loyalty_id.is_some()),
        notice,
    })
}

/// The highest minimum age among lines awaiting approval (0 when none: the screen shows no age).
fn lines_min_age(station: &Station) -> u8 {
    let cart = station.basket().cart();
    station
        .basket()
        .lines()
        .iter()
        .filter_map(|l| l.product.min_age)
        .filter(|&age| Some(age) > cart.and_then(|c| c.age_approved))
        .max()
        .unwrap_or(0)
}

fn staff_phase(station: &Station) -> Option<CheckoutPhase> {
    match station.staff() {
        StaffMode::Off => None,
        StaffMode::Pin { entered, .. } => Some(CheckoutPhase::StaffPin {
            digits_entered: u8::try_from(entered.len()).unwrap_or(u8::MAX),
            wrong: matches!(station.notice(), Some(StationNotice::WrongPin { .. })),
        }),
        StaffMode::Menu { name, selected, .. } => Some(CheckoutPhase::StaffMenu {
            staff_name: name.clone(),
            highlighted: choice(*selected),
            selected_line: None,
        }),
        StaffMode::RemoveLine { name, line, typed, .. } => Some(CheckoutPhase::StaffMenu {
            staff_name: name.clone(),
            highlighted: Some(StaffChoice::RemoveLine),
            selected_line: Some(
                typed
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .unwrap_or(*line),
            ),
        }),
    }
}

fn choice(item: MenuItem) -> Option<StaffChoice> {
    match item {
        MenuItem::ApproveAge => Some(StaffChoice::ApproveAge),
        MenuItem::RemoveLine => Some(StaffChoice::RemoveLine),
        MenuItem::CancelBasket => Some(StaffChoice::CancelBasket),
        MenuItem::Reprint => Some(StaffChoice::ReprintReceipt),
        MenuItem::Exit => None,
    }
}

fn notice(n: &StationNotice) -> Option<Notice> {
    Some(match n {
        StationNotice::SalesPaused => Notice::SalesPaused,
        StationNotice::UnknownBadge => Notice::UnknownBadge,
        StationNotice::NothingToReprint => Notice::NothingToReprint,
        // Shown by their phases (the PIN screen's "wrong", the help screen).
        StationNotice::WrongPin { .. } | StationNotice::HelpComing => return None,
        StationNotice::Basket(m) => match m {
            Message::UnknownCode { code } => Notice::UnknownCode { code: code.clone() },
            Message::InvalidCode { reason } => Notice::InvalidCode { reason: *reason },
            Message::CannotAdd { name, .. } | Message::BasketFull { name } => Notice::CannotAdd { name: name.clone() },
            Message::PaymentInProgress => Notice::PaymentInProgress,
            Message::EmptyBasket => Notice::EmptyBasket,
            Message::AgeCheckNeeded { min_age } => Notice::AgeCheckNeeded { min_age: *min_age },
            Message::WaitForStaff => Notice::WaitForStaff,
            Message::NothingToApprove => Notice::NothingToApprove,
            Message::NoSuchLine { line } => Notice::NoSuchLine { line: *line },
            Message::MemberPricesApplied { savings_cents } => Notice::MemberPricesApplied {
                savings_cents: *savings_cents,
            },
            Message::AlreadyMember => Notice::AlreadyMember,
            Message::PaymentDeclined => Notice::PaymentDeclined,
            Message::PaymentCancelled => Notice::PaymentCancelled,
            Message::CancelAfterReconcile => Notice::CancelAfterReconcile,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barcode::Scan;
    use crate::catalog::Product;
    use crate::checkout::basket::{Env, PaymentOutcome};
    use crate::checkout::station::{pin_hash, Key, Scanned, StaffMember, StationInput};

    fn env() -> Env {
        Env::new("2026-03-10".parse().expect("valid"))
    }

    fn station() -> Station {
        Station::fresh(
            "0042",
            "till",
            vec![StaffMember {
                id: "S1".into(),
                name: "Giulia".into(),
                pin_sha256: pin_hash("S1", "1234"),
            }],
        )
    }

    fn scan(st: &mut Station, sku: &str, price: i64, min_age: Option<u8>) {
        let product = Product {
            min_age,
            ..Product::for_test(sku, price, 2200)
        };
        st.handle(
            StationInput::Scan(Scanned::Product {
                product: Box::new(product),
                scan: Box::new(Scan::for_test(None, None)),
            }),
            &env(),
        );
    }

    fn url(n: &str) -> String {
        format!("https://e/{n}")
    }

    fn shown(st: &Station) -> Option<CheckoutView> {
        view(st, &url)
    }

    #[test]
    fn an_idle_station_shows_its_rest_screen() {
        assert_eq!(shown(&station()), None);
    }

    #[test]
    fn an_age_restricted_line_is_flagged_until_staff_approve_it() {
        let mut st = station();
        scan(&mut st, "WINE", 650, Some(18));
        st.handle(StationInput::Key(Key::Pay), &env());
        let v = shown(&st).expect("the basket");
        assert_eq!(v.phase, CheckoutPhase::AwaitingStaff { min_age: 18 });
        assert!(v.lines[0].needs_age_check);
        assert_eq!(v.total_cents, 650);

        st.handle(StationInput::Scan(Scanned::StaffBadge { id: "S1".into() }), &env());
        for d in [1, 2] {
            st.handle(StationInput::Key(Key::Digit(d)), &env());
        }
        assert_eq!(
            shown(&st).map(|v| v.phase),
            Some(CheckoutPhase::StaffPin {
                digits_entered: 2,
                wrong: false
            }),
            "staff mode takes the screen, digits masked"
        );
        for d in [3, 4] {
            st.handle(StationInput::Key(Key::Digit(d)), &env());
        }
        st.handle(StationInput::Key(Key::Enter), &env());
        st.handle(StationInput::Key(Key::Digit(1)), &env());
        let v = shown(&st).expect("paying");
        assert_eq!(v.phase, CheckoutPhase::Paying { amount_cents: 650 });
        assert!(!v.lines[0].needs_age_check, "approved");
    }

    #[test]
    fn the_receipt_shows_the_e_receipt_code_only_when_no_paper_receipt_came_out() {
        let mut st = station();
        scan(&mut st, "A", 300, None);
        st.handle(StationInput::Key(Key::Pay), &env());
        st.handle(
            StationInput::PaymentResult {
                attempt_id: "till-1-p1".into(),
                outcome: PaymentOutcome::Approved { reference: "T".into() },
            },
            &env(),
        );
        let printed = |st: &Station| match shown(st).map(|v| v.phase) {
            Some(CheckoutPhase::Receipt {
                e_receipt_url, printer, ..
            }) => (e_receipt_url, printer),
            other => panic!("not the receipt: {other:?}"),
        };
        assert_eq!(printed(&st), (None, PrinterNote::Printed));
        st.handle(StationInput::Printed(PrintResult::PaperOut), &env());
        assert_eq!(
            printed(&st),
            (Some("https://e/0042-till-000001".into()), PrinterNote::PaperOut)
        );
    }

    #[test]
    fn help_is_shown_until_staff_log_in() {
        let mut st = station();
        scan(&mut st, "A", 300, None);
        st.handle(StationInput::Key(Key::Help), &env());
        assert_eq!(shown(&st).map(|v| v.phase), Some(CheckoutPhase::HelpComing));
    }
}
