//! A till fails fast on bad config, and the message says which file, which key and what is wrong.

use std::path::{Path, PathBuf};
use std::process::Command;

use omnigate::config::{Config, ConfigError};

const GOOD: &str = r#"
[device]
store_id = "IT-MI-0042"
device_id = "kiosk-1"
language = "it"
state_dir = "/var/lib/omnigate"

[catalog]
cache_capacity_mb = 8

[scanner]
kind = "serial"

[scanner.serial]
path = "/dev/ttyACM0"
baud = 9600

[display]
kind = "simulator"

[display.simulator]
output_dir = "frames"
"#;

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("omnigate.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

fn invalid(text: &str) -> (String, Option<usize>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), text);
    match Config::load(&file) {
        Err(ConfigError::Invalid {
            file: f,
            line,
            key,
            reason,
        }) => {
            assert_eq!(f, file, "error names the file");
            (f.display().to_string(), line, key, reason)
        }
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
}

#[test]
fn good_config_loads_and_resolves_relative_paths_against_its_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), GOOD);
    let cfg = Config::load(&file).expect("good config");
    assert_eq!(
        cfg.display.simulator.expect("simulator").output_dir,
        dir.path().join("frames")
    );
    assert_eq!(
        cfg.scanner.serial.expect("serial").inter_char_timeout_ms,
        50,
        "default applied"
    );
}

#[test]
fn missing_key_names_the_key_and_says_missing() {
    let (_, _, key, reason) = invalid(&GOOD.replace("device_id = \"kiosk-1\"\n", ""));
    assert_eq!(key, "device.device_id");
    assert!(reason.contains("missing field"), "{reason}");
}

#[test]
fn unknown_key_is_rejected_with_its_name_and_line() {
    let (_, line, key, reason) = invalid(&GOOD.replace("baud = 9600", "baud = 9600\nbauds = 9600"));
    assert_eq!(key, "scanner.serial.bauds");
    assert!(reason.contains("unknown field"), "{reason}");
    assert_eq!(
        line,
        Some(GOOD.lines().position(|l| l == "baud = 9600").expect("line") + 2)
    );
}

#[test]
fn wrong_type_names_the_key_and_the_expected_type() {
    let (_, _, key, reason) = invalid(&GOOD.replace("baud = 9600", "baud = \"fast\""));
    assert_eq!(key, "scanner.serial.baud");
    assert!(reason.contains("invalid type") && reason.contains("string"), "{reason}");
}

#[test]
fn unusable_values_are_caught_at_start() {
    let (_, _, key, reason) = invalid(&GOOD.replace("kiosk-1", "kiosk 1/evil"));
    assert_eq!(key, "device.device_id");
    assert!(reason.contains("letters, digits"), "{reason}");
    let (_, _, key, _) = invalid(&GOOD.replace("[scanner.serial]\npath = \"/dev/ttyACM0\"\nbaud = 9600\n", ""));
    assert_eq!(key, "scanner.serial", "the section the scanner kind needs");
    let (_, _, key, reason) = invalid(&GOOD.replace("cache_capacity_mb = 8", "cache_capacity_mb = 0"));
    assert_eq!(key, "catalog.cache_capacity_mb");
    assert!(reason.contains("between"), "{reason}");
}

#[test]
fn a_bad_variable_measure_template_names_its_index() {
    let text = format!(
        "{GOOD}\n[barcode]\nvariable_measure = [{{ template = \"2IIIIIIPPPPPC\" }}, {{ template = \"2XX\" }}]\n"
    );
    let (_, _, key, _) = invalid(&text);
    assert!(key.starts_with("barcode.variable_measure[1]"), "{key}");
}

#[test]
fn check_config_command_prints_file_key_and_reason_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), &GOOD.replace("baud = 9600", "baud = \"fast\""));
    let out = Command::new(env!("CARGO_BIN_EXE_omnigate"))
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&file.display().to_string()) && err.contains("scanner.serial.baud"),
        "{err}"
    );
}

#[test]
fn shipped_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config");
    for name in ["omnigate.toml", "dev.toml", "dev-checkout.toml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_omnigate"))
            .arg("check-config")
            .arg(root.join(name))
            .output()
            .expect("run");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// A self-checkout station's sections on top of [`GOOD`].
fn checkout(extra: &str) -> String {
    format!(
        r#"{GOOD}
[checkout]
e_receipt_url = "https://shop.example.it/ricevute/{{receipt}}"
{extra}

[payment]
kind = "simulated"

[receipt]
store_name = "Supermercato Demo"
address_lines = ["Via Roma 1, Milano"]
vat_number = "IT01234567890"
footer_lines = []
"#
    )
}

#[test]
fn a_checkout_station_loads_with_its_payment_receipt_and_staff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hash = omnigate::checkout::station::pin_hash("S01", "2468");
    let text = checkout(&format!(
        "staff = [{{ id = \"S01\", name = \"Giulia\", pin_sha256 = \"{hash}\" }}]"
    ));
    let cfg = Config::load(&write(dir.path(), &text)).expect("a checkout config loads");
    let c = cfg.checkout.expect("checkout");
    assert_eq!(c.staff.len(), 1);
    assert_eq!(
        c.e_receipt_url_for("0042-till-000007"),
        "https://shop.example.it/ricevute/0042-till-000007"
    );
    assert_eq!(
        cfg.printer.kind,
        omnigate::printer::PrinterKind::None,
        "no [printer]: e-receipt only"
    );
}

#[test]
fn a_checkout_station_without_a_terminal_or_with_bad_values_says_which_key() {
    // Never a silent default for the device that takes the money.
    let without_payment = checkout("").replace("[payment]\nkind = \"simulated\"\n", "");
    assert_eq!(invalid(&without_payment).2, "payment");
    let without_receipt = checkout("").split("[receipt]").next().unwrap_or_default().to_string();
    assert_eq!(invalid(&without_receipt).2, "receipt");
    let http = checkout("").replace("https://shop", "http://shop");
    assert_eq!(invalid(&http).2, "checkout.e_receipt_url");
    assert_eq!(
        invalid(&checkout("payment_timeout_s = 1")).2,
        "checkout.payment_timeout_s"
    );
    let (_, _, key, reason) = invalid(&checkout(
        "staff = [{ id = \"S01\", name = \"Giulia\", pin_sha256 = \"1234\" }]",
    ));
    assert_eq!(key, "checkout.staff[0].pin_sha256");
    assert!(reason.contains("pin-hash"), "{reason}");
}

#[test]
fn staff_pin_hash_reads_the_pin_from_stdin_and_prints_what_the_config_needs() {
    use std::io::Write as _;
    let hash_of = |pin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_omnigate"))
            .args(["staff", "pin-hash", "S01"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run omnigate");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{pin}").expect("write the PIN");
        drop(stdin);
        child.wait_with_output().expect("output")
    };
    let out = hash_of("2468");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        omnigate::checkout::station::pin_hash("S01", "2468"),
        "the station accepts PIN 2468 for badge S01 with this hash"
    );
    let short = hash_of("12");
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stdout).contains("4 to 8 digits"));
}

#[test]
fn a_keypad_on_the_scanners_own_device_is_refused() {
    let hid = GOOD.replace(
        "kind = \"serial\"\n\n[scanner.serial]\npath = \"/dev/ttyACM0\"\nbaud = 9600",
        "kind = \"hid\"\n\n[scanner.hid]\ndevice = \"/dev/input/omnigate-scanner\"",
    );
    assert_ne!(hid, GOOD, "the fixture changed: the scanner section was not found");
    let text = format!("{hid}\n[buttons]\nkeypad = \"/dev/input/omnigate-scanner\"\n");
    let (_, _, key, reason) = invalid(&text);
    assert_eq!(key, "buttons.keypad");
    assert!(reason.contains("scanner"), "{reason}");
}
