//! The Watch service over the real listener and the fake backend: many watches on one stream, etcd's
//! watch IDs, start revisions, previous values, filters, cancels, progress, fragments, compacted
//! starts, and a client too slow to keep up.

mod grpc_common;

use std::time::Duration;

use api::errors;
use api::etcdserverpb::watch_create_request::FilterType;
use api::etcdserverpb::watch_request::RequestUnion;
use api::etcdserverpb::*;
use api::mvccpb::event::EventType;
use grpc_common::{STREAM_TIMEOUT, Served, assert_etcd_error, assert_header, start, start_with};
use server::grpc::{GrpcOptions, V3Backend};
use server::node::V3Request;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// One open watch stream: requests go in, responses come out.
struct WatchStream {
    requests: mpsc::Sender<WatchRequest>,
    responses: tonic::Streaming<WatchResponse>,
}

impl WatchStream {
    /// Opens a stream with a first request queued (etcd answers the call with its first message).
    async fn open(served: &Served, first: WatchRequest) -> WatchStream {
        let (requests, receiver) = mpsc::channel(16);
        requests.send(first).await.unwrap();
        let responses = served.watch().watch(ReceiverStream::new(receiver)).await.unwrap().into_inner();
        WatchStream { requests, responses }
    }

    async fn send(&self, request: WatchRequest) {
        self.requests.send(request).await.unwrap();
    }

    async fn next(&mut self) -> WatchResponse {
        let next =
            tokio::time::timeout(STREAM_TIMEOUT, self.responses.next()).await.expect("a response in time");
        next.expect("the stream is open").expect("not an error")
    }

    /// Asserts nothing arrives for a while.
    async fn assert_quiet(&mut self) {
        let next = tokio::time::timeout(Duration::from_millis(200), self.responses.next()).await;
        assert!(next.is_err(), "unexpected response {next:?}");
    }
}

fn create(create: WatchCreateRequest) -> WatchRequest {
    WatchRequest { request_union: Some(RequestUnion::CreateRequest(create)) }
}

fn watch_key(key: &str) -> WatchCreateRequest {
    WatchCreateRequest { key: key.into(), ..WatchCreateRequest::default() }
}

fn cancel(watch_id: i64) -> WatchRequest {
    WatchRequest { request_union: Some(RequestUnion::CancelRequest(WatchCancelRequest { watch_id })) }
}

fn progress() -> WatchRequest {
    WatchRequest { request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})) }
}

async fn put(served: &Served, key: &str, value: &str) {
    let request = PutRequest { key: key.into(), value: value.into(), ..PutRequest::default() };
    served.kv().put(request).await.unwrap();
}

async fn delete(served: &Served, key: &str) {
    served.kv().delete_range(DeleteRangeRequest { key: key.into(), ..Default::default() }).await.unwrap();
}

fn values(response: &WatchResponse) -> Vec<(i32, String)> {
    response
        .events
        .iter()
        .map(|event| {
            let kv = event.kv.as_ref().expect("an event carries its key");
            (event.r#type, String::from_utf8_lossy(&kv.value).into_owned())
        })
        .collect()
}

const PUT: i32 = EventType::Put as i32;
const DELETE: i32 = EventType::Delete as i32;

#[tokio::test]
async fn watches_get_server_chosen_ids_and_see_puts_and_deletes_with_previous_values() {
    let served = start().await;
    put(&served, "srn", "zero").await;
    let mut stream =
        WatchStream::open(&served, create(WatchCreateRequest { prev_kv: true, ..watch_key("srn") })).await;
    let created = stream.next().await;
    assert!(created.created && !created.canceled);
    assert_eq!(created.watch_id, 0);
    assert_header(created.header.as_ref(), 2);
    stream.send(create(watch_key("other"))).await;
    assert_eq!(stream.next().await.watch_id, 1);
    put(&served, "srn", "one").await;
    delete(&served, "srn").await;
    let first = stream.next().await;
    assert_eq!((first.watch_id, values(&first)), (0, vec![(PUT, "one".to_string())]));
    assert_header(first.header.as_ref(), 3);
    assert_eq!(first.events[0].prev_kv.as_ref().map(|kv| kv.value.clone()), Some(b"zero".to_vec()));
    let second = stream.next().await;
    assert_eq!(values(&second), [(DELETE, String::new())]);
    assert_eq!(second.events[0].kv.as_ref().map(|kv| kv.mod_revision), Some(4));
    assert_eq!(second.events[0].prev_kv.as_ref().map(|kv| kv.value.clone()), Some(b"one".to_vec()));
    stream.assert_quiet().await;
}

#[tokio::test]
async fn prefix_from_key_and_whole_keyspace_watches_see_their_keys_only() {
    let served = start().await;
    let prefix = WatchCreateRequest { key: b"a/".to_vec(), range_end: b"a0".to_vec(), ..Default::default() };
    let mut stream = WatchStream::open(&served, create(prefix)).await;
    assert_eq!(stream.next().await.watch_id, 0);
    stream
        .send(create(WatchCreateRequest { key: b"m".to_vec(), range_end: vec![0], ..Default::default() }))
        .await;
    assert_eq!(stream.next().await.watch_id, 1);
    stream.send(create(WatchCreateRequest { range_end: vec![0], ..Default::default() })).await;
    assert_eq!(stream.next().await.watch_id, 2);
    put(&served, "a/1", "p").await;
    put(&served, "z", "f").await;
    let mut seen: Vec<(i64, Vec<(i32, String)>)> = Vec::new();
    for _ in 0..4 {
        let response = stream.next().await;
        seen.push((response.watch_id, values(&response)));
    }
    seen.sort();
    let expected = [(0, "p"), (1, "f"), (2, "p"), (2, "f")];
    let mut expected: Vec<(i64, Vec<(i32, String)>)> =
        expected.iter().map(|(id, value)| (*id, vec![(PUT, value.to_string())])).collect();
    expected.sort();
    assert_eq!(seen, expected);
    stream.assert_quiet().await;
}

#[tokio::test]
async fn a_start_revision_replays_history_and_filters_drop_puts_or_deletes() {
    let served = start().await;
    for value in ["1", "2"] {
        put(&served, "k", value).await;
    }
    delete(&served, "k").await;
    let mut stream =
        WatchStream::open(&served, create(WatchCreateRequest { start_revision: 1, ..watch_key("k") })).await;
    let created = stream.next().await;
    assert_header(created.header.as_ref(), 4);
    let replayed = stream.next().await;
    assert_eq!(values(&replayed), [(PUT, "1".into()), (PUT, "2".into()), (DELETE, String::new())]);
    let no_put =
        WatchCreateRequest { filters: vec![FilterType::Noput as i32], start_revision: 1, ..watch_key("k") };
    stream.send(create(no_put)).await;
    assert_eq!(stream.next().await.watch_id, 1);
    assert_eq!(values(&stream.next().await), [(DELETE, String::new())]);
    let no_delete = WatchCreateRequest { filters: vec![FilterType::Nodelete as i32], ..watch_key("k") };
    stream.send(create(no_delete)).await;
    assert_eq!(stream.next().await.watch_id, 2);
    put(&served, "k", "3").await;
    delete(&served, "k").await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = stream.next().await;
        seen.push((response.watch_id, values(&response)));
    }
    seen.sort();
    let expected: Vec<(i64, Vec<(i32, String)>)> = vec![
        (0, vec![(PUT, "3".into())]),
        (0, vec![(DELETE, String::new())]),
        (1, vec![(DELETE, String::new())]),
        (2, vec![(PUT, "3".into())]),
    ];
    let mut expected = expected;
    expected.sort();
    assert_eq!(seen, expected);
    stream.assert_quiet().await;
}

#[tokio::test]
async fn a_compacted_start_is_created_then_canceled_with_the_compact_revision() {
    let served = start().await;
    for value in ["1", "2", "3"] {
        put(&served, "k", value).await;
    }
    served.kv().compact(CompactionRequest { revision: 3, physical: false }).await.unwrap();
    let mut stream =
        WatchStream::open(&served, create(WatchCreateRequest { start_revision: 2, ..watch_key("k") })).await;
    let created = stream.next().await;
    assert!(created.created && !created.canceled);
    assert_header(created.header.as_ref(), 4);
    let canceled = stream.next().await;
    assert!(canceled.canceled && !canceled.created);
    assert_eq!((canceled.watch_id, canceled.compact_revision, canceled.cancel_reason.as_str()), (0, 3, ""));
    assert_header(canceled.header.as_ref(), 0);
    stream.send(create(WatchCreateRequest { start_revision: 3, ..watch_key("k") })).await;
    assert_eq!(stream.next().await.watch_id, 1, "starting exactly at the compacted revision works");
    assert_eq!(values(&stream.next().await), [(PUT, "2".into()), (PUT, "3".into())]);
}

#[tokio::test]
async fn given_ids_duplicates_and_empty_ranges_follow_etcd() {
    let served = start().await;
    let mut stream =
        WatchStream::open(&served, create(WatchCreateRequest { watch_id: 7, ..watch_key("x") })).await;
    assert_eq!(stream.next().await.watch_id, 7);
    stream.send(create(WatchCreateRequest { watch_id: 7, ..watch_key("x") })).await;
    let duplicate = stream.next().await;
    assert!(duplicate.created && duplicate.canceled);
    assert_eq!(duplicate.watch_id, -1);
    assert_eq!(duplicate.cancel_reason, "mvcc: duplicate watch ID provided on the WatchStream");
    assert_header(duplicate.header.as_ref(), 1);
    let backwards = WatchCreateRequest { key: b"b".to_vec(), range_end: b"a".to_vec(), ..Default::default() };
    stream.send(create(backwards)).await;
    let empty = stream.next().await;
    assert_eq!((empty.watch_id, empty.created, empty.canceled), (-1, true, true));
    assert_eq!(empty.cancel_reason, "mvcc: watcher range is empty");
    stream.send(create(watch_key("x"))).await;
    assert_eq!(stream.next().await.watch_id, 0, "server IDs count from 0");
    stream.send(create(WatchCreateRequest { key: Vec::new(), ..Default::default() })).await;
    assert_eq!(stream.next().await.watch_id, 1, "an empty key is etcd's smallest key, not an error");
}

#[tokio::test]
async fn cancel_ends_one_watch_and_unknown_ids_get_no_answer() {
    let served = start().await;
    let mut stream = WatchStream::open(&served, create(watch_key("k"))).await;
    stream.next().await;
    stream.send(create(watch_key("k"))).await;
    stream.next().await;
    stream.send(cancel(0)).await;
    let canceled = stream.next().await;
    assert_eq!((canceled.watch_id, canceled.canceled, canceled.created), (0, true, false));
    assert_header(canceled.header.as_ref(), 1);
    stream.send(cancel(99)).await;
    stream.send(WatchRequest { request_union: None }).await;
    stream.send(progress()).await;
    let notice = stream.next().await;
    assert_eq!((notice.watch_id, notice.canceled), (-1, false), "the next answer is the progress notice");
    put(&served, "k", "v").await;
    let event = stream.next().await;
    assert_eq!(event.watch_id, 1, "only the live watch reports");
    stream.assert_quiet().await;
    assert_eq!(served.backend.watch_count(), 1);
}

#[tokio::test]
async fn a_progress_request_reports_the_current_revision() {
    let served = start().await;
    put(&served, "a", "1").await;
    put(&served, "b", "2").await;
    let mut stream = WatchStream::open(&served, progress()).await;
    let notice = stream.next().await;
    assert_eq!((notice.watch_id, notice.created, notice.events.len()), (-1, false, 0));
    assert_header(notice.header.as_ref(), 3);
}

#[tokio::test]
async fn progress_notify_watches_hear_of_the_revision_when_quiet() {
    let options =
        GrpcOptions { progress_notify_interval: Duration::from_millis(300), ..GrpcOptions::default() };
    let served = start_with(options).await;
    let notified = WatchCreateRequest { progress_notify: true, ..watch_key("k") };
    let mut stream = WatchStream::open(&served, create(notified)).await;
    assert_eq!(stream.next().await.watch_id, 0);
    stream.send(create(watch_key("k"))).await;
    assert_eq!(stream.next().await.watch_id, 1);
    put(&served, "elsewhere", "v").await;
    let notice = stream.next().await;
    assert_eq!((notice.watch_id, notice.events.len(), notice.canceled), (0, 0, false));
    assert_header(notice.header.as_ref(), 2);
    let again = stream.next().await;
    assert_eq!(again.watch_id, 0, "only the watch that asked is notified, every interval");
}

#[tokio::test]
async fn fragment_watches_get_large_batches_in_parts_others_whole() {
    // etcd splits at --max-request-bytes plus its 512 KiB gRPC allowance (2 MiB by default): three
    // replayed 1 MB values come as two of them, then the third.
    let served = start_with(GrpcOptions::default()).await;
    for index in 0..3 {
        let put = PutRequest {
            key: format!("f/{index}").into_bytes(),
            value: vec![b'v'; 1_000_000],
            ..PutRequest::default()
        };
        served.kv().put(put).await.unwrap();
    }
    let prefix = |fragment| WatchCreateRequest {
        key: b"f/".to_vec(),
        range_end: b"f0".to_vec(),
        start_revision: 2,
        fragment,
        ..Default::default()
    };
    let mut stream = WatchStream::open(&served, create(prefix(true))).await;
    let mut parts = Vec::new();
    while parts.last().is_none_or(|part: &WatchResponse| part.created || part.fragment) {
        parts.push(stream.next().await);
    }
    let sizes: Vec<(usize, bool)> =
        parts[1..].iter().map(|part| (part.events.len(), part.fragment)).collect();
    assert_eq!(sizes, [(2, true), (1, false)]);
    stream.send(create(prefix(false))).await;
    assert!(stream.next().await.created);
    let whole = stream.next().await;
    assert_eq!((whole.watch_id, whole.events.len(), whole.fragment), (1, 3, false));
}

#[tokio::test]
async fn closing_the_stream_cancels_its_watches_in_the_node() {
    let served = start().await;
    let mut stream = WatchStream::open(&served, create(watch_key("a"))).await;
    stream.next().await;
    stream.send(create(watch_key("b"))).await;
    stream.next().await;
    assert_eq!(served.backend.watch_count(), 2);
    drop(stream);
    for _ in 0..100 {
        if served.backend.watch_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("watches still registered after the client left: {}", served.backend.watch_count());
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_its_watch_with_a_cancel_after_its_events() {
    let served = start().await;
    let mut stream = WatchStream::open(&served, create(watch_key("k"))).await;
    stream.next().await;
    // Written straight into the backend: the client's HTTP/2 windows (2 MiB per stream) fill with
    // unread events, then the session's queue, then the node's channel, and the node drops the watch.
    let writes = 5000;
    let padding = "p".repeat(2000);
    for index in 0..writes {
        let request = mvcc::PutRequest::new("k", format!("{index}{padding}"));
        served.backend.v3(V3Request::Put(request)).await.unwrap();
    }
    let mut expected_value = 0;
    loop {
        let response = stream.next().await;
        if response.canceled {
            assert_eq!(response.cancel_reason, errors::WATCH_CANCELED.message);
            break;
        }
        for (kind, value) in values(&response) {
            let expected = format!("{expected_value}{}", "p".repeat(2000));
            assert!(kind == PUT && value == expected, "events in order, none lost before the cancel");
            expected_value += 1;
        }
    }
    assert!(expected_value < writes, "the watch fell behind and was dropped");
}

#[tokio::test]
async fn a_stream_that_requires_a_leader_is_refused_without_one() {
    let served = start().await;
    served.backend.set_leader(0);
    let (_requests, receiver) = mpsc::channel::<WatchRequest>(1);
    let mut request = tonic::Request::new(ReceiverStream::new(receiver));
    request.metadata_mut().insert("hasleader", "true".parse().unwrap());
    let refused = served.watch().watch(request).await.unwrap_err();
    assert_etcd_error(&refused, errors::NO_LEADER);
}
