//! Scenarios for `--config-file`: the three YAML files of the assignment seed (etcd 3.5's tutorial
//! cluster), written well-formed, each load into the member they describe and together form one
//! cluster; and etcd's rules for config files, checked against etcd 3.4.23.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use server::config::{ClusterState, ConfigError, ConfigSource, Loaded, ServerConfig, load_with_reader};

/// `etcd1.conf.yml` from `shared/seeds/etcd-assignment.txt`, with the PDF's line wrapping undone
/// (the seed prints `initial-cluster:` and its value over three lines).
const ETCD1: &str = "\
name: etcd-1
data-dir: /etcd1
initial-advertise-peer-urls: http://127.0.0.2:2390
listen-peer-urls: http://127.0.0.2:2390
listen-client-urls: http://127.0.0.2:2369,http://localhost:2369
advertise-client-urls: http://127.0.0.2:2369
initial-cluster-token: etcd-cluster
initial-cluster: etcd-1=http://127.0.0.2:2390,etcd-2=http://127.0.0.2:2391,etcd-3=http://127.0.0.2:2392
initial-cluster-state: new
";

const ETCD2: &str = "\
name: etcd-2
data-dir: /etcd2
initial-advertise-peer-urls: http://127.0.0.2:2391
listen-peer-urls: http://127.0.0.2:2391
listen-client-urls: http://127.0.0.2:2359,http://localhost:2359
advertise-client-urls: http://127.0.0.2:2359
initial-cluster-token: etcd-cluster
initial-cluster: etcd-1=http://127.0.0.2:2390,etcd-2=http://127.0.0.2:2391,etcd-3=http://127.0.0.2:2392
initial-cluster-state: new
";

const ETCD3: &str = "\
name: etcd-3
data-dir: /etcd3
initial-advertise-peer-urls: http://127.0.0.2:2392
listen-peer-urls: http://127.0.0.2:2392
listen-client-urls: http://127.0.0.2:2389,http://localhost:2389
advertise-client-urls: http://127.0.0.2:2389
initial-cluster-token: etcd-cluster
initial-cluster: etcd-1=http://127.0.0.2:2390,etcd-2=http://127.0.0.2:2391,etcd-3=http://127.0.0.2:2392
initial-cluster-state: new
";

/// The seed's first file exactly as the PDF text prints it.
const ETCD1_AS_PRINTED: &str = "\
name: etcd-1
data-dir: /etcd1
initial-advertise-peer-urls: http://127.0.0.2:2390
listen-peer-urls: http://127.0.0.2:2390
listen-client-urls: http://127.0.0.2:2369,http://localhost:2369
advertise-client-urls: http://127.0.0.2:2369
initial-cluster-token: etcd-cluster
initial-cluster:
etcd-1=http://127.0.0.2:2390,etcd-2=http://127.0.0.2:2391,etcd-3=h
ttp://127.0.0.2:2392
initial-cluster-state: new
";

fn load_file(contents: &str, line: &str, env: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
    let mut args: Vec<String> = vec!["--config-file".to_string(), "member.yml".to_string()];
    args.extend(line.split_whitespace().map(str::to_string));
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let contents = contents.to_string();
    let reader = move |path: &Path| -> Result<String, String> {
        assert_eq!(path, Path::new("member.yml"));
        Ok(contents.clone())
    };
    match load_with_reader(&args, &env, &reader)? {
        Loaded::Run(config) => Ok(*config),
        other => panic!("expected a config, got {other:?}"),
    }
}

fn urls(list: &[server::config::Url]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[test]
fn the_three_seed_files_each_describe_their_member() {
    let table = [
        (ETCD1, "etcd-1", "/etcd1", "2390", ["http://127.0.0.2:2369", "http://localhost:2369"]),
        (ETCD2, "etcd-2", "/etcd2", "2391", ["http://127.0.0.2:2359", "http://localhost:2359"]),
        (ETCD3, "etcd-3", "/etcd3", "2392", ["http://127.0.0.2:2389", "http://localhost:2389"]),
    ];
    for (contents, name, data_dir, peer_port, client_urls) in table {
        let config = load_file(contents, "", &[]).expect("seed file loads");
        assert_eq!(config.name, name);
        assert_eq!(config.data_dir, PathBuf::from(data_dir));
        assert_eq!(urls(&config.listen_peer_urls), [format!("http://127.0.0.2:{peer_port}")]);
        assert_eq!(urls(&config.initial_advertise_peer_urls), [format!("http://127.0.0.2:{peer_port}")]);
        assert_eq!(urls(&config.listen_client_urls), client_urls);
        assert_eq!(urls(&config.advertise_client_urls), [client_urls[0]]);
        assert_eq!(config.initial_cluster_token, "etcd-cluster");
        assert_eq!(config.initial_cluster_state, ClusterState::New);
        let names: Vec<&str> = config.initial_cluster.iter().map(|member| member.name.as_str()).collect();
        assert_eq!(names, ["etcd-1", "etcd-2", "etcd-3"]);
        assert_eq!(config.source, ConfigSource::File(PathBuf::from("member.yml")));
        // Defaults fill what the file leaves out.
        assert_eq!((config.heartbeat_interval_ms, config.election_timeout_ms), (100, 1000));
        assert_eq!(config.snapshot_count, 100_000);
    }
}

#[test]
fn the_three_seed_members_agree_on_one_cluster() {
    let memberships: Vec<_> = [ETCD1, ETCD2, ETCD3]
        .into_iter()
        .map(|contents| {
            load_file(contents, "", &[]).unwrap().initial_membership().expect("bootstrap checks pass")
        })
        .collect();
    for membership in &memberships {
        assert_eq!(membership.cluster_id, memberships[0].cluster_id);
        assert_eq!(membership.members, memberships[0].members);
    }
    let locals: Vec<u64> = memberships.iter().map(|membership| membership.local_id).collect();
    assert_eq!(locals.len(), 3);
    assert!(locals[0] != locals[1] && locals[1] != locals[2] && locals[0] != locals[2]);
}

#[test]
fn with_a_config_file_flags_and_variables_are_ignored_but_still_parsed() {
    let config = load_file(ETCD1, "--name other --heartbeat-interval=50", &[("ETCD_NAME", "env")]).unwrap();
    assert_eq!(config.name, "etcd-1");
    assert_eq!(config.heartbeat_interval_ms, 100);
    // Flag syntax is still checked first, as Go's flag package runs before the file is read.
    assert_eq!(
        load_file(ETCD1, "--heartbeat-interval=abc", &[]),
        Err(ConfigError::Usage(r#"invalid value "abc" for flag -heartbeat-interval: parse error"#.into()))
    );

    // ETCD_CONFIG_FILE names the file when the flag does not.
    let env: BTreeMap<String, String> = [("ETCD_CONFIG_FILE", "from-env.yml"), ("ETCD_NAME", "ignored")]
        .map(|(k, v)| (k.into(), v.into()))
        .into();
    let reader = |path: &Path| -> Result<String, String> {
        assert_eq!(path, Path::new("from-env.yml"));
        Ok(ETCD2.to_string())
    };
    match load_with_reader(&[], &env, &reader) {
        Ok(Loaded::Run(config)) => assert_eq!(config.name, "etcd-2"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_seed_as_printed_is_refused_like_etcd_with_a_hint() {
    // etcd 3.4.23 says: error converting YAML to JSON: yaml: line 10: could not find expected ':'.
    let error = load_file(ETCD1_AS_PRINTED, "", &[]).unwrap_err();
    assert_eq!(error.exit_code(), 1);
    let message = error.message();
    assert!(message.starts_with("config file member.yml: error parsing YAML: "), "{message}");
    assert!(message.contains("split across two lines"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

#[test]
fn yaml_values_follow_etcd_rules() {
    // Empty values keep defaults; keys match case-insensitively; unknown keys are reported.
    let config = load_file(
        "Name: cf\nwal-dir:\nheartbeat-interval: 50\nelection-timeout: 500\nstrict-reconfig-check: false\n\
         log-outputs: [stderr]\nhearbeat-interval: 7\nclient-transport-security:\n  cert-file:\n  auto-tls: false\n",
        "",
        &[],
    )
    .unwrap();
    assert_eq!(config.name, "cf");
    assert_eq!(config.wal_dir, None);
    assert_eq!((config.heartbeat_interval_ms, config.election_timeout_ms), (50, 500));
    assert!(!config.strict_reconfig_check);
    assert_eq!(config.log_outputs, ["stderr"]);
    assert!(config.notices.iter().any(|notice| notice.contains("unknown option \"hearbeat-interval\"")));
    // A name alone keeps the default initial cluster under that name, as with flags.
    assert_eq!(config.initial_cluster[0].name, "cf");

    let table = [
        (
            "name: a\nheartbeat-interval: abc\n",
            "heartbeat-interval must be a non-negative integer, not a string",
        ),
        (
            "name: a\nheartbeat-interval: \"100\"\n",
            "heartbeat-interval must be a non-negative integer, not a string",
        ),
        (
            "name: a\nelection-timeout: 100\n",
            "--election-timeout[100ms] should be at least as 5 times as --heartbeat-interval[100ms]",
        ),
        (
            "name: cf\nlisten-peer-urls: ftp://x:1\n",
            "unexpected error setting up listen-peer-urls: URL scheme must be http or https: ftp://x:1",
        ),
        ("name: cf\ninitial-cluster-state: bogus\n", "unexpected clusterState \"bogus\""),
        ("force-new-cluster: maybe\n", "force-new-cluster must be true or false, not a string"),
        ("- a\n- b\n", "expected a YAML mapping of option names to values"),
        (
            "listen-client-urls: https://127.0.0.1:2379\nadvertise-client-urls: https://127.0.0.1:2379\n\
             client-transport-security:\n  cert-file: /x.pem\n",
            "KeyFile and CertFile must both be present[key: , cert: /x.pem]",
        ),
    ];
    for (contents, expected) in table {
        let error = load_file(contents, "", &[]).unwrap_err();
        let message = error.message();
        assert!(message.ends_with(expected), "{contents:?}: {message}");
        assert_eq!(error.exit_code(), 1);
    }

    // An empty file is etcd's defaults.
    assert_eq!(load_file("", "", &[]).unwrap().name, "default");
}

#[test]
fn a_missing_file_stops_the_start() {
    let args: Vec<String> = ["--config-file", "/nonexistent/concord.yml"].map(String::from).to_vec();
    let error = server::config::load(&args, &BTreeMap::new()).unwrap_err();
    assert_eq!(error.exit_code(), 1);
    assert!(error.message().starts_with("open /nonexistent/concord.yml: "), "{error}");
}

#[test]
fn a_config_file_names_the_dns_discovery_domain_and_service() {
    let config = load_file(
        "name: infra1\ndiscovery-srv: example.com\ndiscovery-srv-name: east\n\
         initial-advertise-peer-urls: http://infra1.example.com:2380\n",
        "",
        &[],
    )
    .unwrap();
    assert_eq!(config.discovery.srv_domain, "example.com");
    assert_eq!(config.discovery.srv_service_name, "east");
    assert_eq!(config.initial_cluster.len(), 1, "this member alone until the records are read");
}
