//! Scenarios for v3 auth inside the node: the root rules around enabling, tokens assigned through the
//! log (known on every member, expiring five minutes after their last use), permissions checked on
//! reads, writes and watches with etcd's errors, a write refused at apply when auth changed after it
//! was checked, and the auth state surviving a restart. Password hashes are opaque strings here: the
//! node only compares them (bcrypt runs in the gRPC layer).

mod node_common;

use mvcc::{AuthCommand, Permission, PermissionType, PutRequest, RangeRequest};
use node_common::Cluster;
use server::node::{
    AuthReply, AuthRequest, ClientRequest, Reply, RequestError, V3Reply, V3Request, WatchCreate,
};

const ROOT_HASH: &str = "hash-of-root-password";
const ALICE_HASH: &str = "hash-of-alice-password";

fn on_behalf(token: Option<&str>, request: V3Request) -> ClientRequest {
    ClientRequest::V3(match token {
        Some(token) => V3Request::Authorized { token: token.to_string(), request: Box::new(request) },
        None => request,
    })
}

fn ask(
    cluster: &mut Cluster,
    at: u64,
    id: u64,
    token: Option<&str>,
    request: V3Request,
) -> Result<V3Reply, String> {
    match cluster.request(at, id, on_behalf(token, request)).result {
        Ok(Reply::V3(reply)) => Ok(reply),
        Err(RequestError::Refused(why)) => Err(why),
        other => panic!("request {id}: unexpected answer {other:?}"),
    }
}

fn change(
    cluster: &mut Cluster,
    at: u64,
    id: u64,
    token: Option<&str>,
    command: AuthCommand,
) -> Result<(), String> {
    ask(cluster, at, id, token, V3Request::Auth(AuthRequest::Change(command))).map(|_| ())
}

fn user_add(name: &str, hash: &str) -> AuthCommand {
    AuthCommand::UserAdd { name: name.to_string(), password_hash: Some(hash.to_string()) }
}

fn grant_role(name: &str, role: &str) -> AuthCommand {
    AuthCommand::UserGrantRole { name: name.to_string(), role: role.to_string() }
}

fn foo_prefix(permission_type: PermissionType) -> AuthCommand {
    let permission = Permission { permission_type, key: b"foo".to_vec(), range_end: b"fop".to_vec() };
    AuthCommand::RoleGrantPermission { name: "reader".to_string(), permission }
}

/// What the gRPC layer does: fetch the hash, (check the password), have a token assigned.
fn authenticate(cluster: &mut Cluster, at: u64, id: u64, name: &str) -> Result<String, String> {
    let lookup = V3Request::Auth(AuthRequest::PasswordHash { name: name.to_string() });
    let Ok(V3Reply::Auth(AuthReply::PasswordHash(hash))) = ask(cluster, at, id, None, lookup) else {
        return Err(format!("no hash for {name}"));
    };
    let assign = AuthRequest::Authenticate {
        name: name.to_string(),
        checked_hash: hash,
        token_prefix: "TestPrefixLetter".to_string(),
    };
    match ask(cluster, at, id + 1, None, V3Request::Auth(assign))? {
        V3Reply::Auth(AuthReply::Token(token)) => Ok(token),
        other => panic!("expected a token, got {other:?}"),
    }
}

fn put(key: &str) -> V3Request {
    V3Request::Put(PutRequest::new(key.as_bytes(), b"v"))
}

fn get(key: &str) -> V3Request {
    V3Request::Range(RangeRequest::key(key.as_bytes()))
}

/// A three-member cluster with root (root role) and alice (role reader: read on the `foo` prefix),
/// auth enabled.
fn cluster_with_auth() -> (Cluster, u64) {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    let refused = change(&mut cluster, leader, 1, None, AuthCommand::Enable);
    assert_eq!(refused, Err("etcdserver: root user does not exist".to_string()));
    change(&mut cluster, leader, 2, None, user_add("root", ROOT_HASH)).unwrap();
    let refused = change(&mut cluster, leader, 3, None, AuthCommand::Enable);
    assert_eq!(refused, Err("etcdserver: root user does not have root role".to_string()));
    change(&mut cluster, leader, 4, None, grant_role("root", "root")).unwrap();
    change(&mut cluster, leader, 5, None, AuthCommand::RoleAdd { name: "reader".to_string() }).unwrap();
    change(&mut cluster, leader, 6, None, foo_prefix(PermissionType::Read)).unwrap();
    change(&mut cluster, leader, 7, None, user_add("alice", ALICE_HASH)).unwrap();
    change(&mut cluster, leader, 8, None, grant_role("alice", "reader")).unwrap();
    change(&mut cluster, leader, 9, None, AuthCommand::Enable).unwrap();
    (cluster, leader)
}

#[test]
fn a_token_assigned_on_one_member_works_on_every_member() {
    let (mut cluster, leader) = cluster_with_auth();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let token = authenticate(&mut cluster, follower, 100, "root").unwrap();
    assert!(token.starts_with("TestPrefixLetter."), "{token}");
    for id in 1..=3 {
        ask(&mut cluster, id, 110 + id, Some(&token), put("anything")).unwrap();
    }
    let users = ask(&mut cluster, leader, 120, Some(&token), V3Request::Auth(AuthRequest::UserList)).unwrap();
    assert_eq!(users, V3Reply::Auth(AuthReply::Users(vec!["alice".to_string(), "root".to_string()])));
}

#[test]
fn requests_without_a_valid_token_get_etcds_errors() {
    let (mut cluster, leader) = cluster_with_auth();
    assert_eq!(
        ask(&mut cluster, leader, 100, None, get("foo")),
        Err("etcdserver: user name is empty".to_string())
    );
    let unknown = ask(&mut cluster, leader, 101, Some("nope.1"), get("foo"));
    assert_eq!(unknown, Err("etcdserver: invalid auth token".to_string()));
    let missing = authenticate(&mut cluster, leader, 102, "mallory");
    assert_eq!(missing, Err("no hash for mallory".to_string()));
}

#[test]
fn a_users_roles_decide_what_it_may_read_write_and_watch() {
    let (mut cluster, leader) = cluster_with_auth();
    let alice = authenticate(&mut cluster, leader, 100, "alice").unwrap();
    let denied = Err("etcdserver: permission denied".to_string());
    assert!(ask(&mut cluster, leader, 110, Some(&alice), get("foo/1")).is_ok());
    assert_eq!(ask(&mut cluster, leader, 111, Some(&alice), get("bar")), denied);
    assert_eq!(ask(&mut cluster, leader, 112, Some(&alice), put("foo/1")), denied);
    let admin_only = ask(&mut cluster, leader, 113, Some(&alice), V3Request::Auth(AuthRequest::UserList));
    assert_eq!(admin_only, denied);
    let own = ask(
        &mut cluster,
        leader,
        114,
        Some(&alice),
        V3Request::Auth(AuthRequest::UserGet { name: "alice".into() }),
    );
    assert_eq!(own, Ok(V3Reply::Auth(AuthReply::Roles(vec!["reader".to_string()]))));
    let watch_bar =
        WatchCreate { key: b"bar".to_vec(), token: Some(alice.clone()), ..WatchCreate::default() };
    let refused = cluster.request(leader, 115, ClientRequest::V3Watch(watch_bar)).result;
    assert_eq!(refused, Err(RequestError::Refused("etcdserver: permission denied".to_string())));
    let watch_foo =
        WatchCreate { key: b"foo/1".to_vec(), token: Some(alice.clone()), ..WatchCreate::default() };
    assert!(cluster.request(leader, 116, ClientRequest::V3Watch(watch_foo)).result.is_ok());
    let root = authenticate(&mut cluster, leader, 120, "root").unwrap();
    change(&mut cluster, leader, 122, Some(&root), foo_prefix(PermissionType::ReadWrite)).unwrap();
    assert!(ask(&mut cluster, leader, 123, Some(&alice), put("foo/1")).is_ok());
}

#[test]
fn a_write_checked_before_a_revoke_is_refused_when_applied_after_it() {
    let (mut cluster, leader) = cluster_with_auth();
    let root = authenticate(&mut cluster, leader, 100, "root").unwrap();
    let alice = authenticate(&mut cluster, leader, 102, "alice").unwrap();
    change(&mut cluster, leader, 104, Some(&root), foo_prefix(PermissionType::ReadWrite)).unwrap();
    // The revoke is proposed first, alice's write (allowed when checked) right after: both are in
    // the log before either is applied.
    let revoke = AuthCommand::RoleRevokePermission {
        name: "reader".into(),
        key: b"foo".to_vec(),
        range_end: b"fop".to_vec(),
    };
    let now = cluster.now;
    let node = cluster.nodes.get_mut(&leader).unwrap();
    node.submit(110, on_behalf(Some(&root), V3Request::Auth(AuthRequest::Change(revoke))), now);
    node.submit(111, on_behalf(Some(&alice), put("foo/1")), now);
    cluster.settle();
    assert!(cluster.answers[&110].result.is_ok());
    let refused = cluster.answers[&111].result.clone();
    assert_eq!(refused, Err(RequestError::Refused("etcdserver: revision of auth store is old".to_string())));
    let retried = ask(&mut cluster, leader, 112, Some(&alice), put("foo/1"));
    assert_eq!(retried, Err("etcdserver: permission denied".to_string()));
    let range = ask(&mut cluster, leader, 113, Some(&root), get("foo/1")).unwrap();
    let V3Reply::Range(range) = range else { panic!("expected a range") };
    assert!(range.kvs.is_empty(), "the refused write did not happen");
}

#[test]
fn a_token_expires_five_minutes_after_its_last_use() {
    let (mut cluster, leader) = cluster_with_auth();
    let alice = authenticate(&mut cluster, leader, 100, "alice").unwrap();
    cluster.tick_all(2900); // 290 s
    assert!(ask(&mut cluster, leader, 110, Some(&alice), get("foo")).is_ok(), "used in time: refreshed");
    cluster.tick_all(2900);
    assert!(ask(&mut cluster, leader, 111, Some(&alice), get("foo")).is_ok(), "refreshed again");
    cluster.tick_all(3010);
    let expired = ask(&mut cluster, leader, 112, Some(&alice), get("foo"));
    assert_eq!(expired, Err("etcdserver: invalid auth token".to_string()));
}

#[test]
fn deleting_a_user_or_changing_its_password_ends_its_tokens() {
    let (mut cluster, leader) = cluster_with_auth();
    let root = authenticate(&mut cluster, leader, 100, "root").unwrap();
    let alice = authenticate(&mut cluster, leader, 102, "alice").unwrap();
    let new_password =
        AuthCommand::UserChangePassword { name: "alice".into(), password_hash: Some("other".into()) };
    change(&mut cluster, leader, 110, Some(&root), new_password).unwrap();
    let ended = ask(&mut cluster, leader, 111, Some(&alice), get("foo"));
    assert_eq!(ended, Err("etcdserver: invalid auth token".to_string()));
    let delete_root =
        change(&mut cluster, leader, 112, Some(&root), AuthCommand::UserDelete { name: "root".into() });
    assert_eq!(delete_root, Err("etcdserver: invalid auth management".to_string()));
}

#[test]
fn auth_survives_a_restart_and_a_snapshot() {
    let mut cluster = Cluster::new(3, 5);
    let leader = cluster.elect();
    change(&mut cluster, leader, 1, None, user_add("root", ROOT_HASH)).unwrap();
    change(&mut cluster, leader, 2, None, grant_role("root", "root")).unwrap();
    change(&mut cluster, leader, 3, None, AuthCommand::Enable).unwrap();
    let root = authenticate(&mut cluster, leader, 4, "root").unwrap();
    for id in 0..12 {
        ask(&mut cluster, leader, 10 + id, Some(&root), put("k")).unwrap();
    }
    for id in 1..=3 {
        cluster.crash(id);
        cluster.start(id);
    }
    let leader = cluster.elect();
    assert_eq!(
        ask(&mut cluster, leader, 50, None, get("k")),
        Err("etcdserver: user name is empty".to_string())
    );
    let root = authenticate(&mut cluster, leader, 51, "root").unwrap();
    assert!(ask(&mut cluster, leader, 53, Some(&root), get("k")).is_ok());
}

#[test]
fn admin_calls_need_the_root_role_while_auth_is_on() {
    let (mut cluster, leader) = cluster_with_auth();
    let root = authenticate(&mut cluster, leader, 100, "root").unwrap();
    let alice = authenticate(&mut cluster, leader, 102, "alice").unwrap();
    let check = || V3Request::Auth(AuthRequest::CheckAdmin);
    assert_eq!(ask(&mut cluster, leader, 110, Some(&root), check()), Ok(V3Reply::Auth(AuthReply::Permitted)));
    assert_eq!(
        ask(&mut cluster, leader, 111, Some(&alice), check()),
        Err("etcdserver: permission denied".into())
    );
    assert_eq!(ask(&mut cluster, leader, 112, None, check()), Err("etcdserver: user name is empty".into()));
    assert_eq!(
        ask(&mut cluster, leader, 113, Some(&alice), V3Request::Snapshot).err(),
        Some("etcdserver: permission denied".into())
    );
    change(&mut cluster, leader, 114, Some(&root), AuthCommand::Disable).unwrap();
    assert_eq!(ask(&mut cluster, leader, 115, None, check()), Ok(V3Reply::Auth(AuthReply::Permitted)));
}

#[test]
fn a_write_proposed_without_a_token_just_before_auth_is_enabled_is_refused_when_applied() {
    let mut cluster = Cluster::new(3, 1000);
    let leader = cluster.elect();
    change(&mut cluster, leader, 1, None, user_add("root", ROOT_HASH)).unwrap();
    change(&mut cluster, leader, 2, None, grant_role("root", "root")).unwrap();
    // Both are in the log before either is applied: the put was checked while auth was still off.
    let now = cluster.now;
    let node = cluster.nodes.get_mut(&leader).unwrap();
    node.submit(10, on_behalf(None, V3Request::Auth(AuthRequest::Change(AuthCommand::Enable))), now);
    node.submit(11, on_behalf(None, put("foo/1")), now);
    node.submit(
        12,
        on_behalf(None, V3Request::Compact(mvcc::CompactionRequest { revision: 1, physical: false })),
        now,
    );
    cluster.settle();
    assert!(cluster.answers[&10].result.is_ok(), "auth enabled");
    let refused = cluster.answers[&11].result.clone();
    assert_eq!(refused, Err(RequestError::Refused("etcdserver: user name is empty".to_string())));
    assert!(cluster.answers[&12].result.is_ok(), "compaction stays open, as in etcd 3.4");
    let root = authenticate(&mut cluster, leader, 20, "root").unwrap();
    for member in 1..=3 {
        let mut range = RangeRequest::key(b"foo/1");
        range.serializable = true;
        let Ok(V3Reply::Range(found)) =
            ask(&mut cluster, member, 30 + member, Some(&root), V3Request::Range(range))
        else {
            panic!("member {member}: expected a range");
        };
        assert!(found.kvs.is_empty(), "member {member} applied the unchecked write");
    }
}

#[test]
fn a_linearizable_read_is_checked_after_its_read_index_so_a_committed_revoke_is_honoured() {
    let (mut cluster, leader) = cluster_with_auth();
    let root = authenticate(&mut cluster, leader, 100, "root").unwrap();
    let alice = authenticate(&mut cluster, leader, 102, "alice").unwrap();
    let behind = (1..=3).find(|id| *id != leader).unwrap();
    assert!(ask(&mut cluster, behind, 104, Some(&alice), get("foo/1")).is_ok(), "alice may read foo/1");
    // The member falls behind (hears nothing) while the revoke commits on the other two.
    let set_aside = cluster.nodes.remove(&behind).unwrap();
    let revoke = AuthCommand::RoleRevokePermission {
        name: "reader".into(),
        key: b"foo".to_vec(),
        range_end: b"fop".to_vec(),
    };
    change(&mut cluster, leader, 110, Some(&root), revoke).unwrap();
    cluster.nodes.insert(behind, set_aside);
    // alice's read reaches it before the revoke does: its copy still allows the read, but the read
    // index covers the revoke, and the check comes once that index is applied.
    let read = ask(&mut cluster, behind, 111, Some(&alice), get("foo/1"));
    assert_eq!(read, Err("etcdserver: permission denied".to_string()));
}
