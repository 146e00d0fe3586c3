//! `/v1/admin/*`: operations routes, for clients with the `admin` scope.

pub mod audit;
