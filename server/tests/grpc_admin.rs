//! The Cluster, Maintenance and Auth services over the real listener and the fake backend, checked
//! against what etcd 3.4.23 answered for the same requests (headers, fields, codes and messages).

mod grpc_common;

use api::errors;
use api::etcdserverpb::alarm_request::AlarmAction;
use api::etcdserverpb::*;
use grpc_common::{CLUSTER_ID, MEMBER_ID, assert_etcd_error, assert_header, start};
use tonic::Code;

fn cluster_header() -> Option<ResponseHeader> {
    Some(ResponseHeader { cluster_id: CLUSTER_ID, member_id: MEMBER_ID, revision: 0, raft_term: 2 })
}

fn add(url: &str, is_learner: bool) -> MemberAddRequest {
    MemberAddRequest { peer_ur_ls: vec![url.to_string()], is_learner }
}

#[tokio::test]
async fn member_list_shows_the_member_with_a_header_without_revision() {
    let served = start().await;
    let listed = served.cluster().member_list(MemberListRequest {}).await.unwrap().into_inner();
    assert_eq!(listed.header, cluster_header());
    assert_eq!(listed.members.len(), 1);
    let member = &listed.members[0];
    assert_eq!((member.id, member.name.as_str(), member.is_learner), (MEMBER_ID, "default", false));
    assert_eq!(member.peer_ur_ls, ["http://localhost:2380"]);
    assert_eq!(member.client_ur_ls, ["http://localhost:2379"]);
}

#[tokio::test]
async fn a_learner_is_added_promoted_updated_and_removed() {
    let served = start().await;
    let mut cluster = served.cluster();
    let added = cluster.member_add(add("http://127.0.0.1:2390", true)).await.unwrap().into_inner();
    assert_eq!(added.header, cluster_header());
    let learner = added.member.expect("the added member");
    assert!(learner.is_learner && learner.name.is_empty());
    assert_eq!(learner.peer_ur_ls, ["http://127.0.0.1:2390"]);
    assert_eq!(added.members.len(), 2);
    let second = cluster.member_add(add("http://127.0.0.1:2391", true)).await.unwrap_err();
    assert_etcd_error(&second, errors::TOO_MANY_LEARNERS);
    let promoted =
        cluster.member_promote(MemberPromoteRequest { id: learner.id }).await.unwrap().into_inner();
    assert!(promoted.members.iter().all(|member| !member.is_learner));
    let again = cluster.member_promote(MemberPromoteRequest { id: learner.id }).await.unwrap_err();
    assert_etcd_error(&again, errors::MEMBER_NOT_LEARNER);
    let update = MemberUpdateRequest { id: learner.id, peer_ur_ls: vec!["not a url".to_string()] };
    let updated = cluster.member_update(update).await.unwrap().into_inner();
    let moved = updated.members.iter().find(|member| member.id == learner.id).unwrap();
    assert_eq!(moved.peer_ur_ls, ["not a url"], "etcd 3.4 does not check MemberUpdate's URLs");
    let removed = cluster.member_remove(MemberRemoveRequest { id: learner.id }).await.unwrap().into_inner();
    assert_eq!(removed.members.len(), 1);
    let gone = cluster.member_remove(MemberRemoveRequest { id: learner.id }).await.unwrap_err();
    assert_etcd_error(&gone, errors::MEMBER_NOT_FOUND);
}

#[tokio::test]
async fn membership_refusals_are_etcds() {
    let served = start().await;
    let mut cluster = served.cluster();
    assert_etcd_error(&cluster.member_add(add("notaurl", false)).await.unwrap_err(), errors::MEMBER_BAD_URLS);
    let empty = MemberAddRequest { peer_ur_ls: Vec::new(), is_learner: false };
    assert_etcd_error(&cluster.member_add(empty).await.unwrap_err(), errors::MEMBER_BAD_URLS);
    let taken = cluster.member_add(add("http://localhost:2380", false)).await.unwrap_err();
    assert_etcd_error(&taken, errors::PEER_URL_EXIST);
    let unknown = MemberPromoteRequest { id: 5 };
    assert_etcd_error(&cluster.member_promote(unknown).await.unwrap_err(), errors::MEMBER_NOT_FOUND);
    let unknown = MemberUpdateRequest { id: 5, peer_ur_ls: vec!["http://a:1".to_string()] };
    assert_etcd_error(&cluster.member_update(unknown).await.unwrap_err(), errors::MEMBER_NOT_FOUND);
    let only = cluster.member_remove(MemberRemoveRequest { id: MEMBER_ID }).await.unwrap_err();
    assert_eq!((only.code(), only.message()), (Code::Unknown, errors::MEMBER_NOT_ENOUGH_STARTED.message));
}

#[tokio::test]
async fn status_reports_what_endpoint_status_prints() {
    let served = start().await;
    let mut maintenance = served.maintenance();
    let before = maintenance.status(StatusRequest {}).await.unwrap().into_inner();
    assert_header(before.header.as_ref(), 1);
    assert_eq!(before.version, "3.4.23");
    assert_eq!((before.leader, before.raft_term, before.is_learner), (MEMBER_ID, 2, false));
    assert_eq!(before.raft_index, before.raft_applied_index);
    assert!(before.db_size >= before.db_size_in_use && before.db_size > 0);
    assert!(before.errors.is_empty());
    let put = PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() };
    served.kv().put(put).await.unwrap();
    let after = maintenance.status(StatusRequest {}).await.unwrap().into_inner();
    assert_eq!(after.raft_index, before.raft_index + 1);
    assert_header(after.header.as_ref(), 2);
}

#[tokio::test]
async fn alarms_and_defragment_answer_without_headers() {
    let served = start().await;
    let mut maintenance = served.maintenance();
    let get = AlarmRequest { action: AlarmAction::Get as i32, member_id: 0, alarm: 0 };
    assert_eq!(maintenance.alarm(get).await.unwrap().into_inner(), AlarmResponse::default());
    let disarm = AlarmRequest { action: AlarmAction::Deactivate as i32, member_id: MEMBER_ID, alarm: 1 };
    assert_eq!(maintenance.alarm(disarm).await.unwrap().into_inner(), AlarmResponse::default());
    let corrupt = AlarmRequest { action: AlarmAction::Activate as i32, member_id: MEMBER_ID, alarm: 2 };
    assert_eq!(maintenance.alarm(corrupt).await.unwrap_err().code(), Code::Unimplemented);
    let defragmented = maintenance.defragment(DefragmentRequest {}).await.unwrap().into_inner();
    assert_eq!(defragmented.header, None);
}

#[tokio::test]
async fn a_snapshot_streams_a_bbolt_file_in_chunks_then_its_sha256() {
    use sha2::Digest;
    let served = start().await;
    let put = PutRequest { key: b"snap".to_vec(), value: vec![b'v'; 100_000], ..PutRequest::default() };
    served.kv().put(put).await.unwrap();
    let mut stream = served.maintenance().snapshot(SnapshotRequest {}).await.unwrap().into_inner();
    let mut blobs = Vec::new();
    while let Some(response) = stream.message().await.unwrap() {
        assert_eq!(response.header, None);
        blobs.push((response.remaining_bytes, response.blob));
    }
    let (digest, chunks) = blobs.split_last().expect("frames");
    let database: Vec<u8> = chunks.iter().flat_map(|(_, blob)| blob.clone()).collect();
    assert!(chunks.len() > 1, "100 KB need several 32 KiB chunks");
    assert_eq!(chunks.last().unwrap().0, 0, "the last chunk has nothing after it");
    assert_eq!(digest.1, sha2::Sha256::digest(&database).to_vec());
    let (_, buckets) = server::v3_snapshot::bbolt_reader::read_database(&database).expect("a bbolt file");
    let keys = buckets.iter().find(|bucket| bucket.name == b"key").expect("the key bucket");
    assert_eq!(keys.entries.len(), 1);
}

#[tokio::test]
async fn hashes_follow_the_keyspace_and_hash_kv_knows_compaction() {
    let served = start().await;
    let mut maintenance = served.maintenance();
    let empty = maintenance.hash_kv(HashKvRequest { revision: 0 }).await.unwrap().into_inner();
    assert_eq!(empty.compact_revision, -1);
    assert_header(empty.header.as_ref(), 1);
    let hash_before = maintenance.hash(HashRequest {}).await.unwrap().into_inner().hash;
    for value in ["1", "2", "3"] {
        let put = PutRequest { key: b"k".to_vec(), value: value.into(), ..Default::default() };
        served.kv().put(put).await.unwrap();
    }
    let hashed = maintenance.hash(HashRequest {}).await.unwrap().into_inner();
    assert_ne!(hashed.hash, hash_before);
    assert_header(hashed.header.as_ref(), 4);
    let at_three = maintenance.hash_kv(HashKvRequest { revision: 3 }).await.unwrap().into_inner().hash;
    served.kv().compact(CompactionRequest { revision: 3, physical: false }).await.unwrap();
    let current = maintenance.hash_kv(HashKvRequest { revision: 0 }).await.unwrap().into_inner();
    assert_eq!(current.compact_revision, 3);
    assert_ne!(current.hash, at_three);
    let compacted = maintenance.hash_kv(HashKvRequest { revision: 3 }).await.unwrap_err();
    assert_etcd_error(&compacted, errors::COMPACTED);
    let future = maintenance.hash_kv(HashKvRequest { revision: 9 }).await.unwrap_err();
    assert_etcd_error(&future, errors::FUTURE_REVISION);
}

#[tokio::test]
async fn move_leader_needs_a_voter_and_the_leader() {
    let served = start().await;
    let mut maintenance = served.maintenance();
    let to_self = maintenance.move_leader(MoveLeaderRequest { target_id: MEMBER_ID }).await.unwrap();
    assert_eq!(to_self.into_inner().header, None);
    let unknown = maintenance.move_leader(MoveLeaderRequest { target_id: 1234 }).await.unwrap_err();
    assert_etcd_error(&unknown, errors::BAD_LEADER_TRANSFEREE);
    served.backend.set_leader(0);
    let follower = maintenance.move_leader(MoveLeaderRequest { target_id: MEMBER_ID }).await.unwrap_err();
    assert_etcd_error(&follower, errors::NOT_LEADER);
}

#[tokio::test]
async fn auth_answers_as_etcd_does_with_authentication_disabled_and_no_users() {
    let served = start().await;
    let mut auth = served.auth();
    let credentials = AuthenticateRequest { name: "root".into(), password: "x".into() };
    assert_etcd_error(&auth.authenticate(credentials).await.unwrap_err(), errors::AUTH_NOT_ENABLED);
    assert_etcd_error(
        &auth.auth_enable(AuthEnableRequest {}).await.unwrap_err(),
        errors::ROOT_USER_NOT_EXIST,
    );
    assert_header(auth.auth_disable(AuthDisableRequest {}).await.unwrap().get_ref().header.as_ref(), 1);
    let users = auth.user_list(AuthUserListRequest {}).await.unwrap().into_inner();
    assert!(users.users.is_empty());
    assert_header(users.header.as_ref(), 1);
    assert!(auth.role_list(AuthRoleListRequest {}).await.unwrap().into_inner().roles.is_empty());
    let nobody = || "nobody".to_string();
    let get = AuthUserGetRequest { name: nobody() };
    assert_etcd_error(&auth.user_get(get).await.unwrap_err(), errors::USER_NOT_FOUND);
    let grant = AuthUserGrantRoleRequest { user: nobody(), role: "r".into() };
    assert_etcd_error(&auth.user_grant_role(grant).await.unwrap_err(), errors::USER_NOT_FOUND);
    let password = AuthUserChangePasswordRequest { name: nobody(), password: "p".into() };
    assert_etcd_error(&auth.user_change_password(password).await.unwrap_err(), errors::USER_NOT_FOUND);
    let role = AuthRoleGetRequest { role: nobody() };
    assert_etcd_error(&auth.role_get(role).await.unwrap_err(), errors::ROLE_NOT_FOUND);
    let permission = AuthRoleGrantPermissionRequest { name: nobody(), perm: None };
    assert_etcd_error(&auth.role_grant_permission(permission).await.unwrap_err(), errors::ROLE_NOT_FOUND);
    let unnamed = AuthUserAddRequest { name: String::new(), ..Default::default() };
    assert_etcd_error(&auth.user_add(unnamed).await.unwrap_err(), errors::USER_EMPTY);
    let named = AuthUserAddRequest { name: "root".into(), ..Default::default() };
    auth.user_add(named).await.unwrap();
    assert_etcd_error(
        &auth.auth_enable(AuthEnableRequest {}).await.unwrap_err(),
        errors::ROOT_ROLE_NOT_EXIST,
    );
}
