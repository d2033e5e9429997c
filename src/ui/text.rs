//! The shopper-facing words, in Italian and English. One table per language so a translator sees every string
//! of a language together; formatting of numbers that carry words (stock, age, weight) lives here too.
//!
//! Strings here are written in characters the ISO 8859-15 fonts can draw: "..." instead of "…", straight quotes.

use super::{ErrorClass, Language, LineQuantity, Notice, PrinterNote, StaffChoice};
use crate::money::format_eur;

/// Every fixed string of the UI in one language.
#[derive(Debug)]
pub struct Texts {
    /// Header bar title on every colour screen.
    pub title: &'static str,
    /// Idle screen headline.
    pub idle_headline: &'static str,
    /// Idle screen friendly line.
    pub idle_hint: &'static str,
    /// Idle headline on the 128×64 panel.
    pub idle_headline_short: &'static str,
    /// Offline marker.
    pub offline: &'static str,
    /// Offline marker on the 128×64 panel.
    pub offline_short: &'static str,
    /// Stock line prefix: "In stock here: " + count.
    pub in_stock_prefix: &'static str,
    /// Short stock prefix on the 128×64 panel.
    pub in_stock_prefix_short: &'static str,
    /// Stock is zero.
    pub out_of_stock: &'static str,
    /// Stock is zero, 128×64 panel.
    pub out_of_stock_short: &'static str,
    /// Suffix after a per-kg price.
    pub per_kg: &'static str,
    /// Label before the weight of a variable-measure item.
    pub weight_label: &'static str,
    /// "Over N only": text before the age.
    pub age_prefix: &'static str,
    /// "Over N only": text after the age.
    pub age_suffix: &'static str,
    /// Label before the struck-through regular price.
    pub regular_price_label: &'static str,
    /// Not-found screen headline.
    pub not_found_headline: &'static str,
    /// Not-found headline on the 128×64 panel.
    pub not_found_headline_short: &'static str,
    /// Ask staff.
    pub ask_staff: &'static str,
    /// Invalid-code screen headline.
    pub invalid_headline: &'static str,
    /// Invalid-code hint under the reason.
    pub invalid_hint: &'static str,
    /// Scanner-disconnected headline.
    pub disconnected_headline: &'static str,
    /// Scanner-disconnected headline on the 128×64 panel.
    pub disconnected_headline_short: &'static str,
    /// Scanner-disconnected second line.
    pub reconnecting: &'static str,
    /// Attract screen line while payments are paused (outbox full).
    pub sales_paused: &'static str,
    /// The same on the 128×64 panel.
    pub sales_paused_short: &'static str,
    /// Out-of-order headline (kiosk locked by central).
    pub out_of_order_headline: &'static str,
}

const IT: Texts = Texts {
    title: "Verifica prezzo",
    idle_headline: "Scansiona un prodotto",
    idle_hint: "Avvicina il codice a barre al lettore",
    idle_headline_short: "Scansiona un prodotto",
    offline: "NON IN LINEA",
    offline_short: "OFF",
    in_stock_prefix: "Disponibili qui: ",
    in_stock_prefix_short: "Disponibili: ",
    out_of_stock: "Esaurito qui",
    out_of_stock_short: "Esaurito",
    per_kg: "al kg",
    weight_label: "Peso",
    age_prefix: "Vietato ai minori di ",
    age_suffix: " anni",
    regular_price_label: "invece di",
    not_found_headline: "Prodotto non trovato",
    not_found_headline_short: "Non trovato",
    ask_staff: "Chiedi al personale",
    invalid_headline: "Codice non valido",
    invalid_hint: "Riprova oppure chiedi al personale",
    disconnected_headline: "Lettore non collegato",
    disconnected_headline_short: "Lettore scollegato",
    reconnecting: "Stiamo riprovando...",
    sales_paused: "Pagamenti sospesi: in attesa del collegamento con la sede. La verifica prezzi funziona.",
    sales_paused_short: "Pagamenti sospesi",
    out_of_order_headline: "Fuori servizio",
};

const EN: Texts = Texts {
    title: "Price check",
    idle_headline: "Scan a product",
    idle_hint: "Hold the barcode under the scanner",
    idle_headline_short: "Scan a product",
    offline: "OFFLINE",
    offline_short: "OFF",
    in_stock_prefix: "In stock here: ",
    in_stock_prefix_short: "In stock: ",
    out_of_stock: "Out of stock here",
    out_of_stock_short: "Out of stock",
    per_kg: "per kg",
    weight_label: "Weight",
    age_prefix: "Over ",
    age_suffix: " only",
    regular_price_label: "was",
    not_found_headline: "Product not found",
    not_found_headline_short: "Not found",
    ask_staff: "Please ask a member of staff",
    invalid_headline: "Barcode not valid",
    invalid_hint: "Please try again or ask a member of staff",
    disconnected_headline: "Scanner disconnected",
    disconnected_headline_short: "No scanner",
    reconnecting: "Reconnecting...",
    sales_paused: "Payments paused: waiting for the link to head office. Price check still works.",
    sales_paused_short: "Payments paused",
    out_of_order_headline: "Out of order",
};

/// The table for `lang`.
pub fn texts(lang: Language) -> &'static Texts {
    match lang {
        Language::It => &IT,
        Language::En => &EN,
    }
}

/// Every fixed string of the self-checkout screens in one language. `*_short` strings are for the 128×64 panel
/// (at most 21 characters).
#[derive(Debug)]
pub struct CheckoutTexts {
    /// Header bar title on the checkout screens.
    pub title: &'static str,
    /// Empty basket: what to do first.
    pub empty_basket: &'static str,
    /// The label beside the total.
    pub total: &'static str,
    /// "You saved" before the amount.
    pub saved_prefix: &'static str,
    /// The same on the 128×64 panel.
    pub saved_short_prefix: &'static str,
    /// Member badge by the total.
    pub member_badge: &'static str,
    /// Under the total while scanning.
    pub scanning_hint: &'static str,
    /// Flag under an age-restricted line still to be approved.
    pub age_check_line: &'static str,
    /// Phase words on the 128×64 panel, one per phase.
    pub phase_scanning_short: &'static str,
    /// 128×64: awaiting staff.
    pub phase_awaiting_short: &'static str,
    /// 128×64: paying.
    pub phase_paying_short: &'static str,
    /// 128×64: reconciling.
    pub phase_reconciling_short: &'static str,
    /// 128×64: receipt.
    pub phase_receipt_short: &'static str,
    /// 128×64: help coming.
    pub phase_help_short: &'static str,
    /// 128×64: staff PIN.
    pub phase_pin_short: &'static str,
    /// 128×64: staff menu.
    pub phase_menu_short: &'static str,
    /// 128×64: cancelled.
    pub phase_cancelled_short: &'static str,
    /// Paying: headline.
    pub paying_headline: &'static str,
    /// Paying: hint under the amount.
    pub paying_hint: &'static str,
    /// Reconciling: headline.
    pub reconciling_headline: &'static str,
    /// Reconciling: the warning that matters.
    pub reconciling_detail: &'static str,
    /// Reconciling: hint.
    pub reconciling_hint: &'static str,
    /// Reconciling, 128×64.
    pub reconciling_short: &'static str,
    /// Receipt: headline.
    pub receipt_headline: &'static str,
    /// Receipt: "Receipt no." before the number.
    pub receipt_number_prefix: &'static str,
    /// Receipt printed: take it.
    pub printed: &'static str,
    /// Paper out: take the e-receipt.
    pub paper_out: &'static str,
    /// Printer offline: take the e-receipt.
    pub printer_offline: &'static str,
    /// E-receipt only station.
    pub e_receipt_only: &'static str,
    /// Under the QR code.
    pub scan_qr: &'static str,
    /// Paper out, 128×64.
    pub paper_out_short: &'static str,
    /// Printer offline, 128×64.
    pub printer_offline_short: &'static str,
    /// E-receipt only, 128×64.
    pub e_receipt_short: &'static str,
    /// Help coming: headline.
    pub help_headline: &'static str,
    /// Help coming: hint.
    pub help_hint: &'static str,
    /// Awaiting staff: banner over the basket, before the age.
    pub awaiting_prefix: &'static str,
    /// Awaiting staff: after the age.
    pub awaiting_suffix: &'static str,
    /// Staff PIN: headline.
    pub pin_headline: &'static str,
    /// Staff PIN: the last PIN was wrong.
    pub pin_wrong: &'static str,
    /// Staff PIN: how to confirm or leave.
    pub pin_hint: &'static str,
    /// Staff menu: headline before the staff name.
    pub menu_headline: &'static str,
    /// Staff menu: approve age.
    pub menu_approve: &'static str,
    /// Staff menu: remove a line (no line chosen yet).
    pub menu_remove: &'static str,
    /// Staff menu: "remove line" before the line number.
    pub menu_remove_line: &'static str,
    /// Staff menu: cancel basket.
    pub menu_cancel: &'static str,
    /// Staff menu: reprint last receipt.
    pub menu_reprint: &'static str,
    /// Staff menu: how to choose.
    pub menu_hint: &'static str,
    /// Staff menu on the 128×64 panel: the four choices by digit.
    pub menu_short: &'static str,
    /// Cancelled: headline.
    pub cancelled_headline: &'static str,
    /// Cancelled: nothing was charged.
    pub cancelled_detail: &'static str,
    /// Cancelled: what next.
    pub cancelled_hint: &'static str,
    /// Cancelled, 128×64.
    pub cancelled_short: &'static str,
    /// "Over N only" on the 128×64 panel: before the age.
    pub age_short_prefix: &'static str,
    /// Notices, in the order of [`Notice`].
    pub unknown_code: &'static str,
    /// Invalid code: before the reason.
    pub invalid_code: &'static str,
    /// Cannot add: after the product name.
    pub cannot_add: &'static str,
    /// Payment declined.
    pub declined: &'static str,
    /// Payment cancelled at the terminal.
    pub payment_cancelled: &'static str,
    /// Payment in progress.
    pub payment_in_progress: &'static str,
    /// Age check needed: before the age.
    pub age_check_prefix: &'static str,
    /// Age check needed: after the age.
    pub age_check_suffix: &'static str,
    /// Member prices applied: before the savings.
    pub member_applied: &'static str,
    /// Wait for staff.
    pub wait_for_staff: &'static str,
    /// Pay with an empty basket.
    pub nothing_to_pay: &'static str,
    /// Loyalty card scanned twice.
    pub already_member: &'static str,
    /// Nothing to approve.
    pub nothing_to_approve: &'static str,
    /// No such line: before the number.
    pub no_such_line: &'static str,
    /// Cancel after reconciling.
    pub cancel_after_reconcile: &'static str,
    /// New sales are paused (queue for central full).
    pub sales_paused_notice: &'static str,
    /// A badge not in the staff list.
    pub unknown_badge: &'static str,
    /// No sale to reprint.
    pub nothing_to_reprint: &'static str,
    /// "N more lines above": after the number.
    pub more_above_suffix: &'static str,
    /// The same for one line.
    pub one_more_above: &'static str,
    /// Label price line ("price from the scale label").
    pub label_price: &'static str,
}

const CHECKOUT_IT: CheckoutTexts = CheckoutTexts {
    title: "Cassa automatica",
    empty_basket: "Scansiona il primo prodotto",
    total: "Totale",
    saved_prefix: "Hai risparmiato ",
    saved_short_prefix: "Risparmi ",
    member_badge: "SOCIO",
    scanning_hint: "Premi Paga quando hai finito",
    age_check_line: "Verifica età in attesa",
    phase_scanning_short: "Spesa",
    phase_awaiting_short: "Attendi il personale",
    phase_paying_short: "Pagamento",
    phase_reconciling_short: "Verifica pagamento",
    phase_receipt_short: "Pagato, grazie!",
    phase_help_short: "Aiuto in arrivo",
    phase_pin_short: "PIN personale",
    phase_menu_short: "Menu personale",
    phase_cancelled_short: "Spesa annullata",
    paying_headline: "Pagamento in corso",
    paying_hint: "Segui le istruzioni sul terminale di pagamento",
    reconciling_headline: "Attendi: stiamo verificando il pagamento",
    reconciling_detail: "Non pagare di nuovo",
    reconciling_hint: "Chiediamo l'esito al terminale. Ci vuole poco.",
    reconciling_short: "Non pagare di nuovo",
    receipt_headline: "Grazie!",
    receipt_number_prefix: "Scontrino n. ",
    printed: "Ritira lo scontrino",
    paper_out: "Carta esaurita: prendi lo scontrino elettronico",
    printer_offline: "Stampante non disponibile: prendi lo scontrino elettronico",
    e_receipt_only: "Prendi lo scontrino elettronico",
    scan_qr: "Inquadra il codice con il telefono",
    paper_out_short: "Carta finita: QR",
    printer_offline_short: "Stampante KO: QR",
    e_receipt_short: "Scontrino via QR",
    help_headline: "Sta arrivando un addetto",
    help_hint: "Resta alla cassa, arriviamo subito",
    awaiting_prefix: "Attendi il personale per la verifica dell'età (",
    awaiting_suffix: "+)",
    pin_headline: "Codice personale",
    pin_wrong: "Codice errato, riprova",
    pin_hint: "Digita il PIN e premi Paga. Annulla per uscire.",
    menu_headline: "Personale: ",
    menu_approve: "Approva età",
    menu_remove: "Rimuovi una riga",
    menu_remove_line: "Rimuovi riga ",
    menu_cancel: "Annulla la spesa",
    menu_reprint: "Ristampa scontrino",
    menu_hint: "Tasti 1-4, oppure Aiuto = voce successiva, Paga = conferma, Annulla = esci",
    menu_short: "1Età 2Riga 3Ann 4Stam",
    cancelled_headline: "Spesa annullata",
    cancelled_detail: "Nessun importo è stato addebitato",
    cancelled_hint: "Scansiona un prodotto per iniziare una nuova spesa",
    cancelled_short: "Nessun addebito",
    age_short_prefix: "Età ",
    unknown_code: "Prodotto non trovato, chiedi al personale. Codice: ",
    invalid_code: "Codice non valido. ",
    cannot_add: ": non si può aggiungere, chiedi al personale",
    declined: "Pagamento rifiutato. La spesa è invariata: riprova o chiedi al personale.",
    payment_cancelled: "Pagamento annullato. La spesa è invariata.",
    payment_in_progress: "Pagamento in corso: attendi l'esito",
    age_check_prefix: "Prodotto vietato ai minori di ",
    age_check_suffix: " anni: un addetto verificherà l'età",
    member_applied: "Prezzi soci applicati: risparmi ",
    wait_for_staff: "Un addetto sta arrivando: attendi",
    nothing_to_pay: "Il carrello è vuoto: scansiona un prodotto",
    already_member: "Carta socio già registrata",
    nothing_to_approve: "Nessun prodotto da approvare",
    no_such_line: "Riga inesistente: ",
    cancel_after_reconcile: "L'annullamento avverrà dopo la verifica del pagamento",
    sales_paused_notice: "Cassa momentaneamente chiusa: usa una cassa con operatore",
    unknown_badge: "Badge non abilitato su questa cassa",
    nothing_to_reprint: "Nessuno scontrino da ristampare",
    more_above_suffix: " righe sopra",
    one_more_above: "1 riga sopra",
    label_price: "Prezzo da etichetta",
};

const CHECKOUT_EN: CheckoutTexts = CheckoutTexts {
    title: "Self-checkout",
    empty_basket: "Scan your first item",
    total: "Total",
    saved_prefix: "You saved ",
    saved_short_prefix: "Saved ",
    member_badge: "MEMBER",
    scanning_hint: "Press Pay when you are done",
    age_check_line: "Age check pending",
    phase_scanning_short: "Basket",
    phase_awaiting_short: "Wait for staff",
    phase_paying_short: "Paying",
    phase_reconciling_short: "Checking payment",
    phase_receipt_short: "Paid, thank you!",
    phase_help_short: "Help is coming",
    phase_pin_short: "Staff PIN",
    phase_menu_short: "Staff menu",
    phase_cancelled_short: "Basket cancelled",
    paying_headline: "Payment in progress",
    paying_hint: "Follow the instructions on the card terminal",
    reconciling_headline: "Please wait: checking your payment",
    reconciling_detail: "Do not pay again",
    reconciling_hint: "We are asking the terminal for the result. It will not take long.",
    reconciling_short: "Do not pay again",
    receipt_headline: "Thank you!",
    receipt_number_prefix: "Receipt no. ",
    printed: "Please take your receipt",
    paper_out: "Paper out: take your e-receipt",
    printer_offline: "Printer not available: take your e-receipt",
    e_receipt_only: "Take your e-receipt",
    scan_qr: "Scan the code with your phone",
    paper_out_short: "Paper out: QR code",
    printer_offline_short: "No printer: QR code",
    e_receipt_short: "E-receipt: QR code",
    help_headline: "Help is on the way",
    help_hint: "Please stay at the till",
    awaiting_prefix: "Please wait for staff to check your age (",
    awaiting_suffix: "+)",
    pin_headline: "Staff PIN",
    pin_wrong: "Wrong PIN, try again",
    pin_hint: "Type the PIN and press Pay. Cancel to leave.",
    menu_headline: "Staff: ",
    menu_approve: "Approve age",
    menu_remove: "Remove a line",
    menu_remove_line: "Remove line ",
    menu_cancel: "Cancel basket",
    menu_reprint: "Reprint last receipt",
    menu_hint: "Keys 1-4, or Help = next item, Pay = confirm, Cancel = leave",
    menu_short: "1Age 2Line 3Canc 4Rpt",
    cancelled_headline: "Basket cancelled",
    cancelled_detail: "Nothing was charged",
    cancelled_hint: "Scan an item to start a new basket",
    cancelled_short: "Nothing charged",
    age_short_prefix: "Age ",
    unknown_code: "Product not found, please ask staff. Code: ",
    invalid_code: "Barcode not valid. ",
    cannot_add: ": cannot be added, please ask staff",
    declined: "Payment declined. Your basket is unchanged: try again or ask staff.",
    payment_cancelled: "Payment cancelled. Your basket is unchanged.",
    payment_in_progress: "Payment in progress: please wait",
    age_check_prefix: "Over ",
    age_check_suffix: " only: a member of staff will check your age",
    member_applied: "Member prices applied: you save ",
    wait_for_staff: "A member of staff is coming: please wait",
    nothing_to_pay: "Your basket is empty: scan an item",
    already_member: "Member card already scanned",
    nothing_to_approve: "Nothing to approve",
    no_such_line: "No such line: ",
    cancel_after_reconcile: "The cancel happens once the payment is checked",
    sales_paused_notice: "This checkout is paused: please use a staffed till",
    unknown_badge: "Badge not enabled on this checkout",
    nothing_to_reprint: "No receipt to reprint",
    more_above_suffix: " more lines above",
    one_more_above: "1 more line above",
    label_price: "Price from the label",
};

/// The checkout table for `lang`.
pub fn checkout_texts(lang: Language) -> &'static CheckoutTexts {
    match lang {
        Language::It => &CHECKOUT_IT,
        Language::En => &CHECKOUT_EN,
    }
}

/// The banner text for `notice`.
pub fn notice(lang: Language, notice: &Notice) -> String {
    let t = checkout_texts(lang);
    match notice {
        Notice::UnknownCode { code } => format!("{}{code}", t.unknown_code),
        Notice::InvalidCode { reason } => format!("{}{}", t.invalid_code, invalid_reason(lang, *reason)),
        Notice::CannotAdd { name } => format!("{name}{}", t.cannot_add),
        Notice::PaymentDeclined => t.declined.to_string(),
        Notice::PaymentCancelled => t.payment_cancelled.to_string(),
        Notice::PaymentInProgress => t.payment_in_progress.to_string(),
        Notice::AgeCheckNeeded { min_age } => format!("{}{min_age}{}", t.age_check_prefix, t.age_check_suffix),
        Notice::MemberPricesApplied { savings_cents } => {
            format!("{}{}", t.member_applied, format_eur(*savings_cents))
        }
        Notice::WaitForStaff => t.wait_for_staff.to_string(),
        Notice::EmptyBasket => t.nothing_to_pay.to_string(),
        Notice::AlreadyMember => t.already_member.to_string(),
        Notice::NothingToApprove => t.nothing_to_approve.to_string(),
        Notice::NoSuchLine { line } => format!("{}{}", t.no_such_line, line.saturating_add(1)),
        Notice::CancelAfterReconcile => t.cancel_after_reconcile.to_string(),
        Notice::SalesPaused => t.sales_paused_notice.to_string(),
        Notice::UnknownBadge => t.unknown_badge.to_string(),
        Notice::NothingToReprint => t.nothing_to_reprint.to_string(),
    }
}

/// The notice in a few words for the 128×64 panel (cut to fit there).
pub fn notice_short(lang: Language, notice: &Notice) -> String {
    let (t, c) = (texts(lang), checkout_texts(lang));
    match notice {
        Notice::UnknownCode { .. } => t.not_found_headline_short.to_string(),
        Notice::InvalidCode { reason } => invalid_reason_short(lang, *reason).to_string(),
        Notice::AgeCheckNeeded { min_age } => format!("{}{min_age}+", c.age_short_prefix),
        Notice::MemberPricesApplied { savings_cents } => format!("{} -{}", c.member_badge, format_eur(*savings_cents)),
        other => self::notice(lang, other),
    }
}

/// The quantity line under a basket line's name; `None` for a single piece (the amount says it all).
pub fn quantity(lang: Language, q: &LineQuantity) -> Option<String> {
    match q {
        LineQuantity::Pieces { count, .. } if *count <= 1 => None,
        LineQuantity::Pieces {
            count,
            unit_price_cents,
        } => Some(format!("{count} x {}", format_eur(*unit_price_cents))),
        LineQuantity::Weight {
            grams,
            price_per_kg_cents,
        } => Some(format!(
            "{} x {} {}",
            weight(*grams),
            format_eur(*price_per_kg_cents),
            texts(lang).per_kg
        )),
        LineQuantity::LabelPrice => Some(checkout_texts(lang).label_price.to_string()),
    }
}

/// The banner while an age check waits for staff, e.g. "Please wait for staff to check your age (18+)".
pub fn awaiting_staff(lang: Language, min_age: u8) -> String {
    let t = checkout_texts(lang);
    format!("{}{min_age}{}", t.awaiting_prefix, t.awaiting_suffix)
}

/// "3 more lines above".
pub fn more_above(lang: Language, n: usize) -> String {
    let t = checkout_texts(lang);
    if n == 1 {
        t.one_more_above.to_string()
    } else {
        format!("{n}{}", t.more_above_suffix)
    }
}

/// "You saved € 1,20".
pub fn saved(lang: Language, cents: i64) -> String {
    format!("{}{}", checkout_texts(lang).saved_prefix, format_eur(cents))
}

/// What became of the paper receipt, in full and for the 128×64 panel.
pub fn printer_note(lang: Language, note: PrinterNote) -> (&'static str, &'static str) {
    let t = checkout_texts(lang);
    match note {
        PrinterNote::Printed => (t.printed, t.printed),
        PrinterNote::PaperOut => (t.paper_out, t.paper_out_short),
        PrinterNote::Offline => (t.printer_offline, t.printer_offline_short),
        PrinterNote::EReceiptOnly => (t.e_receipt_only, t.e_receipt_short),
    }
}

/// A staff menu choice, with the selected line when removing one (shown 1-based).
pub fn staff_choice(lang: Language, choice: StaffChoice, line: Option<usize>) -> String {
    let t = checkout_texts(lang);
    match (choice, line) {
        (StaffChoice::ApproveAge, _) => t.menu_approve.to_string(),
        (StaffChoice::RemoveLine, Some(i)) => format!("{}{}", t.menu_remove_line, i.saturating_add(1)),
        (StaffChoice::RemoveLine, None) => t.menu_remove.to_string(),
        (StaffChoice::CancelBasket, _) => t.menu_cancel.to_string(),
        (StaffChoice::ReprintReceipt, _) => t.menu_reprint.to_string(),
    }
}

/// The PIN as typed so far: one `*` per digit and `_` for the rest of a 4-digit PIN (the digits never show).
pub fn pin_mask(digits_entered: u8) -> String {
    let n = usize::from(digits_entered.min(12));
    let blanks = 4usize.saturating_sub(n);
    let mut cells = vec!["*"; n];
    cells.extend(std::iter::repeat_n("_", blanks));
    cells.join(" ")
}

/// Why a code was refused, in words a shopper understands.
pub fn invalid_reason(lang: Language, reason: ErrorClass) -> &'static str {
    match (lang, reason) {
        (Language::It, ErrorClass::Empty) => "Non è stato letto nulla.",
        (Language::It, ErrorClass::CheckDigit) => "Cifra di controllo errata: l'etichetta potrebbe essere rovinata.",
        (Language::It, ErrorClass::Length) => "Il numero di cifre è sbagliato.",
        (Language::It, ErrorClass::Characters) => "Il codice contiene caratteri non ammessi.",
        (Language::It, ErrorClass::Date) => "Il codice contiene una data non valida.",
        (Language::It, ErrorClass::Malformed) => "Il codice è illeggibile o rovinato.",
        (Language::En, ErrorClass::Empty) => "Nothing was read.",
        (Language::En, ErrorClass::CheckDigit) => "The check digit is wrong: the label may be damaged.",
        (Language::En, ErrorClass::Length) => "The code has the wrong number of digits.",
        (Language::En, ErrorClass::Characters) => "The code contains characters that are not allowed.",
        (Language::En, ErrorClass::Date) => "The code contains a date that is not valid.",
        (Language::En, ErrorClass::Malformed) => "The code is unreadable or damaged.",
    }
}

/// Why a code was refused, in at most 25 characters (128×64 panel).
pub fn invalid_reason_short(lang: Language, reason: ErrorClass) -> &'static str {
    match (lang, reason) {
        (Language::It, ErrorClass::Empty) => "Nessun codice letto",
        (Language::It, ErrorClass::CheckDigit) => "Cifra di controllo errata",
        (Language::It, ErrorClass::Length) => "Numero di cifre errato",
        (Language::It, ErrorClass::Characters) => "Caratteri non ammessi",
        (Language::It, ErrorClass::Date) => "Data non valida",
        (Language::It, ErrorClass::Malformed) => "Codice illeggibile",
        (Language::En, ErrorClass::Empty) => "Nothing was read",
        (Language::En, ErrorClass::CheckDigit) => "Check digit wrong",
        (Language::En, ErrorClass::Length) => "Wrong number of digits",
        (Language::En, ErrorClass::Characters) => "Characters not allowed",
        (Language::En, ErrorClass::Date) => "Date not valid",
        (Language::En, ErrorClass::Malformed) => "Code unreadable",
    }
}

/// The stock line: a count in this store, or "out of stock" at zero or below (a count that went negative
/// through unrecorded sales is still nothing on the shelf).
pub fn stock(lang: Language, units: i64, short: bool) -> String {
    let t = texts(lang);
    if units <= 0 {
        return (if short { t.out_of_stock_short } else { t.out_of_stock }).to_string();
    }
    format!(
        "{}{units}",
        if short {
            t.in_stock_prefix_short
        } else {
            t.in_stock_prefix
        }
    )
}

/// The age restriction line, e.g. "Vietato ai minori di 18 anni".
pub fn age(lang: Language, min_age: u8) -> String {
    let t = texts(lang);
    format!("{}{min_age}{}", t.age_prefix, t.age_suffix)
}

/// A weight the Italian way, as on scale labels: `0,532 kg` (same in both languages, like prices).
pub fn weight(grams: u32) -> String {
    format!("{},{:03} kg", grams / 1000, grams % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_read_like_scale_labels() {
        assert_eq!(weight(532), "0,532 kg");
        assert_eq!(weight(1234), "1,234 kg");
        assert_eq!(weight(0), "0,000 kg");
        assert_eq!(weight(u32::MAX), "4294967,295 kg");
    }

    #[test]
    fn stock_says_out_of_stock_at_zero_or_below() {
        assert_eq!(stock(Language::It, 12, false), "Disponibili qui: 12");
        assert_eq!(stock(Language::En, 12, false), "In stock here: 12");
        assert_eq!(stock(Language::It, 0, false), "Esaurito qui");
        assert_eq!(stock(Language::En, -3, false), "Out of stock here");
    }

    #[test]
    fn age_line_in_both_languages() {
        assert_eq!(age(Language::It, 18), "Vietato ai minori di 18 anni");
        assert_eq!(age(Language::En, 18), "Over 18 only");
    }

    #[test]
    fn every_reason_has_distinct_words_in_each_language() {
        let all = [
            ErrorClass::Empty,
            ErrorClass::CheckDigit,
            ErrorClass::Length,
            ErrorClass::Characters,
            ErrorClass::Date,
            ErrorClass::Malformed,
        ];
        for lang in [Language::It, Language::En] {
            for words in [invalid_reason, invalid_reason_short] {
                let mut seen: Vec<&str> = all.iter().map(|r| words(lang, *r)).collect();
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), all.len(), "{lang:?}");
            }
            for r in all {
                assert!(
                    invalid_reason_short(lang, r).chars().count() <= 25,
                    "{r:?} too long for 128x64"
                );
            }
        }
    }
}
