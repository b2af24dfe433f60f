//! v3 `txn`: transactions read from stdin, in every output format and with every kind of bad input,
//! run by real etcdctl 3.4 and by concordctl against their own fresh etcd; the normalised transcripts
//! must be identical, and match the recorded examples.

mod common;

use common::tools_available;
use common::v3::{compare_sessions, step};

const BASE_PORT: u16 = 25400;

#[test]
fn the_recorded_transactions_print_what_etcdctl_printed() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "srn", "three"]).prints("OK\n"),
            step(&["txn"])
                .stdin("value(\"srn\") = \"three\"\n\nput srn four\n\nput other x\n\n")
                .prints("SUCCESS\n\nOK\n"),
            step(&["txn", "-w", "json"]).stdin("value(\"srn\") = \"nope\"\n\nput srn five\n\nget srn\n\n").prints(
                "{\"header\":{\"cluster_id\":{cluster#},\"member_id\":{self#},\"revision\":3,\"raft_term\":2},\
                 \"responses\":[{\"Response\":{\"ResponseRange\":{\"header\":{\"revision\":3},\"kvs\":[{\"key\":\
                 \"c3Ju\",\"create_revision\":2,\"mod_revision\":3,\"version\":2,\"value\":\"Zm91cg==\"}],\
                 \"count\":1}}}]}\n",
            ),
        ],
    );
}

#[test]
fn every_kind_of_compare_and_request_matches_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["put", "a", "b"]),
            step(&["txn"]).stdin("value(\"a\") = \"b\"\n\nput a c\nget a\ndel zz\n\nput x y\n\n"),
            step(&["txn", "-w", "fields"])
                .stdin("value(\"a\") = \"b\"\n\nput a c\nget a\ndel zz\n\nput x y\n\n"),
            step(&["txn", "-w", "json"])
                .stdin("value(\"a\") = \"c\"\n\nput a d --prev-kv\nget a\ndel zz\n\nput x y\n\n"),
            step(&["txn", "-w", "table"]).stdin("\n\nget a\n\n\n"),
            step(&["txn"]).stdin(
                "ver(\"a\") = \"3\"\nc(\"a\") != \"0\"\nm(\"a\") > \"1\"\n\nget a --prefix --keys-only\n\n\n",
            ),
            step(&["txn"]).stdin("version(\"a\") < \"2\"\n\n\nput a e\ndel x --prev-kv\n\n"),
            step(&["txn", "-i"]).stdin("mod(\"a\") < \"100\"\ncreate(\"a\") != \"0\"\n\nget a --rev=3\n\n\n"),
            step(&["txn"]).stdin("val(\"a\") = \"e\"\n\nput \"a b\" \"x y\"\nget \"a b\"\n\n\n"),
            step(&["txn"]).stdin("\n\n\n"),
            step(&["txn"]).stdin("value(\"a\") = \"e\"\n\nput k v\nput k w\n\n\n"),
            step(&["get", "", "--prefix"]),
        ],
    );
}

#[test]
fn bad_transactions_fail_like_etcdctl() {
    if !tools_available() {
        return;
    }
    compare_sessions(
        BASE_PORT,
        &[
            step(&["txn", "x"]).fails("Error: txn command does not accept argument\n", 128),
            step(&["txn"]).stdin("bogus\n\n\n\n").fails("Error: malformed comparison: bogus\n", 3),
            step(&["txn"])
                .stdin("value(a) = \"1\"\n\n\n\n")
                .fails("Error: malformed comparison: value(a) = \"1\"; got value(\"\")  \"\"\n", 3),
            step(&["txn"])
                .stdin("foo(\"a\") = \"1\"\n\n\n\n")
                .fails("Error: malformed comparison: foo(\"a\") = \"1\" (unknown target foo)\n", 3),
            step(&["txn"])
                .stdin("ver(\"a\") = \"x\"\n\n\n\n")
                .fails("Error: invalid txn compare request: ver(\"a\") = \"x\"\n", 3),
            step(&["txn"]).stdin("ver(\"a\") = \"1\"\n\n").fails("Error: EOF\n", 3),
            step(&["txn"]).stdin("").fails("Error: EOF\n", 3),
            step(&["txn"])
                .stdin("\n\nput a\n\n\n")
                .fails("Error: put command needs 1 argument and input from stdin or 2 arguments\n", 128),
            step(&["txn"]).stdin("\n\nbump a\n\n\n").fails("Error: invalid txn request: bump a\n", 3),
            step(&["txn"]).stdin("\n\nget\n\n\n").fails("Error: invalid txn compare request: get\n", 3),
            step(&["txn"]).stdin("\n\nget a --prefix --from-key\n\n\n").fails(
                "Error: `--prefix` and `--from-key` cannot be set at the same time, choose one\n",
                128,
            ),
            step(&["txn"]).stdin("\n\nput \"\" v\n\n\n").fails("Error: etcdserver: key is not provided\n", 1),
        ],
    );
}
