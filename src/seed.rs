//! The demo catalog a fresh demo start is seeded with: a few dozen SKUs across the three
//! demo locations, some backorderable, some scarce, so every service has something to show.

use crate::store::{SkuDef, StockRow, Store, StoreResult};

/// (sku, name, backorderable, on hand at WH-MAIN, 3PL-EAST, STORE-01, safety stock at WH-MAIN)
const CATALOG: &[(&str, &str, bool, [i64; 3], i64)] = &[
    ("TEE-BLK-S", "T-shirt black S", false, [20, 8, 4], 2),
    ("TEE-BLK-M", "T-shirt black M", false, [14, 6, 3], 2),
    ("TEE-BLK-L", "T-shirt black L", false, [18, 5, 2], 2),
    ("TEE-BLK-XL", "T-shirt black XL", false, [6, 0, 1], 1),
    ("TEE-WHT-S", "T-shirt white S", false, [12, 10, 5], 2),
    ("TEE-WHT-M", "T-shirt white M", false, [3, 2, 2], 1),
    ("TEE-WHT-L", "T-shirt white L", false, [0, 4, 1], 0),
    ("TEE-WHT-XL", "T-shirt white XL", false, [9, 0, 0], 1),
    ("TEE-NVY-S", "T-shirt navy S", false, [7, 3, 0], 1),
    ("TEE-NVY-M", "T-shirt navy M", false, [11, 7, 2], 2),
    ("TEE-NVY-L", "T-shirt navy L", false, [8, 1, 3], 1),
    ("TEE-NVY-XL", "T-shirt navy XL", false, [1, 0, 0], 0),
    ("HOODIE-GRY-M", "Hoodie grey M", true, [5, 2, 1], 1),
    ("HOODIE-GRY-L", "Hoodie grey L", true, [4, 0, 1], 1),
    ("HOODIE-BLK-M", "Hoodie black M", true, [2, 3, 0], 0),
    ("HOODIE-BLK-L", "Hoodie black L", true, [0, 0, 2], 0),
    ("CAP-RED", "Cap red", false, [25, 10, 6], 3),
    ("CAP-BLU", "Cap blue", false, [22, 0, 4], 3),
    ("BEANIE-GRN", "Beanie green", false, [15, 5, 5], 2),
    ("SOCK-3PK-S", "Socks, three-pack, S", false, [40, 20, 8], 5),
    ("SOCK-3PK-M", "Socks, three-pack, M", false, [55, 30, 10], 5),
    ("SOCK-3PK-L", "Socks, three-pack, L", false, [35, 15, 6], 5),
    ("MUG-LOGO", "Mug with logo", true, [30, 12, 6], 2),
    ("MUG-STRIPE", "Mug, striped", true, [0, 0, 3], 0),
    ("BOTTLE-STEEL", "Steel bottle 750 ml", false, [16, 8, 0], 2),
    ("TOTE-CANVAS", "Canvas tote", false, [50, 25, 12], 5),
    ("POSTER-A2", "Poster A2", true, [10, 0, 0], 0),
    ("POSTER-A3", "Poster A3", true, [12, 6, 0], 0),
    ("NOTEBOOK-A5", "Notebook A5", false, [60, 40, 20], 5),
    ("PEN-SET", "Pen set", false, [44, 18, 9], 4),
    ("STICKER-PACK", "Sticker pack", false, [120, 80, 30], 10),
    ("GIFT-CARD-25", "Gift card 25", false, [500, 0, 50], 0),
];

const LOCATIONS: [&str; 3] = ["WH-MAIN", "3PL-EAST", "STORE-01"];

/// Seeds the catalog and returns how many SKUs it holds.
pub async fn demo_catalog(store: &dyn Store) -> StoreResult<usize> {
    let skus: Vec<SkuDef> = CATALOG
        .iter()
        .map(|(sku, name, backorderable, ..)| SkuDef {
            sku: (*sku).into(),
            name: (*name).into(),
            backorderable: *backorderable,
        })
        .collect();
    store.upsert_skus(&skus).await?;
    let rows: Vec<StockRow> = CATALOG
        .iter()
        .flat_map(|(sku, _, _, on_hand, safety)| {
            LOCATIONS
                .iter()
                .zip(on_hand)
                .map(move |(location, &on_hand)| StockRow {
                    sku: (*sku).into(),
                    location: (*location).into(),
                    on_hand,
                    safety_stock: (*location == "WH-MAIN").then_some(*safety),
                })
        })
        .collect();
    store.import_stock(&rows, "demo-seed", &|_| {}).await?;
    Ok(CATALOG.len())
}
