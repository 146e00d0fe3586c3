//! Test builders: backends and the trial registry, an in-process app on a fresh data
//! directory, and real gateway processes on random ports.

mod app;
mod backend;
mod process;
mod proxy;
mod subscriber;

pub use app::*;
pub use backend::*;
pub use process::*;
pub use proxy::*;
pub use subscriber::*;
