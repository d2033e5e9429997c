//! Layout of the 128×64 monochrome screens (SSD1306): one line of name, a big price, then short lines. Inverted
//! boxes mark what colour marks on the big panels (offline, promotion, age limit).

use embedded_graphics::mono_font::iso_8859_15::{FONT_10X20, FONT_6X10, FONT_7X13_BOLD};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

use super::draw::{self, Align};
use super::text::{self, texts};
use super::{fit, Frame, Language, ProductView, Screen};

const ON: BinaryColor = BinaryColor::On;
const OFF: BinaryColor = BinaryColor::Off;
const SMALL: &MonoFont<'static> = &FONT_6X10;

/// Draws the whole monochrome screen.
pub(crate) fn render<D: DrawTarget<Color = BinaryColor>>(
    frame: &Frame,
    lang: Language,
    target: &mut D,
) -> Result<(), D::Error> {
    let area = target.bounding_box();
    target.fill_solid(&area, OFF)?;
    let t = texts(lang);
    // Top row: the offline marker takes the right corner, the rest is for the name or the title.
    let mut top = Rectangle::new(area.top_left, Size::new(area.size.width, draw::line_height(SMALL)));
    if frame.offline {
        let w = draw::text_width(SMALL, fit::columns(t.offline_short)) + 4;
        let x = area.top_left.x + area.size.width.saturating_sub(w) as i32;
        inverted(target, t.offline_short, Point::new(x, area.top_left.y), w)?;
        top.size.width = top.size.width.saturating_sub(w + 2);
    }
    let below = Rectangle::new(
        area.top_left + Point::new(0, top.size.height as i32 + 2),
        Size::new(area.size.width, area.size.height.saturating_sub(top.size.height + 2)),
    );
    match &frame.screen {
        Screen::Product(p) => product(target, top, below, lang, p),
        Screen::Checkout(view) => super::checkout::render_mono(target, top, below, lang, view),
        Screen::Idle => {
            draw::fitted_line(target, t.title, top, SMALL, ON, Align::Left)?;
            message(target, below, &[(t.idle_headline_short, &FONT_7X13_BOLD, 2)])
        }
        Screen::NotFound { code } => {
            draw::fitted_line(target, t.title, top, SMALL, ON, Align::Left)?;
            let items: [(&str, &MonoFont<'static>, usize); 3] = [
                (t.not_found_headline_short, &FONT_7X13_BOLD, 1),
                (code, SMALL, 1),
                (t.ask_staff, SMALL, 2),
            ];
            message(target, below, &items)
        }
        Screen::Invalid { reason } => {
            draw::fitted_line(target, t.title, top, SMALL, ON, Align::Left)?;
            let items: [(&str, &MonoFont<'static>, usize); 2] = [
                (t.invalid_headline, &FONT_7X13_BOLD, 1),
                (text::invalid_reason_short(lang, *reason), SMALL, 2),
            ];
            message(target, below, &items)
        }
        Screen::ScannerDisconnected => {
            draw::fitted_line(target, t.title, top, SMALL, ON, Align::Left)?;
            let items: [(&str, &MonoFont<'static>, usize); 2] = [
                (t.disconnected_headline_short, &FONT_7X13_BOLD, 2),
                (t.reconnecting, SMALL, 1),
            ];
            message(target, below, &items)
        }
        Screen::SalesPaused => {
            draw::fitted_line(target, t.title, top, SMALL, ON, Align::Left)?;
            let items: [(&str, &MonoFont<'static>, usize); 2] = [
                (t.idle_headline_short, &FONT_7X13_BOLD, 2),
                (t.sales_paused_short, SMALL, 1),
            ];
            message(target, below, &items)
        }
        Screen::OutOfOrder { message: text } => {
            draw::fitted_line(target, t.title, top, SMALL, ON, Align::Left)?;
            let items: [(&str, &MonoFont<'static>, usize); 2] = [
                (t.out_of_order_headline, &FONT_7X13_BOLD, 1),
                (text.as_deref().unwrap_or(t.ask_staff), SMALL, 2),
            ];
            message(target, below, &items)
        }
    }
}

/// A white box with black text, `width` wide.
fn inverted<D: DrawTarget<Color = BinaryColor>>(
    target: &mut D,
    s: &str,
    top_left: Point,
    width: u32,
) -> Result<(), D::Error> {
    let h = draw::line_height(SMALL);
    target.fill_solid(&Rectangle::new(top_left, Size::new(width, h)), ON)?;
    let area = Rectangle::new(top_left + Point::new(2, 0), Size::new(width.saturating_sub(4), h));
    draw::fitted_line(target, s, area, SMALL, OFF, Align::Left)?;
    Ok(())
}

/// Centred lines stacked in the middle of `area`: (text, font, max lines).
fn message<D: DrawTarget<Color = BinaryColor>>(
    target: &mut D,
    area: Rectangle,
    items: &[(&str, &MonoFont<'static>, usize)],
) -> Result<(), D::Error> {
    let wide = Rectangle::new(area.top_left, Size::new(area.size.width, u32::MAX / 2));
    let blocks: Vec<(Vec<String>, &MonoFont<'static>)> = items
        .iter()
        .map(|(s, f, n)| (draw::wrap_lines(s, wide, f, *n), *f))
        .collect();
    let height = |(lines, f): &(Vec<String>, &MonoFont<'static>)| lines.len() as u32 * draw::line_height(f);
    let gaps = 2 * blocks.len().saturating_sub(1) as u32;
    let total: u32 = blocks.iter().map(height).sum::<u32>() + gaps;
    let mut y = area.top_left.y + (area.size.height.saturating_sub(total) / 2) as i32;
    for block in &blocks {
        let (lines, font) = block;
        for l in lines {
            let row = Rectangle::new(
                Point::new(area.top_left.x, y),
                Size::new(area.size.width, draw::line_height(font)),
            );
            draw::fitted_line(target, l, row, font, ON, Align::Center)?;
            y += draw::line_height(font) as i32;
        }
        y += 2;
    }
    Ok(())
}

fn product<D: DrawTarget<Color = BinaryColor>>(
    target: &mut D,
    top: Rectangle,
    below: Rectangle,
    lang: Language,
    p: &ProductView,
) -> Result<(), D::Error> {
    let t = texts(lang);
    draw::fitted_line(target, &p.name, top, SMALL, ON, Align::Left)?;
    let x = below.top_left.x;
    let w = below.size.width;

    // Price: 10×20 when it fits, the small font otherwise; "per kg" beside it when there is room.
    let price = crate::money::format_eur(p.price_cents);
    let big = &FONT_10X20;
    let price_w = draw::text_width(big, fit::columns(&price));
    let price_row = Rectangle::new(below.top_left, Size::new(w, draw::line_height(big)));
    let mut unit_words = Vec::new();
    if price_w <= w {
        draw::line(target, &price, price_row.top_left, MonoTextStyle::new(big, ON))?;
        let suffix_w = draw::text_width(SMALL, fit::columns(t.per_kg));
        if p.per_kg && price_w + 4 + suffix_w <= w {
            let sy = price_row.top_left.y + (big.baseline - SMALL.baseline) as i32;
            draw::line(
                target,
                t.per_kg,
                Point::new(x + (price_w + 4) as i32, sy),
                MonoTextStyle::new(SMALL, ON),
            )?;
        } else if p.per_kg {
            unit_words.push(t.per_kg.to_string());
        }
    } else {
        draw::fitted_line(target, &price, price_row, SMALL, ON, Align::Left)?;
        if p.per_kg {
            unit_words.push(t.per_kg.to_string());
        }
    }
    if let Some(g) = p.weight_g {
        unit_words.push(text::weight(g));
    }

    // Two short rows: unit / promotion, then stock / age.
    let row_h = draw::line_height(SMALL);
    let unit_y = price_row.top_left.y + price_row.size.height as i32 + 1;
    let stock_y = unit_y + row_h as i32 + 1;
    let mut unit_w = w;
    if let Some(promo) = p.promotion.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        // The promotion may take what the unit words leave free (all of it when there are none).
        let unit = unit_words.join(" ");
        let unit_cols = if unit.is_empty() { 0 } else { fit::columns(&unit) + 1 };
        let cols = draw::columns_in(SMALL, w.saturating_sub(4))
            .saturating_sub(unit_cols)
            .max(5);
        let s = fit::ellipsize(&fit::sanitize(promo), cols);
        let bw = draw::text_width(SMALL, fit::columns(&s)) + 4;
        inverted(target, &s, Point::new(x + w.saturating_sub(bw) as i32, unit_y), bw)?;
        unit_w = w.saturating_sub(bw + 2);
    }
    if !unit_words.is_empty() {
        let r = Rectangle::new(Point::new(x, unit_y), Size::new(unit_w, row_h));
        draw::fitted_line(target, &unit_words.join(" "), r, SMALL, ON, Align::Left)?;
    }
    let mut stock_w = w;
    if let Some(age) = p.min_age.filter(|a| *a > 0) {
        let s = format!("{age}+");
        let bw = draw::text_width(SMALL, fit::columns(&s)) + 4;
        inverted(target, &s, Point::new(x + w.saturating_sub(bw) as i32, stock_y), bw)?;
        stock_w = w.saturating_sub(bw + 2);
    }
    if let Some(units) = p.stock {
        let r = Rectangle::new(Point::new(x, stock_y), Size::new(stock_w, row_h));
        draw::fitted_line(target, &text::stock(lang, units, true), r, SMALL, ON, Align::Left)?;
    }
    Ok(())
}
