//! A full disk under a real `concord` process: its data dir is a small tmpfs the test mounts (root
//! only; skipped with a message where mounting is not permitted), its log outside it. Filling the
//! disk past the member's reserve makes writes fail with a clear error while reads are served;
//! nothing acknowledged is lost; freeing the space lets writes through again without a restart. A
//! disk filled to the last byte stops the member cleanly (a failed WAL write is never retried), and
//! a restart once space is back has every acknowledged write.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{MemberSpec, Process, TempDir, free_port, json, member_args, put, request};

const BASE_PORT: u16 = 46_000;
/// The tmpfs: room for the member's data and its 64 MiB reserve, and for the filler.
const FILESYSTEM_BYTES: u64 = 160 << 20;
/// What the filler leaves free: below the member's reserve (64 MiB), far from zero.
const LEFT_FREE_BYTES: u64 = 24 << 20;
const GENEROUS: Duration = Duration::from_secs(30);

/// A tmpfs mounted for the test, unmounted (and its mount point removed) on drop.
struct SmallFilesystem {
    mount_point: PathBuf,
}

impl SmallFilesystem {
    /// Mounts it under `parent`, or `None` (with the reason) where mounting is not permitted.
    fn mount(parent: &Path) -> Result<SmallFilesystem, String> {
        let mount_point = parent.join("disk");
        std::fs::create_dir_all(&mount_point).map_err(|error| error.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={FILESYSTEM_BYTES}"), "concord-full-disk"])
            .arg(&mount_point)
            .output()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !output.status.success() {
            let _ = std::fs::remove_dir(&mount_point);
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
        }
        Ok(SmallFilesystem { mount_point })
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
        let _ = std::fs::remove_dir(&self.mount_point);
    }
}

/// Free bytes on the filesystem holding `path` (statvfs).
fn free_bytes(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a valid C string and writable memory of the right type; filled when 0 is returned.
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) }, 0, "statvfs");
    // SAFETY: statvfs returned 0.
    let stats = unsafe { stats.assume_init() };
    // The field types differ between platforms (u32 on some 32-bit ones), hence the conversions.
    #[allow(clippy::useless_conversion)]
    let (blocks, block_bytes) = (u64::from(stats.f_bavail), u64::from(stats.f_frsize));
    blocks * block_bytes
}

/// Writes a filler file until only `LEFT_FREE_BYTES` are free.
fn fill_past_reserve(filler: &Path) {
    let mut file = std::fs::File::create(filler).expect("filler");
    let chunk = vec![0x5Au8; 1 << 20];
    let directory = filler.parent().expect("parent");
    for _ in 0..(FILESYSTEM_BYTES >> 20) {
        if free_bytes(directory) <= LEFT_FREE_BYTES + chunk.len() as u64 {
            break;
        }
        file.write_all(&chunk).expect("room for the filler");
    }
    file.sync_all().expect("filler synced");
    assert!(free_bytes(directory) <= LEFT_FREE_BYTES + (1 << 20), "the disk was filled");
}

/// Writes a filler file until the filesystem refuses a byte more.
fn fill_completely(filler: &Path) {
    let mut file = std::fs::File::create(filler).expect("filler");
    let chunk = vec![0x5Au8; 64 << 10];
    for _ in 0..(FILESYSTEM_BYTES / chunk.len() as u64 + 1) {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    for _ in 0..chunk.len() {
        if file.write_all(&[0x5A]).and_then(|()| file.flush()).is_err() {
            break;
        }
    }
    assert!(free_bytes(filler.parent().expect("parent")) < 64 << 10, "the disk was filled");
}

/// A member whose data dir is on `filesystem` (through a link, so its log stays on the real disk).
fn start_member(dir: &TempDir, filesystem: &SmallFilesystem) -> Process {
    let on_filesystem = filesystem.mount_point.join("member");
    std::fs::create_dir_all(&on_filesystem).expect("data dir on the small filesystem");
    let data_dir = dir.0.join("member");
    std::os::unix::fs::symlink(&on_filesystem, &data_dir).expect("link to the data dir");
    let ip = "127.0.0.1";
    let spec = MemberSpec {
        name: "disk".to_string(),
        ip: ip.to_string(),
        client_port: free_port(ip, BASE_PORT),
        peer_port: free_port(ip, BASE_PORT),
    };
    let args = member_args(&spec, &data_dir, &format!("disk={}", spec.peer_url()), "new");
    Process::start(spec, args, data_dir)
}

/// Mounts the small filesystem, or says why the test is skipped.
fn mount_or_skip(dir: &TempDir) -> Option<SmallFilesystem> {
    match SmallFilesystem::mount(&dir.0) {
        Ok(filesystem) => Some(filesystem),
        Err(reason) => {
            eprintln!("SKIPPED: cannot mount a tmpfs here ({reason}); the full-disk tests need root");
            None
        }
    }
}

/// Retries `attempt` until it returns true, within the generous bound.
fn eventually(what: &str, mut attempt: impl FnMut() -> bool) {
    let deadline = Instant::now() + GENEROUS;
    while !attempt() {
        assert!(Instant::now() < deadline, "{what} did not happen within {GENEROUS:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read_value(url: &str, key: &str) -> Option<String> {
    let response = request(url, "GET", &format!("/v2/keys{key}?quorum=true"), None).ok()?;
    (response.status == 200)
        .then(|| json(&response)["node"]["value"].as_str().unwrap_or_default().to_string())
}

/// Twenty acknowledged writes, `/acknowledged/0..20`.
fn write_acknowledged(url: &str) {
    eventually("the first write", || {
        put(url, "/acknowledged/0", "v0").is_ok_and(|response| response.status < 300)
    });
    for number in 1..20 {
        let response = put(url, &format!("/acknowledged/{number}"), &format!("v{number}")).expect("write");
        assert!(response.status < 300, "write {number}: {}", response.status);
    }
}

fn assert_acknowledged_present(url: &str) {
    for number in 0..20 {
        assert_eq!(read_value(url, &format!("/acknowledged/{number}")), Some(format!("v{number}")));
    }
}

/// Writes a new key per attempt until one is refused for want of space; returns the refused key.
fn first_refused_write(url: &str) -> String {
    let mut attempt = 0;
    let mut refused = None;
    eventually("a write refused with a clear error", || {
        attempt += 1;
        let key = format!("/while-full/{attempt}");
        let answer = put(url, &key, "x");
        let is_refusal = answer.is_ok_and(|response| {
            response.status >= 400 && String::from_utf8_lossy(&response.body).contains("no space left")
        });
        if is_refusal {
            refused = Some(key);
        }
        is_refusal
    });
    refused.expect("a refused key")
}

#[test]
fn a_full_disk_refuses_writes_serves_reads_loses_nothing_and_recovers_when_space_returns() {
    let dir = TempDir::new("full-disk");
    let Some(filesystem) = mount_or_skip(&dir) else { return };
    let mut member = start_member(&dir, &filesystem);
    let url = member.spec.client_url();
    write_acknowledged(&url);

    let filler = filesystem.mount_point.join("filler");
    fill_past_reserve(&filler);
    let refused = first_refused_write(&url);
    assert_acknowledged_present(&url);
    assert_eq!(read_value(&url, &refused), None, "a refused write was not applied");
    assert!(member.is_running(), "the member keeps running on a nearly full disk");

    std::fs::remove_file(&filler).expect("free the space");
    eventually("writes taken again", || {
        put(&url, "/after-space-returned", "y").is_ok_and(|response| response.status < 300)
    });
    assert_eq!(read_value(&url, "/after-space-returned"), Some("y".to_string()));
    assert_acknowledged_present(&url);
    member.stop();
    drop(member);
    drop(filesystem);
}

#[test]
fn a_disk_full_to_the_last_byte_stops_the_member_cleanly_and_a_restart_loses_nothing() {
    let dir = TempDir::new("disk-to-the-byte");
    let Some(filesystem) = mount_or_skip(&dir) else { return };
    let mut member = start_member(&dir, &filesystem);
    let url = member.spec.client_url();
    write_acknowledged(&url);

    let filler = filesystem.mount_point.join("filler");
    fill_completely(&filler);
    // The leader's own periodic entries need the WAL: the first write that fails stops the member.
    let status = member.wait_exit(GENEROUS).expect("the member stops once its WAL cannot be written");
    assert!(!status.success(), "a member that cannot write its WAL exits with an error");
    let log = member.log();
    assert!(log.contains("No space left on device"), "the log says why: {log}");

    std::fs::remove_file(&filler).expect("free the space");
    member.restart();
    eventually("the restarted member serving", || read_value(&url, "/acknowledged/19").is_some());
    assert_acknowledged_present(&url);
    eventually("writes taken again", || {
        put(&url, "/after-restart", "z").is_ok_and(|response| response.status < 300)
    });
    member.stop();
    drop(member);
    drop(filesystem);
}
