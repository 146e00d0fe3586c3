//! `/v1/orders`: acceptance, reads, lookup by the channel's number, cancel, shipments,
//! timeline.

pub mod accept;
pub mod cancel;
pub mod get;
pub mod lookup;
pub mod shipments;
pub mod timeline;
