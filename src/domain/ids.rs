//! Opaque identifiers with a type prefix (`ord_…`, `rma_…`, `shp_…`).
//!
//! The body is a ULID, so identifiers sort by creation time and reveal nothing else.

pub const ORDER: &str = "ord";
pub const RMA: &str = "rma";
pub const SHIPMENT: &str = "shp";

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// True when `id` has the given prefix and a well-formed body. Used to answer 404 at once
/// for identifiers that cannot exist, without a store round trip.
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| ulid::Ulid::from_string(body).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix() {
        let id = new_id(ORDER);
        assert!(has_prefix(&id, ORDER));
        assert!(!has_prefix(&id, RMA));
        assert!(!has_prefix("ord_not-a-ulid", ORDER));
    }
}
