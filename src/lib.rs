//! Stockade: a governed API gateway between retail sales channels and the back office.
//!
//! Requests flow one way and imports follow them: `api` (HTTP, the tower stack) calls
//! `services`; services apply the rules of `domain` and reach `store` and `adapters`
//! through traits. `policy` is the declarative governance loaded from `policies/`.
//! `docs/ARCHITECTURE.md` has the map.

pub mod adapters;
pub mod api;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod governance;
pub mod import;
pub mod metrics;
pub mod policy;
pub mod problem;
pub mod seed;
pub mod services;
pub mod startup;
pub mod store;
pub mod telemetry;
