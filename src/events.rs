//! Recording events for central: the daemon's one entry to the outbox. Owns the disk budget check (money and
//! business events are refused, never dropped, when it is full; telemetry is dropped and counted), the
//! durable append, and waking the uplink so the event leaves at once when central is reachable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::outbox::{admit, Admission, Event, EventClass, OutboxFull};
use crate::storage::outbox_store::{NewEvent, OutboxStore, OutboxStoreError};

/// An event that was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No room for a money or business event: the kiosk stops taking sales until central catches up.
    #[error(transparent)]
    Full(#[from] OutboxFull),
    /// The outbox database failed; the outcome of this event is unknown.
    #[error(transparent)]
    Store(#[from] OutboxStoreError),
}

/// What happened to an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// On disk (fsynced), on its way to central.
    Stored(Event),
    /// Telemetry over its share of the budget: not stored, counted in [`EventSink::dropped_telemetry`].
    DroppedTelemetry,
}

/// A money event of this size must still fit for the kiosk to take a sale: room for a large basket.
pub const SALE_RESERVE_BYTES: u64 = 64 * 1024;

/// The daemon's event recorder. Cheap to share (`Arc`); `record` blocks on the disk (call it off the async
/// workers).
#[derive(Debug)]
pub struct EventSink {
    store: Arc<OutboxStore>,
    budget: u64,
    dropped: AtomicU64,
    appended: Arc<Notify>,
}

impl EventSink {
    /// Records into `store` within `budget` bytes, waking `appended` after each append.
    pub fn new(store: Arc<OutboxStore>, budget: u64, appended: Arc<Notify>) -> EventSink {
        EventSink {
            store,
            budget,
            dropped: AtomicU64::new(0),
            appended,
        }
    }

    /// Checks the budget, appends durably, wakes the uplink. Blocks until the event is fsynced.
    pub fn record(&self, kind: &str, class: EventClass, payload: serde_json::Value) -> Result<Recorded, RecordError> {
        // The payload's size plus the envelope (seq, id, kind, class, time) is what the budget counts.
        let size = serde_json::to_vec(&payload).map(|v| v.len() as u64).unwrap_or(0) + 160;
        if admit(class, size, self.store.bytes(), self.budget)? == Admission::DropTelemetry {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(Recorded::DroppedTelemetry);
        }
        let event = self
            .store
            .append_at(kind, class, payload, crate::clock::synced_unix_ms())?;
        self.appended.notify_one();
        Ok(Recorded::Stored(event))
    }

    /// Records `events` (possibly none) and replaces the state `key` with `state`, in one durable step (one
    /// outbox frame: after a crash both or neither), then wakes the uplink. Blocks until fsynced.
    ///
    /// No budget check: this is the self-checkout's basket, whose sale must be recorded once the shopper has
    /// paid. The budget is enforced before a basket opens ([`EventSink::sales_blocked`] keeps
    /// [`SALE_RESERVE_BYTES`] free for it).
    pub fn commit_with_state(
        &self,
        events: Vec<NewEvent>,
        key: &str,
        state: Vec<u8>,
    ) -> Result<Vec<Event>, OutboxStoreError> {
        let had_events = !events.is_empty();
        let stored = self.store.append_with_state(events, Some((key, state)))?;
        if had_events {
            self.appended.notify_one();
        }
        Ok(stored)
    }

    /// Whether a sale could be recorded now; when not, the kiosk says why and takes none.
    pub fn sales_blocked(&self) -> Option<OutboxFull> {
        admit(EventClass::Money, SALE_RESERVE_BYTES, self.store.bytes(), self.budget).err()
    }

    /// Telemetry events dropped for lack of room since start.
    pub fn dropped_telemetry(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The disk budget in bytes.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// The outbox.
    pub fn store(&self) -> &Arc<OutboxStore> {
        &self.store
    }
}
