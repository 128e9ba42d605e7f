//! Where every session lives: the node its HTTP is created on, the nodes its sockets
//! open on, and the loopback address each client process connects from. Both the parent
//! and the load generators compute it from a session's number, so nothing but the number
//! crosses the pipe.

use std::net::{IpAddr, Ipv4Addr};

/// Sockets per session.
pub const SOCKETS_PER_SESSION: usize = 2;

/// One session's place: created over HTTP on `home`, one socket on each of `sockets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub home: usize,
    pub sockets: [usize; SOCKETS_PER_SESSION],
}

/// A load generator's session `g` (numbered across all generators) on `nodes` nodes:
/// created on node `g mod nodes`, with a socket there and one on the next node, so that
/// every node holds the same number of sockets and every session spans two nodes.
pub fn worker_place(g: usize, nodes: usize) -> Place {
    let home = g % nodes;
    Place {
        home,
        sockets: [home, (home + 1) % nodes],
    }
}

/// The parent's probe session `p`: created on `p mod nodes`, its sockets on the two nodes
/// after it (twice the next one when there are only two), so that a notification or a
/// logout sent to its home reaches a socket only by crossing nodes.
pub fn probe_place(p: usize, nodes: usize) -> Place {
    let home = p % nodes;
    let b = (home + 1) % nodes;
    let c = if nodes >= 3 { (home + 2) % nodes } else { b };
    Place {
        home,
        sockets: [b, c],
    }
}

/// The parent's probes connect from here (the generators from addresses of their own).
pub const PROBE_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Load generator `w` connects from 127.0.0.(10 + w): an address per process keeps each
/// under the servers' per-address bound of pending handshakes, and gives each its own
/// ~28k ephemeral ports per server.
pub fn worker_source(w: usize) -> Result<IpAddr, String> {
    u8::try_from(10 + w)
        .ok()
        .filter(|o| *o < 255)
        .map(|o| IpAddr::V4(Ipv4Addr::new(127, 0, 0, o)))
        .ok_or_else(|| format!("load generator {w}: no loopback source address left"))
}
