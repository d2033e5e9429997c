//! The topic tree of protocol v1 (docs/protocol.md), in one place: what a device publishes, what it
//! subscribes to, and which of its subscriptions an incoming topic belongs to.

/// Protocol version in every topic: a v2 device and a v1 device can share a broker.
pub const ROOT: &str = "omnigate/v1";

/// The topics of one device of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    store: String,
    store_prefix: String,
    device_prefix: String,
}

/// What an incoming message is, by its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// A catalog delta for this store.
    CatalogDelta,
    /// The (retained) catalog snapshot manifest for this store.
    CatalogSnapshot,
    /// Chunk `n` of the retained snapshot.
    CatalogChunk(u32),
    /// A command for this device.
    Command,
    /// Anything else (a broker misconfiguration or a newer central): ignored with a log line.
    Unknown,
}

impl Topics {
    /// Topics of `device` in `store` (ids are checked by the config: letters, digits, `-`, `_`).
    pub fn new(store: &str, device: &str) -> Topics {
        let store_prefix = format!("{ROOT}/stores/{store}");
        let device_prefix = format!("{store_prefix}/devices/{device}");
        Topics {
            store: store.to_owned(),
            store_prefix,
            device_prefix,
        }
    }

    /// Where this device's events go (QoS 1, not retained).
    pub fn events(&self) -> String {
        format!("{}/events", self.device_prefix)
    }

    /// This device's retained status, and its last will.
    pub fn status(&self) -> String {
        format!("{}/status", self.device_prefix)
    }

    /// Commands to this device.
    pub fn commands(&self) -> String {
        format!("{}/commands", self.device_prefix)
    }

    /// The store's catalog deltas (named where central's side builds them, [`crate::catalog::update`]).
    pub fn catalog_delta(&self) -> String {
        crate::catalog::update::delta_topic(&self.store)
    }

    /// The store's retained snapshot manifest.
    pub fn catalog_snapshot(&self) -> String {
        crate::catalog::update::snapshot_topic(&self.store)
    }

    /// Chunk `index` of the store's retained snapshot.
    pub fn catalog_chunk(&self, index: u32) -> String {
        crate::catalog::update::chunk_topic(&self.store, index)
    }

    /// Filter matching every chunk of the store's snapshot.
    pub fn catalog_chunks_filter(&self) -> String {
        crate::catalog::update::chunk_topic_filter(&self.store)
    }

    /// Which subscription `topic` belongs to.
    pub fn classify(&self, topic: &str) -> Inbound {
        if topic == self.commands() {
            return Inbound::Command;
        }
        let Some(rest) = topic
            .strip_prefix(self.store_prefix.as_str())
            .and_then(|r| r.strip_prefix("/catalog/"))
        else {
            return Inbound::Unknown;
        };
        match rest {
            "delta" => Inbound::CatalogDelta,
            "snapshot" => Inbound::CatalogSnapshot,
            _ => match rest.strip_prefix("snapshot/chunk/").map(str::parse::<u32>) {
                Some(Ok(n)) => Inbound::CatalogChunk(n),
                _ => Inbound::Unknown,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_protocol_tree_and_incoming_ones_are_recognised() {
        let t = Topics::new("IT-MI-0042", "kiosk-01");
        assert_eq!(t.events(), "omnigate/v1/stores/IT-MI-0042/devices/kiosk-01/events");
        assert_eq!(t.status(), "omnigate/v1/stores/IT-MI-0042/devices/kiosk-01/status");
        let cases = [
            (
                "omnigate/v1/stores/IT-MI-0042/devices/kiosk-01/commands",
                Inbound::Command,
            ),
            ("omnigate/v1/stores/IT-MI-0042/catalog/delta", Inbound::CatalogDelta),
            (
                "omnigate/v1/stores/IT-MI-0042/catalog/snapshot",
                Inbound::CatalogSnapshot,
            ),
            (
                "omnigate/v1/stores/IT-MI-0042/catalog/snapshot/chunk/17",
                Inbound::CatalogChunk(17),
            ),
            (
                "omnigate/v1/stores/IT-MI-0042/catalog/snapshot/chunk/x",
                Inbound::Unknown,
            ),
            ("omnigate/v1/stores/IT-MI-0043/catalog/delta", Inbound::Unknown),
            (
                "omnigate/v1/stores/IT-MI-0042/devices/kiosk-02/commands",
                Inbound::Unknown,
            ),
        ];
        for (topic, expected) in cases {
            assert_eq!(t.classify(topic), expected, "{topic}");
        }
        assert_eq!(t.classify(&t.catalog_chunk(3)), Inbound::CatalogChunk(3));
    }
}
