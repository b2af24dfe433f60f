//! A process's resident set size, from `/proc/<pid>/status` (Linux).

/// `VmRSS` of process `pid` in bytes, if it can be read.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_a_resident_set() {
        let bytes = super::resident_bytes(std::process::id()).expect("readable on Linux");
        assert!(bytes > 0);
        assert_eq!(super::resident_bytes(u32::MAX), None);
    }
}
