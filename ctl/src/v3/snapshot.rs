//! `snapshot save <file>` (Maintenance.Snapshot streamed to `<file>.part`, its trailing sha256
//! checked, synced, renamed), `snapshot status <file>` (read with the server crate's bbolt reader,
//! hashed as etcdctl hashes it), and `snapshot restore`, which concordctl refuses for now.
//!
//! Like etcdctl 3.4, `save` logs its progress as zap JSON lines on stderr, has no deadline unless
//! `--command-timeout` is given, and fails with exit 5.

use std::io::Write;
use std::time::{Instant, SystemTime};

use api::etcdserverpb::SnapshotRequest;
use api::etcdserverpb::maintenance_client::MaintenanceClient;
use server::v3_snapshot::bbolt_reader::read_database;
use sha2::{Digest, Sha256};

use super::cli::SnapshotRestoreArgs;
use super::connection::{Settings, call, dial};
use super::context::Context;
use super::errors::{Failure, exit};
use super::print::go_text::go_string_list;
use super::print::{Shown, write_stderr_line, write_stdout};
use crate::cluster::human_bytes;

/// The bytes of a sha256, which etcd appends to the database it streams.
const SHA256_BYTES: usize = 32;
/// etcd streams the database in whole 512-byte blocks (bbolt pages), then the hash.
const DATABASE_BLOCK_BYTES: usize = 512;
/// Snapshot chunks received at most (a 64 GiB database in etcd's 32 KiB chunks).
const MAX_CHUNKS: usize = 2 << 20;

/// What `snapshot status` reports (etcdctl's `snapshot.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotStatus {
    pub hash: u32,
    pub revision: i64,
    pub total_keys: u64,
    pub total_size_bytes: u64,
}

pub async fn save(context: &Context, args: &[String]) -> Result<(), Failure> {
    if args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "snapshot save expects one argument"));
    }
    let global = context.global()?;
    let settings = &global.settings;
    if settings.endpoints.len() != 1 {
        let listed = go_string_list(&settings.endpoints);
        let message = format!("snapshot must be requested to one selected node, not multiple {listed}");
        return Err(Failure::new(exit::INTERRUPTED, &message));
    }
    let path = &args[0];
    let part_path = format!("{path}.part");
    // etcdctl bounds the download only when --command-timeout is set (by flag or environment).
    let bounded =
        context.flags.command_timeout.is_some() || std::env::var_os("ETCDCTL_COMMAND_TIMEOUT").is_some();
    let outcome = save_through(settings, bounded, path, &part_path).await;
    let _ = std::fs::remove_file(&part_path);
    outcome.map_err(|message| Failure::new(exit::INTERRUPTED, &message))?;
    write_stdout(format!("Snapshot saved at {path}\n").as_bytes());
    Ok(())
}

/// Streams the snapshot into `part_path`, checks and syncs it, and renames it to `path`.
async fn save_through(settings: &Settings, bounded: bool, path: &str, part_path: &str) -> Result<(), String> {
    let mut file = open_private(part_path).map_err(|error| {
        format!("could not open {part_path} ({})", go_path_error("open", part_path, &error))
    })?;
    log_info("snapshot/v3_snapshot.go:119", "created temporary db file", &[("path", json_text(part_path))]);
    let started = Instant::now();
    let endpoint = settings.endpoints[0].clone();
    let bytes = fetch(settings, bounded, &endpoint).await?;
    file.write_all(&bytes).map_err(|error| go_path_error("write", part_path, &error))?;
    file.sync_all().map_err(|error| go_path_error("sync", part_path, &error))?;
    drop(file);
    let took_seconds = started.elapsed().as_secs_f64();
    log_info(
        "snapshot/v3_snapshot.go:142",
        "fetched snapshot",
        &[
            ("endpoint", json_text(&endpoint)),
            ("size", json_text(&human_bytes(bytes.len() as u64))),
            ("took", format!("{took_seconds}")),
        ],
    );
    std::fs::rename(part_path, path).map_err(|error| {
        let cause = go_error_text(&error);
        format!("could not rename {part_path} to {path} (rename {part_path} {path}: {cause})")
    })?;
    log_info("snapshot/v3_snapshot.go:152", "saved", &[("path", json_text(path))]);
    Ok(())
}

/// Receives the whole snapshot stream and checks its trailing sha256.
async fn fetch(settings: &Settings, bounded: bool, endpoint: &str) -> Result<Vec<u8>, String> {
    let deadline = if bounded {
        settings.command_deadline()
    } else {
        tokio::time::Instant::now() + std::time::Duration::from_secs(365 * 86_400)
    };
    let channel = dial(settings, deadline).await.map_err(|error| error.to_string())?;
    let mut client = MaintenanceClient::new(channel);
    let mut stream = call(deadline, client.snapshot(SnapshotRequest {})).await.map_err(|e| e.to_string())?;
    log_iso("clientv3/maintenance.go:200", "opened snapshot stream; downloading");
    log_info("snapshot/v3_snapshot.go:127", "fetching snapshot", &[("endpoint", json_text(endpoint))]);
    let mut bytes = Vec::new();
    for _ in 0..MAX_CHUNKS {
        let message = tokio::time::timeout_at(deadline, stream.message())
            .await
            .map_err(|_| "context deadline exceeded".to_string())?
            .map_err(|status| super::errors::RpcError::Status(status).to_string())?;
        let Some(chunk) = message else { break };
        bytes.extend_from_slice(&chunk.blob);
    }
    log_iso("clientv3/maintenance.go:208", "completed snapshot read; closing");
    check_trailing_hash(&bytes)?;
    Ok(bytes)
}

/// The stream is whole 512-byte blocks followed by the sha256 of those blocks, as etcd sends it.
pub fn check_trailing_hash(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < SHA256_BYTES || !(bytes.len() - SHA256_BYTES).is_multiple_of(DATABASE_BLOCK_BYTES) {
        return Err(format!("snapshot of {} bytes does not end with a sha256", bytes.len()));
    }
    let (database, expected) = bytes.split_at(bytes.len() - SHA256_BYTES);
    let actual = Sha256::digest(database);
    if actual.as_slice() != expected {
        return Err("snapshot sha256 mismatch (the stream was damaged)".to_string());
    }
    Ok(())
}

pub fn status(context: &Context, args: &[String]) -> Result<(), Failure> {
    if args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "snapshot status requires exactly one argument"));
    }
    let printer = context.printer()?;
    let status = read_status(&args[0]).map_err(|message| Failure::new(exit::ERROR, &message))?;
    printer.print(&Shown::SnapshotStatus(status))
}

/// etcdctl's `Status`: the crc32c of every bucket name, key and value in order, the main revision of
/// the last key of the `key` bucket, the number of entries, and the size the database claims.
pub fn read_status(path: &str) -> Result<SnapshotStatus, String> {
    std::fs::metadata(path).map_err(|error| go_path_error("stat", path, &error))?;
    let bytes = std::fs::read(path).map_err(|error| go_path_error("open", path, &error))?;
    let (meta, buckets) = read_database(&bytes).map_err(|error| {
        if error.0.contains("meta") {
            "invalid database".to_string()
        } else {
            format!("snapshot file integrity check failed. 1 errors found.\n{}", error.0)
        }
    })?;
    let mut hasher = Castagnoli::new();
    let mut status = SnapshotStatus {
        hash: 0,
        revision: 0,
        total_keys: 0,
        total_size_bytes: meta.high_water_page_id * meta.page_size_bytes as u64,
    };
    for bucket in &buckets {
        hasher.write(&bucket.name);
        for (key, value) in &bucket.entries {
            hasher.write(key);
            hasher.write(value);
            if bucket.name == b"key" && key.len() >= 8 {
                status.revision = i64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
            }
            status.total_keys += 1;
        }
    }
    status.hash = hasher.finish();
    Ok(status)
}

pub fn restore(args: &SnapshotRestoreArgs) -> Result<(), Failure> {
    if args.args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "snapshot restore requires exactly one argument"));
    }
    Err(Failure::new(
        exit::ERROR,
        "snapshot restore into a Concord data dir is not supported by concordctl yet",
    ))
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as Go's `crc32.MakeTable(crc32.Castagnoli)`.
struct Castagnoli {
    table: [u32; 256],
    state: u32,
}

impl Castagnoli {
    fn new() -> Castagnoli {
        let mut table = [0u32; 256];
        for (index, slot) in table.iter_mut().enumerate() {
            let mut value = index as u32;
            for _ in 0..8 {
                value = if value & 1 == 1 { (value >> 1) ^ 0x82F6_3B78 } else { value >> 1 };
            }
            *slot = value;
        }
        Castagnoli { table, state: !0 }
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.state = self.table[((self.state ^ u32::from(*byte)) & 0xFF) as usize] ^ (self.state >> 8);
        }
    }

    fn finish(&self) -> u32 {
        !self.state
    }
}

/// Creates (or truncates) a file only its owner can read and write, as etcd's `PrivateFileMode`.
fn open_private(path: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

/// Go's text for an OS error: the lower-case `strerror`, without Rust's `(os error N)`.
fn go_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_lowercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// Go's `*PathError` text: `open /x: no such file or directory`.
fn go_path_error(operation: &str, path: &str, error: &std::io::Error) -> String {
    format!("{operation} {path}: {}", go_error_text(error))
}

fn json_text(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A zap info line with a Unix-seconds timestamp, as etcdctl's snapshot manager logs.
fn log_info(caller: &str, message: &str, fields: &[(&str, String)]) {
    let seconds = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let mut line = format!(r#"{{"level":"info","ts":{seconds},"caller":"{caller}","msg":"{message}""#);
    for (name, value) in fields {
        line.push_str(&format!(",\"{name}\":{value}"));
    }
    line.push('}');
    write_stderr_line(&line);
}

/// A zap info line with an ISO-8601 timestamp, as etcd's Go client logs.
fn log_iso(caller: &str, message: &str) {
    let since_epoch = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    let time_of_day = seconds % 86_400;
    let (hour, minute, second) = (time_of_day / 3600, time_of_day % 3600 / 60, time_of_day % 60);
    let millis = since_epoch.subsec_millis();
    let stamp = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z");
    write_stderr_line(&format!(r#"{{"level":"info","ts":"{stamp}","caller":"{caller}","msg":"{message}"}}"#));
}

/// The (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's civil-from-days).
fn civil_date(days: u64) -> (i64, u32, u32) {
    let shifted = days as i64 + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn castagnoli_matches_the_standard_check_value() {
        let mut hasher = Castagnoli::new();
        hasher.write(b"12345");
        hasher.write(b"6789");
        assert_eq!(hasher.finish(), 0xE306_9283);
    }

    #[test]
    fn civil_dates_follow_the_gregorian_calendar() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_790), (2026, 12, 3));
    }

    #[test]
    fn a_stream_must_end_with_the_sha256_of_its_blocks() {
        let database = vec![7u8; 1024];
        let mut stream = database.clone();
        stream.extend_from_slice(&Sha256::digest(&database));
        assert_eq!(check_trailing_hash(&stream), Ok(()));
        stream[3] ^= 1;
        assert!(check_trailing_hash(&stream).is_err());
        assert!(check_trailing_hash(&database).is_err());
    }

    #[test]
    fn go_error_texts_are_lower_case_without_the_os_error_number() {
        let error = std::io::Error::from_raw_os_error(2);
        assert_eq!(go_path_error("stat", "/x", &error), "stat /x: no such file or directory");
    }
}
