//! Proves the generated v3 wire contract against real etcd 3.4: each scenario starts Debian's `etcd` on
//! loopback on free ports with its own data dir, drives it through the generated tonic clients, and checks
//! the decoded fields (revisions, versions, headers, error codes and messages). Without `etcd` on PATH
//! each scenario prints a skip notice and passes.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use api::errors;
use api::etcdserverpb::cluster_client::ClusterClient;
use api::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::lease_client::LeaseClient;
use api::etcdserverpb::maintenance_client::MaintenanceClient;
use api::etcdserverpb::range_request::{SortOrder, SortTarget};
use api::etcdserverpb::request_op::Request;
use api::etcdserverpb::response_op::Response;
use api::etcdserverpb::watch_client::WatchClient;
use api::etcdserverpb::watch_request::RequestUnion;
use api::etcdserverpb::*;
use api::mvccpb::event::EventType;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Longest a whole scenario may take, start-up included.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for one streamed response.
const STREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts (100 ms apart) to reach a starting etcd before giving up.
const CONNECT_ATTEMPTS: u32 = 100;
/// The single member's name in every scenario.
const MEMBER_NAME: &str = "api-wire-test";

// --- The etcd process ---------------------------------------------------------------------------

/// Where one test's etcd listens.
#[derive(Debug, Clone)]
struct EtcdUrls {
    client: String,
    peer: String,
}

/// A running etcd, killed (and its data dir removed) when dropped, even if the scenario panics.
struct EtcdProcess {
    child: Child,
    urls: EtcdUrls,
    _data_dir: tempfile::TempDir,
}

impl EtcdProcess {
    /// Starts a one-member etcd on free loopback ports, or `None` when etcd is not installed.
    fn start() -> Option<EtcdProcess> {
        if Command::new("etcd").arg("--version").output().is_err() {
            eprintln!("SKIP: `etcd` is not on PATH; install Debian's etcd-server to run the wire tests");
            return None;
        }
        let data_dir = tempfile::tempdir().expect("temp dir for etcd data");
        let urls = EtcdUrls {
            client: format!("http://127.0.0.1:{}", free_loopback_port()),
            peer: format!("http://127.0.0.1:{}", free_loopback_port()),
        };
        let log = std::fs::File::create(data_dir.path().join("etcd.log")).expect("etcd log file");
        let child = Command::new("etcd")
            .arg(format!("--name={MEMBER_NAME}"))
            .arg(format!("--data-dir={}", data_dir.path().join("member-data").display()))
            .arg(format!("--listen-client-urls={}", urls.client))
            .arg(format!("--advertise-client-urls={}", urls.client))
            .arg(format!("--listen-peer-urls={}", urls.peer))
            .arg(format!("--initial-advertise-peer-urls={}", urls.peer))
            .arg(format!("--initial-cluster={MEMBER_NAME}={}", urls.peer))
            .arg("--initial-cluster-state=new")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        Some(EtcdProcess { child, urls, _data_dir: data_dir })
    }

    /// Connects once this etcd (not some other process on the port) answers.
    async fn channel(&mut self) -> Channel {
        let endpoint = Channel::from_shared(self.urls.client.clone()).expect("valid client URL");
        for _ in 0..CONNECT_ATTEMPTS {
            let exited = self.child.try_wait().expect("etcd's status can be read");
            assert!(exited.is_none(), "etcd exited early ({exited:?}); see etcd.log in its data dir");
            if let Ok(channel) = endpoint.connect().await
                && let Ok(members) =
                    ClusterClient::new(channel.clone()).member_list(MemberListRequest {}).await
            {
                let members = members.into_inner().members;
                assert_eq!(
                    members[0].peer_ur_ls,
                    std::slice::from_ref(&self.urls.peer),
                    "another etcd answers on our port"
                );
                return channel;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("etcd at {} did not become ready", self.urls.client);
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now (the kernel's pick for an ephemeral bind).
fn free_loopback_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("bound address").port()
}

/// Runs one scenario against a fresh etcd, bounded by SCENARIO_TIMEOUT.
async fn with_etcd<F, Fut>(scenario: F)
where
    F: FnOnce(Channel, EtcdUrls) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(mut etcd) = EtcdProcess::start() else { return };
    let run = async {
        let channel = etcd.channel().await;
        scenario(channel, etcd.urls.clone()).await;
    };
    tokio::time::timeout(SCENARIO_TIMEOUT, run).await.expect("scenario finished in time");
}

// --- Small builders and readers -----------------------------------------------------------------

fn header(header: Option<ResponseHeader>) -> ResponseHeader {
    header.expect("response carries a header")
}

/// The range end that covers every key starting with `prefix` (prefix without a trailing 0xff).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    let last = end.last_mut().expect("non-empty prefix");
    assert!(*last < 0xff, "prefix must not end in 0xff");
    *last += 1;
    end
}

async fn put(kv: &mut KvClient<Channel>, key: &str, value: &str) -> PutResponse {
    let request = PutRequest { key: key.into(), value: value.into(), ..Default::default() };
    kv.put(request).await.expect("put").into_inner()
}

fn keys(kvs: &[api::mvccpb::KeyValue]) -> Vec<String> {
    kvs.iter().map(|kv| String::from_utf8(kv.key.clone()).expect("utf-8 key")).collect()
}

async fn next_watch_response(stream: &mut tonic::Streaming<WatchResponse>) -> WatchResponse {
    let next = tokio::time::timeout(STREAM_TIMEOUT, stream.next()).await.expect("watch response in time");
    next.expect("watch stream still open").expect("watch response, not an error")
}

// --- KV -----------------------------------------------------------------------------------------

#[tokio::test]
async fn puts_ranges_and_deletes_report_etcds_revisions_and_versions() {
    with_etcd(|channel, _| async move {
        let mut kv = KvClient::new(channel);
        let first = header(put(&mut kv, "fruit/apple", "red").await.header);
        assert_eq!(first.revision, 2, "a fresh store is at revision 1; the first put makes it 2");
        assert_ne!(first.cluster_id, 0);
        assert_ne!(first.member_id, 0);
        assert!(first.raft_term >= 1);
        put(&mut kv, "fruit/banana", "yellow").await;
        put(&mut kv, "fruit/cherry", "dark").await;
        put(&mut kv, "veg/kale", "curly").await;
        let overwrite = PutRequest {
            key: "fruit/apple".into(),
            value: "green".into(),
            prev_kv: true,
            ..Default::default()
        };
        let overwritten = kv.put(overwrite).await.unwrap().into_inner();
        assert_eq!(header(overwritten.header).revision, 6);
        let previous = overwritten.prev_kv.expect("prev_kv asked for");
        assert_eq!((previous.value.as_slice(), previous.version, previous.mod_revision), (&b"red"[..], 1, 2));

        range_reads_the_fruit_prefix(&mut kv).await;
        delete_with_prev_kv_returns_what_it_removed(&mut kv).await;
    })
    .await;
}

async fn range_reads_the_fruit_prefix(kv: &mut KvClient<Channel>) {
    let prefix =
        RangeRequest { key: "fruit/".into(), range_end: prefix_end(b"fruit/"), ..Default::default() };
    let all = kv.range(prefix.clone()).await.unwrap().into_inner();
    assert_eq!(keys(&all.kvs), ["fruit/apple", "fruit/banana", "fruit/cherry"]);
    assert_eq!((all.count, all.more, header(all.header).revision), (3, false, 6));
    let apple = &all.kvs[0];
    assert_eq!((apple.create_revision, apple.mod_revision, apple.version, apple.lease), (2, 6, 2, 0));
    assert_eq!(apple.value, b"green");

    let limited = kv.range(RangeRequest { limit: 2, ..prefix.clone() }).await.unwrap().into_inner();
    assert_eq!((limited.kvs.len(), limited.count, limited.more), (2, 3, true));

    let by_key_descending = RangeRequest {
        sort_order: SortOrder::Descend as i32,
        sort_target: SortTarget::Key as i32,
        ..prefix.clone()
    };
    let descending = kv.range(by_key_descending).await.unwrap().into_inner();
    assert_eq!(keys(&descending.kvs), ["fruit/cherry", "fruit/banana", "fruit/apple"]);
    let by_mod_ascending = RangeRequest {
        sort_order: SortOrder::Ascend as i32,
        sort_target: SortTarget::Mod as i32,
        ..prefix.clone()
    };
    let by_mod = kv.range(by_mod_ascending).await.unwrap().into_inner();
    assert_eq!(keys(&by_mod.kvs), ["fruit/banana", "fruit/cherry", "fruit/apple"]);

    let keys_only = kv.range(RangeRequest { keys_only: true, ..prefix.clone() }).await.unwrap().into_inner();
    assert_eq!(keys_only.kvs.len(), 3);
    assert!(keys_only.kvs.iter().all(|kv| kv.value.is_empty() && kv.version > 0));
    let count_only = kv.range(RangeRequest { count_only: true, ..prefix }).await.unwrap().into_inner();
    assert_eq!((count_only.kvs.len(), count_only.count), (0, 3));

    let missing = kv.range(RangeRequest { key: "nothing".into(), ..Default::default() }).await.unwrap();
    assert_eq!(missing.into_inner().count, 0);
}

async fn delete_with_prev_kv_returns_what_it_removed(kv: &mut KvClient<Channel>) {
    let request =
        DeleteRangeRequest { key: "fruit/".into(), range_end: prefix_end(b"fruit/"), prev_kv: true };
    let deleted = kv.delete_range(request).await.unwrap().into_inner();
    assert_eq!(deleted.deleted, 3);
    assert_eq!(header(deleted.header).revision, 7, "one delete request is one revision");
    assert_eq!(keys(&deleted.prev_kvs), ["fruit/apple", "fruit/banana", "fruit/cherry"]);
    assert_eq!(deleted.prev_kvs[1].value, b"yellow");
    let after = kv.range(RangeRequest { key: "fruit/banana".into(), ..Default::default() }).await.unwrap();
    assert_eq!(after.into_inner().count, 0);
}

#[tokio::test]
async fn a_txn_runs_success_when_every_compare_holds_and_failure_otherwise() {
    with_etcd(|channel, _| async move {
        let mut kv = KvClient::new(channel);
        put(&mut kv, "door", "closed").await; // revision 2
        let compare = |target: CompareTarget, result: CompareResult, value: TargetUnion| Compare {
            result: result as i32,
            target: target as i32,
            key: "door".into(),
            target_union: Some(value),
            range_end: vec![],
        };
        let guards = vec![
            compare(CompareTarget::Version, CompareResult::Equal, TargetUnion::Version(1)),
            compare(CompareTarget::Value, CompareResult::Equal, TargetUnion::Value("closed".into())),
            compare(CompareTarget::Mod, CompareResult::Less, TargetUnion::ModRevision(3)),
            compare(CompareTarget::Create, CompareResult::NotEqual, TargetUnion::CreateRevision(0)),
        ];
        let open = Request::RequestPut(PutRequest {
            key: "door".into(),
            value: "open".into(),
            ..Default::default()
        });
        let read = Request::RequestRange(RangeRequest { key: "door".into(), ..Default::default() });
        let op = |request: &Request| RequestOp { request: Some(request.clone()) };
        let txn = TxnRequest {
            compare: guards.clone(),
            success: vec![op(&open), op(&read)],
            failure: vec![op(&read)],
        };
        let taken = kv.txn(txn.clone()).await.unwrap().into_inner();
        assert!(taken.succeeded);
        assert_eq!(header(taken.header).revision, 3);
        assert_eq!(taken.responses.len(), 2);
        let Some(Response::ResponsePut(_)) = &taken.responses[0].response else {
            panic!("put response first")
        };
        let Some(Response::ResponseRange(read_back)) = &taken.responses[1].response else {
            panic!("range second")
        };
        assert_eq!((read_back.kvs[0].value.as_slice(), read_back.kvs[0].version), (&b"open"[..], 2));

        let not_taken = kv.txn(txn).await.unwrap().into_inner();
        assert!(!not_taken.succeeded, "the door is open now, so the value compare fails");
        assert_eq!(header(not_taken.header).revision, 3, "a read-only branch makes no revision");
        let Some(Response::ResponseRange(current)) = &not_taken.responses[0].response else {
            panic!("range")
        };
        assert_eq!(current.kvs[0].value, b"open");
    })
    .await;
}

#[tokio::test]
async fn reading_below_the_compaction_is_out_of_range_with_etcds_message() {
    with_etcd(|channel, _| async move {
        let mut kv = KvClient::new(channel);
        for value in ["v1", "v2", "v3"] {
            put(&mut kv, "k", value).await; // revisions 2, 3, 4
        }
        let compacted =
            kv.compact(CompactionRequest { revision: 3, physical: true }).await.unwrap().into_inner();
        assert_eq!(header(compacted.header).revision, 4);

        let at = |revision| RangeRequest { key: "k".into(), revision, ..Default::default() };
        let gone = kv.range(at(2)).await.expect_err("revision 2 is compacted");
        assert!(errors::COMPACTED.matches(&gone), "got {gone:?}");
        assert_eq!(gone.code(), tonic::Code::OutOfRange);
        assert_eq!(gone.message(), "etcdserver: mvcc: required revision has been compacted");
        let at_compaction = kv.range(at(3)).await.expect("the compaction revision itself is readable");
        assert_eq!(at_compaction.into_inner().kvs[0].value, b"v2");
        let future = kv.range(at(100)).await.expect_err("revision 100 is in the future");
        assert!(errors::FUTURE_REVISION.matches(&future), "got {future:?}");
        let again = kv.compact(CompactionRequest { revision: 2, physical: false }).await.expect_err("older");
        assert!(errors::COMPACTED.matches(&again), "got {again:?}");
    })
    .await;
}

// --- Watch --------------------------------------------------------------------------------------

#[tokio::test]
async fn a_watch_stream_creates_reports_puts_and_deletes_and_cancels() {
    with_etcd(|channel, _| async move {
        let mut kv = KvClient::new(channel.clone());
        let (requests, request_stream) = mpsc::channel::<WatchRequest>(8);
        let create = WatchCreateRequest {
            key: "w/".into(),
            range_end: prefix_end(b"w/"),
            prev_kv: true,
            fragment: true,
            ..Default::default()
        };
        requests
            .send(WatchRequest { request_union: Some(RequestUnion::CreateRequest(create)) })
            .await
            .unwrap();
        // etcd sends the stream's headers with its first message, so the create must be queued first.
        let mut responses =
            WatchClient::new(channel).watch(ReceiverStream::new(request_stream)).await.unwrap().into_inner();
        let created = next_watch_response(&mut responses).await;
        assert!(created.created && !created.canceled && created.events.is_empty());
        assert_eq!(header(created.header).revision, 1);
        let watch_id = created.watch_id;

        let put_revision = header(put(&mut kv, "w/a", "1").await.header).revision;
        let put_event = next_watch_response(&mut responses).await;
        assert_eq!((put_event.watch_id, put_event.events.len()), (watch_id, 1));
        let event = &put_event.events[0];
        assert_eq!(event.r#type, EventType::Put as i32);
        let written = event.kv.as_ref().expect("put event carries the key");
        assert_eq!(
            (written.key.as_slice(), written.mod_revision, written.version),
            (&b"w/a"[..], put_revision, 1)
        );

        let delete = DeleteRangeRequest { key: "w/a".into(), ..Default::default() };
        let delete_revision = header(kv.delete_range(delete).await.unwrap().into_inner().header).revision;
        let delete_event = next_watch_response(&mut responses).await;
        let event = &delete_event.events[0];
        assert_eq!(event.r#type, EventType::Delete as i32);
        assert_eq!(event.kv.as_ref().unwrap().mod_revision, delete_revision);
        assert_eq!(event.prev_kv.as_ref().expect("prev_kv asked for").value, b"1");

        progress_and_cancel(&requests, &mut responses, watch_id, delete_revision).await;
    })
    .await;
}

async fn progress_and_cancel(
    requests: &mpsc::Sender<WatchRequest>,
    responses: &mut tonic::Streaming<WatchResponse>,
    watch_id: i64,
    current_revision: i64,
) {
    let progress = RequestUnion::ProgressRequest(WatchProgressRequest {});
    requests.send(WatchRequest { request_union: Some(progress) }).await.unwrap();
    let notice = next_watch_response(responses).await;
    assert_eq!(notice.watch_id, -1, "a progress notice belongs to no watcher");
    assert_eq!(header(notice.header).revision, current_revision);
    assert!(notice.events.is_empty());

    let cancel = RequestUnion::CancelRequest(WatchCancelRequest { watch_id });
    requests.send(WatchRequest { request_union: Some(cancel) }).await.unwrap();
    let canceled = next_watch_response(responses).await;
    assert!(canceled.canceled);
    assert_eq!(canceled.watch_id, watch_id);
}

// --- Lease --------------------------------------------------------------------------------------

#[tokio::test]
async fn a_lease_is_granted_kept_alive_listed_and_revoked_with_its_keys() {
    with_etcd(|channel, _| async move {
        let mut lease = LeaseClient::new(channel.clone());
        let mut kv = KvClient::new(channel);
        let granted = lease.lease_grant(LeaseGrantRequest { ttl: 60, id: 0 }).await.unwrap().into_inner();
        assert!(granted.id > 0);
        assert_eq!((granted.ttl, granted.error.as_str()), (60, ""));
        let chosen = lease.lease_grant(LeaseGrantRequest { ttl: 30, id: 4242 }).await.unwrap().into_inner();
        assert_eq!(chosen.id, 4242);
        let bound =
            PutRequest { key: "session".into(), value: "on".into(), lease: granted.id, ..Default::default() };
        kv.put(bound).await.unwrap();

        let alive =
            lease.lease_time_to_live(LeaseTimeToLiveRequest { id: granted.id, keys: true }).await.unwrap();
        let alive = alive.into_inner();
        assert!(alive.ttl > 0 && alive.ttl <= 60, "remaining {}", alive.ttl);
        assert_eq!((alive.granted_ttl, alive.keys), (60, vec![b"session".to_vec()]));

        let (renewals, renewal_stream) = mpsc::channel(1);
        renewals.send(LeaseKeepAliveRequest { id: granted.id }).await.unwrap();
        let mut renewed =
            lease.lease_keep_alive(ReceiverStream::new(renewal_stream)).await.unwrap().into_inner();
        let renewal = tokio::time::timeout(STREAM_TIMEOUT, renewed.next()).await.unwrap().unwrap().unwrap();
        assert_eq!((renewal.id, renewal.ttl), (granted.id, 60));
        drop(renewals);

        let listed = lease.lease_leases(LeaseLeasesRequest {}).await.unwrap().into_inner();
        let mut ids: Vec<i64> = listed.leases.iter().map(|status| status.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [4242, granted.id]);

        revoking_deletes_the_keys_and_forgets_the_lease(&mut lease, &mut kv, granted.id).await;
    })
    .await;
}

async fn revoking_deletes_the_keys_and_forgets_the_lease(
    lease: &mut LeaseClient<Channel>,
    kv: &mut KvClient<Channel>,
    id: i64,
) {
    lease.lease_revoke(LeaseRevokeRequest { id }).await.unwrap();
    let key = kv.range(RangeRequest { key: "session".into(), ..Default::default() }).await.unwrap();
    assert_eq!(key.into_inner().count, 0, "revoking deletes the bound key");
    let after = lease.lease_time_to_live(LeaseTimeToLiveRequest { id, keys: false }).await.unwrap();
    assert_eq!(after.into_inner().ttl, -1, "an unknown lease has TTL -1, not an error");
    let twice = lease.lease_revoke(LeaseRevokeRequest { id }).await.expect_err("already revoked");
    assert!(errors::LEASE_NOT_FOUND.matches(&twice), "got {twice:?}");
    assert_eq!(twice.code(), tonic::Code::NotFound);
}

// --- Cluster and maintenance --------------------------------------------------------------------

#[tokio::test]
async fn member_list_and_status_describe_the_single_member() {
    with_etcd(|channel, urls| async move {
        let listed = ClusterClient::new(channel.clone()).member_list(MemberListRequest {}).await.unwrap();
        let listed = listed.into_inner();
        let list_header = header(listed.header);
        assert_eq!(list_header.revision, 0, "cluster responses carry no revision");
        assert_eq!(listed.members.len(), 1);
        let member = &listed.members[0];
        assert_eq!(
            (member.id, member.name.as_str(), member.is_learner),
            (list_header.member_id, MEMBER_NAME, false)
        );
        assert_eq!((&member.peer_ur_ls, &member.client_ur_ls), (&vec![urls.peer], &vec![urls.client]));

        let status = MaintenanceClient::new(channel).status(StatusRequest {}).await.unwrap().into_inner();
        let status_header = header(status.header);
        assert_eq!((status_header.member_id, status_header.cluster_id), (member.id, list_header.cluster_id));
        assert!(status_header.revision >= 1);
        assert!(status.version.starts_with("3.4."), "version {}", status.version);
        assert!(status.db_size > 0 && status.db_size_in_use > 0 && status.db_size_in_use <= status.db_size);
        assert_eq!(status.leader, member.id, "a single member leads itself");
        assert!(status.raft_term >= 1 && status.raft_index >= 1);
        assert!(status.raft_applied_index >= 1 && status.raft_applied_index <= status.raft_index);
        assert!(status.errors.is_empty() && !status.is_learner);
    })
    .await;
}

#[tokio::test]
async fn hashes_alarms_defragment_and_snapshot_answer_on_a_quiet_member() {
    with_etcd(|channel, _| async move {
        let mut kv = KvClient::new(channel.clone());
        put(&mut kv, "snap", "shot").await;
        let mut maintenance = MaintenanceClient::new(channel);
        let hash_kv = maintenance.hash_kv(HashKvRequest { revision: 0 }).await.unwrap().into_inner();
        assert_ne!(hash_kv.hash, 0);
        assert_eq!(hash_kv.compact_revision, -1, "nothing compacted yet");
        assert_eq!(header(hash_kv.header).revision, 2);
        assert_ne!(maintenance.hash(HashRequest {}).await.unwrap().into_inner().hash, 0);

        let alarms = AlarmRequest { action: alarm_request::AlarmAction::Get as i32, member_id: 0, alarm: 0 };
        let alarms = maintenance.alarm(alarms).await.unwrap().into_inner();
        assert!(alarms.alarms.is_empty());
        assert!(alarms.header.is_none(), "etcd 3.4 sends Alarm responses without a header");
        maintenance.defragment(DefragmentRequest {}).await.unwrap();

        let (database, checksum) = receive_snapshot(&mut maintenance).await;
        assert!(database.len() > 4096, "a bbolt file is several pages");
        assert_eq!(
            Sha256::digest(&database).as_slice(),
            checksum,
            "the last chunk is the sha256 of the rest"
        );
    })
    .await;
}

/// Receives every chunk of a snapshot stream: the database, counted down by remaining_bytes to 0, then one
/// more chunk holding its sha256 (also with remaining_bytes 0). Returns the database and the checksum.
async fn receive_snapshot(maintenance: &mut MaintenanceClient<Channel>) -> (Vec<u8>, Vec<u8>) {
    const MAX_CHUNKS: usize = 10_000;
    let mut chunks = maintenance.snapshot(SnapshotRequest {}).await.unwrap().into_inner();
    let mut database = Vec::new();
    let mut database_size_bytes = None;
    for _ in 0..MAX_CHUNKS {
        let next = tokio::time::timeout(STREAM_TIMEOUT, chunks.next()).await.expect("snapshot chunk in time");
        let chunk =
            next.expect("the stream goes on until the checksum").expect("snapshot chunk, not an error");
        assert!(chunk.header.is_none(), "etcd 3.4 sends snapshot chunks without a header");
        let size_bytes = *database_size_bytes.get_or_insert(chunk.blob.len() as u64 + chunk.remaining_bytes);
        if database.len() as u64 == size_bytes {
            assert_eq!((chunk.remaining_bytes, chunk.blob.len()), (0, 32), "the checksum chunk");
            let end = tokio::time::timeout(STREAM_TIMEOUT, chunks.next()).await.expect("stream end in time");
            assert!(end.is_none(), "nothing follows the checksum");
            return (database, chunk.blob);
        }
        database.extend_from_slice(&chunk.blob);
        assert_eq!(database.len() as u64 + chunk.remaining_bytes, size_bytes, "remaining bytes count down");
    }
    panic!("snapshot stream longer than {MAX_CHUNKS} chunks");
}
