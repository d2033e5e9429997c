//! Golden images: every screen, in Italian and English, rendered headless exactly as the simulator panel shows
//! it and compared pixel by pixel with the reviewed PNGs in `tests/golden/`.
//!
//! A changed rendering fails with the number of differing pixels and leaves `<name>.png.new` beside the golden
//! file for review. `OMNIGATE_BLESS=1 cargo test --test golden` rewrites the golden files; a golden file that is
//! missing is written too, but the test still fails unless blessing, so CI never passes on a missing image.

use std::path::{Path, PathBuf};

use omnigate::config::Language;
use omnigate::display::render_png;
use omnigate::ui::{ErrorClass, Frame, ProductView, Screen};

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

/// The screens a shopper can meet, each with a name that says what it shows.
fn screens() -> Vec<(&'static str, Frame)> {
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
        if only.is_some_and(|o| !o.contains(&name)) {
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
        ]),
    ));
}
