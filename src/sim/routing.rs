//! Which camera a request is for, and what its fault is: shared by every thread of the simulator.

use std::collections::HashMap;

use gstreamer_rtsp::RTSPUrl;

use super::faults::FaultTable;
use super::stall::Stalls;

/// Camera ids to indices, each camera's current fault, and the media stopped by stalls.
#[derive(Debug)]
pub struct Routing {
    /// Current fault per camera index.
    pub faults: FaultTable,
    /// Transports switched off by `stall`.
    pub stalls: Stalls,
    ids: Vec<String>,
    by_id: HashMap<String, usize>,
}

impl Routing {
    /// Routing for cameras `ids`, in index order, all healthy.
    pub fn new(ids: Vec<String>) -> Self {
        let by_id = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        Routing {
            faults: FaultTable::new(ids.len()),
            stalls: Stalls::default(),
            ids,
            by_id,
        }
    }

    /// The mount path of camera `index`, e.g. `/cam0001`.
    pub fn path(&self, index: usize) -> String {
        format!("/{}", self.ids.get(index).map_or("", String::as_str))
    }

    /// The index of camera `id`.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The camera a request URL addresses: its first path segment (`/cam0001/stream=0`).
    pub fn camera_of(&self, url: &RTSPUrl) -> Option<usize> {
        let parts = url.decode_path_components();
        let first = parts.iter().find(|p| !p.is_empty())?;
        self.index(first.as_str())
    }
}
