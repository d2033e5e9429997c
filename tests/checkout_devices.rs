//! The self-checkout's devices and staff through the real daemon: a receipt printer that runs out of paper, is
//! unplugged or prints (an ESC/POS printer played by the test on a pty), the age check a member of staff
//! approves, staff removing a line and cancelling a basket, the shopper's call for help, and a reprint. Each
//! test checks what the shopper sees, what the printer got, what was charged and what central will receive.
//!
//! Scanner (pty) and keys (stdin) are separate inputs: a key that depends on a scan is pressed only once the
//! screen shows the scan. Keys typed on stdin reach the station in order. Waiting is always polling with a
//! deadline.

mod support;

use std::path::Path;

use omnigate::ui::{CheckoutLine, CheckoutPhase, Frame, Notice, PrinterNote, Screen, StaffChoice};
use support::fake_printer::FakePrinter;
use support::station::{
    absent, contains, line, view, Options, PrinterSetup, Station, COFFEE, DEADLINE, PASTA, STAFF_BADGE, STAFF_PIN, WINE,
};
use support::wait_until;

/// The first sale's receipt number on a fresh station.
const FIRST_RECEIPT: &str = "IT-TEST-1-till1-000001";

/// The station's serial printer at `path`.
fn serial_at(path: &Path) -> Options {
    Options {
        printer: PrinterSetup::Serial(path.to_owned()),
        ..Options::default()
    }
}

/// Scans the pasta, waits for it on screen, pays, and waits for the sale's event.
fn buy_pasta(st: &mut Station) -> serde_json::Value {
    st.scan(PASTA);
    st.wait_for_view(view(CheckoutPhase::Scanning, pasta()), "the pasta in the basket");
    st.press("pay");
    st.wait_for_events("sale.completed", 1).remove(0)
}

fn pasta() -> Vec<CheckoutLine> {
    vec![line("Spaghetti n.5", 1, 129)]
}

fn wine(needs_age_check: bool) -> CheckoutLine {
    CheckoutLine {
        needs_age_check,
        ..line("Chianti 75 cl", 1, 650)
    }
}

fn receipt_phase(printer: PrinterNote) -> CheckoutPhase {
    CheckoutPhase::Receipt {
        receipt_number: FIRST_RECEIPT.into(),
        e_receipt_url: (printer != PrinterNote::Printed).then(|| format!("https://shop.example.it/r/{FIRST_RECEIPT}")),
        printer,
    }
}

fn menu(highlighted: Option<StaffChoice>, selected_line: Option<usize>) -> CheckoutPhase {
    CheckoutPhase::StaffMenu {
        staff_name: "Giulia".into(),
        highlighted,
        selected_line,
    }
}

fn pin_prompt(wrong: bool) -> CheckoutPhase {
    CheckoutPhase::StaffPin {
        digits_entered: 0,
        wrong,
    }
}

/// The `staff.action` events' `action` fields, in order.
fn staff_actions(st: &Station) -> Vec<String> {
    st.events_of("staff.action")
        .iter()
        .map(|e| e["payload"]["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// How often `needle` occurs in `haystack`.
fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn out_of_paper_the_sale_completes_with_the_e_receipt_and_nothing_is_printed() {
    let (printer, link, _dir) = FakePrinter::behind_link(true);
    let mut st = Station::start(serial_at(&link));
    let sale = buy_pasta(&mut st);
    assert_eq!(sale["payload"]["receipt_number"], FIRST_RECEIPT);
    st.wait_for_view(
        view(receipt_phase(PrinterNote::PaperOut), pasta()),
        "the receipt screen saying 'out of paper' with the e-receipt QR",
    );
    assert!(
        printer.queries() > 0,
        "the daemon asked our printer for its status (the verdict came from it)"
    );
    // The print was refused after a status answer, and the verdict on screen came after the refusal: any
    // receipt byte sent would have arrived before our answer.
    assert!(
        printer.received().is_empty(),
        "receipt bytes were sent to a printer without paper: {:?}",
        String::from_utf8_lossy(&printer.received())
    );
    assert_eq!(st.charges().len(), 1, "charged once");
}

#[test]
fn an_unplugged_printer_shows_offline_with_the_e_receipt_and_the_sale_completes() {
    let nowhere = tempfile::tempdir().expect("tempdir");
    let mut st = Station::start(serial_at(&absent(nowhere.path())));
    let sale = buy_pasta(&mut st);
    assert_eq!(sale["payload"]["total_cents"], 129);
    st.wait_for_view(
        view(receipt_phase(PrinterNote::Offline), pasta()),
        "the receipt screen saying 'printer offline' with the e-receipt QR",
    );
    assert_eq!(st.charges().len(), 1, "charged once");
}

#[test]
fn a_serial_printer_with_paper_prints_the_receipt_and_no_qr_is_shown() {
    let (printer, link, _dir) = FakePrinter::behind_link(false);
    let mut st = Station::start(serial_at(&link));
    buy_pasta(&mut st);
    st.wait_for_view(
        view(receipt_phase(PrinterNote::Printed), pasta()),
        "the receipt screen saying 'take your receipt', no QR",
    );
    // The cut ends the receipt: the printer has it all once that arrived.
    wait_until("the whole receipt at the printer", DEADLINE, || {
        printer.received().ends_with(&[0x1d, b'V', 66, 0])
    });
    let got = printer.received();
    assert!(got.starts_with(b"\x1b@"), "the printer is initialised first");
    assert!(
        contains(&got, FIRST_RECEIPT.as_bytes()),
        "the receipt number is printed"
    );
    assert!(contains(&got, b"Spaghetti n.5"), "the line is printed");
}

#[test]
fn staff_approve_the_age_check_and_the_payment_goes_ahead() {
    let mut st = Station::start(Options::default());
    st.scan(WINE);
    st.wait_for_view(view(CheckoutPhase::Scanning, vec![wine(true)]), "the wine, flagged");
    st.press("pay");
    let mut awaiting = view(CheckoutPhase::AwaitingStaff { min_age: 18 }, vec![wine(true)]);
    awaiting.notice = Some(Notice::AgeCheckNeeded { min_age: 18 });
    st.wait_for_view(awaiting, "waiting for staff to check the age");
    assert!(st.charges().is_empty(), "nothing charged before the age check");

    st.scan(STAFF_BADGE);
    st.wait_for_view(view(pin_prompt(false), vec![wine(true)]), "the PIN prompt");
    st.press("1357");
    st.wait_for_view(view(pin_prompt(true), vec![wine(true)]), "'wrong PIN'");
    assert!(st.charges().is_empty(), "a wrong PIN approves nothing");
    st.press(STAFF_PIN);
    st.wait_for_view(
        view(menu(Some(StaffChoice::ApproveAge), None), vec![wine(true)]),
        "the staff menu",
    );
    st.press("1");
    let sale = st.wait_for_events("sale.completed", 1).remove(0);
    assert_eq!(sale["payload"]["total_cents"], 650);
    st.wait_for_view(
        view(receipt_phase(PrinterNote::Printed), vec![wine(false)]),
        "the receipt, the wine no longer flagged",
    );

    let staff = st.events_of("staff.action");
    let actions: Vec<(&str, &str)> = staff
        .iter()
        .map(|e| {
            (
                e["payload"]["action"].as_str().unwrap_or_default(),
                e["payload"]["staff_id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![("open_staff_mode", "0001"), ("approve_age", "0001")],
        "who opened staff mode and who approved (a single wrong PIN is not an action)"
    );
    assert_eq!(staff[1]["payload"]["min_age"], 18);
    let charges = st.charges();
    assert_eq!(charges.len(), 1, "charged exactly once");
    assert_eq!(charges[0].amount_cents, 650);
}

#[test]
fn staff_remove_a_chosen_line_then_cancel_the_basket_and_nothing_is_charged() {
    let mut st = Station::start(Options::default());
    st.scan(PASTA);
    st.scan(COFFEE);
    let coffee = line("Caffe Qualita Rossa", 1, 399);
    let both = vec![line("Spaghetti n.5", 1, 129), coffee.clone()];
    st.wait_for_view(view(CheckoutPhase::Scanning, both.clone()), "pasta and coffee");
    st.scan(STAFF_BADGE);
    st.wait_for_view(view(pin_prompt(false), both.clone()), "the PIN prompt");
    st.press(STAFF_PIN);
    st.wait_for_view(
        view(menu(Some(StaffChoice::ApproveAge), None), both.clone()),
        "the staff menu",
    );
    // Help moves to "remove a line", Pay chooses it: the newest line is selected; Help moves up to the
    // pasta, Pay removes it.
    st.press("help");
    st.press("pay");
    st.wait_for_view(
        view(menu(Some(StaffChoice::RemoveLine), Some(1)), both.clone()),
        "removing a line, the newest selected",
    );
    st.press("help");
    st.wait_for_view(
        view(menu(Some(StaffChoice::RemoveLine), Some(0)), both),
        "removing a line, the pasta selected",
    );
    st.press("pay");
    st.wait_for_view(
        view(menu(Some(StaffChoice::RemoveLine), None), vec![coffee]),
        "back in the menu, only the coffee left",
    );
    let removed = st.wait_for_events("staff.action", 2).remove(1);
    assert_eq!(removed["payload"]["action"], "remove_line");
    assert_eq!(
        removed["payload"]["sku"], "PASTA-5",
        "the line staff chose, not the newest"
    );
    assert_eq!(removed["payload"]["staff_id"], "0001");

    st.press("3");
    st.daemon.wait_for_screen(
        &Frame {
            screen: Screen::Idle,
            offline: true,
        },
        "the welcome screen after the cancel",
    );
    let cancel = st.wait_for_events("staff.action", 3).remove(2);
    assert_eq!(cancel["payload"]["action"], "cancel_basket");
    assert_eq!(cancel["payload"]["staff_id"], "0001");
    assert_eq!(staff_actions(&st), ["open_staff_mode", "remove_line", "cancel_basket"]);
    assert!(st.events_of("sale.completed").is_empty(), "nothing sold");
    assert!(st.charges().is_empty(), "nothing charged");
}

#[test]
fn help_calls_staff_once_however_often_it_is_pressed_and_staff_arriving_answers_it() {
    let mut st = Station::start(Options::default());
    st.scan(WINE);
    st.wait_for_view(view(CheckoutPhase::Scanning, vec![wine(true)]), "the wine");
    st.press("help");
    st.wait_for_view(view(CheckoutPhase::HelpComing, vec![wine(true)]), "'help is coming'");
    st.press("help");
    // Pay after the second Help (stdin keeps their order) asks for the age check: once its notice is on
    // screen, both Helps were handled. Help still shows over the sale's phase.
    st.press("pay");
    let mut help_and_age = view(CheckoutPhase::HelpComing, vec![wine(true)]);
    help_and_age.notice = Some(Notice::AgeCheckNeeded { min_age: 18 });
    st.wait_for_view(help_and_age, "'help is coming' with the age check asked");
    let calls = st.events_of("assist.requested");
    assert_eq!(calls.len(), 1, "one call for help, not one per press");
    assert_eq!(calls[0]["payload"]["line_count"], 1);

    st.scan(STAFF_BADGE);
    st.wait_for_view(view(pin_prompt(false), vec![wine(true)]), "the PIN prompt");
    st.press(STAFF_PIN);
    st.wait_for_view(
        view(menu(Some(StaffChoice::ApproveAge), None), vec![wine(true)]),
        "the staff menu",
    );
    // Staff leave without doing anything: the shopper's screen no longer says help is coming.
    st.press("cancel");
    st.wait_for_view(
        view(CheckoutPhase::AwaitingStaff { min_age: 18 }, vec![wine(true)]),
        "the age check, help answered",
    );
    assert_eq!(st.events_of("assist.requested").len(), 1);
}

#[test]
fn staff_reprint_the_last_receipt() {
    let mut st = Station::start(Options::default());
    buy_pasta(&mut st);
    st.wait_for_view(view(receipt_phase(PrinterNote::Printed), pasta()), "the receipt screen");
    wait_until("the first receipt printed", DEADLINE, || {
        st.receipts().ends_with(&[0x1d, b'V', 66, 0])
    });
    let first = st.receipts();
    assert_eq!(count(&first, b"\x1b@"), 1, "one receipt before the reprint");

    st.scan(STAFF_BADGE);
    st.wait_for_view(view(pin_prompt(false), pasta()), "the PIN prompt");
    st.press(STAFF_PIN);
    st.wait_for_view(
        view(menu(Some(StaffChoice::ApproveAge), None), pasta()),
        "the staff menu",
    );
    st.press("4");
    wait_until("the receipt printed a second time", DEADLINE, || {
        let all = st.receipts();
        all.len() >= 2 * first.len() && all.ends_with(&[0x1d, b'V', 66, 0])
    });
    let all = st.receipts();
    assert_eq!(count(&all, b"\x1b@"), 2, "printed twice in all");
    let second = &all[first.len()..];
    assert!(second.starts_with(b"\x1b@"), "the reprint is a whole receipt");
    assert!(
        contains(second, FIRST_RECEIPT.as_bytes()),
        "the reprint carries the sale's receipt number"
    );
    assert!(contains(second, b"*** COPY ***"), "the reprint says it is a copy");
    assert!(
        !contains(&first, b"*** COPY ***"),
        "the shopper's receipt is not a copy"
    );
    let reprint = st.wait_for_events("staff.action", 2).remove(1);
    assert_eq!(reprint["payload"]["action"], "reprint_receipt");
    assert_eq!(reprint["payload"]["receipt_number"], FIRST_RECEIPT);
    assert_eq!(reprint["payload"]["staff_id"], "0001");
    assert_eq!(st.charges().len(), 1, "a reprint charges nothing");
    assert_eq!(st.events_of("sale.completed").len(), 1, "and sells nothing again");
}

#[test]
fn three_wrong_pins_close_the_prompt_and_approve_nothing() {
    let mut st = Station::start(Options::default());
    st.scan(WINE);
    st.wait_for_view(view(CheckoutPhase::Scanning, vec![wine(true)]), "the wine, flagged");
    st.press("pay");
    let mut awaiting = view(CheckoutPhase::AwaitingStaff { min_age: 18 }, vec![wine(true)]);
    awaiting.notice = Some(Notice::AgeCheckNeeded { min_age: 18 });
    st.wait_for_view(awaiting, "waiting for staff to check the age");

    st.scan(STAFF_BADGE);
    st.wait_for_view(view(pin_prompt(false), vec![wine(true)]), "the PIN prompt");
    for _ in 0..3 {
        st.press("1357");
    }
    st.wait_for_view(
        view(CheckoutPhase::AwaitingStaff { min_age: 18 }, vec![wine(true)]),
        "the prompt closed, the age still to check",
    );
    let refused = st.wait_for_events("staff.action", 1).remove(0);
    assert_eq!(refused["payload"]["action"], "pin_refused");
    assert_eq!(refused["payload"]["staff_id"], "0001");

    // The right PIN now is only digits on the shopper's screen: it opens nothing. Pay after it (stdin keeps
    // the order) shows "wait for staff" once both were handled.
    st.press(STAFF_PIN);
    st.press("pay");
    let mut wait = view(CheckoutPhase::AwaitingStaff { min_age: 18 }, vec![wine(true)]);
    wait.notice = Some(Notice::WaitForStaff);
    st.wait_for_view(wait, "'wait for staff', still no approval");
    assert_eq!(staff_actions(&st), ["pin_refused"], "no staff mode opened, no approval");
    assert!(st.charges().is_empty(), "nothing charged");
    assert!(st.events_of("sale.completed").is_empty(), "nothing sold");
}
