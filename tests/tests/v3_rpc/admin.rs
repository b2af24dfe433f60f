//! The Cluster, Maintenance and Auth parts of the script, as a one-member cluster with authentication
//! disabled answers them.

use api::etcdserverpb::alarm_request::AlarmAction;
use api::etcdserverpb::{
    AlarmRequest, AuthDisableRequest, AuthEnableRequest, AuthRoleAddRequest, AuthRoleDeleteRequest,
    AuthRoleGetRequest, AuthRoleGrantPermissionRequest, AuthRoleListRequest, AuthRoleRevokePermissionRequest,
    AuthUserAddRequest, AuthUserChangePasswordRequest, AuthUserDeleteRequest, AuthUserGetRequest,
    AuthUserGrantRoleRequest, AuthUserListRequest, AuthUserRevokeRoleRequest, AuthenticateRequest,
    DefragmentRequest, HashKvRequest, HashRequest, MemberAddRequest, MemberListRequest, MemberPromoteRequest,
    MemberRemoveRequest, MemberUpdateRequest, MoveLeaderRequest, StatusRequest,
};

use super::session::Session;

/// A peer URL nobody listens on, for the learner the script adds and removes.
const LEARNER_PEER_URL: &str = "http://127.0.0.1:1";

/// Membership: the list, the errors a one-member cluster gives, a learner added, refused promotion and
/// removed, and an update of the member itself.
pub async fn cluster(session: &mut Session, peer_url: &str) {
    let answer = session.cluster.member_list(MemberListRequest {}).await;
    let list = session.record("MemberList", answer, &[]);
    let member_id = list.and_then(|list| list.members.first().map(|member| member.id)).unwrap_or(0);
    membership_errors(session, peer_url, member_id).await;
    let add = MemberAddRequest { peer_ur_ls: vec![LEARNER_PEER_URL.to_string()], is_learner: true };
    // Lists are by ID and the learner's ID is random: put them in peer URL order to compare.
    let answer = session.cluster.member_add(add).await.map(|response| {
        let mut added = response.into_inner();
        added.members.sort_by(|left, right| left.peer_ur_ls.cmp(&right.peer_ur_ls));
        added
    });
    let learner = answer.as_ref().ok().and_then(|added| added.member.as_ref().map(|member| member.id));
    if let Some(learner) = learner {
        session.name(learner.to_string(), "<learner-id>");
    }
    session.record_value("MemberAdd a learner", &answer, &[]);
    let learner = learner.unwrap_or(0);
    while_a_learner_exists(session, member_id).await;
    let answer = session.cluster.member_promote(MemberPromoteRequest { id: learner }).await;
    session.record("MemberPromote the learner (not started)", answer, &[]);
    let answer = session.cluster.member_remove(MemberRemoveRequest { id: learner }).await;
    session.record("MemberRemove the learner", answer, &[]);
    let update = MemberUpdateRequest { id: member_id, peer_ur_ls: vec![peer_url.to_string()] };
    let answer = session.cluster.member_update(update).await;
    session.record("MemberUpdate the member, same peer URL", answer, &[]);
    let answer = session.cluster.member_remove(MemberRemoveRequest { id: member_id }).await;
    session.record("MemberRemove the only voter", answer, &[]);
}

/// Adding a voter that is not running to a one-member cluster (it would lose its quorum): last, as a
/// server that accepted it could answer nothing more.
pub async fn add_a_voter(session: &mut Session) {
    let add = MemberAddRequest { peer_ur_ls: vec!["http://127.0.0.1:4".to_string()], is_learner: false };
    let answer = session.cluster.member_add(add).await.map(|response| {
        let mut added = response.into_inner();
        added.members.sort_by(|left, right| left.peer_ur_ls.cmp(&right.peer_ur_ls));
        added
    });
    if let Some(voter) = answer.as_ref().ok().and_then(|added| added.member.as_ref()) {
        session.name(voter.id.to_string(), "<voter-id>");
    }
    session.record_value("MemberAdd a voter that is not running", &answer, &[]);
}

/// What a cluster with a learner refuses: a second learner, a URL the learner has.
async fn while_a_learner_exists(session: &mut Session, member_id: u64) {
    let add = MemberAddRequest { peer_ur_ls: vec!["http://127.0.0.1:3".to_string()], is_learner: true };
    let answer = session.cluster.member_add(add).await;
    session.record("MemberAdd a second learner", answer, &[]);
    let update = MemberUpdateRequest { id: member_id, peer_ur_ls: vec![LEARNER_PEER_URL.to_string()] };
    let answer = session.cluster.member_update(update).await;
    session.record("MemberUpdate to the learner's peer URL", answer, &[]);
    let add = MemberAddRequest { peer_ur_ls: Vec::new(), is_learner: false };
    let answer = session.cluster.member_add(add).await;
    session.record("MemberAdd without peer URLs", answer, &[]);
}

/// The errors a one-member cluster gives for members it does not have or cannot change.
async fn membership_errors(session: &mut Session, peer_url: &str, member_id: u64) {
    let add = MemberAddRequest { peer_ur_ls: vec![peer_url.to_string()], is_learner: false };
    let answer = session.cluster.member_add(add).await;
    session.record("MemberAdd an existing peer URL", answer, &[]);
    let add = MemberAddRequest { peer_ur_ls: vec!["not a url".to_string()], is_learner: false };
    let answer = session.cluster.member_add(add).await;
    session.record("MemberAdd a malformed peer URL", answer, &[]);
    let answer = session.cluster.member_remove(MemberRemoveRequest { id: 12_345 }).await;
    session.record("MemberRemove unknown", answer, &[]);
    let update = MemberUpdateRequest { id: 12_345, peer_ur_ls: vec!["http://127.0.0.1:2".to_string()] };
    let answer = session.cluster.member_update(update).await;
    session.record("MemberUpdate unknown", answer, &[]);
    let answer = session.cluster.member_promote(MemberPromoteRequest { id: 12_345 }).await;
    session.record("MemberPromote unknown", answer, &[]);
    let answer = session.cluster.member_promote(MemberPromoteRequest { id: member_id }).await;
    session.record("MemberPromote the voter", answer, &[]);
}

/// Maintenance: status, hashes at revisions, alarms, defragmentation.
pub async fn maintenance(session: &mut Session, revisions: &[i64]) {
    let status_masks = ["leader", "raft_index", "raft_applied_index", "db_size", "db_size_in_use", "version"];
    let answer = session.maintenance.status(StatusRequest {}).await;
    session.record("Status", answer, &status_masks);
    let answer = session.maintenance.hash(HashRequest {}).await;
    session.record("Hash", answer, &["hash"]);
    for &revision in revisions {
        let answer = session.maintenance.hash_kv(HashKvRequest { revision }).await;
        session.record(&format!("HashKV revision {revision}"), answer, &[]);
    }
    let alarm = AlarmRequest { action: AlarmAction::Get as i32, member_id: 0, alarm: 0 };
    let answer = session.maintenance.alarm(alarm).await;
    session.record("Alarm GET", answer, &[]);
    let answer = session.maintenance.defragment(DefragmentRequest {}).await;
    session.record("Defragment", answer, &[]);
    let answer = session.maintenance.hash_kv(HashKvRequest { revision: -1 }).await;
    session.record("HashKV revision -1", answer, &[]);
    let answer = session.maintenance.move_leader(MoveLeaderRequest { target_id: 12_345 }).await;
    session.record("MoveLeader to an unknown member", answer, &[]);
}

/// The NOSPACE alarm raised and cleared by a client, and what it does to writes meanwhile.
pub async fn alarms(session: &mut Session, member_id: u64) {
    let nospace = api::etcdserverpb::AlarmType::Nospace as i32;
    let activate = AlarmRequest { action: AlarmAction::Activate as i32, member_id, alarm: nospace };
    let answer = session.maintenance.alarm(activate).await;
    session.record("Alarm ACTIVATE NOSPACE", answer, &[]);
    let answer = session.kv.put(super::kv::put("alarmed", "x")).await;
    session.record("Put while NOSPACE is raised", answer, &[]);
    let answer = session.kv.range(super::kv::range("a", "")).await;
    session.record("Range while NOSPACE is raised", answer, &[]);
    let answer = session.maintenance.status(StatusRequest {}).await;
    let status_masks = ["leader", "raft_index", "raft_applied_index", "db_size", "db_size_in_use", "version"];
    session.record("Status while NOSPACE is raised", answer, &status_masks);
    let get = AlarmRequest { action: AlarmAction::Get as i32, member_id: 0, alarm: 0 };
    let answer = session.maintenance.alarm(get).await;
    session.record("Alarm GET while NOSPACE is raised", answer, &[]);
    let deactivate = AlarmRequest { action: AlarmAction::Deactivate as i32, member_id, alarm: nospace };
    let answer = session.maintenance.alarm(deactivate).await;
    session.record("Alarm DEACTIVATE NOSPACE", answer, &[]);
    let answer = session.kv.put(super::kv::put("alarmed", "x")).await;
    session.record("Put after NOSPACE is cleared", answer, &[]);
}

/// Auth with authentication disabled and no users or roles.
pub async fn auth(session: &mut Session) {
    let answer =
        session.auth.authenticate(AuthenticateRequest { name: "root".into(), password: "x".into() }).await;
    session.record("Authenticate", answer, &[]);
    let answer = session.auth.auth_enable(AuthEnableRequest {}).await;
    session.record("AuthEnable without root", answer, &[]);
    let answer = session.auth.auth_disable(AuthDisableRequest {}).await;
    session.record("AuthDisable", answer, &[]);
    let answer = session.auth.user_list(AuthUserListRequest {}).await;
    session.record("UserList", answer, &[]);
    let answer = session.auth.role_list(AuthRoleListRequest {}).await;
    session.record("RoleList", answer, &[]);
    let answer = session.auth.user_get(AuthUserGetRequest { name: "nobody".into() }).await;
    session.record("UserGet unknown", answer, &[]);
    let answer = session.auth.role_get(AuthRoleGetRequest { role: "nobody".into() }).await;
    session.record("RoleGet unknown", answer, &[]);
    let answer =
        session.auth.user_add(AuthUserAddRequest { name: String::new(), ..Default::default() }).await;
    session.record("UserAdd empty name", answer, &[]);
    let answer = session.auth.role_add(AuthRoleAddRequest { name: String::new() }).await;
    session.record("RoleAdd empty name", answer, &[]);
    auth_unknown_names(session).await;
    let user = AuthUserAddRequest { name: "root".into(), password: "secret".into(), ..Default::default() };
    let answer = session.auth.user_add(user).await;
    session.record("UserAdd root", answer, &[]);
    let answer = session.auth.role_add(AuthRoleAddRequest { name: "reader".into() }).await;
    session.record("RoleAdd reader", answer, &[]);
}

/// Requests naming users and roles that do not exist.
async fn auth_unknown_names(session: &mut Session) {
    let answer = session.auth.user_delete(AuthUserDeleteRequest { name: "nobody".into() }).await;
    session.record("UserDelete unknown", answer, &[]);
    let change = AuthUserChangePasswordRequest { name: "nobody".into(), password: "p".into() };
    let answer = session.auth.user_change_password(change).await;
    session.record("UserChangePassword unknown", answer, &[]);
    let grant = AuthUserGrantRoleRequest { user: "nobody".into(), role: "none".into() };
    let answer = session.auth.user_grant_role(grant).await;
    session.record("UserGrantRole unknown", answer, &[]);
    let revoke = AuthUserRevokeRoleRequest { name: "nobody".into(), role: "none".into() };
    let answer = session.auth.user_revoke_role(revoke).await;
    session.record("UserRevokeRole unknown", answer, &[]);
    let answer = session.auth.role_delete(AuthRoleDeleteRequest { role: "none".into() }).await;
    session.record("RoleDelete unknown", answer, &[]);
    let grant = AuthRoleGrantPermissionRequest { name: "none".into(), perm: None };
    let answer = session.auth.role_grant_permission(grant).await;
    session.record("RoleGrantPermission unknown", answer, &[]);
    let revoke =
        AuthRoleRevokePermissionRequest { role: "none".into(), key: b"k".to_vec(), range_end: Vec::new() };
    let answer = session.auth.role_revoke_permission(revoke).await;
    session.record("RoleRevokePermission unknown", answer, &[]);
}
