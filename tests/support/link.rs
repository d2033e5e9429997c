//! omnigate's own MQTT link (`mqtt::run`) running in a runtime of its own, for tests that drive the outbox
//! drain directly: nothing subscribed, incoming messages discarded, the status document settable.

use std::sync::Arc;

use omnigate::config::MqttConfig;
use omnigate::mqtt::{self, LinkIo, LinkSettings, LinkState};
use omnigate::storage::outbox_store::OutboxStore;
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

pub struct Link {
    rt: tokio::runtime::Runtime,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), mqtt::MqttError>>>,
    /// Wake the drain after an append.
    pub appended: Arc<Notify>,
    /// The link's state.
    pub state: watch::Receiver<LinkState>,
    /// The status document the link publishes retained.
    pub status: watch::Sender<Vec<u8>>,
    _subscriptions: mpsc::UnboundedSender<mqtt::Subscription>,
}

impl Link {
    /// Starts the link of `device` in `store` with `cfg`, draining `outbox`.
    pub fn start(outbox: Arc<OutboxStore>, cfg: &MqttConfig, store: &str, device: &str) -> Link {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let settings = LinkSettings::from_config(cfg, store, device, omnigate::status::offline(store, device))
            .expect("link settings accepted");
        let appended = Arc::new(Notify::new());
        let (state_tx, state) = watch::channel(LinkState::default());
        let (status, status_rx) = watch::channel(Vec::new());
        let (inbound, mut inbound_rx) = mpsc::channel(8);
        let (_acker, acks) = mqtt::ack_channel();
        let (subscriptions_tx, subscriptions) = mpsc::unbounded_channel();
        let io = LinkIo {
            appended: appended.clone(),
            inbound,
            acks,
            subscriptions,
            status: status_rx,
            state: state_tx,
        };
        let cancel = CancellationToken::new();
        let task = rt.spawn(mqtt::run(settings, outbox, io, cancel.clone()));
        rt.spawn(async move { while inbound_rx.recv().await.is_some() {} });
        Link {
            rt,
            cancel,
            task: Some(task),
            appended,
            state,
            status,
            _subscriptions: subscriptions_tx,
        }
    }

    /// The link's state now.
    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// Connected to the broker right now.
    pub fn connected(&self) -> bool {
        self.state.borrow().connected
    }

    /// Stops the link cleanly (offline status, DISCONNECT) and waits for it.
    pub fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let result = self.rt.block_on(task).expect("link task");
            assert!(result.is_ok(), "link ended with {result:?}");
        }
    }
}
