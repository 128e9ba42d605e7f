//! The fork guard: a server's threads, sockets and timers stay in the process that started
//! it, so a forked child that inherited the handle must not use it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::errors::Failure;
use crate::runtime::generation;

/// Marks a guard whose server was never started.
const NOT_STARTED: u64 = u64::MAX;

/// The fork generation a server was started in. Clones share it.
#[derive(Clone)]
pub struct ForkGuard {
    started_generation: Arc<AtomicU64>,
}

impl ForkGuard {
    pub fn new() -> Self {
        ForkGuard {
            started_generation: Arc::new(AtomicU64::new(NOT_STARTED)),
        }
    }

    /// Records that the server now runs in this process.
    pub fn mark_started(&self) {
        self.started_generation
            .store(generation(), Ordering::Release);
    }

    /// Whether a server was started, in another process than this one (a forked child).
    pub fn started_in_another_process(&self) -> bool {
        let started = self.started_generation.load(Ordering::Acquire);
        started != NOT_STARTED && started != generation()
    }

    /// Refuses to use a server from a forked child.
    pub fn check(&self) -> Result<(), Failure> {
        if self.started_in_another_process() {
            return Err(Failure::server(
                "this SessionIo was started before fork(): its server, sockets and timers \
                 stayed in the parent process. Create and start a SessionIo in each worker \
                 after the fork (gunicorn: no --preload, or start it in post_fork)",
            ));
        }
        Ok(())
    }
}
