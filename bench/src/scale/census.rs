//! Counting the open sockets from both ends: what the clients hold (the load generators
//! and the parent's probes) and what each server says it holds.

use super::fleet::Fleet;
use super::nodes::Nodes;
use super::probes::Probes;

/// Open sockets at one moment.
#[derive(Debug, Clone, Default)]
pub struct Census {
    /// Per node, as the load generators count them.
    pub workers: Vec<usize>,
    /// Per node, as the parent's probes count them.
    pub probes: Vec<usize>,
    /// Per node, as each server counts them (`sessionio_sockets_connected`).
    pub reported: Vec<usize>,
}

impl Census {
    /// Counts now.
    pub async fn take(
        nodes: &Nodes,
        fleet: &mut Fleet,
        probes: &[&Probes],
    ) -> Result<Census, String> {
        let n = nodes.servers.len();
        let workers = fleet.census(n).await?;
        let mut on_probes = vec![0; n];
        for p in probes {
            for (total, k) in on_probes.iter_mut().zip(p.open_per_node(n)) {
                *total += k;
            }
        }
        Ok(Census {
            workers,
            probes: on_probes,
            reported: nodes.sockets_connected().await?,
        })
    }

    /// Per node, as the clients count them.
    pub fn per_node(&self) -> Vec<usize> {
        self.workers
            .iter()
            .zip(&self.probes)
            .map(|(w, p)| w + p)
            .collect()
    }

    /// In all, as the clients count them.
    pub fn total(&self) -> usize {
        self.workers.iter().sum::<usize>() + self.probes.iter().sum::<usize>()
    }

    /// In all, as the servers count them.
    pub fn reported_total(&self) -> usize {
        self.reported.iter().sum()
    }

    /// Where the servers' counts differ from the clients': `None` when they agree.
    pub fn disagreement(&self) -> Option<String> {
        let ours = self.per_node();
        (ours != self.reported).then(|| {
            format!(
                "the servers count {:?} sockets, the clients {ours:?}",
                self.reported
            )
        })
    }
}
