//! v3 cluster and maintenance commands (`member`, `endpoint`, `move-leader`, `alarm`, `defrag`,
//! `version`), run by real etcdctl 3.4 and by concordctl against their own fresh etcd; member IDs are
//! captured from `member add` (`{member1}`), the server's own as `{self}`.

mod common;

use common::v3::{
    Tool, V3Server, compare_on_one_server, compare_sessions, compare_sessions_with, run_v3, step,
};
use common::{free_port_pair, tools_available};

const BASE_PORT: u16 = 26600;

#[test]
fn the_recorded_member_list_prints_what_etcdctl_printed() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["member", "list"]).prints("{self}, started, solo, {peer-url}, {client-url}, false\n"),
            step(&["member", "list", "-w", "json"]).prints(
                "{\"header\":{\"cluster_id\":{cluster#},\"member_id\":{self#},\"raft_term\":2},\"members\":[{\"ID\":\
                 {self#},\"name\":\"solo\",\"peerURLs\":[\"{peer-url}\"],\"clientURLs\":[\"{client-url}\"]}]}\n",
            ),
            step(&["member", "list", "-w", "table"]),
            step(&["member", "list", "-w", "fields"]),
        ],
    );
}

#[test]
fn learners_are_added_updated_and_removed_like_etcdctl() {
    if !tools_available() {
        return;
    }
    // Members are listed by ID and a new member's ID is random: listings of two members are compared
    // line by line here, and byte for byte on one server in `a_learner_is_listed_the_same_way_on_one_server`.
    compare_sessions(
        BASE_PORT,
        &[
            step(&["member", "add", "l1", "--learner", "--peer-urls=http://127.0.0.1:2"]).prints(
                "Member {member1} added to cluster {cluster}\n\nETCD_NAME=\"l1\"\n\
                 ETCD_INITIAL_CLUSTER=\"l1=http://127.0.0.1:2,solo={peer-url}\"\n\
                 ETCD_INITIAL_ADVERTISE_PEER_URLS=\"http://127.0.0.1:2\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
            ),
            step(&["member", "list"]).lines_in_any_order(),
            step(&["member", "list", "-w", "table"]).lines_in_any_order(),
            step(&["member", "list", "-w", "fields"]).exit_code_only(),
            step(&["member", "add", "l2", "--learner", "--peer-urls=http://127.0.0.1:3"])
                .fails("Error: etcdserver: too many learner members in cluster\n", 1),
            step(&["member", "promote", "{member1}"])
                .fails("Error: etcdserver: can only promote a learner member which is in sync with leader\n", 1),
            step(&["member", "update", "{member1}", "--peer-urls=http://127.0.0.1:4"])
                .prints("Member {member1} updated in cluster {cluster}\n"),
            step(&["member", "update", "{member1}", "--peer-urls=http://127.0.0.1:5", "-w", "json"]).exit_code_only(),
            step(&["member", "update", "{member1}", "--peer-urls=http://127.0.0.1:6", "-w", "fields"])
                .fails("Error: fields not supported as output format\n", 4),
            step(&["member", "remove", "{member1}"]).prints("Member {member1} removed from cluster {cluster}\n"),
            step(&["member", "remove", "{member1}"]).fails("Error: etcdserver: member not found\n", 1),
            step(&["member", "add", "l3", "--learner", "--peer-urls", "http://127.0.0.1:7", "-w", "json"])
                .exit_code_only(),
            step(&["member", "remove", "{member2}", "-w", "json"]).prints(
                "{\"header\":{\"cluster_id\":{cluster#},\"member_id\":{self#},\"raft_term\":2},\"members\":[{\"ID\":\
                 {self#},\"name\":\"solo\",\"peerURLs\":[\"{peer-url}\"],\"clientURLs\":[\"{client-url}\"]}]}\n",
            ),
            step(&["member", "list"]).prints("{self}, started, solo, {peer-url}, {client-url}, false\n"),
        ],
    );
}

#[test]
fn a_learner_is_listed_the_same_way_on_one_server() {
    if !tools_available() {
        return;
    }
    let server = V3Server::start(BASE_PORT);
    let add = [
        "--endpoints",
        &server.endpoint,
        "member",
        "add",
        "l1",
        "--learner",
        "--peer-urls=http://127.0.0.1:2",
    ];
    assert_eq!(run_v3(Tool::Etcdctl, &add, b"", &[]).code, 0);
    compare_on_one_server(
        &server,
        &[
            &["member", "list"],
            &["member", "list", "-w", "json"],
            &["member", "list", "-w", "table"],
            &["member", "list", "-w", "fields"],
            &["member", "list", "-w", "protobuf"],
        ],
    );
}

#[test]
fn member_argument_errors_match_etcdctl() {
    if !tools_available() {
        return;
    }
    let no_id = "Error: member ID is not provided\n";
    compare_sessions(
        BASE_PORT,
        &[
            step(&["member", "add"]).fails("Error: member name not provided\n", 128),
            step(&["member", "add", "a", "b"]).fails("Error: too many arguments\n", 128),
            step(&["member", "add", "a", "http://x"])
                .fails("Error: too many arguments, did you mean --peer-urls=http://x\n", 128),
            step(&["member", "add", "a"]).fails("Error: member peer urls not provided\n", 128),
            step(&["member", "remove"]).fails(no_id, 128),
            step(&["member", "promote", "a", "b"]).fails(no_id, 128),
            step(&["member", "remove", "zz"]).fails(
                "Error: bad member ID arg (strconv.ParseUint: parsing \"zz\": invalid syntax), expecting ID in Hex\n",
                128,
            ),
            step(&["member", "update", "{self}"]).fails("Error: member peer urls not provided\n", 128),
            step(&["member", "promote", "1234"]).fails("Error: etcdserver: member not found\n", 1),
        ],
    );
}

#[test]
fn endpoint_commands_match_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "a", "1"]),
            step(&["endpoint", "status"])
                .prints("{endpoint}, {self}, 3.4.23, <size>, true, false, 2, <index>, <index>, \n"),
            step(&["endpoint", "status", "-w", "table"]),
            step(&["endpoint", "status", "-w", "json"]),
            step(&["endpoint", "status", "-w", "fields"]),
            step(&["endpoint", "status", "-w", "protobuf"])
                .fails("Error: protobuf not supported as output format\n", 4),
            step(&["endpoint", "status", "--cluster"]),
            step(&["endpoint", "--cluster", "status", "-w", "table"]),
            step(&["endpoint", "status"]).environment(&[("ETCDCTL_CLUSTER", "true")]),
            step(&["endpoint", "health"])
                .fails("{endpoint} is healthy: successfully committed proposal: took = <took>\n", 0),
            step(&["endpoint", "health", "-w", "json"]),
            // The TOOK column's width follows the duration, which differs from run to run.
            step(&["endpoint", "health", "-w", "table"]).exit_code_only(),
            step(&["endpoint", "health", "-w", "fields"]),
            step(&["endpoint", "health", "--cluster"]),
            step(&["endpoint", "hashkv"]),
            step(&["endpoint", "hashkv", "-w", "json"]),
            step(&["endpoint", "hashkv", "-w", "table"]),
            step(&["endpoint", "hashkv", "-w", "fields"]),
            step(&["endpoint", "hashkv", "--rev=1", "--cluster"]),
        ],
    );
}

#[test]
fn unreachable_endpoints_are_reported_like_etcdctl() {
    if !tools_available() {
        return;
    }
    let (closed_port, _) = free_port_pair(BASE_PORT);
    let closed = format!("--endpoints=127.0.0.1:{closed_port}");
    let both = format!("--endpoints={{endpoint}},127.0.0.1:{closed_port}");
    compare_sessions(
        BASE_PORT,
        &[
            step(&[&closed, "--command-timeout=1s", "endpoint", "status", "-w", "json"]),
            step(&[&closed, "--command-timeout=1s", "endpoint", "status", "-w", "table"]),
            step(&[&both, "--command-timeout=1s", "endpoint", "status"]),
            step(&[&both, "--command-timeout=1s", "endpoint", "hashkv"]),
            step(&[&closed, "--command-timeout=1s", "endpoint", "health"]),
            step(&[&both, "--command-timeout=1s", "endpoint", "health", "-w", "json"]),
            step(&[&closed, "--command-timeout=1s", "defrag"]),
            step(&[&closed, "--command-timeout=1s", "member", "list"]),
            step(&[&closed, "--command-timeout=1s", "endpoint", "status", "--cluster"]),
        ],
    );
}

#[test]
fn move_leader_alarms_defrag_and_version_match_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["move-leader", "{self}"]).prints("Leadership transferred from {self} to {self}\n"),
            step(&["move-leader", "{self}", "-w", "json"]).prints("{}\n"),
            step(&["move-leader", "1234"]).fails("Error: etcdserver: bad leader transferee\n", 1),
            step(&["move-leader"]).fails("Error: move-leader command needs 1 argument\n", 128),
            step(&["move-leader", "zz"])
                .fails("Error: strconv.ParseUint: parsing \"zz\": invalid syntax\n", 128),
            step(&["alarm", "list"]).prints(""),
            step(&["alarm", "list", "-w", "json"]).prints("{}\n"),
            step(&["alarm", "disarm"]).prints(""),
            step(&["alarm", "list", "x"]).fails("Error: alarm list command accepts no arguments\n", 128),
            step(&["defrag"]).prints("Finished defragmenting etcd member[{endpoint}]\n"),
            step(&["defrag", "--cluster", "-w", "json"])
                .prints("Finished defragmenting etcd member[{client-url}]\n"),
            step(&["version"]).prints("<version>\nAPI version: 3.4\n"),
        ],
    );
}

#[test]
fn a_full_backend_raises_the_nospace_alarm_like_etcd_reports_it() {
    if !tools_available() {
        return;
    }
    compare_sessions_with(
        BASE_PORT,
        &["--quota-backend-bytes=4096"],
        &[
            step(&["put", "a", "b"]).fails("Error: etcdserver: mvcc: database space exceeded\n", 1),
            step(&["alarm", "list"]).prints("memberID:{self#} alarm:NOSPACE \n"),
            step(&["alarm", "list", "-w", "json"])
                .prints("{\"alarms\":[{\"memberID\":{self#},\"alarm\":1}]}\n"),
            step(&["endpoint", "status"]),
            step(&["endpoint", "status", "-w", "json"]),
            step(&["endpoint", "status", "-w", "fields"]),
            step(&["alarm", "disarm"]).prints("memberID:{self#} alarm:NOSPACE \n"),
            step(&["alarm", "list"]).prints(""),
        ],
    );
}

#[test]
fn member_and_status_outputs_are_byte_identical_on_the_same_server() {
    if !tools_available() {
        return;
    }
    let server = V3Server::start(BASE_PORT);
    compare_on_one_server(
        &server,
        &[
            &["member", "list", "-w", "protobuf"],
            &["member", "list", "-w", "json"],
            &["member", "list", "-w", "table"],
            &["endpoint", "status", "-w", "json"],
            &["endpoint", "status", "-w", "fields"],
            &["endpoint", "hashkv", "-w", "json"],
            &["alarm", "list", "-w", "protobuf"],
        ],
    );
}
