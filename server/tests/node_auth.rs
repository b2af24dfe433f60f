//! v2 auth inside real nodes: auth writes replicate through the log to every member (with etcd's
//! store indexes), keys writes are checked when applied (a revoke ordered before a write denies it even
//! though the write was proposed while allowed), reads when served, and auth survives restarts from
//! snapshots.

use server::node::{Answer, ClientRequest, Reply, RequestError};
use store::Command;
use store::auth::{AuthCommand, Caller, Permissions};

mod node_common;

use node_common::Cluster;

fn root() -> Caller {
    Caller::User("root".to_string())
}

fn dave() -> Caller {
    Caller::User("dave".to_string())
}

fn put_user(name: &str, grant: &[&str], revoke: &[&str]) -> AuthCommand {
    AuthCommand::PutUser {
        name: name.to_string(),
        password_hash: (grant.is_empty() && revoke.is_empty()).then(|| "$2b$10$hash".to_string()),
        roles: Vec::new(),
        grant: grant.iter().map(|role| role.to_string()).collect(),
        revoke: revoke.iter().map(|role| role.to_string()).collect(),
    }
}

fn auth(cluster: &mut Cluster, at: u64, request_id: u64, caller: Caller, command: AuthCommand) -> Answer {
    cluster.request(at, request_id, ClientRequest::Auth { caller, command })
}

fn write_as(cluster: &Cluster, caller: Caller, key: &str) -> ClientRequest {
    let command = Command::Set {
        key: key.into(),
        value: "v".into(),
        dir: false,
        ttl: None,
        refresh: false,
        now: cluster.now,
    };
    ClientRequest::AsCaller { caller, request: Box::new(ClientRequest::Write(command)) }
}

fn read_as(caller: Caller, key: &str, quorum: bool) -> ClientRequest {
    let get = ClientRequest::Get { key: key.into(), recursive: false, sorted: false, quorum };
    ClientRequest::AsCaller { caller, request: Box::new(get) }
}

fn is_denied(answer: &Answer) -> bool {
    matches!(&answer.result, Err(RequestError::Store(error)) if error.code == 110 && error.index == 0)
}

/// root, dave with a role reading and writing `/foo/*`, auth on, the guest role removed.
fn set_up_auth(cluster: &mut Cluster, at: u64) {
    let reader = AuthCommand::PutRole {
        name: "foo".to_string(),
        permissions: Permissions {
            read: ["/foo/*".to_string()].into(),
            write: ["/foo/*".to_string()].into(),
            ..Permissions::default()
        },
        grant: None,
        revoke: None,
    };
    let steps = [
        (Caller::Guest, put_user("root", &[], &[])),
        (Caller::Guest, put_user("dave", &[], &[])),
        (Caller::Guest, reader),
        (Caller::Guest, put_user("dave", &["foo"], &[])),
        (Caller::Guest, AuthCommand::Enable),
        (root(), AuthCommand::DeleteRole { name: "guest".to_string() }),
    ];
    for (step, (caller, command)) in steps.into_iter().enumerate() {
        let answer = auth(cluster, at, 100 + step as u64, caller, command);
        assert!(matches!(answer.result, Ok(Reply::Auth(_))), "step {step}: {answer:?}");
    }
}

#[test]
fn auth_writes_replicate_to_every_member_with_etcds_store_indexes() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let before = cluster.nodes[&leader].store().current_index();
    set_up_auth(&mut cluster, follower);
    cluster.tick_all(3);
    // 4 auth directories, 2 users, a role, a grant, the guest role and the flag, the guest's removal.
    assert_eq!(cluster.nodes[&leader].store().current_index(), before + 11);
    let reference = cluster.nodes[&leader].auth().clone();
    assert!(reference.enabled());
    for id in 1..=3 {
        assert_eq!(cluster.nodes[&id].auth(), &reference, "member {id}");
        assert_eq!(cluster.nodes[&id].store().current_index(), before + 11, "member {id}");
    }
    let refused = auth(&mut cluster, follower, 1, dave(), AuthCommand::Disable);
    assert!(
        matches!(refused.result, Err(RequestError::Auth(ref error)) if error.status == 401),
        "{refused:?}"
    );
}

#[test]
fn a_revoke_ordered_before_a_write_denies_it_on_every_member() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    set_up_auth(&mut cluster, leader);
    let allowed = write_as(&cluster, dave(), "/foo/a");
    assert!(cluster.request(follower, 1, allowed).result.is_ok());

    // The revoke enters the leader's log first; dave's write, forwarded by the follower, lands after
    // it, so it is denied when applied although dave still had the role when he sent it.
    let now = cluster.now;
    let revoke = ClientRequest::Auth { caller: root(), command: put_user("dave", &[], &["foo"]) };
    cluster.nodes.get_mut(&leader).unwrap().submit(2, revoke, now);
    let late_write = write_as(&cluster, dave(), "/foo/b");
    cluster.nodes.get_mut(&follower).unwrap().submit(3, late_write, now);
    cluster.settle();
    assert!(cluster.answers[&2].result.is_ok());
    assert!(is_denied(&cluster.answers[&3]), "{:?}", cluster.answers[&3]);
    cluster.tick_all(3);
    for id in 1..=3 {
        assert_eq!(cluster.get(id, 10 + id, "/foo/b", false), None, "member {id} never applied the write");
        assert!(is_denied(&cluster.request(id, 20 + id, read_as(dave(), "/foo/a", false))), "member {id}");
        assert!(is_denied(&cluster.request(id, 30 + id, read_as(dave(), "/foo/a", true))), "member {id}");
        assert!(is_denied(&cluster.request(id, 40 + id, read_as(Caller::Guest, "/missing", false))));
        let root_read = cluster.request(id, 50 + id, read_as(root(), "/foo/a", false));
        assert!(matches!(root_read.result, Ok(Reply::Event(_))), "member {id}: {root_read:?}");
    }
}

#[test]
fn auth_state_survives_restarts_from_snapshots() {
    let mut cluster = Cluster::new(3, 4);
    let leader = cluster.elect();
    set_up_auth(&mut cluster, leader);
    for step in 0..10 {
        let write = write_as(&cluster, root(), &format!("/k{step}"));
        assert!(cluster.request(leader, 200 + step, write).result.is_ok());
    }
    let reference = cluster.nodes[&leader].auth().clone();
    let restarted = (1..=3).find(|id| *id != leader).unwrap();
    cluster.crash(restarted);
    cluster.start(restarted);
    cluster.tick_all(20);
    assert_eq!(cluster.nodes[&restarted].auth(), &reference);
    assert!(is_denied(&cluster.request(restarted, 300, read_as(Caller::Guest, "/k1", false))));
    let allowed = cluster.request(restarted, 301, read_as(dave(), "/foo/none", false));
    assert!(matches!(&allowed.result, Err(RequestError::Store(error)) if error.code == 100), "{allowed:?}");
}
