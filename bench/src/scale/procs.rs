//! The processes a run started, read from /proc: every descendant of this process (so
//! that a server a shell command forked, rather than `exec`ed, is found too), and which
//! of them are still there once the run stopped everything.

use std::collections::BTreeMap;

/// (pid, parent pid) of every process visible in /proc.
fn parents() -> BTreeMap<u32, u32> {
    let mut map = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return map;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            map.insert(pid, ppid);
        }
    }
    map
}

/// Every descendant of this process, now.
pub fn descendants() -> Vec<u32> {
    let parents = parents();
    let mut found = vec![std::process::id()];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, &pp)| pp == p)
                .map(|(&pid, _)| pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Of `pids`, those that still exist (a zombie counts: nobody reaped it).
pub fn still_there(pids: &[u32]) -> Vec<u32> {
    pids.iter()
        .copied()
        .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        .collect()
}
