//! The outbox: every business event on its way to central, as a sans-IO state machine.
//!
//! Owns the rules, never the bytes on disk nor the network: which event goes out next (lowest sequence first),
//! how many may be in flight at once, what becomes pending again after a (re)connect, what a PUBACK lets the
//! caller delete, and the disk budget (what is admitted, what is dropped, when the kiosk must stop selling).
//! The durable side is [`crate::storage::outbox_store`]; the MQTT side is the uplink.
//!
//! Events are ordered only by their persisted per-device sequence number, never by wall-clock time: the Pi has
//! no real-time clock, and its time can jump at any boot.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// What an event is worth, which decides what happens when the disk budget is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventClass {
    /// Sale, return, payment, refund: never dropped. When there is no room, the kiosk stops taking sales.
    Money,
    /// Pickup, loyalty, staff action, catalog applied/rejected: never dropped either.
    Business,
    /// Measurements: dropped (and counted) when the budget is tight, so they can never stop a sale.
    Telemetry,
}

/// One event as stored and as sent to central.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Per-device sequence number: starts at 1, never repeats, never goes back, also across restarts.
    pub seq: u64,
    /// Globally unique id, `"{device_id}-{seq}"` (see [`event_id`]); central deduplicates by it.
    pub id: String,
    /// What happened (`"sale.completed"`, `"catalog.applied"`…: dotted names, docs/protocol.md).
    pub kind: String,
    /// Its class (see [`EventClass`]).
    pub class: EventClass,
    /// The event's data.
    pub payload: serde_json::Value,
    /// Wall-clock time of the append in Unix milliseconds, only when the clock was synchronised (NTP) at the
    /// time: informational for people (and the "oldest pending age" of the status), never used for order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at_ms: Option<u64>,
}

/// The id of event `seq` of device `device_id`.
///
/// No random id (UUID) is needed: device ids are unique per store network and `seq` never repeats on a device
/// (it is persisted in the same durable write as the event), so the pair is unique. Unlike a random id it is
/// also the same on every re-send of the event, which is what lets central deduplicate re-sends.
pub fn event_id(device_id: &str, seq: u64) -> String {
    format!("{device_id}-{seq}")
}

/// The disk budget has no room for a money or business event: the caller stops taking sales and says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the outbox is full ({used} of {budget} bytes waiting for central); no new sales until the uplink is back")]
pub struct OutboxFull {
    /// Bytes of events not yet acknowledged by central.
    pub used: u64,
    /// The configured budget, in bytes.
    pub budget: u64,
}

/// What [`Outbox::admit`] decided for an event that may be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Append it.
    Accept,
    /// Telemetry over its share of the budget: do not append (the caller counts it as dropped).
    DropTelemetry,
}

/// Telemetry is admitted only while it leaves this fraction (1/n) of the budget free, so a flood of telemetry
/// while offline can never be what stops a sale: the last quarter is for money and business events.
const TELEMETRY_KEEPS_FREE_DIVISOR: u64 = 4;

/// Whether an event of `class` encoding to `size` bytes may be appended when `used` of `budget` bytes are taken
/// by unacknowledged events. See [`Outbox::admit`]; this is the same rule for a caller that counts bytes on disk.
pub fn admit(class: EventClass, size: u64, used: u64, budget: u64) -> Result<Admission, OutboxFull> {
    let after = used.saturating_add(size);
    match class {
        EventClass::Telemetry => {
            let limit = budget - budget / TELEMETRY_KEEPS_FREE_DIVISOR;
            if after > limit {
                Ok(Admission::DropTelemetry)
            } else {
                Ok(Admission::Accept)
            }
        }
        EventClass::Money | EventClass::Business if after > budget => Err(OutboxFull { used, budget }),
        EventClass::Money | EventClass::Business => Ok(Admission::Accept),
    }
}

/// A snapshot of the outbox for the status screen and for telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct OutboxStatus {
    /// Events not yet acknowledged (pending and in flight).
    pub depth: u64,
    /// The lowest sequence not yet acknowledged.
    pub oldest_unacked: Option<u64>,
    /// Bytes of events not yet acknowledged (what the budget counts).
    pub bytes: u64,
    /// The highest sequence central has acknowledged since start.
    pub last_acked: Option<u64>,
}

/// Pending → in flight → acknowledged. Methods change state only; the caller does the I/O. (The disk budget is
/// [`admit`], checked by the appender against the bytes on disk, not here.)
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Every unacknowledged event: seq → encoded size in bytes.
    unacked: BTreeMap<u64, u64>,
    /// Not yet published in this connection, in seq order.
    pending: BTreeSet<u64>,
    /// Published, waiting for the PUBACK: seq → packet id, and back.
    in_flight: BTreeMap<u64, u16>,
    by_pkid: HashMap<u16, u64>,
    /// Handed to the MQTT client, packet id not known yet (it is assigned when the client writes the packet,
    /// in the order of the requests).
    requested: VecDeque<u64>,
    /// The highest seq ever pushed: the caller loads events from disk in seq order, a window at a time.
    loaded_through: u64,
    max_in_flight: usize,
    used: u64,
    last_acked: Option<u64>,
}

impl Outbox {
    /// An empty outbox with at most `max_in_flight` (at least 1) unacknowledged publishes.
    pub fn new(max_in_flight: usize) -> Outbox {
        Outbox {
            unacked: BTreeMap::new(),
            pending: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            by_pkid: HashMap::new(),
            requested: VecDeque::new(),
            loaded_through: 0,
            max_in_flight: max_in_flight.max(1),
            used: 0,
            last_acked: None,
        }
    }

    /// A durably appended (or, at start, reloaded) event of `size` bytes: pending from now on. A seq already
    /// known is ignored.
    pub fn push(&mut self, seq: u64, size: u64) {
        self.loaded_through = self.loaded_through.max(seq);
        if let std::collections::btree_map::Entry::Vacant(slot) = self.unacked.entry(seq) {
            slot.insert(size);
            self.pending.insert(seq);
            self.used += size;
        }
    }

    /// The uplink (re)connected: the broker may have lost the session, so everything unacknowledged is pending
    /// again, to be published anew in seq order. Packet ids of the old connection mean nothing any more.
    pub fn on_connected(&mut self) {
        self.pending.extend(self.requested.drain(..));
        self.pending.extend(self.in_flight.keys().copied());
        self.in_flight.clear();
        self.by_pkid.clear();
    }

    /// The lowest pending seq, if the in-flight window has room.
    pub fn next_to_send(&self) -> Option<u64> {
        if self.in_flight.len() + self.requested.len() >= self.max_in_flight {
            return None;
        }
        self.pending.first().copied()
    }

    /// Takes the lowest pending seq for publishing when the window has room: it counts as in flight from now
    /// on, and gets its packet id from the next [`Outbox::on_outgoing`].
    pub fn take_next(&mut self) -> Option<u64> {
        let seq = self.next_to_send()?;
        self.pending.remove(&seq);
        self.requested.push_back(seq);
        Some(seq)
    }

    /// The MQTT client wrote the oldest requested event as packet `pkid`; returns its seq (`None` when nothing
    /// was requested, which the caller treats as a bug in its bookkeeping).
    pub fn on_outgoing(&mut self, pkid: u16) -> Option<u64> {
        let seq = self.requested.pop_front()?;
        self.pending.insert(seq);
        self.on_published(seq, pkid);
        Some(seq)
    }

    /// Events pushed and not yet handed to the client: below a low-water mark the caller loads more.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The highest seq pushed so far (0 = none): the next load starts after it.
    pub fn loaded_through(&self) -> u64 {
        self.loaded_through
    }

    /// `seq` was handed to MQTT as packet `pkid`. Returns false (and changes nothing) when `seq` is not pending.
    pub fn on_published(&mut self, seq: u64, pkid: u16) -> bool {
        if !self.pending.remove(&seq) {
            return false;
        }
        // A packet id still mapped to another event cannot be acknowledged for it any more: resend that one.
        if let Some(previous) = self.by_pkid.insert(pkid, seq) {
            self.in_flight.remove(&previous);
            self.pending.insert(previous);
        }
        self.in_flight.insert(seq, pkid);
        true
    }

    /// Central acknowledged packet `pkid`: the seq the caller may now delete, or `None` for a packet id that is
    /// not in flight (a duplicate PUBACK, or one from before a reconnect), which changes nothing.
    pub fn on_puback(&mut self, pkid: u16) -> Option<u64> {
        let seq = self.by_pkid.remove(&pkid)?;
        self.in_flight.remove(&seq);
        if let Some(size) = self.unacked.remove(&seq) {
            self.used -= size;
        }
        self.last_acked = self.last_acked.max(Some(seq));
        Some(seq)
    }

    /// Bytes of unacknowledged events.
    pub fn used_bytes(&self) -> u64 {
        self.used
    }

    /// Depth, oldest unacknowledged seq, bytes, last acknowledged seq.
    pub fn status(&self) -> OutboxStatus {
        OutboxStatus {
            depth: self.unacked.len() as u64,
            oldest_unacked: self.unacked.keys().next().copied(),
            bytes: self.used,
            last_acked: self.last_acked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Publishes everything the window allows, giving packet ids from `next_pkid` up; returns (seq, pkid).
    fn publish_all(outbox: &mut Outbox, next_pkid: &mut u16) -> Vec<(u64, u16)> {
        let mut sent = Vec::new();
        while let Some(seq) = outbox.next_to_send() {
            assert!(outbox.on_published(seq, *next_pkid));
            sent.push((seq, *next_pkid));
            *next_pkid += 1;
        }
        sent
    }

    fn with_events(window: usize, seqs: &[u64]) -> Outbox {
        let mut outbox = Outbox::new(window);
        for &seq in seqs {
            outbox.push(seq, 10);
        }
        outbox
    }

    #[test]
    fn events_go_out_lowest_seq_first_within_the_window() {
        // (window, seqs pushed in this order, seqs expected on the wire before any PUBACK)
        let cases: &[(usize, &[u64], &[u64])] = &[
            (10, &[3, 1, 2], &[1, 2, 3]),
            (2, &[5, 6, 7, 8], &[5, 6]),
            (1, &[9, 4], &[4]),
            (0, &[1, 2], &[1]), // a window of 0 would never send: it counts as 1
            (4, &[], &[]),
        ];
        for &(window, pushed, expected) in cases {
            let mut outbox = with_events(window, pushed);
            let sent: Vec<u64> = publish_all(&mut outbox, &mut 1).into_iter().map(|(s, _)| s).collect();
            assert_eq!(sent, expected, "window {window}, pushed {pushed:?}");
        }
    }

    #[test]
    fn a_puback_frees_a_window_slot_for_the_next_event_and_the_acked_one_may_be_deleted() {
        let mut outbox = with_events(2, &[1, 2, 3]);
        let mut pkid = 100;
        assert_eq!(publish_all(&mut outbox, &mut pkid), vec![(1, 100), (2, 101)]);
        assert_eq!(outbox.on_puback(101), Some(2));
        assert_eq!(publish_all(&mut outbox, &mut pkid), vec![(3, 102)]);
        let status = outbox.status();
        assert_eq!(
            (status.depth, status.oldest_unacked, status.last_acked),
            (2, Some(1), Some(2))
        );
    }

    #[test]
    fn a_reconnect_replays_every_unacked_event_in_seq_order() {
        let mut outbox = with_events(3, &[1, 2, 3, 4, 5]);
        let mut pkid = 1;
        publish_all(&mut outbox, &mut pkid); // 1, 2, 3 in flight
        assert_eq!(outbox.on_puback(2), Some(2)); // seq 2 done; 1 and 3 still unacked
        outbox.on_connected();
        let replayed: Vec<u64> = publish_all(&mut outbox, &mut pkid)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(
            replayed,
            vec![1, 3, 4],
            "in flight before the reconnect go first, in seq order"
        );
        assert_eq!(outbox.status().depth, 4);
    }

    /// One PUBACK scenario: seq 1 is in flight as packet 7 and seq 2 as packet 8.
    struct AckCase {
        what: &'static str,
        reconnect_first: bool,
        acks: &'static [u16],
        deletes: &'static [Option<u64>],
        depth_after: u64,
    }

    #[test]
    fn pubacks_of_unknown_or_old_packet_ids_change_nothing() {
        let cases = [
            AckCase {
                what: "unknown pkid",
                reconnect_first: false,
                acks: &[99],
                deletes: &[None],
                depth_after: 2,
            },
            AckCase {
                what: "duplicate puback",
                reconnect_first: false,
                acks: &[7, 7],
                deletes: &[Some(1), None],
                depth_after: 1,
            },
            AckCase {
                what: "pkid of the previous connection",
                reconnect_first: true,
                acks: &[7],
                deletes: &[None],
                depth_after: 2,
            },
        ];
        for case in cases {
            let mut outbox = with_events(10, &[1, 2]);
            assert!(outbox.on_published(1, 7) && outbox.on_published(2, 8));
            if case.reconnect_first {
                outbox.on_connected();
            }
            let got: Vec<Option<u64>> = case.acks.iter().map(|&p| outbox.on_puback(p)).collect();
            assert_eq!(got, case.deletes, "{}", case.what);
            assert_eq!(outbox.status().depth, case.depth_after, "{}", case.what);
        }
    }

    #[test]
    fn publishing_a_seq_that_is_not_pending_is_refused() {
        let mut outbox = with_events(10, &[1]);
        assert!(!outbox.on_published(2, 1), "never pushed");
        assert!(outbox.on_published(1, 1));
        assert!(!outbox.on_published(1, 2), "already in flight");
    }

    #[test]
    fn the_budget_drops_telemetry_first_and_refuses_money_only_when_full() {
        // Budget 100: telemetry may fill up to 75, money and business up to 100.
        // (class, bytes already used, size, expected)
        use EventClass::*;
        let full = |used| Err(OutboxFull { used, budget: 100 });
        let cases: &[(EventClass, u64, u64, Result<Admission, OutboxFull>)] = &[
            (Telemetry, 0, 75, Ok(Admission::Accept)),
            (Telemetry, 70, 6, Ok(Admission::DropTelemetry)),
            (Telemetry, 0, 76, Ok(Admission::DropTelemetry)),
            (Money, 70, 30, Ok(Admission::Accept)),
            (Money, 70, 31, full(70)),
            (Business, 100, 1, full(100)),
            (Business, 99, 1, Ok(Admission::Accept)),
        ];
        for &(class, used, size, expected) in cases {
            assert_eq!(
                admit(class, size, used, 100),
                expected,
                "{class:?} of {size} with {used} used"
            );
        }
    }

    #[test]
    fn an_acknowledged_event_gives_its_bytes_back_to_the_budget() {
        let mut outbox = Outbox::new(1);
        outbox.push(1, 60);
        outbox.push(2, 40);
        assert!(admit(EventClass::Money, 1, outbox.used_bytes(), 100).is_err());
        assert!(outbox.on_published(1, 5));
        assert_eq!(outbox.on_puback(5), Some(1));
        assert_eq!(outbox.used_bytes(), 40);
        assert_eq!(
            admit(EventClass::Money, 60, outbox.used_bytes(), 100),
            Ok(Admission::Accept)
        );
    }

    #[test]
    fn requested_events_get_their_packet_ids_in_request_order_and_count_in_the_window() {
        let mut outbox = with_events(2, &[1, 2, 3]);
        assert_eq!(
            (outbox.take_next(), outbox.take_next(), outbox.take_next()),
            (Some(1), Some(2), None)
        );
        assert_eq!(outbox.on_outgoing(40), Some(1));
        assert_eq!(outbox.on_outgoing(41), Some(2));
        assert_eq!(outbox.on_outgoing(42), None, "nothing else was requested");
        assert_eq!(outbox.on_puback(41), Some(2));
        assert_eq!(outbox.take_next(), Some(3));
        // A reconnect before the client wrote seq 3: it is pending again, after seq 1 (still unacked).
        outbox.on_connected();
        assert_eq!((outbox.take_next(), outbox.take_next()), (Some(1), Some(3)));
        assert_eq!(outbox.loaded_through(), 3);
    }

    #[test]
    fn event_ids_are_device_and_seq() {
        assert_eq!(event_id("till-07", 42), "till-07-42");
    }
}
