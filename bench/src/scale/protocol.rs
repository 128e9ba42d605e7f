//! What the parent and its load generators say to each other: the parent writes one JSON
//! [`Order`] per line on a generator's stdin, the generator answers each with one JSON
//! [`Report`] line on its stdout. A generator exits when its stdin closes, so a parent
//! that goes away (or is done) takes its generators with it.

use std::net::{IpAddr, SocketAddr};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a load generator is told to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "order", rename_all = "snake_case")]
pub enum Order {
    /// Create sessions `first..first + count` (numbered across generators), each with
    /// `GET /` on its home node (`http[home]`).
    Create {
        http: Vec<SocketAddr>,
        first: usize,
        count: usize,
    },
    /// Open every session's sockets on its nodes (`sockets[node]`), from `source`, with
    /// `concurrency` handshakes in flight.
    Open {
        sockets: Vec<SocketAddr>,
        source: IpAddr,
        concurrency: usize,
    },
    /// Start `POST /incr` on random sessions of this generator, to random nodes, `rate`
    /// per second.
    Background { rate: f64 },
    /// Stop the background load.
    StopBackground,
    /// Count the sockets still open.
    Census,
}

/// A load generator's answer to one [`Order`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Report {
    Created {
        sessions: usize,
        secs: f64,
    },
    Opened {
        /// Sockets open per node.
        per_node: Vec<usize>,
        failed: usize,
        first_error: Option<String>,
        secs: f64,
    },
    BackgroundStarted,
    BackgroundStopped {
        posts: u64,
        errors: u64,
        first_error: Option<String>,
        secs: f64,
    },
    Census {
        /// Sockets still open per node.
        open_per_node: Vec<usize>,
    },
    /// The order could not be carried out.
    Failed {
        error: String,
    },
}

/// `value` as one JSON line, newline included.
pub fn encode<T: Serialize>(value: &T) -> Result<String, String> {
    let mut line = serde_json::to_string(value).map_err(|e| e.to_string())?;
    line.push('\n');
    Ok(line)
}

/// The value of one JSON line.
pub fn decode<T: DeserializeOwned>(line: &str) -> Result<T, String> {
    serde_json::from_str(line).map_err(|e| format!("bad line {line:?}: {e}"))
}
