//! `concordctl backup` (etcdctl v2's `backup`): copies a member's data dir to a new one under fresh
//! member and cluster IDs (the copy is made by `server::backup`; this file parses the flags, draws the
//! IDs and reports as etcdctl does: nothing on success, a log line and exit 1 on failure).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;

use crate::cli::parse_go_bool;
use crate::commands::Exit;
use server::backup::{BackupPaths, NewIdentity, backup};
use server::storage::disk::OsDisk;

/// etcdctl's exit code for a fatal log line.
const FATAL_EXIT: i32 = 1;
/// Draws of a random ID before giving up on getting a non-zero one (each fails with odds 2^-64).
const MAX_ID_DRAWS: usize = 8;

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Path to the etcd data dir
    #[arg(long, default_value = "", value_name = "value")]
    pub data_dir: String,
    /// Path to the etcd wal dir
    #[arg(long, default_value = "", value_name = "value")]
    pub wal_dir: String,
    /// Path to the backup dir
    #[arg(long, default_value = "", value_name = "value")]
    pub backup_dir: String,
    /// Path to the backup wal dir
    #[arg(long, default_value = "", value_name = "value")]
    pub backup_wal_dir: String,
    /// Backup v3 backend data (Concord's v3 keyspace is in the snapshot and WAL: always copied)
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub with_v3: bool,
}

/// Runs the backup; a torn tail in the source is noted on stderr as etcd's WAL reader logs it.
pub fn run(args: &BackupArgs) -> Result<(), Exit> {
    let optional = |text: &str| (!text.is_empty()).then(|| PathBuf::from(text));
    let paths = BackupPaths {
        data_dir: PathBuf::from(&args.data_dir),
        wal_dir: optional(&args.wal_dir),
        backup_dir: PathBuf::from(&args.backup_dir),
        backup_wal_dir: optional(&args.backup_wal_dir),
    };
    let identity = NewIdentity { member_id: random_id(), cluster_id: random_id() };
    match backup(Arc::new(OsDisk::new()), &paths, identity) {
        Ok(summary) => {
            if let Some((file, offset)) = &summary.torn_at {
                log_line(&format!(
                    "ignored a torn write at {} offset {offset} (the copy ends before it)",
                    file.display()
                ));
            }
            Ok(())
        }
        Err(reason) => {
            log_line(&reason);
            Err(Exit(FATAL_EXIT))
        }
    }
}

/// A fresh non-zero 64-bit ID (etcd draws its IDs from the time and a random member part).
fn random_id() -> u64 {
    for _ in 0..MAX_ID_DRAWS {
        let mut hasher = RandomState::new().build_hasher();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        hasher.write_u128(now.as_nanos());
        hasher.write_u32(std::process::id());
        let id = hasher.finish();
        if id != 0 {
            return id;
        }
    }
    unreachable!("{MAX_ID_DRAWS} zero draws from a random hasher")
}

/// etcdctl's log line: `2006-01-02 15:04:05.000000 I | message` (UTC here) on stderr.
fn log_line(message: &str) {
    eprintln!("{} I | {message}", crate::v3::environment::log_timestamp());
}
