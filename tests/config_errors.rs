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
    for name in ["omnigate.toml", "dev.toml"] {
        let out = Command::new(env!("CARGO_BIN_EXE_omnigate"))
            .arg("check-config")
            .arg(root.join(name))
            .output()
            .expect("run");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
