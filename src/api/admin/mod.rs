//! `/v1/admin/*`: operations routes, for clients with the `admin` scope.

pub mod audit;
pub mod dead_letters;
pub mod outbox;
pub mod reconciliations;
pub mod slo;
pub mod woocommerce;
