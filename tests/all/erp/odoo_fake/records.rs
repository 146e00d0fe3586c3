//! The fake Odoo database: records of the models the adapter touches, kept as Odoo
//! answers them (many-to-one as `[id, "name"]`, empty as `false`), and `search_read` with
//! a small domain language. The writing methods are in [`workflow`], with the stock rules
//! that matter: confirming a sale order makes one outgoing picking per warehouse and reserves its
//! moves there (`reserved_quantity` rises), validating a delivery takes the picked
//! quantities off the quants and leaves the rest on a backorder.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

mod workflow;

/// The exception Odoo raises, by its Python name, with its message.
#[derive(Debug)]
pub struct Raised {
    pub name: &'static str,
    pub message: String,
}

pub fn raise(name: &'static str, message: impl Into<String>) -> Raised {
    Raised {
        name,
        message: message.into(),
    }
}

fn user_error(message: impl Into<String>) -> Raised {
    raise("odoo.exceptions.UserError", message)
}

fn missing(model: &str, id: &Value) -> Raised {
    raise(
        "odoo.exceptions.MissingError",
        format!("Record does not exist or has been deleted.\n(Record: {model}({id},))"),
    )
}

pub type Record = Map<String, Value>;

/// The one customer the fake company sells to.
pub const PARTNER: i64 = 14;
/// Where goods go when delivered and come from when returned.
const CUSTOMERS: i64 = 5;

#[derive(Default)]
pub struct Db {
    models: BTreeMap<&'static str, BTreeMap<i64, Record>>,
    next_id: i64,
    /// Sequence numbers per prefix (`S`, `EAST/OUT/`, …).
    sequences: BTreeMap<String, i64>,
    /// The date the fake writes as `date_done`.
    pub today: String,
}

/// `[id, "name"]`.
fn pair(id: i64, name: &str) -> Value {
    json!([id, name])
}

/// The id of a many-to-one value or a plain id.
pub fn id_of(v: &Value) -> Option<i64> {
    match v {
        Value::Array(p) => p.first().and_then(Value::as_i64),
        v => v.as_i64(),
    }
}

fn qty(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

impl Db {
    pub fn new() -> Self {
        let mut db = Self {
            next_id: 100,
            today: "2026-03-02 10:15:00".into(),
            ..Self::default()
        };
        db.put(
            "res.partner",
            PARTNER,
            json!({"name": "Web Shop Customers"}),
        );
        db.put(
            "stock.location",
            CUSTOMERS,
            json!({"complete_name": "Partners/Customers", "usage": "customer",
                   "warehouse_id": false}),
        );
        db
    }

    fn put(&mut self, model: &'static str, id: i64, vals: Value) -> i64 {
        let Value::Object(mut rec) = vals else {
            unreachable!("records are objects")
        };
        rec.insert("id".into(), json!(id));
        self.models.entry(model).or_default().insert(id, rec);
        id
    }

    fn add(&mut self, model: &'static str, vals: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.put(model, id, vals)
    }

    fn next_name(&mut self, prefix: &str, width: usize) -> String {
        let n = self.sequences.entry(prefix.to_owned()).or_default();
        *n += 1;
        format!("{prefix}{:0width$}", *n)
    }

    pub fn get(&self, model: &str, id: i64) -> Option<&Record> {
        self.models.get(model)?.get(&id)
    }

    fn get_mut(&mut self, model: &str, id: i64) -> Option<&mut Record> {
        self.models.get_mut(model)?.get_mut(&id)
    }

    pub fn all(&self, model: &str) -> impl Iterator<Item = &Record> {
        self.models.get(model).into_iter().flat_map(|m| m.values())
    }

    fn name(&self, model: &str, id: i64) -> String {
        self.get(model, id)
            // A location's display name is its full path.
            .and_then(|r| r.get("complete_name").or_else(|| r.get("name")))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    fn link(&self, model: &str, id: i64) -> Value {
        pair(id, &self.name(model, id))
    }

    // --- Seeding -------------------------------------------------------------------------

    /// The warehouse with this short code, made with its stock location, a shelf inside
    /// it, its one-step delivery route and its receipt and delivery types.
    pub fn warehouse(&mut self, code: &str) -> i64 {
        if let Some(w) = self.all("stock.warehouse").find(|w| w["code"] == code) {
            return id_of(&w["id"]).unwrap_or_default();
        }
        let wh = self.add(
            "stock.warehouse",
            json!({"name": format!("Warehouse {code}"), "code": code}),
        );
        let stock = self.add(
            "stock.location",
            json!({"name": "Stock", "complete_name": format!("{code}/Stock"), "usage": "internal",
                   "warehouse_id": pair(wh, &format!("Warehouse {code}"))}),
        );
        self.add(
            "stock.location",
            json!({"name": "Shelf 1", "complete_name": format!("{code}/Stock/Shelf 1"),
                   "usage": "internal", "warehouse_id": pair(wh, &format!("Warehouse {code}"))}),
        );
        let route = self.add(
            "stock.route",
            json!({"name": format!("{code}: Deliver in 1 step (ship)"), "warehouse_id": wh}),
        );
        let receipts = self.add(
            "stock.picking.type",
            json!({"name": format!("{code}: Receipts"), "code": "incoming", "warehouse_id": wh,
                   "sequence_code": "IN"}),
        );
        let deliveries = self.add(
            "stock.picking.type",
            json!({"name": format!("{code}: Delivery Orders"), "code": "outgoing",
                   "warehouse_id": wh, "sequence_code": "OUT"}),
        );
        let fields = json!({
            "lot_stock_id": self.link("stock.location", stock),
            "delivery_route_id": self.link("stock.route", route),
            "in_type_id": self.link("stock.picking.type", receipts),
            "out_type_id": self.link("stock.picking.type", deliveries),
        });
        let rec = self.get_mut("stock.warehouse", wh).expect("just made");
        rec.extend(fields.as_object().cloned().unwrap_or_default());
        wh
    }

    pub fn product(&mut self, sku: &str) -> i64 {
        if let Some(p) = self
            .all("product.product")
            .find(|p| p["default_code"] == sku)
        {
            return id_of(&p["id"]).unwrap_or_default();
        }
        self.add(
            "product.product",
            json!({"name": format!("[{sku}] Item {sku}"), "default_code": sku, "type": "consu"}),
        )
    }

    /// A quant of `sku` at `location` (a stock location id).
    pub fn quant(&mut self, sku: &str, location: i64, quantity: f64, reserved: f64) {
        let product = self.product(sku);
        let (p, l) = (
            self.link("product.product", product),
            self.link("stock.location", location),
        );
        self.add(
            "stock.quant",
            json!({"product_id": p, "location_id": l, "quantity": quantity,
                   "reserved_quantity": reserved, "available_quantity": quantity - reserved}),
        );
    }

    fn warehouse_code(&self, warehouse: i64) -> String {
        self.get("stock.warehouse", warehouse)
            .and_then(|w| w["code"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn stock_location(&self, warehouse: i64) -> i64 {
        self.get("stock.warehouse", warehouse)
            .and_then(|w| id_of(&w["lot_stock_id"]))
            .expect("every warehouse has its stock location")
    }

    // --- Reading -------------------------------------------------------------------------

    /// `search_read`: the records matching `domain`, in id order, `offset` and `limit`
    /// applied, only `fields` (and `id`) when fields are named.
    pub fn search_read(&self, model: &str, params: &Map<String, Value>) -> Result<Value, Raised> {
        if !self.models.contains_key(model) && !KNOWN.contains(&model) {
            return Err(raise("builtins.KeyError", format!("'{model}'")));
        }
        let domain = parse_domain(params.get("domain").unwrap_or(&json!([])))?;
        let offset = params.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
        let limit = match params.get("limit") {
            Some(Value::Number(n)) => n.as_u64().map(|n| n as usize),
            _ => None,
        };
        let fields: Option<Vec<&str>> = params
            .get("fields")
            .and_then(Value::as_array)
            .map(|f| f.iter().filter_map(Value::as_str).collect());
        let rows: Vec<Value> = self
            .all(model)
            .filter(|r| domain.iter().all(|leaf| leaf.holds(r)))
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .map(|r| project(r, fields.as_deref()))
            .collect();
        Ok(Value::Array(rows))
    }
}

pub fn no_method(model: &str, method: &str) -> Raised {
    raise(
        "builtins.AttributeError",
        format!("The method '{model}.{method}' does not exist"),
    )
}

/// Models that may be empty yet exist.
const KNOWN: &[&str] = &[
    "product.product",
    "stock.warehouse",
    "stock.location",
    "stock.quant",
    "stock.route",
    "stock.picking",
    "stock.picking.type",
    "stock.move",
    "sale.order",
    "sale.order.line",
    "account.move",
    "res.partner",
];

/// A record as `search_read` answers it: the named fields (unknown ones `false`) and
/// `id`, never the fake's own bookkeeping (`_…`).
fn project(r: &Record, fields: Option<&[&str]>) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), r["id"].clone());
    match fields {
        Some(fields) if !fields.is_empty() => {
            for f in fields {
                out.insert(
                    (*f).to_owned(),
                    r.get(*f).cloned().unwrap_or(Value::Bool(false)),
                );
            }
        }
        _ => out.extend(
            r.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone())),
        ),
    }
    Value::Object(out)
}

/// One leaf of a domain: `[field, operator, value]`.
struct Leaf {
    field: String,
    op: String,
    value: Value,
}

fn parse_domain(domain: &Value) -> Result<Vec<Leaf>, Raised> {
    let bad = || raise("builtins.ValueError", format!("Invalid domain {domain}"));
    let Some(items) = domain.as_array() else {
        return Err(bad());
    };
    items
        .iter()
        .filter(|i| i.as_str() != Some("&"))
        .map(|i| match i.as_array().map(Vec::as_slice) {
            Some([Value::String(f), Value::String(op), v])
                if matches!(op.as_str(), "=" | "!=" | "in" | "not in") =>
            {
                Ok(Leaf {
                    field: f.clone(),
                    op: op.clone(),
                    value: v.clone(),
                })
            }
            _ => Err(bad()),
        })
        .collect()
}

impl Leaf {
    fn holds(&self, r: &Record) -> bool {
        let v = r.get(&self.field).cloned().unwrap_or(Value::Bool(false));
        // A many-to-one compares by its id.
        let v = match &v {
            Value::Array(p) if p.len() == 2 && p[1].is_string() => p[0].clone(),
            _ => v,
        };
        let eq = |other: &Value| match (v.as_f64(), other.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => &v == other,
        };
        match self.op.as_str() {
            "=" => eq(&self.value),
            "!=" => !eq(&self.value),
            "in" => self.value.as_array().is_some_and(|vs| vs.iter().any(eq)),
            _ => !self.value.as_array().is_some_and(|vs| vs.iter().any(eq)),
        }
    }
}
