//! The fake site's documents and what ERPNext does with them: lists filtered, ordered and
//! paged as `frappe.get_list` does; sales orders, delivery notes and sales invoices checked
//! as ERPNext checks them and named from its naming series; and the `Bin` of each item and
//! warehouse moved on submit: a sales order raises `reserved_qty` at each row's warehouse,
//! a delivery note against it takes the units off `actual_qty` and `reserved_qty` there
//! (and counts them as delivered on the order's row), a return puts them back.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{COMPANY, CUSTOMER, USER};

/// A refusal in Frappe's terms: status, `exc_type`, message.
pub type Refusal = (StatusCode, &'static str, String);

fn validation(message: impl Into<String>) -> Refusal {
    (
        StatusCode::EXPECTATION_FAILED,
        "ValidationError",
        message.into(),
    )
}

fn link(message: impl Into<String>) -> Refusal {
    (
        StatusCode::EXPECTATION_FAILED,
        "LinkValidationError",
        message.into(),
    )
}

pub fn not_found(doctype: &str, name: &str) -> Refusal {
    (
        StatusCode::NOT_FOUND,
        "DoesNotExistError",
        format!("{doctype} {name} not found"),
    )
}

#[derive(Default)]
pub struct Books {
    /// `Bin` documents, one per item and warehouse.
    pub bins: Vec<Value>,
    /// Item → its default warehouse (the first it was stocked in), as Item Defaults.
    pub items: BTreeMap<String, String>,
    pub warehouses: BTreeSet<String>,
    /// Doctype → its documents, in creation order.
    pub docs: BTreeMap<String, Vec<Value>>,
    /// Naming series prefix → the last number given.
    series: BTreeMap<String, u32>,
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`, as Frappe writes timestamps (here in UTC).
pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{} {:02}:{:02}:{:02}.{:06}",
        now.date(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

fn hash() -> String {
    format!("{:010x}", rand::random::<u64>() & 0xff_ffff_ffff)
}

/// A number from a JSON number or numeric string, as Frappe's `flt` reads it.
pub fn flt(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

impl Books {
    /// Creates or sets the bin of `item` at `warehouse`.
    pub fn seed_bin(
        &mut self,
        item: &str,
        warehouse: &str,
        actual: f64,
        reserved: f64,
        ordered: f64,
    ) {
        self.items
            .entry(item.to_owned())
            .or_insert_with(|| warehouse.to_owned());
        self.warehouses.insert(warehouse.to_owned());
        let bin = self.bin(item, warehouse);
        bin["actual_qty"] = json!(actual);
        bin["reserved_qty"] = json!(reserved);
        bin["ordered_qty"] = json!(ordered);
        project(bin);
    }

    /// The bin of `item` at `warehouse`, made empty when ERPNext has none yet (it makes
    /// one on the first transaction there).
    pub fn bin(&mut self, item: &str, warehouse: &str) -> &mut Value {
        let at = self
            .bins
            .iter()
            .position(|b| b["item_code"] == item && b["warehouse"] == warehouse);
        let at = at.unwrap_or_else(|| {
            let now = timestamp();
            self.bins.push(json!({
                "name": hash(), "owner": "Administrator", "creation": now, "modified": now,
                "modified_by": "Administrator", "docstatus": 0, "idx": 0, "doctype": "Bin",
                "item_code": item, "warehouse": warehouse, "stock_uom": "Nos",
                "actual_qty": 0.0, "reserved_qty": 0.0, "ordered_qty": 0.0, "indented_qty": 0.0,
                "planned_qty": 0.0, "projected_qty": 0.0, "reserved_qty_for_production": 0.0,
                "reserved_qty_for_sub_contract": 0.0, "valuation_rate": 0.0, "stock_value": 0.0
            }));
            self.bins.len() - 1
        });
        &mut self.bins[at]
    }

    fn move_bin(&mut self, item: &str, warehouse: &str, field: &str, change: f64) {
        let bin = self.bin(item, warehouse);
        let now = flt(&bin[field]);
        bin[field] = json!(now + change);
        bin["modified"] = json!(timestamp());
        project(bin);
    }

    pub fn rows(&self, doctype: &str) -> Vec<Value> {
        if doctype == "Bin" {
            return self.bins.clone();
        }
        self.docs.get(doctype).cloned().unwrap_or_default()
    }

    pub fn find(&self, doctype: &str, name: &str) -> Option<&Value> {
        self.docs.get(doctype)?.iter().find(|d| d["name"] == name)
    }

    fn find_mut(&mut self, doctype: &str, name: &str) -> Option<&mut Value> {
        self.docs
            .get_mut(doctype)?
            .iter_mut()
            .find(|d| d["name"] == name)
    }

    /// `<prefix>.YYYY.-#####`: ERPNext's default naming series.
    fn next_name(&mut self, prefix: &str) -> String {
        let year = time::OffsetDateTime::now_utc().year();
        let n = self.series.entry(format!("{prefix}{year}")).or_default();
        *n += 1;
        format!("{prefix}{year}-{n:05}")
    }

    /// Saves a new document (submitting it when it carries `docstatus: 1`).
    pub fn insert(&mut self, doctype: &str, mut doc: Map<String, Value>) -> Result<Value, Refusal> {
        let prefix = match (doctype, doc.get("is_return").map(flt) == Some(1.0)) {
            ("Sales Order", _) => "SAL-ORD-",
            ("Delivery Note", false) => "MAT-DN-",
            ("Delivery Note", true) => "MAT-DN-RET-",
            ("Sales Invoice", false) => "ACC-SINV-",
            ("Sales Invoice", true) => "ACC-SINV-RET-",
            ("Bin", _) => {
                return Err((
                    StatusCode::FORBIDDEN,
                    "PermissionError",
                    "Insufficient Permission for Bin".into(),
                ));
            }
            _ => return Err(not_found("DocType", doctype)),
        };
        let docstatus = doc.get("docstatus").map_or(0.0, flt);
        if docstatus != 0.0 && docstatus != 1.0 {
            return Err(validation("Cannot create a cancelled document"));
        }
        self.check_parties(&doc)?;
        let name = self.next_name(prefix);
        self.fill_rows(doctype, &name, &mut doc)?;
        let now = timestamp();
        for (field, value) in [
            ("name", json!(name)),
            ("doctype", json!(doctype)),
            ("owner", json!(USER)),
            ("modified_by", json!(USER)),
            ("creation", json!(now)),
            ("modified", json!(now)),
            ("idx", json!(0)),
            ("docstatus", json!(0)),
        ] {
            doc.insert(field.into(), value);
        }
        if doctype != "Sales Order" {
            let today = now[..10].to_owned();
            doc.entry("posting_date").or_insert(json!(today));
            doc.insert("posting_time".into(), json!(now[11..].to_owned()));
            doc.entry("is_return").or_insert(json!(0));
        }
        let mut doc = Value::Object(doc);
        self.validate(doctype, &doc)?;
        if docstatus == 1.0 {
            self.on_submit(doctype, &doc)?;
            doc["docstatus"] = json!(1);
        }
        self.docs
            .entry(doctype.to_owned())
            .or_default()
            .push(doc.clone());
        Ok(doc)
    }

    /// Applies changes to a saved document; `docstatus: 1` submits a draft.
    pub fn update(
        &mut self,
        doctype: &str,
        name: &str,
        changes: Map<String, Value>,
    ) -> Result<Value, Refusal> {
        let doc = self
            .find(doctype, name)
            .cloned()
            .ok_or_else(|| not_found(doctype, name))?;
        let submit = changes.get("docstatus").map(flt) == Some(1.0);
        match doc["docstatus"].as_i64() {
            Some(0) => {}
            Some(1) => {
                let field = changes.keys().next().cloned().unwrap_or_default();
                return Err((
                    StatusCode::EXPECTATION_FAILED,
                    "UpdateAfterSubmitError",
                    format!("Not allowed to change {field} after submission"),
                ));
            }
            _ => return Err(validation("Cannot edit cancelled document")),
        }
        let mut updated = doc;
        for (k, v) in changes
            .into_iter()
            .filter(|(k, _)| k != "docstatus" && k != "items")
        {
            updated[k.as_str()] = v;
        }
        self.validate(doctype, &updated)?;
        if submit {
            self.on_submit(doctype, &updated)?;
            updated["docstatus"] = json!(1);
        }
        updated["modified"] = json!(timestamp());
        *self.find_mut(doctype, name).expect("found above") = updated.clone();
        Ok(updated)
    }

    fn check_parties(&self, doc: &Map<String, Value>) -> Result<(), Refusal> {
        let customer = doc
            .get("customer")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if customer != CUSTOMER {
            return Err(link(format!("Could not find Customer: {customer}")));
        }
        let company = doc
            .get("company")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if company != COMPANY {
            return Err(link(format!("Could not find Company: {company}")));
        }
        Ok(())
    }

    /// Checks the item rows and gives each the fields Frappe gives a child row.
    fn fill_rows(
        &self,
        doctype: &str,
        parent: &str,
        doc: &mut Map<String, Value>,
    ) -> Result<(), Refusal> {
        let is_return = doc.get("is_return").map(flt) == Some(1.0);
        let header_date = doc.get("delivery_date").cloned();
        let Some(Value::Array(rows)) = doc.get_mut("items") else {
            return Err((
                StatusCode::EXPECTATION_FAILED,
                "MandatoryError",
                format!("[{doctype}, new-{doctype}-1]: items"),
            ));
        };
        if rows.is_empty() {
            return Err((
                StatusCode::EXPECTATION_FAILED,
                "MandatoryError",
                format!("[{doctype}, new-{doctype}-1]: items"),
            ));
        }
        for (i, row) in rows.iter_mut().enumerate() {
            let n = i + 1;
            let item = row["item_code"].as_str().unwrap_or_default().to_owned();
            if !self.items.contains_key(&item) {
                return Err(link(format!("Could not find Row #{n}: Item Code: {item}")));
            }
            let qty = flt(&row["qty"]);
            if is_return && qty >= 0.0 {
                return Err(validation(format!(
                    "Row #{n}: Quantity for a return must be negative"
                )));
            }
            if !is_return && qty <= 0.0 {
                return Err(validation(format!(
                    "Row #{n}: Quantity must be greater than 0"
                )));
            }
            if doctype == "Sales Order" {
                if row.get("delivery_date").is_none_or(Value::is_null) {
                    match &header_date {
                        Some(d) => row["delivery_date"] = d.clone(),
                        None => {
                            return Err(validation(format!(
                                "Row #{n}: Please enter Delivery Date"
                            )));
                        }
                    }
                }
                row["delivered_qty"] = json!(0.0);
            }
            if doctype != "Sales Invoice" {
                self.row_warehouse(doctype, n, &item, row)?;
            }
            row["qty"] = json!(qty);
            row["rate"] = json!(flt(&row["rate"]));
            row["amount"] = json!(qty * flt(&row["rate"]));
            for (field, value) in [
                ("name", json!(hash())),
                ("idx", json!(n)),
                ("parent", json!(parent)),
                ("parentfield", json!("items")),
                ("parenttype", json!(doctype)),
                ("doctype", json!(format!("{doctype} Item"))),
                ("docstatus", json!(0)),
            ] {
                row[field] = value;
            }
        }
        Ok(())
    }

    /// A row's warehouse: the one it names (which must exist), else for a row against a
    /// sales order that row's, else the item's default; a stock item needs one.
    fn row_warehouse(
        &self,
        doctype: &str,
        n: usize,
        item: &str,
        row: &mut Value,
    ) -> Result<(), Refusal> {
        if let Some(w) = row["warehouse"].as_str() {
            if !self.warehouses.contains(w) {
                return Err(link(format!("Could not find Row #{n}: Warehouse: {w}")));
            }
            return Ok(());
        }
        let from_order = match (
            row["against_sales_order"].as_str(),
            row["so_detail"].as_str(),
        ) {
            (Some(so), Some(detail)) => self
                .order_row(so, detail)
                .and_then(|r| r["warehouse"].as_str()),
            _ => None,
        };
        match from_order.or_else(|| self.items.get(item).map(String::as_str)) {
            Some(w) => row["warehouse"] = json!(w),
            None if doctype == "Sales Order" => {
                return Err(validation(format!(
                    "Delivery warehouse required for stock item {item}"
                )));
            }
            None => {
                return Err(validation(format!(
                    "Row #{n}: Warehouse is mandatory for stock Item {item}"
                )));
            }
        }
        Ok(())
    }

    fn order_row(&self, so: &str, detail: &str) -> Option<&Value> {
        self.find("Sales Order", so)?["items"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == detail)
    }

    /// What ERPNext checks on every save.
    fn validate(&self, doctype: &str, doc: &Value) -> Result<(), Refusal> {
        if doctype != "Delivery Note" {
            return Ok(());
        }
        let rows = doc["items"].as_array().cloned().unwrap_or_default();
        if doc["is_return"].as_i64() == Some(1) {
            return self.validate_return(doc, &rows);
        }
        for (i, row) in rows.iter().enumerate() {
            let (Some(so), Some(detail)) = (
                row["against_sales_order"].as_str(),
                row["so_detail"].as_str(),
            ) else {
                continue;
            };
            let order = self
                .find("Sales Order", so)
                .ok_or_else(|| link(format!("Could not find Row #{}: Sales Order: {so}", i + 1)))?;
            if order["docstatus"] != 1 {
                return Err(validation(format!("Sales Order {so} is not submitted")));
            }
            let base = self.order_row(so, detail).ok_or_else(|| {
                validation(format!(
                    "Row #{}: Sales Order Item {detail} not found",
                    i + 1
                ))
            })?;
            if base["item_code"] != row["item_code"] {
                return Err(validation(format!(
                    "Row #{}: Item Code does not match the Sales Order",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    /// A return against a delivery note may not give back more of a row than it delivered,
    /// less what submitted returns already gave back.
    fn validate_return(&self, doc: &Value, rows: &[Value]) -> Result<(), Refusal> {
        let Some(against) = doc["return_against"].as_str() else {
            return Ok(());
        };
        let original = self
            .find("Delivery Note", against)
            .filter(|d| d["docstatus"] == 1 && d["is_return"] == 0)
            .ok_or_else(|| {
                validation(format!(
                    "Delivery Note {against} is not a submitted delivery"
                ))
            })?;
        for (i, row) in rows.iter().enumerate() {
            let Some(detail) = row["dn_detail"].as_str() else {
                continue;
            };
            let delivered = original["items"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["name"] == detail))
                .map_or(0.0, |r| flt(&r["qty"]));
            let returned: f64 = self
                .rows("Delivery Note")
                .iter()
                .filter(|d| d["docstatus"] == 1 && d["return_against"] == against)
                .flat_map(|d| d["items"].as_array().cloned().unwrap_or_default())
                .filter(|r| r["dn_detail"] == detail)
                .map(|r| -flt(&r["qty"]))
                .sum();
            let left = delivered - returned;
            if -flt(&row["qty"]) > left {
                return Err(validation(format!(
                    "Row # {}: Cannot return more than {left} for Item {}",
                    i + 1,
                    row["item_code"].as_str().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// What submitting does to stock and to the documents it draws on.
    fn on_submit(&mut self, doctype: &str, doc: &Value) -> Result<(), Refusal> {
        let rows = doc["items"].as_array().cloned().unwrap_or_default();
        match doctype {
            "Sales Order" => {
                for row in &rows {
                    let (item, warehouse) = item_at(row);
                    self.move_bin(&item, &warehouse, "reserved_qty", flt(&row["qty"]));
                }
            }
            "Delivery Note" if doc["is_return"] == 1 => {
                for row in &rows {
                    let (item, warehouse) = item_at(row);
                    self.move_bin(&item, &warehouse, "actual_qty", -flt(&row["qty"]));
                }
            }
            "Delivery Note" => {
                self.check_over_delivery(&rows)?;
                for row in &rows {
                    let (item, warehouse) = item_at(row);
                    let qty = flt(&row["qty"]);
                    self.move_bin(&item, &warehouse, "actual_qty", -qty);
                    if let (Some(so), Some(detail)) = (
                        row["against_sales_order"].as_str(),
                        row["so_detail"].as_str(),
                    ) {
                        self.move_bin(&item, &warehouse, "reserved_qty", -qty);
                        self.deliver(so, detail, qty);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// ERPNext's status updater refuses delivering more of an order row than it has left.
    fn check_over_delivery(&self, rows: &[Value]) -> Result<(), Refusal> {
        let mut asked: BTreeMap<(String, String), f64> = BTreeMap::new();
        for row in rows {
            if let (Some(so), Some(detail)) = (
                row["against_sales_order"].as_str(),
                row["so_detail"].as_str(),
            ) {
                *asked.entry((so.to_owned(), detail.to_owned())).or_default() += flt(&row["qty"]);
            }
        }
        for ((so, detail), qty) in asked {
            let Some(base) = self.order_row(&so, &detail) else {
                continue;
            };
            let over = qty - (flt(&base["qty"]) - flt(&base["delivered_qty"]));
            if over > 0.0 {
                return Err(validation(format!(
                    "This document is over limit by Qty {over} for item {}. Are you making another Delivery Note against the same Sales Order Item?",
                    base["item_code"].as_str().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    fn deliver(&mut self, so: &str, detail: &str, qty: f64) {
        let Some(order) = self.find_mut("Sales Order", so) else {
            return;
        };
        if let Some(Value::Array(rows)) = order.get_mut("items")
            && let Some(row) = rows.iter_mut().find(|r| r["name"] == detail)
        {
            row["delivered_qty"] = json!(flt(&row["delivered_qty"]) + qty);
        }
        order["modified"] = json!(timestamp());
    }

    /// The rows of `doctype` that pass `filters`, ordered by `order_by`.
    pub fn select(
        &self,
        doctype: &str,
        filters: &[Vec<Value>],
        order_by: &str,
    ) -> Result<Vec<Value>, Refusal> {
        let mut rows = Vec::new();
        for doc in self.rows(doctype) {
            let mut keep = true;
            for f in filters {
                keep &= passes(doctype, &doc, f)?;
            }
            if keep {
                rows.push(doc);
            }
        }
        let mut order = order_by.split_whitespace();
        let field = order
            .next()
            .unwrap_or("modified")
            .trim_matches('`')
            .to_owned();
        let descending = order.next().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        rows.sort_by(|a, b| {
            let o = compare(&a[field.as_str()], &b[field.as_str()]);
            if descending { o.reverse() } else { o }
        });
        Ok(rows)
    }
}

fn item_at(row: &Value) -> (String, String) {
    (
        row["item_code"].as_str().unwrap_or_default().to_owned(),
        row["warehouse"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `projected_qty` as ERPNext computes it.
fn project(bin: &mut Value) {
    let f = |k: &str| flt(&bin[k]);
    let projected = f("actual_qty") + f("ordered_qty") + f("indented_qty") + f("planned_qty")
        - f("reserved_qty")
        - f("reserved_qty_for_production")
        - f("reserved_qty_for_sub_contract");
    bin["projected_qty"] = json!(projected);
}

/// `[field, op, value]`, or `[doctype, field, op, value]` where a child doctype passes
/// when any of its rows does.
fn passes(doctype: &str, doc: &Value, filter: &[Value]) -> Result<bool, Refusal> {
    let (dt, rest) = match filter.len() {
        3 => (doctype, filter),
        4 => (filter[0].as_str().unwrap_or_default(), &filter[1..]),
        _ => {
            return Err(validation(format!(
                "Invalid filter: {}",
                Value::from(filter.to_vec())
            )));
        }
    };
    let field = rest[0].as_str().unwrap_or_default();
    let op = rest[1].as_str().unwrap_or_default();
    if dt == doctype {
        return holds(&doc[field], op, &rest[2]);
    }
    let rows = doc["items"].as_array().cloned().unwrap_or_default();
    for row in rows.iter().filter(|r| r["doctype"] == dt) {
        if holds(&row[field], op, &rest[2])? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn holds(v: &Value, op: &str, want: &Value) -> Result<bool, Refusal> {
    let list = || want.as_array().cloned().unwrap_or_default();
    Ok(match op {
        "=" => same(v, want),
        "!=" => !same(v, want),
        "<" => compare(v, want) == Ordering::Less,
        ">" => compare(v, want) == Ordering::Greater,
        "<=" => compare(v, want) != Ordering::Greater,
        ">=" => compare(v, want) != Ordering::Less,
        "in" => list().iter().any(|w| same(v, w)),
        "not in" => !list().iter().any(|w| same(v, w)),
        other => {
            return Err(validation(format!(
                "Operator must be one of =, !=, <, >, <=, >=, in, not in: {other}"
            )));
        }
    })
}

/// Equality as SQL sees it: `1` is `1.0` is `"1"`, null is `""`.
fn same(a: &Value, b: &Value) -> bool {
    compare(a, b) == Ordering::Equal
}

fn compare(a: &Value, b: &Value) -> Ordering {
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            flt(a).partial_cmp(&flt(b)).unwrap_or(Ordering::Equal)
        }
        _ => text(a).cmp(&text(b)),
    }
}
