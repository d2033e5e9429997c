//! Layout of the colour screens (RGB565, portrait 240×320 first, landscape 320×240 and anything from 128×128).
//! The product screen reads top-down in the order a shopper asks (what is it, what does it cost, is there a
//! deal): brand, name, promotion, then the price as big as the width allows; stock and the age limit sit at
//! the bottom edge. The message screens stack an icon and centred text in the middle.

use embedded_graphics::mono_font::iso_8859_15::{
    FONT_10X20, FONT_6X10, FONT_6X13_BOLD, FONT_7X13, FONT_7X13_BOLD, FONT_8X13, FONT_8X13_BOLD, FONT_9X15_BOLD,
    FONT_9X18_BOLD,
};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, PrimitiveStyle, Rectangle};

use super::draw::{self, palette, Align};
use super::text::{self, texts};
use super::{fit, ErrorClass, Frame, Language, ProductView, Screen};

/// Sizes and fonts for one display size.
pub(crate) struct Metrics {
    pub(crate) margin: u32,
    header_h: u32,
    header_font: &'static MonoFont<'static>,
    offline_font: &'static MonoFont<'static>,
    brand_font: &'static MonoFont<'static>,
    name_font: &'static MonoFont<'static>,
    name_lines: usize,
    pub(crate) body_font: &'static MonoFont<'static>,
    pub(crate) body_bold_font: &'static MonoFont<'static>,
    pub(crate) headline_font: &'static MonoFont<'static>,
    code_font: &'static MonoFont<'static>,
    /// Largest magnification of the 10×20 font for the price.
    price_scale: u32,
    pub(crate) icon: u32,
    pub(crate) gap: u32,
}

impl Metrics {
    pub(crate) fn for_size(size: Size) -> Metrics {
        let roomy = size.width >= 200 && size.height >= 200;
        if roomy {
            Metrics {
                margin: 10,
                header_h: 30,
                header_font: &FONT_8X13_BOLD,
                offline_font: &FONT_6X13_BOLD,
                brand_font: &FONT_8X13,
                name_font: &FONT_9X18_BOLD,
                // Landscape trades a name line for the room the price block needs.
                name_lines: if size.height >= 300 { 3 } else { 2 },
                body_font: &FONT_8X13,
                body_bold_font: &FONT_8X13_BOLD,
                headline_font: &FONT_10X20,
                code_font: &FONT_9X15_BOLD,
                price_scale: if size.height >= 300 { 3 } else { 2 },
                icon: if size.height >= 300 { 64 } else { 52 },
                gap: 8,
            }
        } else {
            Metrics {
                margin: 4,
                header_h: 16,
                header_font: &FONT_6X10,
                offline_font: &FONT_6X10,
                brand_font: &FONT_6X10,
                name_font: &FONT_7X13_BOLD,
                name_lines: 2,
                body_font: &FONT_6X10,
                body_bold_font: &FONT_6X10,
                headline_font: &FONT_7X13_BOLD,
                code_font: &FONT_7X13,
                price_scale: 1,
                icon: 28,
                gap: 3,
            }
        }
    }
}

/// Draws the whole colour screen.
pub(crate) fn render<D: DrawTarget<Color = Rgb565>>(
    frame: &Frame,
    lang: Language,
    target: &mut D,
) -> Result<(), D::Error> {
    let area = target.bounding_box();
    target.fill_solid(&area, palette::PAGE)?;
    let m = Metrics::for_size(area.size);
    let title = match frame.screen {
        Screen::Checkout(_) => text::checkout_texts(lang).title,
        _ => texts(lang).title,
    };
    header(target, area, &m, lang, title, frame.offline)?;
    let content = content_area(area, &m);
    match &frame.screen {
        Screen::Product(p) => product(target, content, &m, lang, p),
        Screen::Idle => idle(target, content, &m, lang, false),
        Screen::NotFound { code } => not_found(target, content, &m, lang, code),
        Screen::Invalid { reason } => invalid(target, content, &m, lang, *reason),
        Screen::ScannerDisconnected => disconnected(target, content, &m, lang),
        Screen::SalesPaused => idle(target, content, &m, lang, true),
        Screen::OutOfOrder { message } => out_of_order(target, content, &m, lang, message.as_deref()),
        Screen::Checkout(view) => super::checkout::render(target, content, &m, lang, view),
    }
}

/// The screen below the header bar.
pub(crate) fn content_area(area: Rectangle, m: &Metrics) -> Rectangle {
    Rectangle::new(
        area.top_left + Point::new(0, m.header_h as i32),
        Size::new(area.size.width, area.size.height.saturating_sub(m.header_h)),
    )
}

fn header<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    area: Rectangle,
    m: &Metrics,
    lang: Language,
    title_text: &str,
    offline: bool,
) -> Result<(), D::Error> {
    let t = texts(lang);
    let bar = Rectangle::new(area.top_left, Size::new(area.size.width, m.header_h));
    target.fill_solid(&bar, palette::BRAND)?;
    let inner_w = area.size.width.saturating_sub(2 * m.margin);
    let mut title_w = inner_w;
    if offline {
        let font = m.offline_font;
        let pad = Size::new(
            m.gap / 2 + 1,
            (m.header_h.saturating_sub(draw::line_height(font)) / 2).min(4) / 2,
        );
        let badge_h = draw::line_height(font) + 2 * pad.height;
        let badge_w = draw::text_width(font, fit::columns(t.offline)) + 2 * pad.width;
        let x = area.top_left.x + (area.size.width.saturating_sub(m.margin + badge_w)) as i32;
        let y = area.top_left.y + (m.header_h.saturating_sub(badge_h) / 2) as i32;
        let style = draw::BadgeStyle {
            font,
            fill: palette::WARN,
            ink: palette::ON_WARN,
            pad,
        };
        let r = draw::badge(target, t.offline, Point::new(x, y), inner_w, &style)?;
        title_w = inner_w.saturating_sub(r.size.width + m.gap);
    }
    let font = m.header_font;
    let y = area.top_left.y + (m.header_h.saturating_sub(draw::line_height(font)) / 2) as i32;
    let title = Rectangle::new(
        Point::new(area.top_left.x + m.margin as i32, y),
        Size::new(title_w, m.header_h),
    );
    draw::fitted_line(target, title_text, title, font, palette::ON_BRAND, Align::Left)?;
    Ok(())
}

/// What the product screen has to show, decided before anything is placed.
pub(crate) struct Needs {
    name_lines: usize,
    pub(crate) promo: bool,
    pub(crate) price_height: u32,
    pub(crate) unit: bool,
    pub(crate) stock: bool,
    pub(crate) age: bool,
}

/// Where the parts of the product screen go: brand, name, promotion, price and unit flow down from the header;
/// stock and age sit at the bottom edge, under a thin rule. A part is `None` when absent or when the screen has
/// no room left for it (small panels).
pub(crate) struct ProductLayout {
    pub(crate) brand: Rectangle,
    pub(crate) name: Rectangle,
    pub(crate) promo: Option<Rectangle>,
    pub(crate) price: Rectangle,
    pub(crate) unit: Option<Rectangle>,
    pub(crate) rule: Option<Rectangle>,
    pub(crate) stock: Option<Rectangle>,
    pub(crate) age: Option<Rectangle>,
}

pub(crate) fn product_layout(content: Rectangle, m: &Metrics, needs: &Needs) -> ProductLayout {
    let x = content.top_left.x + m.margin as i32;
    let w = content.size.width.saturating_sub(2 * m.margin);
    let mut y = content.top_left.y + m.gap as i32;
    let mut row = |h: u32, gap_after: u32| {
        let r = Rectangle::new(Point::new(x, y), Size::new(w, h));
        y += (h + gap_after) as i32;
        r
    };
    let brand = row(draw::line_height(m.brand_font), m.gap / 4);
    let name = row(
        draw::line_height(m.name_font) * needs.name_lines as u32,
        m.gap + m.gap / 2,
    );
    let promo = needs
        .promo
        .then(|| row(draw::line_height(m.body_bold_font) + 6, m.gap / 2));
    let price = row(needs.price_height, m.gap / 2);
    let unit = needs.unit.then(|| row(draw::line_height(m.body_bold_font), m.gap));
    let top_end = y;

    // Footer, from the bottom edge up; a line that would run into the price block is left out.
    let line_h = draw::line_height(m.body_bold_font);
    let mut bottom = content.top_left.y + content.size.height as i32 - m.margin as i32;
    let mut from_bottom = |h: u32| {
        let top = bottom - h as i32;
        (top >= top_end).then(|| {
            bottom = top - m.gap as i32;
            Rectangle::new(Point::new(x, top), Size::new(w, h))
        })
    };
    let age = if needs.age { from_bottom(line_h + m.gap) } else { None };
    let stock = if needs.stock { from_bottom(line_h) } else { None };
    let rule = if age.is_some() || stock.is_some() {
        from_bottom(1)
    } else {
        None
    };
    ProductLayout {
        brand,
        name,
        promo,
        price,
        unit,
        rule,
        stock,
        age,
    }
}

/// The price as drawn: the biggest font and scale that fit the width.
struct PriceFit {
    text: String,
    font: &'static MonoFont<'static>,
    scale: u32,
    /// "per kg" fits on the price's line.
    suffix_beside: bool,
}

fn fit_price(cents: i64, per_kg_suffix: Option<&str>, width: u32, m: &Metrics) -> PriceFit {
    let text = crate::money::format_eur(cents);
    let cols = fit::columns(&text);
    let mut candidates: Vec<(&'static MonoFont<'static>, u32)> =
        (1..=m.price_scale).rev().map(|s| (&FONT_10X20, s)).collect();
    candidates.extend([(&FONT_8X13_BOLD, 1), (&FONT_6X10, 1)]);
    let wide = |(f, s): &(&MonoFont<'static>, u32)| draw::text_width(f, cols) * s;
    let Some(&(font, scale)) = candidates.iter().find(|c| wide(c) <= width) else {
        // Only absurd amounts on tiny panels get here: cut rather than overflow.
        let font = &FONT_6X10;
        return PriceFit {
            text: fit::ellipsize(&text, draw::columns_in(font, width)),
            font,
            scale: 1,
            suffix_beside: false,
        };
    };
    let suffix_beside = per_kg_suffix
        .is_some_and(|s| wide(&(font, scale)) + m.gap + draw::text_width(m.body_bold_font, fit::columns(s)) <= width);
    PriceFit {
        text,
        font,
        scale,
        suffix_beside,
    }
}

/// Everything the product screen draws, measured and placed.
pub(crate) struct ProductPlan<'a> {
    pub(crate) layout: ProductLayout,
    name_lines: Vec<String>,
    price: PriceFit,
    unit_words: Vec<String>,
    promotion: Option<&'a str>,
    promo: bool,
}

pub(crate) fn plan_product<'a>(content: Rectangle, m: &Metrics, lang: Language, p: &'a ProductView) -> ProductPlan<'a> {
    let t = texts(lang);
    let width = content.size.width.saturating_sub(2 * m.margin);
    let promotion = p.promotion.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let price = fit_price(p.price_cents, p.per_kg.then_some(t.per_kg), width, m);
    let mut unit_words = Vec::new();
    if p.per_kg && !price.suffix_beside {
        unit_words.push(t.per_kg.to_string());
    }
    if let Some(g) = p.weight_g {
        unit_words.push(format!("{} {}", t.weight_label, text::weight(g)));
    }
    let name_box = Rectangle::new(content.top_left, Size::new(width, u32::MAX / 2));
    let name_lines = draw::wrap_lines(&p.name, name_box, m.name_font, m.name_lines);
    let promo = promotion.is_some() || p.regular_price_cents.is_some();
    let needs = Needs {
        name_lines: name_lines.len().max(1),
        promo,
        price_height: draw::line_height(price.font) * price.scale,
        unit: !unit_words.is_empty(),
        stock: p.stock.is_some(),
        age: p.min_age.is_some_and(|a| a > 0),
    };
    let layout = product_layout(content, m, &needs);
    ProductPlan {
        layout,
        name_lines,
        price,
        unit_words,
        promotion,
        promo,
    }
}

fn product<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    content: Rectangle,
    m: &Metrics,
    lang: Language,
    p: &ProductView,
) -> Result<(), D::Error> {
    let t = texts(lang);
    let plan = plan_product(content, m, lang, p);
    let (l, price, name_lines, unit_words, promotion) = (
        &plan.layout,
        &plan.price,
        &plan.name_lines,
        &plan.unit_words,
        plan.promotion,
    );

    draw::fitted_line(target, &p.brand, l.brand, m.brand_font, palette::MUTED, Align::Left)?;
    let name_style = MonoTextStyle::new(m.name_font, palette::INK);
    for (i, line) in name_lines.iter().enumerate() {
        let y = l.name.top_left.y + (i as u32 * draw::line_height(m.name_font)) as i32;
        draw::line(target, line, Point::new(l.name.top_left.x, y), name_style)?;
    }

    // Promotion row: red badge, then the regular price struck through.
    if let Some(row) = l.promo {
        let mut x = row.top_left.x;
        let right = row.top_left.x + row.size.width as i32;
        let regular = p.regular_price_cents.map(crate::money::format_eur);
        let label_w = draw::text_width(m.body_font, fit::columns(t.regular_price_label) + 1);
        let regular_w = regular
            .as_ref()
            .map_or(0, |r| label_w + draw::text_width(m.body_font, fit::columns(r)));
        if let Some(promo) = promotion {
            let max_w = row
                .size
                .width
                .saturating_sub(if regular_w > 0 { regular_w + m.gap } else { 0 });
            let style = draw::BadgeStyle {
                font: m.body_bold_font,
                fill: palette::PROMO,
                ink: palette::PAGE,
                pad: Size::new(5, 3),
            };
            let r = draw::badge(target, promo, row.top_left, max_w, &style)?;
            x += (r.size.width + m.gap) as i32;
        }
        if let Some(regular) = regular.filter(|_| x + regular_w as i32 <= right) {
            let y = row.top_left.y + 3;
            let style = MonoTextStyle::new(m.body_font, palette::MUTED);
            draw::line(target, t.regular_price_label, Point::new(x, y), style)?;
            draw::struck(
                target,
                &regular,
                Point::new(x + label_w as i32, y),
                m.body_font,
                palette::MUTED,
            )?;
        }
    }

    // The price: as big as fits, red when a promotion sets it.
    let color = if plan.promo { palette::PROMO } else { palette::INK };
    let top = l.price.top_left;
    draw::scaled_line(target, &price.text, top, price.font, price.scale, color)?;
    if p.per_kg && price.suffix_beside {
        let (f, s, bf) = (price.font, price.scale, m.body_bold_font);
        let sx = top.x + (draw::text_width(f, fit::columns(&price.text)) * s + m.gap) as i32;
        // Sit on the price's baseline.
        let sy = top.y + ((f.baseline + 1) * s) as i32 - (bf.baseline + 1) as i32;
        draw::line(
            target,
            t.per_kg,
            Point::new(sx, sy),
            MonoTextStyle::new(bf, palette::INK),
        )?;
    }
    if let Some(r) = l.unit {
        let fonts = [m.body_bold_font, &FONT_7X13_BOLD, &FONT_6X10];
        draw::fitted_line_shrinking(target, &unit_words.join("  "), r, &fonts, palette::INK, Align::Left)?;
    }

    if let Some(r) = l.rule {
        target.fill_solid(&r, palette::RULE)?;
    }
    if let (Some(units), Some(r)) = (p.stock, l.stock) {
        let (words, color) = (
            text::stock(lang, units, false),
            if units > 0 { palette::OK } else { palette::PROMO },
        );
        let dot = draw::line_height(m.body_bold_font) / 2 + 1;
        let center = r.top_left + Point::new(dot as i32 / 2, r.size.height as i32 / 2);
        Circle::with_center(center, dot)
            .into_styled(PrimitiveStyle::with_fill(color))
            .draw(target)?;
        let text_area = Rectangle::new(
            r.top_left + Point::new((dot + m.gap / 2) as i32, 0),
            Size::new(r.size.width.saturating_sub(dot + m.gap / 2), r.size.height),
        );
        let fonts = [m.body_bold_font, &FONT_7X13_BOLD, &FONT_6X13_BOLD, &FONT_6X10];
        draw::fitted_line_shrinking(target, &words, text_area, &fonts, color, Align::Left)?;
    }
    if let (Some(age), Some(r)) = (p.min_age.filter(|a| *a > 0), l.age) {
        target.fill_solid(&r, palette::ALERT_TINT)?;
        target.fill_solid(&Rectangle::new(r.top_left, Size::new(3, r.size.height)), palette::PROMO)?;
        let inner = Rectangle::new(
            r.top_left + Point::new(m.gap as i32, (m.gap / 2) as i32),
            Size::new(r.size.width.saturating_sub(m.gap + m.gap / 2), r.size.height),
        );
        let fonts = [m.body_bold_font, &FONT_7X13_BOLD, &FONT_6X13_BOLD, &FONT_6X10];
        draw::fitted_line_shrinking(
            target,
            &text::age(lang, age),
            inner,
            &fonts,
            palette::PROMO,
            Align::Left,
        )?;
    }
    Ok(())
}

/// One item of a centred message stack.
enum Item {
    Picture(Picture),
    Lines {
        lines: Vec<String>,
        font: &'static MonoFont<'static>,
        color: Rgb565,
    },
    Gap(u32),
}

#[derive(Clone, Copy)]
enum Picture {
    Barcode,
    Sign { sign: char, fill: Rgb565, ink: Rgb565 },
}

/// Wrapped lines of `s` for a message stack inside `content`.
fn lines(
    s: &str,
    content: Rectangle,
    m: &Metrics,
    font: &'static MonoFont<'static>,
    color: Rgb565,
    max: usize,
) -> Item {
    let w = content.size.width.saturating_sub(2 * m.margin);
    let area = Rectangle::new(content.top_left, Size::new(w, u32::MAX / 2));
    Item::Lines {
        lines: draw::wrap_lines(s, area, font, max),
        font,
        color,
    }
}

fn stack<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    content: Rectangle,
    m: &Metrics,
    items: &[Item],
) -> Result<(), D::Error> {
    let height = |it: &Item| match it {
        Item::Picture(_) => m.icon,
        Item::Lines { lines, font, .. } => draw::line_height(font) * lines.len() as u32,
        Item::Gap(g) => *g,
    };
    let total: u32 = items.iter().map(height).sum();
    let mut y = content.top_left.y + (content.size.height.saturating_sub(total) / 2) as i32;
    let cx = content.top_left.x + (content.size.width / 2) as i32;
    for it in items {
        let h = height(it);
        match it {
            Item::Picture(Picture::Barcode) => draw::barcode_icon(
                target,
                Point::new(cx, y + h as i32 / 2),
                h,
                palette::INK,
                palette::PROMO,
            )?,
            Item::Picture(Picture::Sign { sign, fill, ink }) => {
                draw::sign_icon(target, Point::new(cx, y + h as i32 / 2), h, *sign, *fill, *ink)?
            }
            Item::Lines { lines, font, color } => {
                let area = Rectangle::new(
                    Point::new(content.top_left.x + m.margin as i32, y),
                    Size::new(content.size.width.saturating_sub(2 * m.margin), h),
                );
                for (i, l) in lines.iter().enumerate() {
                    let lh = draw::line_height(font);
                    let row = Rectangle::new(
                        area.top_left + Point::new(0, (i as u32 * lh) as i32),
                        Size::new(area.size.width, lh),
                    );
                    draw::fitted_line(target, l, row, font, *color, Align::Center)?;
                }
            }
            Item::Gap(_) => {}
        }
        y += h as i32;
    }
    Ok(())
}

/// The attract screen; with payments paused its second line says why (price checks still work).
fn idle<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    c: Rectangle,
    m: &Metrics,
    lang: Language,
    payments_paused: bool,
) -> Result<(), D::Error> {
    let t = texts(lang);
    let second = if payments_paused {
        lines(t.sales_paused, c, m, m.body_font, palette::INK, 4)
    } else {
        lines(t.idle_hint, c, m, m.body_font, palette::MUTED, 3)
    };
    let items = [
        Item::Picture(Picture::Barcode),
        Item::Gap(m.gap * 2),
        lines(t.idle_headline, c, m, m.headline_font, palette::INK, 2),
        Item::Gap(m.gap),
        second,
    ];
    stack(target, c, m, &items)
}

/// The layout every message screen shares: a round sign, a headline, a detail, and a muted hint.
fn notice<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    c: Rectangle,
    m: &Metrics,
    (sign, fill, ink): (char, Rgb565, Rgb565),
    headline: &str,
    detail: Item,
    hint: &str,
) -> Result<(), D::Error> {
    let items = [
        Item::Picture(Picture::Sign { sign, fill, ink }),
        Item::Gap(m.gap * 2),
        lines(headline, c, m, m.headline_font, palette::INK, 2),
        Item::Gap(m.gap),
        detail,
        Item::Gap(m.gap * 2),
        lines(hint, c, m, m.body_font, palette::MUTED, 2),
    ];
    stack(target, c, m, &items)
}

fn out_of_order<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    c: Rectangle,
    m: &Metrics,
    lang: Language,
    message: Option<&str>,
) -> Result<(), D::Error> {
    let t = texts(lang);
    let detail = lines(message.unwrap_or(""), c, m, m.body_font, palette::INK, 3);
    notice(
        target,
        c,
        m,
        ('!', palette::WARN, palette::ON_WARN),
        t.out_of_order_headline,
        detail,
        t.ask_staff,
    )
}

fn not_found<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    c: Rectangle,
    m: &Metrics,
    lang: Language,
    code: &str,
) -> Result<(), D::Error> {
    let t = texts(lang);
    let detail = lines(code, c, m, m.code_font, palette::INK, 2);
    notice(
        target,
        c,
        m,
        ('?', palette::BRAND, palette::PAGE),
        t.not_found_headline,
        detail,
        t.ask_staff,
    )
}

fn invalid<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    c: Rectangle,
    m: &Metrics,
    lang: Language,
    reason: ErrorClass,
) -> Result<(), D::Error> {
    let t = texts(lang);
    let detail = lines(text::invalid_reason(lang, reason), c, m, m.body_font, palette::INK, 3);
    notice(
        target,
        c,
        m,
        ('!', palette::PROMO, palette::PAGE),
        t.invalid_headline,
        detail,
        t.invalid_hint,
    )
}

fn disconnected<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    c: Rectangle,
    m: &Metrics,
    lang: Language,
) -> Result<(), D::Error> {
    let t = texts(lang);
    let detail = lines(t.reconnecting, c, m, m.body_font, palette::MUTED, 2);
    notice(
        target,
        c,
        m,
        ('!', palette::WARN, palette::ON_WARN),
        t.disconnected_headline,
        detail,
        t.ask_staff,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::Framebuffer;
    use proptest::prelude::*;

    const SIZES: [(u32, u32); 4] = [(240, 320), (320, 240), (128, 128), (480, 320)];

    fn view(name: &str) -> ProductView {
        ProductView {
            name: name.into(),
            brand: String::new(),
            price_cents: 199,
            per_kg: false,
            weight_g: None,
            regular_price_cents: None,
            promotion: None,
            stock: None,
            min_age: None,
        }
    }

    fn draw(view: &ProductView, lang: Language, (w, h): (u32, u32)) -> Framebuffer {
        let mut fb = Framebuffer::new(w, h);
        let frame = Frame {
            screen: Screen::Product(view.clone()),
            offline: false,
        };
        let Ok(()) = render(&frame, lang, &mut fb);
        fb
    }

    /// Points that are not page background outside every rectangle in `allowed`, below the header.
    fn strays(fb: &Framebuffer, allowed: &[Rectangle]) -> Vec<Point> {
        let m = Metrics::for_size(fb.size());
        let content = content_area(fb.bounding_box(), &m);
        content
            .points()
            .filter(|p| fb.pixel(*p) != Some(palette::PAGE) && !allowed.iter().any(|r| r.contains(*p)))
            .collect()
    }

    #[test]
    fn a_very_long_name_never_draws_outside_its_box() {
        let name = "Confezione risparmio famiglia di biscotti frollini integrali con gocce di cioccolato \
                    fondente extra e granella di nocciole tostate del Piemonte IGP \
                    Supercalifragilistichespiralidosissimamentebuonissimi";
        let p = view(name);
        for size in SIZES {
            for lang in [Language::It, Language::En] {
                let fb = draw(&p, lang, size);
                let m = Metrics::for_size(fb.size());
                let content = content_area(fb.bounding_box(), &m);
                let plan = plan_product(content, &m, lang, &p);
                let (name_box, price_box) = (plan.layout.name, plan.layout.price);
                assert_eq!(
                    name_box.size.height,
                    m.name_lines as u32 * draw::line_height(m.name_font),
                    "{size:?}"
                );
                assert!(
                    content.contains(name_box.bottom_right().expect("non-empty")),
                    "{size:?}"
                );
                let stray = strays(&fb, &[name_box, price_box]);
                assert!(
                    stray.is_empty(),
                    "{size:?} {lang:?}: drawn outside the name box at {:?}",
                    &stray[..1]
                );
                let inked = name_box
                    .points()
                    .filter(|q| fb.pixel(*q) != Some(palette::PAGE))
                    .count();
                assert!(inked > 0, "{size:?}: the name is drawn");
            }
        }
    }

    #[test]
    fn the_price_is_big_on_the_main_panel() {
        let fb_plan = |cents| {
            let p = ProductView {
                price_cents: cents,
                ..view("Latte")
            };
            let m = Metrics::for_size(Size::new(240, 320));
            let content = content_area(Rectangle::new(Point::zero(), Size::new(240, 320)), &m);
            let plan = plan_product(content, &m, Language::It, &p);
            (
                plan.price.font.character_size.height * plan.price.scale,
                plan.price.text,
            )
        };
        assert_eq!(fb_plan(199), (60, "€ 1,99".to_string()));
        // Longer amounts shrink rather than overflow.
        assert_eq!(fb_plan(123_456), (40, "€ 1.234,56".to_string()));
        assert_eq!(fb_plan(i64::MAX).1, "€ 92.233.720.368.547.758,07");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn any_product_renders_without_panicking_and_keeps_the_name_in_its_box(
            name in "\\PC{0,200}",
            brand in "\\PC{0,80}",
            promotion in proptest::option::of("\\PC{0,40}"),
            price_cents in any::<i64>(),
            regular in proptest::option::of(any::<i64>()),
            per_kg in any::<bool>(),
            weight_g in proptest::option::of(any::<u32>()),
            stock in proptest::option::of(any::<i64>()),
            min_age in proptest::option::of(any::<u8>()),
            size in proptest::sample::select(SIZES.to_vec()),
        ) {
            let p = ProductView {
                name, brand, price_cents, per_kg, weight_g, regular_price_cents: regular, promotion, stock, min_age,
            };
            // Whatever the content, drawing it must not panic.
            draw(&p, Language::It, size);
            let name_only = ProductView { name: p.name.clone(), ..view("") };
            let fb_name = draw(&name_only, Language::En, size);
            let m = Metrics::for_size(fb_name.size());
            let content = content_area(fb_name.bounding_box(), &m);
            let plan = plan_product(content, &m, Language::En, &name_only);
            prop_assert!(strays(&fb_name, &[plan.layout.name, plan.layout.price]).is_empty());
            let mut mono = embedded_graphics_simulator::SimulatorDisplay::new(Size::new(128, 64));
            let shown = crate::ui::render_mono(&Frame { screen: Screen::Product(p), offline: true }, Language::It, &mut mono);
            prop_assert!(shown.is_ok());
        }
    }
}
