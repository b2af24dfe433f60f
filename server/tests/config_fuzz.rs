//! Bad input never panics: random command lines, environments, config files and URLs either load
//! into a configuration that satisfies etcd's start-up rules or come back as a one-line error.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use server::config::{ConfigError, Loaded, Url, load_with_reader, parse_initial_cluster};

const FLAG_NAMES: &[&str] = &[
    "name",
    "data-dir",
    "wal-dir",
    "listen-client-urls",
    "advertise-client-urls",
    "listen-peer-urls",
    "initial-advertise-peer-urls",
    "initial-cluster",
    "initial-cluster-state",
    "initial-cluster-token",
    "heartbeat-interval",
    "election-timeout",
    "snapshot-count",
    "strict-reconfig-check",
    "force-new-cluster",
    "log-level",
    "logger",
    "cors",
    "proxy",
    "cert-file",
    "quota-backend-bytes",
    "grpc-keepalive-timeout",
    "config-file",
    "version",
    "help",
    "bogus",
];

const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "5",
    "100",
    "1000",
    "60000",
    "-1",
    "0x10",
    "true",
    "false",
    "maybe",
    "new",
    "existing",
    "off",
    "on",
    "zap",
    "debug",
    "20s",
    "http://localhost:2380",
    "http://127.0.0.1:2379,http://localhost:2379",
    "http://example.com:2380",
    "https://[::1]:2380",
    "http://:1",
    "http://h:1/p",
    "ftp://x:1",
    "default=http://localhost:2380",
    "a=http://127.0.0.1:1,b=http://127.0.0.1:2,a=http://127.0.0.1:3",
    "x=http://127.0.0.1:1,y=http://127.0.0.1:1",
    "garbage",
    "=",
    ",,,",
    "é",
];

fn token() -> impl Strategy<Value = String> {
    let flag = (prop::sample::select(FLAG_NAMES), 0usize..3).prop_map(|(name, dashes)| {
        let prefix = ["-", "--", "---"][dashes];
        format!("{prefix}{name}")
    });
    let flag_with_value = (prop::sample::select(FLAG_NAMES), prop::sample::select(VALUES))
        .prop_map(|(name, value)| format!("--{name}={value}"));
    prop_oneof![
        3 => flag,
        3 => flag_with_value,
        2 => prop::sample::select(VALUES).prop_map(str::to_string),
        1 => Just("--".to_string()),
        1 => Just("-".to_string()),
        1 => ".{0,12}",
    ]
}

fn environment() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        prop::sample::select(FLAG_NAMES)
            .prop_map(|name| format!("ETCD_{}", name.to_uppercase().replace('-', "_"))),
        prop::sample::select(VALUES).prop_map(str::to_string),
        0..4,
    )
}

fn yaml_document() -> impl Strategy<Value = String> {
    let line = (prop::sample::select(FLAG_NAMES), prop::sample::select(VALUES), 0usize..4).prop_map(
        |(name, value, shape)| match shape {
            0 => format!("{name}: {value}"),
            1 => format!("{name}: \"{value}\""),
            2 => format!("{name}:\n  - {value}"),
            _ => format!("{name}:"),
        },
    );
    prop_oneof![
        4 => prop::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n")),
        1 => ".{0,60}",
    ]
}

fn check_loaded(result: Result<Loaded, ConfigError>) {
    match result {
        Err(error) => {
            assert!(!error.message().is_empty());
            assert!(!error.message().contains('\n'), "one-line error: {error:?}");
            assert!(matches!(error.exit_code(), 1 | 2));
        }
        Ok(Loaded::PrintHelp | Loaded::PrintVersion) => {}
        Ok(Loaded::Run(config)) => {
            assert!(config.heartbeat_interval_ms > 0);
            assert!(config.election_timeout_ms >= 5 * config.heartbeat_interval_ms);
            assert!(config.election_timeout_ms <= 50_000);
            assert!(config.election_ticks() >= 5);
            for url in config.listen_client_urls.iter().chain(&config.listen_peer_urls) {
                assert!(url.is_bindable(), "{url}");
            }
            // Bootstrap either succeeds with a consistent membership or refuses in one line.
            match config.initial_membership() {
                Ok(membership) => {
                    assert!(membership.local().is_some());
                    assert!(membership.members.windows(2).all(|pair| pair[0].id < pair[1].id));
                }
                Err(error) => assert!(!error.message().contains('\n')),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_command_line_and_environment_loads_or_refuses_cleanly(
        args in prop::collection::vec(token(), 0..8),
        env in environment(),
        file in yaml_document(),
    ) {
        let reader = |_: &Path| -> Result<String, String> { Ok(file.clone()) };
        check_loaded(load_with_reader(&args, &env, &reader));
    }

    #[test]
    fn any_config_file_loads_or_refuses_cleanly(file in yaml_document()) {
        let args = vec!["--config-file".to_string(), "x.yml".to_string()];
        let reader = |_: &Path| -> Result<String, String> { Ok(file.clone()) };
        check_loaded(load_with_reader(&args, &BTreeMap::new(), &reader));
    }

    #[test]
    fn urls_round_trip_through_their_text(text in "(https?|HTTP|ftp|unix)?(://)?[a-z0-9.:\\[\\]@/?#_-]{0,20}") {
        if let Ok(url) = Url::parse(&text) {
            let again = Url::parse(&url.to_string()).expect("a parsed URL's text parses");
            prop_assert_eq!(again, url);
        }
        let _ = parse_initial_cluster(&text);
    }
}
