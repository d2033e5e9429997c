//! Good-read feedback: the LED and buzzer patterns a shopper hears and sees after a scan. Owns the timing of
//! each pattern; drives GPIO lines through [`crate::gpio`] or just logs them (simulated).
//!
//! CONTRACT: [`Signal`], [`Feedback`], [`Feedback::spawn`], [`Feedback::signal`].

use tokio_util::sync::CancellationToken;

use crate::config::FeedbackConfig;

/// What happened, as the shopper should hear it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Product found: one short beep, LED flash.
    GoodRead,
    /// Valid code, not in the catalog.
    NotFound,
    /// Unreadable code.
    Invalid,
}

/// Feedback errors.
#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    /// A GPIO line could not be opened.
    #[error("feedback: {0}")]
    Gpio(String),
}

/// Handle to the feedback task.
#[derive(Clone)]
pub struct Feedback {}

impl Feedback {
    /// Opens the configured outputs and starts the pattern player.
    pub fn spawn(cfg: &FeedbackConfig, cancel: CancellationToken) -> Result<Feedback, FeedbackError> {
        let _ = (cfg, cancel);
        Ok(Feedback {})
    }

    /// Plays `s` (never blocks; a new signal replaces one still playing).
    pub fn signal(&self, s: Signal) {
        let _ = s;
    }
}
