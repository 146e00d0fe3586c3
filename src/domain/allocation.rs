//! Allocation: which eligible locations fill which order lines.
//!
//! One location that can fill the whole order is preferred (one parcel, one pick); failing
//! that, each line is split across locations by priority. Ties go to the location with the
//! most available-to-sell. Units that no location can cover are backordered when the SKU
//! allows it; otherwise the whole order is refused with the shortages, and nothing is
//! reserved.

use std::collections::BTreeMap;

use serde::Serialize;

/// One order line as allocation sees it.
#[derive(Debug, Clone)]
pub struct Demand {
    pub sku: String,
    pub quantity: i64,
    pub backorderable: bool,
}

/// A location eligible for the order's channel, with what it can sell right now.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub location: String,
    /// Lower is preferred.
    pub priority: u32,
    /// Available-to-sell per SKU at this location. Missing SKUs have none.
    pub ats: BTreeMap<String, i64>,
}

impl Candidate {
    fn ats_of(&self, sku: &str) -> i64 {
        self.ats.get(sku).copied().unwrap_or(0).max(0)
    }
}

/// Where one line's units come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinePlan {
    /// (location, quantity), in the order they were chosen.
    pub allocations: Vec<(String, i64)>,
    /// Units no location could cover, accepted because the SKU is backorderable.
    pub backordered: i64,
}

/// A SKU that cannot be covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Shortage {
    pub sku: String,
    pub requested: i64,
    pub available: i64,
}

/// Plans every line of an order, or names every SKU that cannot be covered.
pub fn allocate(
    lines: &[Demand],
    candidates: &[Candidate],
) -> Result<Vec<LinePlan>, Vec<Shortage>> {
    let mut ranked: Vec<&Candidate> = candidates.iter().collect();
    let order_ats = |c: &Candidate| lines.iter().map(|l| c.ats_of(&l.sku)).sum::<i64>();
    ranked.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(order_ats(b).cmp(&order_ats(a)))
    });

    let demand = demand_by_sku(lines);
    if let Some(whole) = ranked
        .iter()
        .find(|c| demand.iter().all(|(sku, &q)| c.ats_of(sku) >= q))
    {
        return Ok(lines
            .iter()
            .map(|l| LinePlan {
                allocations: vec![(whole.location.clone(), l.quantity)],
                backordered: 0,
            })
            .collect());
    }

    let shortages = shortages(lines, &demand, candidates);
    if !shortages.is_empty() {
        return Err(shortages);
    }
    Ok(split(lines, &ranked))
}

fn demand_by_sku(lines: &[Demand]) -> BTreeMap<&str, i64> {
    let mut demand = BTreeMap::new();
    for l in lines {
        *demand.entry(l.sku.as_str()).or_insert(0) += l.quantity;
    }
    demand
}

fn shortages(
    lines: &[Demand],
    demand: &BTreeMap<&str, i64>,
    candidates: &[Candidate],
) -> Vec<Shortage> {
    demand
        .iter()
        .filter_map(|(&sku, &requested)| {
            let backorderable = lines.iter().any(|l| l.sku == sku && l.backorderable);
            let available: i64 = candidates.iter().map(|c| c.ats_of(sku)).sum();
            (!backorderable && available < requested).then(|| Shortage {
                sku: sku.to_owned(),
                requested,
                available,
            })
        })
        .collect()
}

/// Splits each line across locations by priority, then by the most ATS left for that SKU.
fn split(lines: &[Demand], ranked: &[&Candidate]) -> Vec<LinePlan> {
    let mut left: Vec<BTreeMap<String, i64>> = ranked.iter().map(|c| c.ats.clone()).collect();
    lines
        .iter()
        .map(|line| {
            let mut order: Vec<usize> = (0..ranked.len()).collect();
            let ats = |i: usize, left: &[BTreeMap<String, i64>]| {
                left[i].get(&line.sku).copied().unwrap_or(0)
            };
            order.sort_by(|&a, &b| {
                ranked[a]
                    .priority
                    .cmp(&ranked[b].priority)
                    .then(ats(b, &left).cmp(&ats(a, &left)))
            });
            let mut plan = LinePlan::default();
            let mut remaining = line.quantity;
            for i in order {
                let take = remaining.min(ats(i, &left).max(0));
                if take > 0 {
                    plan.allocations.push((ranked[i].location.clone(), take));
                    *left[i].entry(line.sku.clone()).or_insert(0) -= take;
                    remaining -= take;
                }
                if remaining == 0 {
                    break;
                }
            }
            plan.backordered = remaining;
            plan
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(location: &str, priority: u32, ats: &[(&str, i64)]) -> Candidate {
        Candidate {
            location: location.into(),
            priority,
            ats: ats.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect(),
        }
    }

    fn line(sku: &str, quantity: i64) -> Demand {
        Demand {
            sku: sku.into(),
            quantity,
            backorderable: false,
        }
    }

    fn locs(plan: &LinePlan) -> Vec<(&str, i64)> {
        plan.allocations
            .iter()
            .map(|(l, q)| (l.as_str(), *q))
            .collect()
    }

    #[test]
    fn prefers_one_location_that_fills_everything_even_if_lower_priority() {
        let c = [
            cand("WH-MAIN", 1, &[("A", 5), ("B", 0)]),
            cand("3PL", 2, &[("A", 5), ("B", 5)]),
        ];
        let plan = allocate(&[line("A", 2), line("B", 1)], &c).unwrap();
        assert_eq!(locs(&plan[0]), [("3PL", 2)]);
        assert_eq!(locs(&plan[1]), [("3PL", 1)]);
    }

    #[test]
    fn whole_order_goes_to_the_highest_priority_location_that_can_fill_it() {
        let c = [cand("3PL", 2, &[("A", 9)]), cand("WH-MAIN", 1, &[("A", 3)])];
        assert_eq!(
            locs(&allocate(&[line("A", 3)], &c).unwrap()[0]),
            [("WH-MAIN", 3)]
        );
    }

    #[test]
    fn ties_go_to_the_location_with_the_most_ats() {
        let c = [cand("X", 1, &[("A", 3)]), cand("Y", 1, &[("A", 7)])];
        assert_eq!(locs(&allocate(&[line("A", 2)], &c).unwrap()[0]), [("Y", 2)]);
    }

    #[test]
    fn splits_by_priority_when_no_location_fills_the_order() {
        let c = [cand("3PL", 2, &[("A", 4)]), cand("WH-MAIN", 1, &[("A", 3)])];
        let plan = allocate(&[line("A", 6)], &c).unwrap();
        assert_eq!(locs(&plan[0]), [("WH-MAIN", 3), ("3PL", 3)]);
    }

    #[test]
    fn repeated_skus_share_the_same_stock() {
        let c = [cand("WH-MAIN", 1, &[("A", 3)]), cand("3PL", 2, &[("A", 2)])];
        let plan = allocate(&[line("A", 2), line("A", 2)], &c).unwrap();
        assert_eq!(locs(&plan[0]), [("WH-MAIN", 2)]);
        assert_eq!(locs(&plan[1]), [("WH-MAIN", 1), ("3PL", 1)]);
        let err = allocate(&[line("A", 3), line("A", 3)], &c).unwrap_err();
        assert_eq!(
            err,
            [Shortage {
                sku: "A".into(),
                requested: 6,
                available: 5
            }]
        );
    }

    #[test]
    fn shortages_name_every_short_sku_and_reserve_nothing() {
        let c = [cand("WH-MAIN", 1, &[("A", 1), ("B", 0), ("C", 9)])];
        let err = allocate(&[line("A", 2), line("B", 1), line("C", 1)], &c).unwrap_err();
        assert_eq!(err.len(), 2);
        assert_eq!(
            err[0],
            Shortage {
                sku: "A".into(),
                requested: 2,
                available: 1
            }
        );
        assert_eq!(
            err[1],
            Shortage {
                sku: "B".into(),
                requested: 1,
                available: 0
            }
        );
    }

    #[test]
    fn backorderable_skus_take_what_exists_and_backorder_the_rest() {
        let c = [cand("WH-MAIN", 1, &[("A", 2)])];
        let mut l = line("A", 5);
        l.backorderable = true;
        let plan = allocate(&[l], &c).unwrap();
        assert_eq!(locs(&plan[0]), [("WH-MAIN", 2)]);
        assert_eq!(plan[0].backordered, 3);
    }

    #[test]
    fn no_eligible_location_is_a_shortage() {
        let err = allocate(&[line("A", 1)], &[]).unwrap_err();
        assert_eq!(err[0].available, 0);
    }
}
