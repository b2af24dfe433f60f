//! The command line of `concord migrate --from <etcd data dir> --data-dir <new concord data dir>`
//! (flags as `--flag value` or `--flag=value`, one dash or two, like etcd's).

use std::path::PathBuf;
use std::sync::Arc;

use crate::storage::disk::OsDisk;

/// The usage line printed on a mistake.
pub const USAGE: &str = "usage: concord migrate --from <etcd data dir> --data-dir <new concord data dir>";

/// The two directories of a migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrateArgs {
    pub from: PathBuf,
    pub data_dir: PathBuf,
}

/// Parses the arguments after `migrate`.
pub fn parse(args: &[String]) -> Result<MigrateArgs, String> {
    let (mut from, mut data_dir) = (None, None);
    let mut rest = args.iter();
    // Every pass consumes at least one argument.
    while let Some(arg) = rest.next() {
        let flag = arg.trim_start_matches('-');
        if flag.len() == arg.len() {
            return Err(format!("unexpected argument {arg:?}"));
        }
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, value.to_string()),
            None => (flag, rest.next().ok_or_else(|| format!("flag {arg} needs a value"))?.clone()),
        };
        match name {
            "from" => from = Some(PathBuf::from(value)),
            "data-dir" => data_dir = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {arg}")),
        }
    }
    match (from, data_dir) {
        (Some(from), Some(data_dir)) => Ok(MigrateArgs { from, data_dir }),
        _ => Err("both --from and --data-dir are needed".to_string()),
    }
}

/// Runs `concord migrate` with the arguments after `migrate`: the summary, or the error.
pub fn run(args: &[String]) -> Result<String, String> {
    let parsed = parse(args).map_err(|error| format!("{error}\n{USAGE}"))?;
    let summary = super::migrate(Arc::new(OsDisk::new()), &parsed.from, &parsed.data_dir)
        .map_err(|error| format!("migrate: {error}"))?;
    Ok(summary.to_string())
}
