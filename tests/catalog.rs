//! The catalog as a store manager and the kiosk see it: JSON Lines imports into the on-disk store, lookups by
//! every form a scanner may send, accent-folded search, and the demo catalog that ships in firmware-config.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use omnigate::barcode::Gtin;
use omnigate::catalog::{CatalogStore, ImportSummary, PromotionKind, Unit};
use omnigate::storage::{ImportPhase, Storage};

const CACHE: u64 = 8 * 1024 * 1024;

const CAFFE: &str = concat!(
    r#"{"sku":"CAF-1","gtins":["8000070012349","8000070099999"],"name":"Caffè Qualità Rossa","brand":"Lavazza","#,
    r#""description":"Macinato, 250 g","price_cents":399,"vat_rate_bp":2200,"stock":12,"unit":"piece","#,
    r#""url":"https://shop.example.it/p/caf-1"}"#
);
const CEREALI: &str = concat!(
    r#"{"sku":"USA-1","gtins":["038000001208"],"name":"Corn Flakes","brand":"Kellogg's","#,
    r#""price_cents":299,"vat_rate_bp":1000}"#
);
const TICTAC: &str = concat!(
    r#"{"sku":"DOL-1","gtins":["80005001"],"name":"Tic Tac Menta","brand":"Ferrero","#,
    r#""price_cents":99,"vat_rate_bp":1000,"stock":0}"#
);
const PARMIGIANO: &str = concat!(
    r#"{"sku":"FOR-1","gtins":[],"item_code":"010024","name":"Parmigiano Reggiano DOP 24 mesi","#,
    r#""brand":"Parmigiano Reggiano","price_cents":2590,"vat_rate_bp":400,"unit":"kg","#,
    r#""promotion":{"id":"PR-1","label":"-10%","type":"percent_off","percent":10}}"#
);

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("catalog")
    }

    fn open(&self) -> Storage {
        Storage::open(&self.db(), CACHE).expect("the catalog opens")
    }

    fn file(&self, name: &str, lines: &[&str]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").expect("write the import file");
        path
    }
}

fn import(store: &Storage, path: &Path) -> ImportSummary {
    store.import_file(path, &|_| {}).expect("the import runs")
}

fn gtin(s: &str) -> Gtin {
    Gtin::parse(s).expect("a valid GTIN in the test")
}

fn price_of(store: &Storage, code: &str) -> Option<i64> {
    store.by_gtin(&gtin(code)).expect("lookup works").map(|p| p.price_cents)
}

#[test]
fn import_adds_every_product_and_each_is_found_again() {
    let f = Fixture::new();
    let store = f.open();
    assert_eq!(
        store.version().expect("version"),
        0,
        "a new catalog is empty, version 0"
    );

    let summary = import(&store, &f.file("a.jsonl", &[CAFFE, "", CEREALI, TICTAC, PARMIGIANO]));

    assert_eq!(
        summary,
        ImportSummary {
            imported: 4,
            updated: 0,
            rejected: vec![],
            version: 1
        }
    );
    assert_eq!(store.len().expect("len"), 4);
    for sku in ["CAF-1", "USA-1", "DOL-1", "FOR-1"] {
        assert!(store.by_sku(sku).expect("lookup").is_some(), "{sku} was imported");
    }
    let caffe = store.by_gtin(&gtin("8000070012349")).expect("lookup").expect("found");
    assert_eq!(
        (caffe.name.as_str(), caffe.price_cents, caffe.vat_rate_bp),
        ("Caffè Qualità Rossa", 399, 2200)
    );
    assert_eq!(caffe.url.as_deref(), Some("https://shop.example.it/p/caf-1"));
    let cheese = store
        .by_item_code("010024")
        .expect("lookup")
        .expect("the deli item is found by its scale code");
    assert_eq!((cheese.unit, cheese.promo_unit_price()), (Unit::Kg, Some(2331)));
    assert_eq!(store.by_item_code("010025").expect("lookup"), None);
}

#[test]
fn reimport_updates_by_sku_and_leaves_other_products_alone() {
    let f = Fixture::new();
    let store = f.open();
    import(&store, &f.file("a.jsonl", &[CAFFE, CEREALI, TICTAC]));

    let dearer = CAFFE.replace("\"price_cents\":399", "\"price_cents\":429");
    let summary = import(&store, &f.file("b.jsonl", &[&dearer, PARMIGIANO]));

    assert_eq!(
        summary,
        ImportSummary {
            imported: 1,
            updated: 1,
            rejected: vec![],
            version: 2
        }
    );
    assert_eq!(price_of(&store, "8000070012349"), Some(429), "the new price is served");
    assert_eq!(
        price_of(&store, "80005001"),
        Some(99),
        "a product missing from the file stays"
    );
    assert_eq!(store.len().expect("len"), 4);
}

#[test]
fn one_bad_line_rejects_the_whole_file_and_changes_nothing() {
    let f = Fixture::new();
    let store = f.open();
    import(&store, &f.file("a.jsonl", &[CAFFE]));

    let dearer = CAFFE.replace("\"price_cents\":399", "\"price_cents\":429");
    let bad_price = CEREALI.replace("\"price_cents\":299", "\"price_cents\":-299");
    let bad_gtin = TICTAC.replace("80005001", "80005008");
    let summary = import(
        &store,
        &f.file("b.jsonl", &[&dearer, "", &bad_price, PARMIGIANO, &bad_gtin]),
    );

    assert!(!summary.applied());
    assert_eq!(
        summary.rejected.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        [3, 5]
    );
    assert!(
        summary.rejected[0].1.starts_with("price_cents -299"),
        "{:?}",
        summary.rejected[0]
    );
    assert!(
        summary.rejected[1]
            .1
            .starts_with("gtins[0] \"80005008\": GTIN check digit"),
        "{:?}",
        summary.rejected[1]
    );
    assert_eq!((summary.imported, summary.updated, summary.version), (0, 0, 1));
    assert_eq!(store.version().expect("version"), 1, "the version did not move");
    assert_eq!(
        price_of(&store, "8000070012349"),
        Some(399),
        "the valid update on line 1 was not applied"
    );
    assert_eq!(
        store.by_item_code("010024").expect("lookup"),
        None,
        "the valid new product was not added"
    );
    assert_eq!(store.len().expect("len"), 1);
}

#[test]
fn a_scanner_finds_the_product_whatever_form_of_the_code_it_sends() {
    let f = Fixture::new();
    let store = f.open();
    import(&store, &f.file("a.jsonl", &[CAFFE, CEREALI, TICTAC]));

    let sku_for = |code: &str| store.by_gtin(&gtin(code)).expect("lookup").map(|p| p.sku);
    assert_eq!(sku_for("8000070012349").as_deref(), Some("CAF-1"), "EAN-13");
    assert_eq!(
        sku_for("08000070012349").as_deref(),
        Some("CAF-1"),
        "the same code as GTIN-14"
    );
    assert_eq!(
        sku_for("8000070099999").as_deref(),
        Some("CAF-1"),
        "the product's second GTIN"
    );
    assert_eq!(sku_for("038000001208").as_deref(), Some("USA-1"), "UPC-A, 12 digits");
    assert_eq!(
        sku_for("0038000001208").as_deref(),
        Some("USA-1"),
        "UPC-A sent as EAN-13"
    );
    assert_eq!(sku_for("80005001").as_deref(), Some("DOL-1"), "EAN-8");
    assert_eq!(sku_for("00000080005001").as_deref(), Some("DOL-1"), "EAN-8 as GTIN-14");
    assert_eq!(sku_for("8000070012356"), None, "an unknown code");
}

#[test]
fn a_gtin_dropped_by_a_reimport_no_longer_finds_the_product_and_may_move_to_another() {
    let f = Fixture::new();
    let store = f.open();
    import(&store, &f.file("a.jsonl", &[CAFFE, TICTAC]));

    // The old code of the coffee moves to the mints in the same file.
    let caffe_one_code = CAFFE.replace(",\"8000070099999\"", "");
    let tictac_two_codes = TICTAC.replace("[\"80005001\"]", "[\"80005001\",\"8000070099999\"]");
    let summary = import(&store, &f.file("b.jsonl", &[&caffe_one_code, &tictac_two_codes]));
    assert!(summary.applied(), "{:?}", summary.rejected);

    let sku_for = |code: &str| store.by_gtin(&gtin(code)).expect("lookup").map(|p| p.sku);
    assert_eq!(sku_for("8000070099999").as_deref(), Some("DOL-1"));
    assert_eq!(sku_for("8000070012349").as_deref(), Some("CAF-1"));

    let no_codes = TICTAC.replace("[\"80005001\"]", "[]");
    import(&store, &f.file("c.jsonl", &[&no_codes]));
    assert_eq!(sku_for("8000070099999"), None, "no stale index entry survives");
    assert_eq!(sku_for("80005001"), None);
}

#[test]
fn a_gtin_that_belongs_to_a_product_the_file_does_not_update_is_refused() {
    let f = Fixture::new();
    let store = f.open();
    import(&store, &f.file("a.jsonl", &[CAFFE]));

    let thief = TICTAC.replace("80005001", "8000070012349");
    let summary = import(&store, &f.file("b.jsonl", &[CEREALI, &thief]));

    assert_eq!(summary.rejected.len(), 1);
    assert_eq!(summary.rejected[0].0, 2);
    assert!(
        summary.rejected[0].1.contains("belongs to stored sku \"CAF-1\""),
        "{:?}",
        summary.rejected
    );
    assert_eq!(
        store
            .by_gtin(&gtin("8000070012349"))
            .expect("lookup")
            .map(|p| p.sku)
            .as_deref(),
        Some("CAF-1")
    );
    assert_eq!(store.by_sku("USA-1").expect("lookup"), None);
}

#[test]
fn search_ignores_case_and_italian_accents() {
    let f = Fixture::new();
    let store = f.open();
    import(&store, &f.file("a.jsonl", &[CAFFE, CEREALI, TICTAC, PARMIGIANO]));

    let skus = |q: &str| {
        let mut v: Vec<String> = store
            .search(q, 10)
            .expect("search")
            .into_iter()
            .map(|p| p.sku)
            .collect();
        v.sort();
        v
    };
    for q in [
        "caffe",
        "CAFFÈ",
        "Caffé",
        "caff",
        "qualita rossa",
        "lavazza caffè",
        "macinato",
    ] {
        assert_eq!(skus(q), ["CAF-1"], "query {q:?}");
    }
    assert_eq!(skus("parmigiano"), ["FOR-1"]);
    assert!(skus("caffe parmigiano").is_empty(), "every word must match");
    assert!(skus("").is_empty());
    assert_eq!(store.search("m", 1).expect("search").len(), 1, "the limit is respected");
}

#[test]
fn reopening_keeps_products_and_version() {
    let f = Fixture::new();
    {
        let store = f.open();
        import(&store, &f.file("a.jsonl", &[CAFFE, CEREALI]));
        import(&store, &f.file("b.jsonl", &[TICTAC]));
    }
    let store = f.open();
    assert_eq!(store.version().expect("version"), 2);
    assert_eq!(store.len().expect("len"), 3);
    assert_eq!(price_of(&store, "80005001"), Some(99));
    assert_eq!(store.search("corn", 5).expect("search").len(), 1);
}

#[test]
fn a_second_open_of_the_same_catalog_fails_and_names_the_directory() {
    let f = Fixture::new();
    let _first = f.open();
    let err = Storage::open(&f.db(), CACHE).expect_err("sled holds a lock on the directory");
    assert!(err.to_string().contains(&f.db().display().to_string()), "{err}");
}

#[test]
fn progress_reports_checking_then_applying() {
    let f = Fixture::new();
    let store = f.open();
    let path = f.file("a.jsonl", &[CAFFE, CEREALI]);
    let seen = RefCell::new(Vec::new());
    store
        .import_file(&path, &|p| seen.borrow_mut().push(p))
        .expect("the import runs");
    let seen = seen.into_inner();
    let size = std::fs::metadata(&path).expect("stat").len();
    let last_check = seen
        .iter()
        .rfind(|p| p.phase == ImportPhase::Checking)
        .expect("checking reported");
    assert_eq!((last_check.done, last_check.total), (size, size));
    let last = seen.last().expect("progress reported");
    assert_eq!((last.phase, last.done, last.total), (ImportPhase::Applying, 2, 2));
}

#[test]
fn the_demo_catalog_imports_cleanly_and_shows_every_feature() {
    let f = Fixture::new();
    let store = f.open();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config/demo-catalog.jsonl");

    let summary = import(&store, &demo);

    assert!(summary.applied(), "{:?}", summary.rejected);
    assert!(summary.imported >= 190, "{} products", summary.imported);
    let text = std::fs::read_to_string(&demo).expect("read the demo catalog");
    let products: Vec<_> = text
        .lines()
        .map(|l| {
            let sku = serde_json::from_str::<serde_json::Value>(l).expect("json")["sku"]
                .as_str()
                .map(str::to_owned);
            store.by_sku(&sku.expect("a sku")).expect("lookup").expect("imported")
        })
        .collect();
    assert!(products.iter().any(|p| p.min_age == Some(18)), "an age-restricted item");
    let by_weight: Vec<_> = products.iter().filter(|p| p.unit == Unit::Kg).collect();
    assert!(!by_weight.is_empty());
    for p in &by_weight {
        let code = p.item_code.as_deref().expect("every kg item has a scale item code");
        assert_eq!(code.len(), 6, "{}: item codes fit the 2IIIIIIPPPPPC template", p.sku);
        assert_eq!(
            store.by_item_code(code).expect("lookup").map(|q| q.sku.clone()),
            Some(p.sku.clone())
        );
    }
    let kinds: std::collections::BTreeSet<_> = products
        .iter()
        .filter_map(|p| p.promotion.as_ref())
        .map(|promo| match promo.kind {
            PromotionKind::PercentOff { .. } => "percent_off",
            PromotionKind::AmountOff { .. } => "amount_off",
            PromotionKind::FixedPrice { .. } => "fixed_price",
            PromotionKind::MultiBuy { .. } => "multi_buy",
            PromotionKind::SecondAtPercentOff { .. } => "second_at_percent_off",
            // Not in the demo catalog: devices running software from before mix-and-match would refuse it.
            // tests/pricing_table.rs covers it.
            PromotionKind::MixAndMatch { .. } => "mix_and_match",
        })
        .collect();
    assert_eq!(kinds.len(), 5, "every kind of promotion but mix_and_match: {kinds:?}");
    assert!(products.iter().any(|p| p.gtins.len() >= 2), "a product with two GTINs");
    assert!(products.iter().any(|p| p.stock == 0), "an item out of stock");
    assert!(!store.search("caffe", 20).expect("search").is_empty());
}

#[test]
fn a_lost_or_damaged_snapshot_is_rebuilt_at_open_with_the_current_prices() {
    let fx = Fixture::new();
    {
        let store = fx.open();
        import(&store, &fx.file("a.jsonl", &[CAFFE, CEREALI]));
        import(&store, &fx.file("b.jsonl", &[&CAFFE.replace("399", "349")]));
    }
    let index = fx.db().join("catalog.snap");
    assert!(index.exists(), "the snapshot sits beside the database");
    std::fs::write(&index, b"garbage").expect("damage the snapshot");
    {
        let store = fx.open();
        assert_eq!(price_of(&store, "8000070012349"), Some(349));
        assert_eq!(price_of(&store, "038000001208"), Some(299));
    }
    std::fs::remove_file(&index).expect("lose the snapshot");
    let store = fx.open();
    assert_eq!(price_of(&store, "8000070099999"), Some(349));
}

#[test]
fn every_barcode_form_a_scanner_sends_reaches_the_stored_product() {
    let fx = Fixture::new();
    let store = fx.open();
    let line = concat!(
        r#"{"sku":"USA-2","gtins":["042100005264"],"name":"Peanut Butter","brand":"Example","#,
        r#""price_cents":459,"vat_rate_bp":1000}"#
    );
    import(&store, &fx.file("upc.jsonl", &[line]));
    let rules = omnigate::barcode::Rules::default();
    for input in [
        "042100005264",                                                // UPC-A as printed
        "0042100005264",                                               // EAN-13 form (a scanner adding a zero)
        "]E004252614",                                                 // UPC-E, expanded
        "]C10100042100005264\u{1d}10LOT7",                             // GS1-128 with AI 01 and a lot
        "https://id.shop.example/01/00042100005264/10/LOT7?17=271231", // GS1 Digital Link
    ] {
        let scan = omnigate::barcode::decode(input.as_bytes(), &rules).unwrap_or_else(|e| panic!("{input}: {e}"));
        let found = omnigate::kiosk::lookup(&scan, &store).expect("lookup");
        assert_eq!(found.map(|p| p.sku).as_deref(), Some("USA-2"), "{input}");
    }
}
