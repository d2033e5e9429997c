//! Golden images: every screen, in Italian and English, rendered headless exactly as the simulator panel shows
//! it and compared pixel by pixel with the reviewed PNGs in `tests/golden/`.
//!
//! A changed rendering fails with the number of differing pixels and leaves `<name>.png.new` beside the golden
//! file for review. `OMNIGATE_BLESS=1 cargo test --test golden` rewrites the golden files; a golden file that is
//! missing is written too, but the test still fails unless blessing, so CI never passes on a missing image.

use std::path::{Path, PathBuf};

use omnigate::catalog::Unit;
use omnigate::config::Language;
use omnigate::display::render_png;
use omnigate::pricing::{Discount, PromotionDetail, Reason};
use omnigate::ui::{
    CheckoutLine, CheckoutPhase, CheckoutView, ErrorClass, Frame, LineQuantity, Notice, PrinterNote, ProductView,
    Screen, StaffChoice,
};

const PORTRAIT: (u32, u32) = (240, 320);
const LANDSCAPE: (u32, u32) = (320, 240);
const MONO: (u32, u32) = (128, 64);

struct Case {
    name: String,
    frame: Frame,
    lang: Language,
    size: (u32, u32),
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

fn blessing() -> bool {
    std::env::var("OMNIGATE_BLESS").is_ok_and(|v| v == "1")
}

fn lang_tag(lang: Language) -> &'static str {
    match lang {
        Language::It => "it",
        Language::En => "en",
    }
}

fn product(name: &str, brand: &str, price_cents: i64) -> ProductView {
    ProductView {
        name: name.into(),
        brand: brand.into(),
        price_cents,
        per_kg: false,
        weight_g: None,
        regular_price_cents: None,
        promotion: None,
        stock: None,
        min_age: None,
    }
}

fn line(name: &str, quantity: LineQuantity, amount_cents: i64) -> CheckoutLine {
    CheckoutLine {
        name: name.into(),
        quantity,
        amount_cents,
        discounts: Vec::new(),
        needs_age_check: false,
    }
}

fn pieces(count: u32, unit_price_cents: i64) -> LineQuantity {
    LineQuantity::Pieces {
        count,
        unit_price_cents,
    }
}

fn promotion(label: &str, detail: PromotionDetail) -> Reason {
    Reason::Promotion {
        id: format!("promo-{label}"),
        label: label.into(),
        detail,
    }
}

/// Three lines: a multi-buy promotion, a weighed item, and the newest a plain piece.
fn three_lines() -> Vec<CheckoutLine> {
    vec![
        CheckoutLine {
            discounts: vec![Discount {
                reason: promotion(
                    "3x2",
                    PromotionDetail::MultiBuy {
                        buy: 3,
                        pay: 2,
                        free: 1,
                    },
                ),
                cents: 120,
            }],
            ..line("Biscotti frollini Mulino Bianco", pieces(3, 120), 240)
        },
        line(
            "Prosciutto crudo di Parma DOP",
            LineQuantity::Weight {
                grams: 532,
                price_per_kg_cents: 2990,
            },
            1591,
        ),
        line("Spaghetti n.5 Barilla 500 g", pieces(1, 89), 89),
    ]
}

fn checkout(phase: CheckoutPhase, lines: Vec<CheckoutLine>, notice: Option<Notice>) -> Screen {
    let total_cents = lines.iter().map(|l| l.amount_cents).sum();
    let savings_cents = lines.iter().flat_map(|l| &l.discounts).map(|d| d.cents).sum();
    Screen::Checkout(CheckoutView {
        phase,
        lines,
        total_cents,
        savings_cents,
        member: false,
        notice,
    })
}

/// A 50-line basket: it scrolls, the newest lines stay in view.
fn fifty_lines() -> Vec<CheckoutLine> {
    (1..=50)
        .map(|i| {
            let mut l = line(
                &format!("Articolo {i:02} Yogurt bianco"),
                pieces(1 + i % 3, 55),
                55 * i64::from(1 + i % 3),
            );
            if i % 7 == 0 {
                l.discounts.push(Discount {
                    reason: promotion("-20%", PromotionDetail::PercentOff { percent: 20 }),
                    cents: 11,
                });
                l.amount_cents -= 11;
            }
            l
        })
        .collect()
}

/// Every checkout screen: each phase, and each notice over the three-line basket.
fn checkout_screens() -> Vec<(String, Frame)> {
    let frame = |screen| Frame { screen, offline: false };
    let scanning = CheckoutPhase::Scanning;
    let receipt = |e_receipt_url: Option<&str>, printer| CheckoutPhase::Receipt {
        receipt_number: "0042-0815".into(),
        e_receipt_url: e_receipt_url.map(str::to_string),
        printer,
    };
    let url = Some("https://scontrini.example.it/r/0042-0815?k=7f3a9c");
    let mut member_lines = three_lines();
    member_lines[2].discounts.push(Discount {
        reason: Reason::MemberPrice {
            unit_price_cents: 79,
            unit: Unit::Piece,
        },
        cents: 10,
    });
    member_lines[2].amount_cents = 79;
    let mut member = checkout(
        scanning.clone(),
        member_lines,
        Some(Notice::MemberPricesApplied { savings_cents: 10 }),
    );
    if let Screen::Checkout(v) = &mut member {
        v.member = true;
    }
    let mut age_lines = three_lines();
    age_lines.push(CheckoutLine {
        needs_age_check: true,
        ..line("Chianti Classico DOCG 0,75 l", pieces(1, 1290), 1290)
    });
    let mut out: Vec<(String, Frame)> = vec![
        (
            "checkout_empty".into(),
            frame(checkout(scanning.clone(), Vec::new(), None)),
        ),
        (
            "checkout_three_lines".into(),
            frame(checkout(scanning.clone(), three_lines(), None)),
        ),
        (
            "checkout_fifty_lines".into(),
            frame(checkout(scanning.clone(), fifty_lines(), None)),
        ),
        ("checkout_member_prices".into(), frame(member)),
        (
            "checkout_awaiting_staff".into(),
            frame(checkout(
                CheckoutPhase::AwaitingStaff { min_age: 18 },
                age_lines.clone(),
                None,
            )),
        ),
        (
            "checkout_paying".into(),
            frame(checkout(
                CheckoutPhase::Paying { amount_cents: 1920 },
                three_lines(),
                None,
            )),
        ),
        (
            "checkout_reconciling".into(),
            frame(checkout(CheckoutPhase::Reconciling, three_lines(), None)),
        ),
        (
            "checkout_receipt_printed".into(),
            frame(checkout(receipt(None, PrinterNote::Printed), three_lines(), None)),
        ),
        (
            "checkout_receipt_paper_out".into(),
            frame(checkout(receipt(url, PrinterNote::PaperOut), three_lines(), None)),
        ),
        (
            "checkout_receipt_printer_offline".into(),
            frame(checkout(receipt(url, PrinterNote::Offline), three_lines(), None)),
        ),
        (
            "checkout_receipt_e_receipt_only".into(),
            frame(checkout(receipt(url, PrinterNote::EReceiptOnly), three_lines(), None)),
        ),
        (
            "checkout_help_coming".into(),
            frame(checkout(CheckoutPhase::HelpComing, three_lines(), None)),
        ),
        (
            "checkout_staff_pin".into(),
            frame(checkout(
                CheckoutPhase::StaffPin {
                    digits_entered: 2,
                    wrong: false,
                },
                three_lines(),
                None,
            )),
        ),
        (
            "checkout_staff_pin_wrong".into(),
            frame(checkout(
                CheckoutPhase::StaffPin {
                    digits_entered: 0,
                    wrong: true,
                },
                three_lines(),
                None,
            )),
        ),
        (
            "checkout_staff_menu".into(),
            frame(checkout(
                CheckoutPhase::StaffMenu {
                    staff_name: "Giulia R.".into(),
                    highlighted: Some(StaffChoice::RemoveLine),
                    selected_line: Some(1),
                },
                age_lines,
                None,
            )),
        ),
        (
            "checkout_cancelled".into(),
            frame(checkout(CheckoutPhase::Cancelled, Vec::new(), None)),
        ),
    ];
    let notices = [
        (
            "unknown_code",
            Notice::UnknownCode {
                code: "8001234567890".into(),
            },
        ),
        (
            "invalid_code",
            Notice::InvalidCode {
                reason: ErrorClass::CheckDigit,
            },
        ),
        (
            "cannot_add",
            Notice::CannotAdd {
                name: "Mele Golden sfuse".into(),
            },
        ),
        ("payment_declined", Notice::PaymentDeclined),
        ("payment_cancelled", Notice::PaymentCancelled),
        ("payment_in_progress", Notice::PaymentInProgress),
        ("age_check_needed", Notice::AgeCheckNeeded { min_age: 18 }),
        (
            "member_prices_applied",
            Notice::MemberPricesApplied { savings_cents: 150 },
        ),
        ("wait_for_staff", Notice::WaitForStaff),
        ("empty_basket", Notice::EmptyBasket),
        ("already_member", Notice::AlreadyMember),
        ("nothing_to_approve", Notice::NothingToApprove),
        ("no_such_line", Notice::NoSuchLine { line: 6 }),
        ("cancel_after_reconcile", Notice::CancelAfterReconcile),
        ("sales_paused", Notice::SalesPaused),
        ("unknown_badge", Notice::UnknownBadge),
        ("nothing_to_reprint", Notice::NothingToReprint),
    ];
    for (name, notice) in notices {
        let lines = if notice == Notice::EmptyBasket {
            Vec::new()
        } else {
            three_lines()
        };
        out.push((
            format!("checkout_notice_{name}"),
            frame(checkout(scanning.clone(), lines, Some(notice))),
        ));
    }
    out
}

/// The screens a shopper can meet, each with a name that says what it shows.
fn screens() -> Vec<(String, Frame)> {
    let mut all: Vec<(String, Frame)> = price_check_screens()
        .into_iter()
        .map(|(n, f)| (n.to_string(), f))
        .collect();
    all.extend(checkout_screens());
    all
}

/// The price-check screens.
fn price_check_screens() -> Vec<(&'static str, Frame)> {
    let frame = |screen, offline| Frame { screen, offline };
    vec![
        ("idle", frame(Screen::Idle, false)),
        ("idle_offline", frame(Screen::Idle, true)),
        (
            "product",
            frame(
                Screen::Product(ProductView {
                    stock: Some(12),
                    ..product("Spaghetti n.5", "Barilla", 89)
                }),
                false,
            ),
        ),
        (
            "product_long_name_promotion",
            frame(
                Screen::Product(ProductView {
                    regular_price_cents: Some(349),
                    promotion: Some("-20%".into()),
                    stock: Some(3),
                    ..product(
                        "Biscotti frollini con gocce di cioccolato fondente e nocciole del Piemonte IGP, confezione \
                         famiglia",
                        "Mulino Bianco",
                        279,
                    )
                }),
                true,
            ),
        ),
        (
            "product_by_weight",
            frame(
                Screen::Product(ProductView {
                    weight_g: Some(532),
                    ..product(
                        "Prosciutto crudo di Parma DOP stagionato 18 mesi",
                        "Banco gastronomia",
                        1596,
                    )
                }),
                false,
            ),
        ),
        (
            "product_per_kg",
            frame(
                Screen::Product(ProductView {
                    per_kg: true,
                    stock: Some(40),
                    ..product("Mele Golden Delicious", "Melinda", 199)
                }),
                false,
            ),
        ),
        (
            "product_out_of_stock",
            frame(
                Screen::Product(ProductView {
                    stock: Some(0),
                    ..product("Caffè macinato Qualità Oro 250 g", "Lavazza", 449)
                }),
                false,
            ),
        ),
        (
            "product_age_restricted",
            frame(
                Screen::Product(ProductView {
                    stock: Some(6),
                    min_age: Some(18),
                    promotion: Some("Prendi 3 paghi 2".into()),
                    ..product("Chianti Classico DOCG 0,75 l", "Ruffino", 1290)
                }),
                false,
            ),
        ),
        (
            "not_found",
            frame(
                Screen::NotFound {
                    code: "8001234567890".into(),
                },
                false,
            ),
        ),
        (
            "invalid_check_digit",
            frame(
                Screen::Invalid {
                    reason: ErrorClass::CheckDigit,
                },
                false,
            ),
        ),
        (
            "invalid_length",
            frame(
                Screen::Invalid {
                    reason: ErrorClass::Length,
                },
                true,
            ),
        ),
        (
            "invalid_malformed",
            frame(
                Screen::Invalid {
                    reason: ErrorClass::Malformed,
                },
                false,
            ),
        ),
        (
            "not_found_without_code",
            frame(Screen::NotFound { code: String::new() }, false),
        ),
        (
            "invalid_empty",
            frame(
                Screen::Invalid {
                    reason: ErrorClass::Empty,
                },
                false,
            ),
        ),
        (
            "invalid_characters",
            frame(
                Screen::Invalid {
                    reason: ErrorClass::Characters,
                },
                false,
            ),
        ),
        (
            "invalid_date",
            frame(
                Screen::Invalid {
                    reason: ErrorClass::Date,
                },
                false,
            ),
        ),
        ("scanner_disconnected", frame(Screen::ScannerDisconnected, false)),
        ("scanner_disconnected_offline", frame(Screen::ScannerDisconnected, true)),
        ("sales_paused_offline", frame(Screen::SalesPaused, true)),
        (
            "out_of_order_message",
            frame(
                Screen::OutOfOrder {
                    message: Some("Manutenzione in corso: torniamo alle 15:00 / Maintenance until 3 pm".into()),
                },
                false,
            ),
        ),
        ("out_of_order", frame(Screen::OutOfOrder { message: None }, true)),
    ]
}

fn cases(size: (u32, u32), only: Option<&[&str]>) -> Vec<Case> {
    let mut out = Vec::new();
    for (name, frame) in screens() {
        if only.is_some_and(|o| !o.contains(&name.as_str())) {
            continue;
        }
        for lang in [Language::It, Language::En] {
            let prefix = match size {
                PORTRAIT => String::new(),
                (w, h) => format!("{w}x{h}_"),
            };
            out.push(Case {
                name: format!("{prefix}{name}_{}", lang_tag(lang)),
                frame: frame.clone(),
                lang,
                size,
            });
        }
    }
    out
}

fn decode(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("cannot decode {}: {e}", path.display()))
        .to_rgb8()
}

/// Renders every case and compares it with its golden file; panics listing every case that does not match.
fn check(cases: Vec<Case>) {
    let dir = golden_dir();
    std::fs::create_dir_all(&dir).expect("create tests/golden");
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for case in &cases {
        let golden = dir.join(format!("{}.png", case.name));
        let fresh = scratch.path().join(format!("{}.png", case.name));
        render_png(&case.frame, case.lang, case.size.0, case.size.1, &fresh).expect("render");
        if blessing() || !golden.exists() {
            let missing = !golden.exists();
            std::fs::copy(&fresh, &golden).expect("write golden file");
            if missing && !blessing() {
                failures.push(format!(
                    "{}: golden file was missing; written, review it and commit",
                    case.name
                ));
            }
            continue;
        }
        let (want, got) = (decode(&golden), decode(&fresh));
        if want.dimensions() != got.dimensions() {
            failures.push(format!(
                "{}: size {:?}, golden is {:?}",
                case.name,
                got.dimensions(),
                want.dimensions()
            ));
        } else {
            let differing = want.pixels().zip(got.pixels()).filter(|(a, b)| a != b).count();
            if differing == 0 {
                // A leftover from an earlier failure is stale now.
                let _ = std::fs::remove_file(dir.join(format!("{}.png.new", case.name)));
                continue;
            }
            failures.push(format!("{}: {differing} pixels differ", case.name));
        }
        let new = dir.join(format!("{}.png.new", case.name));
        std::fs::copy(&fresh, &new).expect("write .png.new");
    }
    assert!(
        failures.is_empty(),
        "golden images do not match (see tests/golden/*.png.new):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_screen_in_both_languages_matches_its_golden_image() {
    check(cases(PORTRAIT, None));
}

#[test]
fn landscape_panel_screens_match_their_golden_images() {
    check(cases(
        LANDSCAPE,
        Some(&[
            "idle",
            "product_long_name_promotion",
            "product_by_weight",
            "invalid_check_digit",
            "checkout_three_lines",
            "checkout_fifty_lines",
            "checkout_member_prices",
            "checkout_awaiting_staff",
            "checkout_paying",
            "checkout_receipt_paper_out",
            "checkout_staff_menu",
            "checkout_notice_payment_declined",
        ]),
    ));
}

#[test]
fn small_monochrome_panel_screens_match_their_golden_images() {
    check(cases(
        MONO,
        Some(&[
            "idle_offline",
            "product",
            "product_long_name_promotion",
            "product_per_kg",
            "product_age_restricted",
            "not_found",
            "invalid_check_digit",
            "scanner_disconnected",
            "sales_paused_offline",
            "out_of_order_message",
            "checkout_three_lines",
            "checkout_member_prices",
            "checkout_awaiting_staff",
            "checkout_paying",
            "checkout_reconciling",
            "checkout_receipt_paper_out",
            "checkout_staff_pin",
            "checkout_staff_menu",
            "checkout_cancelled",
            "checkout_notice_unknown_code",
        ]),
    ));
}
