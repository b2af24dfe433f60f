//! v3 key commands (`put`, `get`, `del`, `compaction`) and the global flags, run by real etcdctl 3.4
//! and by concordctl against their own fresh etcd: the normalised transcripts must be identical, and
//! where the reference recorded etcdctl's output (/work/shared/reference/etcd-v3-behaviour.md), both
//! must print exactly that.

mod common;

use common::v3::{Tool, V3Server, compare_on_one_server, compare_sessions, run_v3, step};
use common::{free_port_pair, tools_available};

const BASE_PORT: u16 = 25000;

#[test]
fn the_recorded_key_session_prints_what_etcdctl_printed() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "srn", "pes1ug21cs001"]).prints("OK\n"),
            step(&["get", "srn"]).prints("srn\npes1ug21cs001\n"),
            step(&["get", "srn", "-w", "json"]).prints(
                "{\"header\":{\"cluster_id\":{cluster#},\"member_id\":{self#},\"revision\":2,\"raft_term\":2},\
                 \"kvs\":[{\"key\":\"c3Ju\",\"create_revision\":2,\"mod_revision\":2,\"version\":1,\
                 \"value\":\"cGVzMXVnMjFjczAwMQ==\"}],\"count\":1}\n",
            ),
            step(&["put", "srn", "v2", "--prev-kv"]).prints("OK\nsrn\npes1ug21cs001\n"),
            step(&["put", "a", "1"]).prints("OK\n"),
            step(&["put", "b", "2"]).prints("OK\n"),
            step(&["put", "c", "3"]).prints("OK\n"),
            step(&["get", "a", "c"]).prints("a\n1\nb\n2\n"),
            step(&["get", "", "--prefix", "--keys-only"]).prints("a\n\nb\n\nc\n\nsrn\n\n"),
            step(&["get", "b", "--from-key", "--print-value-only"]).prints("2\n3\nv2\n"),
            step(&["get", "", "--prefix", "--limit=2", "-w", "json"]).prints(
                "{\"header\":{\"cluster_id\":{cluster#},\"member_id\":{self#},\"revision\":6,\"raft_term\":2},\
                 \"kvs\":[{\"key\":\"YQ==\",\"create_revision\":4,\"mod_revision\":4,\"version\":1,\"value\":\"MQ==\"},\
                 {\"key\":\"Yg==\",\"create_revision\":5,\"mod_revision\":5,\"version\":1,\"value\":\"Mg==\"}],\
                 \"more\":true,\"count\":4}\n",
            ),
            step(&["get", "", "--prefix", "--sort-by=MODIFY", "--order=DESCEND", "--print-value-only"])
                .prints("3\n2\n1\nv2\n"),
            step(&["get", "a", "--rev=2"]).prints(""),
            step(&["get", "missing"]).prints(""),
            step(&["del", "a"]).prints("1\n"),
            step(&["del", "missing"]).prints("0\n"),
            step(&["del", "", "--prefix", "--prev-kv"]).prints("3\nb\n2\nc\n3\nsrn\nv2\n"),
            step(&["put", "", "x"]).fails("Error: etcdserver: key is not provided\n", 1),
        ],
    );
}

#[test]
fn every_output_format_matches_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "b", "2", "-w", "json"]),
            step(&["put", "b", "3", "-w", "json", "--prev-kv"]),
            step(&["put", "b", "4", "-w", "fields", "--prev-kv"]),
            step(&["put", "b", "5", "-w", "table"]).fails("Error: table not supported as output format\n", 4),
            step(&["put", "b", "6"]),
            step(&["put", "q\tx\"y", "v\u{1}é"]),
            step(&["get", "b", "-w", "fields"]),
            step(&["get", "", "--prefix", "-w", "fields"]),
            step(&["get", "", "--prefix", "--hex"]),
            step(&["get", "", "--prefix", "--hex", "-w", "fields"]),
            step(&["get", "nope", "-w", "json"]),
            step(&["get", "nope", "-w", "fields"]),
            step(&["get", "b", "-w", "json", "--print-value-only"]),
            step(&["get", "b", "--write-out=simple", "--keys-only", "--hex=true"]),
            step(&["del", "b", "-w", "json", "--prev-kv"]),
            step(&["del", "b", "-w", "fields"]),
            step(&["del", "q", "--from-key", "-w", "fields", "--prev-kv"]),
            step(&["-w", "yaml", "get", "a"]).fails("Error: unsupported output format\n", 4),
        ],
    );
}

#[test]
fn ranges_sorting_limits_and_revisions_match_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "k1", "z"]),
            step(&["put", "k2", "y"]),
            step(&["put", "k3", "x"]),
            step(&["put", "k1", "w"]),
            step(&["put", "l", "v"]),
            step(&["get", "k1", "k3"]),
            step(&["get", "k", "--prefix", "--sort-by=VALUE"]),
            step(&["get", "k", "--prefix", "--sort-by=version", "--order=descend"]),
            step(&["get", "k", "--prefix", "--sort-by=CREATE", "--order=DESCEND", "--limit", "2"]),
            step(&["get", "k", "--prefix", "--order=ASCEND", "-w", "json"]),
            step(&["get", "k", "--prefix", "--rev=3", "-w", "json"]),
            step(&["get", "k", "--prefix", "--consistency=s", "--keys-only"]),
            step(&["get", "k2", "--from-key", "--limit=2", "-w", "fields"]),
            step(&["get", "k", "--prefix", "--rev=99"]),
            step(&["del", "k1", "k3", "--prev-kv"]),
            step(&["del", "", "--from-key"]),
        ],
    );
}

#[test]
fn argument_errors_match_etcdctl() {
    if !tools_available() {
        return;
    }
    let needs_two = "Error: put command needs 1 argument and input from stdin or 2 arguments\n";
    let get_args = "Error: get command needs one argument as key and an optional argument as range_end\n";
    let del_args = "Error: del command needs one argument as key and an optional argument as range_end\n";
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put"]).fails(needs_two, 128),
            step(&["put", "a"]).fails(needs_two, 128),
            step(&["put", "a", "b", "c"]).prints("OK\n"),
            step(&["put", "a", "--ignore-value", "b"])
                .fails("Error: put command needs only 1 argument when 'ignore-value' is set\n", 128),
            step(&["put", "a", "--lease=zz", "b"]).fails(
                "Error: bad lease ID (strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID in Hex\n",
                128,
            ),
            step(&["put", "a", "--ignore-value", "--prev-kv"]).prints("OK\na\nb\n"),
            step(&["put", "nothing", "--ignore-value"]).fails("Error: etcdserver: key not found\n", 1),
            step(&["get"]).fails(get_args, 128),
            step(&["get", "a", "--prefix", "--from-key"]).fails(
                "Error: `--prefix` and `--from-key` cannot be set at the same time, choose one\n",
                128,
            ),
            step(&["get", "a", "b", "--prefix"]).fails(
                "Error: too many arguments, only accept one argument when `--prefix` or `--from-key` is set\n",
                128,
            ),
            step(&["get", "a", "--consistency=x"]).fails("Error: unknown consistency flag \"x\"\n", 4),
            step(&["get", "a", "--order=x"]).fails("Error: bad sort order x\n", 4),
            step(&["get", "a", "--sort-by=x"]).fails("Error: bad sort target x\n", 4),
            step(&["get", "a", "-w", "json", "--print-value-only"])
                .fails("Error: print-value-only is only for `--write-out=simple`\n", 128),
            step(&["del"]).fails(del_args, 128),
            step(&["del", "a", "b", "c"]).fails(del_args, 128),
            step(&["compaction"]).fails("Error: compaction command needs 1 argument\n", 128),
            step(&["compaction", "x"]).fails("Error: strconv.ParseInt: parsing \"x\": invalid syntax\n", 1),
        ],
    );
}

#[test]
fn a_value_can_come_from_stdin() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "k"]).stdin("from stdin\nsecond line").prints("OK\n"),
            step(&["get", "k"]).prints("k\nfrom stdin\nsecond line\n"),
            step(&["put", "--", "dash", "-value"]).prints("OK\n"),
            step(&["get", "dash", "--print-value-only"]).prints("-value\n"),
        ],
    );
}

#[test]
fn compaction_matches_etcdctl() {
    if !tools_available() {
        return;
    }
    let compacted = "Error: etcdserver: mvcc: required revision has been compacted\n";
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "k", "1"]),
            step(&["put", "k", "2"]),
            step(&["put", "k", "3"]),
            step(&["compaction", "3"]).prints("compacted revision 3\n"),
            step(&["get", "k", "--rev=2"]).fails(compacted, 1),
            step(&["get", "k", "--rev=3"]).prints("k\n2\n"),
            step(&["compaction", "2"]).fails(compacted, 1),
            step(&["compaction", "--physical", "4", "-w", "json"]).prints("compacted revision 4\n"),
            step(&["compaction", "40"])
                .fails("Error: etcdserver: mvcc: required revision is a future revision\n", 1),
        ],
    );
}

#[test]
fn endpoints_come_from_flags_or_the_environment_like_etcdctl() {
    if !tools_available() {
        return;
    }
    let (closed_port, _) = free_port_pair(BASE_PORT);
    let closed = format!("127.0.0.1:{closed_port}");
    let unreachable_then_good = format!("--endpoints={closed},{{endpoint}}");
    let unreachable = format!("--endpoints={closed}");
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "k", "v"]),
            step(&["get", "k"]).environment(&[("ETCDCTL_ENDPOINTS", "{endpoint}")]),
            step(&[&unreachable_then_good, "get", "k"]).prints("k\nv\n"),
            step(&["--endpoints=http://{endpoint}", "get", "k"]).prints("k\nv\n"),
            step(&[&unreachable, "--command-timeout=1s", "get", "k"])
                .fails("Error: context deadline exceeded\n", 1),
            step(&["get", "k"]).environment(&[("ETCDCTL_WRITE_OUT", "fields"), ("ETCDCTL_HEX", "true")]),
            step(&["get", "k"])
                .environment(&[("ETCDCTL_ENDPOINTS", "{endpoint}"), ("ETCDCTL_COLOUR", "blue")]),
            step(&["get", "k", "-w", "json"]).environment(&[("ETCDCTL_WRITE_OUT", "fields")]),
        ],
    );
}

#[test]
fn a_flag_shadowing_its_environment_variable_is_fatal_as_in_etcdctl() {
    if !tools_available() {
        return;
    }
    for tool in [Tool::Etcdctl, Tool::Concordctl] {
        let outcome =
            run_v3(tool, &["--endpoints=127.0.0.1:1", "get", "k"], b"", &[("ETCDCTL_ENDPOINTS", "x")]);
        assert_eq!(outcome.code, 1, "{tool:?}: {outcome}");
        assert!(outcome.stdout.is_empty(), "{tool:?}: {outcome}");
        assert!(
            outcome.stderr.ends_with(
                " C | pkg/flags: conflicting environment variable \"ETCDCTL_ENDPOINTS\" is shadowed by \
                 corresponding command-line flag (either unset environment variable or disable flag)\n"
            ),
            "{tool:?}: {outcome}"
        );
    }
}

#[test]
fn unknown_flags_and_commands_fail_with_exit_code_1() {
    if !tools_available() {
        return;
    }
    for tool in [Tool::Etcdctl, Tool::Concordctl] {
        let outcome = run_v3(tool, &["get", "a", "--count-only"], b"", &[]);
        assert_eq!(outcome.code, 1, "{tool:?}: {outcome}");
        assert!(outcome.stderr.starts_with("Error: unknown flag: --count-only\n"), "{tool:?}: {outcome}");
        let outcome = run_v3(tool, &["bogus"], b"", &[]);
        assert_eq!(outcome.code, 1, "{tool:?}: {outcome}");
        assert!(outcome.stderr.starts_with("Error: unknown command \"bogus\" for "), "{tool:?}: {outcome}");
        let outcome = run_v3(tool, &["--dial-timeout=soon", "get", "k"], b"", &[]);
        assert_eq!(outcome.code, 1, "{tool:?}: {outcome}");
        assert!(
            outcome.stderr.starts_with(
                "Error: invalid argument \"soon\" for \"--dial-timeout\" flag: time: invalid duration \"soon\"\n"
            ),
            "{tool:?}: {outcome}"
        );
    }
}

#[test]
fn binary_and_raw_outputs_are_byte_identical_on_the_same_server() {
    if !tools_available() {
        return;
    }
    let server = V3Server::start(BASE_PORT);
    for (key, value) in [("a", "1"), ("b", "two words"), ("c\tx", "v\u{1}\u{7f}é")] {
        let outcome = run_v3(Tool::Etcdctl, &["--endpoints", &server.endpoint, "put", key, value], b"", &[]);
        assert_eq!(outcome.code, 0, "{outcome}");
    }
    compare_on_one_server(
        &server,
        &[
            &["get", "", "--prefix", "-w", "protobuf"],
            &["get", "", "--prefix", "-w", "json"],
            &["get", "", "--prefix", "-w", "fields"],
            &["get", "", "--prefix", "--hex"],
            &["get", "c", "--prefix"],
            &["get", "a", "--rev=2", "-w", "protobuf"],
            &["get", "", "--prefix", "--limit=1", "-w", "protobuf", "--keys-only"],
        ],
    );
}
