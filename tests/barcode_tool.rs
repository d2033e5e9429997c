//! `omnigate barcode` as staff and IT use it: one JSON object per input, exit 0 valid / 2 invalid.

use std::io::Write;
use std::process::{Command, Stdio};

fn tool(args: &[&str], stdin: &[u8]) -> (i32, Vec<serde_json::Value>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_omnigate"))
        .arg("barcode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write");
    let out = child.wait_with_output().expect("wait");
    let objects = String::from_utf8(out.stdout)
        .expect("stdout is UTF-8 JSON")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    (out.status.code().expect("exit code"), objects)
}

#[test]
fn one_valid_argument_prints_its_gtin_and_exits_0() {
    let (code, objs) = tool(&["8001234567897"], b"");
    assert_eq!(code, 0);
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["valid"], true);
    assert_eq!(objs[0]["kind"], "product");
    assert_eq!(objs[0]["gtin"], "08001234567897");
}

#[test]
fn one_invalid_argument_says_why_and_exits_2() {
    let (code, objs) = tool(&["8001234567890"], b"");
    assert_eq!(code, 2);
    assert_eq!(objs[0]["valid"], false);
    assert!(
        objs[0]["error"].as_str().expect("error text").contains("check digit"),
        "{}",
        objs[0]
    );
}

#[test]
fn stdin_mode_reports_every_line_including_garbage_and_exits_0() {
    let mut input = b"8001234567897\n\x1b[31m\x00\xff\xfe\n".to_vec();
    input.extend(std::iter::repeat_n(b'7', 10_000));
    input.extend(b"\n2012345001992\n\n");
    let (code, objs) = tool(&[], &input);
    assert_eq!(code, 0);
    assert_eq!(objs.len(), 5, "one object per line: {objs:?}");
    assert_eq!(objs[0]["valid"], true);
    assert_eq!(objs[1]["valid"], false, "escape sequences and binary");
    assert_eq!(objs[2]["valid"], false, "10,000 digits");
    assert_eq!(objs[3]["kind"], "variable_measure");
    assert_eq!(objs[3]["item"], "012345");
    assert_eq!(objs[3]["price_cents"], 199);
    assert_eq!(objs[4]["valid"], false, "an empty line is not a code");
}

/// The fixed fields of the issue: on every line, `null` when absent, so `jq .gtin` never meets a missing key.
const FIXED_KEYS: [&str; 10] = [
    "input",
    "valid",
    "error",
    "symbology",
    "kind",
    "gtin",
    "ais",
    "item",
    "price_cents",
    "weight_g",
];

#[test]
fn valid_and_invalid_lines_carry_every_fixed_field() {
    let (_, objs) = tool(&[], b"8001234567897\n8001234567890\n123456\n");
    assert_eq!(objs.len(), 3, "{objs:?}");
    for (obj, valid) in objs.iter().zip([true, false, false]) {
        assert_eq!(obj["valid"], valid, "{obj}");
        let fields = obj.as_object().expect("a JSON object");
        let missing: Vec<&str> = FIXED_KEYS.into_iter().filter(|k| !fields.contains_key(*k)).collect();
        assert!(missing.is_empty(), "missing {missing:?} in {obj}");
        assert!(fields.contains_key("store_id"), "{obj}");
    }
    assert_eq!(objs[0]["error"], serde_json::Value::Null);
    assert_eq!(objs[0]["item"], serde_json::Value::Null);
    assert_eq!(
        (&objs[1]["kind"], &objs[1]["gtin"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    assert_eq!(objs[1]["ais"], serde_json::Value::Null);
}

#[test]
fn six_digits_typed_without_an_identifier_are_not_a_product() {
    let (code, objs) = tool(&["123456"], b"");
    assert_eq!(code, 2, "{objs:?}");
    assert_eq!(objs[0]["valid"], false);
    assert_eq!(objs[0]["error_class"], "length");
    assert!(
        objs[0]["error"].as_str().expect("error text").contains("]E0"),
        "{}",
        objs[0]
    );
}

#[test]
fn store_rules_come_from_the_config_when_given() {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/firmware-config/dev.toml");
    let (code, objs) = tool(&["--config", cfg, "STAFF0042"], b"");
    assert_eq!(code, 0, "{objs:?}");
    assert_eq!(objs[0]["kind"], "staff");
    assert_eq!(objs[0]["store_id"], "0042");
}
