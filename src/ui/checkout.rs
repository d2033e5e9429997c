//! Layout of the self-checkout screens ([`Screen::Checkout`](super::Screen::Checkout)), colour and 128×64.
//!
//! While the shopper scans (and while an age check waits for staff) the screen is the basket: the answer to the
//! last action as a coloured banner on top, the most recent lines below it (the newest at the bottom,
//! highlighted) each with its quantity and the reason for every discount, and the total bar at the bottom edge.
//! The other phases are centred message screens like the rest of the UI (icon, headline, detail, hint); the
//! receipt screen carries the e-receipt as a QR code. The staff menu is a numbered list.
//!
//! Everything is measured before it is drawn: text is cut to its box, and a row that would not fit above the
//! next part is left out, so no size of basket, name or amount draws outside its place.

use embedded_graphics::mono_font::iso_8859_15::{FONT_10X20, FONT_6X10, FONT_6X13, FONT_7X13_BOLD};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::{BinaryColor, Rgb565};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, Polyline, PrimitiveStyle, Rectangle};
use qrcode::{EcLevel, QrCode};

use super::draw::{self, palette, Align};
use super::screens::Metrics;
use super::text::{self, checkout_texts};
use super::{fit, CheckoutLine, CheckoutPhase, CheckoutView, Language, Notice, PrinterNote, StaffChoice};

const fn rgb(r: u8, g: u8, b: u8) -> Rgb565 {
    Rgb565::new(r >> 3, g >> 2, b >> 3)
}

/// Behind the newest basket line and the highlighted staff choice.
const HIGHLIGHT: Rgb565 = rgb(0xe3, 0xee, 0xfa);
/// Behind the total bar.
const TOTAL_BG: Rgb565 = rgb(0xf1, 0xf3, 0xf5);

/// Fonts of the basket list for one panel size.
struct ListFonts {
    name: &'static MonoFont<'static>,
    sub: &'static MonoFont<'static>,
    banner: &'static MonoFont<'static>,
    banner_lines: usize,
    name_lines: usize,
}

fn list_fonts(content: Rectangle, m: &Metrics) -> ListFonts {
    if roomy(content) {
        ListFonts {
            name: m.body_bold_font,
            // 6 px wide: a promotion's reason and its amount fit one row of the portrait panel.
            sub: &FONT_6X13,
            banner: m.body_bold_font,
            banner_lines: 4,
            name_lines: 2,
        }
    } else {
        ListFonts {
            name: m.body_bold_font,
            sub: &FONT_6X10,
            banner: &FONT_6X10,
            banner_lines: 2,
            name_lines: 1,
        }
    }
}

/// Room for the big layout (the 240×320 and 320×240 panels, not 128×128).
fn roomy(content: Rectangle) -> bool {
    content.size.width >= 200 && content.size.height >= 180
}

/// Draws the checkout screen in `content` (the area under the header bar).
pub(crate) fn render<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    content: Rectangle,
    m: &Metrics,
    lang: Language,
    view: &CheckoutView,
) -> Result<(), D::Error> {
    match &view.phase {
        CheckoutPhase::Scanning => basket(target, content, m, lang, view, None),
        CheckoutPhase::AwaitingStaff { min_age } => {
            let banner = Banner {
                text: text::awaiting_staff(lang, *min_age),
                fill: palette::WARN,
                ink: palette::ON_WARN,
            };
            basket(target, content, m, lang, view, Some(banner))
        }
        CheckoutPhase::StaffMenu {
            staff_name,
            highlighted,
            selected_line,
        } => staff_menu(target, content, m, lang, view, staff_name, *highlighted, *selected_line),
        phase => message(target, content, m, lang, view, phase),
    }
}

/// A coloured strip across the top of the basket with wrapped text.
struct Banner {
    text: String,
    fill: Rgb565,
    ink: Rgb565,
}

fn notice_banner(lang: Language, notice: &Notice) -> Banner {
    let (fill, ink) = match notice {
        Notice::UnknownCode { .. }
        | Notice::InvalidCode { .. }
        | Notice::CannotAdd { .. }
        | Notice::PaymentDeclined
        | Notice::NoSuchLine { .. } => (palette::PROMO, palette::PAGE),
        Notice::MemberPricesApplied { .. } => (palette::OK, palette::PAGE),
        Notice::PaymentCancelled
        | Notice::PaymentInProgress
        | Notice::AgeCheckNeeded { .. }
        | Notice::WaitForStaff
        | Notice::EmptyBasket
        | Notice::AlreadyMember
        | Notice::NothingToApprove
        | Notice::CancelAfterReconcile
        | Notice::SalesPaused
        | Notice::UnknownBadge
        | Notice::NothingToReprint => (palette::WARN, palette::ON_WARN),
    };
    Banner {
        text: text::notice(lang, notice),
        fill,
        ink,
    }
}

/// Draws `banner` at the top of `area`; returns the height used.
fn draw_banner<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    area: Rectangle,
    m: &Metrics,
    fonts: &ListFonts,
    banner: &Banner,
) -> Result<u32, D::Error> {
    let pad = (m.gap / 2).max(2);
    let font = fonts.banner;
    let inner_w = area.size.width.saturating_sub(2 * m.margin);
    let wide = Rectangle::new(area.top_left, Size::new(inner_w, u32::MAX / 2));
    let lh = draw::line_height(font);
    // Never more than half the area: the basket must stay visible under the banner.
    let max_lines = fonts
        .banner_lines
        .min(((area.size.height / 2).saturating_sub(2 * pad) / lh.max(1)) as usize);
    let lines = draw::wrap_lines(&banner.text, wide, font, max_lines);
    if lines.is_empty() {
        return Ok(0);
    }
    let h = lines.len() as u32 * lh + 2 * pad;
    target.fill_solid(
        &Rectangle::new(area.top_left, Size::new(area.size.width, h)),
        banner.fill,
    )?;
    for (i, l) in lines.iter().enumerate() {
        let row = Rectangle::new(
            area.top_left + Point::new(m.margin as i32, (pad + i as u32 * lh) as i32),
            Size::new(inner_w, lh),
        );
        draw::fitted_line(target, l, row, font, banner.ink, Align::Left)?;
    }
    Ok(h)
}

/// `text` cut to `area`'s width and drawn flush right in it; returns the width drawn.
fn right_line<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    text: &str,
    area: Rectangle,
    font: &MonoFont<'_>,
    color: Rgb565,
) -> Result<u32, D::Error> {
    let s = fit::ellipsize(&fit::sanitize(text), draw::columns_in(font, area.size.width));
    let w = draw::text_width(font, fit::columns(&s));
    let x = area.top_left.x + area.size.width.saturating_sub(w) as i32;
    draw::line(
        target,
        &s,
        Point::new(x, area.top_left.y),
        MonoTextStyle::new(font, color),
    )?;
    Ok(w)
}

/// A row with text on the left and an amount on the right; the amount keeps at most two thirds of the width.
#[allow(clippy::too_many_arguments)]
fn split_row<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    row: Rectangle,
    left: &str,
    right: &str,
    font: &MonoFont<'_>,
    color: Rgb565,
    right_color: Rgb565,
    gap: u32,
) -> Result<(), D::Error> {
    let right_max = row.size.width * 2 / 3;
    let right_w = draw::text_width(font, fit::columns(&fit::sanitize(right))).min(right_max);
    let right_area = Rectangle::new(
        row.top_left + Point::new(row.size.width.saturating_sub(right_w) as i32, 0),
        Size::new(right_w, row.size.height),
    );
    right_line(target, right, right_area, font, right_color)?;
    let left_area = Rectangle::new(
        row.top_left,
        Size::new(row.size.width.saturating_sub(right_w + gap), row.size.height),
    );
    draw::fitted_line(target, left, left_area, font, color, Align::Left)?;
    Ok(())
}

/// One row under a line's name.
struct SubRow {
    left: String,
    right: Option<String>,
    color: Rgb565,
}

fn sub_rows(lang: Language, line: &CheckoutLine) -> Vec<SubRow> {
    let mut rows = Vec::new();
    if let Some(q) = text::quantity(lang, &line.quantity) {
        rows.push(SubRow {
            left: q,
            right: None,
            color: palette::MUTED,
        });
    }
    for d in &line.discounts {
        rows.push(SubRow {
            left: d.reason.text(lang),
            right: Some(crate::money::format_eur(d.cents.saturating_neg())),
            color: palette::PROMO,
        });
    }
    if line.needs_age_check {
        rows.push(SubRow {
            left: format!("! {}", checkout_texts(lang).age_check_line),
            right: None,
            color: palette::PROMO,
        });
    }
    rows
}

/// The basket screen: banners, the list, the total bar.
fn basket<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    content: Rectangle,
    m: &Metrics,
    lang: Language,
    view: &CheckoutView,
    phase_banner: Option<Banner>,
) -> Result<(), D::Error> {
    let fonts = list_fonts(content, m);
    let mut top = content.top_left.y;
    let bottom = content.top_left.y + content.size.height as i32;
    let banners = phase_banner
        .into_iter()
        .chain(view.notice.as_ref().map(|n| notice_banner(lang, n)));
    for b in banners {
        let area = Rectangle::new(
            Point::new(content.top_left.x, top),
            Size::new(content.size.width, (bottom - top).max(0) as u32),
        );
        top += draw_banner(target, area, m, &fonts, &b)? as i32;
    }
    let rows = total_rows(content, m, lang, view);
    let total_h = total_bar_height(&rows, m);
    let total_top = (bottom - total_h as i32).max(top);
    total_bar(
        target,
        &rows,
        Rectangle::new(
            Point::new(content.top_left.x, total_top),
            Size::new(content.size.width, (bottom - total_top).max(0) as u32),
        ),
        m,
        lang,
        view,
    )?;
    let list = Rectangle::new(
        Point::new(content.top_left.x, top),
        Size::new(content.size.width, (total_top - top).max(0) as u32),
    );
    basket_list(target, list, m, &fonts, lang, &view.lines)
}

/// The rows of the total bar, decided before anything is drawn.
struct TotalRows {
    scale: u32,
    font: &'static MonoFont<'static>,
    saved: bool,
    hint: bool,
}

fn total_rows(content: Rectangle, m: &Metrics, lang: Language, view: &CheckoutView) -> TotalRows {
    let t = checkout_texts(lang);
    let w = content.size.width.saturating_sub(2 * m.margin);
    let amount = crate::money::format_eur(view.total_cents);
    let label_w = draw::text_width(m.body_bold_font, fit::columns(t.total)) + m.gap;
    let cols = fit::columns(&amount);
    let max_scale = if roomy(content) { 2 } else { 1 };
    let (font, scale) = (1..=max_scale)
        .rev()
        .map(|s| (&FONT_10X20, s))
        .chain([(m.body_bold_font, 1)])
        .find(|(f, s)| draw::text_width(f, cols) * s + label_w <= w)
        .unwrap_or((m.body_bold_font, 1));
    TotalRows {
        scale,
        font,
        saved: view.savings_cents > 0 || view.member,
        hint: roomy(content)
            && content.size.height >= 260
            && view.phase == CheckoutPhase::Scanning
            && !view.lines.is_empty(),
    }
}

fn total_bar_height(r: &TotalRows, m: &Metrics) -> u32 {
    let pad = m.gap / 2 + 1;
    let mut h = 2 + pad + draw::line_height(r.font) * r.scale + pad;
    if r.saved {
        h += draw::line_height(m.body_bold_font) + 6 + pad;
    }
    if r.hint {
        h += draw::line_height(m.body_font) + pad;
    }
    h
}

/// The total (big), what the shopper saved and the member badge, and while scanning what to do next.
fn total_bar<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    r: &TotalRows,
    area: Rectangle,
    m: &Metrics,
    lang: Language,
    view: &CheckoutView,
) -> Result<(), D::Error> {
    let t = checkout_texts(lang);
    target.fill_solid(&area, TOTAL_BG)?;
    target.fill_solid(
        &Rectangle::new(area.top_left, Size::new(area.size.width, 2)),
        palette::BRAND,
    )?;
    let pad = m.gap / 2 + 1;
    let x = area.top_left.x + m.margin as i32;
    let w = area.size.width.saturating_sub(2 * m.margin);
    let bottom = area.top_left.y + area.size.height as i32;
    let mut y = area.top_left.y + 2 + pad as i32;
    let fits = |y: i32, h: u32| y + h as i32 <= bottom;

    let amount_h = draw::line_height(r.font) * r.scale;
    if fits(y, amount_h) {
        let amount = crate::money::format_eur(view.total_cents);
        let amount_w = draw::text_width(r.font, fit::columns(&amount)) * r.scale;
        let label_font = m.body_bold_font;
        // The label sits on the amount's baseline.
        let label_y = y + ((r.font.baseline + 1) * r.scale) as i32 - (label_font.baseline + 1) as i32;
        let label_area = Rectangle::new(
            Point::new(x, label_y.max(y)),
            Size::new(w.saturating_sub(amount_w + m.gap), draw::line_height(label_font)),
        );
        draw::fitted_line(target, t.total, label_area, label_font, palette::INK, Align::Left)?;
        if amount_w <= w {
            let ax = x + (w - amount_w) as i32;
            draw::scaled_line(target, &amount, Point::new(ax, y), r.font, r.scale, palette::INK)?;
        } else {
            // Only absurd totals on tiny panels: cut rather than overflow.
            let row = Rectangle::new(Point::new(x, y), Size::new(w, amount_h));
            right_line(target, &amount, row, r.font, palette::INK)?;
        }
        y += (amount_h + pad) as i32;
    }
    let badge_font = m.body_bold_font;
    let badge_h = draw::line_height(badge_font) + 6;
    if r.saved && fits(y, badge_h) {
        let mut saved_w = w;
        if view.member {
            let style = draw::BadgeStyle {
                font: badge_font,
                fill: palette::BRAND,
                ink: palette::ON_BRAND,
                pad: Size::new(5, 3),
            };
            let bw = draw::text_width(badge_font, fit::columns(t.member_badge)) + 10;
            let bx = x + w.saturating_sub(bw) as i32;
            let b = draw::badge(target, t.member_badge, Point::new(bx, y), w, &style)?;
            saved_w = w.saturating_sub(b.size.width + m.gap);
        }
        if view.savings_cents > 0 {
            let row = Rectangle::new(Point::new(x, y + 3), Size::new(saved_w, draw::line_height(badge_font)));
            let fonts = [badge_font, &FONT_7X13_BOLD, &FONT_6X10];
            draw::fitted_line_shrinking(
                target,
                &text::saved(lang, view.savings_cents),
                row,
                &fonts,
                palette::PROMO,
                Align::Left,
            )?;
        }
        y += (badge_h + pad) as i32;
    }
    let hint_h = draw::line_height(m.body_font);
    if r.hint && fits(y, hint_h) {
        let row = Rectangle::new(Point::new(x, y), Size::new(w, hint_h));
        let fonts = [m.body_font, &FONT_6X13];
        draw::fitted_line_shrinking(target, t.scanning_hint, row, &fonts, palette::MUTED, Align::Left)?;
    }
    Ok(())
}

/// The most recent lines that fit `list`, newest at the bottom; "N more lines above" when some do not.
fn basket_list<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    list: Rectangle,
    m: &Metrics,
    fonts: &ListFonts,
    lang: Language,
    lines: &[CheckoutLine],
) -> Result<(), D::Error> {
    let x = list.top_left.x + m.margin as i32;
    let w = list.size.width.saturating_sub(2 * m.margin);
    let bottom = list.top_left.y + list.size.height as i32;
    let (name_h, sub_h) = (draw::line_height(fonts.name), draw::line_height(fonts.sub));
    let pad = (m.gap / 2).max(1);
    if lines.is_empty() {
        let font = m.body_font;
        let icon = m.icon * 2 / 3;
        let lh = draw::line_height(font);
        let with_icon = list.size.height >= icon + 2 * m.gap + lh;
        let block = lh + if with_icon { icon + 2 * m.gap } else { 0 };
        let mut y = list.top_left.y + (list.size.height.saturating_sub(block) / 2) as i32;
        if with_icon {
            let cx = list.top_left.x + (list.size.width / 2) as i32;
            draw::barcode_icon(
                target,
                Point::new(cx, y + icon as i32 / 2),
                icon,
                palette::INK,
                palette::PROMO,
            )?;
            y += (icon + 2 * m.gap) as i32;
        }
        if y + lh as i32 <= bottom {
            let row = Rectangle::new(Point::new(x, y), Size::new(w, draw::line_height(font)));
            let text = checkout_texts(lang).empty_basket;
            draw::fitted_line(target, text, row, font, palette::MUTED, Align::Center)?;
        }
        return Ok(());
    }
    // Only the newest lines can be on screen: a line is at least one name row high, so no more than this many
    // fit. Laying out the older ones (wrapping their names, formatting their discounts) was most of the cost
    // of a scan with a long basket.
    let most = (list.size.height / (2 * pad + name_h).max(1)) as usize + 2;
    let hidden = lines.len().saturating_sub(most);
    let lines = &lines[hidden..];
    let rows: Vec<Vec<SubRow>> = lines.iter().map(|l| sub_rows(lang, l)).collect();
    // A name may take two lines on the big panels, beside the amount (a third of the width at most).
    let wrap_name = |l: &CheckoutLine, max_lines: usize| {
        let amount = crate::money::format_eur(l.amount_cents);
        let amount_w = draw::text_width(fonts.name, fit::columns(&amount)).min(w * 2 / 3);
        let area = Rectangle::new(
            Point::zero(),
            Size::new(w.saturating_sub(amount_w + m.gap), u32::MAX / 2),
        );
        let mut v = draw::wrap_lines(&l.name, area, fonts.name, max_lines);
        if v.is_empty() {
            v.push(String::new());
        }
        v
    };
    let mut name_lines: Vec<Vec<String>> = lines.iter().map(|l| wrap_name(l, fonts.name_lines)).collect();
    let more_h = sub_h + pad;
    let height =
        |names: &[Vec<String>], i: usize| 2 * pad + name_h * names[i].len() as u32 + sub_h * rows[i].len() as u32;
    let mut heights: Vec<u32> = (0..lines.len()).map(|i| height(&name_lines, i)).collect();
    let mut first = first_shown(&heights, list.size.height, more_h, hidden > 0);
    if (hidden > 0 || first > 0) && fonts.name_lines > 1 {
        // The basket does not fit: older lines give up their second name line so more of them show; the
        // newest keeps its whole name.
        let newest = lines.len() - 1;
        for (i, l) in lines.iter().enumerate().take(newest) {
            name_lines[i] = wrap_name(l, 1);
        }
        heights = (0..lines.len()).map(|i| height(&name_lines, i)).collect();
        first = first_shown(&heights, list.size.height, more_h, hidden > 0);
    }
    let mut y = list.top_left.y;
    if hidden + first > 0 && y + more_h as i32 <= bottom {
        let row = Rectangle::new(Point::new(x, y + (pad / 2) as i32), Size::new(w, sub_h));
        let s = format!("^ {}", text::more_above(lang, hidden + first));
        draw::fitted_line(target, &s, row, fonts.sub, palette::MUTED, Align::Center)?;
        y += more_h as i32;
        // A scrolled list sits on the total bar, so the newest line is always in the same place; the space a
        // whole line would not fit in goes under "more above".
        let shown: u32 = heights[first..].iter().sum();
        y = y.max(bottom - shown as i32);
    }
    for (i, line) in lines.iter().enumerate().skip(first) {
        let newest = i + 1 == lines.len();
        let h = heights[i];
        let visible = (bottom - y).clamp(0, h as i32) as u32;
        if visible == 0 {
            break;
        }
        let block = Rectangle::new(Point::new(list.top_left.x, y), Size::new(list.size.width, visible));
        if newest {
            target.fill_solid(&block, HIGHLIGHT)?;
        }
        let marker = if line.needs_age_check {
            Some(palette::PROMO)
        } else if newest {
            Some(palette::BRAND)
        } else {
            None
        };
        if let Some(c) = marker {
            target.fill_solid(&Rectangle::new(block.top_left, Size::new(3, visible)), c)?;
        }
        let mut ry = y + pad as i32;
        for (k, name) in name_lines[i].iter().enumerate() {
            if ry + name_h as i32 > bottom {
                break;
            }
            let row = Rectangle::new(Point::new(x, ry), Size::new(w, name_h));
            let amount = if k == 0 {
                crate::money::format_eur(line.amount_cents)
            } else {
                String::new()
            };
            split_row(
                target,
                row,
                name,
                &amount,
                fonts.name,
                palette::INK,
                palette::INK,
                m.gap,
            )?;
            ry += name_h as i32;
        }
        for sub in &rows[i] {
            if ry + sub_h as i32 > bottom {
                break;
            }
            // Sub-rows are indented under the name.
            let indent = m.gap.min(w / 4);
            let row = Rectangle::new(Point::new(x + indent as i32, ry), Size::new(w - indent, sub_h));
            match &sub.right {
                Some(r) => split_row(target, row, &sub.left, r, fonts.sub, sub.color, sub.color, m.gap)?,
                None => {
                    draw::fitted_line(target, &sub.left, row, fonts.sub, sub.color, Align::Left)?;
                }
            }
            ry += sub_h as i32;
        }
        if !newest && y + h as i32 <= bottom {
            let rule = Rectangle::new(Point::new(x, y + h as i32 - 1), Size::new(w, 1));
            target.fill_solid(&rule, palette::RULE)?;
        }
        y += h as i32;
    }
    Ok(())
}

/// The first of the basket lines (block `heights`, oldest first) that the list shows in `avail` pixels: as many
/// of the newest as fit whole, leaving `more_h` for the "more lines above" row when some are left out
/// (`hidden_before`: older lines not even in `heights` are). The newest line is always shown (cut at the bottom
/// if it alone is taller than the list). 0 for an empty list.
fn first_shown(heights: &[u32], avail: u32, more_h: u32, hidden_before: bool) -> usize {
    let fit_from = |avail: u32| {
        let mut used = 0u32;
        let mut first = heights.len();
        while first > 0 && used.saturating_add(heights[first - 1]) <= avail {
            used += heights[first - 1];
            first -= 1;
        }
        first
    };
    let mut first = fit_from(avail);
    if first > 0 || hidden_before {
        first = fit_from(avail.saturating_sub(more_h));
    }
    first.min(heights.len().saturating_sub(1))
}

/// One part of a centred message screen.
enum Part<'a> {
    /// A round sign with a character in it.
    Sign { sign: char, fill: Rgb565, ink: Rgb565 },
    /// A green disc with a tick: done.
    Tick,
    /// Wrapped, centred lines.
    Lines {
        lines: Vec<String>,
        font: &'static MonoFont<'static>,
        color: Rgb565,
    },
    /// One line magnified (an amount, the PIN mask).
    Big {
        text: String,
        font: &'static MonoFont<'static>,
        scale: u32,
        color: Rgb565,
    },
    /// A QR code, `module` pixels per module.
    Qr { code: &'a QrCode, module: u32 },
    /// Space.
    Gap(u32),
}

fn part_height(p: &Part<'_>, m: &Metrics) -> u32 {
    match p {
        Part::Sign { .. } | Part::Tick => m.icon,
        Part::Lines { lines, font, .. } => draw::line_height(font) * lines.len() as u32,
        Part::Big { font, scale, .. } => draw::line_height(font) * scale,
        Part::Qr { code, module } => code.width() as u32 * module,
        Part::Gap(g) => *g,
    }
}

fn wrapped(
    s: &str,
    content: Rectangle,
    m: &Metrics,
    font: &'static MonoFont<'static>,
    color: Rgb565,
    max: usize,
) -> Part<'static> {
    let w = content.size.width.saturating_sub(2 * m.margin);
    let area = Rectangle::new(content.top_left, Size::new(w, u32::MAX / 2));
    Part::Lines {
        lines: draw::wrap_lines(s, area, font, max),
        font,
        color,
    }
}

/// `text` magnified as much as fits the width (up to `max_scale`), or in the body font, cut, when nothing does.
fn big(text: String, content: Rectangle, m: &Metrics, max_scale: u32, color: Rgb565) -> Part<'static> {
    let w = content.size.width.saturating_sub(2 * m.margin);
    let cols = fit::columns(&text);
    for scale in (1..=max_scale).rev() {
        if draw::text_width(&FONT_10X20, cols) * scale <= w {
            return Part::Big {
                text,
                font: &FONT_10X20,
                scale,
                color,
            };
        }
    }
    let font = m.body_bold_font;
    Part::Big {
        text: fit::ellipsize(&text, draw::columns_in(font, w)),
        font,
        scale: 1,
        color,
    }
}

/// Stacks `parts` centred in `content`. When they do not all fit, signs go first, then gaps shrink; a row that
/// still does not fit is left out rather than drawn over the edge.
fn stack<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    content: Rectangle,
    m: &Metrics,
    mut parts: Vec<Part<'_>>,
) -> Result<(), D::Error> {
    let total = |parts: &[Part<'_>]| parts.iter().map(|p| part_height(p, m)).sum::<u32>();
    if total(&parts) > content.size.height {
        parts.retain(|p| !matches!(p, Part::Sign { .. } | Part::Tick));
    }
    if total(&parts) > content.size.height {
        for p in &mut parts {
            if let Part::Gap(g) = p {
                *g = (*g / 4).min(2);
            }
        }
    }
    let mut y = content.top_left.y + (content.size.height.saturating_sub(total(&parts)) / 2) as i32;
    let bottom = content.top_left.y + content.size.height as i32;
    let cx = content.top_left.x + (content.size.width / 2) as i32;
    let x = content.top_left.x + m.margin as i32;
    let w = content.size.width.saturating_sub(2 * m.margin);
    for p in &parts {
        let h = part_height(p, m);
        let whole = y + h as i32 <= bottom;
        match p {
            Part::Sign { sign, fill, ink } if whole => {
                draw::sign_icon(target, Point::new(cx, y + h as i32 / 2), h, *sign, *fill, *ink)?
            }
            Part::Tick if whole => tick(target, Point::new(cx, y + h as i32 / 2), h)?,
            Part::Lines { lines, font, color } => {
                let lh = draw::line_height(font);
                for (i, l) in lines.iter().enumerate() {
                    let ly = y + (i as u32 * lh) as i32;
                    if ly + lh as i32 > bottom {
                        break;
                    }
                    let row = Rectangle::new(Point::new(x, ly), Size::new(w, lh));
                    draw::fitted_line(target, l, row, font, *color, Align::Center)?;
                }
            }
            Part::Big {
                text,
                font,
                scale,
                color,
            } if whole => {
                let tw = draw::text_width(font, fit::columns(text)) * scale;
                let tx = x + (w.saturating_sub(tw) / 2) as i32;
                draw::scaled_line(target, text, Point::new(tx, y), font, *scale, *color)?;
            }
            Part::Qr { code, module } if whole => {
                let side = code.width() as u32 * module;
                qr(target, code, Point::new(cx - side as i32 / 2, y), *module)?;
            }
            _ => {}
        }
        y += h as i32;
    }
    Ok(())
}

/// A green disc with a white tick.
fn tick<D: DrawTarget<Color = Rgb565>>(target: &mut D, center: Point, diameter: u32) -> Result<(), D::Error> {
    Circle::with_center(center, diameter)
        .into_styled(PrimitiveStyle::with_fill(palette::OK))
        .draw(target)?;
    let d = diameter as i32;
    let points = [
        center + Point::new(-d * 5 / 20, 0),
        center + Point::new(-d / 14, d * 4 / 20),
        center + Point::new(d * 5 / 20, -d * 4 / 20),
    ];
    Polyline::new(&points)
        .into_styled(PrimitiveStyle::with_stroke(palette::PAGE, (diameter / 10).max(2)))
        .draw(target)
}

/// Draws the modules of `code` from `top_left`, `module` pixels each (dark on the white page, which is the quiet
/// zone: the stack keeps other parts a gap away).
fn qr<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    code: &QrCode,
    top_left: Point,
    module: u32,
) -> Result<(), D::Error> {
    let width = code.width();
    let side = width as u32 * module;
    target.fill_solid(&Rectangle::new(top_left, Size::new_equal(side)), palette::PAGE)?;
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let p = top_left
                + Point::new(
                    ((i % width) as u32 * module) as i32,
                    ((i / width) as u32 * module) as i32,
                );
            target.fill_solid(&Rectangle::new(p, Size::new_equal(module)), palette::INK)?;
        }
    }
    Ok(())
}

/// The e-receipt URL as a QR code; `None` when it cannot be encoded (too long for any QR version).
fn encode_qr(url: &str) -> Option<QrCode> {
    QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).ok()
}

/// The centred message screens: paying, reconciling, receipt, help, PIN, cancelled.
fn message<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    c: Rectangle,
    m: &Metrics,
    lang: Language,
    view: &CheckoutView,
    phase: &CheckoutPhase,
) -> Result<(), D::Error> {
    let t = checkout_texts(lang);
    let max_scale = if roomy(c) { 2 } else { 1 };
    let (gap, hl) = (m.gap, m.headline_font);
    let notice = view.notice.as_ref().map(|n| {
        let b = notice_banner(lang, n);
        wrapped(
            &b.text,
            c,
            m,
            m.body_bold_font,
            if b.fill == palette::OK {
                palette::OK
            } else {
                palette::PROMO
            },
            3,
        )
    });
    let mut parts: Vec<Part<'_>> = Vec::new();
    let qr_code;
    match phase {
        CheckoutPhase::Paying { amount_cents } => {
            parts.extend([
                Part::Sign {
                    sign: '€',
                    fill: palette::BRAND,
                    ink: palette::PAGE,
                },
                Part::Gap(gap * 2),
                wrapped(t.paying_headline, c, m, hl, palette::INK, 2),
                Part::Gap(gap),
                big(crate::money::format_eur(*amount_cents), c, m, max_scale, palette::INK),
                Part::Gap(gap * 2),
                wrapped(t.paying_hint, c, m, m.body_font, palette::MUTED, 3),
            ]);
        }
        CheckoutPhase::Reconciling => {
            parts.extend([
                Part::Sign {
                    sign: '!',
                    fill: palette::WARN,
                    ink: palette::ON_WARN,
                },
                Part::Gap(gap * 2),
                wrapped(t.reconciling_headline, c, m, hl, palette::INK, 3),
                Part::Gap(gap * 2),
                wrapped(t.reconciling_detail, c, m, hl, palette::PROMO, 2),
                Part::Gap(gap * 2),
                wrapped(t.reconciling_hint, c, m, m.body_font, palette::MUTED, 3),
            ]);
        }
        CheckoutPhase::Receipt {
            receipt_number,
            e_receipt_url,
            printer,
        } => {
            qr_code = e_receipt_url.as_deref().and_then(encode_qr);
            let (note, _) = text::printer_note(lang, *printer);
            let note_color = match printer {
                PrinterNote::PaperOut | PrinterNote::Offline => palette::PROMO,
                PrinterNote::Printed | PrinterNote::EReceiptOnly => palette::INK,
            };
            let number = format!("{}{receipt_number}", t.receipt_number_prefix);
            let words = || {
                vec![
                    wrapped(t.receipt_headline, c, m, hl, palette::INK, 1),
                    Part::Gap(gap / 2),
                    wrapped(&number, c, m, m.body_font, palette::MUTED, 2),
                    Part::Gap(gap),
                    wrapped(note, c, m, m.body_bold_font, note_color, 2),
                ]
            };
            // The biggest module (up to 5 px) with which the code and `around` fit; the quiet zone, two
            // modules each side, counts as part of the code.
            let module_with = |code: &QrCode, around: &[Part<'_>]| {
                let around_h: u32 = around.iter().map(|p| part_height(p, m)).sum::<u32>() + 2 * gap;
                let side = code.width() as u32 + 4;
                let avail_h = c.size.height.saturating_sub(around_h);
                let avail_w = c.size.width.saturating_sub(2 * m.margin);
                (avail_h.min(avail_w) / side).min(5)
            };
            // Below two pixels a module is too small for a phone camera.
            const MIN_MODULE: u32 = 2;
            match &qr_code {
                Some(code) => {
                    let mut around = words();
                    around.push(wrapped(t.scan_qr, c, m, m.body_font, palette::MUTED, 2));
                    if module_with(code, &around) < MIN_MODULE {
                        // Small panels: the note and the code, nothing else.
                        around = vec![wrapped(note, c, m, m.body_font, note_color, 3)];
                    }
                    let module = module_with(code, &around);
                    if module >= MIN_MODULE {
                        // Phone cameras want a light margin around the code.
                        let quiet = gap.max(2 * module);
                        let hint = (around.len() > 1).then(|| around.pop()).flatten();
                        parts.extend(around);
                        parts.extend([Part::Gap(quiet), Part::Qr { code, module }, Part::Gap(quiet)]);
                        parts.extend(hint);
                    } else {
                        parts.extend(words());
                    }
                }
                None => {
                    parts.extend([Part::Tick, Part::Gap(gap * 2)]);
                    parts.extend(words());
                }
            }
        }
        CheckoutPhase::HelpComing => {
            parts.extend([
                Part::Sign {
                    sign: '?',
                    fill: palette::BRAND,
                    ink: palette::PAGE,
                },
                Part::Gap(gap * 2),
                wrapped(t.help_headline, c, m, hl, palette::INK, 2),
                Part::Gap(gap),
                wrapped(t.help_hint, c, m, m.body_font, palette::MUTED, 2),
            ]);
        }
        CheckoutPhase::StaffPin { digits_entered, wrong } => {
            parts.extend([
                Part::Sign {
                    sign: '#',
                    fill: palette::BRAND,
                    ink: palette::PAGE,
                },
                Part::Gap(gap * 2),
                wrapped(t.pin_headline, c, m, hl, palette::INK, 1),
                Part::Gap(gap),
                big(text::pin_mask(*digits_entered), c, m, max_scale, palette::INK),
                Part::Gap(gap),
            ]);
            if *wrong {
                parts.push(wrapped(t.pin_wrong, c, m, m.body_bold_font, palette::PROMO, 1));
                parts.push(Part::Gap(gap));
            }
            parts.push(wrapped(t.pin_hint, c, m, m.body_font, palette::MUTED, 3));
        }
        CheckoutPhase::Cancelled => {
            parts.extend([
                Part::Sign {
                    sign: '×',
                    fill: palette::MUTED,
                    ink: palette::PAGE,
                },
                Part::Gap(gap * 2),
                wrapped(t.cancelled_headline, c, m, hl, palette::INK, 2),
                Part::Gap(gap),
                wrapped(t.cancelled_detail, c, m, m.body_bold_font, palette::INK, 2),
                Part::Gap(gap * 2),
                wrapped(t.cancelled_hint, c, m, m.body_font, palette::MUTED, 3),
            ]);
        }
        // Drawn by their own layouts; kept here so a new phase cannot be forgotten silently.
        CheckoutPhase::Scanning | CheckoutPhase::AwaitingStaff { .. } | CheckoutPhase::StaffMenu { .. } => {}
    }
    if let Some(n) = notice {
        parts.push(Part::Gap(gap * 2));
        parts.push(n);
    }
    stack(target, c, m, parts)
}

/// The staff menu: who is logged in, the four numbered choices (the highlighted one tinted, approve greyed out
/// when nothing waits for it), the line chosen for removal, and how to choose.
#[allow(clippy::too_many_arguments)]
fn staff_menu<D: DrawTarget<Color = Rgb565>>(
    target: &mut D,
    c: Rectangle,
    m: &Metrics,
    lang: Language,
    view: &CheckoutView,
    staff_name: &str,
    highlighted: Option<StaffChoice>,
    selected_line: Option<usize>,
) -> Result<(), D::Error> {
    let t = checkout_texts(lang);
    let fonts = list_fonts(c, m);
    let x = c.top_left.x + m.margin as i32;
    let w = c.size.width.saturating_sub(2 * m.margin);
    let bottom = c.top_left.y + c.size.height as i32;
    let mut y = c.top_left.y;
    if let Some(n) = &view.notice {
        y += draw_banner(target, c, m, &fonts, &notice_banner(lang, n))? as i32;
    }
    y += m.gap as i32;
    let hl = m.headline_font;
    let head_h = draw::line_height(hl);
    if y + head_h as i32 <= bottom {
        let row = Rectangle::new(Point::new(x, y), Size::new(w, head_h));
        // The name is who is responsible for what follows: a smaller font rather than a cut name.
        let fonts = [hl, m.body_bold_font, &FONT_6X10];
        let who = format!("{}{staff_name}", t.menu_headline);
        draw::fitted_line_shrinking(target, &who, row, &fonts, palette::INK, Align::Left)?;
        y += (head_h + m.gap) as i32;
    }
    let font = m.body_bold_font;
    let lh = draw::line_height(font);
    let row_h = lh + m.gap;
    let age_waiting = view.lines.iter().any(|l| l.needs_age_check);
    let chosen = selected_line.and_then(|i| view.lines.get(i).map(|l| (i, l)));
    for (n, choice) in StaffChoice::ALL.iter().enumerate() {
        let extra = if *choice == StaffChoice::RemoveLine && chosen.is_some() {
            draw::line_height(fonts.sub)
        } else {
            0
        };
        if y + (row_h + extra) as i32 > bottom {
            break;
        }
        let block = Rectangle::new(Point::new(c.top_left.x, y), Size::new(c.size.width, row_h + extra));
        if highlighted == Some(*choice) {
            target.fill_solid(&block, HIGHLIGHT)?;
            target.fill_solid(
                &Rectangle::new(block.top_left, Size::new(3, block.size.height)),
                palette::BRAND,
            )?;
        }
        let enabled = *choice != StaffChoice::ApproveAge || age_waiting;
        let (fill, ink) = if enabled {
            (palette::BRAND, palette::ON_BRAND)
        } else {
            (palette::RULE, palette::MUTED)
        };
        let style = draw::BadgeStyle {
            font,
            fill,
            ink,
            pad: Size::new(4, (m.gap / 4).min(2)),
        };
        let ty = y + (m.gap / 2) as i32;
        let digit = (n + 1).to_string();
        let badge = draw::badge(target, &digit, Point::new(x, ty - (m.gap / 4).min(2) as i32), w, &style)?;
        let tx = x + (badge.size.width + m.gap) as i32;
        let tw = w.saturating_sub(badge.size.width + m.gap);
        let label = text::staff_choice(lang, *choice, chosen.map(|(i, _)| i));
        let color = if enabled { palette::INK } else { palette::MUTED };
        draw::fitted_line(
            target,
            &label,
            Rectangle::new(Point::new(tx, ty), Size::new(tw, lh)),
            font,
            color,
            Align::Left,
        )?;
        if let (StaffChoice::RemoveLine, Some((_, line))) = (choice, chosen) {
            let row = Rectangle::new(Point::new(tx, ty + lh as i32), Size::new(tw, extra));
            let amount = crate::money::format_eur(line.amount_cents);
            split_row(
                target,
                row,
                &line.name,
                &amount,
                fonts.sub,
                palette::MUTED,
                palette::MUTED,
                m.gap,
            )?;
        }
        y += (row_h + extra) as i32;
    }
    // The hint sits at the bottom edge, as many lines as are free.
    let hint_font = m.body_font;
    let hint_lh = draw::line_height(hint_font);
    let free = ((bottom - y - m.gap as i32).max(0) as u32 / hint_lh) as usize;
    let area = Rectangle::new(Point::new(x, 0), Size::new(w, u32::MAX / 2));
    let lines = draw::wrap_lines(t.menu_hint, area, hint_font, free.min(3));
    let mut hy = bottom - m.margin.min(m.gap) as i32 - (lines.len() as u32 * hint_lh) as i32;
    for l in &lines {
        let row = Rectangle::new(Point::new(x, hy), Size::new(w, hint_lh));
        draw::fitted_line(target, l, row, hint_font, palette::MUTED, Align::Left)?;
        hy += hint_lh as i32;
    }
    Ok(())
}

const ON: BinaryColor = BinaryColor::On;
const OFF: BinaryColor = BinaryColor::Off;
const SMALL: &MonoFont<'static> = &FONT_6X10;

/// The 128×64 version: the phase word on the top row, the total (or the amount asked, or the PIN mask) big,
/// the newest line, and the notice (inverted) or what the phase needs said.
pub(crate) fn render_mono<D: DrawTarget<Color = BinaryColor>>(
    target: &mut D,
    top: Rectangle,
    below: Rectangle,
    lang: Language,
    view: &CheckoutView,
) -> Result<(), D::Error> {
    if let CheckoutPhase::Receipt {
        e_receipt_url: Some(url),
        printer,
        ..
    } = &view.phase
    {
        let area = Rectangle::new(
            top.top_left,
            Size::new(
                below.size.width,
                (below.top_left.y - top.top_left.y) as u32 + below.size.height,
            ),
        );
        if let Some(code) = mono_qr(url, area.size) {
            return mono_receipt_qr(target, area, lang, view, &code, *printer);
        }
    }
    let t = checkout_texts(lang);
    let mut top = top;
    if view.member && top.size.width > 40 {
        // "M" for member at the top row's right end, left of the offline marker.
        let w = draw::text_width(SMALL, 1) + 4;
        let at = Point::new(top.top_left.x + top.size.width.saturating_sub(w) as i32, top.top_left.y);
        mono_inverted(target, "M", at, w)?;
        top.size.width = top.size.width.saturating_sub(w + 2);
    }
    let word = match &view.phase {
        CheckoutPhase::Scanning => t.phase_scanning_short,
        CheckoutPhase::AwaitingStaff { .. } => t.phase_awaiting_short,
        CheckoutPhase::Paying { .. } => t.phase_paying_short,
        CheckoutPhase::Reconciling => t.phase_reconciling_short,
        CheckoutPhase::Receipt { .. } => t.phase_receipt_short,
        CheckoutPhase::HelpComing => t.phase_help_short,
        CheckoutPhase::StaffPin { .. } => t.phase_pin_short,
        CheckoutPhase::StaffMenu { .. } => t.phase_menu_short,
        CheckoutPhase::Cancelled => t.phase_cancelled_short,
    };
    draw::fitted_line(target, word, top, SMALL, ON, Align::Left)?;

    let x = below.top_left.x;
    let w = below.size.width;
    let bottom = below.top_left.y + below.size.height as i32;
    let big_text = match &view.phase {
        CheckoutPhase::Paying { amount_cents } => crate::money::format_eur(*amount_cents),
        CheckoutPhase::StaffPin { digits_entered, .. } => text::pin_mask(*digits_entered),
        _ => crate::money::format_eur(view.total_cents),
    };
    let bigf = &FONT_10X20;
    let mut y = below.top_left.y;
    if draw::text_width(bigf, fit::columns(&big_text)) <= w {
        draw::line(target, &big_text, Point::new(x, y), MonoTextStyle::new(bigf, ON))?;
        y += draw::line_height(bigf) as i32;
    } else {
        let row = Rectangle::new(Point::new(x, y), Size::new(w, draw::line_height(SMALL)));
        draw::fitted_line(target, &big_text, row, SMALL, ON, Align::Left)?;
        y += draw::line_height(SMALL) as i32;
    }
    let row_h = draw::line_height(SMALL);
    y += 1;
    let row = |y: i32| Rectangle::new(Point::new(x, y), Size::new(w, row_h));

    if let Some(line) = view.lines.last().filter(|_| y + row_h as i32 <= bottom) {
        let amount = crate::money::format_eur(line.amount_cents);
        let aw = draw::text_width(SMALL, fit::columns(&amount)).min(w * 2 / 3);
        let ar = Rectangle::new(Point::new(x + w.saturating_sub(aw) as i32, y), Size::new(aw, row_h));
        draw::fitted_line(target, &amount, ar, SMALL, ON, Align::Left)?;
        let nr = Rectangle::new(Point::new(x, y), Size::new(w.saturating_sub(aw + 4), row_h));
        draw::fitted_line(target, &line.name, nr, SMALL, ON, Align::Left)?;
        y += row_h as i32 + 1;
    }
    if y + row_h as i32 > bottom {
        return Ok(());
    }
    if let Some(n) = &view.notice {
        let s = fit::ellipsize(
            &fit::sanitize(&text::notice_short(lang, n)),
            draw::columns_in(SMALL, w.saturating_sub(4)),
        );
        let bw = draw::text_width(SMALL, fit::columns(&s)) + 4;
        return mono_inverted(target, &s, Point::new(x, y), bw);
    }
    let detail = match &view.phase {
        CheckoutPhase::Scanning if view.savings_cents > 0 => {
            format!(
                "{}{}",
                t.saved_short_prefix,
                crate::money::format_eur(view.savings_cents)
            )
        }
        CheckoutPhase::Scanning => String::new(),
        CheckoutPhase::AwaitingStaff { min_age } => format!("{}{min_age}+", t.age_short_prefix),
        CheckoutPhase::Paying { .. } => t.paying_headline.to_string(),
        CheckoutPhase::Reconciling => t.reconciling_short.to_string(),
        CheckoutPhase::Receipt {
            printer: PrinterNote::Printed,
            receipt_number,
            ..
        } => format!("{}{receipt_number}", t.receipt_number_prefix),
        CheckoutPhase::Receipt { printer, .. } => text::printer_note(lang, *printer).1.to_string(),
        CheckoutPhase::HelpComing => t.help_hint.to_string(),
        CheckoutPhase::StaffPin { wrong: true, .. } => t.pin_wrong.to_string(),
        CheckoutPhase::StaffPin { wrong: false, .. } => String::new(),
        CheckoutPhase::StaffMenu { .. } => t.menu_short.to_string(),
        CheckoutPhase::Cancelled => t.cancelled_short.to_string(),
    };
    draw::fitted_line(target, &detail, row(y), SMALL, ON, Align::Left)?;
    Ok(())
}

/// Pixels per QR module on the 128×64 panel: two, so a phone can still resolve the modules.
const MONO_QR_MODULE: u32 = 2;

/// The e-receipt URL as a QR code small enough for the 128×64 panel (low error correction buys the room), with
/// a one-module quiet zone; `None` when it does not fit.
fn mono_qr(url: &str, area: Size) -> Option<QrCode> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::L).ok()?;
    let side = (code.width() as u32 + 2) * MONO_QR_MODULE;
    (side <= area.height && side * 2 <= area.width).then_some(code)
}

/// The 128×64 receipt with an e-receipt: the QR code fills the right side at full height (over the offline
/// marker: the code is what the shopper needs now); thanks, the total and the printer note on the left.
fn mono_receipt_qr<D: DrawTarget<Color = BinaryColor>>(
    target: &mut D,
    area: Rectangle,
    lang: Language,
    view: &CheckoutView,
    code: &QrCode,
    printer: PrinterNote,
) -> Result<(), D::Error> {
    let t = checkout_texts(lang);
    let width = code.width();
    let side = (width as u32 + 2) * MONO_QR_MODULE;
    let origin = Point::new(
        area.top_left.x + area.size.width.saturating_sub(side) as i32,
        area.top_left.y + (area.size.height.saturating_sub(side) / 2) as i32,
    );
    // Lit quiet zone, dark modules: the polarity phone cameras expect.
    target.fill_solid(&Rectangle::new(origin, Size::new_equal(side)), ON)?;
    let m = MONO_QR_MODULE;
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let p = origin + Point::new(((i % width) as u32 * m + m) as i32, ((i / width) as u32 * m + m) as i32);
            target.fill_solid(&Rectangle::new(p, Size::new_equal(m)), OFF)?;
        }
    }
    let left_w = area.size.width.saturating_sub(side + 3);
    let lh = draw::line_height(SMALL);
    let total = crate::money::format_eur(view.total_cents);
    let note = text::printer_note(lang, printer).1;
    let wide = Rectangle::new(Point::zero(), Size::new(left_w, u32::MAX / 2));
    let mut rows = vec![t.receipt_headline.to_string(), total];
    rows.extend(draw::wrap_lines(note, wide, SMALL, 4));
    let bottom = area.top_left.y + area.size.height as i32;
    let mut y = area.top_left.y;
    for r in rows {
        if y + lh as i32 > bottom {
            break;
        }
        let row = Rectangle::new(Point::new(area.top_left.x, y), Size::new(left_w, lh));
        draw::fitted_line(target, &r, row, SMALL, ON, Align::Left)?;
        y += lh as i32 + 1;
    }
    Ok(())
}

/// A lit box with dark text, `width` wide (what colour marks on the big panels).
fn mono_inverted<D: DrawTarget<Color = BinaryColor>>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::Framebuffer;
    use crate::pricing::{Discount, PromotionDetail, Reason};
    use crate::ui::{ErrorClass, Frame, LineQuantity, Screen};
    use proptest::prelude::*;

    const SIZES: [(u32, u32); 4] = [(240, 320), (320, 240), (128, 128), (480, 320)];

    /// A draw target that counts every pixel drawn outside its bounds (a real panel would wrap or fault).
    struct Strict<D> {
        inner: D,
        outside: usize,
    }

    impl<D: DrawTarget> Dimensions for Strict<D> {
        fn bounding_box(&self) -> Rectangle {
            self.inner.bounding_box()
        }
    }

    impl<D: DrawTarget> DrawTarget for Strict<D> {
        type Color = D::Color;
        type Error = D::Error;

        fn draw_iter<I: IntoIterator<Item = Pixel<D::Color>>>(&mut self, pixels: I) -> Result<(), D::Error> {
            let bounds = self.inner.bounding_box();
            let mut inside = Vec::new();
            for px in pixels {
                if bounds.contains(px.0) {
                    inside.push(px);
                } else {
                    self.outside += 1;
                }
            }
            self.inner.draw_iter(inside)
        }
    }

    fn line(name: &str, count: u32, amount_cents: i64) -> CheckoutLine {
        CheckoutLine {
            name: name.into(),
            quantity: LineQuantity::Pieces {
                count,
                unit_price_cents: amount_cents,
            },
            amount_cents,
            discounts: Vec::new(),
            needs_age_check: false,
        }
    }

    fn view(phase: CheckoutPhase, lines: Vec<CheckoutLine>, notice: Option<Notice>) -> CheckoutView {
        CheckoutView {
            phase,
            total_cents: lines.iter().map(|l| l.amount_cents).sum(),
            lines,
            savings_cents: 0,
            member: false,
            notice,
        }
    }

    fn draw(v: &CheckoutView, lang: Language, (w, h): (u32, u32)) -> (Framebuffer, usize) {
        let mut fb = Strict {
            inner: Framebuffer::new(w, h),
            outside: 0,
        };
        let frame = Frame {
            screen: Screen::Checkout(v.clone()),
            offline: true,
        };
        let Ok(()) = crate::ui::render(&frame, lang, &mut fb);
        (fb.inner, fb.outside)
    }

    #[test]
    fn the_newest_lines_are_shown_and_the_rest_counted_above() {
        // Ten lines of 20 px in 100 px: with the "more above" row (10 px), the newest four fit.
        assert_eq!(first_shown(&[20; 10], 100, 10, false), 6);
        // Everything fits: no row for "more above" is taken.
        assert_eq!(first_shown(&[20; 5], 100, 10, false), 0);
        // The same five, with older lines left out before them: the "more above" row takes its place.
        assert_eq!(first_shown(&[20; 5], 100, 10, true), 1);
        // A newest line taller than the list is still shown (cut), never skipped.
        assert_eq!(first_shown(&[20, 500], 100, 10, false), 1);
        assert_eq!(first_shown(&[], 100, 10, false), 0);
    }

    #[test]
    fn a_fifty_line_basket_keeps_the_newest_line_highlighted_just_above_the_total() {
        let lines: Vec<CheckoutLine> = (0..50).map(|i| line(&format!("Articolo {i}"), 1, 100)).collect();
        for size in SIZES {
            let (fb, outside) = draw(&view(CheckoutPhase::Scanning, lines.clone(), None), Language::It, size);
            assert_eq!(outside, 0, "{size:?}");
            // The highlight of the newest line ends where the total bar (its brand-coloured top rule) starts.
            let x = 10;
            let rows: Vec<Rgb565> = (0..size.1 as i32).filter_map(|y| fb.pixel(Point::new(x, y))).collect();
            let last_highlight = rows
                .iter()
                .rposition(|c| *c == HIGHLIGHT)
                .expect("newest line highlighted");
            let rule = rows.iter().rposition(|c| *c == palette::BRAND).expect("total bar");
            assert!(
                rule > last_highlight && rule - last_highlight <= 4,
                "{size:?}: highlight ends at {last_highlight}, total bar at {rule}"
            );
        }
    }

    #[test]
    fn the_e_receipt_shows_as_a_qr_code_only_when_there_is_a_url() {
        let receipt = |url: Option<&str>| CheckoutPhase::Receipt {
            receipt_number: "1".into(),
            e_receipt_url: url.map(str::to_string),
            printer: PrinterNote::PaperOut,
        };
        let dark = |fb: &Framebuffer| fb.pixels().iter().filter(|c| **c == palette::INK).count();
        for size in [(240, 320), (320, 240)] {
            let (with, _) = draw(
                &view(receipt(Some("https://r.example/1")), vec![], None),
                Language::En,
                size,
            );
            let (without, _) = draw(&view(receipt(None), vec![], None), Language::En, size);
            // A QR code is hundreds of dark modules; the text of the two screens differs by a line at most.
            assert!(dark(&with) > dark(&without) + 2000, "{size:?}");
        }
        // A URL too long for any QR version: the screen still renders, without a code.
        let long = "x".repeat(5000);
        assert!(encode_qr(&long).is_none());
        let (_, outside) = draw(&view(receipt(Some(&long)), vec![], None), Language::It, (240, 320));
        assert_eq!(outside, 0);
    }

    #[test]
    fn the_small_panel_shows_the_e_receipt_code_when_it_fits() {
        let lit = |url: &str| {
            let v = view(
                CheckoutPhase::Receipt {
                    receipt_number: "1".into(),
                    e_receipt_url: Some(url.into()),
                    printer: PrinterNote::Offline,
                },
                vec![line("Latte", 1, 129)],
                None,
            );
            let mut mono = embedded_graphics_simulator::SimulatorDisplay::<BinaryColor>::new(Size::new(128, 64));
            let frame = Frame {
                screen: Screen::Checkout(v),
                offline: false,
            };
            crate::ui::render_mono(&frame, Language::En, &mut mono).expect("the simulator never fails");
            mono.bounding_box()
                .points()
                .filter(|p| mono.get_pixel(*p) == ON)
                .count()
        };
        // Up to 53 bytes the code (version 3, 2 px modules, lit quiet zone: over 62×62 px, half lit) fits; a
        // longer URL leaves the text-only receipt, which lights far fewer pixels.
        let short = lit("https://scontrini.example.it/r/0042-0815?k=7f3a9c");
        let long = lit(&format!("https://scontrini.example.it/r/{}", "7".repeat(80)));
        assert!(short > 1500, "{short}");
        assert!(long < 1000, "{long}");
    }

    #[test]
    fn every_checkout_string_is_drawable_and_short_ones_fit_the_small_panel() {
        for lang in [Language::It, Language::En] {
            let t = checkout_texts(lang);
            let all = format!("{t:?}");
            assert_eq!(
                fit::sanitize(&all),
                all,
                "{lang:?}: a string the ISO 8859-15 fonts cannot draw"
            );
            for short in [
                t.phase_scanning_short,
                t.phase_awaiting_short,
                t.phase_paying_short,
                t.phase_reconciling_short,
                t.phase_receipt_short,
                t.phase_help_short,
                t.phase_pin_short,
                t.phase_menu_short,
                t.phase_cancelled_short,
                t.reconciling_short,
                t.paper_out_short,
                t.printer_offline_short,
                t.e_receipt_short,
                t.menu_short,
                t.cancelled_short,
            ] {
                assert!(fit::columns(short) <= 21, "{lang:?}: {short:?} too long for 128x64");
            }
        }
    }

    #[test]
    fn every_notice_has_its_own_words_in_each_language() {
        let notices = [
            Notice::UnknownCode { code: "800".into() },
            Notice::InvalidCode {
                reason: ErrorClass::Length,
            },
            Notice::CannotAdd { name: "Mele".into() },
            Notice::PaymentDeclined,
            Notice::PaymentCancelled,
            Notice::PaymentInProgress,
            Notice::AgeCheckNeeded { min_age: 18 },
            Notice::MemberPricesApplied { savings_cents: 150 },
            Notice::WaitForStaff,
            Notice::EmptyBasket,
            Notice::AlreadyMember,
            Notice::NothingToApprove,
            Notice::NoSuchLine { line: 6 },
            Notice::CancelAfterReconcile,
            Notice::SalesPaused,
            Notice::UnknownBadge,
            Notice::NothingToReprint,
        ];
        for lang in [Language::It, Language::En] {
            let mut words: Vec<String> = notices.iter().map(|n| text::notice(lang, n)).collect();
            words.sort();
            words.dedup();
            assert_eq!(words.len(), notices.len(), "{lang:?}");
        }
        assert!(text::notice(
            Language::It,
            &Notice::UnknownCode {
                code: "8001234567890".into()
            }
        )
        .contains("8001234567890"));
        assert!(text::notice(Language::En, &Notice::MemberPricesApplied { savings_cents: 150 }).contains("€ 1,50"));
        // Shoppers count lines from 1.
        assert!(text::notice(Language::En, &Notice::NoSuchLine { line: 6 }).ends_with('7'));
    }

    #[test]
    fn the_pin_shows_how_many_digits_never_which() {
        assert_eq!(text::pin_mask(0), "_ _ _ _");
        assert_eq!(text::pin_mask(2), "* * _ _");
        assert_eq!(text::pin_mask(6), "* * * * * *");
        assert!(!text::pin_mask(u8::MAX).chars().any(|c| c.is_ascii_digit()));
    }

    fn any_phase() -> impl Strategy<Value = CheckoutPhase> {
        prop_oneof![
            Just(CheckoutPhase::Scanning),
            any::<u8>().prop_map(|min_age| CheckoutPhase::AwaitingStaff { min_age }),
            any::<i64>().prop_map(|amount_cents| CheckoutPhase::Paying { amount_cents }),
            Just(CheckoutPhase::Reconciling),
            (
                "\\PC{0,40}",
                proptest::option::of("[ -~]{0,400}"),
                prop_oneof![
                    Just(PrinterNote::Printed),
                    Just(PrinterNote::PaperOut),
                    Just(PrinterNote::Offline),
                    Just(PrinterNote::EReceiptOnly)
                ]
            )
                .prop_map(|(receipt_number, e_receipt_url, printer)| CheckoutPhase::Receipt {
                    receipt_number,
                    e_receipt_url,
                    printer
                }),
            Just(CheckoutPhase::HelpComing),
            (any::<u8>(), any::<bool>())
                .prop_map(|(digits_entered, wrong)| CheckoutPhase::StaffPin { digits_entered, wrong }),
            (
                "\\PC{0,60}",
                proptest::option::of(proptest::sample::select(StaffChoice::ALL.to_vec())),
                proptest::option::of(0usize..100)
            )
                .prop_map(|(staff_name, highlighted, selected_line)| CheckoutPhase::StaffMenu {
                    staff_name,
                    highlighted,
                    selected_line
                }),
            Just(CheckoutPhase::Cancelled),
        ]
    }

    fn any_line() -> impl Strategy<Value = CheckoutLine> {
        (
            "\\PC{0,80}",
            prop_oneof![
                (any::<u32>(), any::<i64>()).prop_map(|(count, unit_price_cents)| LineQuantity::Pieces {
                    count,
                    unit_price_cents
                }),
                (any::<u32>(), any::<i64>()).prop_map(|(grams, price_per_kg_cents)| LineQuantity::Weight {
                    grams,
                    price_per_kg_cents
                }),
                Just(LineQuantity::LabelPrice),
            ],
            any::<i64>(),
            proptest::collection::vec((any::<u8>(), any::<i64>()), 0..3),
            any::<bool>(),
        )
            .prop_map(
                |(name, quantity, amount_cents, discounts, needs_age_check)| CheckoutLine {
                    name,
                    quantity,
                    amount_cents,
                    discounts: discounts
                        .into_iter()
                        .map(|(percent, cents)| Discount {
                            reason: Reason::Promotion {
                                id: "p".into(),
                                label: "x".into(),
                                detail: PromotionDetail::PercentOff { percent },
                            },
                            cents,
                        })
                        .collect(),
                    needs_age_check,
                },
            )
    }

    fn any_notice() -> impl Strategy<Value = Notice> {
        prop_oneof![
            "\\PC{0,60}".prop_map(|code| Notice::UnknownCode { code }),
            "\\PC{0,120}".prop_map(|name| Notice::CannotAdd { name }),
            any::<i64>().prop_map(|savings_cents| Notice::MemberPricesApplied { savings_cents }),
            any::<u8>().prop_map(|min_age| Notice::AgeCheckNeeded { min_age }),
            any::<usize>().prop_map(|line| Notice::NoSuchLine { line }),
            Just(Notice::PaymentDeclined),
            Just(Notice::InvalidCode {
                reason: ErrorClass::Malformed
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn basket_lines_never_draw_over_the_header_banners_or_total_bar(
            lines in proptest::collection::vec(any_line(), 1..80),
            total_cents in any::<i64>(),
            savings_cents in any::<i64>(),
            member in any::<bool>(),
            notice in proptest::option::of(any_notice()),
            awaiting in any::<bool>(),
            size in proptest::sample::select(SIZES.to_vec()),
        ) {
            let phase = if awaiting { CheckoutPhase::AwaitingStaff { min_age: 18 } } else { CheckoutPhase::Scanning };
            let full = CheckoutView { phase, lines, total_cents, savings_cents, member, notice };
            // The same screen with one short line: the header, banners and total bar are the same, so any
            // pixel that differs there was drawn by the list where it must not be.
            let plain = CheckoutView { lines: vec![line("x", 1, 1)], ..full.clone() };
            let (a, _) = draw(&full, Language::It, size);
            let (b, _) = draw(&plain, Language::It, size);
            let area = a.bounding_box();
            let m = Metrics::for_size(area.size);
            let content = crate::ui::screens::content_area(area, &m);
            let fonts = list_fonts(content, &m);
            let bar_top = area.size.height - total_bar_height(&total_rows(content, &m, Language::It, &full), &m);
            let mut banners_h = 0;
            let mut scratch = Framebuffer::new(area.size.width, area.size.height);
            let awaiting_banner = awaiting.then(|| Banner {
                text: text::awaiting_staff(Language::It, 18),
                fill: palette::WARN,
                ink: palette::ON_WARN,
            });
            for banner in awaiting_banner.into_iter().chain(full.notice.as_ref().map(|n| notice_banner(Language::It, n))) {
                let at = Rectangle::new(
                    content.top_left + Point::new(0, banners_h as i32),
                    Size::new(content.size.width, content.size.height.saturating_sub(banners_h)),
                );
                let Ok(h) = draw_banner(&mut scratch, at, &m, &fonts, &banner);
                banners_h += h;
            }
            let list_top = content.top_left.y as u32 + banners_h;
            for y in (0..list_top).chain(bar_top.max(list_top)..area.size.height) {
                for x in 0..area.size.width {
                    let p = Point::new(x as i32, y as i32);
                    prop_assert_eq!(a.pixel(p), b.pixel(p), "{:?} at {:?}", size, p);
                }
            }
        }

        #[test]
        fn any_checkout_view_renders_without_panicking_and_inside_the_screen(
            phase in any_phase(),
            lines in proptest::collection::vec(any_line(), 0..80),
            total_cents in any::<i64>(),
            savings_cents in any::<i64>(),
            member in any::<bool>(),
            notice in proptest::option::of(any_notice()),
            size in proptest::sample::select(SIZES.to_vec()),
            italian in any::<bool>(),
        ) {
            let v = CheckoutView { phase, lines, total_cents, savings_cents, member, notice };
            let lang = if italian { Language::It } else { Language::En };
            let (_, outside) = draw(&v, lang, size);
            prop_assert_eq!(outside, 0);
            let mut mono = Strict {
                inner: embedded_graphics_simulator::SimulatorDisplay::<BinaryColor>::new(Size::new(128, 64)),
                outside: 0,
            };
            let frame = Frame { screen: Screen::Checkout(v), offline: true };
            prop_assert!(crate::ui::render_mono(&frame, lang, &mut mono).is_ok());
            prop_assert_eq!(mono.outside, 0);
        }
    }
}
