//! The station's status light: what staff see from across the store. Owns the `[status_led]` configuration,
//! the pattern each [`StationLight`] shows and the task that plays it on up to three GPIO lines (or logs it).
//! Never decides the state: the station sets it. Must never leave a lamp lit after shutdown: cancelling the
//! task, or dropping every handle, switches every line off.
//!
//! | state                           | three lamps (green, amber, red) | one lamp (any colour)  |
//! |---------------------------------|---------------------------------|------------------------|
//! | [`StationLight::Idle`]          | green steady                    | steady                 |
//! | [`StationLight::Busy`]          | green slow blink (1 Hz)         | slow blink (1 Hz)      |
//! | [`StationLight::NeedsStaff`]    | amber fast blink (4 Hz)         | fast blink (4 Hz)      |
//! | [`StationLight::OutOfOrder`]    | red steady                      | off                    |
//!
//! With one lamp, out of order is dark on purpose: a dark light on a powered kiosk reads as "not in service",
//! and a lamp that cannot change colour has nothing brighter to say it with. Two lamps are refused by
//! [`StatusLedConfig::validate`]: one state would have no colour.
//!
//! Blinks are half on, half off, and start lit at the moment the state changes, so a change shows at once;
//! setting the state it already has changes nothing (the blink keeps its rhythm).
//!
//! Simulated light logs each change of state once at info (`status light (simulated): needs staff — amber fast
//! blink (4 Hz)`); each lamp switch is logged at trace. GPIO logs a change at debug only.
//!
//! CONTRACT: [`StationLight`], [`StatusLedConfig`], [`StatusLed`], [`lamps_at`].

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::PinConfig;
use crate::feedback::{GpioOutput, LogOutput, Output};
use crate::gpio::{self, GpioError};

/// What the station is doing, as its status light shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StationLight {
    /// Ready for a shopper.
    Idle,
    /// A shopper is using it.
    Busy,
    /// Staff are needed (help asked, an age check, a payment problem).
    NeedsStaff,
    /// Not in service.
    OutOfOrder,
}

/// A lamp of the light.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lamp {
    /// Green.
    Green,
    /// Amber.
    Amber,
    /// Red.
    Red,
}

impl Lamp {
    const ALL: [Lamp; 3] = [Lamp::Green, Lamp::Amber, Lamp::Red];

    fn name(self) -> &'static str {
        match self {
            Lamp::Green => "green",
            Lamp::Amber => "amber",
            Lamp::Red => "red",
        }
    }
}

/// How a lamp shows a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Dark.
    Off,
    /// Lit.
    Steady,
    /// 1 Hz: [`SLOW_HALF_PERIOD`] lit, the same dark.
    SlowBlink,
    /// 4 Hz: [`FAST_HALF_PERIOD`] lit, the same dark.
    FastBlink,
}

/// Half a slow (1 Hz) blink.
pub const SLOW_HALF_PERIOD: Duration = Duration::from_millis(500);
/// Half a fast (4 Hz) blink.
pub const FAST_HALF_PERIOD: Duration = Duration::from_millis(125);

impl Mode {
    fn half_period(self) -> Option<Duration> {
        match self {
            Mode::Off | Mode::Steady => None,
            Mode::SlowBlink => Some(SLOW_HALF_PERIOD),
            Mode::FastBlink => Some(FAST_HALF_PERIOD),
        }
    }

    /// Whether the lamp is lit `elapsed` after the state began (a blink starts lit).
    pub fn lit_at(self, elapsed: Duration) -> bool {
        match self.half_period() {
            None => self == Mode::Steady,
            Some(half) => (elapsed.as_nanos() / half.as_nanos()) % 2 == 0,
        }
    }

    /// The first switch strictly after `elapsed`, as an offset from the start of the state; `None` when the
    /// lamp never switches.
    pub fn next_switch(self, elapsed: Duration) -> Option<Duration> {
        let half = self.half_period()?;
        let halves = u32::try_from(elapsed.as_nanos() / half.as_nanos() + 1).ok()?;
        half.checked_mul(halves)
    }

    fn describe(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Steady => "steady",
            Mode::SlowBlink => "slow blink (1 Hz)",
            Mode::FastBlink => "fast blink (4 Hz)",
        }
    }
}

/// The lamps a light has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// No light: nothing is shown.
    None,
    /// One lamp, of this colour.
    Single(Lamp),
    /// Green, amber and red.
    Tower,
}

impl StationLight {
    /// Which lamp shows this state, and how (the module table). `None` for a light without lamps.
    pub fn look(self, layout: Layout) -> Option<(Lamp, Mode)> {
        match layout {
            Layout::None => None,
            Layout::Tower => Some(match self {
                StationLight::Idle => (Lamp::Green, Mode::Steady),
                StationLight::Busy => (Lamp::Green, Mode::SlowBlink),
                StationLight::NeedsStaff => (Lamp::Amber, Mode::FastBlink),
                StationLight::OutOfOrder => (Lamp::Red, Mode::Steady),
            }),
            Layout::Single(lamp) => Some(match self {
                StationLight::Idle => (lamp, Mode::Steady),
                StationLight::Busy => (lamp, Mode::SlowBlink),
                StationLight::NeedsStaff => (lamp, Mode::FastBlink),
                // Dark reads as "not in service" (module doc).
                StationLight::OutOfOrder => (lamp, Mode::Off),
            }),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            StationLight::Idle => "idle",
            StationLight::Busy => "busy",
            StationLight::NeedsStaff => "needs staff",
            StationLight::OutOfOrder => "out of order",
        }
    }

    /// The state as seen: `needs staff — amber fast blink (4 Hz)`.
    fn summary(self, layout: Layout) -> String {
        match self.look(layout) {
            None => format!("{} — no light fitted", self.describe()),
            Some((_, Mode::Off)) => format!("{} — light off (not in service)", self.describe()),
            Some((lamp, mode)) => format!("{} — {} {}", self.describe(), lamp.name(), mode.describe()),
        }
    }
}

/// Which lamps are lit `elapsed` after `state` began, as `[green, amber, red]`.
pub fn lamps_at(state: StationLight, layout: Layout, elapsed: Duration) -> [bool; 3] {
    let mut lit = [false; 3];
    if let Some((lamp, mode)) = state.look(layout) {
        lit[lamp as usize] = mode.lit_at(elapsed);
    }
    lit
}

/// Which status-light backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusLedKind {
    /// Lamps on GPIO lines.
    Gpio,
    /// Logged only (development): each change of state at info.
    Simulated,
    /// No status light.
    #[default]
    None,
}

/// `[status_led]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusLedConfig {
    /// Backend.
    #[serde(default)]
    pub kind: StatusLedKind,
    /// Green lamp.
    #[serde(default)]
    pub green: Option<PinConfig>,
    /// Amber lamp.
    #[serde(default)]
    pub amber: Option<PinConfig>,
    /// Red lamp.
    #[serde(default)]
    pub red: Option<PinConfig>,
}

/// A `[status_led]` setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct StatusLedConfigError {
    /// Full dotted key, e.g. `status_led.amber`.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl StatusLedConfig {
    fn pins(&self) -> [(Lamp, Option<&PinConfig>); 3] {
        [
            (Lamp::Green, self.green.as_ref()),
            (Lamp::Amber, self.amber.as_ref()),
            (Lamp::Red, self.red.as_ref()),
        ]
    }

    /// The layout the configured lines make (whatever the kind): none, one lamp, or all three.
    pub fn layout(&self) -> Result<Layout, StatusLedConfigError> {
        let fitted: Vec<Lamp> = self
            .pins()
            .iter()
            .filter(|(_, p)| p.is_some())
            .map(|(l, _)| *l)
            .collect();
        match fitted.as_slice() {
            [] => Ok(Layout::None),
            [one] => Ok(Layout::Single(*one)),
            [_, _, _] => Ok(Layout::Tower),
            _ => {
                let missing = Lamp::ALL
                    .into_iter()
                    .find(|l| !fitted.contains(l))
                    .unwrap_or(Lamp::Amber);
                Err(StatusLedConfigError {
                    key: format!("status_led.{}", missing.name()),
                    reason: "two lamps cannot show four states: set all three of green, amber, red, or only one".into(),
                })
            }
        }
    }

    /// Rules serde cannot express, naming the key (`status_led.…`) that breaks one.
    pub fn validate(&self) -> Result<(), StatusLedConfigError> {
        if self.kind == StatusLedKind::None {
            return Ok(());
        }
        let layout = self.layout()?;
        if self.kind == StatusLedKind::Gpio && layout == Layout::None {
            return Err(StatusLedConfigError {
                key: "status_led".into(),
                reason: "kind = \"gpio\" needs one lamp (green, amber or red) or all three".into(),
            });
        }
        let mut seen: Vec<(Lamp, &PinConfig)> = Vec::new();
        for (lamp, pin) in self.pins() {
            let Some(pin) = pin else { continue };
            if let Some((other, _)) = seen.iter().find(|(_, p)| p.chip == pin.chip && p.line == pin.line) {
                return Err(StatusLedConfigError {
                    key: format!("status_led.{}", lamp.name()),
                    reason: format!(
                        "same GPIO line as status_led.{} ({}:{})",
                        other.name(),
                        pin.chip,
                        pin.line
                    ),
                });
            }
            seen.push((lamp, pin));
        }
        Ok(())
    }
}

/// The status light could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StatusLedError {
    /// The configuration does not make a usable light (validation rejects this first).
    #[error("{0}")]
    Config(#[from] StatusLedConfigError),
    /// A lamp's line could not be opened (the GPIO error names chip and line).
    #[error("status_led.{lamp}: {source}")]
    Gpio {
        /// Which lamp.
        lamp: &'static str,
        /// What the kernel said.
        source: GpioError,
    },
}

/// The lamps to drive, for [`StatusLed::spawn_with`]; only the layouts the table defines can be built.
pub enum Lamps {
    /// No light.
    None,
    /// One lamp of that colour.
    Single(Lamp, Box<dyn Output>),
    /// Green, amber and red.
    Tower {
        /// Green lamp.
        green: Box<dyn Output>,
        /// Amber lamp.
        amber: Box<dyn Output>,
        /// Red lamp.
        red: Box<dyn Output>,
    },
}

impl Lamps {
    fn split(self) -> (Layout, [Option<Box<dyn Output>>; 3]) {
        match self {
            Lamps::None => (Layout::None, [None, None, None]),
            Lamps::Single(lamp, out) => {
                let mut outs = [None, None, None];
                outs[lamp as usize] = Some(out);
                (Layout::Single(lamp), outs)
            }
            Lamps::Tower { green, amber, red } => (Layout::Tower, [Some(green), Some(amber), Some(red)]),
        }
    }
}

/// At which level a change of state is logged.
#[derive(Debug, Clone, Copy)]
enum Announce {
    /// Simulated: the log is the only place the light shows.
    Info,
    /// Real lamps (or none): the log is for debugging.
    Debug,
}

/// Handle to the status-light task.
#[derive(Clone)]
pub struct StatusLed {
    // watch: only the latest state matters, and setting it never blocks the station.
    tx: Arc<watch::Sender<StationLight>>,
    stopped: CancellationToken,
}

impl StatusLed {
    /// Opens the configured lamps and starts showing `initial` (inside a tokio runtime). Every lamp is switched
    /// off when `cancel` fires; await [`StatusLed::stopped`] before exiting to be sure.
    pub fn spawn(
        cfg: &StatusLedConfig,
        initial: StationLight,
        cancel: CancellationToken,
    ) -> Result<StatusLed, StatusLedError> {
        let layout = cfg.layout()?;
        let (lamps, announce) = match cfg.kind {
            StatusLedKind::None => (Lamps::None, Announce::Debug),
            StatusLedKind::Simulated => {
                let log = |l: Lamp| Box::new(LogOutput(format!("status light: {}", l.name()))) as Box<dyn Output>;
                let lamps = match layout {
                    Layout::Single(lamp) => Lamps::Single(lamp, log(lamp)),
                    // No lines named: show what the usual three-lamp tower would.
                    Layout::None | Layout::Tower => Lamps::Tower {
                        green: log(Lamp::Green),
                        amber: log(Lamp::Amber),
                        red: log(Lamp::Red),
                    },
                };
                (lamps, Announce::Info)
            }
            StatusLedKind::Gpio => {
                let mut opened: [Option<Box<dyn Output>>; 3] = [None, None, None];
                for (lamp, pin) in cfg.pins() {
                    let Some(pin) = pin else { continue };
                    let line = gpio::open_output(pin).map_err(|source| StatusLedError::Gpio {
                        lamp: lamp.name(),
                        source,
                    })?;
                    opened[lamp as usize] = Some(Box::new(GpioOutput::new(
                        line,
                        format!("status light: {} lamp", lamp.name()),
                    )));
                }
                let lamps = match (layout, opened) {
                    (Layout::Single(lamp), mut opened) => match opened[lamp as usize].take() {
                        Some(out) => Lamps::Single(lamp, out),
                        None => Lamps::None,
                    },
                    (Layout::Tower, [Some(green), Some(amber), Some(red)]) => Lamps::Tower { green, amber, red },
                    _ => Lamps::None, // no lines: validation rejects this for kind = "gpio"
                };
                (lamps, Announce::Debug)
            }
        };
        Ok(StatusLed::start(lamps, initial, announce, cancel))
    }

    /// Starts showing `initial` on the given lamps (tests, or a board with other wiring).
    pub fn spawn_with(lamps: Lamps, initial: StationLight, cancel: CancellationToken) -> StatusLed {
        StatusLed::start(lamps, initial, Announce::Debug, cancel)
    }

    fn start(lamps: Lamps, initial: StationLight, announce: Announce, cancel: CancellationToken) -> StatusLed {
        let (tx, rx) = watch::channel(initial);
        let stopped = CancellationToken::new();
        let (layout, outputs) = lamps.split();
        tokio::spawn(show(
            Light {
                layout,
                outputs,
                lit: [false; 3],
                announce,
            },
            rx,
            cancel,
            stopped.clone(),
        ));
        StatusLed {
            tx: Arc::new(tx),
            stopped,
        }
    }

    /// Shows `state` from now on (never blocks; the same state again changes nothing).
    pub fn set(&self, state: StationLight) {
        // send_if_modified: an unchanged state must not wake the task and restart a blink.
        self.tx.send_if_modified(|s| std::mem::replace(s, state) != state);
    }

    /// Resolves once the task has stopped with every lamp off (after cancel, or all handles dropped).
    pub async fn stopped(&self) {
        self.stopped.cancelled().await;
    }
}

struct Light {
    layout: Layout,
    outputs: [Option<Box<dyn Output>>; 3],
    /// What each lamp was last set to.
    lit: [bool; 3],
    announce: Announce,
}

impl Light {
    /// Sets every lamp to `want`, switching only those that change (a blink is not a stream of writes).
    fn apply(&mut self, want: [bool; 3]) {
        for (i, on) in want.into_iter().enumerate() {
            if self.lit[i] != on {
                if let Some(out) = self.outputs[i].as_mut() {
                    out.set(on);
                }
                self.lit[i] = on;
            }
        }
    }

    /// Every lamp off, written whatever we believe it shows (start and shutdown must leave nothing lit).
    fn all_off(&mut self) {
        for out in self.outputs.iter_mut().flatten() {
            out.set(false);
        }
        self.lit = [false; 3];
    }

    fn announce(&self, state: StationLight) {
        match self.announce {
            Announce::Info => tracing::info!("status light (simulated): {}", state.summary(self.layout)),
            Announce::Debug => tracing::debug!("status light: {}", state.summary(self.layout)),
        }
    }
}

async fn show(
    mut light: Light,
    mut rx: watch::Receiver<StationLight>,
    cancel: CancellationToken,
    stopped: CancellationToken,
) {
    light.all_off();
    let mut state = *rx.borrow_and_update();
    let mut since = Instant::now();
    light.announce(state);
    loop {
        let elapsed = Instant::now().saturating_duration_since(since);
        light.apply(lamps_at(state, light.layout, elapsed));
        // From `since`, not from now: a late wake-up does not shift every later blink.
        let next = state
            .look(light.layout)
            .and_then(|(_, mode)| mode.next_switch(elapsed))
            .map(|d| since + d);
        let next_switch = async {
            match next {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            changed = rx.changed() => {
                if changed.is_err() {
                    break; // every StatusLed handle is gone
                }
                let new = *rx.borrow_and_update();
                if new != state {
                    state = new;
                    since = Instant::now();
                    light.announce(state);
                }
            }
            _ = next_switch => {}
        }
    }
    light.all_off();
    stopped.cancel();
}

#[cfg(test)]
mod tests {

    use super::*;

    use Lamp::{Amber, Green, Red};

    type Recorder = crate::test_logs::Recorder<Lamp>;

    /// The three-lamp tower, recorded.
    fn tower(rec: &Recorder) -> Lamps {
        Lamps::Tower {
            green: rec.output(Green),
            amber: rec.output(Amber),
            red: rec.output(Red),
        }
    }

    /// The lamps lit now.
    fn lit(rec: &Recorder) -> Vec<Lamp> {
        Lamp::ALL.into_iter().filter(|l| rec.is_on(*l)).collect()
    }

    /// Shows `state` alone on `lamps` for `ms` of virtual time, then shuts down; the recorded timeline.
    async fn show_for(rec: &Recorder, lamps: Lamps, state: StationLight, ms: u64) -> Vec<(u64, Lamp, bool)> {
        let cancel = CancellationToken::new();
        let led = StatusLed::spawn_with(lamps, state, cancel.clone());
        tokio::time::sleep(Duration::from_millis(ms)).await;
        cancel.cancel();
        led.stopped().await;
        rec.timeline()
    }

    #[tokio::test(start_paused = true)]
    async fn tower_idle_is_green_steady() {
        let rec = Recorder::new();
        let t = show_for(&rec, tower(&rec), StationLight::Idle, 5_000).await;
        assert_eq!(
            t,
            vec![(0, Green, true), (5_000, Green, false)],
            "lit until shutdown, then off"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tower_busy_is_green_blinking_at_1_hz() {
        let rec = Recorder::new();
        let t = show_for(&rec, tower(&rec), StationLight::Busy, 2_200).await;
        let want = vec![
            (0, Green, true),
            (500, Green, false),
            (1_000, Green, true),
            (1_500, Green, false),
            (2_000, Green, true),
            (2_200, Green, false),
        ];
        assert_eq!(t, want);
    }

    #[tokio::test(start_paused = true)]
    async fn tower_needs_staff_is_amber_blinking_at_4_hz() {
        let rec = Recorder::new();
        let t = show_for(&rec, tower(&rec), StationLight::NeedsStaff, 600).await;
        let want = vec![
            (0, Amber, true),
            (125, Amber, false),
            (250, Amber, true),
            (375, Amber, false),
            (500, Amber, true),
            (600, Amber, false),
        ];
        assert_eq!(t, want);
    }

    #[tokio::test(start_paused = true)]
    async fn tower_out_of_order_is_red_steady() {
        let rec = Recorder::new();
        let t = show_for(&rec, tower(&rec), StationLight::OutOfOrder, 3_000).await;
        assert_eq!(t, vec![(0, Red, true), (3_000, Red, false)]);
    }

    #[tokio::test(start_paused = true)]
    async fn one_lamp_shows_every_state_by_its_rhythm_and_is_dark_out_of_order() {
        for lamp in Lamp::ALL {
            let rec = Recorder::new();
            let cancel = CancellationToken::new();
            let led = StatusLed::spawn_with(
                Lamps::Single(lamp, rec.output(lamp)),
                StationLight::Idle,
                cancel.clone(),
            );
            tokio::time::sleep(Duration::from_millis(1_000)).await; // idle: steady
            led.set(StationLight::Busy); // t = 1000
            tokio::time::sleep(Duration::from_millis(1_200)).await;
            led.set(StationLight::NeedsStaff); // t = 2200
            tokio::time::sleep(Duration::from_millis(300)).await;
            led.set(StationLight::OutOfOrder); // t = 2500
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            let want = vec![
                (0, lamp, true),
                (1_500, lamp, false), // busy: lit from 1000, 1 Hz
                (2_000, lamp, true),  // needs staff from 2200 starts lit: no switch then
                (2_325, lamp, false), // 4 Hz
                (2_450, lamp, true),
                (2_500, lamp, false), // out of order: dark
            ];
            assert_eq!(rec.timeline(), want, "{lamp:?}");
            cancel.cancel();
            led.stopped().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_of_state_switches_lamps_at_once_and_restarts_the_blink_lit() {
        let rec = Recorder::new();
        let cancel = CancellationToken::new();
        let led = StatusLed::spawn_with(tower(&rec), StationLight::Busy, cancel.clone());
        tokio::time::sleep(Duration::from_millis(700)).await; // green dark since 500
        led.set(StationLight::NeedsStaff);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(lit(&rec), vec![Amber], "green gives way to amber at once");
        led.set(StationLight::Busy);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(lit(&rec), vec![Green], "busy again starts lit, not mid-rhythm");
        cancel.cancel();
        led.stopped().await;
    }

    #[tokio::test(start_paused = true)]
    async fn setting_the_same_state_again_keeps_the_blink_rhythm() {
        let rec = Recorder::new();
        let cancel = CancellationToken::new();
        let led = StatusLed::spawn_with(tower(&rec), StationLight::Busy, cancel.clone());
        for _ in 0..9 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            led.set(StationLight::Busy); // e.g. every scan of a busy basket
        }
        let t = rec.timeline();
        assert_eq!(
            t,
            vec![
                (0, Green, true),
                (500, Green, false),
                (1_000, Green, true),
                (1_500, Green, false)
            ],
            "a steady 1 Hz, not restarted every 200 ms"
        );
        cancel.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_switches_off_the_lit_lamp() {
        for state in [StationLight::Idle, StationLight::NeedsStaff, StationLight::OutOfOrder] {
            let rec = Recorder::new();
            let cancel = CancellationToken::new();
            let led = StatusLed::spawn_with(tower(&rec), state, cancel.clone());
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(lit(&rec).len(), 1, "precondition: {state:?} lights a lamp");
            cancel.cancel();
            tokio::time::timeout(Duration::from_secs(1), led.stopped())
                .await
                .expect("stops on cancel");
            assert!(lit(&rec).is_empty(), "{state:?} left lit: {:?}", rec.timeline());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_every_handle_switches_the_light_off() {
        let rec = Recorder::new();
        let led = StatusLed::spawn_with(tower(&rec), StationLight::Idle, CancellationToken::new());
        tokio::time::sleep(Duration::from_millis(10)).await;
        let watcher = led.stopped.clone();
        drop(led);
        tokio::time::timeout(Duration::from_secs(1), watcher.cancelled())
            .await
            .expect("task stops");
        assert!(lit(&rec).is_empty());
    }

    #[test]
    fn the_pattern_is_a_pure_function_of_state_layout_and_time() {
        let ms = Duration::from_millis;
        let tower = Layout::Tower;
        let single = Layout::Single(Red);
        use StationLight::*;
        let table = [
            (Idle, tower, 0, [true, false, false]),
            (Idle, tower, 99_999, [true, false, false]),
            (Busy, tower, 0, [true, false, false]),
            (Busy, tower, 499, [true, false, false]),
            (Busy, tower, 500, [false, false, false]),
            (Busy, tower, 1_000, [true, false, false]),
            (NeedsStaff, tower, 124, [false, true, false]),
            (NeedsStaff, tower, 125, [false, false, false]),
            (NeedsStaff, tower, 250, [false, true, false]),
            (OutOfOrder, tower, 7, [false, false, true]),
            (Idle, single, 7, [false, false, true]),
            (Busy, single, 600, [false, false, false]),
            (NeedsStaff, single, 260, [false, false, true]),
            (OutOfOrder, single, 0, [false, false, false]),
            (Idle, Layout::None, 0, [false, false, false]),
        ];
        for (state, layout, at, want) in table {
            assert_eq!(lamps_at(state, layout, ms(at)), want, "{state:?} {layout:?} at {at} ms");
        }
        assert_eq!(Mode::SlowBlink.next_switch(ms(500)), Some(ms(1_000)), "strictly after");
        assert_eq!(Mode::FastBlink.next_switch(ms(130)), Some(ms(250)));
        assert_eq!(Mode::Steady.next_switch(ms(0)), None);
    }

    #[test]
    fn each_state_is_summarised_as_seen() {
        assert_eq!(
            StationLight::NeedsStaff.summary(Layout::Tower),
            "needs staff — amber fast blink (4 Hz)"
        );
        assert_eq!(StationLight::Idle.summary(Layout::Tower), "idle — green steady");
        assert_eq!(
            StationLight::OutOfOrder.summary(Layout::Single(Green)),
            "out of order — light off (not in service)"
        );
    }

    fn pin(line: u32) -> Option<PinConfig> {
        Some(PinConfig {
            chip: "pinctrl-rp1".into(),
            line,
            active_low: false,
        })
    }

    #[test]
    fn config_validation_names_the_bad_key() {
        let gpio = |green, amber, red| StatusLedConfig {
            kind: StatusLedKind::Gpio,
            green,
            amber,
            red,
        };
        assert_eq!(gpio(pin(5), pin(6), pin(13)).validate(), Ok(()));
        assert_eq!(gpio(None, pin(6), None).validate(), Ok(()));
        assert_eq!(gpio(None, pin(6), None).layout(), Ok(Layout::Single(Amber)));
        let table = [
            (gpio(None, None, None), "status_led", "needs one lamp"),
            (gpio(pin(5), None, pin(13)), "status_led.amber", "two lamps"),
            (
                gpio(pin(5), pin(6), pin(5)),
                "status_led.red",
                "same GPIO line as status_led.green",
            ),
        ];
        for (cfg, key, reason) in table {
            let e = cfg.validate().expect_err(key);
            assert_eq!(e.key, key);
            assert!(e.reason.contains(reason), "{key}: {}", e.reason);
        }
        let sim_two = StatusLedConfig {
            kind: StatusLedKind::Simulated,
            ..gpio(pin(5), pin(6), None)
        };
        assert_eq!(sim_two.validate().map_err(|e| e.key), Err("status_led.red".into()));
        let none_with_junk = StatusLedConfig {
            kind: StatusLedKind::None,
            ..gpio(pin(5), pin(6), None)
        };
        assert_eq!(none_with_junk.validate(), Ok(()), "no light: the lines are not used");
    }

    #[test]
    fn config_parses_with_defaults_and_rejects_unknown_keys() {
        let cfg: StatusLedConfig =
            toml::from_str("kind = \"gpio\"\ngreen = { chip = \"pinctrl-rp1\", line = 5 }").expect("valid");
        assert_eq!(cfg.layout(), Ok(Layout::Single(Green)));
        assert_eq!(StatusLedConfig::default().kind, StatusLedKind::None);
        let err = toml::from_str::<StatusLedConfig>("kind = \"gpio\"\nblue = { chip = \"x\", line = 1 }")
            .expect_err("no blue lamp");
        assert!(err.to_string().contains("blue"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_gpio_chip_is_an_error_naming_the_lamp_and_the_chip() {
        let cfg = StatusLedConfig {
            kind: StatusLedKind::Gpio,
            red: Some(PinConfig {
                chip: "no-such-chip-omnigate".into(),
                line: 13,
                active_low: false,
            }),
            ..StatusLedConfig::default()
        };
        let msg = StatusLed::spawn(&cfg, StationLight::Idle, CancellationToken::new())
            .err()
            .expect("no such chip on a test machine")
            .to_string();
        assert!(
            msg.contains("status_led.red") && msg.contains("no-such-chip-omnigate"),
            "{msg}"
        );
    }

    use crate::test_logs::capture_logs;

    #[tokio::test(start_paused = true)]
    async fn the_simulated_light_logs_each_change_of_state_once_at_info() {
        let (logs, _guard) = capture_logs(tracing::Level::INFO);
        let cancel = CancellationToken::new();
        let cfg = StatusLedConfig {
            kind: StatusLedKind::Simulated,
            ..StatusLedConfig::default()
        };
        let led = StatusLed::spawn(&cfg, StationLight::Idle, cancel.clone()).expect("no hardware needed");
        tokio::time::sleep(Duration::from_secs(1)).await;
        led.set(StationLight::NeedsStaff);
        tokio::time::sleep(Duration::from_secs(3)).await; // a dozen blinks: none of them logged at info
        led.set(StationLight::NeedsStaff);
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
        led.stopped().await;
        let text = String::from_utf8(logs.lock().expect("test lock").clone()).expect("utf-8 log");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("INFO") && lines[0].ends_with("status light (simulated): idle — green steady"));
        assert!(lines[1].ends_with("status light (simulated): needs staff — amber fast blink (4 Hz)"));
    }
}
