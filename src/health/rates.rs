//! Live online rate: online / enabled cameras, for the fleet and per group value.
//!
//! `connecting` counts in the denominator (the camera is enabled and not yet proved online),
//! so a fleet that has just started reads low until its sessions are up, never high.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::inventory::{GroupBy, Groups};
use crate::health::status::State;

/// Counts for one set of cameras.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Enabled cameras.
    pub total: u64,
    /// Of which online.
    pub online: u64,
    /// Of which offline.
    pub offline: u64,
    /// Of which still connecting.
    pub connecting: u64,
    /// Of which 完好: online with a usable picture.
    pub intact: u64,
}

impl Counts {
    fn add(&mut self, state: State, intact: bool) {
        self.total += 1;
        self.intact += u64::from(intact);
        match state {
            State::Online => self.online += 1,
            State::Offline => self.offline += 1,
            State::Connecting => self.connecting += 1,
        }
    }

    /// online / total; `None` for an empty set.
    pub fn ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.online as f64 / self.total as f64)
    }

    /// 完好率: intact / total; `None` for an empty set.
    pub fn intact_ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.intact as f64 / self.total as f64)
    }
}

/// One group's live figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRate {
    /// Dimension (region, unit, class).
    pub by: GroupBy,
    /// Group value.
    pub group: String,
    /// Camera counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// online / total.
    pub online_ratio: Option<f64>,
    /// 完好率: intact / total.
    pub intact_ratio: Option<f64>,
}

/// The fleet's live figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveRates {
    /// Whole fleet.
    pub fleet: Counts,
    /// online / total for the whole fleet.
    pub online_ratio: Option<f64>,
    /// 完好率 of the whole fleet.
    pub intact_ratio: Option<f64>,
    /// Every group value of every dimension, sorted by dimension then value.
    pub groups: Vec<GroupRate>,
}

/// Computes live rates from each enabled camera's groups, state and 完好 flag.
pub fn live<'a>(cameras: impl IntoIterator<Item = (&'a Groups, State, bool)>) -> LiveRates {
    let mut fleet = Counts::default();
    let mut per: BTreeMap<(GroupBy, &str), Counts> = BTreeMap::new();
    for (groups, state, intact) in cameras {
        fleet.add(state, intact);
        for by in GroupBy::ALL {
            per.entry((by, groups.get(by)))
                .or_default()
                .add(state, intact);
        }
    }
    LiveRates {
        fleet,
        online_ratio: fleet.ratio(),
        intact_ratio: fleet.intact_ratio(),
        groups: per
            .into_iter()
            .map(|((by, group), counts)| GroupRate {
                by,
                group: group.to_string(),
                counts,
                online_ratio: counts.ratio(),
                intact_ratio: counts.intact_ratio(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(region: &str, class: &str) -> Groups {
        Groups {
            region: region.into(),
            unit: "u".into(),
            class: class.into(),
            maintainer: "m".into(),
        }
    }

    #[test]
    fn fleet_and_group_ratios() {
        let a = g("东城", "1");
        let b = g("西城", "2");
        let cams = [
            (&a, State::Online, true),
            (&a, State::Offline, false),
            (&b, State::Online, false), // online, picture faulty
            (&b, State::Online, true),
            (&b, State::Connecting, false),
        ];
        let r = live(cams);
        assert_eq!(r.fleet.total, 5);
        assert_eq!(r.online_ratio, Some(0.6));
        assert_eq!(r.intact_ratio, Some(0.4));
        let east = r.groups.iter().find(|x| x.group == "东城").unwrap();
        assert_eq!((east.counts.online, east.counts.total), (1, 2));
        let west = r.groups.iter().find(|x| x.group == "西城").unwrap();
        assert_eq!(west.counts.connecting, 1);
        assert!((west.online_ratio.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        let unit = r.groups.iter().find(|x| x.by == GroupBy::Unit).unwrap();
        assert_eq!(unit.counts.total, 5);
    }

    #[test]
    fn empty_fleet_has_no_ratio() {
        assert_eq!(live([]).online_ratio, None);
    }
}
