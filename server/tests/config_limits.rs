//! The listeners' bounds against bad input (`NetworkLimits`): protective defaults, each settable as a
//! flag, an `ETCD_*` variable or a config-file key, and values the listeners cannot work with refused.

use std::collections::BTreeMap;

use server::config::{ConfigError, Loaded, NetworkLimits, ServerConfig, load_with_reader};

fn load_config(args: &[&str], env: &[(&str, &str)], file: &str) -> Result<ServerConfig, ConfigError> {
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    let env: BTreeMap<String, String> =
        env.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    let file = file.to_string();
    match load_with_reader(&args, &env, &|_| Ok(file.clone()))? {
        Loaded::Run(config) => Ok(*config),
        _ => panic!("expected a configuration to run"),
    }
}

#[test]
fn the_defaults_protect_without_refusing_what_etcd_takes() {
    let config = load_config(&[], &[], "").expect("defaults load");
    assert_eq!(config.network_limits, NetworkLimits::default());
    assert_eq!(config.network_limits.max_request_header_bytes, 1 << 20, "Go's DefaultMaxHeaderBytes");
    assert_eq!(config.network_limits.client_read_timeout_ms, 30_000);
    assert_eq!(config.network_limits.max_connection_requests_per_second, 10_000);
    assert_eq!(config.network_limits.max_peer_connections, 256);
    assert_eq!(config.network_limits.max_peer_frame_bytes, 8 << 20);
    assert_eq!(config.max_client_connections, 65_536);
    assert_eq!(config.max_request_bytes, 1_572_864, "etcd's --max-request-bytes default");
}

#[test]
fn each_limit_is_set_by_flag_variable_or_config_file() {
    let flags = load_config(
        &[
            "--max-request-header-bytes=16384",
            "--client-read-timeout=2s",
            "--max-connection-requests-per-second",
            "0",
            "--max-peer-connections=3",
            "--max-peer-frame-bytes=4194304",
        ],
        &[],
        "",
    )
    .expect("flags load");
    let expected = NetworkLimits {
        max_request_header_bytes: 16384,
        client_read_timeout_ms: 2000,
        max_connection_requests_per_second: 0,
        max_peer_connections: 3,
        max_peer_frame_bytes: 4 << 20,
    };
    assert_eq!(flags.network_limits, expected);
    let environment = load_config(
        &[],
        &[
            ("ETCD_MAX_REQUEST_HEADER_BYTES", "16384"),
            ("ETCD_CLIENT_READ_TIMEOUT", "2s"),
            ("ETCD_MAX_CONNECTION_REQUESTS_PER_SECOND", "0"),
            ("ETCD_MAX_PEER_CONNECTIONS", "3"),
            ("ETCD_MAX_PEER_FRAME_BYTES", "4194304"),
        ],
        "",
    )
    .expect("variables load");
    assert_eq!(environment.network_limits, expected);
    let file = "max-request-header-bytes: 16384\nclient-read-timeout: 2s\n\
                max-connection-requests-per-second: 0\nmax-peer-connections: 3\nmax-peer-frame-bytes: 4194304\n";
    let from_file = load_config(&["--config-file=/etc/concord.yml"], &[], file).expect("file loads");
    assert_eq!(from_file.network_limits, expected);
    let nanoseconds =
        load_config(&["--config-file=/etc/concord.yml"], &[], "client-read-timeout: 2000000000\n")
            .expect("etcd's integer nanoseconds load");
    assert_eq!(nanoseconds.network_limits.client_read_timeout_ms, 2000);
}

#[test]
fn limits_the_listeners_cannot_work_with_are_refused_at_start() {
    for args in [
        ["--max-request-header-bytes=100"],
        ["--client-read-timeout=0s"],
        ["--max-peer-connections=0"],
        ["--max-client-connections=0"],
        ["--max-request-bytes=0"],
        // A peer frame must carry the largest client request and a snapshot chunk.
        ["--max-peer-frame-bytes=1048576"],
        ["--max-peer-frame-bytes=8589934592"],
    ] {
        let error = load_config(&args, &[], "").expect_err(args[0]);
        assert!(
            error.message().contains(args[0].trim_start_matches("--").split('=').next().unwrap()),
            "{error}"
        );
    }
    let large_requests =
        load_config(&["--max-request-bytes=10485760", "--max-peer-frame-bytes=8388608"], &[], "");
    assert!(large_requests.is_err(), "a frame smaller than the largest request is refused");
    let fits = load_config(&["--max-request-bytes=10485760", "--max-peer-frame-bytes=16777216"], &[], "");
    assert!(fits.is_ok());
}
