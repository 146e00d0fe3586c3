//! Available-to-sell for a channel.

use std::collections::BTreeMap;

use super::Services;
use crate::domain::availability::{SkuAvailability, summarize};
use crate::domain::order::MAX_LINES;
use crate::domain::time::now;
use crate::error::{Error, Result};
use crate::policy::Client;

/// The most SKUs one availability call may ask for.
pub const MAX_SKUS: usize = MAX_LINES;

/// Items found, in the order asked, and SKUs that do not exist.
pub struct AvailabilityAnswer {
    pub items: Vec<SkuAvailability>,
    pub missing: Vec<String>,
}

impl Services {
    pub async fn availability(
        &self,
        client: &Client,
        channel: Option<&str>,
        skus: &[String],
    ) -> Result<AvailabilityAnswer> {
        if skus.len() > MAX_SKUS {
            return Err(Error::TooMany {
                what: "SKUs",
                max: MAX_SKUS,
                got: skus.len(),
            });
        }
        let channel = self.resolve_channel(client, channel)?;
        let eligible: Vec<String> = self
            .policies
            .eligible_locations(&channel)
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        let mut unique: Vec<String> = skus.to_vec();
        unique.sort();
        unique.dedup();
        let known: BTreeMap<String, bool> = self
            .store
            .skus(&unique)
            .await?
            .into_iter()
            .map(|s| (s.sku, s.backorderable))
            .collect();
        let found: Vec<String> = unique
            .iter()
            .filter(|s| known.contains_key(*s))
            .cloned()
            .collect();
        let rows = self.store.positions(&found, &eligible).await?;
        let as_of = now();
        let mut items = Vec::with_capacity(found.len());
        let mut missing = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for sku in skus {
            if !seen.insert(sku) {
                continue;
            }
            match known.get(sku) {
                Some(&backorderable) => items.push(summarize(
                    sku,
                    backorderable,
                    &eligible,
                    |loc| {
                        rows.iter()
                            .find(|r| &r.sku == sku && r.location == loc)
                            .map(|r| r.position)
                    },
                    as_of,
                )),
                None => missing.push(sku.clone()),
            }
        }
        Ok(AvailabilityAnswer { items, missing })
    }
}
