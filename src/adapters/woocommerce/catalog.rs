//! The SKU map: which Stockade SKU each product and variation stands for, and where each
//! SKU's available-to-sell is written.
//!
//! A simple product with a SKU is its SKU. A variable product's variations that manage
//! their own stock are handled one by one, each as its own SKU; a variation that does not
//! manage stock follows its parent: its orders reserve the parent's SKU, and the parent's
//! stock is what gets written. A product or variation without a SKU maps to nothing, and
//! its order lines are unmappable.

use super::client::Client;
use super::wire::{LineItem, ManageStock, Product, Variation};
use crate::adapters::AdapterError;
use crate::store::{WooPushed, WooSku};

/// What a set of products stands for, and the stock each stock target shows right now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Mapped {
    pub rows: Vec<WooSku>,
    /// The `stock_quantity` of each product or variation stock is written to, where the
    /// store manages its stock; a target missing here does not manage stock yet.
    pub observed: Vec<WooPushed>,
}

impl Mapped {
    fn add(&mut self, other: Mapped) {
        self.rows.extend(other.rows);
        self.observed.extend(other.observed);
    }
}

/// One product and, for a variable one, its variations.
pub fn map_product(p: &Product, variations: &[Variation]) -> Mapped {
    let mut out = Mapped::default();
    let parent_sku = p.sku.trim();
    let mut follows_parent = false;
    if p.is_variable() {
        for v in variations {
            let own_sku = v.sku.trim();
            if v.manage_stock == ManageStock::Own {
                // A variation that manages its own stock but has no SKU cannot be mapped;
                // one that shows its parent's SKU would share the parent's figure.
                if own_sku.is_empty() || own_sku == parent_sku {
                    continue;
                }
                out.rows.push(row(p.id, v.id, own_sku, true));
                if let Some(stock) = v.stock_quantity {
                    out.observed.push(observed(p.id, v.id, stock));
                }
            } else if !parent_sku.is_empty() {
                follows_parent = true;
                out.rows.push(row(p.id, v.id, parent_sku, false));
            }
        }
    }
    if !parent_sku.is_empty() {
        let writes = !p.is_variable() || follows_parent;
        out.rows.push(row(p.id, 0, parent_sku, writes));
        if let (true, ManageStock::Own, Some(stock)) = (writes, p.manage_stock, p.stock_quantity) {
            out.observed.push(observed(p.id, 0, stock));
        }
    }
    out
}

/// The Stockade SKU an order line stands for: the map's, or the line's own SKU when the
/// map does not know its product or variation.
pub fn line_sku(line: &LineItem, map: &[WooSku]) -> Option<String> {
    map.iter()
        .find(|r| r.product_id == line.product_id && r.variation_id == line.variation_id)
        .map(|r| r.sku.clone())
        .or_else(|| Some(line.sku.trim().to_owned()).filter(|s| !s.is_empty()))
}

fn row(product_id: i64, variation_id: i64, sku: &str, writes_stock: bool) -> WooSku {
    WooSku {
        product_id,
        variation_id,
        sku: sku.to_owned(),
        writes_stock,
    }
}

fn observed(product_id: i64, variation_id: i64, stock: i64) -> WooPushed {
    WooPushed {
        product_id,
        variation_id,
        stock,
    }
}

/// Every product of the store, with the variations of variable ones.
pub async fn discover(client: &Client) -> Result<Mapped, AdapterError> {
    let products: Vec<Product> = client.all("/products", &[]).await?;
    let mut out = Mapped::default();
    for p in &products {
        out.add(with_variations(client, p).await?);
    }
    Ok(out)
}

/// One product as it is now, with the id its map is kept under: a variation's is its
/// parent's, read whole. `None` when it no longer exists.
pub async fn product(client: &Client, id: i64) -> Result<Option<(i64, Mapped)>, AdapterError> {
    let Some(mut p) = client
        .get_if_exists::<Product>(&format!("/products/{id}"))
        .await?
    else {
        return Ok(None);
    };
    if p.kind == "variation" && p.parent_id > 0 {
        let parent = format!("/products/{}", p.parent_id);
        match client.get_if_exists::<Product>(&parent).await? {
            Some(parent) => p = parent,
            None => return Ok(None),
        }
    }
    let mapped = with_variations(client, &p).await?;
    Ok(Some((p.id, mapped)))
}

async fn with_variations(client: &Client, p: &Product) -> Result<Mapped, AdapterError> {
    let variations: Vec<Variation> = if p.is_variable() {
        client
            .all(&format!("/products/{}/variations", p.id), &[])
            .await?
    } else {
        Vec::new()
    };
    Ok(map_product(p, &variations))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(json: serde_json::Value) -> Product {
        serde_json::from_value(json).unwrap()
    }

    fn variation(json: serde_json::Value) -> Variation {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_simple_product_is_its_sku() {
        let p = product(
            serde_json::json!({"id": 10, "type": "simple", "sku": "MUG", "manage_stock": true, "stock_quantity": 4}),
        );
        let m = map_product(&p, &[]);
        assert_eq!(m.rows, [row(10, 0, "MUG", true)]);
        assert_eq!(m.observed, [observed(10, 0, 4)]);
        let unmanaged = product(
            serde_json::json!({"id": 11, "type": "simple", "sku": "CAP", "manage_stock": false, "stock_quantity": null}),
        );
        let m = map_product(&unmanaged, &[]);
        assert_eq!(m.rows, [row(11, 0, "CAP", true)]);
        assert!(
            m.observed.is_empty(),
            "its stock is not managed yet, so it is written"
        );
        let nameless = product(serde_json::json!({"id": 12, "type": "simple", "sku": ""}));
        assert_eq!(map_product(&nameless, &[]), Mapped::default());
    }

    #[test]
    fn variations_with_their_own_stock_stand_alone_and_the_rest_follow_the_parent() {
        let p = product(
            serde_json::json!({"id": 20, "type": "variable", "sku": "TEE", "manage_stock": true, "stock_quantity": 9}),
        );
        let vs = [
            variation(
                serde_json::json!({"id": 21, "sku": "TEE-S", "manage_stock": true, "stock_quantity": 3}),
            ),
            variation(
                serde_json::json!({"id": 22, "sku": "TEE-M", "manage_stock": "parent", "stock_quantity": 9}),
            ),
            variation(
                serde_json::json!({"id": 23, "sku": "", "manage_stock": false, "stock_quantity": null}),
            ),
            variation(
                serde_json::json!({"id": 24, "sku": "", "manage_stock": true, "stock_quantity": 1}),
            ),
        ];
        let m = map_product(&p, &vs);
        assert_eq!(
            m.rows,
            [
                row(20, 21, "TEE-S", true),
                row(20, 22, "TEE", false),
                row(20, 23, "TEE", false),
                row(20, 0, "TEE", true),
            ]
        );
        assert_eq!(m.observed, [observed(20, 21, 3), observed(20, 0, 9)]);
    }

    #[test]
    fn a_parent_whose_variations_all_have_their_own_stock_is_not_written() {
        let p = product(
            serde_json::json!({"id": 30, "type": "variable", "sku": "HOOD", "manage_stock": false}),
        );
        let vs = [variation(
            serde_json::json!({"id": 31, "sku": "HOOD-L", "manage_stock": true, "stock_quantity": 2}),
        )];
        let m = map_product(&p, &vs);
        assert_eq!(
            m.rows,
            [row(30, 31, "HOOD-L", true), row(30, 0, "HOOD", false)]
        );
        let skuless = product(serde_json::json!({"id": 40, "type": "variable", "sku": ""}));
        let follower = [variation(
            serde_json::json!({"id": 41, "sku": "X-1", "manage_stock": "parent"}),
        )];
        assert!(
            map_product(&skuless, &follower).rows.is_empty(),
            "a variation following a parent without a SKU has nothing to follow"
        );
    }
}
