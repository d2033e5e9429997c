//! Drawing primitives shared by the screens: the palette, text in a box (sanitised, measured, cut to fit),
//! text scaled up by an integer factor for the price, badges and the simple icons. Everything clips to the box
//! it is given; nothing here decides layout.

use embedded_graphics::mono_font::iso_8859_15::FONT_10X20;
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle, MonoTextStyleBuilder};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, CornerRadii, PrimitiveStyle, Rectangle, RoundedRectangle};
use embedded_graphics::text::{Baseline, Text};

use super::fit;

/// The retail palette: white page, dark text, one brand colour, red for promotions and errors, green for
/// stock, amber for "offline".
pub mod palette {
    use embedded_graphics::pixelcolor::Rgb565;

    const fn c(r: u8, g: u8, b: u8) -> Rgb565 {
        Rgb565::new(r >> 3, g >> 2, b >> 3)
    }

    /// Page background.
    pub const PAGE: Rgb565 = c(0xff, 0xff, 0xff);
    /// Body text.
    pub const INK: Rgb565 = c(0x1c, 0x1c, 0x1c);
    /// Secondary text (brand, labels, struck price).
    pub const MUTED: Rgb565 = c(0x5f, 0x63, 0x68);
    /// Header bar.
    pub const BRAND: Rgb565 = c(0x00, 0x4f, 0x9f);
    /// Text on the header bar.
    pub const ON_BRAND: Rgb565 = c(0xff, 0xff, 0xff);
    /// Promotion badge and promotional price.
    pub const PROMO: Rgb565 = c(0xd3, 0x11, 0x1d);
    /// In stock.
    pub const OK: Rgb565 = c(0x16, 0x7c, 0x36);
    /// Offline badge and "scanner disconnected".
    pub const WARN: Rgb565 = c(0xf2, 0xa1, 0x00);
    /// Text on the amber badge.
    pub const ON_WARN: Rgb565 = c(0x1c, 0x1c, 0x1c);
    /// Light panel behind the age notice.
    pub const ALERT_TINT: Rgb565 = c(0xfd, 0xe8, 0xe8);
    /// Thin separators.
    pub const RULE: Rgb565 = c(0xdd, 0xe1, 0xe6);
}

/// Width in pixels of `cols` characters of `font`.
pub fn text_width(font: &MonoFont<'_>, cols: usize) -> u32 {
    let step = font.character_size.width + font.character_spacing;
    (cols as u32)
        .saturating_mul(step)
        .saturating_sub(if cols > 0 { font.character_spacing } else { 0 })
}

/// How many characters of `font` fit in `width` pixels.
pub fn columns_in(font: &MonoFont<'_>, width: u32) -> usize {
    let step = font.character_size.width + font.character_spacing;
    ((width + font.character_spacing) / step.max(1)) as usize
}

/// Draws one line of already-fitted text with its top-left corner at `top_left`.
pub fn line<D: DrawTarget>(
    target: &mut D,
    text: &str,
    top_left: Point,
    style: MonoTextStyle<'_, D::Color>,
) -> Result<(), D::Error> {
    Text::with_baseline(text, top_left, style, Baseline::Top).draw(target)?;
    Ok(())
}

/// Horizontal placement of text inside its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Flush left.
    Left,
    /// Centred.
    Center,
}

/// Draws `text` sanitised, ellipsised to one line of `area`'s width, aligned in `area` (vertically at its top).
/// Returns the width drawn.
pub fn fitted_line<D: DrawTarget>(
    target: &mut D,
    text: &str,
    area: Rectangle,
    font: &MonoFont<'_>,
    color: D::Color,
    align: Align,
) -> Result<u32, D::Error> {
    let s = fit::ellipsize(&fit::sanitize(text), columns_in(font, area.size.width));
    let w = text_width(font, fit::columns(&s));
    let x = area.top_left.x + offset(area.size.width, w, align);
    line(
        target,
        &s,
        Point::new(x, area.top_left.y),
        MonoTextStyle::new(font, color),
    )?;
    Ok(w)
}

/// Like [`fitted_line`], but tries `fonts` in order (biggest first) and uses the first in which the whole text
/// fits; only the last one ellipsises. For lines that must be read whole (the age limit).
pub fn fitted_line_shrinking<D: DrawTarget>(
    target: &mut D,
    text: &str,
    area: Rectangle,
    fonts: &[&MonoFont<'_>],
    color: D::Color,
    align: Align,
) -> Result<u32, D::Error> {
    let cols = fit::columns(&fit::sanitize(text));
    let font = fonts
        .iter()
        .find(|f| text_width(f, cols) <= area.size.width)
        .or(fonts.last());
    match font {
        Some(f) => fitted_line(target, text, area, f, color, align),
        None => Ok(0),
    }
}

/// `text` sanitised and word-wrapped for `area`: at most as many lines as fit its height, and at most `max_lines`.
pub fn wrap_lines(text: &str, area: Rectangle, font: &MonoFont<'_>, max_lines: usize) -> Vec<String> {
    let fit_lines = (area.size.height / line_height(font)) as usize;
    fit::wrap(
        &fit::sanitize(text),
        columns_in(font, area.size.width),
        max_lines.min(fit_lines),
    )
}

/// Line pitch of `font` (glyph height: the ISO fonts already include leading).
pub fn line_height(font: &MonoFont<'_>) -> u32 {
    font.character_size.height
}

fn offset(avail: u32, used: u32, align: Align) -> i32 {
    match align {
        Align::Left => 0,
        Align::Center => (avail.saturating_sub(used) / 2) as i32,
    }
}

/// Text with a strike-through line (the regular price a promotion replaces).
pub fn struck<D: DrawTarget>(
    target: &mut D,
    text: &str,
    top_left: Point,
    font: &MonoFont<'_>,
    color: D::Color,
) -> Result<(), D::Error> {
    let style = MonoTextStyleBuilder::new()
        .font(font)
        .text_color(color)
        .strikethrough()
        .build();
    line(target, text, top_left, style)
}

/// How a badge looks.
pub struct BadgeStyle<'f, C> {
    /// Text font.
    pub font: &'f MonoFont<'f>,
    /// Badge colour.
    pub fill: C,
    /// Text colour.
    pub ink: C,
    /// Colour around the text, horizontally and vertically.
    pub pad: Size,
}

/// A rounded badge with `text` in it, cut to fit `max_width`. Returns the badge's rectangle.
pub fn badge<D: DrawTarget>(
    target: &mut D,
    text: &str,
    top_left: Point,
    max_width: u32,
    style: &BadgeStyle<'_, D::Color>,
) -> Result<Rectangle, D::Error> {
    let (font, pad) = (style.font, style.pad);
    let cols = columns_in(font, max_width.saturating_sub(2 * pad.width));
    let s = fit::ellipsize(&fit::sanitize(text), cols);
    if s.is_empty() {
        return Ok(Rectangle::new(top_left, Size::zero()));
    }
    let size = Size::new(
        text_width(font, fit::columns(&s)) + 2 * pad.width,
        line_height(font) + 2 * pad.height,
    );
    let rect = Rectangle::new(top_left, size);
    let radius = (size.height / 4).max(1);
    RoundedRectangle::new(rect, CornerRadii::new(Size::new_equal(radius)))
        .into_styled(PrimitiveStyle::with_fill(style.fill))
        .draw(target)?;
    let text_at = top_left + Point::new(pad.width as i32, pad.height as i32);
    line(target, &s, text_at, MonoTextStyle::new(font, style.ink))?;
    Ok(rect)
}

/// A filled disc with a one-character sign in it (`!`, `?`) in the 10×20 font, doubled on big discs.
pub fn sign_icon<D: DrawTarget>(
    target: &mut D,
    center: Point,
    diameter: u32,
    sign: char,
    fill: D::Color,
    ink: D::Color,
) -> Result<(), D::Error> {
    Circle::with_center(center, diameter)
        .into_styled(PrimitiveStyle::with_fill(fill))
        .draw(target)?;
    let font = &FONT_10X20;
    let scale = if diameter >= 48 { 2 } else { 1 };
    let glyph = font.character_size * scale;
    let top_left = center - Point::new(glyph.width as i32 / 2, glyph.height as i32 / 2);
    let mut buf = [0u8; 4];
    scaled_line(target, sign.encode_utf8(&mut buf), top_left, font, scale, ink)
}

/// A stylised barcode: the attract screen's picture of what to do.
pub fn barcode_icon<D: DrawTarget>(
    target: &mut D,
    center: Point,
    height: u32,
    ink: D::Color,
    laser: D::Color,
) -> Result<(), D::Error> {
    // Bar and gap widths of an EAN-like pattern; unit chosen so the picture is about 1.6× as wide as tall.
    const PATTERN: [u32; 29] = [
        1, 1, 1, 2, 3, 1, 1, 2, 2, 2, 1, 1, 4, 1, 1, 1, 1, 3, 2, 1, 1, 2, 3, 1, 2, 2, 1, 1, 1,
    ];
    let units: u32 = PATTERN.iter().sum();
    let unit = ((height * 16 / 10) / units).max(1);
    let width = units * unit;
    let mut x = center.x - width as i32 / 2;
    let top = center.y - height as i32 / 2;
    for (i, w) in PATTERN.iter().enumerate() {
        if i % 2 == 0 {
            target.fill_solid(&Rectangle::new(Point::new(x, top), Size::new(w * unit, height)), ink)?;
        }
        x += (w * unit) as i32;
    }
    let overhang = (unit * 4) as i32;
    target.fill_solid(
        &Rectangle::new(
            Point::new(center.x - width as i32 / 2 - overhang, center.y - 1),
            Size::new(width + 2 * overhang as u32, 3),
        ),
        laser,
    )
}

/// Draws `text` (already fitted) with each font pixel as a `scale`×`scale` square.
pub fn scaled_line<D: DrawTarget>(
    target: &mut D,
    text: &str,
    top_left: Point,
    font: &MonoFont<'_>,
    scale: u32,
    color: D::Color,
) -> Result<(), D::Error> {
    if scale <= 1 {
        return line(target, text, top_left, MonoTextStyle::new(font, color));
    }
    let mut scaled = Scaled {
        parent: target,
        origin: top_left,
        scale,
    };
    line(&mut scaled, text, Point::zero(), MonoTextStyle::new(font, color))
}

/// A draw target that magnifies: a pixel at `p` becomes a square at `origin + p × scale` on the parent.
struct Scaled<'a, D> {
    parent: &'a mut D,
    origin: Point,
    scale: u32,
}

impl<D: DrawTarget> Dimensions for Scaled<'_, D> {
    fn bounding_box(&self) -> Rectangle {
        let parent = self.parent.bounding_box();
        let s = self.scale as i32;
        Rectangle::new(
            (parent.top_left - self.origin) / s,
            parent.size / self.scale + Size::new(1, 1),
        )
    }
}

impl<D: DrawTarget> DrawTarget for Scaled<'_, D> {
    type Color = D::Color;
    type Error = D::Error;

    fn draw_iter<I: IntoIterator<Item = Pixel<D::Color>>>(&mut self, pixels: I) -> Result<(), D::Error> {
        let s = self.scale as i32;
        for Pixel(p, c) in pixels {
            self.parent
                .fill_solid(&Rectangle::new(self.origin + p * s, Size::new_equal(self.scale)), c)?;
        }
        Ok(())
    }

    fn fill_solid(&mut self, area: &Rectangle, color: D::Color) -> Result<(), D::Error> {
        let s = self.scale as i32;
        self.parent.fill_solid(
            &Rectangle::new(self.origin + area.top_left * s, area.size * self.scale),
            color,
        )
    }
}
