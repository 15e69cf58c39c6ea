//! Which process is carrying out an incident, and whether it still runs: `restore` waits for
//! actions in flight instead of racing them, and takes over an incident whose process died.
//!
//! A process is named `pid@start`, its start time read from `/proc` (clock ticks since boot),
//! so that a reused pid is not taken for the process that died.

/// This process's name, read from `/proc` once: it does not change while the process lives.
pub fn this_process() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}@{}", start_time(pid).unwrap_or_default())
    })
    .clone()
}

/// Whether the process named `name` (from [`this_process`]) still runs. Where `/proc` cannot
/// tell (not Linux), a process is assumed alive unless it is this one's predecessor by pid:
/// waiting too long is safer than racing actions in flight.
pub fn is_alive(name: &str) -> bool {
    let Some((pid, start)) = name.split_once('@') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if pid == std::process::id() {
        return name == this_process();
    }
    if !std::path::Path::new("/proc/self/stat").exists() {
        return true;
    }
    start_time(pid).is_some_and(|s| s.to_string() == start)
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
    }
}
