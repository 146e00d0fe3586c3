//! `/v1/returns`: return authorization and RMA reads.

pub mod authorize;
pub mod get;
