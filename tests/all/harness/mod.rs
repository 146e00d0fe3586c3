//! Test builders: backends and the trial registry, an in-process app on a fresh data
//! directory, real gateway processes on random ports, and fakes of outside systems (the
//! ERP fakes live beside their adapters' tests, under `erp/`).

mod app;
mod backend;
mod collector;
mod erp;
mod process;
mod proxy;
mod subscriber;
mod woo;

pub use app::*;
pub use backend::*;
pub use collector::*;
pub use erp::*;
pub use process::*;
pub use proxy::*;
pub use subscriber::*;
pub use woo::*;
