//! What the fake Odoo does when asked to change something: create the documents the
//! adapter makes (sale orders, receipts for returns, credit notes), write a delivery's
//! moves, and the workflow methods (`action_confirm`, `button_validate`, `action_post`)
//! with their effect on the quants.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    CUSTOMERS, Db, PARTNER, Raised, Record, id_of, missing, no_method, pair, qty, raise, user_error,
};

impl Db {
    pub fn create(&mut self, model: &str, vals: &Value) -> Result<i64, Raised> {
        match model {
            "sale.order" => self.create_sale_order(vals),
            "stock.picking" => self.create_receipt(vals),
            "account.move" => self.create_credit_note(vals),
            _ => Err(raise(
                "odoo.exceptions.AccessError",
                format!("You are not allowed to create '{model}' records."),
            )),
        }
    }

    fn product_of(&self, vals: &Value) -> Result<i64, Raised> {
        let id = id_of(&vals["product_id"]).unwrap_or(0);
        self.get("product.product", id)
            .map(|_| id)
            .ok_or_else(|| missing("product.product", &vals["product_id"]))
    }

    fn partner_of(&self, vals: &Value) -> Result<i64, Raised> {
        match id_of(&vals["partner_id"]) {
            Some(PARTNER) => Ok(PARTNER),
            None => Err(raise(
                "odoo.exceptions.ValidationError",
                "The operation cannot be completed: Missing required field 'Customer'",
            )),
            Some(_) => Err(missing("res.partner", &vals["partner_id"])),
        }
    }

    /// The `[0, 0, vals]` commands of a one-to-many, each line checked by `line`.
    fn lines<'v>(vals: &'v Value, field: &str) -> Result<Vec<&'v Value>, Raised> {
        let Some(commands) = vals[field].as_array() else {
            return Ok(Vec::new());
        };
        commands
            .iter()
            .map(|c| match c.as_array().map(Vec::as_slice) {
                Some([op, _, line]) if op == 0 && line.is_object() => {
                    if qty(&line["product_uom_qty"]).max(qty(&line["quantity"])) <= 0.0 {
                        return Err(user_error("The quantity of a line must be positive."));
                    }
                    Ok(line)
                }
                _ => Err(raise("builtins.ValueError", format!("Invalid command {c}"))),
            })
            .collect()
    }

    fn create_sale_order(&mut self, vals: &Value) -> Result<i64, Raised> {
        let partner = self.partner_of(vals)?;
        let first = self
            .all("stock.warehouse")
            .next()
            .and_then(|w| id_of(&w["id"]));
        let warehouse = match &vals["warehouse_id"] {
            Value::Null | Value::Bool(false) => first.ok_or_else(|| user_error("No warehouse"))?,
            v => id_of(v)
                .filter(|w| self.get("stock.warehouse", *w).is_some())
                .ok_or_else(|| missing("stock.warehouse", v))?,
        };
        let lines = Self::lines(vals, "order_line")?;
        let mut checked = Vec::new();
        for (n, line) in lines.into_iter().enumerate() {
            let product = self.product_of(line)?;
            let route = match &line["route_id"] {
                Value::Null | Value::Bool(false) => Value::Bool(false),
                v => {
                    let id = id_of(v).unwrap_or(0);
                    if self.get("stock.route", id).is_none() {
                        return Err(missing("stock.route", v));
                    }
                    self.link("stock.route", id)
                }
            };
            checked.push(json!({
                "product_id": self.link("product.product", product),
                "product_uom_qty": qty(&line["product_uom_qty"]),
                "price_unit": qty(&line["price_unit"]),
                "route_id": route, "sequence": 10 + n,
            }));
        }
        let name = self.next_name("S", 5);
        let order = self.add(
            "sale.order",
            json!({
                "name": name, "state": "draft", "client_order_ref": vals["client_order_ref"],
                "origin": vals["origin"], "partner_id": self.link("res.partner", partner),
                "warehouse_id": self.link("stock.warehouse", warehouse),
            }),
        );
        for mut line in checked {
            line["order_id"] = pair(order, &name);
            self.add("sale.order.line", line);
        }
        Ok(order)
    }

    fn create_receipt(&mut self, vals: &Value) -> Result<i64, Raised> {
        let partner = self.partner_of(vals)?;
        let kind = id_of(&vals["picking_type_id"]).unwrap_or(0);
        let Some(kind_rec) = self.get("stock.picking.type", kind) else {
            return Err(missing("stock.picking.type", &vals["picking_type_id"]));
        };
        if kind_rec["code"] != "incoming" {
            return Err(user_error("The fake takes only receipts as new pickings."));
        }
        let warehouse = kind_rec["warehouse_id"].as_i64().unwrap_or(0);
        let (from, to) = (
            id_of(&vals["location_id"]),
            id_of(&vals["location_dest_id"]),
        );
        if from != Some(CUSTOMERS) || to != Some(self.stock_location(warehouse)) {
            return Err(user_error(
                "A return comes from the customers into the warehouse's stock.",
            ));
        }
        let lines = Self::lines(vals, "move_ids")?;
        let name = self.next_name(&format!("{}/IN/", self.warehouse_code(warehouse)), 5);
        let picking = self.add(
            "stock.picking",
            json!({
                "name": name, "origin": vals["origin"], "state": "draft",
                "picking_type_id": self.link("stock.picking.type", kind),
                "picking_type_code": "incoming", "partner_id": self.link("res.partner", partner),
                "sale_id": false, "carrier_tracking_ref": false, "date_done": false,
                "location_id": self.link("stock.location", CUSTOMERS),
                "location_dest_id": self.link("stock.location", to.unwrap_or(0)),
            }),
        );
        for line in lines {
            let product = self.product_of(line)?;
            self.add(
                "stock.move",
                json!({
                    "picking_id": pair(picking, &name),
                    "product_id": self.link("product.product", product),
                    "product_uom_qty": qty(&line["product_uom_qty"]), "quantity": 0.0,
                    "state": "draft", "sequence": 10,
                }),
            );
        }
        Ok(picking)
    }

    fn create_credit_note(&mut self, vals: &Value) -> Result<i64, Raised> {
        if vals["move_type"] != "out_refund" {
            return Err(user_error("The fake books only customer credit notes."));
        }
        let partner = self.partner_of(vals)?;
        let lines = Self::lines(vals, "invoice_line_ids")?;
        if lines.is_empty() {
            return Err(user_error("You need to add a line before posting."));
        }
        let mut total = 0.0;
        for line in &lines {
            self.product_of(line)?;
            total += qty(&line["quantity"]) * qty(&line["price_unit"]);
        }
        Ok(self.add(
            "account.move",
            json!({
                "name": "/", "move_type": "out_refund", "state": "draft", "ref": vals["ref"],
                "invoice_origin": vals["invoice_origin"],
                "partner_id": self.link("res.partner", partner), "amount_total": total,
            }),
        ))
    }

    /// `write` on pickings: the source document, the tracking number, and `[1, id, vals]`
    /// updates of their moves' `quantity` and `picked`.
    pub fn write(&mut self, model: &str, ids: &[i64], vals: &Value) -> Result<Value, Raised> {
        if model != "stock.picking" {
            return Err(raise(
                "odoo.exceptions.AccessError",
                format!("You are not allowed to modify '{model}' records."),
            ));
        }
        for &id in ids {
            if self.get(model, id).is_none() {
                return Err(missing(model, &json!(id)));
            }
            for field in ["origin", "carrier_tracking_ref"] {
                if let Some(v) = vals.get(field) {
                    self.get_mut(model, id).expect("checked")[field] = v.clone();
                }
            }
            for command in vals["move_ids"].as_array().into_iter().flatten() {
                let Some([op, mid, mv]) = command.as_array().map(Vec::as_slice) else {
                    return Err(raise(
                        "builtins.ValueError",
                        format!("Invalid command {command}"),
                    ));
                };
                let mid = mid.as_i64().unwrap_or(0);
                let own = self
                    .get("stock.move", mid)
                    .is_some_and(|m| id_of(&m["picking_id"]) == Some(id));
                if op != 1 || !own {
                    return Err(missing("stock.move", &json!(mid)));
                }
                let m = self.get_mut("stock.move", mid).expect("checked");
                if let Some(q) = mv.get("quantity") {
                    m["quantity"] = json!(qty(q));
                }
                if let Some(p) = mv.get("picked") {
                    m["picked"] = p.clone();
                }
            }
        }
        Ok(json!(true))
    }

    /// `action_confirm` of sale orders and of draft pickings.
    pub fn action_confirm(&mut self, model: &str, ids: &[i64]) -> Result<Value, Raised> {
        for &id in ids {
            let Some(rec) = self.get(model, id) else {
                return Err(missing(model, &json!(id)));
            };
            let state = rec["state"].as_str().unwrap_or_default().to_owned();
            match (model, state.as_str()) {
                ("sale.order", "draft" | "sent") => self.confirm_sale_order(id),
                ("stock.picking", "draft") => {
                    self.get_mut(model, id).expect("checked")["state"] = json!("assigned");
                    for m in self.moves_of(id) {
                        self.get_mut("stock.move", m).expect("listed")["state"] = json!("assigned");
                    }
                }
                ("sale.order" | "stock.picking", _) => {
                    return Err(user_error(
                        "Some orders are not in a state requiring confirmation.",
                    ));
                }
                _ => return Err(no_method(model, "action_confirm")),
            }
        }
        Ok(json!(true))
    }

    /// The order's lines become moves of one delivery per warehouse (the line's route's,
    /// else the order's), each reserved at that warehouse's stock as far as it goes.
    fn confirm_sale_order(&mut self, order: i64) {
        let rec = self.get("sale.order", order).expect("checked").clone();
        self.get_mut("sale.order", order).expect("checked")["state"] = json!("sale");
        let lines: Vec<Record> = self
            .all("sale.order.line")
            .filter(|l| id_of(&l["order_id"]) == Some(order))
            .cloned()
            .collect();
        let mut per_warehouse: BTreeMap<i64, Vec<Record>> = BTreeMap::new();
        for line in lines {
            let warehouse = id_of(&line["route_id"])
                .and_then(|r| self.get("stock.route", r))
                .and_then(|r| r["warehouse_id"].as_i64())
                .or_else(|| id_of(&rec["warehouse_id"]))
                .unwrap_or(0);
            per_warehouse.entry(warehouse).or_default().push(line);
        }
        for (warehouse, lines) in per_warehouse {
            let picking = self.delivery(warehouse, &rec, None);
            for line in lines {
                self.add_move(
                    picking,
                    warehouse,
                    &line["product_id"],
                    qty(&line["product_uom_qty"]),
                    &line["sequence"],
                );
            }
            self.refresh_state(picking);
        }
    }

    /// A new outgoing picking of `order` at `warehouse`.
    fn delivery(&mut self, warehouse: i64, order: &Record, backorder_of: Option<i64>) -> i64 {
        let code = self.warehouse_code(warehouse);
        let name = self.next_name(&format!("{code}/OUT/"), 5);
        let stock = self.stock_location(warehouse);
        let sale = id_of(&order["id"]).unwrap_or(0);
        let backorder = backorder_of.map_or(Value::Bool(false), |b| self.link("stock.picking", b));
        self.add(
            "stock.picking",
            json!({
                "name": name, "origin": order["name"], "state": "confirmed",
                "sale_id": pair(sale, order["name"].as_str().unwrap_or_default()),
                "picking_type_code": "outgoing", "partner_id": order["partner_id"],
                "carrier_tracking_ref": false, "date_done": false,
                "location_id": self.link("stock.location", stock),
                "location_dest_id": self.link("stock.location", CUSTOMERS),
                "backorder_id": backorder,
                "_warehouse": warehouse,
            }),
        )
    }

    /// A move of `picking`, reserved at the warehouse's stock as far as stock goes.
    fn add_move(
        &mut self,
        picking: i64,
        warehouse: i64,
        product: &Value,
        asked: f64,
        sequence: &Value,
    ) {
        let stock = self.stock_location(warehouse);
        let reserved = self.reserve(id_of(product).unwrap_or(0), stock, asked);
        let name = self.name("stock.picking", picking);
        self.add(
            "stock.move",
            json!({
                "picking_id": pair(picking, &name), "product_id": product,
                "product_uom_qty": asked, "quantity": reserved, "picked": false,
                "state": move_state(reserved, asked),
                "sequence": sequence, "_reserved": reserved, "_location": stock,
            }),
        );
    }

    /// Reserves up to `wanted` of `product` at `location`; what it could.
    fn reserve(&mut self, product: i64, location: i64, wanted: f64) -> f64 {
        let quant = self
            .models
            .get_mut("stock.quant")
            .into_iter()
            .flat_map(|m| m.values_mut())
            .find(|q| {
                id_of(&q["product_id"]) == Some(product)
                    && id_of(&q["location_id"]) == Some(location)
            });
        let Some(q) = quant else { return 0.0 };
        let free = (qty(&q["quantity"]) - qty(&q["reserved_quantity"])).max(0.0);
        let taken = free.min(wanted);
        adjust(q, 0.0, taken);
        taken
    }

    /// Moves the quant of `product` at `location` by these amounts, making it if needed
    /// (Odoo lets stock go negative unless told not to).
    fn book(&mut self, product: i64, location: i64, quantity: f64, reserved: f64) {
        let exists = self.all("stock.quant").any(|q| {
            id_of(&q["product_id"]) == Some(product) && id_of(&q["location_id"]) == Some(location)
        });
        if !exists {
            let (p, l) = (
                self.link("product.product", product),
                self.link("stock.location", location),
            );
            self.add(
                "stock.quant",
                json!({"product_id": p, "location_id": l, "quantity": 0.0,
                       "reserved_quantity": 0.0, "available_quantity": 0.0}),
            );
        }
        if let Some(q) = self
            .models
            .get_mut("stock.quant")
            .into_iter()
            .flat_map(|m| m.values_mut())
            .find(|q| {
                id_of(&q["product_id"]) == Some(product)
                    && id_of(&q["location_id"]) == Some(location)
            })
        {
            adjust(q, quantity, reserved);
        }
    }

    fn moves_of(&self, picking: i64) -> Vec<i64> {
        self.all("stock.move")
            .filter(|m| id_of(&m["picking_id"]) == Some(picking))
            .filter_map(|m| id_of(&m["id"]))
            .collect()
    }

    fn refresh_state(&mut self, picking: i64) {
        let moves = self.moves_of(picking);
        let all_reserved = moves.iter().all(|m| {
            self.get("stock.move", *m)
                .is_some_and(|m| m["state"] == "assigned")
        });
        self.get_mut("stock.picking", picking).expect("exists")["state"] = json!(if all_reserved {
            "assigned"
        } else {
            "confirmed"
        });
    }

    /// `button_validate`: the picked moves (every move with a quantity when none is
    /// picked) are done with their quantity, taken off the quants; what they did not
    /// take goes to a backorder, reserved anew. Without `skip_backorder` a partial
    /// delivery is answered with the backorder wizard instead, as in Odoo.
    pub fn button_validate(&mut self, ids: &[i64], context: &Value) -> Result<Value, Raised> {
        for &id in ids {
            let Some(p) = self.get("stock.picking", id) else {
                return Err(missing("stock.picking", &json!(id)));
            };
            if !matches!(
                p["state"].as_str(),
                Some("confirmed" | "assigned" | "waiting")
            ) || p["picking_type_code"] != "outgoing"
            {
                return Err(user_error(format!(
                    "{}: this transfer cannot be validated now.",
                    p["name"]
                )));
            }
            let moves: Vec<Record> = self
                .moves_of(id)
                .iter()
                .filter_map(|m| self.get("stock.move", *m).cloned())
                .collect();
            let any_picked = moves.iter().any(|m| m["picked"] == true);
            let done: Vec<(i64, f64)> = moves
                .iter()
                .map(|m| {
                    let counts = !any_picked || m["picked"] == true;
                    (
                        id_of(&m["id"]).unwrap_or(0),
                        if counts { qty(&m["quantity"]) } else { 0.0 },
                    )
                })
                .collect();
            if done.iter().all(|(_, q)| *q <= 0.0) {
                return Err(user_error(
                    "You cannot validate a transfer if no quantities are reserved nor done.",
                ));
            }
            let partial = moves
                .iter()
                .zip(&done)
                .any(|(m, (_, q))| *q < qty(&m["product_uom_qty"]));
            if partial && context["skip_backorder"] != true {
                return Ok(json!({"type": "ir.actions.act_window", "target": "new",
                           "res_model": "stock.backorder.confirmation"}));
            }
            self.finish(id, &done);
        }
        Ok(json!(true))
    }

    fn finish(&mut self, picking: i64, done: &[(i64, f64)]) {
        let p = self.get("stock.picking", picking).expect("checked").clone();
        let warehouse = p["_warehouse"].as_i64().unwrap_or(0);
        let mut rest = Vec::new();
        for &(mid, q) in done {
            let m = self.get("stock.move", mid).expect("listed").clone();
            let (product, location) = (
                id_of(&m["product_id"]).unwrap_or(0),
                m["_location"].as_i64().unwrap_or(0),
            );
            // Everything the move held is released; the rest is reserved anew on the backorder.
            self.book(product, location, -q, -qty(&m["_reserved"]));
            let asked = qty(&m["product_uom_qty"]);
            if q < asked {
                rest.push((m["product_id"].clone(), asked - q, m["sequence"].clone()));
            }
            let m = self.get_mut("stock.move", mid).expect("listed");
            if q > 0.0 {
                m.extend(
                    json!({"state": "done", "product_uom_qty": q, "quantity": q, "_reserved": 0.0})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                );
            } else {
                m.insert("state".into(), json!("cancel"));
                m.insert("picking_id".into(), Value::Bool(false));
            }
        }
        let today = self.today.clone();
        let rec = self.get_mut("stock.picking", picking).expect("checked");
        rec.insert("state".into(), json!("done"));
        rec.insert("date_done".into(), json!(today));
        if rest.is_empty() {
            return;
        }
        let order = id_of(&p["sale_id"])
            .and_then(|s| self.get("sale.order", s))
            .cloned()
            .unwrap_or_default();
        let backorder = self.delivery(warehouse, &order, Some(picking));
        // A backorder copies its picking's source document.
        self.get_mut("stock.picking", backorder).expect("made")["origin"] = p["origin"].clone();
        for (product, asked, sequence) in rest {
            self.add_move(backorder, warehouse, &product, asked, &sequence);
        }
        self.refresh_state(backorder);
    }

    /// `action_post` of credit notes: numbered and posted.
    pub fn action_post(&mut self, model: &str, ids: &[i64]) -> Result<Value, Raised> {
        if model != "account.move" {
            return Err(no_method(model, "action_post"));
        }
        for &id in ids {
            match self.get(model, id).map(|m| m["state"].clone()) {
                None => return Err(missing(model, &json!(id))),
                Some(s) if s != "draft" => {
                    return Err(user_error("Only draft journal entries can be posted."));
                }
                Some(_) => {
                    let name = self.next_name("RINV/2026/", 5);
                    let m = self.get_mut(model, id).expect("checked");
                    m.insert("state".into(), json!("posted"));
                    m.insert("name".into(), json!(name));
                }
            }
        }
        Ok(Value::Bool(false))
    }

    /// A warehouse worker validating the order's open delivery with these quantities, as
    /// Odoo's barcode or inventory screens do.
    pub fn ship(&mut self, order: i64, lines: &[(&str, i64)]) {
        let picking = self
            .all("stock.picking")
            .find(|p| {
                id_of(&p["sale_id"]) == Some(order)
                    && p["state"] != "done"
                    && p["picking_type_code"] == "outgoing"
            })
            .and_then(|p| id_of(&p["id"]))
            .expect("the order has an open delivery");
        let mut left: BTreeMap<String, f64> = BTreeMap::new();
        for (sku, q) in lines {
            *left.entry((*sku).to_owned()).or_default() += *q as f64;
        }
        let mut done = Vec::new();
        for mid in self.moves_of(picking) {
            let m = self.get("stock.move", mid).expect("listed");
            let sku = id_of(&m["product_id"])
                .and_then(|p| self.get("product.product", p))
                .and_then(|p| p["default_code"].as_str())
                .unwrap_or_default()
                .to_owned();
            let want = left.entry(sku).or_default();
            let q = want.min(qty(&m["product_uom_qty"]));
            *want -= q;
            done.push((mid, q));
        }
        self.finish(picking, &done);
    }
}

fn adjust(q: &mut Record, quantity: f64, reserved: f64) {
    let quantity = qty(&q["quantity"]) + quantity;
    let reserved = (qty(&q["reserved_quantity"]) + reserved).max(0.0);
    q.insert("quantity".into(), json!(quantity));
    q.insert("reserved_quantity".into(), json!(reserved));
    q.insert("available_quantity".into(), json!(quantity - reserved));
}

/// A move's state after reserving `reserved` of the `asked` units.
fn move_state(reserved: f64, asked: f64) -> &'static str {
    if reserved >= asked {
        "assigned"
    } else if reserved > 0.0 {
        "partially_available"
    } else {
        "confirmed"
    }
}
