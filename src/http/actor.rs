//! Who is making a request: set by the access-control layer as a request extension, read by
//! handlers that record who did something (acknowledging an alert).

use serde::{Deserialize, Serialize};

/// A user's role. Viewers read; operators also acknowledge alerts and change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the page and the API.
    Viewer,
    /// Also acknowledges alerts.
    Operator,
    /// A maintenance contractor (运维单位): sees and acknowledges only its own repair tickets.
    Maintainer,
}

/// The authenticated user of a request (an axum request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Login name.
    pub user: String,
    /// What the user may do.
    pub role: Role,
    /// For the maintainer role: the `maintainer` value (inventory column) it answers for.
    pub maintainer: Option<String>,
}

impl Actor {
    /// The actor of a request served without access control (loopback, no users configured).
    pub fn anonymous() -> Self {
        Self {
            user: "anonymous".into(),
            role: Role::Operator,
            maintainer: None,
        }
    }
}
