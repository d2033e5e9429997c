//! SSD1306 128×64 monochrome OLED over Linux i2c-dev, the small-display option. The driver keeps its own
//! framebuffer (buffered graphics mode). Each frame is redrawn whole (`clear_buffer` marks everything dirty),
//! so `flush` sends the full 1 KiB: about 25 ms at 400 kHz I2C, well within a scan's budget on this panel.

use linux_embedded_hal::I2cdev;
use ssd1306::mode::BufferedGraphicsMode;
use ssd1306::prelude::*;
use ssd1306::{I2CDisplayInterface, Ssd1306};

use crate::config::{I2cPanelConfig, Language};
use crate::ui::Frame;

use super::{DisplayError, Panel};

type Display = Ssd1306<I2CInterface<I2cdev>, DisplaySize128x64, BufferedGraphicsMode<DisplaySize128x64>>;

/// An SSD1306 panel.
pub struct Ssd1306Panel {
    device: String,
    display: Display,
    lang: Language,
}

impl Ssd1306Panel {
    /// Opens and initialises the panel at `cfg.device`/`cfg.address`. Only 0° and 180° keep the 128×64 layout.
    pub fn open(cfg: &I2cPanelConfig, rotation: u16, lang: Language) -> Result<Ssd1306Panel, DisplayError> {
        let device = format!("{} (0x{:02x})", cfg.device.display(), cfg.address);
        let err = |reason: String| DisplayError::Device {
            device: device.clone(),
            reason,
        };
        let rotation = match rotation {
            0 => DisplayRotation::Rotate0,
            180 => DisplayRotation::Rotate180,
            other => {
                return Err(err(format!(
                    "rotation {other} is not supported by the 128x64 layout: use 0 or 180"
                )))
            }
        };
        let i2c = I2cdev::new(&cfg.device).map_err(|e| err(format!("cannot open: {e}")))?;
        let interface = I2CDisplayInterface::new_custom_address(i2c, cfg.address);
        let mut display = Ssd1306::new(interface, DisplaySize128x64, rotation).into_buffered_graphics_mode();
        display.init().map_err(|e| err(format!("panel init failed: {e:?}")))?;
        tracing::info!(device = %device, "SSD1306 display ready");
        Ok(Ssd1306Panel { device, display, lang })
    }
}

impl Panel for Ssd1306Panel {
    fn show(&mut self, frame: &Frame) -> Result<(), DisplayError> {
        // Drawing into the driver's RAM buffer cannot fail; only the flush touches the bus.
        self.display.clear_buffer();
        let Ok(()) = crate::ui::render_mono(frame, self.lang, &mut self.display) else {
            return Err(DisplayError::Device {
                device: self.device.clone(),
                reason: "draw failed".into(),
            });
        };
        self.display.flush().map_err(|e| DisplayError::Device {
            device: self.device.clone(),
            reason: format!("I2C write: {e:?}"),
        })
    }
}
