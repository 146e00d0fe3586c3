//! ERP adapters against fakes of their systems. One conformance suite, written once, runs
//! against every adapter whose fake implements [`ErpFake`]; each adapter's own quirks
//! (its auth, its paging, its error shapes) are tested beside its fake.
//!
//! To add an adapter: write its fake, implement [`ErpFake`] for it, and add one line to
//! [`register`] calling `every_adapter::<TheFake>`.

use libtest_mimic::Trial;

use crate::harness::Backend;

pub use fake::*;

mod acumatica;
pub mod acumatica_fake;
mod business_central;
pub mod business_central_fake;
pub mod conformance;
mod end_to_end;
mod erpnext;
pub mod erpnext_fake;
mod fake;
mod gateway;
mod netsuite;
pub mod netsuite_fake;
mod odoo;
pub mod odoo_fake;
mod sap_b1;
pub mod sap_b1_fake;

pub fn register(trials: &mut Vec<Trial>, backends: &[Backend]) {
    every_adapter::<netsuite_fake::FakeNetSuite>(trials);
    netsuite::register(trials);
    every_adapter::<business_central_fake::FakeBusinessCentral>(trials);
    business_central::register(trials);
    every_adapter::<sap_b1_fake::FakeSapB1>(trials);
    sap_b1::register(trials);
    every_adapter::<acumatica_fake::FakeAcumatica>(trials);
    acumatica::register(trials);
    every_adapter::<odoo_fake::FakeOdoo>(trials);
    every_adapter::<odoo_fake::FakeOdooJson2>(trials);
    odoo::register(trials);
    every_adapter::<erpnext_fake::FakeErpNext>(trials);
    erpnext::register(trials);
    gateway::register(trials, backends);
}

/// What every adapter passes against its fake, written once: the conformance suite, and
/// the whole gateway running on it.
fn every_adapter<F: ErpFake>(trials: &mut Vec<Trial>) {
    conformance::register::<F>(trials);
    end_to_end::register::<F>(trials);
}
