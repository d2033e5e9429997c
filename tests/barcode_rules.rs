//! The barcode rules as a shopper, staff member or IT would state them, checked through the public API:
//! `decode`, `Rules::from_config` and `report`.

use omnigate::barcode::{decode, report, BarcodeError, ErrorClass, Format, Kind, Rules, Scan};
use omnigate::config::{BarcodeConfig, StoreCodeKind, StoreCodePattern, VariableMeasureTemplate};
use proptest::prelude::*;

const GS: &str = "\u{1d}";

fn rules_with(templates: &[&str], store: &[(StoreCodeKind, &str)]) -> Rules {
    Rules::from_config(&config(templates, store)).expect("test rules are valid")
}

fn config(templates: &[&str], store: &[(StoreCodeKind, &str)]) -> BarcodeConfig {
    BarcodeConfig {
        variable_measure: templates
            .iter()
            .map(|t| VariableMeasureTemplate {
                template: t.to_string(),
            })
            .collect(),
        store_codes: store
            .iter()
            .map(|(kind, p)| StoreCodePattern {
                kind: *kind,
                pattern: p.to_string(),
            })
            .collect(),
    }
}

fn ok(input: &str) -> Scan {
    ok_with(input, &Rules::default())
}

fn ok_with(input: &str, rules: &Rules) -> Scan {
    decode(input.as_bytes(), rules).unwrap_or_else(|e| panic!("{input:?} should decode, got: {e}"))
}

fn err(input: &[u8]) -> BarcodeError {
    match decode(input, &Rules::default()) {
        Ok(scan) => panic!("{:?} should be rejected, got {scan:?}", String::from_utf8_lossy(input)),
        Err(e) => e,
    }
}

fn gtin(scan: &Scan) -> &str {
    scan.gtin.as_ref().map(|g| g.as_str()).unwrap_or("(none)")
}

// ---------------------------------------------------------------- product codes

#[test]
fn every_product_code_form_normalises_to_gtin14() {
    let cases = [
        // input, format, gtin
        ("8001234567897", Format::Ean13, "08001234567897"),
        ("8076809513722", Format::Ean13, "08076809513722"),
        ("036000291452", Format::UpcA, "00036000291452"),
        ("0036000291452", Format::Ean13, "00036000291452"),
        ("00036000291452", Format::Gtin14, "00036000291452"),
        ("10036000291459", Format::Gtin14, "10036000291459"),
        ("96385074", Format::Ean8, "00000096385074"),
        ("80123453", Format::Ean8, "00000080123453"),
        // UPC-E (number system, 6 digits, check) expanded to UPC-A.
        ("04252614", Format::UpcE, "00042100005264"),
        // UPC-E with ]E0 and 8 digits.
        ("]E001234565", Format::UpcE, "00012345000065"),
        // UPC-E without check digit (7) and without number system (6), sent with ]E0: the scanner checked the
        // symbol and says so.
        ("]E00123456", Format::UpcE, "00012345000065"),
        ("]E0123456", Format::UpcE, "00012345000065"),
        ("]E01123456", Format::UpcE, "00112345000062"),
        // EAN-13 with a 2- or 5-digit add-on sent without an identifier: the add-on is dropped.
        ("800123456789712", Format::Ean13, "08001234567897"),
        ("800123456789751299", Format::Ean13, "08001234567897"),
    ];
    for (input, format, expected) in cases {
        let scan = ok(input);
        assert_eq!(
            (scan.kind, scan.format, gtin(&scan)),
            (Kind::Product, format, expected),
            "{input}"
        );
    }
}

#[test]
fn a_scanner_that_adds_or_drops_a_leading_zero_finds_the_same_product() {
    let forms = [
        "036000291452",
        "0036000291452",
        "00036000291452",
        "]E00036000291452",
        "]I100036000291452",
    ];
    let gtins: Vec<String> = forms.iter().map(|f| gtin(&ok(f)).to_string()).collect();
    assert!(gtins.iter().all(|g| g == "00036000291452"), "{gtins:?}");
}

#[test]
fn product_codes_with_a_wrong_check_digit_length_or_character_are_rejected() {
    let cases: [(&str, ErrorClass, &str); 8] = [
        (
            "8001234567890",
            ErrorClass::CheckDigit,
            "EAN-13 check digit is 0, expected 7",
        ),
        (
            "036000291453",
            ErrorClass::CheckDigit,
            "UPC-A check digit is 3, expected 2",
        ),
        (
            "00036000291453",
            ErrorClass::CheckDigit,
            "GTIN-14 check digit is 3, expected 2",
        ),
        // Neither a valid EAN-8 nor (starting with 9) a UPC-E.
        ("96385075", ErrorClass::CheckDigit, "EAN-8 check digit is 5, expected 4"),
        (
            "80012345678",
            ErrorClass::Length,
            "a product code has 8, 12, 13 or 14 digits, found 11",
        ),
        ("123", ErrorClass::Length, "found 3"),
        // 15 digits whose first 13 are no valid EAN-13: not an EAN-13 with add-on either.
        ("800123456789012", ErrorClass::Length, "found 15"),
        (
            "80012345A7897",
            ErrorClass::Characters,
            "'A' at position 9 is not a digit",
        ),
    ];
    for (input, class, message) in cases {
        let e = err(input.as_bytes());
        assert_eq!(e.class(), class, "{input}: {e}");
        assert!(e.to_string().contains(message), "{input}: {e}");
    }
}

#[test]
fn eight_digits_are_ean8_when_its_check_digit_holds_else_upc_e() {
    // 04252614 is not a valid EAN-8 (its EAN-8 check digit would be 0) but is a valid UPC-E.
    assert_eq!(ok("04252614").format, Format::UpcE);
    // With ]E4 the scanner says EAN-8: no UPC-E fallback.
    assert_eq!(err(b"]E404252614").class(), ErrorClass::CheckDigit);
    // 01234565 is valid both ways: EAN-8 without an identifier, UPC-E with ]E0.
    assert_eq!(gtin(&ok("01234565")), "00000001234565");
    assert_eq!(gtin(&ok("]E001234565")), "00012345000065");
    // With ]E0, eight digits must be a UPC-E: number system 0 or 1.
    assert_eq!(
        err(b"]E096385074").to_string(),
        "UPC-E number system must be 0 or 1, found 9"
    );
}

#[test]
fn six_or_seven_digits_without_an_identifier_are_not_a_product() {
    // A UPC-E short form has no check digit; without ]E0 it cannot be told from a truncated read or a typed PIN.
    for input in ["123456", "0123456", "1123456", "999999", " 123456\r\n"] {
        let e = err(input.as_bytes());
        assert_eq!(e.class(), ErrorClass::Length, "{input:?}: {e}");
        let message = e.to_string();
        assert!(
            message.contains("UPC-E only when the scanner sends the ]E0 identifier") && message.contains("truncated"),
            "{input:?}: {message}"
        );
    }
    // The same digits with ]E0 are a UPC-E; other identifiers do not vouch for a UPC-E.
    assert_eq!(ok("]E0123456").format, Format::UpcE);
    assert_eq!(err(b"]C0123456").class(), ErrorClass::Length);
    assert_eq!(err(b"]E4123456").class(), ErrorClass::Length);
    // With ]E0 the short form must still have a UPC-E number system.
    assert_eq!(
        err(b"]E09123456").to_string(),
        "UPC-E number system must be 0 or 1, found 9"
    );
}

// ---------------------------------------------------------------- AIM identifiers

#[test]
fn aim_identifiers_are_recognised_and_stripped() {
    let gs1 = format!("0109501101530003{GS}10LOT1");
    let cases: Vec<(String, Kind, Format, &str)> = vec![
        (
            "]E08001234567897".into(),
            Kind::Product,
            Format::Ean13,
            "08001234567897",
        ),
        ("]E0036000291452".into(), Kind::Product, Format::UpcA, "00036000291452"),
        ("]E001234565".into(), Kind::Product, Format::UpcE, "00012345000065"),
        ("]E496385074".into(), Kind::Product, Format::Ean8, "00000096385074"),
        // EAN-13 + 2-digit and 5-digit add-ons: the add-on is dropped.
        (
            "]E3800123456789712".into(),
            Kind::Product,
            Format::Ean13,
            "08001234567897",
        ),
        (
            "]E3800123456789751299".into(),
            Kind::Product,
            Format::Ean13,
            "08001234567897",
        ),
        (
            "]C08001234567897".into(),
            Kind::Product,
            Format::Ean13,
            "08001234567897",
        ),
        (
            format!("]C1{gs1}"),
            Kind::Gs1,
            Format::Gs1ElementString,
            "09501101530003",
        ),
        (
            "]d18001234567897".into(),
            Kind::Product,
            Format::Ean13,
            "08001234567897",
        ),
        (
            format!("]d2{gs1}"),
            Kind::Gs1,
            Format::Gs1ElementString,
            "09501101530003",
        ),
        (
            "]Q1https://id.gs1.org/01/09501101530003".into(),
            Kind::DigitalLink,
            Format::DigitalLink,
            "09501101530003",
        ),
        (
            format!("]Q3{gs1}"),
            Kind::Gs1,
            Format::Gs1ElementString,
            "09501101530003",
        ),
        (
            "]e00109501101530003".into(),
            Kind::Gs1,
            Format::Gs1ElementString,
            "09501101530003",
        ),
        (
            "]A08001234567897".into(),
            Kind::Product,
            Format::Ean13,
            "08001234567897",
        ),
        (
            "]I010036000291459".into(),
            Kind::Product,
            Format::Gtin14,
            "10036000291459",
        ),
        (
            "]I110036000291459".into(),
            Kind::Product,
            Format::Gtin14,
            "10036000291459",
        ),
        // An identifier this table does not know is stripped and kept; the data is read by content.
        (
            "]Z98001234567897".into(),
            Kind::Product,
            Format::Ean13,
            "08001234567897",
        ),
    ];
    for (input, kind, format, expected) in cases {
        let scan = ok(&input);
        assert_eq!(
            (scan.kind, scan.format, gtin(&scan)),
            (kind, format, expected),
            "{input:?}"
        );
        assert_eq!(scan.symbology.as_deref(), Some(&input[..3]), "{input:?}");
    }
}

#[test]
fn broken_or_contradictory_identifiers_are_rejected() {
    let cases: [(&str, ErrorClass, &str); 6] = [
        ("]", ErrorClass::Malformed, "must start a symbology identifier"),
        (
            "]%08001234567897",
            ErrorClass::Malformed,
            "must start a symbology identifier",
        ),
        ("]E0", ErrorClass::Malformed, "no data follows it"),
        ("]E112", ErrorClass::Malformed, "add-on alone"),
        (
            "]E48001234567897",
            ErrorClass::Length,
            "]E4 (EAN-8) has 8 digits, found 13",
        ),
        ("]E0123456789", ErrorClass::Length, "found 9"),
    ];
    for (input, class, message) in cases {
        let e = err(input.as_bytes());
        assert_eq!(e.class(), class, "{input}: {e}");
        assert!(e.to_string().contains(message), "{input}: {e}");
    }
}

// ---------------------------------------------------------------- GS1 element strings

#[test]
fn gs1_element_strings_yield_gtin_and_every_other_ai() {
    type Case = (String, &'static str, Vec<(&'static str, &'static str)>);
    let cases: Vec<Case> = vec![
        // Predefined-length AIs need no separator; variable-length ones end at GS or at the end.
        (
            "]C1010950110153000317261231".into(),
            "09501101530003",
            vec![("17", "261231")],
        ),
        (
            format!("]d20109501101530003172612311015A-B/2{GS}21SER.42"),
            "09501101530003",
            vec![("10", "15A-B/2"), ("17", "261231"), ("21", "SER.42")],
        ),
        // A GS after a fixed-length AI is tolerated, as is a trailing one.
        (
            format!("]C10109501101530003{GS}17261200{GS}"),
            "09501101530003",
            vec![("17", "261200")],
        ),
        (format!("]Q3{GS}0109501101530003{GS}"), "09501101530003", vec![]),
        (
            "]C11126022813260101152612311626123020123037123".into(),
            "(none)",
            vec![
                ("11", "260228"),
                ("13", "260101"),
                ("15", "261231"),
                ("16", "261230"),
                ("20", "12"),
                ("30", "37123"),
            ],
        ),
        (
            format!("]C13000000012{GS}3712"),
            "(none)",
            vec![("30", "00000012"), ("37", "12")],
        ),
        (
            "]C100095011015300000010".into(),
            "(none)",
            vec![("00", "095011015300000010")],
        ),
        (
            "]C10209501101530003".into(),
            "09501101530003",
            vec![("02", "09501101530003")],
        ),
        // Fixed-length AIs outside the predefined table still end at GS: 422 (country), 7006 (date).
        (
            format!("]d20109501101530003422380{GS}7006260115{GS}10L7"),
            "09501101530003",
            vec![("10", "L7"), ("422", "380"), ("7006", "260115")],
        ),
        // Bracketed human-readable form, as staff type it.
        (
            "(01)09501101530003(17)261231(10)AB12".into(),
            "09501101530003",
            vec![("10", "AB12"), ("17", "261231")],
        ),
        // No identifier: a leading GS, or more than 14 characters starting with AI 01.
        (
            format!("{GS}0109501101530003{GS}21X"),
            "09501101530003",
            vec![("21", "X")],
        ),
        ("010950110153000321X9".into(), "09501101530003", vec![("21", "X9")]),
    ];
    for (input, expected_gtin, ais) in cases {
        let scan = ok(&input);
        assert_eq!(scan.kind, Kind::Gs1, "{input:?}");
        assert_eq!(gtin(&scan), expected_gtin, "{input:?}");
        let expected: Vec<(String, String)> = ais.iter().map(|(a, v)| (a.to_string(), v.to_string())).collect();
        let got: Vec<(String, String)> = scan.ais.clone().into_iter().collect();
        assert_eq!(got, expected, "{input:?}");
        assert!(!scan.ais.contains_key("01"), "AI 01 is the gtin, not an entry in ais");
    }
}

#[test]
fn gs1_weights_and_prices_become_grams_and_cents() {
    let cases: [(String, Option<u32>, Option<i64>); 8] = [
        ("]C101095011015300033103001250".into(), Some(1250), None),
        ("]C131020012503922001299".into(), Some(12_500), Some(1299)),
        (format!("]C13922001299{GS}3103001250"), Some(1250), Some(1299)),
        ("]C139201299".into(), None, Some(129_900)),
        ("]C13923012995".into(), None, None), // 12.995: not whole cents, kept only as the AI value
        ("]C13923012990".into(), None, Some(1299)),
        // 2.00 lb = 907.18474 g, rounded half-up.
        ("]C13202000200".into(), Some(907), None),
        // 393n names its own currency: no price_cents, the value stays in ais.
        ("]C13932978001299".into(), None, None),
    ];
    for (input, weight_g, price_cents) in cases {
        let scan = ok(&input);
        assert_eq!((scan.weight_g, scan.price_cents), (weight_g, price_cents), "{input:?}");
    }
    assert_eq!(
        ok("]C13932978001299").ais.get("3932").map(String::as_str),
        Some("978001299")
    );
    assert_eq!(ok("]C13923012995").ais.get("3923").map(String::as_str), Some("012995"));
}

#[test]
fn gs1_bad_dates_check_digits_lengths_and_characters_are_rejected_with_ai_and_position() {
    let cases: Vec<(String, ErrorClass, &str)> = vec![
        (
            "]C1010950110153000317261301".into(),
            ErrorClass::Date,
            "AI 17 at position 20: month 13 is not a month",
        ),
        (
            "]C1010950110153000317260229".into(),
            ErrorClass::Date,
            "day 29 is not a day of month 02 (it has 28)",
        ),
        (
            "]C1010950110153000317260431".into(),
            ErrorClass::Date,
            "day 31 is not a day of month 04",
        ),
        ("]C111260015".into(), ErrorClass::Date, "month 00 is not a month"),
        (
            "]C10109501101530004".into(),
            ErrorClass::CheckDigit,
            "AI 01 at position 4: check digit is 4, expected 3",
        ),
        ("]C100095011015300000011".into(), ErrorClass::CheckDigit, "AI 00"),
        (
            "]C101095011015300".into(),
            ErrorClass::Length,
            "AI 01 at position 4: needs 14 digits, found 12",
        ),
        (
            "]C131030012".into(),
            ErrorClass::Length,
            "AI 3103 at position 4: needs 6 digits, found 4",
        ),
        (
            format!("]C110ABCDEFGHIJKLMNOPQRSTU{GS}"),
            ErrorClass::Length,
            "at most 20 characters, found 21",
        ),
        (
            "]C130123456789".into(),
            ErrorClass::Length,
            "AI 30 at position 4: holds at most 8 characters, found 9",
        ),
        (
            format!("]C117261{GS}231"),
            ErrorClass::Length,
            "AI 17 at position 4: needs 6 digits, found 3",
        ),
        (
            format!("]C110{GS}21X"),
            ErrorClass::Length,
            "AI 10 at position 4: needs 1 to 20 characters, found 0",
        ),
        (
            "]C110AB#C".into(),
            ErrorClass::Characters,
            "'#' is not in the GS1 character set 82",
        ),
        ("]C13103A01250".into(), ErrorClass::Characters, "'A' is not a digit"),
        (
            "]C13106001250".into(),
            ErrorClass::Malformed,
            "6 decimals is not defined",
        ),
        (
            "]C101095011015300034212345".into(),
            ErrorClass::Malformed,
            "no supported AI starts with 4212",
        ),
        (
            "]C1ABC".into(),
            ErrorClass::Malformed,
            "expected an AI (digits), found 'A'",
        ),
        (
            "]C11726123017261231".into(),
            ErrorClass::Malformed,
            "AI 17 at position 12: appears twice with different values",
        ),
        (format!("]C1{GS}{GS}"), ErrorClass::Malformed, "no element string"),
    ];
    for (input, class, message) in cases {
        let e = err(input.as_bytes());
        assert_eq!(e.class(), class, "{input:?}: {e}");
        assert!(e.to_string().contains(message), "{input:?}: {e}");
    }
}

#[test]
fn gs1_day_00_and_leap_days_are_dates() {
    assert_eq!(
        ok("]C11526120017280229").ais.get("17").map(String::as_str),
        Some("280229")
    );
    assert_eq!(
        ok("]C11526120017280229").ais.get("15").map(String::as_str),
        Some("261200")
    );
}

// ---------------------------------------------------------------- GS1 Digital Link

#[test]
fn digital_links_on_any_domain_yield_path_and_query_ais() {
    let scan = ok(
        "https://shop.example.it/p/x/01/09501101530003/10/AB%2D12/21/XYZ?17=261231&3103=000500&linkType=gs1:pip#top",
    );
    assert_eq!(scan.kind, Kind::DigitalLink);
    assert_eq!(gtin(&scan), "09501101530003");
    let ais: Vec<(&str, &str)> = scan.ais.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        ais,
        vec![("10", "AB-12"), ("17", "261231"), ("21", "XYZ"), ("3103", "000500")]
    );
    assert_eq!(scan.weight_g, Some(500));

    // A GTIN-13 in the path is padded; short names work; the scheme and host are any case.
    let short = ok("HTTPS://Brand.IT/gtin/8001234567897/lot/L1?3922=399");
    assert_eq!(gtin(&short), "08001234567897");
    assert_eq!(short.ais.get("10").map(String::as_str), Some("L1"));
    assert_eq!(short.price_cents, Some(399));
    assert_eq!(ok("http://id.gs1.org/01/09501101530003").format, Format::DigitalLink);

    // An SSCC (logistic unit) link has no GTIN.
    let sscc = ok("https://example.com/00/095011015300000010");
    assert_eq!((sscc.kind, sscc.gtin), (Kind::DigitalLink, None));
    assert_eq!(sscc.ais.get("00").map(String::as_str), Some("095011015300000010"));
}

#[test]
fn urls_that_are_not_valid_digital_links_are_rejected() {
    let cases: [(&str, ErrorClass, &str); 8] = [
        (
            "https://example.com/products/123",
            ErrorClass::Malformed,
            "no GS1 primary key",
        ),
        ("https:///01/09501101530003", ErrorClass::Malformed, "no host"),
        (
            "https://e.com/01/09501101530004",
            ErrorClass::CheckDigit,
            "AI 01 in the URI path: check digit is 4",
        ),
        (
            "https://e.com/01/09501101530003/21/X/10/Y",
            ErrorClass::Malformed,
            "out of order",
        ),
        (
            "https://e.com/01/09501101530003/17/261231",
            ErrorClass::Malformed,
            "not a key qualifier",
        ),
        (
            "https://e.com/01/09501101530003?17=261301",
            ErrorClass::Date,
            "AI 17 in the URI query: month 13",
        ),
        (
            "https://e.com/01/09501101530003/10/A%ZZ",
            ErrorClass::Malformed,
            "bad percent-escape",
        ),
        (
            "https://e.com/01/09501101530003/10/A%23",
            ErrorClass::Characters,
            "'#' is not in the GS1 character set",
        ),
    ];
    for (input, class, message) in cases {
        let e = err(input.as_bytes());
        assert_eq!(e.class(), class, "{input}: {e}");
        assert!(e.to_string().contains(message), "{input}: {e}");
    }
}

// ---------------------------------------------------------------- variable measure

#[test]
fn italian_default_template_reads_item_and_price_in_cents() {
    // 2 | 001234 | 01299 | 7: item 001234 at €12.99.
    let scan = ok("2001234012997");
    assert_eq!(scan.kind, Kind::VariableMeasure);
    assert_eq!(scan.item.as_deref(), Some("001234"));
    assert_eq!(scan.price_cents, Some(1299));
    assert_eq!(scan.weight_g, None);
    assert_eq!(scan.gtin, None, "the item code is the key, not a GTIN");
    // The same code with the leading zero of a GTIN-14, or behind ]E0.
    assert_eq!(
        ok("02001234012997"),
        Scan {
            format: Format::Gtin14,
            ..scan.clone()
        }
    );
    assert_eq!(ok("]E02001234012997").item.as_deref(), Some("001234"));
    // The EAN-13 check digit still has to hold.
    assert_eq!(err(b"2001234012990").class(), ErrorClass::CheckDigit);
    // A UPC-A starting with 2 is the EAN-13 02…: not the Italian 2… layout, so a plain product.
    assert_eq!(ok("212345101506").kind, Kind::Product);
}

#[test]
fn weight_template_with_verifier_digit_accepts_only_the_right_verifier() {
    let rules = rules_with(&["28IIIIVWWWWWC", "2IIIIIIPPPPPC"], &[]);
    // 28 | 1234 | 7 | 01250 | 3: verifier of 01250 is 7 (GenSpecs §7.9.4: 0+2+9+7+0 = 18, 20-18 = 2 = 5-(7)).
    let scan = ok_with("2812347012503", &rules);
    assert_eq!(
        (scan.kind, scan.item.as_deref(), scan.weight_g, scan.price_cents),
        (Kind::VariableMeasure, Some("1234"), Some(1250), None)
    );
    // Same weight with verifier 3 (EAN-13 check digit recomputed so only the verifier is wrong).
    let e = decode(b"2812343012507", &rules).expect_err("wrong verifier");
    assert_eq!(e.class(), ErrorClass::CheckDigit);
    assert_eq!(e.to_string(), "weight verifier digit is 3, expected 7");
    // Other 2x codes still follow the Italian template.
    assert_eq!(ok_with("2001234012997", &rules).price_cents, Some(1299));
}

#[test]
fn upc_a_number_system_2_uses_02_templates() {
    // 02 | 12345 | 1 | 0150 | 6 as EAN-13; the scanner sends the UPC-A 212345101506. Verifier of 0150 is 1.
    let rules = rules_with(&["02IIIIIVPPPPC"], &[]);
    let scan = ok_with("212345101506", &rules);
    assert_eq!(
        (scan.kind, scan.item.as_deref(), scan.price_cents),
        (Kind::VariableMeasure, Some("12345"), Some(150))
    );
    let ean13 = ok_with("0212345101506", &rules);
    assert_eq!((ean13.item, ean13.price_cents), (scan.item.clone(), scan.price_cents));
    let e = decode(b"212345201503", &rules).expect_err("verifier 2 is wrong");
    assert_eq!(e.to_string(), "price verifier digit is 2, expected 1");
}

// ---------------------------------------------------------------- store codes

#[test]
fn store_codes_are_recognised_before_variable_measure_with_their_ids() {
    let rules = rules_with(
        &["2IIIIIIPPPPPC"],
        &[
            (StoreCodeKind::Loyalty, "2990#########"),
            (StoreCodeKind::Staff, "STAFF-####"),
            (StoreCodeKind::Order, "ORD-*"),
            (StoreCodeKind::Order, "https://shop.example.it/o/*"),
        ],
    );
    let cases = [
        ("2990123456786", Kind::Loyalty, "123456786"),
        ("]E02990123456786", Kind::Loyalty, "123456786"),
        ("STAFF-0042", Kind::Staff, "0042"),
        ("]C0staff-0042", Kind::Staff, "0042"),
        ("ORD-A1B2C3", Kind::Order, "A1B2C3"),
        ("]Q1ORD-2026X7\r\n", Kind::Order, "2026X7"),
        // An order QR code may be a URL: store patterns come before Digital Link.
        ("]Q1https://shop.example.it/o/K7Q2", Kind::Order, "K7Q2"),
    ];
    for (input, kind, id) in cases {
        let scan = ok_with(input, &rules);
        assert_eq!(
            (scan.kind, scan.store_id.as_deref(), scan.gtin),
            (kind, Some(id), None),
            "{input:?}"
        );
        assert_eq!(scan.format, Format::StoreCode);
    }
    // Without the loyalty pattern the same digits are a variable-measure label.
    assert_eq!(ok("2990123456786").kind, Kind::VariableMeasure);
    // Near misses are not store codes.
    assert_eq!(
        decode(b"STAFF-42", &rules).expect_err("too short").class(),
        ErrorClass::Characters
    );
    assert_eq!(
        decode(b"ORD-", &rules).expect_err("no id").class(),
        ErrorClass::Characters
    );
}

#[test]
fn bad_rules_name_the_key_relative_to_barcode() {
    let e = Rules::from_config(&config(&["2IIIIIIPPPPPC", "2IIIIIIPPPPP"], &[])).expect_err("12 characters");
    assert_eq!(e.key, "variable_measure[1].template");
    assert!(e.reason.contains("13 characters"), "{e}");
    let e = Rules::from_config(&config(&["2IIIIVPPPPPPC"], &[])).expect_err("V with 6 digits");
    assert_eq!(e.key, "variable_measure[0].template");
    let e = Rules::from_config(&config(
        &[],
        &[(StoreCodeKind::Staff, "S-#"), (StoreCodeKind::Order, "ORDER")],
    ))
    .expect_err("no wildcard");
    assert_eq!(e.key, "store_codes[1].pattern");
    assert!(e.reason.contains("wildcard"), "{e}");
    assert!(Rules::from_config(&BarcodeConfig::default()).is_ok());
}

// ---------------------------------------------------------------- garbage

#[test]
fn garbage_of_any_kind_is_invalid_with_a_class() {
    let ten_thousand_digits = vec![b'8'; 10_000];
    let cases: Vec<(Vec<u8>, ErrorClass, &str)> = vec![
        (b"".to_vec(), ErrorClass::Empty, "empty input"),
        (b"  \r\n".to_vec(), ErrorClass::Empty, "empty input"),
        (ten_thousand_digits, ErrorClass::Length, "input is 10000 bytes long"),
        (
            b"\x1b[31m8001234567897".to_vec(),
            ErrorClass::Characters,
            "control character 0x1B at position 1",
        ),
        (
            b"80012\x0034567897".to_vec(),
            ErrorClass::Characters,
            "control character 0x00 at position 6",
        ),
        (
            b"8001234567897\x7f".to_vec(),
            ErrorClass::Characters,
            "control character 0x7F",
        ),
        (
            vec![0xff, 0xfe, 0x00, 0x80],
            ErrorClass::Characters,
            "byte 0xFF at position 1 is not ASCII",
        ),
        ("80012345€".as_bytes().to_vec(), ErrorClass::Characters, "not ASCII"),
        (
            b"hello".to_vec(),
            ErrorClass::Characters,
            "'h' at position 1 is not a digit",
        ),
        (
            b"  hello".to_vec(),
            ErrorClass::Characters,
            "'h' at position 3 is not a digit",
        ),
        (b"12345678901234567890".to_vec(), ErrorClass::Length, "found 20"),
        (b"https://".to_vec(), ErrorClass::Malformed, "no host"),
    ];
    for (input, class, message) in cases {
        let e = err(&input);
        assert_eq!(e.class(), class, "{:?}: {e}", String::from_utf8_lossy(&input));
        assert!(
            e.to_string().contains(message),
            "{:?}: {e}",
            String::from_utf8_lossy(&input)
        );
    }
}

#[test]
fn surrounding_spaces_and_line_ends_are_ignored() {
    assert_eq!(gtin(&ok(" 8001234567897\r\n")), "08001234567897");
    assert_eq!(gtin(&ok("\t]E08001234567897\n")), "08001234567897");
}

// ---------------------------------------------------------------- report()

fn json_of(input: &[u8], rules: &Rules) -> serde_json::Value {
    report(input, &decode(input, rules))
}

#[test]
fn report_prints_the_fields_staff_and_it_read() {
    let rules = Rules::default();
    assert_eq!(
        json_of(b"]E08001234567897\r\n", &rules),
        serde_json::json!({
            "input": "]E08001234567897\r\n",
            "valid": true,
            "symbology": "]E0",
            "symbology_name": "EAN-13",
            "format": "EAN-13",
            "kind": "product",
            "gtin": "08001234567897",
            "ais": {},
            "error": null,
            "error_class": null,
            "item": null,
            "price_cents": null,
            "weight_g": null,
            "store_id": null,
        })
    );
    assert_eq!(
        json_of(format!("]C101095011015300033103001250{GS}10L1").as_bytes(), &rules),
        serde_json::json!({
            "input": format!("]C101095011015300033103001250{GS}10L1"),
            "valid": true,
            "symbology": "]C1",
            "symbology_name": "GS1-128",
            "format": "GS1 element string",
            "kind": "gs1",
            "gtin": "09501101530003",
            "ais": {"3103": "001250", "10": "L1"},
            "weight_g": 1250,
            "error": null,
            "error_class": null,
            "item": null,
            "price_cents": null,
            "store_id": null,
        })
    );
    assert_eq!(
        json_of(b"2001234012997", &rules),
        serde_json::json!({
            "input": "2001234012997",
            "valid": true,
            "symbology": null,
            "symbology_name": null,
            "format": "EAN-13",
            "kind": "variable_measure",
            "gtin": null,
            "ais": {},
            "item": "001234",
            "price_cents": 1299,
            "weight_g": null,
            "store_id": null,
            "error": null,
            "error_class": null,
        })
    );
    assert_eq!(
        json_of(b"]E08001234567890", &rules),
        serde_json::json!({
            "input": "]E08001234567890",
            "valid": false,
            "error": "EAN-13 check digit is 0, expected 7",
            "error_class": "check_digit",
            "symbology": "]E0",
            "symbology_name": "EAN-13 / UPC-A / UPC-E",
            "format": null,
            "kind": null,
            "gtin": null,
            "ais": null,
            "item": null,
            "price_cents": null,
            "weight_g": null,
            "store_id": null,
        })
    );
    let store = rules_with(&[], &[(StoreCodeKind::Loyalty, "FID#####")]);
    let j = json_of(b"FID00042", &store);
    assert_eq!(
        (j["kind"].as_str(), j["store_id"].as_str()),
        (Some("loyalty"), Some("00042"))
    );
    let j = json_of(b"]E004252614", &rules);
    assert_eq!(
        (j["symbology_name"].as_str(), j["format"].as_str(), j["gtin"].as_str()),
        (Some("UPC-E"), Some("UPC-E"), Some("00042100005264"))
    );
    // An identifier this table does not know is reported as sent, without a name.
    let j = json_of(b"]Z98001234567897", &rules);
    assert_eq!(
        (j["symbology"].as_str(), j.get("symbology_name")),
        (Some("]Z9"), Some(&serde_json::Value::Null))
    );
    // Binary input is shown lossily; the JSON stays valid text with control characters escaped.
    let j = json_of(b"\xff\x1b", &rules);
    assert_eq!(j["valid"], false);
    assert!(serde_json::to_string(&j).expect("serialises").contains("\\u001b"));
}

/// Every key `omnigate barcode` prints, on every line, valid or not.
const REPORT_KEYS: [&str; 14] = [
    "ais",
    "error",
    "error_class",
    "format",
    "gtin",
    "input",
    "item",
    "kind",
    "price_cents",
    "store_id",
    "symbology",
    "symbology_name",
    "valid",
    "weight_g",
];

fn keys_of(j: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = j
        .as_object()
        .expect("report is an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn report_has_the_same_keys_for_every_input_null_when_absent() {
    let store = rules_with(&["2IIIIIIPPPPPC"], &[(StoreCodeKind::Staff, "STAFF####")]);
    let inputs: [&[u8]; 7] = [
        b"8001234567897",
        b"2001234012997",
        b"STAFF0042",
        b"8001234567890",
        b"123456",
        b"",
        b"\xff",
    ];
    for input in inputs {
        let j = json_of(input, &store);
        assert_eq!(keys_of(&j), REPORT_KEYS, "{j}");
    }
    // Invalid: nothing the code would carry is guessed, not even an empty AI table.
    let j = json_of(b"8001234567890", &store);
    for key in [
        "kind",
        "gtin",
        "ais",
        "item",
        "price_cents",
        "weight_g",
        "store_id",
        "format",
        "symbology",
    ] {
        assert_eq!(j[key], serde_json::Value::Null, "{key}: {j}");
    }
    // Valid: no error.
    let j = json_of(b"STAFF0042", &store);
    assert_eq!(
        (&j["error"], &j["error_class"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
}

// ---------------------------------------------------------------- properties

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let result = decode(&input, &Rules::default());
        let j = report(&input, &result);
        prop_assert_eq!(j["valid"].as_bool(), Some(result.is_ok()));
        prop_assert_eq!(keys_of(&j), REPORT_KEYS.to_vec());
    }

    #[test]
    fn barcode_like_text_never_panics(input in "(\\]([A-Za-z][0-9A-Za-z])?)?[0-9()\u{1d}A-Za-z/:?=&%#.-]{0,120}") {
        let rules = rules_with(&["2IIIIIIPPPPPC", "28IIIIVWWWWWC", "02IIIIIVPPPPC"], &[
            (StoreCodeKind::Loyalty, "29##*#"), (StoreCodeKind::Order, "*-*?"),
        ]);
        match decode(input.as_bytes(), &rules) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(scan) => {
                // Whatever was accepted is internally consistent.
                if let Some(g) = &scan.gtin {
                    let d = g.as_bytes();
                    prop_assert_eq!(omnigate::barcode::check_digit(&d[..13]), d[13] - b'0');
                }
                match scan.kind {
                    Kind::VariableMeasure => prop_assert!(scan.item.is_some() && scan.gtin.is_none()),
                    Kind::Loyalty | Kind::Staff | Kind::Order => {
                        prop_assert!(scan.store_id.as_deref().is_some_and(|id| !id.is_empty()))
                    }
                    Kind::Product => prop_assert!(scan.gtin.is_some() && scan.ais.is_empty()),
                    Kind::Gs1 | Kind::DigitalLink => prop_assert!(scan.gtin.is_some() || !scan.ais.is_empty()),
                }
            }
        }
    }

    #[test]
    fn mutated_valid_codes_never_panic(
        which in 0usize..8,
        at in any::<proptest::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<proptest::sample::Index>(),
    ) {
        let corpus = [
            "]E08001234567897".to_string(),
            "2812347012503".to_string(),
            format!("]d20109501101530003172612311015A-B/2{GS}21SER.42"),
            "]C101095011015300033103001250".to_string(),
            "https://e.com/01/09501101530003/10/AB%2D12?17=261231&3922=399".to_string(),
            "(01)09501101530003(17)261231(10)AB12".to_string(),
            "]Q1ORD-2026X7".to_string(),
            "]E3800123456789751299".to_string(),
        ];
        let rules = rules_with(&["28IIIIVWWWWWC", "2IIIIIIPPPPPC"], &[(StoreCodeKind::Order, "ORD-*")]);
        let mut input = corpus[which].clone().into_bytes();
        let i = at.index(input.len());
        input[i] = byte;
        input.truncate(cut.index(input.len() + 1));
        let result = decode(&input, &rules);
        prop_assert_eq!(report(&input, &result)["valid"].as_bool(), Some(result.is_ok()));
    }

    #[test]
    fn any_valid_gtin13_survives_zero_padding(body in "[0-9]{12}") {
        let check = omnigate::barcode::check_digit(body.as_bytes());
        let ean13 = format!("{body}{check}");
        let plain = Rules::from_config(&config(&[], &[])).expect("no rules is valid");
        let g13 = decode(ean13.as_bytes(), &plain).expect("valid EAN-13");
        let g14 = decode(format!("0{ean13}").as_bytes(), &plain).expect("valid GTIN-14");
        prop_assert_eq!(g13.gtin, g14.gtin);
        prop_assert_eq!(g13.gtin.map(|g| g.as_str().to_string()), Some(format!("0{ean13}")));
        if let Some(upca) = ean13.strip_prefix('0') {
            let g12 = decode(upca.as_bytes(), &plain).expect("valid UPC-A");
            prop_assert_eq!(g12.gtin, g13.gtin);
        }
    }
}
