//! SPI colour panels (ST7789, ILI9341) through mipidsi over Linux spidev, DC/reset/backlight on gpio-cdev.
//!
//! Each frame is drawn into a [`Framebuffer`], compared with the frame on the glass, and only the changed row
//! bands are sent: a full 240×320 frame is ~20 ms on the wire at 60 MHz, a price change a fraction of it.
//! Transfers go through a 4096-byte buffer because spidev rejects longer ones by default.

use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal::digital::OutputPin;
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{Delay, SpidevDevice};
use mipidsi::interface::SpiInterface;
use mipidsi::models::{ILI9341Rgb565, Model, ST7789};
use mipidsi::options::{ColorInversion, Orientation, Rotation};
use mipidsi::Builder;

use crate::config::{Language, PanelKind, SpiPanelConfig};
use crate::gpio::{self, OutputLine};
use crate::ui::Frame;

use super::{DisplayError, Framebuffer, Panel};

/// Size of the SPI transfer buffer: the largest transfer Linux spidev accepts without a module parameter.
pub const SPI_BUFFER_BYTES: usize = 4096;

/// Unchanged rows between two changed bands that are still sent as one band: re-sending a short run of rows
/// costs less than the extra address-window commands (each a few DC toggles and small transfers).
const MERGE_GAP_ROWS: u32 = 2;

/// Rectangles that together cover every pixel where `next` differs from `prev` (the frame on the panel): bands
/// of consecutive changed rows, each as wide as its changed columns. Everything when nothing is known yet.
pub fn dirty_regions(prev: Option<&Framebuffer>, next: &Framebuffer) -> Vec<Rectangle> {
    let size = next.size();
    let prev = match prev {
        Some(p) if p.size() == size => p,
        _ => {
            return if size.width > 0 && size.height > 0 {
                vec![Rectangle::new(Point::zero(), size)]
            } else {
                vec![]
            }
        }
    };
    // (first row, last row, first column, last column), all inclusive.
    let mut bands: Vec<(u32, u32, u32, u32)> = Vec::new();
    for y in 0..size.height {
        let (a, b) = (prev.row(y), next.row(y));
        if a == b {
            continue;
        }
        let first = a.iter().zip(b).position(|(p, n)| p != n).unwrap_or(0) as u32;
        let last = a.iter().zip(b).rposition(|(p, n)| p != n).unwrap_or(0) as u32;
        match bands.last_mut() {
            Some(band) if y - band.1 <= MERGE_GAP_ROWS + 1 => {
                band.1 = y;
                band.2 = band.2.min(first);
                band.3 = band.3.max(last);
            }
            _ => bands.push((y, y, first, last)),
        }
    }
    bands
        .into_iter()
        .map(|(y0, y1, x0, x1)| Rectangle::new(Point::new(x0 as i32, y0 as i32), Size::new(x1 - x0 + 1, y1 - y0 + 1)))
        .collect()
}

type Interface = SpiInterface<'static, SpidevDevice, OutputLine>;

/// An ST7789 or ILI9341 panel.
pub struct SpiPanel<M: Model<ColorFormat = Rgb565>, RST: OutputPin> {
    device: String,
    display: mipidsi::Display<Interface, M, RST>,
    lang: Language,
    /// What is on the glass now; `None` when unknown (after init or a failed transfer).
    shown: Option<Framebuffer>,
    next: Framebuffer,
    /// Held so the line stays driven (releasing it lets the backlight float).
    _backlight: Option<OutputLine>,
}

/// Opens, resets and initialises the SPI panel described by `cfg`, then turns its backlight on.
pub(crate) fn open(
    kind: PanelKind,
    cfg: &SpiPanelConfig,
    rotation: u16,
    lang: Language,
) -> Result<Box<dyn Panel>, DisplayError> {
    let device = cfg.device.display().to_string();
    let err = |reason: String| DisplayError::Device {
        device: device.clone(),
        reason,
    };

    let mut spi = SpidevDevice::open(&cfg.device).map_err(|e| err(format!("cannot open: {e}")))?;
    let options = SpidevOptions::new()
        .bits_per_word(8)
        .max_speed_hz(cfg.speed_hz)
        .mode(SpiModeFlags::SPI_MODE_0)
        .build();
    spi.configure(&options)
        .map_err(|e| err(format!("cannot configure SPI mode 0 at {} Hz: {e}", cfg.speed_hz)))?;
    let dc = gpio::open_output(&cfg.dc).map_err(|e| err(format!("DC pin: {e}")))?;
    let reset = cfg
        .reset
        .as_ref()
        .map(gpio::open_output)
        .transpose()
        .map_err(|e| err(format!("reset pin: {e}")))?;
    let backlight = cfg
        .backlight
        .as_ref()
        .map(gpio::open_output)
        .transpose()
        .map_err(|e| err(format!("backlight pin: {e}")))?;
    let rotation = Rotation::try_from_degree(i32::from(rotation))
        .map_err(|_| err(format!("rotation {rotation} is not 0, 90, 180 or 270")))?;

    // mipidsi borrows its transfer buffer for the display's whole life, and the panel lives as long as the
    // daemon: one 4 KiB allocation per opened panel, never freed.
    let buffer: &'static mut [u8] = Box::leak(vec![0u8; SPI_BUFFER_BYTES].into_boxed_slice());
    let di = SpiInterface::new(spi, dc, buffer);
    let invert = if cfg.invert_colors {
        ColorInversion::Inverted
    } else {
        ColorInversion::Normal
    };
    let orientation = Orientation::new().rotate(rotation);
    let setup = Setup {
        device: device.clone(),
        size: (cfg.width, cfg.height),
        invert,
        orientation,
        lang,
        backlight,
    };
    match kind {
        PanelKind::Ili9341 => setup.init(Builder::new(ILI9341Rgb565, di), reset),
        _ => setup.init(Builder::new(ST7789, di), reset),
    }
}

/// What [`open`] has gathered before the model-specific init.
struct Setup {
    device: String,
    size: (u16, u16),
    invert: ColorInversion,
    orientation: Orientation,
    lang: Language,
    backlight: Option<OutputLine>,
}

impl Setup {
    fn init<M>(
        self,
        builder: Builder<Interface, M, mipidsi::NoResetPin>,
        reset: Option<OutputLine>,
    ) -> Result<Box<dyn Panel>, DisplayError>
    where
        M: Model<ColorFormat = Rgb565> + Send + 'static,
    {
        let builder = builder
            .display_size(self.size.0, self.size.1)
            .invert_colors(self.invert)
            .orientation(self.orientation);
        match reset {
            // Hardware reset when wired, otherwise mipidsi's software reset command.
            Some(pin) => self.finish(builder.reset_pin(pin)),
            None => self.finish(builder),
        }
    }

    fn finish<M, RST>(self, builder: Builder<Interface, M, RST>) -> Result<Box<dyn Panel>, DisplayError>
    where
        M: Model<ColorFormat = Rgb565> + Send + 'static,
        RST: OutputPin + Send + 'static,
        RST::Error: std::fmt::Debug,
    {
        let err = |reason: String| DisplayError::Device {
            device: self.device.clone(),
            reason,
        };
        let display = builder
            .init(&mut Delay)
            .map_err(|e| err(format!("panel init failed: {e:?}")))?;
        let mut backlight = self.backlight;
        if let Some(line) = backlight.as_mut() {
            line.set(true).map_err(|e| err(format!("backlight pin: {e}")))?;
        }
        let size = display.size();
        tracing::info!(device = %self.device, width = size.width, height = size.height, "SPI display ready");
        Ok(Box::new(SpiPanel {
            device: self.device,
            display,
            lang: self.lang,
            shown: None,
            next: Framebuffer::new(size.width, size.height),
            _backlight: backlight,
        }))
    }
}

impl<M, RST> Panel for SpiPanel<M, RST>
where
    M: Model<ColorFormat = Rgb565> + Send,
    RST: OutputPin + Send,
{
    fn show(&mut self, frame: &Frame) -> Result<(), DisplayError> {
        let Ok(()) = crate::ui::render(frame, self.lang, &mut self.next);
        let regions = dirty_regions(self.shown.as_ref(), &self.next);
        for r in &regions {
            if let Err(e) = self.display.fill_contiguous(r, self.next.region(r)) {
                // The glass now holds a mix of frames: repaint everything next time.
                self.shown = None;
                return Err(DisplayError::Device {
                    device: self.device.clone(),
                    reason: format!("SPI write: {e:?}"),
                });
            }
        }
        tracing::debug!(regions = regions.len(), "SPI display updated");
        match self.shown.as_mut() {
            Some(shown) => std::mem::swap(shown, &mut self.next),
            None => self.shown = Some(self.next.clone()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(w: u32, h: u32) -> Framebuffer {
        let mut fb = Framebuffer::new(w, h);
        fb.clear(Rgb565::WHITE).expect("infallible");
        fb
    }

    fn paint(fb: &mut Framebuffer, x: i32, y: i32, w: u32, h: u32) {
        fb.fill_solid(&Rectangle::new(Point::new(x, y), Size::new(w, h)), Rgb565::RED)
            .expect("infallible");
    }

    fn covered(regions: &[Rectangle], p: Point) -> bool {
        regions.iter().any(|r| r.contains(p))
    }

    #[test]
    fn first_frame_is_sent_whole() {
        let next = fb(240, 320);
        assert_eq!(
            dirty_regions(None, &next),
            [Rectangle::new(Point::zero(), Size::new(240, 320))]
        );
    }

    #[test]
    fn a_frame_of_another_size_is_sent_whole() {
        assert_eq!(dirty_regions(Some(&fb(320, 240)), &fb(240, 320)).len(), 1);
        assert_eq!(
            dirty_regions(Some(&fb(320, 240)), &fb(240, 320))[0].size,
            Size::new(240, 320)
        );
    }

    #[test]
    fn an_unchanged_frame_sends_nothing() {
        assert!(dirty_regions(Some(&fb(240, 320)), &fb(240, 320)).is_empty());
    }

    #[test]
    fn one_changed_pixel_sends_one_pixel() {
        let prev = fb(240, 320);
        let mut next = prev.clone();
        paint(&mut next, 17, 200, 1, 1);
        assert_eq!(
            dirty_regions(Some(&prev), &next),
            [Rectangle::new(Point::new(17, 200), Size::new(1, 1))]
        );
    }

    #[test]
    fn distant_changes_are_separate_bands_and_near_ones_merge() {
        let prev = fb(240, 320);
        let mut next = prev.clone();
        paint(&mut next, 10, 40, 20, 10); // rows 40..=49
        paint(&mut next, 100, 52, 5, 3); // rows 52..=54: a gap of 2 rows, merged
        paint(&mut next, 50, 150, 30, 40); // far below: its own band
        let regions = dirty_regions(Some(&prev), &next);
        assert_eq!(
            regions,
            [
                Rectangle::new(Point::new(10, 40), Size::new(95, 15)),
                Rectangle::new(Point::new(50, 150), Size::new(30, 40)),
            ]
        );
    }

    #[test]
    fn regions_cover_every_changed_pixel_and_stay_inside_the_screen() {
        let prev = fb(64, 48);
        let mut next = prev.clone();
        for (i, (x, y)) in [(0, 0), (63, 0), (5, 20), (40, 21), (63, 47), (0, 47), (30, 30)]
            .into_iter()
            .enumerate()
        {
            next.draw_iter([Pixel(Point::new(x, y), Rgb565::new(i as u8, 0, 0))])
                .expect("infallible");
        }
        let regions = dirty_regions(Some(&prev), &next);
        let screen = next.bounding_box();
        for r in &regions {
            assert_eq!(r.intersection(&screen), *r, "{r:?} leaves the screen");
        }
        for p in screen.points() {
            if prev.pixel(p) != next.pixel(p) {
                assert!(covered(&regions, p), "{p:?} changed but is not sent");
            }
        }
    }

    #[test]
    fn a_price_change_sends_far_less_than_a_frame() {
        use crate::ui::{render, Frame, ProductView, Screen};
        let view = |cents| ProductView {
            name: "Caffè macinato 250 g".into(),
            brand: "Lavazza".into(),
            price_cents: cents,
            per_kg: false,
            weight_g: None,
            regular_price_cents: None,
            promotion: None,
            stock: Some(4),
            min_age: None,
        };
        let mut a = Framebuffer::new(240, 320);
        let mut b = Framebuffer::new(240, 320);
        let Ok(()) = render(
            &Frame {
                screen: Screen::Product(view(399)),
                offline: false,
            },
            Language::It,
            &mut a,
        );
        let Ok(()) = render(
            &Frame {
                screen: Screen::Product(view(349)),
                offline: false,
            },
            Language::It,
            &mut b,
        );
        let sent: u32 = dirty_regions(Some(&a), &b)
            .iter()
            .map(|r| r.size.width * r.size.height)
            .sum();
        assert!(
            sent > 0 && sent < 240 * 320 / 8,
            "sent {sent} pixels for a price change"
        );
    }
}
