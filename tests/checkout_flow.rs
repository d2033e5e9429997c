//! The self-checkout through the real daemon: a pty scanner, buttons typed on stdin, the simulated payment
//! terminal, a receipt printer. Each test follows a shopper from the first scan to the receipt (or the
//! decline) and checks what the shopper sees, what the printer got, and what central will receive.

mod support;

use omnigate::ui::{CheckoutPhase, Notice, PrinterNote};
use support::station::{contains, line, view, Options, PrinterSetup, Station, COFFEE, PASTA};

#[test]
fn a_shopper_scans_pays_and_gets_the_receipt_and_central_gets_the_sale() {
    let mut st = Station::start(Options {
        delay_ms: 1500,
        ..Options::default()
    });
    st.scan(PASTA);
    st.scan(PASTA);
    st.scan(COFFEE);
    let lines = vec![line("Spaghetti n.5", 2, 129), line("Caffe Qualita Rossa", 1, 399)];
    st.wait_for_view(
        view(CheckoutPhase::Scanning, lines.clone()),
        "two lines, the pasta twice",
    );

    st.press("pay");
    st.wait_for_view(
        view(CheckoutPhase::Paying { amount_cents: 657 }, lines.clone()),
        "the paying screen with the amount",
    );
    let number = "IT-TEST-1-till1-000001";
    st.wait_for_view(
        view(
            CheckoutPhase::Receipt {
                receipt_number: number.into(),
                e_receipt_url: None,
                printer: PrinterNote::Printed,
            },
            lines,
        ),
        "the receipt screen",
    );

    let sale = st.wait_for_events("sale.completed", 1).remove(0);
    let p = &sale["payload"];
    assert_eq!(p["total_cents"], 657);
    assert_eq!(p["receipt_number"], number);
    assert_eq!(p["provisional"], true);
    assert_eq!(p["lines"].as_array().map(Vec::len), Some(2));
    assert_eq!(p["lines"][0]["quantity"]["pieces"], 2);
    // 2.58 at 4 % and 3.99 at 22 %: the VAT summary central books.
    assert_eq!(p["vat"][0]["rate_bp"], 400);
    assert_eq!(p["vat"][0]["vat_cents"], 10);
    assert_eq!(p["vat"][1]["rate_bp"], 2200);
    assert_eq!(p["vat"][1]["vat_cents"], 72);
    let charges = st.charges();
    assert_eq!(charges.len(), 1, "charged once");
    assert_eq!(charges[0].amount_cents, 657);
    assert_eq!(
        p["payment_reference"],
        omnigate::payment::sim_reference(&charges[0].attempt_id)
    );

    let receipt = st.receipts();
    assert!(receipt.starts_with(b"\x1b@"), "the printer is initialised first");
    assert!(
        receipt.ends_with(&[0x1d, b'V', 66, 0]),
        "and the paper is cut at the end"
    );
    for text in ["Spaghetti n.5", "6,57", number, "Supermercato Test", "IT01234567890"] {
        assert!(contains(&receipt, text.as_bytes()), "the receipt prints {text:?}");
    }
    assert!(
        contains(&receipt, format!("https://shop.example.it/r/{number}").as_bytes()),
        "the e-receipt QR code carries the address"
    );
}

#[test]
fn a_declined_card_keeps_the_basket_and_the_second_attempt_pays() {
    let mut st = Station::start(Options {
        outcomes: r#"["declined", "approved"]"#,
        ..Options::default()
    });
    st.scan(COFFEE);
    let lines = vec![line("Caffe Qualita Rossa", 1, 399)];
    // As a shopper does: pay once the item is on screen (scanner and buttons are separate inputs).
    st.wait_for_view(view(CheckoutPhase::Scanning, lines.clone()), "the coffee in the basket");
    st.press("pay");
    let mut declined = view(CheckoutPhase::Scanning, lines.clone());
    declined.notice = Some(Notice::PaymentDeclined);
    st.wait_for_view(declined, "the basket with 'payment declined'");
    let failed = st.wait_for_events("payment.failed", 1);
    assert_eq!(failed[0]["payload"]["outcome"], "declined");
    assert!(st.events_of("sale.completed").is_empty(), "nothing sold yet");

    st.press("pay");
    let sale = st.wait_for_events("sale.completed", 1).remove(0);
    assert_eq!(
        sale["payload"]["attempt_id"], "till1-1-p2",
        "a new attempt, never the declined one again"
    );
    let attempts: Vec<String> = st.charges().iter().map(|c| c.attempt_id.clone()).collect();
    assert_eq!(attempts, vec!["till1-1-p1", "till1-1-p2"]);
}

#[test]
fn a_payment_with_no_answer_is_reconciled_with_the_terminal_before_anything_else() {
    // The terminal times out, but the charge went through: the query finds it and the sale completes,
    // without a second charge.
    let mut st = Station::start(Options {
        outcomes: r#"["timed_out"]"#,
        settles: "approved",
        ..Options::default()
    });
    st.scan(PASTA);
    st.wait_for_view(
        view(CheckoutPhase::Scanning, vec![line("Spaghetti n.5", 1, 129)]),
        "the pasta",
    );
    st.press("pay");
    let sale = st.wait_for_events("sale.completed", 1).remove(0);
    assert_eq!(sale["payload"]["total_cents"], 129);
    assert_eq!(st.charges().len(), 1, "reconciled by a query, not a second request");

    // An unknown answer and the money never moved: back to the basket, recorded as failed.
    let mut st = Station::start(Options {
        outcomes: r#"["unknown"]"#,
        settles: "declined",
        ..Options::default()
    });
    st.scan(PASTA);
    st.wait_for_view(
        view(CheckoutPhase::Scanning, vec![line("Spaghetti n.5", 1, 129)]),
        "the pasta",
    );
    st.press("pay");
    let failed = st.wait_for_events("payment.failed", 1);
    assert_eq!(failed[0]["payload"]["outcome"], "declined");
    let mut back = view(CheckoutPhase::Scanning, vec![line("Spaghetti n.5", 1, 129)]);
    back.notice = Some(Notice::PaymentDeclined);
    st.wait_for_view(back, "the basket again, nothing charged");
    assert!(st.events_of("sale.completed").is_empty());
}

#[test]
fn without_a_printer_the_sale_completes_with_the_e_receipt_on_screen() {
    let mut st = Station::start(Options {
        printer: PrinterSetup::None,
        ..Options::default()
    });
    st.scan(PASTA);
    st.wait_for_view(
        view(CheckoutPhase::Scanning, vec![line("Spaghetti n.5", 1, 129)]),
        "the pasta",
    );
    st.press("pay");
    let number = "IT-TEST-1-till1-000001";
    st.wait_for_view(
        view(
            CheckoutPhase::Receipt {
                receipt_number: number.into(),
                e_receipt_url: Some(format!("https://shop.example.it/r/{number}")),
                printer: PrinterNote::EReceiptOnly,
            },
            vec![line("Spaghetti n.5", 1, 129)],
        ),
        "the e-receipt QR code",
    );
    st.wait_for_events("sale.completed", 1);
}
