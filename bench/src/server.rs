//! The server under test: a child process started from a shell command, its
//! `listening http=<url> socket=<url>` line, and its memory and CPU read from /proc.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Server {
    child: Child,
    pid: u32,
    pub http: SocketAddr,
    pub socket: SocketAddr,
}

/// Clock ticks per second for /proc/<pid>/stat and /proc/stat times.
pub(crate) fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn parse_addr(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// url: {url}"))?;
    let host_port = rest.split('/').next().unwrap_or(rest);
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port
        .parse()
        .map_err(|e| format!("bad address in {url}: {e}"))
}

impl Server {
    /// Starts `command` (run by `sh -c`; it should `exec` the server so that the pid we
    /// measure is the server's) with `env`, and waits for its listening line.
    pub async fn start(command: &str, env: &[(String, String)]) -> Result<Server, String> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start `{command}`: {e}"))?;
        let pid = child.id().ok_or("server exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
                if line.starts_with("listening ") {
                    return Ok(line);
                }
            }
            Err(format!(
                "`{command}` exited before printing its listening line"
            ))
        })
        .await
        .map_err(|_| format!("`{command}` printed no listening line within 120 s"))??;
        // Keep draining stdout so that the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let mut http = None;
        let mut socket = None;
        for part in line.split_whitespace() {
            if let Some(u) = part.strip_prefix("http=") {
                http = Some(parse_addr(u)?);
            } else if let Some(u) = part.strip_prefix("socket=") {
                socket = Some(parse_addr(u)?);
            }
        }
        let (http, socket) = match (http, socket) {
            (Some(h), Some(s)) => (h, s),
            _ => return Err(format!("bad listening line: {line}")),
        };
        Ok(Server {
            child,
            pid,
            http,
            socket,
        })
    }

    /// The process measured (the shell's, unless the command `exec`s the server).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resident set size in bytes (VmRSS).
    pub fn rss_bytes(&self) -> u64 {
        rss_bytes_of(self.pid)
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(self.pid)
    }

    /// User + system CPU seconds of the server's main thread alone: Node's JavaScript
    /// thread (a Rust server's main thread only waits for its Tokio workers).
    pub fn main_thread_cpu_seconds(&self) -> f64 {
        cpu_seconds_of_stat(&format!("/proc/{0}/task/{0}/stat", self.pid))
    }

    pub async fn stop(mut self) {
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Asks the kernel to SIGKILL the child when the thread that spawned it ends, so that a
/// bench killed where no drop runs (SIGKILL, a panic that aborts) leaves no server, Redis
/// or load generator behind; `kill_on_drop` covers every other exit. The benches spawn
/// from the runtime's threads, which live as long as the bench.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec: prctl(2) is async-signal-safe and
    // nothing is allocated.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Resident set size of process `pid` in bytes (VmRSS; 0 if it cannot be read).
pub fn rss_bytes_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// User + system CPU seconds used so far by process `pid` (0 if it cannot be read).
pub fn cpu_seconds_of(pid: u32) -> f64 {
    cpu_seconds_of_stat(&format!("/proc/{pid}/stat"))
}

/// User + system CPU seconds of a `/proc/…/stat` file (a process or one of its threads).
fn cpu_seconds_of_stat(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the `(comm)`; utime and stime are fields 14 and 15 overall.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / ticks_per_second()
}

/// This process's own user + system CPU seconds.
pub fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we give it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Raises this process's open-file limit to its hard limit (children inherit it).
pub fn raise_fd_limit() -> u64 {
    // SAFETY: get/setrlimit on a struct we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur
    }
}
