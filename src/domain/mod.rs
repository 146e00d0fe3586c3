//! The retail rules: quantities and available-to-sell, allocation, the order and return
//! lifecycles, inbound events. Nothing here knows about HTTP, SQL, vendors or tower.

pub mod allocation;
pub mod audit;
pub mod availability;
pub mod events;
pub mod ids;
pub mod money;
pub mod order;
pub mod outbound;
pub mod quantity;
pub mod reconcile;
pub mod rma;
pub mod shipment;
pub mod slo;
pub mod time;
pub mod timeline;

use serde::Serialize;

/// One broken rule in a request, with a JSON pointer to the offending field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ValidationError {
    /// Stable machine code of the rule, e.g. `invalid-quantity`.
    pub code: &'static str,
    /// RFC 6901 pointer into the request body.
    pub pointer: String,
    pub detail: String,
}

impl ValidationError {
    pub fn new(code: &'static str, pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            code,
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// Deserializes `T` and, on failure, says which field was wrong as a JSON pointer.
pub fn from_json_value<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let pointer = pointer_of(e.path());
        ValidationError::new("invalid-body", pointer, e.into_inner().to_string())
    })
}

/// RFC 6901 pointer for a serde path.
pub fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|seg| match seg {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .map(|s| format!("/{s}"))
        .collect()
}
