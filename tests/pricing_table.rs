//! The pricing table of issue 4: baskets with the total worked out by hand (the comment on each case is the
//! arithmetic), through the public API, with products read by the real import parser. docs/pricing.md states
//! the rules these numbers follow; an online shop that implements it must get the same totals.

use omnigate::catalog::import::parse_product;
use omnigate::catalog::{CalendarDate, Product};
use omnigate::config::Language;
use omnigate::pricing::{price_basket, BasketLine, PricedBasket, PricingContext, Quantity};

/// The business date of every case unless it says otherwise.
const TODAY: &str = "2026-03-10";

fn product(json: String) -> Product {
    parse_product(&json).unwrap_or_else(|e| panic!("test product {json}: {e}"))
}

/// A product sold by the piece.
fn piece(sku: &str, price: i64, vat_bp: u32) -> Product {
    product(format!(
        r#"{{"sku":"{sku}","name":"{sku}","brand":"B","price_cents":{price},"vat_rate_bp":{vat_bp}}}"#
    ))
}

/// A product sold by kg, `price` per kg.
fn by_kg(sku: &str, price: i64, vat_bp: u32) -> Product {
    product(format!(
        r#"{{"sku":"{sku}","name":"{sku}","brand":"B","price_cents":{price},"vat_rate_bp":{vat_bp},"unit":"kg"}}"#
    ))
}

/// Adds fields to a product and reads it back through the import checks.
fn with(p: &Product, field: &str, value: &str) -> Product {
    let mut v = serde_json::to_value(p).expect("a product serialises");
    v[field] = serde_json::from_str(value).unwrap_or_else(|e| panic!("test JSON {value}: {e}"));
    product(v.to_string())
}

/// A promotion `PR-{sku}` with these fields (`"type":…` and its parameters, window, members_only).
fn promo(p: &Product, fields: &str) -> Product {
    with(
        p,
        "promotion",
        &format!(r#"{{"id":"PR-{}","label":"promo",{fields}}}"#, p.sku),
    )
}

fn member_price(p: &Product, cents: i64) -> Product {
    with(p, "member_price_cents", &cents.to_string())
}

fn n(p: &Product, pieces: u32) -> BasketLine {
    BasketLine {
        product: p.clone(),
        quantity: Quantity::Pieces(pieces),
    }
}

fn grams(p: &Product, grams: u32) -> BasketLine {
    BasketLine {
        product: p.clone(),
        quantity: Quantity::Weight { grams },
    }
}

fn label(p: &Product, cents: i64) -> BasketLine {
    BasketLine {
        product: p.clone(),
        quantity: Quantity::LabelPrice { cents },
    }
}

struct Case {
    name: &'static str,
    date: &'static str,
    member: bool,
    lines: Vec<BasketLine>,
    /// What the shopper pays.
    total: i64,
    /// Every discount together (gross − total).
    discount: i64,
    /// (rate in basis points, VAT cents) for the rates this case checks.
    vat: &'static [(u32, i64)],
}

fn case(name: &'static str, lines: Vec<BasketLine>, total: i64, discount: i64) -> Case {
    Case {
        name,
        date: TODAY,
        member: false,
        lines,
        total,
        discount,
        vat: &[],
    }
}

impl Case {
    fn member(self) -> Case {
        Case { member: true, ..self }
    }
    fn on(self, date: &'static str) -> Case {
        Case { date, ..self }
    }
    fn vat(self, vat: &'static [(u32, i64)]) -> Case {
        Case { vat, ..self }
    }
}

fn price(c: &Case) -> PricedBasket {
    let ctx = PricingContext {
        business_date: c.date.parse::<CalendarDate>().expect("case date is valid"),
        member: c.member,
    };
    price_basket(&c.lines, &ctx).unwrap_or_else(|e| panic!("{}: {e}", c.name))
}

/// The products the cases share.
struct Shelf {
    spa: Product,
    cola: Product,
    basil: Product,
    uova: Product,
    yog_a: Product,
    yog_b: Product,
    yog_c: Product,
    snack4: Product,
    snack10: Product,
    parm: Product,
    form: Product,
    olio: Product,
    caf: Product,
    birra: Product,
    cola_members: Product,
}

fn shelf() -> Shelf {
    let yog = |sku, price| {
        promo(
            &piece(sku, price, 400),
            r#""type":"mix_and_match","group":"yogurt","buy":3,"pay":2"#,
        )
    };
    let snack = |sku, vat| {
        promo(
            &piece(sku, 200, vat),
            r#""type":"mix_and_match","group":"snack","buy":3,"pay":2"#,
        )
    };
    Shelf {
        spa: promo(&piece("SPA", 129, 400), r#""type":"multi_buy","buy":3,"pay":2"#),
        cola: promo(&piece("COLA", 199, 2200), r#""type":"percent_off","percent":20"#),
        basil: piece("BASIL", 250, 500),
        uova: piece("UOVA", 229, 1000),
        yog_a: yog("YOG-A", 149),
        yog_b: yog("YOG-B", 129),
        yog_c: yog("YOG-C", 119),
        snack4: snack("SNACK-4", 400),
        snack10: snack("SNACK-10", 1000),
        parm: promo(&by_kg("PARM", 2590, 400), r#""type":"fixed_price","cents":2290"#),
        form: member_price(
            &promo(&by_kg("FORM", 1590, 400), r#""type":"percent_off","percent":25"#),
            1390,
        ),
        olio: promo(
            &member_price(&piece("OLIO", 300, 400), 250),
            r#""type":"percent_off","percent":10"#,
        ),
        caf: member_price(&piece("CAF", 450, 2200), 399),
        birra: promo(
            &member_price(&piece("BIRRA", 339, 2200), 299),
            r#""type":"multi_buy","buy":3,"pay":2"#,
        ),
        cola_members: promo(
            &piece("COLA-M", 199, 2200),
            r#""type":"percent_off","percent":20,"members_only":true"#,
        ),
    }
}

fn cases() -> Vec<Case> {
    let s = shelf();
    let plain_cola = piece("COLA-P", 199, 2200);
    let cola_window = |window: &str| promo(&plain_cola, &format!(r#""type":"percent_off","percent":20,{window}"#));
    vec![
        // ---- Plain prices and VAT by rate. VAT = total × rate / (100 + rate), half-up on the rate's total.
        // 199; VAT 199 × 22/122 = 35.885 → 36.
        case("one piece at 22 %", vec![n(&plain_cola, 1)], 199, 0).vat(&[(2200, 36)]),
        // 3 × 129 = 387; VAT 387 × 4/104 = 14.885 → 15.
        case("three pieces at 4 %", vec![n(&piece("PANE", 129, 400), 3)], 387, 0).vat(&[(400, 15)]),
        // 2 × 250 = 500; VAT 500 × 5/105 = 23.810 → 24.
        case("two pieces at 5 %", vec![n(&s.basil, 2)], 500, 0).vat(&[(500, 24)]),
        // 229; VAT 229 × 10/110 = 20.818 → 21.
        case("one piece at 10 %", vec![n(&s.uova, 1)], 229, 0).vat(&[(1000, 21)]),
        // 129 + 250 + 229 + 199 = 807; VAT 4 %: 129/26 = 4.962 → 5; 5 %: 250/21 = 11.905 → 12;
        // 10 %: 229/11 = 20.818 → 21; 22 %: 199 × 22/122 = 35.885 → 36.
        case(
            "one piece at each of the four rates",
            vec![
                n(&piece("PANE", 129, 400), 1),
                n(&s.basil, 1),
                n(&s.uova, 1),
                n(&plain_cola, 1),
            ],
            807,
            0,
        )
        .vat(&[(400, 5), (500, 12), (1000, 21), (2200, 36)]),
        // 39; VAT 39 × 4/104 = 1.5 exactly → 2 (half-up); base 37.
        case(
            "VAT of exactly half a cent rounds up",
            vec![n(&piece("CHEAP", 39, 400), 1)],
            39,
            0,
        )
        .vat(&[(400, 2)]),
        // 64 + 64 = 128; VAT 128 × 22/122 = 23.082 → 23 (per line it would be 11.541 → 12, twice: 24).
        case(
            "VAT at 22 % is rounded on the rate's total, not per line",
            vec![n(&piece("G1", 64, 2200), 1), n(&piece("G2", 64, 2200), 1)],
            128,
            0,
        )
        .vat(&[(2200, 23)]),
        // 105 + 105 = 210; VAT 210/11 = 19.091 → 19 (per line 105/11 = 9.545 → 10, twice: 20).
        case(
            "VAT at 10 % is rounded on the rate's total, not per line",
            vec![n(&piece("H1", 105, 1000), 1), n(&piece("H2", 105, 1000), 1)],
            210,
            0,
        )
        .vat(&[(1000, 19)]),
        // ---- Per-piece promotions.
        // 20 % of 199 = 39.8 → 40 off; 159 × 2 = 318; VAT 318 × 22/122 = 57.344 → 57.
        case("percent off rounds the cents off half-up", vec![n(&s.cola, 2)], 318, 80).vat(&[(2200, 57)]),
        // 10 % of 125 = 12.5 → 13 off; 112 × 3 = 336; VAT 336/11 = 30.545 → 31.
        case(
            "percent off of exactly half a cent rounds up",
            vec![n(
                &promo(&piece("P125", 125, 1000), r#""type":"percent_off","percent":10"#),
                3,
            )],
            336,
            39,
        )
        .vat(&[(1000, 31)]),
        // 219 − 50 = 169; × 2 = 338; VAT 338/11 = 30.727 → 31.
        case(
            "amount off each piece",
            vec![n(
                &promo(&piece("BISC", 219, 1000), r#""type":"amount_off","cents":50"#),
                2,
            )],
            338,
            100,
        )
        .vat(&[(1000, 31)]),
        // 999 instead of 1299; VAT 999 × 22/122 = 180.148 → 180.
        case(
            "fixed promotional price",
            vec![n(
                &promo(&piece("FIN", 1299, 2200), r#""type":"fixed_price","cents":999"#),
                1,
            )],
            999,
            300,
        )
        .vat(&[(2200, 180)]),
        // ---- Validity windows (inclusive, business date).
        // valid_from = today → applies: 199 − 40 = 159.
        case(
            "window: first day applies",
            vec![n(&cola_window(r#""valid_from":"2026-03-10""#), 1)],
            159,
            40,
        ),
        // valid_to = today → applies: 159.
        case(
            "window: last day applies",
            vec![n(&cola_window(r#""valid_to":"2026-03-10""#), 1)],
            159,
            40,
        ),
        // valid_to = yesterday → full price 199.
        case(
            "window: the day after it ended",
            vec![n(&cola_window(r#""valid_to":"2026-03-09""#), 1)],
            199,
            0,
        ),
        // valid_from = tomorrow → full price 199.
        case(
            "window: the day before it starts",
            vec![n(&cola_window(r#""valid_from":"2026-03-11""#), 1)],
            199,
            0,
        ),
        // 2026-02-25 ..= 2026-03-05 on 2026-03-01: inside, across the end of February → 159.
        case(
            "window across the end of the month",
            vec![n(
                &cola_window(r#""valid_from":"2026-02-25","valid_to":"2026-03-05""#),
                1,
            )],
            159,
            40,
        )
        .on("2026-03-01"),
        // ---- Member prices and members-only promotions.
        // No card: list price 450 × 2 = 900.
        case("member price without a card", vec![n(&s.caf, 2)], 900, 0),
        // Card: 399 × 2 = 798; off (450 − 399) × 2 = 102; VAT 798 × 22/122 = 143.902 → 144.
        case("member price with a card", vec![n(&s.caf, 2)], 798, 102)
            .member()
            .vat(&[(2200, 144)]),
        // Members-only 20 % without a card: 199.
        case(
            "members-only promotion without a card",
            vec![n(&s.cola_members, 1)],
            199,
            0,
        ),
        // With a card: 199 − 40 = 159.
        case(
            "members-only promotion with a card",
            vec![n(&s.cola_members, 1)],
            159,
            40,
        )
        .member(),
        // Card: member 250, then 10 % of 250 = 25 → 225; × 2 = 450; off 600 − 450 = 150 (100 member + 50 promo).
        case(
            "member price first, then percent off on it",
            vec![n(&s.olio, 2)],
            450,
            150,
        )
        .member(),
        // No card: 10 % of 300 = 30 → 270; × 2 = 540; off 60.
        case(
            "percent off on the list price without a card",
            vec![n(&s.olio, 2)],
            540,
            60,
        ),
        // Card: member 80, amount off 100 → max(80 − 100, 0) = 0; off 300.
        case(
            "an amount off larger than the member price stops at zero",
            vec![n(
                &promo(
                    &member_price(&piece("GUM", 300, 2200), 80),
                    r#""type":"amount_off","cents":100"#,
                ),
                1,
            )],
            0,
            300,
        )
        .member()
        .vat(&[(2200, 0)]),
        // Card: member 200 is below the fixed price 250, which then takes nothing off: 200; off 100.
        case(
            "a fixed price above the member price takes nothing more off",
            vec![n(
                &promo(
                    &member_price(&piece("TE", 300, 2200), 200),
                    r#""type":"fixed_price","cents":250"#,
                ),
                1,
            )],
            200,
            100,
        )
        .member(),
        // ---- Multi-buy per product.
        // 3 × 129 = 387, third free: 258; VAT 258/26 = 9.923 → 10.
        case("3 for 2 with three pieces", vec![n(&s.spa, 3)], 258, 129).vat(&[(400, 10)]),
        // Two pieces are no set: 258.
        case("3 for 2 with two pieces", vec![n(&s.spa, 2)], 258, 0),
        // 7 pieces = 2 sets + 1: 2 free; 903 − 258 = 645.
        case("3 for 2 with seven pieces", vec![n(&s.spa, 7)], 645, 258),
        // 1 + 2 pieces on two lines count together: 387 − 129 = 258.
        case(
            "3 for 2 counted across lines",
            vec![n(&s.spa, 1), n(&s.spa, 2)],
            258,
            129,
        ),
        // 4 for 3, 8 pieces: 2 free; 399 × 6 = 2394; off 798.
        case(
            "4 for 3 with eight pieces",
            vec![n(
                &promo(&piece("CARTA", 399, 2200), r#""type":"multi_buy","buy":4,"pay":3"#),
                8,
            )],
            2394,
            798,
        ),
        // Card: member 299 each, third free: 598; gross 3 × 339 = 1017; off 419 (3 × 40 + 299).
        case("3 for 2 on the member price", vec![n(&s.birra, 3)], 598, 419).member(),
        // No card: 339 × 2 = 678.
        case(
            "3 for 2 on the list price without a card",
            vec![n(&s.birra, 3)],
            678,
            339,
        ),
        // 50 % of 229 = 114.5 → 115 off the second; 458 − 115 = 343; VAT 343/11 = 31.182 → 31.
        case(
            "second at 50 %, half a cent rounds up",
            vec![n(&promo(&s.uova, r#""type":"second_at_percent_off","percent":50"#), 2)],
            343,
            115,
        )
        .vat(&[(1000, 31)]),
        // 3 pieces: one pair; 687 − 115 = 572.
        case(
            "second at 50 % with three pieces",
            vec![n(&promo(&s.uova, r#""type":"second_at_percent_off","percent":50"#), 3)],
            572,
            115,
        ),
        // 100 %: every second piece free; 4 × 150 = 600 − 2 × 150 = 300.
        case(
            "second free with four pieces",
            vec![n(
                &promo(
                    &piece("SAP", 150, 2200),
                    r#""type":"second_at_percent_off","percent":100"#,
                ),
                4,
            )],
            300,
            300,
        ),
        // 30 % of 599 = 179.7 → 180; 1198 − 180 = 1018; VAT 1018 × 22/122 = 183.574 → 184.
        case(
            "second at 30 %",
            vec![n(
                &promo(
                    &piece("VINO", 599, 2200),
                    r#""type":"second_at_percent_off","percent":30"#,
                ),
                2,
            )],
            1018,
            180,
        )
        .vat(&[(2200, 184)]),
        // ---- Mix and match per group: dearest first, the cheapest of each set of 3 free.
        // 149 + 129 + 119 = 397, 119 free: 278; VAT 278/26 = 10.692 → 11.
        case(
            "mix and match: the cheapest of three is free",
            vec![n(&s.yog_a, 1), n(&s.yog_b, 1), n(&s.yog_c, 1)],
            278,
            119,
        )
        .vat(&[(400, 11)]),
        // Ranked 149, 129, 129 | 119: the set's cheapest (a 129) free, 119 left over pays; 526 − 129 = 397.
        case(
            "mix and match: the left-over piece is the cheapest",
            vec![n(&s.yog_a, 1), n(&s.yog_b, 2), n(&s.yog_c, 1)],
            397,
            129,
        ),
        // Ranked 149, 149, 129 | 129, 119, 119: 129 + 119 free; 794 − 248 = 546.
        case(
            "mix and match: six pieces make two sets",
            vec![n(&s.yog_a, 2), n(&s.yog_b, 2), n(&s.yog_c, 2)],
            546,
            248,
        ),
        // Two pieces are no set: 149 + 119 = 268.
        case(
            "mix and match: two pieces are no set",
            vec![n(&s.yog_a, 1), n(&s.yog_c, 1)],
            268,
            0,
        ),
        // Card: YOG-A's member price 99 makes it the cheapest: ranked 129, 119, 99, the 99 free.
        // Gross 397; off 50 (member) + 99 = 149; total 248.
        case(
            "mix and match ranks by the member price",
            vec![n(&member_price(&s.yog_a, 99), 1), n(&s.yog_b, 1), n(&s.yog_c, 1)],
            248,
            149,
        )
        .member(),
        // Equal prices keep scan order: SNACK-10 (line 1), then SNACK-4's two pieces; the last one is free.
        // Total 600 − 200 = 400; 4 %: 200, VAT 200/26 = 7.692 → 8; 10 %: 200, VAT 200/11 = 18.182 → 18.
        case(
            "mix and match: equal prices, the later scanned piece is free at its own VAT rate",
            vec![n(&s.snack10, 1), n(&s.snack4, 2)],
            400,
            200,
        )
        .vat(&[(400, 8), (1000, 18)]),
        // yogurt 397 − 119 = 278; snack 3 × 200 − 200 = 400; total 678.
        case(
            "two mix-and-match groups in one basket",
            vec![n(&s.snack4, 3), n(&s.yog_c, 1), n(&s.yog_a, 1), n(&s.yog_b, 1)],
            678,
            319,
        ),
        // Products of the group with a window that ended yesterday: no set; 397.
        case(
            "mix and match outside its window",
            vec![n(&s.yog_a, 1), n(&s.yog_b, 1), n(&s.yog_c, 1)],
            397,
            0,
        )
        .on("2026-03-10")
        .map_products(|p| with_promo_field(p, "valid_to", "\"2026-03-09\"")),
        // ---- Variable-measure lines.
        // 1234 g × 999/kg = 1232.766 → 1233; VAT 1233/26 = 47.423 → 47.
        case(
            "weighed: 1,234 kg at 9,99 €/kg",
            vec![grams(&by_kg("MELE", 999, 400), 1234)],
            1233,
            0,
        )
        .vat(&[(400, 47)]),
        // 350 g × 2590/kg = 906.5 → 907 (half-up).
        case(
            "weighed: half a cent rounds up",
            vec![grams(&by_kg("GRANA", 2590, 400), 350)],
            907,
            0,
        ),
        // Gross 906.5 → 907; at the promotional 2290/kg: 801.5 → 802; off 105.
        case("weighed with a fixed price per kg", vec![grams(&s.parm, 350)], 802, 105),
        // 25 % of 1990 = 497.5 → 498 → 1492/kg; 500 g: 746; gross 995; off 249.
        case(
            "weighed with percent off the price per kg",
            vec![grams(
                &promo(&by_kg("PROS", 1990, 1000), r#""type":"percent_off","percent":25"#),
                500,
            )],
            746,
            249,
        ),
        // Card: 250 g × 1990 = 497.5 → 498 gross; × 1790 = 447.5 → 448; off 50.
        case(
            "weighed with a member price per kg",
            vec![grams(&member_price(&by_kg("SAL", 1990, 1000), 1790), 250)],
            448,
            50,
        )
        .member(),
        // 333 g × 1800 = 599.4 → 599 gross; × (1800 − 300) = 499.5 → 500; off 99.
        case(
            "weighed with an amount off per kg",
            vec![grams(
                &promo(&by_kg("PESCE", 1800, 1000), r#""type":"amount_off","cents":300"#),
                333,
            )],
            500,
            99,
        ),
        // The scale printed 457: that is the price, even with a card, a member price and a promotion.
        case(
            "a price-embedded label is the line's price",
            vec![label(&s.form, 457)],
            457,
            0,
        )
        .member(),
        // Card, weighed FORM: member 1390/kg, then 25 % of 1390 = 347.5 → 348 → 1042/kg; 400 g: 416.8 → 417.
        // Gross 400 g × 1590 = 636; member 400 × 1390 = 556 (off 80); promo 556 − 417 = 139; total off 219.
        case(
            "weighed: member price per kg, then percent off",
            vec![grams(&s.form, 400)],
            417,
            219,
        )
        .member(),
        // A count promotion on a product sold by kg counts no pieces: 3 × 1 kg × 189 = 567.
        case(
            "weighed lines are not counted for multi-buy",
            vec![
                grams(
                    &promo(&by_kg("PAT", 189, 400), r#""type":"multi_buy","buy":3,"pay":2"#),
                    1000,
                ),
                grams(
                    &promo(&by_kg("PAT", 189, 400), r#""type":"multi_buy","buy":3,"pay":2"#),
                    1000,
                ),
                grams(
                    &promo(&by_kg("PAT", 189, 400), r#""type":"multi_buy","buy":3,"pay":2"#),
                    1000,
                ),
            ],
            567,
            0,
        ),
        // ---- Whole baskets.
        // SPA 3 × 129 − 129 = 258 (4 %); COLA 2 × 159 = 318 (22 %); yogurts 397 − 119 = 278 (4 %);
        // PARM 350 g 802 (4 %); UOVA 229 (10 %); FORM label 457 (4 %).
        // Gross 387 + 398 + 397 + 907 + 229 + 457 = 2775; total 258 + 318 + 278 + 802 + 229 + 457 = 2342.
        // VAT 4 %: 258 + 278 + 802 + 457 = 1795 → 1795/26 = 69.038 → 69; 10 %: 21; 22 %: 318 → 57.
        case(
            "a full basket without a card",
            vec![
                n(&s.spa, 3),
                n(&s.cola, 2),
                n(&s.yog_a, 1),
                n(&s.yog_b, 1),
                n(&s.yog_c, 1),
                grams(&s.parm, 350),
                n(&s.uova, 1),
                label(&s.form, 457),
            ],
            2342,
            433,
        )
        .vat(&[(400, 69), (1000, 21), (2200, 57)]),
        // Card: OLIO 2 × 225 = 450 (4 %); CAF 399 (22 %); COLA-M 159 (22 %); BIRRA 2 × 299 = 598 (22 %).
        // Gross 600 + 450 + 199 + 1017 = 2266; total 1606; off 660.
        // VAT 4 %: 450/26 = 17.308 → 17; 22 %: 399 + 159 + 598 = 1156 × 22/122 = 208.459 → 208.
        case(
            "a basket of member offers with a card",
            vec![n(&s.olio, 2), n(&s.caf, 1), n(&s.cola_members, 1), n(&s.birra, 3)],
            1606,
            660,
        )
        .member()
        .vat(&[(400, 17), (2200, 208)]),
        // Same basket, no card: OLIO 2 × 270 = 540; CAF 450; COLA-M 199; BIRRA 2 × 339 = 678; total 1867.
        // VAT 4 %: 540/26 = 20.769 → 21; 22 %: 1327 × 22/122 = 239.295 → 239.
        case(
            "the same basket without a card",
            vec![n(&s.olio, 2), n(&s.caf, 1), n(&s.cola_members, 1), n(&s.birra, 3)],
            1867,
            399,
        )
        .vat(&[(400, 21), (2200, 239)]),
        // 2026-04-01, card: OLIO's 10 % ended 2026-03-31, its member price has no window: 2 × 250 = 500;
        // CAF 399; total 899; off 100 + 51 = 151.
        case(
            "an ended promotion leaves the member price",
            vec![
                n(&with_promo_field(&s.olio, "valid_to", "\"2026-03-31\""), 2),
                n(&s.caf, 1),
            ],
            899,
            151,
        )
        .member()
        .on("2026-04-01"),
        // A free carrier bag at 0 and a loaf: 129; the 22 % rate has a total and VAT of 0.
        case(
            "a zero-priced line",
            vec![n(&piece("BAG", 0, 2200), 1), n(&piece("PANE", 129, 400), 1)],
            129,
            0,
        )
        .vat(&[(400, 5), (2200, 0)]),
        case("an empty basket", vec![], 0, 0),
    ]
}

/// Sets a field of the product's promotion and reads the product back through the import checks.
fn with_promo_field(p: &Product, field: &str, value: &str) -> Product {
    let mut v = serde_json::to_value(p).expect("a product serialises");
    v["promotion"][field] = serde_json::from_str(value).expect("test JSON");
    product(v.to_string())
}

impl Case {
    fn map_products(mut self, f: impl Fn(&Product) -> Product) -> Case {
        for line in &mut self.lines {
            line.product = f(&line.product);
        }
        self
    }
}

#[test]
fn the_table_has_at_least_forty_cases() {
    assert!(cases().len() >= 40, "{} cases", cases().len());
}

#[test]
fn every_basket_costs_what_was_worked_out_by_hand() {
    let mut failures = Vec::new();
    for c in cases() {
        let b = price(&c);
        if (b.total_cents, b.discount_cents) != (c.total, c.discount) {
            failures.push(format!(
                "{}: total {} discount {}, worked out {} and {}",
                c.name, b.total_cents, b.discount_cents, c.total, c.discount
            ));
        }
        for &(rate, vat) in c.vat {
            let got = b.vat.iter().find(|v| v.rate_bp == rate).map(|v| v.vat_cents);
            if got != Some(vat) {
                failures.push(format!("{}: VAT at {rate} bp {got:?}, worked out {vat}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_basket_adds_up() {
    for c in cases() {
        let b = price(&c);
        let promos: i64 = b.promotions.iter().map(|p| p.cents).sum();
        assert_eq!(promos + b.member_savings_cents, b.discount_cents, "{}", c.name);
        for l in &b.lines {
            let off: i64 = l.discounts.iter().map(|d| d.cents).sum();
            assert_eq!(l.gross_cents - off, l.net_cents, "{}: {}", c.name, l.sku);
            assert!(
                l.net_cents >= 0 && l.discounts.iter().all(|d| d.cents > 0),
                "{}",
                c.name
            );
        }
        assert!(
            b.vat.windows(2).all(|w| w[0].rate_bp < w[1].rate_bp),
            "{}: rates ascending",
            c.name
        );
    }
}

#[test]
fn the_full_basket_explains_every_discount_on_its_line() {
    let c = cases()
        .into_iter()
        .find(|c| c.name == "a full basket without a card")
        .expect("the case exists");
    let b = price(&c);
    let texts: Vec<(usize, String, i64)> = b
        .lines
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            l.discounts
                .iter()
                .map(move |d| (i, d.reason.text(Language::It), d.cents))
        })
        .collect();
    assert_eq!(
        texts,
        [
            (0, "Prendi 3 paghi 2: 1 gratis".to_owned(), 129),
            (1, "Sconto 20%".to_owned(), 80),
            (4, "Prendi 3 paghi 2, assortiti: 1 gratis".to_owned(), 119),
            (5, "Prezzo promo € 22,90/kg".to_owned(), 105),
        ]
    );
    let en: Vec<String> = b.lines[1]
        .discounts
        .iter()
        .map(|d| d.reason.text(Language::En))
        .collect();
    assert_eq!(en, ["20% off"]);
    let receipt: Vec<(&str, i64, &[usize])> = b
        .promotions
        .iter()
        .map(|p| (p.id.as_str(), p.cents, p.lines.as_slice()))
        .collect();
    assert_eq!(
        receipt,
        [
            ("PR-SPA", 129, &[0][..]),
            ("PR-COLA", 80, &[1][..]),
            ("PR-YOG-C", 119, &[4][..]),
            ("PR-PARM", 105, &[5][..]),
        ]
    );
    let vat: Vec<_> = b
        .vat
        .iter()
        .map(|v| (v.rate_bp, v.total_cents, v.vat_cents, v.base_cents))
        .collect();
    // 4 %: 1795 − 69 = 1726; 10 %: 229 − 21 = 208; 22 %: 318 − 57 = 261.
    assert_eq!(vat, [(400, 1795, 69, 1726), (1000, 229, 21, 208), (2200, 318, 57, 261)]);
}

#[test]
fn member_savings_and_promotions_are_reported_apart() {
    let c = cases()
        .into_iter()
        .find(|c| c.name == "a basket of member offers with a card")
        .expect("the case exists");
    let b = price(&c);
    // Member: OLIO 2 × 50 + CAF 51 + BIRRA 3 × 40 = 271; promotions: OLIO 2 × 25 + COLA-M 40 + BIRRA 299 = 389.
    assert_eq!(b.member_savings_cents, 271);
    assert_eq!(b.promotions.iter().map(|p| p.cents).sum::<i64>(), 389);
    let olio: Vec<String> = b.lines[0]
        .discounts
        .iter()
        .map(|d| d.reason.text(Language::En))
        .collect();
    assert_eq!(
        olio,
        ["Member price € 2,50", "10% off"],
        "member price first, then the promotion"
    );
}

#[test]
fn the_same_basket_in_any_order_costs_the_same() {
    // Totals never depend on scan order; only which line carries a set's reduction may.
    for c in cases() {
        let reversed = Case {
            lines: c.lines.iter().rev().cloned().collect(),
            ..case(c.name, Vec::new(), 0, 0)
        };
        let reversed = Case {
            date: c.date,
            member: c.member,
            ..reversed
        };
        assert_eq!(price(&reversed).total_cents, c.total, "{} reversed", c.name);
    }
}
