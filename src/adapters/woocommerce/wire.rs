//! The wc/v3 shapes Stockade reads, parsed leniently where WooCommerce is loose: prices
//! come as numbers or strings, `meta_data` values are any JSON, `stock_quantity` and a
//! missing SKU come as `null`, ids occasionally as strings. Fields Stockade does not read
//! are ignored, so a newer WooCommerce with more fields still parses.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use time::{OffsetDateTime, PrimitiveDateTime};

/// An order, as `GET /orders/{id}` answers it and as `order.*` webhooks carry it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Order {
    #[serde(deserialize_with = "integer")]
    pub id: i64,
    /// The number the store shows the customer (the id unless a plugin renumbers).
    #[serde(default, deserialize_with = "text")]
    pub number: String,
    #[serde(default, deserialize_with = "text")]
    pub status: String,
    #[serde(default, deserialize_with = "text")]
    pub currency: String,
    #[serde(default, deserialize_with = "text")]
    pub date_created_gmt: String,
    #[serde(default, deserialize_with = "text")]
    pub date_modified_gmt: String,
    #[serde(default, deserialize_with = "integer")]
    pub customer_id: i64,
    #[serde(default, deserialize_with = "lenient")]
    pub billing: Address,
    #[serde(default, deserialize_with = "lenient")]
    pub shipping: Address,
    #[serde(default, deserialize_with = "list")]
    pub line_items: Vec<LineItem>,
    #[serde(default, deserialize_with = "list")]
    pub refunds: Vec<RefundSummary>,
}

impl Order {
    /// The number shown to the customer, which becomes the Stockade order's `external_id`.
    pub fn number(&self) -> String {
        if self.number.trim().is_empty() {
            self.id.to_string()
        } else {
            self.number.trim().to_owned()
        }
    }

    /// The version of this order: when it was last modified (or created), GMT.
    pub fn modified(&self) -> Option<OffsetDateTime> {
        parse_gmt(&self.date_modified_gmt).or_else(|| parse_gmt(&self.date_created_gmt))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Address {
    #[serde(deserialize_with = "text")]
    pub first_name: String,
    #[serde(deserialize_with = "text")]
    pub last_name: String,
    #[serde(deserialize_with = "text")]
    pub company: String,
    #[serde(deserialize_with = "text")]
    pub address_1: String,
    #[serde(deserialize_with = "text")]
    pub address_2: String,
    #[serde(deserialize_with = "text")]
    pub city: String,
    #[serde(deserialize_with = "text")]
    pub state: String,
    #[serde(deserialize_with = "text")]
    pub postcode: String,
    #[serde(deserialize_with = "text")]
    pub country: String,
    #[serde(deserialize_with = "text")]
    pub email: String,
    #[serde(deserialize_with = "text")]
    pub phone: String,
}

impl Address {
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name.trim(), self.last_name.trim())
            .trim()
            .to_owned()
    }

    pub fn is_empty(&self) -> bool {
        self.address_1.trim().is_empty() && self.city.trim().is_empty()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LineItem {
    #[serde(deserialize_with = "integer")]
    pub id: i64,
    #[serde(default, deserialize_with = "text")]
    pub name: String,
    #[serde(default, deserialize_with = "integer")]
    pub product_id: i64,
    #[serde(default, deserialize_with = "integer")]
    pub variation_id: i64,
    #[serde(default, deserialize_with = "integer")]
    pub quantity: i64,
    /// Empty when the product has none: real stores sell such lines.
    #[serde(default, deserialize_with = "text")]
    pub sku: String,
    /// The unit price after discounts, a JSON number in most stores.
    #[serde(default, deserialize_with = "text")]
    pub price: String,
    /// The line's total after discounts, before tax.
    #[serde(default, deserialize_with = "text")]
    pub total: String,
    #[serde(default, deserialize_with = "list")]
    pub taxes: Vec<Tax>,
    /// Values of any JSON type; kept whole, never interpreted.
    #[serde(default, deserialize_with = "list")]
    pub meta_data: Vec<Meta>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tax {
    #[serde(deserialize_with = "integer")]
    pub id: i64,
    #[serde(default, deserialize_with = "text")]
    pub total: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    #[serde(default, deserialize_with = "text")]
    pub key: String,
    #[serde(default)]
    pub value: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RefundSummary {
    #[serde(default, deserialize_with = "integer")]
    pub id: i64,
    #[serde(default, deserialize_with = "text")]
    pub reason: String,
}

/// A product, as `GET /products` lists it and `product.*` webhooks carry it.
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    #[serde(deserialize_with = "integer")]
    pub id: i64,
    #[serde(rename = "type", default, deserialize_with = "text")]
    pub kind: String,
    /// A variation's product; 0 for a product.
    #[serde(default, deserialize_with = "integer")]
    pub parent_id: i64,
    #[serde(default, deserialize_with = "text")]
    pub sku: String,
    #[serde(default, deserialize_with = "manage_stock")]
    pub manage_stock: ManageStock,
    #[serde(default, deserialize_with = "optional_integer")]
    pub stock_quantity: Option<i64>,
}

impl Product {
    pub fn is_variable(&self) -> bool {
        self.kind == "variable"
    }
}

/// A variation, as `GET /products/{id}/variations` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Variation {
    #[serde(deserialize_with = "integer")]
    pub id: i64,
    #[serde(default, deserialize_with = "text")]
    pub sku: String,
    #[serde(default, deserialize_with = "manage_stock")]
    pub manage_stock: ManageStock,
    #[serde(default, deserialize_with = "optional_integer")]
    pub stock_quantity: Option<i64>,
}

/// `manage_stock`: `true`, `false`, or for a variation `"parent"` when its parent's stock
/// applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ManageStock {
    Own,
    #[default]
    No,
    Parent,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Note {
    #[serde(default, deserialize_with = "text")]
    pub note: String,
}

/// One item of a batch answer: the updated object, or `{"id", "error": {…}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchItem {
    #[serde(default, deserialize_with = "integer")]
    pub id: i64,
    #[serde(default)]
    pub error: Option<ApiError>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BatchAnswer {
    #[serde(default, deserialize_with = "list")]
    pub update: Vec<BatchItem>,
}

/// WooCommerce's error body: `{"code", "message", "data": {"status"}}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiError {
    #[serde(default, deserialize_with = "text")]
    pub code: String,
    #[serde(default, deserialize_with = "text")]
    pub message: String,
    #[serde(default)]
    pub data: Value,
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        self.data
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
    }
}

/// `2018-04-03T23:05:14` (WooCommerce's `*_gmt` fields: no zone, UTC), also with
/// fractions or a `Z`.
pub fn parse_gmt(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    let head = s.get(..19)?;
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(head, &format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// The form WooCommerce takes in `modified_after` with `dates_are_gmt=true`.
pub fn format_gmt(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    t.format(&format).unwrap_or_default()
}

/// A string, a number (as written), a boolean, or `null` (empty).
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    })
}

/// A number (a float's whole part), a numeric string, or `null` (zero).
fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(as_integer(&Value::deserialize(d)?).unwrap_or(0))
}

fn optional_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(as_integer(&Value::deserialize(d)?))
}

fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
        }
        _ => None,
    }
}

fn manage_stock<'de, D: Deserializer<'de>>(d: D) -> Result<ManageStock, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(true) => ManageStock::Own,
        Value::String(s) if s == "parent" => ManageStock::Parent,
        Value::String(s) if s == "yes" || s == "true" => ManageStock::Own,
        _ => ManageStock::No,
    })
}

/// An object of the expected shape, or its default when it is `null`, an empty array
/// (PHP's empty object) or otherwise unreadable.
fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    Ok(serde_json::from_value(Value::deserialize(d)?).unwrap_or_default())
}

/// A list; items that do not have the expected shape are an error, `null` is empty.
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(serde::de::Error::custom))
            .collect(),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An order in the shape real stores send, trimmed: a line without a SKU, `price` as a
    /// number while totals are strings, tax figures that are not two-decimal, a
    /// `meta_data` value that is an object, and slashes escaped as WordPress escapes them.
    const ORDER: &str = r#"{
        "id": 963, "parent_id": 0, "number": "963", "status": "processing", "currency": "USD",
        "date_created_gmt": "2018-04-03T23:05:12", "date_modified_gmt": "2018-04-03T23:05:14",
        "discount_total": "30.00", "total": "31.20", "prices_include_tax": false, "customer_id": 11,
        "billing": {"first_name": "Johnny", "last_name": "Appleseed", "company": "", "address_1": "234 70th Street",
            "address_2": "", "city": "Niagara Falls", "state": "NY", "postcode": "14304", "country": "US",
            "email": "scrambled@scrambled.com", "phone": "333-333-3333"},
        "shipping": {"first_name": "Johnny", "last_name": "Appleseed", "company": "", "address_1": "234 70th Street",
            "address_2": "", "city": "Niagara Falls", "state": "NY", "postcode": "14304", "country": "US"},
        "date_completed_gmt": null,
        "meta_data": [{"id": 24157, "key": "Stripe Fee", "value": "1.20"}],
        "line_items": [
            {"id": 890, "name": "Fruits Basket (Mix & Match Product)", "product_id": 52, "variation_id": 0,
             "quantity": 1, "tax_class": "", "subtotal": "50.00", "subtotal_tax": "2.00", "total": "30.00",
             "total_tax": "1.20", "taxes": [{"id": 1, "total": "1.2", "subtotal": "2"}], "meta_data": [],
             "sku": "", "price": 30},
            {"id": 891, "name": "Fruits Bundle", "product_id": 234, "variation_id": 0, "quantity": 1,
             "total": "0.00", "total_tax": "0.00", "taxes": [{"id": 1, "total": "0", "subtotal": "0.4"}],
             "meta_data": [{"id": 7, "key": "_bundle", "value": {"items": [1, 2], "nested": {"x": null}}}],
             "sku": "5555-A", "price": 0}],
        "coupon_lines": [{"id": 894, "code": "30$off", "meta_data": [{"id": 6515, "key": "coupon_data",
            "value": {"id": 673, "date_expires": null, "used_by": ["1", "1"], "virtual": false}}]}],
        "refunds": [],
        "_links": {"self": [{"href": "https:\/\/scrambled\/wp-json\/wc\/v2\/orders\/963"}]}
    }"#;

    /// A variation that does not manage its own stock.
    const VARIATION: &str = r#"{
        "id": 215, "date_modified_gmt": "2019-04-04T22:08:33",
        "permalink": "https:\/\/paperairplane.store\/product\/paper-airplane\/?attribute_color=Black",
        "sku": "345345", "price": "14.33", "regular_price": "12.77", "on_sale": true, "status": "publish",
        "manage_stock": false, "stock_quantity": null, "stock_status": "instock", "backorders": "no",
        "dimensions": {"length": "11", "width": "22", "height": "33"},
        "attributes": [{"id": 0, "name": "Color", "option": "Black"}],
        "meta_data": [{"id": 5368, "key": "_created_via", "value": "ajax-unknown"}]
    }"#;

    #[test]
    fn a_real_order_parses() {
        let o: Order = serde_json::from_str(ORDER).unwrap();
        assert_eq!(
            (o.id, o.number(), o.status.as_str()),
            (963, "963".into(), "processing")
        );
        assert_eq!(
            o.modified(),
            Some(time::macros::datetime!(2018-04-03 23:05:14 UTC))
        );
        assert_eq!(o.line_items.len(), 2);
        let (a, b) = (&o.line_items[0], &o.line_items[1]);
        assert_eq!(
            (a.sku.as_str(), a.price.as_str(), a.total.as_str()),
            ("", "30", "30.00")
        );
        assert_eq!(
            (b.sku.as_str(), b.product_id, b.quantity),
            ("5555-A", 234, 1)
        );
        assert_eq!(b.meta_data[0].value["items"][1], 2);
        assert_eq!(a.taxes[0].total, "1.2");
        assert_eq!(o.shipping.name(), "Johnny Appleseed");
    }

    #[test]
    fn a_variation_without_its_own_stock_parses() {
        let v: Variation = serde_json::from_str(VARIATION).unwrap();
        assert_eq!(
            (v.id, v.sku.as_str(), v.manage_stock, v.stock_quantity),
            (215, "345345", ManageStock::No, None)
        );
        let parent: Variation = serde_json::from_str(
            r#"{"id": 9, "sku": null, "manage_stock": "parent", "stock_quantity": "7"}"#,
        )
        .unwrap();
        assert_eq!(
            (
                parent.sku.as_str(),
                parent.manage_stock,
                parent.stock_quantity
            ),
            ("", ManageStock::Parent, Some(7))
        );
    }

    #[test]
    fn loose_values_are_taken_as_meant() {
        let o: Order = serde_json::from_str(
            r#"{"id": "12", "number": 12, "billing": [], "shipping": null, "customer_id": null,
                "line_items": [{"id": 1, "quantity": "2", "price": "9.5", "sku": null, "product_id": 4.0}]}"#,
        )
        .unwrap();
        assert_eq!((o.id, o.number(), o.customer_id), (12, "12".into(), 0));
        assert!(o.billing.is_empty() && o.shipping.is_empty());
        let l = &o.line_items[0];
        assert_eq!(
            (l.quantity, l.price.as_str(), l.sku.as_str(), l.product_id),
            (2, "9.5", "", 4)
        );
        assert!(
            serde_json::from_str::<Order>(r#"{"number": "1"}"#).is_err(),
            "an id is required"
        );
    }

    #[test]
    fn gmt_dates_round_trip() {
        let t = parse_gmt("2026-12-03T12:00:05").unwrap();
        assert_eq!(format_gmt(t), "2026-12-03T12:00:05");
        assert_eq!(parse_gmt("2026-12-03T12:00:05Z"), Some(t));
        assert_eq!(parse_gmt("2026-12-03T12:00:05.250"), Some(t));
        assert_eq!(parse_gmt(""), None);
        assert_eq!(parse_gmt("yesterday"), None);
    }
}
