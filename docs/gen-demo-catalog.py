#!/usr/bin/env python3
"""Generates firmware-config/demo-catalog.jsonl: about 200 products of an Italian supermarket.

The JSONL is what ships; this script only documents how it was made and lets it be regenerated:

    python3 docs/gen-demo-catalog.py > firmware-config/demo-catalog.jsonl

Deterministic (no randomness, no clock). GTIN-13 codes use Italian GS1 prefixes (800-839) with computed check
digits; they are made up, so a few may coincide with real products. Loose produce and deli counter items are sold
by kg and carry a 6-digit scale item code (the IIIIII of the 2IIIIIIPPPPPC variable-measure template). Every
alcoholic drink has min_age 18 (Italian law). Prices are integer cents, VAT in basis points (400/500/1000/2200).
"""

import json
import sys


def check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def gtin(body: str) -> str:
    return body + check_digit(body)


# Made-up 7-digit company prefixes in the Italian GS1 range, one per brand.
COMPANY = {}


def company(brand: str) -> str:
    if brand not in COMPANY:
        n = len(COMPANY)
        COMPANY[brand] = f"80{(n * 37 + 11) % 40:02d}{(n * 7919) % 1000:03d}"[:7]
    return COMPANY[brand]


ITEM_SEQ = {}


def ean13(brand: str) -> str:
    prefix = company(brand)
    ITEM_SEQ[prefix] = ITEM_SEQ.get(prefix, 100) + 7
    return gtin(prefix + f"{ITEM_SEQ[prefix]:05d}")


products = []


def add(cat, name, brand, desc, price, vat, *, unit="piece", gtins=None, item_code=None, stock=None, promo=None,
        min_age=None):
    n = len(products) + 1
    sku = f"{cat}-{n:04d}"
    p = {"sku": sku, "gtins": gtins if gtins is not None else [ean13(brand)]}
    if item_code:
        p["item_code"] = item_code
    p.update({"name": name, "brand": brand, "description": desc, "price_cents": price, "vat_rate_bp": vat})
    if promo:
        p["promotion"] = promo
    # Stock varies deterministically, with some items out of stock.
    p["stock"] = stock if stock is not None else [24, 0, 57, 112, 8, 36, 3, 240, 15, 71][n % 10]
    if min_age:
        p["min_age"] = min_age
    p["unit"] = unit
    p["url"] = f"https://shop.example.it/p/{sku.lower()}"
    products.append(p)
    return p


PROMO_N = [0]


def promo(label, kind, **params):
    PROMO_N[0] += 1
    return {"id": f"PR-2026-{PROMO_N[0]:03d}", "label": label, "type": kind, **params}


# Pasta (4 %).
formats = [("Spaghetti n.5", 500), ("Penne Rigate", 500), ("Fusilli", 500), ("Farfalle", 500),
           ("Rigatoni", 500), ("Linguine", 500), ("Mezze Maniche", 500)]
for brand, base in [("Barilla", 119), ("De Cecco", 169), ("Garofalo", 159), ("Rummo", 175)]:
    for i, (fmt, grams) in enumerate(formats):
        pr = None
        if brand == "Barilla" and fmt.startswith("Spaghetti"):
            pr = promo("3x2", "multi_buy", buy=3, pay=2)
        if brand == "De Cecco" and i == 2:
            pr = promo("-20%", "percent_off", percent=20)
        add("PAS", f"{fmt}", brand, f"Pasta di semola di grano duro, {grams} g", base + (i % 3) * 10, 400, promo=pr)
add("PAS", "Tagliatelle all'Uovo", "Giovanni Rana", "Pasta fresca all'uovo, 250 g", 219, 400)
add("PAS", "Tortellini Prosciutto Crudo", "Giovanni Rana", "Pasta fresca ripiena, 250 g", 349, 1000,
    promo=promo("2° a -50%", "second_at_percent_off", percent=50))
add("PAS", "Gnocchi di Patate", "Giovanni Rana", "Gnocchi freschi, 500 g", 239, 400)
add("PAS", "Lasagne all'Uovo", "Barilla", "Sfoglie di pasta all'uovo, 500 g", 249, 400)
add("PAS", "Orecchiette Pugliesi", "Divella", "Pasta di semola, 500 g", 109, 400)

# Riso, farina, zucchero, sale.
add("DIS", "Riso Carnaroli", "Scotti", "Riso per risotti, 1 kg", 329, 400)
add("DIS", "Riso Arborio", "Gallo", "Riso per risotti, 1 kg", 289, 400)
add("DIS", "Riso Basmati", "Scotti", "Riso a chicco lungo, 1 kg", 349, 400)
add("DIS", "Farina 00", "Molino Chiavazza", "Farina di grano tenero tipo 00, 1 kg", 99, 400)
add("DIS", "Farina Manitoba", "Caputo", "Farina di grano tenero per lievitati, 1 kg", 189, 400)
add("DIS", "Zucchero Semolato", "Italia Zuccheri", "Zucchero bianco, 1 kg", 119, 1000)
add("DIS", "Sale Marino Grosso", "Italkali", "Sale marino di Sicilia, 1 kg", 49, 1000)
add("DIS", "Sale Fino Iodato", "Italkali", "Sale iodato, 1 kg", 59, 1000)

# Conserve e sughi.
add("CON", "Passata di Pomodoro", "Mutti", "Passata di pomodoro, 700 g", 159, 400,
    promo=promo("1,29 €", "fixed_price", cents=129))
add("CON", "Polpa di Pomodoro", "Mutti", "Polpa fine, 400 g", 109, 400)
add("CON", "Pomodori Pelati", "Cirio", "Pelati, 400 g", 99, 400)
add("CON", "Concentrato di Pomodoro", "Mutti", "Doppio concentrato, tubetto 130 g", 129, 400)
add("CON", "Pesto alla Genovese", "Barilla", "Pesto con basilico genovese DOP, 190 g", 289, 1000)
add("CON", "Sugo al Ragù", "Star", "Ragù di carne, 180 g", 219, 1000)
add("CON", "Tonno all'Olio d'Oliva", "Rio Mare", "Tonno, 3 lattine da 80 g", 459, 1000,
    promo=promo("-0,70 €", "amount_off", cents=70))
add("CON", "Tonno al Naturale", "Callipo", "Tonno, 2 vasetti da 160 g", 529, 1000)
add("CON", "Ceci Lessati", "Valfrutta", "Ceci, 400 g", 89, 400)
add("CON", "Fagioli Borlotti", "Valfrutta", "Fagioli borlotti, 400 g", 89, 400)
add("CON", "Piselli Finissimi", "Cirio", "Piselli, 400 g", 119, 400)
add("CON", "Mais Dolce", "Bonduelle", "Mais, 3 lattine da 150 g", 249, 400)

# Olio (4 %) e aceto (22 %).
add("OLI", "Olio Extravergine d'Oliva", "Monini", "Classico, 1 l", 899, 400,
    promo=promo("-15%", "percent_off", percent=15))
add("OLI", "Olio Extravergine d'Oliva 100% Italiano", "Carapelli", "Il Frantolio, 750 ml", 1049, 400)
add("OLI", "Olio di Semi di Girasole", "Cuore", "1 l", 329, 400)
add("OLI", "Aceto Balsamico di Modena IGP", "Ponti", "500 ml", 249, 2200)
add("OLI", "Aceto di Vino Bianco", "Ponti", "1 l", 119, 2200)

# Caffè e tè (22 %).
add("CAF", "Caffè Qualità Rossa", "Lavazza", "Caffè macinato, 250 g", 399, 2200,
    promo=promo("2° a -50%", "second_at_percent_off", percent=50))
add("CAF", "Caffè Crema e Gusto", "Lavazza", "Caffè macinato, 4 x 250 g", 1199, 2200)
add("CAF", "Caffè Espresso Italiano", "Kimbo", "Macinato per moka, 250 g", 419, 2200)
add("CAF", "Caffè in Grani Classico", "Illy", "Tostatura media, 1 kg", 2690, 2200)
add("CAF", "Caffè Oro", "Caffè Vergnano", "Macinato, 250 g", 449, 2200)
add("CAF", "Capsule Espresso Intenso", "Lavazza", "A Modo Mio, 36 capsule", 1099, 2200)
add("CAF", "Caffè Decaffeinato", "Hag", "Macinato, 250 g", 459, 2200)
add("CAF", "Orzo Solubile", "Crastan", "Orzo tostato solubile, 120 g", 279, 1000)
add("CAF", "Tè Nero Earl Grey", "Twinings", "25 filtri", 259, 2200)
add("CAF", "Camomilla Setacciata", "Bonomelli", "18 filtri", 219, 1000)

# Latte, yogurt, burro, uova.
add("LAT", "Latte Intero Fresco", "Granarolo", "Alta qualità, 1 l", 165, 400,
    gtins=[ean13("Granarolo"), ean13("Granarolo")])  # new code plus the code of the old bottle
add("LAT", "Latte Parzialmente Scremato", "Parmalat", "Lunga conservazione, 1 l", 139, 400)
add("LAT", "Latte Senza Lattosio", "Zymil", "Parzialmente scremato, 1 l", 189, 400)
add("LAT", "Panna da Cucina", "Parmalat", "200 ml", 119, 400)
add("LAT", "Burro", "Lurpak", "Burro danese, 250 g", 349, 400)
add("LAT", "Burro di Panna", "Granarolo", "250 g", 279, 400)
add("LAT", "Yogurt Bianco Intero", "Müller", "2 x 125 g", 119, 400)
add("LAT", "Yogurt Greco 0%", "Fage", "Total 0%, 500 g", 349, 400)
add("LAT", "Yogurt alla Fragola", "Yomo", "2 x 125 g", 129, 400, promo=promo("3x2", "multi_buy", buy=3, pay=2))
add("LAT", "Uova Fresche da Allevamento a Terra", "Aia", "6 uova, categoria A", 229, 1000)
add("LAT", "Uova Biologiche", "Coop", "6 uova, categoria A", 299, 1000)

# Formaggi: confezionati (4 %) and by weight at the counter.
add("FOR", "Mozzarella di Latte Vaccino", "Santa Lucia", "125 g", 99, 400, stock=0)
add("FOR", "Mozzarella di Bufala Campana DOP", "Mandara", "250 g", 399, 400)
add("FOR", "Stracchino", "Nonno Nanni", "200 g", 239, 400)
add("FOR", "Mascarpone", "Galbani", "250 g", 259, 400)
add("FOR", "Ricotta Fresca", "Vallelata", "250 g", 169, 400)
add("FOR", "Gorgonzola Dolce DOP", "Igor", "200 g", 299, 400)
add("FOR", "Grana Padano DOP Grattugiato", "Grana Padano", "Bustina 100 g", 229, 400)
add("FOR", "Philadelphia Original", "Philadelphia", "Formaggio fresco spalmabile, 150 g", 199, 400)
add("FOR", "Parmigiano Reggiano DOP 24 mesi", "Parmigiano Reggiano", "Al taglio, prezzo al kg", 2590, 400,
    unit="kg", gtins=[], item_code="010024", stock=18,
    promo=promo("-10%", "percent_off", percent=10))
add("FOR", "Pecorino Romano DOP", "Locatelli", "Al taglio, prezzo al kg", 1990, 400, unit="kg", gtins=[],
    item_code="010031", stock=9)
add("FOR", "Taleggio DOP", "Arrigoni", "Al taglio, prezzo al kg", 1590, 400, unit="kg", gtins=[],
    item_code="010045", stock=6)
add("FOR", "Asiago Fresco DOP", "Asiago", "Al taglio, prezzo al kg", 1390, 400, unit="kg", gtins=[],
    item_code="010052", stock=0)
add("FOR", "Provolone Valpadana Piccante", "Auricchio", "Al taglio, prezzo al kg", 1690, 400, unit="kg",
    gtins=[], item_code="010068", stock=7)

# Salumi by weight (10 %) and pre-packed.
add("SAL", "Prosciutto Crudo di Parma DOP", "Parma", "Stagionato 18 mesi, al taglio, prezzo al kg", 3490, 1000,
    unit="kg", gtins=[], item_code="020011", stock=12)
add("SAL", "Prosciutto Cotto Alta Qualità", "Rovagnati", "Gran Biscotto, al taglio, prezzo al kg", 2690, 1000,
    unit="kg", gtins=[], item_code="020028", stock=10, promo=promo("22,90 €/kg", "fixed_price", cents=2290))
add("SAL", "Mortadella Bologna IGP", "Alcisa", "Al taglio, prezzo al kg", 1490, 1000, unit="kg", gtins=[],
    item_code="020035", stock=8)
add("SAL", "Salame Milano", "Citterio", "Al taglio, prezzo al kg", 2190, 1000, unit="kg", gtins=[],
    item_code="020042", stock=5)
add("SAL", "Speck Alto Adige IGP", "Senfter", "Al taglio, prezzo al kg", 2790, 1000, unit="kg", gtins=[],
    item_code="020059", stock=4)
add("SAL", "Bresaola della Valtellina IGP", "Rigamonti", "Affettata, 80 g", 399, 1000)
add("SAL", "Prosciutto Cotto Affettato", "Fiorucci", "Vaschetta 120 g", 279, 1000)
add("SAL", "Würstel di Suino", "Wüber", "250 g", 189, 1000)

# Pane e prodotti da forno (pane 4 %, biscotti 10 %).
add("PAN", "Pane Casereccio", "Forno del Borgo", "Cotto in giornata, prezzo al kg", 380, 400, unit="kg", gtins=[],
    item_code="030017", stock=20)
add("PAN", "Filone Toscano Sciocco", "Forno del Borgo", "Senza sale, prezzo al kg", 420, 400, unit="kg",
    gtins=[], item_code="030024", stock=0)
add("PAN", "Pane Carasau", "Pinna", "250 g", 229, 400)
add("PAN", "Grissini Torinesi", "Mulino Bianco", "250 g", 199, 400)
add("PAN", "Pan Bauletto Bianco", "Mulino Bianco", "Pane in cassetta, 400 g", 219, 400)
add("PAN", "Fette Biscottate Integrali", "Mulino Bianco", "315 g", 219, 400)
add("PAN", "Crackers Salati", "Gran Pavesi", "560 g", 249, 1000)
add("PAN", "Biscotti Macine", "Mulino Bianco", "350 g", 219, 1000, promo=promo("-0,50 €", "amount_off", cents=50))
add("PAN", "Biscotti Pan di Stelle", "Mulino Bianco", "350 g", 259, 1000)
add("PAN", "Abbracci", "Mulino Bianco", "350 g", 229, 1000)
add("PAN", "Frollini Oro Saiwa", "Saiwa", "400 g", 209, 1000)
add("PAN", "Cornetti alla Crema", "Bauli", "6 pezzi, 300 g", 299, 1000)
add("PAN", "Panettone Classico", "Motta", "1 kg", 799, 1000, stock=0)
add("PAN", "Pandoro", "Bauli", "1 kg", 699, 1000)
add("PAN", "Taralli all'Olio", "Tarallificio Pugliese", "250 g", 199, 400)

# Dolci e snack (10 %, some 22 %).
add("DOL", "Nutella", "Ferrero", "Crema spalmabile, 450 g", 399, 1000,
    gtins=[ean13("Ferrero"), ean13("Ferrero")])
add("DOL", "Ferrero Rocher", "Ferrero", "16 praline", 649, 1000)
add("DOL", "Kinder Cioccolato", "Ferrero", "8 barrette", 279, 1000)
add("DOL", "Tic Tac Menta", "Ferrero", "16 g", 99, 1000, gtins=[gtin("8000500")])  # EAN-8
add("DOL", "Cioccolato Fondente 70%", "Novi", "100 g", 189, 1000)
add("DOL", "Baci", "Perugina", "Scatola 200 g", 799, 1000)
add("DOL", "Gianduiotti", "Caffarel", "250 g", 749, 1000)
add("DOL", "Caramelle alla Liquirizia", "Amarelli", "Rossa, 40 g", 249, 1000, gtins=[gtin("8011234")])  # EAN-8
add("DOL", "Patatine Classiche", "San Carlo", "180 g", 229, 2200, promo=promo("3x2", "multi_buy", buy=3, pay=2))
add("DOL", "Patatine Rustiche", "Amica Chips", "150 g", 219, 2200)
add("DOL", "Pop Corn da Microonde", "Act II", "3 x 90 g", 249, 2200, gtins=[gtin("02880006901")])  # UPC-A
add("DOL", "Corn Flakes", "Kellogg's", "375 g", 299, 1000, gtins=[gtin("03800000120")])  # UPC-A
add("DOL", "Marmellata di Albicocche", "Zuegg", "320 g", 269, 1000)
add("DOL", "Miele Millefiori", "Ambrosoli", "500 g", 449, 1000)
add("DOL", "Gelato Cornetto Classico", "Algida", "6 pezzi", 449, 1000,
    promo=promo("2° a -30%", "second_at_percent_off", percent=30))

# Frutta e verdura, loose by kg (4 %).
produce = [
    ("Mele Golden Delicious", "Melinda", "Trentino, categoria I", 229, "040011"),
    ("Mele Fuji", "Val Venosta", "Alto Adige, categoria I", 249, "040028"),
    ("Pere Abate", "Opera", "Emilia-Romagna", 279, "040035"),
    ("Banane", "Chiquita", "Ecuador", 199, "040042"),
    ("Arance Tarocco", "Sicilia Bedda", "Sicilia, da spremuta", 189, "040059"),
    ("Limoni di Sorrento IGP", "Consorzio", "Campania", 349, "040066"),
    ("Clementine", "Calabria Verde", "Calabria", 219, "040073"),
    ("Kiwi", "Zespri", "Lazio", 299, "040080"),
    ("Uva Italia", "Puglia Frutta", "Puglia", 319, "040097"),
    ("Fragole", "Basilicata Bio", "Vaschetta sfusa", 599, "040103"),
    ("Pomodori Ciliegino", "Pachino", "Sicilia IGP", 399, "050010"),
    ("Pomodori San Marzano", "Campania Orti", "Campania", 349, "050027"),
    ("Zucchine", "Orto Mio", "Lazio", 249, "050034"),
    ("Melanzane", "Orto Mio", "Sicilia", 229, "050041"),
    ("Peperoni Gialli", "Orto Mio", "Italia", 349, "050058"),
    ("Patate a Pasta Gialla", "Selenella", "Emilia-Romagna", 149, "050065"),
    ("Cipolle Rosse di Tropea IGP", "Tropea Bio", "Calabria", 299, "050072"),
    ("Carote", "Orto Mio", "Italia", 129, "050089"),
    ("Insalata Iceberg", "Orto Mio", "Italia", 259, "050096"),
    ("Carciofi Romaneschi", "Lazio Orti", "Lazio", 499, "050102"),
    ("Finocchi", "Orto Mio", "Puglia", 199, "050119"),
    ("Funghi Champignon", "Orto Mio", "Italia", 549, "050126"),
    ("Aglio Bianco", "Polesine", "Veneto DOP", 899, "050133"),
    ("Basilico Genovese", "Liguria Orti", "Liguria DOP", 1990, "050140"),
]
for i, (name, brand, desc, price, code) in enumerate(produce):
    pr = None
    if name.startswith("Banane"):
        pr = promo("1,49 €/kg", "fixed_price", cents=149)
    if name.startswith("Pomodori Ciliegino"):
        pr = promo("-25%", "percent_off", percent=25)
    add("ORT", name, brand, f"{desc}, prezzo al kg", price, 400, unit="kg", gtins=[], item_code=code,
        stock=[40, 25, 0, 60, 33, 12, 18, 22][i % 8], promo=pr)
add("ORT", "Insalata Mista Lavata", "Bonduelle", "Busta 125 g", 149, 400)
add("ORT", "Rucola Lavata", "DimmidiSì", "Busta 100 g", 139, 400)

# Carne e pesce (10 %), by kg at the counter.
add("CAR", "Petto di Pollo a Fette", "Amadori", "Prezzo al kg", 1190, 1000, unit="kg", gtins=[], item_code="060016",
    stock=14)
add("CAR", "Macinato di Bovino Adulto", "Inalca", "Prezzo al kg", 1090, 1000, unit="kg", gtins=[],
    item_code="060023", stock=11)
add("CAR", "Salsiccia di Suino", "Fumagalli", "Prezzo al kg", 899, 1000, unit="kg", gtins=[], item_code="060030",
    stock=0)
add("CAR", "Fiorentina di Scottona", "Chianina Toscana", "Prezzo al kg", 3990, 1000, unit="kg", gtins=[],
    item_code="060047", stock=3)
add("PES", "Salmone Fresco in Tranci", "Norvegia Mare", "Prezzo al kg", 2490, 1000, unit="kg", gtins=[],
    item_code="070015", stock=5)
add("PES", "Orata di Allevamento", "Ittica Tirrenica", "Intera, prezzo al kg", 1390, 1000, unit="kg", gtins=[],
    item_code="070022", stock=7)
add("PES", "Cozze di Scardovari", "Consorzio Scardovari", "Retina, prezzo al kg", 499, 1000, unit="kg", gtins=[],
    item_code="070039", stock=16)
add("PES", "Bastoncini di Merluzzo", "Findus", "Surgelati, 18 pezzi", 499, 1000)
add("PES", "Filetti di Platessa", "Findus", "Surgelati, 400 g", 549, 1000)

# Surgelati.
add("SUR", "Pizza Margherita", "Buitoni", "Bella Napoli, 2 pezzi", 549, 1000)
add("SUR", "Spinaci in Foglia", "Orogel", "450 g", 199, 400)
add("SUR", "Minestrone Tradizionale", "Findus", "1 kg", 349, 400)
add("SUR", "Piselli Primavera", "Findus", "450 g", 289, 400)
add("SUR", "Patatine Fritte Classiche", "McCain", "750 g", 299, 400)

# Bevande (22 %) e acqua.
add("BEV", "Acqua Minerale Naturale", "San Benedetto", "6 x 1,5 l", 219, 2200,
    gtins=[ean13("San Benedetto"), ean13("San Benedetto")])
add("BEV", "Acqua Frizzante", "San Pellegrino", "6 x 1 l", 399, 2200)
add("BEV", "Acqua Oligominerale", "Levissima", "6 x 1,5 l", 259, 2200)
add("BEV", "Coca-Cola", "Coca-Cola", "1,5 l", 199, 2200, promo=promo("-0,40 €", "amount_off", cents=40))
add("BEV", "Aranciata", "San Pellegrino", "6 x 33 cl", 399, 2200)
add("BEV", "Chinotto", "Neri", "1 l", 179, 2200)
add("BEV", "Tè Freddo al Limone", "Estathé", "Brick 6 x 200 ml", 239, 2200)
add("BEV", "Succo di Frutta ACE", "Santal", "3 x 200 ml", 199, 2200)
add("BEV", "Spremuta d'Arancia", "Rauch", "1 l", 299, 2200)

# Alcol: every item 18+ (Italian law), 22 %.
for name, brand, desc, price, pr in [
    ("Chianti Classico DOCG", "Castello di Ama", "Vino rosso, 750 ml", 1890, None),
    ("Barolo DOCG", "Fontanafredda", "Vino rosso, 750 ml", 3290, None),
    ("Montepulciano d'Abruzzo DOC", "Farnese", "Vino rosso, 750 ml", 599, promo("-20%", "percent_off", percent=20)),
    ("Primitivo di Manduria DOC", "San Marzano", "Vino rosso, 750 ml", 1190, None),
    ("Nero d'Avola Sicilia DOC", "Planeta", "Vino rosso, 750 ml", 1090, None),
    ("Prosecco Superiore DOCG", "Valdo", "Spumante extra dry, 750 ml", 899, None),
    ("Franciacorta Brut DOCG", "Berlucchi", "Spumante, 750 ml", 2190, None),
    ("Vermentino di Sardegna DOC", "Sella & Mosca", "Vino bianco, 750 ml", 849, None),
    ("Lambrusco Grasparossa DOC", "Cleto Chiarli", "Vino rosso frizzante, 750 ml", 649, None),
    ("Birra Lager", "Peroni", "3 x 33 cl", 339, promo("3x2", "multi_buy", buy=3, pay=2)),
    ("Birra Premium", "Moretti", "66 cl", 189, None),
    ("Birra Doppio Malto", "Ichnusa", "Non filtrata, 50 cl", 179, None),
    ("Aperitivo", "Aperol", "1 l", 1590, None),
    ("Bitter", "Campari", "1 l", 1890, None),
    ("Amaro", "Montenegro", "70 cl", 1490, None),
    ("Limoncello", "Villa Massa", "50 cl", 1290, None),
    ("Grappa Barricata", "Nonino", "70 cl", 3290, None),
]:
    add("ALC", name, brand, desc, price, 2200, promo=pr, min_age=18)

# Casa e igiene (22 %; assorbenti and omogeneizzati at their reduced rates).
for name, brand, desc, price, pr in [
    ("Detersivo Lavatrice Liquido", "Dash", "40 lavaggi", 999, promo("-30%", "percent_off", percent=30)),
    ("Detersivo Lavatrice Classico", "Dixan", "35 lavaggi", 849, None),
    ("Ammorbidente Concentrato", "Coccolino", "60 lavaggi", 349, None),
    ("Detersivo Piatti Limone", "Svelto", "1 l", 219, None),
    ("Pastiglie Lavastoviglie", "Finish", "Quantum, 40 pezzi", 1299, promo("9,99 €", "fixed_price", cents=999)),
    ("Sgrassatore Universale", "Chanteclair", "600 ml", 279, None),
    ("Candeggina Delicata", "Ace", "2 l", 199, None),
    ("Anticalcare Spray", "Viakal", "700 ml", 369, None),
    ("Pulitore Pavimenti", "Lysoform", "1 l", 289, None),
    ("Carta Igienica", "Scottex", "8 rotoli", 399, promo("3x2", "multi_buy", buy=3, pay=2)),
    ("Carta da Cucina", "Regina", "4 rotoli", 349, None),
    ("Fazzoletti di Carta", "Tempo", "10 pacchetti", 199, None),
    ("Sacchi Immondizia", "Domopak", "20 sacchi, 70 x 110 cm", 249, None),
    ("Pellicola Trasparente", "Domopak", "30 m", 169, None),
    ("Dentifricio Sbiancante", "Mentadent", "75 ml", 219, None),
    ("Spazzolino Medio", "Colgate", "1 pezzo", 169, None),
    ("Bagnoschiuma Idratante", "Neutro Roberts", "500 ml", 299, None),
    ("Shampoo Uso Frequente", "Pantene", "250 ml", 349, None),
    ("Sapone Liquido Mani", "Dermomed", "300 ml", 189, None),
    ("Deodorante Spray", "Borotalco", "150 ml", 329, None),
    ("Schiuma da Barba", "Proraso", "400 ml", 299, None),
    ("Cotton Fioc", "Johnson's", "200 pezzi", 159, None),
]:
    add("CAS", name, brand, desc, price, 2200, promo=pr)
add("CAS", "Assorbenti Ultra Giorno", "Lines", "14 pezzi", 289, 1000)
add("CAS", "Pannolini Taglia 4", "Pampers", "Baby-Dry, 46 pezzi", 1599, 2200,
    promo=promo("2° a -50%", "second_at_percent_off", percent=50))
add("CAS", "Omogeneizzato alla Mela", "Plasmon", "2 x 104 g", 169, 400)
add("CAS", "Crocchette per Cani", "Purina One", "Pollo e riso, 1,5 kg", 899, 2200)
add("CAS", "Cibo Umido per Gatti", "Gourmet", "Pâté al manzo, 4 x 85 g", 329, 2200)
add("CAS", "Lettiera Agglomerante", "Catsan", "5 l", 549, 2200)

for p in products:
    sys.stdout.write(json.dumps(p, ensure_ascii=False, separators=(",", ":")) + "\n")
print(f"{len(products)} products", file=sys.stderr)
