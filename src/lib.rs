//! omnigate: the in-store edge daemon behind the self-checkout station and the product-information kiosk.
//!
//! The library holds everything; `main.rs` only parses the command line and calls in here.
//! Layout follows "pure core, thin edges":
//! - pure domain, no I/O: [`barcode`], [`money`], [`catalog`] (types, import parsing, search folding),
//!   [`pricing`] (what a basket costs), [`checkout`] (the self-checkout basket state machine),
//!   [`kiosk`] (what the screen shows for a scan), [`ui`] (drawing onto any `DrawTarget`);
//! - edges behind small traits: [`storage`] (the only module that names sled), [`scanner`], [`display`],
//!   [`feedback`], [`gpio`];
//! - wiring: [`config`] (load and validate once) and [`daemon`] (tasks, shutdown, systemd notifications).
#![deny(missing_docs)]

pub mod barcode;
pub mod bench;
pub mod bench_checkout;
pub mod bench_sync;
pub mod buttons;
pub mod catalog;
pub mod central;
pub mod checkout;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod display;
pub mod doctor;
pub mod durable;
pub mod events;
pub mod feedback;
pub mod gpio;
pub mod keypad;
pub mod kiosk;
pub mod money;
pub mod mqtt;
pub mod outbox;
pub mod payment;
pub mod pricing;
pub mod printer;
pub mod scanner;
pub mod snapshot;
pub mod status;
pub mod status_led;
pub mod storage;
pub mod sync;
#[cfg(test)]
mod test_logs;
pub mod till;
pub mod ui;
