//! Live drivers' memory from Linux `/proc`, read at scrape time. A driver and everything it
//! starts (its JVM, Python workers) carry `EPOXY_DRIVER_TOKEN` in their environment; processes
//! are grouped by that entry and counted only when their `PYTHONPATH` holds this data dir's
//! driver package, so another epoxy's drivers on the same machine are not ours, while drivers
//! re-attached after a restart (no longer this process's children) still are. Elsewhere than
//! Linux: no drivers.

use crate::runtime::driver::{driver_token, pids};
use std::collections::{BTreeMap, HashMap};

/// One live driver: its top process and the resident memory of all its processes.
#[derive(Debug, PartialEq, Eq)]
pub struct DriverMemory {
    pub pid: i32,
    pub rss_bytes: u64,
}

/// The parent pid in a `/proc/<pid>/stat` line (the command name may hold spaces and parens).
fn parent_of(stat: &str) -> Option<i32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Resident pages in a `/proc/<pid>/statm` line.
fn resident_pages(statm: &str) -> Option<u64> {
    statm.split_whitespace().nth(1)?.parse().ok()
}

/// Groups `(pid, token, resident bytes)` into drivers: the top process of each group is the
/// one whose parent is not in it.
fn group(processes: Vec<(i32, Vec<u8>, u64)>, parents: &HashMap<i32, i32>) -> Vec<DriverMemory> {
    let mut groups: BTreeMap<Vec<u8>, Vec<(i32, u64)>> = BTreeMap::new();
    for (pid, token, rss) in processes {
        groups.entry(token).or_default().push((pid, rss));
    }
    let mut drivers: Vec<DriverMemory> = groups
        .into_values()
        .map(|members| {
            let in_group = |pid: i32| members.iter().any(|(p, _)| *p == pid);
            let top = members
                .iter()
                .map(|(pid, _)| *pid)
                .filter(|pid| !parents.get(pid).is_some_and(|parent| in_group(*parent)))
                .min()
                .unwrap_or(members[0].0);
            DriverMemory {
                pid: top,
                rss_bytes: members.iter().map(|(_, rss)| rss).sum(),
            }
        })
        .collect();
    drivers.sort_by_key(|d| d.pid);
    drivers
}

/// The live drivers of the data dir whose driver package is `driver_dir`, and their memory.
pub fn driver_memory(driver_dir: &std::path::Path) -> Vec<DriverMemory> {
    // SAFETY: sysconf only reads a system configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGE_SIZE) }.max(0) as u64;
    let pids: Vec<i32> = pids().collect();
    let parents: HashMap<i32, i32> = pids
        .iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((*pid, parent_of(&stat)?))
        })
        .collect();
    let driver_dir = driver_dir.as_os_str().as_encoded_bytes();
    let processes = pids
        .into_iter()
        .filter_map(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let token = driver_token(&environ, driver_dir)?.to_vec();
            let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
            Some((pid, token, resident_pages(&statm)? * page))
        })
        .collect();
    group(processes, &parents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        assert_eq!(parent_of("4242 (python3) S 4200 4242 4200 0"), Some(4200));
        assert_eq!(parent_of("7 (a) b (c) R 99 7 7"), Some(99));
        assert_eq!(parent_of("garbage"), None);
        assert_eq!(resident_pages("1000 250 30 1 0 90 0"), Some(250));
        assert_eq!(resident_pages(""), None);
    }

    #[test]
    fn grouping_by_token_tops_at_the_driver() {
        // 1 → 10 (server) → 20 (driver) → 30 (jvm) → 40 (python worker); 50 is another driver
        // (re-attached after a restart: its parent is 1).
        let parents: HashMap<i32, i32> = [(10, 1), (20, 10), (30, 20), (40, 30), (50, 1)].into();
        let drivers = group(
            vec![
                (30, b"a".to_vec(), 300),
                (20, b"a".to_vec(), 100),
                (40, b"a".to_vec(), 10),
                (50, b"b".to_vec(), 7),
            ],
            &parents,
        );
        assert_eq!(
            drivers,
            vec![
                DriverMemory {
                    pid: 20,
                    rss_bytes: 410
                },
                DriverMemory {
                    pid: 50,
                    rss_bytes: 7
                },
            ]
        );
    }

    #[test]
    fn this_process_is_no_driver() {
        assert!(
            driver_memory(std::path::Path::new("/nonexistent/runtime/driver"))
                .iter()
                .all(|d| d.pid != std::process::id() as i32)
        );
    }
}
