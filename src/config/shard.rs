//! Sharding a fleet over instances by rendezvous (highest-random-weight) hashing.
//!
//! Instance `i` of `n` owns the cameras whose id scores highest for `i`. Every instance computes
//! the same answer from the id alone (no coordination), each camera has exactly one owner, and
//! going from `n` to `n + 1` instances moves only the ~1/(n+1) of cameras the new one wins.
//! The hash is a fixed function (FNV-1a then a SplitMix64 finaliser), stable across builds and
//! Rust versions, so a rolling upgrade never reshuffles the fleet.

use std::fmt;
use std::str::FromStr;

/// This instance's place among `count` instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index of this instance.
    pub index: u32,
    /// Number of instances.
    pub count: u32,
}

impl Shard {
    /// The single-instance shard that owns everything.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether this instance owns the camera.
    pub fn owns(&self, camera_id: &str) -> bool {
        owner(camera_id, self.count) == self.index
    }

    /// The shard from a Kubernetes StatefulSet pod name (`sharpeyes-2` → index 2).
    pub fn from_pod_name(name: &str, count: u32) -> Result<Shard, String> {
        let index = name
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u32>().ok())
            .ok_or_else(|| format!("pod name {name:?} has no StatefulSet ordinal (name-N)"))?;
        Shard::new(index, count)
    }

    /// A checked shard.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!("shard {index}/{count}: need 0 <= index < count"));
        }
        Ok(Shard { index, count })
    }
}

/// Parses a `--shard` argument: `I/N`, or `pod/N` to take `I` from the Kubernetes StatefulSet
/// pod name in `$POD_NAME` (else `$HOSTNAME`).
pub fn parse_arg(s: &str) -> Result<Shard, String> {
    match s.strip_prefix("pod/") {
        Some(n) => {
            let count = n
                .parse::<u32>()
                .map_err(|_| format!("shard {s:?}: expected pod/N"))?;
            let name = std::env::var("POD_NAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .map_err(|_| format!("shard {s:?}: neither POD_NAME nor HOSTNAME is set"))?;
            Shard::from_pod_name(&name, count)
        }
        None => s.parse(),
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`, e.g. `0/3`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard {s:?}: expected I/N, e.g. 0/3"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("shard {s:?}: expected I/N, e.g. 0/3"))
        };
        Shard::new(parse(i)?, parse(n)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The instance (of `count`) that owns `camera_id`.
pub fn owner(camera_id: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|&i| (score(camera_id, i), std::cmp::Reverse(i)))
        .unwrap_or(0)
}

fn score(camera_id: &str, instance: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in camera_id.bytes().chain(instance.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // SplitMix64 finaliser: spreads FNV's weak low bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("cam{i:05}")).collect()
    }

    #[test]
    fn every_camera_has_exactly_one_owner_and_load_is_even() {
        let ids = ids(9000);
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        let mut per = [0usize; 3];
        for id in &ids {
            let owners: Vec<_> = shards.iter().filter(|s| s.owns(id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            per[owners[0].index as usize] += 1;
        }
        for n in per {
            assert!((2700..=3300).contains(&n), "uneven: {per:?}");
        }
    }

    #[test]
    fn adding_an_instance_moves_about_one_in_n_plus_one() {
        let ids = ids(10_000);
        let moved = ids.iter().filter(|id| owner(id, 3) != owner(id, 4)).count();
        // Ideal: 1/4 of the cameras, all of them to the new instance.
        assert!((2200..=2800).contains(&moved), "moved {moved}");
        assert!(
            ids.iter()
                .all(|id| owner(id, 3) == owner(id, 4) || owner(id, 4) == 3)
        );
    }

    #[test]
    fn stable_values_pin_the_hash() {
        // A changed hash would reshuffle every deployed fleet: pin a few answers (computed
        // independently with a Python transcription of the same function).
        let got: Vec<u32> = ["cam00001", "城关镇-17", "a"]
            .iter()
            .map(|id| owner(id, 5))
            .collect();
        assert_eq!(got, [2, 4, 1]);
    }

    #[test]
    fn parsing() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        assert!("3/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert_eq!(
            Shard::from_pod_name("sharpeyes-2", 3),
            Ok(Shard { index: 2, count: 3 })
        );
        assert!(Shard::from_pod_name("sharpeyes", 3).is_err());
    }
}
