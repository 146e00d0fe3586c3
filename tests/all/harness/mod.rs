//! Test builders: backends and the trial registry, an in-process app on a fresh data
//! directory, real gateway processes on random ports, and fakes of outside systems.

mod app;
mod backend;
mod process;
mod proxy;
mod sap_b1;
mod subscriber;
mod woo;

pub use app::*;
pub use backend::*;
pub use process::*;
pub use proxy::*;
pub use sap_b1::*;
pub use subscriber::*;
pub use woo::*;
