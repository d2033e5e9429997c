//! The self-checkout: what happens between the first scan and the receipt.
//!
//! Owns the sale's business state as pure, sans-IO state machines: the basket ([`basket`]), the station around
//! it (staff mode, help, reprints: [`station`]), and the receipt's content and ESC/POS bytes ([`receipt`]).
//! Must never do I/O, read a clock or draw: the daemon feeds it resolved scans, button presses, staff actions,
//! payment outcomes and elapsed time, and carries out the effects it returns (persist, pay, query, record,
//! print, show).

pub mod basket;
pub mod receipt;
pub mod station;
pub mod view;
