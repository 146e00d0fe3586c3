//! `/v1/webhooks/*`: deliveries from outside systems, authenticated by their signature
//! rather than a client credential.

pub mod woocommerce;
