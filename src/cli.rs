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
    /// The queue of events waiting for central (works while the daemon runs).
    Queue {
        /// Configuration file (where the outbox lives).
        #[arg(long, short, global = true, default_value = "/etc/omnigate/omnigate.toml")]
        config: PathBuf,
        /// What to show.
        #[command(subcommand)]
        action: QueueAction,
    },
    /// Central's tools: signing key, catalog publishing, a live view of the fleet.
    Central {
        /// What to do.
        #[command(subcommand)]
        action: crate::central::cli::CentralAction,
    },
    /// Check this device's link to central step by step (config, clock, DNS, TCP, TLS, MQTT, ACL) and say
    /// what to do; safe while the daemon runs. Exit 0 when nothing failed.
    Doctor {
        /// Configuration file.
        #[arg(long, short, default_value = "/etc/omnigate/omnigate.toml")]
        config: PathBuf,
    },
    /// Staff tools for the self-checkout.
    Staff {
        /// What to do.
        #[command(subcommand)]
        action: StaffAction,
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

/// `omnigate staff …`
#[derive(Debug, Subcommand)]
pub enum StaffAction {
    /// Print the `pin_sha256` for a `[[checkout.staff]]` entry. The PIN is read from standard input (one line),
    /// never from the command line, so it stays out of shell history and process lists.
    PinHash {
        /// The staff id, as the badge carries it.
        id: String,
    },
}

/// `omnigate staff …`: reads what it needs from `input`, prints to `out`.
pub fn staff(action: &StaffAction, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    match action {
        StaffAction::PinHash { id } => {
            let mut line = String::new();
            input.read_line(&mut line)?;
            let pin = line.trim();
            if !(4..=crate::checkout::station::MAX_PIN_DIGITS).contains(&pin.len())
                || !pin.bytes().all(|b| b.is_ascii_digit())
            {
                writeln!(
                    out,
                    "a PIN is 4 to {} digits (typed on the station's keypad)",
                    crate::checkout::station::MAX_PIN_DIGITS
                )?;
                return Ok(ExitCode::from(2));
            }
            writeln!(out, "{}", crate::checkout::station::pin_hash(id, pin))?;
            Ok(ExitCode::SUCCESS)
        }
    }
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
    /// Internal: the daemon's apply process for one verified update from central (see `src/sync.rs`).
    #[command(hide = true)]
    ApplyCentral {
        /// The catalog directory.
        #[arg(long)]
        catalog_dir: PathBuf,
        /// Store id the update must be for.
        #[arg(long)]
        store: String,
        /// delta, snapshot or resync.
        #[arg(long)]
        kind: String,
        /// The update: a delta body or a snapshot blob.
        #[arg(long)]
        input: PathBuf,
        /// Snapshot version.
        #[arg(long, default_value_t = 0)]
        version: u64,
        /// Snapshot product count.
        #[arg(long, default_value_t = 0)]
        products: u64,
    },
}

/// `omnigate queue …`
#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// Depth, oldest pending event and its age, bytes against the budget, last acknowledged event.
    Status {
        /// Print the daemon's status document as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Pending events, oldest first, one line each.
    List {
        /// Start at this sequence number.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Every pending event as JSON Lines (for support), to stdout or a file.
    Export {
        /// Write here instead of stdout (fsynced when done).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
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
    /// The outbox could not be read.
    #[error("{0}")]
    Queue(String),
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
    if let CatalogAction::ApplyCentral {
        catalog_dir,
        store,
        kind,
        input,
        version,
        products,
    } = action
    {
        let kind = crate::sync::ChildUpdate::parse(kind)
            .ok_or_else(|| CliError::Catalog(format!("--kind {kind}: expected delta, snapshot or resync")))?;
        let outcome = crate::sync::apply_central_main(catalog_dir, store, kind, input, *version, *products)
            .map_err(|e| CliError::Catalog(e.to_string()))?;
        let line = serde_json::to_string(&outcome).map_err(|e| CliError::Catalog(e.to_string()))?;
        println!("{line}");
        return Ok(ExitCode::SUCCESS);
    }
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
        CatalogAction::ApplyCentral { .. } => Ok(ExitCode::SUCCESS), // handled above, before any config
        CatalogAction::Status => {
            let v = storage.version().map_err(|e| CliError::Catalog(e.to_string()))?;
            let n = storage.len().map_err(|e| CliError::Catalog(e.to_string()))?;
            let central = storage
                .central_version()
                .map_err(|e| CliError::Catalog(e.to_string()))?;
            writeln!(out, "catalog version {v}, {n} products, central version {central}")?;
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

/// `omnigate queue …`: asks the running daemon over its control socket; with no daemon running, opens the
/// outbox directly (read-only use: nothing is changed).
pub fn queue(config: &Path, action: &QueueAction) -> Result<ExitCode, CliError> {
    let cfg = Config::load(config)?;
    let state_dir = &cfg.device.state_dir;
    let mut out = std::io::stdout().lock();
    match action {
        QueueAction::Status { json } => {
            let live = crate::control::request(state_dir, &crate::control::Request::Status)?;
            match live {
                Some(mut reader) => {
                    let mut line = String::new();
                    reader.read_line(&mut line)?;
                    if *json {
                        writeln!(out, "{}", line.trim_end())?;
                    } else {
                        let doc: serde_json::Value = serde_json::from_str(&line)
                            .map_err(|e| CliError::Queue(format!("the daemon's status is not JSON: {e}")))?;
                        write_queue_status(&mut out, &doc, cfg.outbox.budget_mb * 1024 * 1024)?;
                    }
                }
                None => {
                    let store = open_outbox_offline(&cfg)?;
                    let s = store.status().map_err(|e| CliError::Queue(e.to_string()))?;
                    let oldest_at = s
                        .oldest
                        .and_then(|seq| store.pending(seq, 1).ok())
                        .and_then(|e| e.first().and_then(|e| e.recorded_at_ms));
                    let doc = serde_json::json!({
                        "outbox": {
                            "depth": s.depth,
                            "oldest_seq": s.oldest,
                            "oldest_age_s": crate::status::age_s(oldest_at, crate::clock::synced_unix_ms()),
                            "bytes": s.bytes,
                            "budget_bytes": cfg.outbox.budget_mb * 1024 * 1024,
                            "last_acked_seq": null,
                        },
                        "daemon": "not running",
                    });
                    if *json {
                        writeln!(out, "{doc}")?;
                    } else {
                        write_queue_status(&mut out, &doc, cfg.outbox.budget_mb * 1024 * 1024)?;
                    }
                }
            }
        }
        QueueAction::List { from, limit } => {
            writeln!(
                out,
                "{:>10}  {:<28} {:<20} {:<9} {:>7}  recorded (UTC)",
                "seq", "id", "kind", "class", "bytes"
            )?;
            for_each_pending(&cfg, *from, *limit, &mut |line| {
                let e: serde_json::Value = serde_json::from_slice(line)
                    .map_err(|e| CliError::Queue(format!("stored event is not JSON: {e}")))?;
                let recorded = e["recorded_at_ms"]
                    .as_u64()
                    .map(format_utc)
                    .unwrap_or_else(|| "clock not set".into());
                writeln!(
                    out,
                    "{:>10}  {:<28} {:<20} {:<9} {:>7}  {recorded}",
                    e["seq"],
                    e["id"].as_str().unwrap_or("?"),
                    e["kind"].as_str().unwrap_or("?"),
                    e["class"].as_str().unwrap_or("?"),
                    line.len()
                )?;
                Ok(())
            })?;
        }
        QueueAction::Export { output } => {
            let mut count = 0u64;
            match output {
                None => for_each_pending(&cfg, 0, u64::MAX, &mut |line| {
                    out.write_all(line)?;
                    out.write_all(b"\n")?;
                    count += 1;
                    Ok(())
                })?,
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .map_err(|e| CliError::Queue(format!("{}: cannot create: {e}", path.display())))?;
                    let mut w = std::io::BufWriter::new(file);
                    for_each_pending(&cfg, 0, u64::MAX, &mut |line| {
                        w.write_all(line)?;
                        w.write_all(b"\n")?;
                        count += 1;
                        Ok(())
                    })?;
                    let file = w.into_inner().map_err(|e| CliError::Io(e.into_error()))?;
                    file.sync_all()?;
                }
            }
            eprintln!("{count} event(s) exported");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Calls `each` with every pending event's stored JSON, from the daemon when it runs, else from disk.
fn for_each_pending(
    cfg: &Config,
    from: u64,
    limit: u64,
    each: &mut dyn FnMut(&[u8]) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let request = crate::control::Request::List { from, limit };
    if let Some(reader) = crate::control::request(&cfg.device.state_dir, &request)? {
        for line in reader.split(b'\n') {
            let line = line?;
            if line.starts_with(b"{\"error\"") {
                return Err(CliError::Queue(String::from_utf8_lossy(&line).into_owned()));
            }
            each(&line)?;
        }
        return Ok(());
    }
    let store = open_outbox_offline(cfg)?;
    let (mut next, mut left) = (from, limit);
    while left > 0 {
        let batch = store
            .pending_encoded(next, 256)
            .map_err(|e| CliError::Queue(e.to_string()))?;
        let Some(&(last, _)) = batch.last() else { break };
        for (_, bytes) in batch.iter().take(usize::try_from(left).unwrap_or(usize::MAX)) {
            each(bytes)?;
            left -= 1;
        }
        next = last + 1;
    }
    Ok(())
}

fn open_outbox_offline(cfg: &Config) -> Result<crate::storage::outbox_store::OutboxStore, CliError> {
    let dir = cfg.device.state_dir.join("outbox");
    if !dir.exists() {
        return Err(CliError::Queue(format!(
            "{}: no outbox here (the daemon has never run with this configuration)",
            dir.display()
        )));
    }
    crate::daemon::open_outbox(cfg).map_err(|e| CliError::Queue(e.to_string()))
}

fn write_queue_status(out: &mut dyn Write, doc: &serde_json::Value, budget: u64) -> std::io::Result<()> {
    let q = &doc["outbox"];
    let depth = q["depth"].as_u64().unwrap_or(0);
    let bytes = q["bytes"].as_u64().unwrap_or(0);
    writeln!(out, "events waiting for central: {depth}")?;
    match q["oldest_seq"].as_u64() {
        Some(seq) => {
            let age = q["oldest_age_s"]
                .as_u64()
                .map(crate::status::human_age)
                .unwrap_or_else(|| "unknown (clock not synchronised when it was recorded, or now)".into());
            writeln!(out, "oldest pending: seq {seq}, waiting {age}")?;
        }
        None => writeln!(out, "oldest pending: none")?,
    }
    writeln!(
        out,
        "disk: {} of {} budget ({:.1}%)",
        crate::status::human_bytes(bytes),
        crate::status::human_bytes(budget),
        bytes as f64 * 100.0 / budget.max(1) as f64
    )?;
    match q["last_acked_seq"].as_u64() {
        Some(seq) => writeln!(out, "last acknowledged by central: seq {seq}")?,
        None => writeln!(out, "last acknowledged by central: none since the daemon started")?,
    }
    if let Some(d) = q["dropped_telemetry"].as_u64().filter(|d| *d > 0) {
        writeln!(out, "telemetry dropped for lack of room: {d}")?;
    }
    if q["sales_blocked"].as_bool() == Some(true) {
        writeln!(out, "SALES BLOCKED: the queue is full; restore the link to central")?;
    }
    match doc["daemon"].as_str() {
        Some(d) => writeln!(out, "daemon: {d}"),
        None => writeln!(out, "daemon: running (status #{})", doc["status_seq"]),
    }
}

/// `YYYY-MM-DD hh:mm:ss` from Unix milliseconds (civil-from-days, no time-zone database needed).
fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod queue_format_tests {
    use super::*;

    #[test]
    fn event_times_and_ages_read_the_way_support_staff_expect() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_796_212_800_000), "2026-12-02 12:00:00");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(crate::status::human_age(59), "59 s");
        assert_eq!(crate::status::human_age(3 * 3600), "3 h");
        assert_eq!(crate::status::human_age(5 * 86_400), "5 days");
        assert_eq!(crate::status::human_bytes(12_345_678), "12.3 MB");
    }
}
