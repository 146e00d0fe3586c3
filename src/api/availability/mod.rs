//! `GET /v1/availability/{sku}` and `GET /v1/availability?sku=…`.

pub mod get_many;
pub mod get_one;
