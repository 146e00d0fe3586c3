//! One integration binary. Modules mirror the API: in-process router tests per resource,
//! then real-socket tests that start the `stockade` binary.

mod harness;

mod availability;
mod cli;
mod durability;
mod events;
mod governance;
mod ledger;
mod openapi;
mod orders;
mod problems;
mod race;
mod returns;
