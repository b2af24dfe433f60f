//! Scenarios for `concord`'s command line and environment, checked against what real etcd 3.4.23
//! (Debian's `etcd-server`) was seen doing with the same input. Expected messages are etcd's own
//! words unless a comment says why Concord differs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use server::config::{
    ClusterState, ConfigError, ConfigSource, Loaded, LogLevel, Logger, ServerConfig, help_text, load,
    usage_text, version_text,
};

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

fn run(line: &str, variables: &[(&str, &str)]) -> ServerConfig {
    match load(&args(line), &env(variables)) {
        Ok(Loaded::Run(config)) => *config,
        other => panic!("expected a config for {line:?}, got {other:?}"),
    }
}

fn error(line: &str, variables: &[(&str, &str)]) -> ConfigError {
    match load(&args(line), &env(variables)) {
        Err(error) => error,
        Ok(other) => panic!("expected an error for {line:?}, got {other:?}"),
    }
}

fn urls(config_urls: &[server::config::Url]) -> Vec<String> {
    config_urls.iter().map(ToString::to_string).collect()
}

#[test]
fn no_flags_start_a_single_default_member_like_etcd() {
    let config = run("", &[]);
    assert_eq!(config.name, "default");
    assert_eq!(config.data_dir, PathBuf::from("default.etcd"));
    assert_eq!(config.wal_dir, None);
    assert_eq!(config.effective_wal_dir(), PathBuf::from("default.etcd/member/wal"));
    assert_eq!(urls(&config.listen_client_urls), ["http://localhost:2379"]);
    assert_eq!(urls(&config.advertise_client_urls), ["http://localhost:2379"]);
    assert_eq!(urls(&config.listen_peer_urls), ["http://localhost:2380"]);
    assert_eq!(urls(&config.initial_advertise_peer_urls), ["http://localhost:2380"]);
    assert_eq!(config.initial_cluster.len(), 1);
    assert_eq!(config.initial_cluster[0].name, "default");
    assert_eq!(urls(&config.initial_cluster[0].peer_urls), ["http://localhost:2380"]);
    assert_eq!(config.initial_cluster_state, ClusterState::New);
    assert_eq!(config.initial_cluster_token, "etcd-cluster");
    assert_eq!((config.heartbeat_interval_ms, config.election_timeout_ms), (100, 1000));
    assert_eq!(config.election_ticks(), 10);
    // etcd 3.4's `--help` says 100000 (the thesis's 10000 is etcd 2's).
    assert_eq!(config.snapshot_count, 100_000);
    assert_eq!((config.max_snapshots, config.max_wals), (5, 5));
    assert!(config.strict_reconfig_check, "etcd 3.4 defaults --strict-reconfig-check to true");
    assert!(!config.force_new_cluster);
    assert!(!config.pre_vote);
    assert_eq!(config.cors, ["*"]);
    assert!(config.cors_allows("http://anywhere.example"));
    assert_eq!(config.logger, Logger::Zap);
    assert_eq!(config.log_outputs, ["default"]);
    assert_eq!(config.log_level, LogLevel::Info);
    assert_eq!(config.max_request_bytes, 1_572_864);
    assert_eq!(config.source, ConfigSource::CommandLine);
    assert_eq!(config, ServerConfig::default());
    config.initial_membership().expect("the default member bootstraps");
}

#[test]
fn a_name_alone_renames_the_default_initial_cluster_and_data_dir() {
    // `etcd --name foo` starts alone as member foo in foo.etcd (seen with etcd 3.4.23).
    let config = run("--name foo", &[]);
    assert_eq!(config.data_dir, PathBuf::from("foo.etcd"));
    assert_eq!(config.initial_cluster[0].name, "foo");
    config.initial_membership().expect("foo is in its own initial cluster");

    // An empty name keeps the default entry (etcd's InitialClusterFromName), so it is not listed.
    let unnamed = run("--name=", &[]);
    assert_eq!(unnamed.data_dir, PathBuf::from(".etcd"));
    assert_eq!(
        unnamed.initial_membership().unwrap_err().message(),
        r#"couldn't find local name "" in the initial cluster configuration"#
    );
}

#[test]
fn flags_parse_like_go_flag_package() {
    // One and two dashes, `=value` and `value`, last one wins.
    let config = run(
        "-name n1 --data-dir=/d --heartbeat-interval 50 -election-timeout=500 --name=n2 \
         --initial-cluster n2=http://localhost:2380 --snapshot-count=0x10",
        &[],
    );
    assert_eq!(config.name, "n2");
    assert_eq!(config.data_dir, PathBuf::from("/d"));
    assert_eq!((config.heartbeat_interval_ms, config.election_timeout_ms), (50, 500));
    assert_eq!(config.snapshot_count, 16, "Go's ParseUint(s, 0, 64) takes 0x prefixes");
    // etcd 3.4.23 logs "set snapshot count to default 100000" for 0.
    let zero = run("--snapshot-count=0", &[]);
    assert_eq!(zero.snapshot_count, 100_000);
    assert!(zero.notices.iter().any(|notice| notice == "set snapshot count to default 100000"));

    // Booleans: alone means true; `=value` takes every Go ParseBool spelling.
    let table = [
        ("--force-new-cluster", true),
        ("-force-new-cluster", true),
        ("--force-new-cluster=true", true),
        ("--force-new-cluster=1", true),
        ("--force-new-cluster=t", true),
        ("--force-new-cluster=TRUE", true),
        ("--force-new-cluster=True", true),
        ("--force-new-cluster=false", false),
        ("--force-new-cluster=0", false),
        ("--force-new-cluster=F", false),
        ("--force-new-cluster=FALSE", false),
    ];
    for (line, expected) in table {
        assert_eq!(run(line, &[]).force_new_cluster, expected, "{line}");
    }
    assert!(!run("--strict-reconfig-check=false", &[]).strict_reconfig_check);

    // A non-boolean flag takes the next argument whatever it looks like.
    assert_eq!(run("--name --weird --initial-cluster --weird=http://localhost:2380", &[]).name, "--weird");
    // `--` ends the flags.
    assert_eq!(run("--name a --initial-cluster a=http://localhost:2380 --", &[]).name, "a");
}

#[test]
fn command_line_errors_use_go_and_etcd_words_and_exit_codes() {
    let table: &[(&str, ConfigError)] = &[
        ("--foo", ConfigError::Usage("flag provided but not defined: -foo".into())),
        ("-foo=1", ConfigError::Usage("flag provided but not defined: -foo".into())),
        ("--name", ConfigError::Usage("flag needs an argument: -name".into())),
        (
            "--heartbeat-interval=abc",
            ConfigError::Usage(r#"invalid value "abc" for flag -heartbeat-interval: parse error"#.into()),
        ),
        (
            "--heartbeat-interval=-1",
            ConfigError::Usage(r#"invalid value "-1" for flag -heartbeat-interval: parse error"#.into()),
        ),
        (
            "--force-new-cluster=maybe",
            ConfigError::Usage(r#"invalid boolean value "maybe" for -force-new-cluster: parse error"#.into()),
        ),
        ("---x", ConfigError::Usage("bad flag syntax: ---x".into())),
        ("-=x", ConfigError::Usage("bad flag syntax: -=x".into())),
        (
            "--initial-cluster-state=bogus",
            ConfigError::Usage(r#"invalid value "bogus" for flag -initial-cluster-state: invalid value"#.into()),
        ),
        (
            "--listen-peer-urls=http://localhost",
            ConfigError::Usage(
                r#"invalid value "http://localhost" for flag -listen-peer-urls: URL address does not have the form "host:port": http://localhost"#
                    .into(),
            ),
        ),
        (
            "--advertise-client-urls=http://h:1/path",
            ConfigError::Usage(
                r#"invalid value "http://h:1/path" for flag -advertise-client-urls: URL must not contain a path: http://h:1/path"#
                    .into(),
            ),
        ),
        // etcd also allows unix/unixs here; Concord serves TCP only, so its message names http/https.
        (
            "--listen-peer-urls=ftp://x:1",
            ConfigError::Usage(
                r#"invalid value "ftp://x:1" for flag -listen-peer-urls: URL scheme must be http or https: ftp://x:1"#
                    .into(),
            ),
        ),
        // Positional arguments are refused by etcd after parsing, with exit status 1.
        ("positional", ConfigError::Invalid("'positional' is not a valid flag".into())),
        ("-", ConfigError::Invalid("'-' is not a valid flag".into())),
        ("--force-new-cluster false", ConfigError::Invalid("'false' is not a valid flag".into())),
        ("-- --name", ConfigError::Invalid("'--name' is not a valid flag".into())),
    ];
    for (line, expected) in table {
        let got = error(line, &[]);
        assert_eq!(&got, expected, "{line}");
        let expected_code = if matches!(expected, ConfigError::Usage(_)) { 2 } else { 1 };
        assert_eq!(got.exit_code(), expected_code, "{line}");
    }
}

#[test]
fn validation_errors_stop_the_start_in_etcd_words() {
    let table = [
        (
            "--election-timeout=400",
            "--election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]",
        ),
        (
            "--election-timeout=60000",
            "--election-timeout[60000ms] is too long, and should be set less than 50000ms",
        ),
        ("--heartbeat-interval=0", "--heartbeat-interval must be >0 (set to 0ms)"),
        ("--election-timeout=0", "--election-timeout must be >0 (set to 0ms)"),
        (
            "--listen-client-urls=http://localhost:9999",
            "--advertise-client-urls is required when --listen-client-urls is set explicitly",
        ),
        (
            "--listen-peer-urls=http://example.com:2380",
            "expected IP in URL for binding (http://example.com:2380)",
        ),
        (
            "--advertise-client-urls=http://:1",
            r#"--advertise-client-urls "http://:1" must be "host:port" (unexpected empty host (http://:1))"#,
        ),
        ("--logger=bogus", r#"unknown logger option "bogus""#),
        // etcd 3.4.23 panics here; Concord refuses cleanly.
        ("--log-level=bogus", r#"unknown level "bogus""#),
        (
            "--initial-cluster=default=ftp://x:1",
            "error setting up initial cluster: URL scheme must be http or https: ftp://x:1",
        ),
        ("--initial-cluster=garbage", "error setting up initial cluster: URL scheme must be http or https: "),
        // TLS: etcd's words (config_tls.rs has the rest).
        (
            "--listen-peer-urls=https://127.0.0.1:2380",
            "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are not presented",
        ),
        (
            "--discovery-srv=example.com --initial-cluster=a=http://127.0.0.1:2380",
            "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" \
             or \"discovery-srv\"",
        ),
        (
            "--discovery=http://127.0.0.1:1/v2/keys/t --initial-cluster=a=http://127.0.0.1:2380",
            "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" \
             or \"discovery-srv\"",
        ),
    ];
    for (line, expected) in table {
        let got = error(line, &[]);
        assert_eq!(got, ConfigError::Invalid(expected.to_string()), "{line}");
        assert_eq!(got.exit_code(), 1);
        assert!(!got.message().contains('\n'), "one-line error for {line}");
    }
}

#[test]
fn cors_lists_exact_origins_or_star() {
    let config = run("--cors=http://b.example,http://a.example", &[]);
    assert_eq!(config.cors, ["http://a.example", "http://b.example"]);
    assert!(config.cors_allows("http://a.example"));
    assert!(!config.cors_allows("http://c.example"));
    assert!(run("--cors=*", &[]).cors_allows("http://c.example"));
}

#[test]
fn harmless_etcd_flags_are_accepted_and_reported_as_ignored() {
    let config = run(
        "--auto-compaction-retention=1 --auto-compaction-mode=revision \
         --grpc-keepalive-timeout=30s --metrics=extensive --enable-pprof --cert-file= --client-cert-auth=false \
         --proxy=off --initial-election-tick-advance=false --experimental-warning-apply-duration=200ms",
        &[],
    );
    assert!(config.notices.iter().any(|notice| notice.contains("--grpc-keepalive-timeout is accepted")));
    // A bad value for an ignored flag is still a usage error, as in etcd.
    assert_eq!(
        error("--grpc-keepalive-timeout=soon", &[]),
        ConfigError::Usage(r#"invalid value "soon" for flag -grpc-keepalive-timeout: parse error"#.into())
    );
}

#[test]
fn every_flag_also_comes_from_its_etcd_variable_and_the_command_line_wins() {
    let config = run(
        "--name from-flag --initial-cluster from-flag=http://localhost:2380",
        &[
            ("ETCD_NAME", "from-env"),
            ("ETCD_DATA_DIR", "/var/lib/concord"),
            ("ETCD_HEARTBEAT_INTERVAL", "200"),
            ("ETCD_ELECTION_TIMEOUT", "2000"),
            ("ETCD_INITIAL_CLUSTER_STATE", "existing"),
            ("ETCD_STRICT_RECONFIG_CHECK", "false"),
            ("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:2379,http://10.0.0.1:2379"),
            ("ETCD_ADVERTISE_CLIENT_URLS", "http://10.0.0.1:2379"),
            ("ETCD_FOO", "bar"),
            ("ETCD_SNAPSHOT_COUNT", ""),
            ("ETCDCTL_API", "2"),
            ("HOME", "/root"),
        ],
    );
    assert_eq!(config.name, "from-flag");
    assert_eq!(config.data_dir, PathBuf::from("/var/lib/concord"));
    assert_eq!((config.heartbeat_interval_ms, config.election_timeout_ms), (200, 2000));
    assert_eq!(config.initial_cluster_state, ClusterState::Existing);
    assert!(!config.strict_reconfig_check);
    assert_eq!(urls(&config.listen_client_urls), ["http://10.0.0.1:2379", "http://127.0.0.1:2379"]);
    assert_eq!(config.snapshot_count, 100_000, "an empty variable counts as unset");
    let notices = config.notices.join("\n");
    assert!(
        notices.contains(
            "recognized environment variable ETCD_NAME, but unused: shadowed by corresponding flag"
        )
    );
    assert!(notices.contains("recognized and used environment variable ETCD_DATA_DIR=/var/lib/concord"));
    assert!(notices.contains("unrecognized environment variable ETCD_FOO=bar"));
    assert!(!notices.contains("ETCDCTL_API"), "only ETCD_ variables are etcd's");

    // A bad variable stops the start with exit status 1 (not a usage error).
    let bad = error("", &[("ETCD_HEARTBEAT_INTERVAL", "abc")]);
    assert_eq!(
        bad,
        ConfigError::Invalid(r#"invalid value "abc" for ETCD_HEARTBEAT_INTERVAL: parse error"#.into())
    );
    assert_eq!(
        error("", &[("ETCD_FORCE_NEW_CLUSTER", "yes")]),
        ConfigError::Invalid(r#"invalid value "yes" for ETCD_FORCE_NEW_CLUSTER: parse error"#.into())
    );
    // ETCD_VERSION does not turn a start into a version print.
    assert!(matches!(load(&[], &env(&[("ETCD_VERSION", "true")])), Ok(Loaded::Run(_))));
}

#[test]
fn version_and_help_are_commands() {
    assert_eq!(load(&args("--version"), &env(&[])), Ok(Loaded::PrintVersion));
    assert_eq!(load(&args("-version=true"), &env(&[])), Ok(Loaded::PrintVersion));
    assert!(matches!(load(&args("--version=false"), &env(&[])), Ok(Loaded::Run(_))));
    assert_eq!(load(&args("-h"), &env(&[])), Ok(Loaded::PrintHelp));
    assert_eq!(load(&args("--name x --help --bogus"), &env(&[])), Ok(Loaded::PrintHelp));
    // Go stops at the first error: a bad flag before --help wins.
    assert!(load(&args("--bogus --help"), &env(&[])).is_err());
    // A positional argument is refused before --version is looked at, as in etcd.
    assert!(load(&args("--version extra"), &env(&[])).is_err());

    assert!(version_text().starts_with("concord Version: 0.1.0\n"));
    let help = help_text();
    assert!(help.starts_with(&usage_text()));
    for line in ["  --name 'default'", "  --snapshot-count '100000'", "  --initial-cluster-state 'new'"] {
        assert!(help.contains(line), "help lists {line:?}");
    }
    assert!(help.contains(
        "  --quota-backend-bytes '0'\n    Raise alarms when backend size exceeds the given quota.\n"
    ));
}

#[test]
fn the_backend_quota_follows_etcds_rules() {
    let default = server::node::DEFAULT_QUOTA_BACKEND_BYTES;
    assert_eq!(default, 2 * 1024 * 1024 * 1024, "etcd's default is 2 GiB");
    assert_eq!(run("", &[]).quota_backend_bytes, Some(default));
    assert_eq!(run("--quota-backend-bytes=0", &[]).quota_backend_bytes, Some(default), "0 is the default");
    assert_eq!(run("--quota-backend-bytes=100000", &[]).quota_backend_bytes, Some(100_000));
    let disabled = run("--quota-backend-bytes=-1", &[]);
    assert_eq!(disabled.quota_backend_bytes, None, "a negative quota turns it off");
    assert!(disabled.notices.iter().any(|notice| notice == "disabled backend quota"));
    let huge = run("--quota-backend-bytes=9000000000", &[]);
    assert_eq!(huge.quota_backend_bytes, Some(9_000_000_000));
    assert!(huge.notices.iter().any(|notice| notice.contains("exceeds maximum value")));
    assert!(matches!(error("--quota-backend-bytes=lots", &[]), ConfigError::Usage(_)));
}

#[test]
fn auto_compaction_flags_read_etcds_retention_forms() {
    use server::config::AutoCompactionFlags;
    assert_eq!(run("", &[]).auto_compaction, AutoCompactionFlags::Off);
    let hours = run("--auto-compaction-retention=5", &[]);
    assert_eq!(hours.auto_compaction, AutoCompactionFlags::Periodic { retention_ms: 5 * 3_600_000 });
    let duration = run("--auto-compaction-mode=periodic --auto-compaction-retention=1h30m", &[]);
    assert_eq!(duration.auto_compaction, AutoCompactionFlags::Periodic { retention_ms: 5_400_000 });
    let revisions = run("--auto-compaction-mode=revision --auto-compaction-retention=1000", &[]);
    assert_eq!(revisions.auto_compaction, AutoCompactionFlags::Revision { retention_revisions: 1000 });
    assert_eq!(run("--max-txn-ops=4", &[]).max_txn_ops, 4);
    let bad_mode = error("--auto-compaction-mode=sometimes --auto-compaction-retention=1", &[]);
    assert_eq!(bad_mode.message(), r#"unknown auto-compaction-mode "sometimes""#);
    let bad_retention = error("--auto-compaction-mode=revision --auto-compaction-retention=1h", &[]);
    assert_eq!(bad_retention.message(), r#"invalid auto-compaction-retention "1h""#);
}

#[test]
fn the_watch_progress_notify_interval_is_used_when_above_zero_as_in_etcd() {
    assert_eq!(run("", &[]).watch_progress_notify_interval_ms, None, "etcd's 10 minutes");
    let set = run("--experimental-watch-progress-notify-interval=1500ms", &[]);
    assert_eq!(set.watch_progress_notify_interval_ms, Some(1500));
    assert!(set.notices.iter().all(|notice| !notice.contains("watch-progress")), "{:?}", set.notices);
    let zero = run("--experimental-watch-progress-notify-interval=0s", &[]);
    assert_eq!(zero.watch_progress_notify_interval_ms, None, "etcd keeps its default for zero");
    let from_env = run("", &[("ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL", "2s")]);
    assert_eq!(from_env.watch_progress_notify_interval_ms, Some(2000));
}

#[test]
fn discovery_salts_ids_with_its_url_and_starts_from_this_member_alone() {
    let config = run(
        "--name=d1 --initial-advertise-peer-urls=http://10.0.0.1:2380 --discovery=http://disc:2379/v2/keys/t \
         --discovery-fallback=exit --discovery-proxy=http://squid:3128",
        &[],
    );
    assert!(config.discovery.is_enabled());
    assert_eq!(config.discovery.fallback, server::config::DiscoveryFallback::Exit);
    assert_eq!(config.discovery.http_proxy, "http://squid:3128");
    assert_eq!(config.initial_cluster_token, "http://disc:2379/v2/keys/t");
    assert_eq!(config.initial_cluster.len(), 1);
    assert_eq!(config.initial_cluster[0].name, "d1");
    // Without discovery the fallback is etcd 3.4's default, proxy.
    assert_eq!(run("", &[]).discovery.fallback, server::config::DiscoveryFallback::Proxy);
}

#[test]
fn dns_discovery_flags_are_read_and_the_member_starts_alone_until_the_records_are_read() {
    let config = run(
        "--name=infra0 --initial-advertise-peer-urls=http://infra0.example.com:2380 \
         --discovery-srv=example.com --discovery-srv-name=east --initial-cluster-token=t1",
        &[],
    );
    assert!(config.discovery.is_srv_enabled());
    assert!(!config.discovery.is_enabled(), "DNS discovery is not URL discovery");
    assert_eq!(config.discovery.srv_domain, "example.com");
    assert_eq!(config.discovery.srv_service_name, "east");
    assert_eq!(config.initial_cluster_token, "t1", "DNS discovery keeps the cluster token");
    assert_eq!(config.initial_cluster.len(), 1);
    assert_eq!(config.initial_cluster[0].name, "infra0");
    assert!(config.notices.iter().all(|notice| !notice.contains("discovery-srv")), "{:?}", config.notices);
    // The same from etcd's variables.
    let from_variables =
        run("--name=infra0", &[("ETCD_DISCOVERY_SRV", "example.com"), ("ETCD_DISCOVERY_SRV_NAME", "east")]);
    assert_eq!(from_variables.discovery, config.discovery);
    // A service name alone clears the default initial cluster, as etcdmain does.
    assert!(run("--discovery-srv-name=east", &[]).initial_cluster.is_empty());
}

#[test]
fn proxy_flags_are_read_and_a_proxy_needs_no_advertised_client_urls() {
    let config = run(
        "--proxy=readonly --listen-client-urls=http://127.0.0.1:8080 --proxy-failure-wait=100 \
         --proxy-refresh-interval=200 --proxy-dial-timeout=300 --proxy-write-timeout=400 --proxy-read-timeout=500",
        &[],
    );
    let proxy = config.proxy;
    assert_eq!(proxy.mode, server::config::ProxyMode::Readonly);
    assert_eq!(
        (
            proxy.failure_wait_ms,
            proxy.refresh_interval_ms,
            proxy.dial_timeout_ms,
            proxy.write_timeout_ms,
            proxy.read_timeout_ms
        ),
        (100, 200, 300, 400, 500)
    );
    assert_eq!(run("", &[]).proxy, server::config::ProxyFlags::default());
}

#[test]
fn the_v2_watch_history_defaults_to_etcds_thousand_events_and_can_grow_within_a_byte_cap() {
    assert_eq!(run("", &[]).v2_watch_history, store::HistoryLimits::default());
    assert_eq!(run("", &[]).v2_watch_history.max_events, 1000);
    let roomy = run("--v2-watch-history=50000 --v2-watch-history-bytes=33554432", &[]);
    assert_eq!(roomy.v2_watch_history, store::HistoryLimits { max_events: 50_000, max_bytes: 33_554_432 });
    let from_environment = run("", &[("ETCD_V2_WATCH_HISTORY", "2000")]);
    assert_eq!(from_environment.v2_watch_history.max_events, 2000);
    let ConfigError::Invalid(message) = error("--v2-watch-history=0", &[]) else { panic!("0 is invalid") };
    assert!(message.contains("1 to 10000000 events"), "{message}");
    assert!(matches!(error("--v2-watch-history-bytes=10", &[]), ConfigError::Invalid(_)));
}
