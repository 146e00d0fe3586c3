//! `POST /v1/events`: inbound canonical events.

pub mod ingest;
