//! Target `config_load`: arbitrary command lines, `ETCD_*` variables and YAML config files through
//! the server's configuration loader (`server::config::load_with_reader`: the flag parser, the
//! environment and the `--config-file` reader, then etcd's start-up validation).
//!
//! Input: a mode byte (bit 0: add `--config-file=/fuzz.yaml`; bit 1: name the file in
//! `ETCD_CONFIG_FILE` instead), a u16-long list of arguments separated by NUL bytes, a u16-long list
//! of `NAME=value` variables separated by NUL bytes, then the file's text (the rest).
//!
//! Checks: nothing panics and nothing is read from the real disk; loading the same inputs twice
//! gives the same answer; a refusal has a message and etcd's exit status (2 for a usage error,
//! 1 otherwise); an accepted configuration keeps the documented rules (at least 5 heartbeats per
//! election, at most 50 s; URL and CORS lists sorted and without duplicates; a name and a data dir).

use std::collections::BTreeMap;
use std::path::Path;

use server::config::{ConfigError, Loaded, ServerConfig, load_with_reader};

use crate::byte_source::ByteSource;

/// The path the harness's in-memory file answers to.
pub const CONFIG_PATH: &str = "/fuzz.yaml";
/// Arguments and variables one input may give.
const MAX_ITEMS: usize = 64;

pub fn check(data: &[u8]) {
    let mut source = ByteSource::new(data);
    let mode = source.u8();
    let args_length = usize::from(source.u16());
    let mut args = split_items(source.take(args_length));
    let env_length = usize::from(source.u16());
    let mut env: BTreeMap<String, String> = split_items(source.take(env_length))
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => (item, String::new()),
        })
        .collect();
    if mode & 1 == 1 {
        args.push(format!("--config-file={CONFIG_PATH}"));
    }
    if mode & 2 == 2 {
        env.insert("ETCD_CONFIG_FILE".to_string(), CONFIG_PATH.to_string());
    }
    let file_text = String::from_utf8_lossy(source.remaining()).into_owned();
    let read_file = |path: &Path| -> Result<String, String> {
        if path == Path::new(CONFIG_PATH) { Ok(file_text.clone()) } else { Err("no such file".to_string()) }
    };
    let loaded = load_with_reader(&args, &env, &read_file);
    assert_eq!(load_with_reader(&args, &env, &read_file), loaded, "loading is deterministic");
    match loaded {
        Ok(Loaded::Run(config)) => check_config(&config),
        Ok(Loaded::PrintHelp | Loaded::PrintVersion) => {}
        Err(error) => check_refusal(&error),
    }
}

/// NUL-separated texts (lossy UTF-8, as the process reads its arguments), at most [`MAX_ITEMS`].
fn split_items(bytes: &[u8]) -> Vec<String> {
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|byte| *byte == 0)
        .take(MAX_ITEMS)
        .map(|item| String::from_utf8_lossy(item).into_owned())
        .collect()
}

fn check_refusal(error: &ConfigError) {
    assert!(!error.message().is_empty(), "a refusal says why");
    let expected = if matches!(error, ConfigError::Usage(_)) { 2 } else { 1 };
    assert_eq!(error.exit_code(), expected);
}

fn check_config(config: &ServerConfig) {
    assert!(config.heartbeat_interval_ms > 0, "a heartbeat interval");
    assert!(config.election_ticks() >= 5, "at least 5 heartbeats per election: {config:?}");
    assert!(config.election_timeout_ms <= 50_000, "an election timeout of at most 50 s");
    for urls in [
        &config.listen_client_urls,
        &config.advertise_client_urls,
        &config.listen_peer_urls,
        &config.initial_advertise_peer_urls,
    ] {
        let texts: Vec<String> = urls.iter().map(|url| url.to_string()).collect();
        assert!(texts.windows(2).all(|pair| pair[0] < pair[1]), "URLs sorted and unique: {texts:?}");
    }
    assert!(config.cors.windows(2).all(|pair| pair[0] < pair[1]), "CORS origins sorted and unique");
    assert!(!config.data_dir.as_os_str().is_empty(), "a data dir");
    let _ = config.effective_wal_dir();
    let _ = config.cors_allows("http://example.com");
}
