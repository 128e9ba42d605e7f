//! The parent's side of its load generators: one child process each (this binary's
//! `scale-worker`), told what to do over its stdin and answering on its stdout.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::protocol::{self, Order, Report};
use crate::server;

/// One load-generator process.
pub struct Worker {
    index: usize,
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    reports: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    fn spawn(index: usize, nice: i32) -> Result<Worker, String> {
        let exe = std::env::current_exe().map_err(|e| format!("this program's path: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("scale-worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        server::die_with_parent(&mut cmd);
        // SAFETY: between fork and exec; setpriority(2) is async-signal-safe and nothing
        // is allocated. Every thread the child starts inherits it.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start load generator {index}: {e}"))?;
        let pid = child.id().ok_or("load generator exited at once")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        Ok(Worker {
            index,
            child,
            pid,
            stdin: Some(stdin),
            reports: BufReader::new(stdout).lines(),
        })
    }

    /// Sends `order` and waits up to `within` for its report; a [`Report::Failed`] is an
    /// error.
    pub async fn ask(&mut self, order: &Order, within: Duration) -> Result<Report, String> {
        let me = self.index;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the load generator was told to quit")?;
        let line = protocol::encode(order)?;
        let sent = async {
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await
        };
        sent.await
            .map_err(|e| format!("load generator {me}: write: {e}"))?;
        let line = tokio::time::timeout(within, self.reports.next_line())
            .await
            .map_err(|_| format!("load generator {me} did not answer {order:?} within {within:?}"))?
            .map_err(|e| format!("load generator {me}: read: {e}"))?
            .ok_or_else(|| format!("load generator {me} exited (see its error above)"))?;
        match protocol::decode::<Report>(&line)? {
            Report::Failed { error } => Err(format!("load generator {me}: {error}")),
            r => Ok(r),
        }
    }

    /// Closes its stdin (it then drops its sockets and exits) and waits up to `within`,
    /// then kills it.
    async fn quit(&mut self, within: Duration) {
        self.stdin = None;
        if tokio::time::timeout(within, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Every load generator of the run. Dropping it kills those still running.
pub struct Fleet {
    workers: Vec<Worker>,
}

impl Fleet {
    /// Starts `n` load generators at niceness `nice` (see [`Options::generators_nice`]).
    ///
    /// [`Options::generators_nice`]: super::options::Options::generators_nice
    pub fn spawn(n: usize, nice: i32) -> Result<Fleet, String> {
        let workers = (0..n)
            .map(|i| Worker::spawn(i, nice))
            .collect::<Result<_, _>>()?;
        Ok(Fleet { workers })
    }

    /// How many load generators there are.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Their process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.pid).collect()
    }

    /// Each one's resident set size, in bytes.
    pub fn rss(&self) -> Vec<u64> {
        self.workers
            .iter()
            .map(|w| server::rss_bytes_of(w.pid))
            .collect()
    }

    /// User + system CPU seconds each has used so far.
    pub fn cpu_seconds(&self) -> Vec<f64> {
        self.workers
            .iter()
            .map(|w| server::cpu_seconds_of(w.pid))
            .collect()
    }

    /// Gives worker `i` the order `order(i)`, all at once: their reports, in order.
    pub async fn ask_each(
        &mut self,
        order: impl Fn(usize) -> Order,
        within: Duration,
    ) -> Result<Vec<Report>, String> {
        let asks = self.workers.iter_mut().enumerate().map(|(i, w)| {
            let o = order(i);
            async move { w.ask(&o, within).await }
        });
        futures_util::future::try_join_all(asks).await
    }

    /// Sockets the generators still hold open, per node (`nodes` of them).
    pub async fn census(&mut self, nodes: usize) -> Result<Vec<usize>, String> {
        let reports = self
            .ask_each(|_| Order::Census, Duration::from_secs(10))
            .await?;
        let mut per_node = vec![0; nodes];
        for r in reports {
            let Report::Census { open_per_node } = r else {
                return Err(format!("census answered {r:?}"));
            };
            for (total, n) in per_node.iter_mut().zip(open_per_node) {
                *total += n;
            }
        }
        Ok(per_node)
    }

    /// Tells every generator to quit, all at once, and waits for them (killing those
    /// still there after `within`).
    pub async fn quit(mut self, within: Duration) {
        futures_util::future::join_all(self.workers.iter_mut().map(|w| w.quit(within))).await;
    }
}
