//! The command line: what staff, IT and systemd type. Owns argument parsing and the output of the one-shot
//! tools (`barcode`, `catalog`, `check-config`); `main.rs` only dispatches. Business rules stay in the
//! modules these commands call.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::barcode::{self, Rules};
use crate::catalog::CatalogStore;
use crate::config::{BarcodeConfig, Config};
use crate::storage::{ImportProgress, Storage};

/// omnigate: in-store kiosk and self-checkout daemon.
#[derive(Debug, Parser)]
#[command(name = "omnigate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the kiosk daemon (foreground; systemd's Type=notify).
    Run {
        /// Configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file and exit (0 = usable).
    CheckConfig {
        /// Configuration file.
        file: PathBuf,
    },
    /// Decode barcodes: one argument → one JSON object (exit 0 valid, 2 invalid); none → one per stdin line.
    Barcode {
        /// The code as the scanner sends it (GS separators as the byte 0x1D).
        input: Option<String>,
        /// Use this configuration's store rules (variable-measure templates, store codes).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Catalog maintenance.
    Catalog {
        /// Configuration file (where the catalog lives).
        #[arg(long, short, global = true, default_value = "/etc/omnigate/omnigate.toml")]
        config: PathBuf,
        /// What to do.
        #[command(subcommand)]
        action: CatalogAction,
    },
    /// Measure the speed targets and print a table (see README, Performance).
    Bench {
        /// Which measurement (all when omitted).
        #[arg(value_enum)]
        which: Option<crate::bench::Which>,
        /// Catalog size for lookup, import and start-up measurements.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
        products: u64,
    },
}

/// `omnigate catalog …`
#[derive(Debug, Subcommand)]
pub enum CatalogAction {
    /// Import a JSON Lines file, all or nothing.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Show the product for a barcode, as JSON.
    Lookup {
        /// Barcode.
        code: String,
    },
    /// Search products by name words (accents and case ignored).
    Search {
        /// Words.
        words: Vec<String>,
    },
    /// Version and product count.
    Status,
}

/// Errors of the one-shot commands.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The catalog could not be opened or read.
    #[error("{0}")]
    Catalog(String),
    /// stdout/stdin failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// `omnigate check-config FILE`
pub fn check_config(file: &Path) -> Result<ExitCode, CliError> {
    let cfg = Config::load(file)?;
    println!(
        "{}: ok (store {}, device {}, scanner {:?}, display {:?})",
        file.display(),
        cfg.device.store_id,
        cfg.device.device_id,
        cfg.scanner.kind,
        cfg.display.kind
    );
    Ok(ExitCode::SUCCESS)
}

/// `omnigate barcode [INPUT]`
pub fn barcode(input: Option<&str>, config: Option<&Path>) -> Result<ExitCode, CliError> {
    let rules_cfg = match config {
        Some(f) => Config::load(f)?.barcode,
        None => BarcodeConfig::default(),
    };
    let rules = Rules::from_config(&rules_cfg).map_err(|e| CliError::Catalog(format!("barcode rules: {e}")))?;
    let mut out = std::io::stdout().lock();
    if let Some(input) = input {
        let r = barcode::decode(input.as_bytes(), &rules);
        writeln!(out, "{}", barcode::report(input.as_bytes(), &r))?;
        return Ok(if r.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        });
    }
    // Lines as bytes: binary garbage on stdin must be reported, not abort the loop on invalid UTF-8; and capped,
    // so one endless line cannot exhaust memory (decode rejects anything that long anyway).
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    while read_line_capped(&mut stdin, &mut line, MAX_TOOL_LINE)? {
        let code = line.strip_suffix(b"\r").unwrap_or(&line);
        let r = barcode::decode(code, &rules);
        writeln!(out, "{}", barcode::report(code, &r))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Longest line the barcode tool keeps; the rest of a longer line is skipped (the kept part is then invalid).
const MAX_TOOL_LINE: usize = 64 * 1024;

/// Reads one line (without its `\n`) keeping at most `cap` bytes of it. `false` at end of input.
fn read_line_capped(r: &mut impl BufRead, line: &mut Vec<u8>, cap: usize) -> std::io::Result<bool> {
    line.clear();
    let mut any = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(any);
        }
        any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            return Ok(true);
        }
    }
}

/// `omnigate catalog …`
pub fn catalog(config: &Path, action: &CatalogAction) -> Result<ExitCode, CliError> {
    let cfg = Config::load(config)?;
    // Never moves a database aside (the daemon alone decides that): a catalog locked by a starting daemon, say,
    // is reported and left as it is.
    let dir = cfg.device.state_dir.join("catalog");
    let storage = Storage::open(&dir, cfg.catalog.cache_capacity_mb * 1024 * 1024)
        .map_err(|e| CliError::Catalog(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    match action {
        CatalogAction::Import { file } => {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg:>9} [{bar:40}] {pos}/{len}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let result = storage.import_file(file, &|p: ImportProgress| {
                bar.set_message(p.phase.to_string());
                bar.set_length(p.total);
                bar.set_position(p.done);
            });
            bar.finish_and_clear();
            let summary = result.map_err(|e| CliError::Catalog(format!("{}: {e}", file.display())))?;
            for (line, reason) in &summary.rejected {
                writeln!(out, "{}:{line}: rejected: {reason}", file.display())?;
            }
            if summary.rejected.is_empty() {
                writeln!(
                    out,
                    "imported {}, updated {}, rejected 0; catalog version {}",
                    summary.imported, summary.updated, summary.version
                )?;
                Ok(ExitCode::SUCCESS)
            } else {
                writeln!(
                    out,
                    "rejected {} line(s): nothing imported (an import is all or nothing); catalog version {}",
                    summary.rejected.len(),
                    summary.version
                )?;
                Ok(ExitCode::from(2))
            }
        }
        CatalogAction::Lookup { code } => {
            let rules = Rules::from_config(&cfg.barcode).map_err(|e| CliError::Catalog(e.to_string()))?;
            let scan = match barcode::decode(code.as_bytes(), &rules) {
                Ok(s) => s,
                Err(e) => {
                    writeln!(out, "{code}: not a valid barcode: {e}")?;
                    return Ok(ExitCode::from(2));
                }
            };
            let found = crate::kiosk::lookup(&scan, &storage).map_err(|e| CliError::Catalog(e.to_string()))?;
            match found {
                Some(p) => {
                    let json = serde_json::to_string_pretty(&p).map_err(|e| CliError::Catalog(e.to_string()))?;
                    writeln!(out, "{json}")?;
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    writeln!(out, "{code}: not in the catalog")?;
                    Ok(ExitCode::from(1))
                }
            }
        }
        CatalogAction::Search { words } => {
            let found = storage
                .search(&words.join(" "), 50)
                .map_err(|e| CliError::Catalog(e.to_string()))?;
            for p in &found {
                let gtin = p
                    .gtins
                    .first()
                    .map(|g| g.display_form().to_string())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<14} {:<12} {} ({}) {}",
                    gtin,
                    p.sku,
                    p.name,
                    p.brand,
                    crate::money::format_eur(p.price_cents)
                )?;
            }
            Ok(if found.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        CatalogAction::Status => {
            let v = storage.version().map_err(|e| CliError::Catalog(e.to_string()))?;
            let n = storage.len().map_err(|e| CliError::Catalog(e.to_string()))?;
            writeln!(out, "catalog version {v}, {n} products")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_lines_are_split_and_an_endless_line_is_capped() {
        let mut input: &[u8] = b"8001234567897\n\n12345678901234567890\nlast";
        let mut line = Vec::new();
        let mut got = Vec::new();
        while read_line_capped(&mut input, &mut line, 8).expect("read") {
            got.push(String::from_utf8_lossy(&line).into_owned());
        }
        assert_eq!(got, ["80012345", "", "12345678", "last"]);
    }
}
