//! The faults a simulated camera can show, and the lock-free table of each camera's current one.
//!
//! The table is read on the RTSP server's worker thread (authentication, PLAY) and by the
//! control API, and written only by the GLib thread that applies a change.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::Serialize;

/// What is wrong with one simulated camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Healthy: the looped clip, shared with every other healthy camera.
    #[default]
    None,
    /// TCP connections are refused (the camera's own listening socket is closed);
    /// needs `--port-per-camera`.
    Refuse,
    /// Every request gets `401 Unauthorized`, whatever the credentials.
    Auth,
    /// The mount is removed: `DESCRIBE` gets `404 Not Found`.
    NotFound,
    /// RTSP keeps answering and sessions stay up, but no RTP media is sent.
    Stall,
    /// A valid H.264 stream of one still picture (IDR every 2 s).
    Freeze,
    /// A valid H.264 stream of a black picture (IDR every 2 s).
    Black,
    /// An audio-only stream (PCMA): no video track at all.
    NoVideo,
}

impl Fault {
    /// Every fault, in the order used by messages and the table's encoding.
    pub const ALL: [Fault; 8] = [
        Fault::None,
        Fault::Refuse,
        Fault::Auth,
        Fault::NotFound,
        Fault::Stall,
        Fault::Freeze,
        Fault::Black,
        Fault::NoVideo,
    ];

    /// The fault's wire name, as taken by `--fault` and the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Refuse => "refuse",
            Fault::Auth => "auth",
            Fault::NotFound => "not_found",
            Fault::Stall => "stall",
            Fault::Freeze => "freeze",
            Fault::Black => "black",
            Fault::NoVideo => "no_video",
        }
    }

    /// The valid names, comma separated, for error messages.
    pub fn valid_names() -> String {
        Fault::ALL.map(Fault::as_str).join(", ")
    }

    fn to_u8(self) -> u8 {
        Fault::ALL.iter().position(|f| *f == self).unwrap_or(0) as u8
    }

    fn from_u8(v: u8) -> Fault {
        Fault::ALL.get(usize::from(v)).copied().unwrap_or_default()
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fault name that is not one of [`Fault::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {name:?}; valid faults: {valid}", valid = Fault::valid_names())]
pub struct UnknownFault {
    /// The name given.
    pub name: String,
}

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Fault::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFault { name: s.to_owned() })
    }
}

/// An initial fault from the command line: `ID=FAULT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    /// Camera id, e.g. `cam0003`.
    pub id: String,
    /// The fault it starts with.
    pub fault: Fault,
}

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, fault) = s
            .split_once('=')
            .ok_or_else(|| format!("expected ID=FAULT (e.g. cam0003=stall), got {s:?}"))?;
        let id = id.trim();
        if id.is_empty() {
            return Err(format!("empty camera id in {s:?}"));
        }
        let fault = fault.parse::<Fault>().map_err(|e| e.to_string())?;
        Ok(FaultSpec {
            id: id.to_owned(),
            fault,
        })
    }
}

/// Each camera's current fault, indexed by camera position; cheap to read from any thread.
#[derive(Debug)]
pub struct FaultTable {
    cells: Vec<AtomicU8>,
}

impl FaultTable {
    /// A table of `n` healthy cameras.
    pub fn new(n: usize) -> Self {
        FaultTable {
            cells: (0..n).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// The fault of camera `index` (`none` for an index out of range).
    pub fn get(&self, index: usize) -> Fault {
        self.cells
            .get(index)
            .map_or(Fault::None, |c| Fault::from_u8(c.load(Ordering::Acquire)))
    }

    /// Records camera `index`'s fault; returns the previous one.
    pub fn set(&self, index: usize, fault: Fault) -> Fault {
        match self.cells.get(index) {
            Some(c) => Fault::from_u8(c.swap(fault.to_u8(), Ordering::AcqRel)),
            None => Fault::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(f.as_str().parse::<Fault>(), Ok(f));
            assert_eq!(Fault::from_u8(f.to_u8()), f);
        }
        assert_eq!(" Stall\n".parse::<Fault>(), Ok(Fault::Stall));
    }

    #[test]
    fn unknown_fault_lists_valid_ones() {
        let err = "smoke".parse::<Fault>().unwrap_err().to_string();
        assert!(
            err.contains("smoke") && err.contains("not_found") && err.contains("no_video"),
            "{err}"
        );
    }

    #[test]
    fn fault_spec_parses() {
        let spec: FaultSpec = "cam0002=not_found".parse().unwrap();
        assert_eq!(
            spec,
            FaultSpec {
                id: "cam0002".into(),
                fault: Fault::NotFound
            }
        );
        assert!("cam0002".parse::<FaultSpec>().is_err());
        assert!("=stall".parse::<FaultSpec>().is_err());
        assert!("cam1=smoke".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn table_swaps() {
        let t = FaultTable::new(2);
        assert_eq!(t.get(1), Fault::None);
        assert_eq!(t.set(1, Fault::Stall), Fault::None);
        assert_eq!(t.get(1), Fault::Stall);
        assert_eq!(t.get(0), Fault::None);
        assert_eq!(t.get(9), Fault::None);
    }
}
