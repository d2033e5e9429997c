//! Display panels: shows a [`Frame`] on real or simulated hardware. Owns mipidsi, ssd1306, spidev and the
//! headless PNG simulator. Layout and drawing live in [`crate::ui`]; this module only pushes pixels.
//!
//! CONTRACT: [`Panel`], [`open`], [`Framebuffer`], [`DisplayError`].

mod simulator;
mod spi;
mod ssd1306;

use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::raw::ToBytes;
use embedded_graphics::pixelcolor::{BinaryColor, Rgb565, Rgb888};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_graphics_simulator::{OutputSettings, SimulatorDisplay};

use crate::config::{DisplayConfig, Language, PanelKind};
use crate::ui::Frame;

pub use simulator::SimulatorPanel;
pub use spi::{dirty_regions, SpiPanel, SPI_BUFFER_BYTES};
pub use ssd1306::Ssd1306Panel;

/// A display failure, naming the device.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// The device refused or failed (open, init, transfer).
    #[error("display {device}: {reason}")]
    Device {
        /// Device or path.
        device: String,
        /// What went wrong.
        reason: String,
    },
    /// The configuration lacks what this panel kind needs.
    #[error("display: {key} is required for display.kind = {kind:?}")]
    MissingConfig {
        /// The missing table, e.g. `display.spi`.
        key: &'static str,
        /// The configured panel kind.
        kind: PanelKind,
    },
    /// A frame could not be written as PNG.
    #[error("display: cannot write {path}: {reason}")]
    Png {
        /// The file.
        path: PathBuf,
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

impl std::fmt::Debug for Framebuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Framebuffer({}x{})", self.size.width, self.size.height)
    }
}

impl Framebuffer {
    /// A black framebuffer.
    pub fn new(width: u32, height: u32) -> Framebuffer {
        Framebuffer {
            size: Size::new(width, height),
            pixels: vec![Rgb565::BLACK; (width * height) as usize],
        }
    }

    /// Pixels, row-major.
    pub fn pixels(&self) -> &[Rgb565] {
        &self.pixels
    }

    /// Row `y`, or an empty slice below the last row.
    pub fn row(&self, y: u32) -> &[Rgb565] {
        let w = self.size.width as usize;
        self.pixels.get(y as usize * w..(y as usize + 1) * w).unwrap_or(&[])
    }

    /// The pixel at `p`, `None` outside.
    pub fn pixel(&self, p: Point) -> Option<Rgb565> {
        self.bounding_box()
            .contains(p)
            .then(|| self.pixels[p.y as usize * self.size.width as usize + p.x as usize])
    }

    /// The pixels of `area` (clipped to the framebuffer), row by row: what a panel is sent for that window.
    pub fn region(&self, area: &Rectangle) -> impl Iterator<Item = Rgb565> + '_ {
        let area = area.intersection(&self.bounding_box());
        let w = self.size.width as usize;
        let (x0, x1) = (
            area.top_left.x as usize,
            area.top_left.x as usize + area.size.width as usize,
        );
        let y0 = area.top_left.y as usize;
        (y0..y0 + area.size.height as usize).flat_map(move |y| self.pixels[y * w + x0..y * w + x1].iter().copied())
    }

    /// The pixels as big-endian RGB565 bytes, the wire format of ST7789 and ILI9341.
    pub fn as_bytes_be(&self) -> Vec<u8> {
        self.pixels.iter().flat_map(|p| p.to_be_bytes()).collect()
    }

    /// Writes the framebuffer as an RGB PNG at `path` (same pixels → byte-identical file).
    pub fn to_png(&self, path: &Path) -> Result<(), DisplayError> {
        let mut sim = SimulatorDisplay::<Rgb888>::new(self.size);
        sim.fill_contiguous(&self.bounding_box(), self.pixels.iter().map(|p| Rgb888::from(*p)))
            .expect("the simulator display never fails to draw");
        save_png(&sim, path)
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

    // Backgrounds, bars and scaled glyphs are rectangles: fill them row slice by row slice instead of pixel by
    // pixel (this is most of a frame's pixels, and what keeps a render well under a millisecond).
    fn fill_solid(&mut self, area: &Rectangle, color: Rgb565) -> Result<(), Self::Error> {
        let area = area.intersection(&self.bounding_box());
        if area.is_zero_sized() {
            return Ok(());
        }
        let w = self.size.width as usize;
        let (x0, x1) = (
            area.top_left.x as usize,
            area.top_left.x as usize + area.size.width as usize,
        );
        let y0 = area.top_left.y as usize;
        for y in y0..y0 + area.size.height as usize {
            self.pixels[y * w + x0..y * w + x1].fill(color);
        }
        Ok(())
    }

    fn clear(&mut self, color: Rgb565) -> Result<(), Self::Error> {
        self.pixels.fill(color);
        Ok(())
    }
}

/// Writes `display` as PNG to `path`.
fn save_png<C: PixelColor + Into<Rgb888>>(display: &SimulatorDisplay<C>, path: &Path) -> Result<(), DisplayError> {
    display
        .to_rgb_output_image(&OutputSettings::default())
        .save_png(path)
        .map_err(|e| DisplayError::Png {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Renders `frame` in `lang` at `width`×`height` and writes it as PNG at `path`: what the simulator panel of that
/// size shows (128×64 is the monochrome SSD1306 layout, white on black; any other size is the colour layout).
/// The same frame always gives a byte-identical file.
pub fn render_png(frame: &Frame, lang: Language, width: u32, height: u32, path: &Path) -> Result<(), DisplayError> {
    if is_mono_size(width, height) {
        let mut sim = SimulatorDisplay::<BinaryColor>::new(Size::new(width, height));
        crate::ui::render_mono(frame, lang, &mut sim).expect("the simulator display never fails to draw");
        return save_png(&sim, path);
    }
    let mut fb = Framebuffer::new(width, height);
    let Ok(()) = crate::ui::render(frame, lang, &mut fb);
    fb.to_png(path)
}

/// 128×64: the SSD1306 size, drawn with the monochrome layout.
pub(crate) fn is_mono_size(width: u32, height: u32) -> bool {
    (width, height) == (128, 64)
}

/// Opens the configured panel.
pub fn open(cfg: &DisplayConfig, lang: Language) -> Result<Box<dyn Panel>, DisplayError> {
    let missing = |key| DisplayError::MissingConfig { key, kind: cfg.kind };
    match cfg.kind {
        PanelKind::Simulator => {
            let sim = cfg.simulator.as_ref().ok_or_else(|| missing("display.simulator"))?;
            Ok(Box::new(SimulatorPanel::new(
                &sim.output_dir,
                sim.width,
                sim.height,
                lang,
            )?))
        }
        PanelKind::St7789 | PanelKind::Ili9341 => {
            let spi = cfg.spi.as_ref().ok_or_else(|| missing("display.spi"))?;
            spi::open(cfg.kind, spi, cfg.rotation, lang)
        }
        PanelKind::Ssd1306 => {
            let i2c = cfg.i2c.as_ref().ok_or_else(|| missing("display.i2c"))?;
            Ok(Box::new(Ssd1306Panel::open(i2c, cfg.rotation, lang)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_solid_clips_to_the_framebuffer() {
        let mut fb = Framebuffer::new(4, 3);
        fb.fill_solid(&Rectangle::new(Point::new(-2, 1), Size::new(4, 10)), Rgb565::WHITE)
            .expect("infallible");
        let white: Vec<Point> = fb
            .bounding_box()
            .points()
            .filter(|p| fb.pixel(*p) == Some(Rgb565::WHITE))
            .collect();
        assert_eq!(
            white,
            [Point::new(0, 1), Point::new(1, 1), Point::new(0, 2), Point::new(1, 2)]
        );
    }

    #[test]
    fn region_reads_the_window_row_by_row() {
        let mut fb = Framebuffer::new(3, 3);
        fb.draw_iter([
            Pixel(Point::new(1, 1), Rgb565::RED),
            Pixel(Point::new(2, 2), Rgb565::BLUE),
        ])
        .expect("infallible");
        let got: Vec<Rgb565> = fb.region(&Rectangle::new(Point::new(1, 1), Size::new(5, 5))).collect();
        assert_eq!(got, [Rgb565::RED, Rgb565::BLACK, Rgb565::BLACK, Rgb565::BLUE]);
    }

    fn config(kind: PanelKind) -> DisplayConfig {
        DisplayConfig {
            kind,
            rotation: 0,
            spi: None,
            i2c: None,
            simulator: None,
            idle_after_s: 15,
        }
    }

    #[test]
    fn opens_the_simulator_from_config_and_shows_frames() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = DisplayConfig {
            simulator: Some(crate::config::SimulatorConfig {
                output_dir: dir.path().to_path_buf(),
                width: 128,
                height: 64,
            }),
            ..config(PanelKind::Simulator)
        };
        let mut panel = open(&cfg, Language::It).expect("open simulator");
        panel
            .show(&Frame {
                screen: crate::ui::Screen::Idle,
                offline: false,
            })
            .expect("show");
        let png = image::open(dir.path().join("screen.png")).expect("screen.png decodes");
        assert_eq!((png.width(), png.height()), (128, 64));
    }

    #[test]
    fn a_missing_panel_table_is_named() {
        for (kind, key) in [
            (PanelKind::Simulator, "display.simulator"),
            (PanelKind::St7789, "display.spi"),
            (PanelKind::Ili9341, "display.spi"),
            (PanelKind::Ssd1306, "display.i2c"),
        ] {
            let err = open(&config(kind), Language::En).err().expect("must fail");
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn a_panel_that_cannot_be_opened_names_its_device() {
        let spi = crate::config::SpiPanelConfig {
            device: "/nonexistent/spidev9.9".into(),
            speed_hz: 40_000_000,
            dc: crate::config::PinConfig {
                chip: "none".into(),
                line: 25,
                active_low: false,
            },
            reset: None,
            backlight: None,
            width: 240,
            height: 320,
            invert_colors: true,
        };
        let err = open(
            &DisplayConfig {
                spi: Some(spi),
                ..config(PanelKind::St7789)
            },
            Language::It,
        )
        .err()
        .expect("no such SPI device");
        assert!(err.to_string().contains("/nonexistent/spidev9.9"), "{err}");

        let i2c = crate::config::I2cPanelConfig {
            device: "/nonexistent/i2c-9".into(),
            address: 0x3c,
        };
        let err = open(
            &DisplayConfig {
                i2c: Some(i2c.clone()),
                ..config(PanelKind::Ssd1306)
            },
            Language::It,
        )
        .err()
        .expect("no such I2C device");
        assert!(err.to_string().contains("/nonexistent/i2c-9"), "{err}");

        let err = open(
            &DisplayConfig {
                i2c: Some(i2c),
                rotation: 90,
                ..config(PanelKind::Ssd1306)
            },
            Language::It,
        )
        .err()
        .expect("portrait SSD1306 is refused");
        assert!(err.to_string().contains("rotation 90"), "{err}");
    }

    #[test]
    fn png_output_is_deterministic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let frame = Frame {
            screen: crate::ui::Screen::Idle,
            offline: true,
        };
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        render_png(&frame, Language::It, 240, 320, &a).expect("render a");
        render_png(&frame, Language::It, 240, 320, &b).expect("render b");
        assert_eq!(std::fs::read(&a).expect("read a"), std::fs::read(&b).expect("read b"));
    }
}
