//! Which process is carrying out an incident, and whether it still runs: `restore` waits for
//! actions in flight instead of racing them, and takes over an incident whose process died.
//!
//! A process is named `pid@start@boot`: its start time read from `/proc` (clock ticks since
//! boot), so that a reused pid is not taken for the process that died, and the first eight
//! characters of the machine's boot id, so that a process of another machine sharing the
//! journal (replicas on DynamoDB) is never judged by this machine's process table. Names of
//! older builds (`pid@start`) are judged here, as they were.

/// This process's name, read from `/proc` once: it does not change while the process lives.
pub fn this_process() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let pid = std::process::id();
        let start = start_time(pid).unwrap_or_default();
        match boot_id() {
            Some(boot) => format!("{pid}@{start}@{boot}"),
            None => format!("{pid}@{start}"),
        }
    })
    .clone()
}

/// Whether the process named `name` (from [`this_process`]) still runs. Where this machine
/// cannot tell (a process of another machine, or no `/proc`), it is assumed alive: waiting
/// too long is safer than racing actions in flight.
pub fn is_alive(name: &str) -> bool {
    let mut parts = name.split('@');
    let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if let Some(boot) = parts.next()
        && Some(boot) != boot_id().as_deref()
    {
        return true;
    }
    if pid == std::process::id() {
        return name == this_process() || this_process().starts_with(&format!("{pid}@{start}@"));
    }
    if !std::path::Path::new("/proc/self/stat").exists() {
        return true;
    }
    start_time(pid).is_some_and(|s| s.to_string() == start)
}

/// This boot of this machine: the first eight characters of the kernel's boot id.
fn boot_id() -> Option<String> {
    static BOOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|b| b.trim().chars().filter(|c| *c != '-').take(8).collect())
            .filter(|b: &String| b.len() == 8)
    })
    .clone()
}

/// Field 22 of `/proc/PID/stat`: when the process started.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        assert!(is_alive(&this_process()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let name = format!("{pid}@{}", start_time(pid).unwrap_or_default());
        child.wait().unwrap();
        assert!(!is_alive(&name));
        // Same pid, another start: another process.
        assert!(!is_alive(&format!("{}@1", std::process::id())));
        assert!(!is_alive("garbage"));
        // An older build's name of this process, without the boot: still this process.
        let pid = std::process::id();
        assert!(is_alive(&format!("{pid}@{}", start_time(pid).unwrap())));
        // A process of another machine (another boot id) cannot be judged here: alive,
        // even one whose pid is free on this machine.
        assert!(
            this_process().matches('@').count() == 2,
            "{}",
            this_process()
        );
        assert!(is_alive(&format!("{pid}@1@0badb007")));
        assert!(!is_alive(&format!("{pid}@1@{}", boot_id().unwrap())));
    }
}
