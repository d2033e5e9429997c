//! Display panels: shows a [`Frame`] on real or simulated hardware. Owns mipidsi, ssd1306, spidev and the
//! headless PNG simulator. Layout and drawing live in [`crate::ui`]; this module only pushes pixels.
//!
//! CONTRACT: [`Panel`], [`open`], [`Framebuffer`], [`DisplayError`].

use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;

use crate::config::{DisplayConfig, Language};
use crate::ui::Frame;

/// A display failure, naming the device.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// Anything.
    #[error("display {device}: {reason}")]
    Device {
        /// Device or path.
        device: String,
        /// What went wrong.
        reason: String,
    },
}

/// Something that shows frames.
pub trait Panel: Send {
    /// Shows `frame` (only what changed needs to be pushed).
    fn show(&mut self, frame: &Frame) -> Result<(), DisplayError>;
}

/// An in-memory RGB565 framebuffer, the drawing target of every colour panel.
#[derive(Clone, PartialEq, Eq)]
pub struct Framebuffer {
    size: Size,
    pixels: Vec<Rgb565>,
}

impl Framebuffer {
    /// A black framebuffer.
    pub fn new(width: u32, height: u32) -> Framebuffer {
        Framebuffer { size: Size::new(width, height), pixels: vec![Rgb565::BLACK; (width * height) as usize] }
    }

    /// Pixels, row-major.
    pub fn pixels(&self) -> &[Rgb565] {
        &self.pixels
    }
}

impl OriginDimensions for Framebuffer {
    fn size(&self) -> Size {
        self.size
    }
}

impl DrawTarget for Framebuffer {
    type Color = Rgb565;
    type Error = core::convert::Infallible;
    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb565>>>(&mut self, pixels: I) -> Result<(), Self::Error> {
        let (w, h) = (self.size.width as i32, self.size.height as i32);
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && p.x < w && p.y < h {
                self.pixels[(p.y * w + p.x) as usize] = c;
            }
        }
        Ok(())
    }
}

/// Opens the configured panel.
pub fn open(cfg: &DisplayConfig, lang: Language) -> Result<Box<dyn Panel>, DisplayError> {
    let _ = (cfg, lang);
    Err(DisplayError::Device { device: "?".into(), reason: "not yet".into() })
}
