//! The JSON gateway's streaming methods: `/v3/watch`, `/v3/lease/keepalive` and
//! `/v3/maintenance/snapshot`, as etcd 3.4's grpc-gateway serves them to `curl -N`.
//!
//! The request body holds one or more JSON request objects back to back; each becomes a framed gRPC
//! message on one in-process streaming call. A watch's request stream then stays open (it lives until
//! the client goes away, as with etcd's gateway); a keep-alive's ends with the body, so its call
//! answers the requests and ends, as etcd's does. Every answer is written as it comes, one
//! `{"result":{...}}` line each. An error status at the end of the call becomes an `{"error":{...}}`
//! line. Bounds: at most `MAX_REQUEST_MESSAGES` requests per body and `ANSWER_QUEUE_LINES` answers
//! buffered toward a slow client; a client that disconnects ends the call.
//! Limitation: the request body is read whole first, so requests cannot be added to a stream later.

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, StreamBody};
use prost::Message;
use prost_reflect::{DynamicMessage, MethodDescriptor};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;
use tower::ServiceExt;

use super::gateway::{GatewayReply, error_reply, frame, grpc_request, method_by_name, to_json};

/// etcd 3.4's streaming gateway paths and the gRPC methods behind them.
const STREAM_ROUTES: &[(&str, &str)] = &[
    ("/v3/watch", "etcdserverpb.Watch/Watch"),
    ("/v3/lease/keepalive", "etcdserverpb.Lease/LeaseKeepAlive"),
    ("/v3/maintenance/snapshot", "etcdserverpb.Maintenance/Snapshot"),
];
/// The one streaming method whose call outlives the end of the request body.
const WATCH_METHOD: &str = "etcdserverpb.Watch.Watch";
/// The most request objects one body may carry.
pub const MAX_REQUEST_MESSAGES: usize = 1_000;
/// Answer lines buffered toward the client before the call waits for it.
pub const ANSWER_QUEUE_LINES: usize = 64;
/// grpc-gateway's code for a body it cannot read on a streaming method (Unknown).
const CODE_UNKNOWN: i32 = 2;

/// Whether `path` is one of the gateway's streaming methods.
pub fn is_stream_path(path: &str) -> bool {
    STREAM_ROUTES.iter().any(|(route, _)| *route == path)
}

/// Starts a streaming call: the answer lines arrive on the receiver, or a reply says why not.
pub fn start(routes: Routes, path: &str, body: &[u8]) -> Result<mpsc::Receiver<Bytes>, GatewayReply> {
    let (_, full_name) = STREAM_ROUTES.iter().find(|(route, _)| *route == path).expect("a streaming path");
    let method = method_by_name(full_name).expect("streaming routes name methods of the protos");
    let requests = parse_requests(&method, body)?;
    let (lines_sender, lines) = mpsc::channel(ANSWER_QUEUE_LINES);
    tokio::spawn(drive(routes, method, requests, lines_sender));
    Ok(lines)
}

/// The JSON objects of the body, each as the method's request message, framed for gRPC.
fn parse_requests(method: &MethodDescriptor, body: &[u8]) -> Result<Vec<Bytes>, GatewayReply> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    let mut framed = Vec::new();
    for value in serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>() {
        if framed.len() == MAX_REQUEST_MESSAGES {
            return Err(error_reply(400, CODE_UNKNOWN, "too many requests in one body"));
        }
        let value = value.map_err(|error| error_reply(500, CODE_UNKNOWN, &error.to_string()))?;
        // etcd's gateway skips fields it does not know on its streams.
        let options = prost_reflect::DeserializeOptions::new().deny_unknown_fields(false);
        let message = DynamicMessage::deserialize_with_options(method.input(), value, &options)
            .map_err(|error| error_reply(500, CODE_UNKNOWN, &error.to_string()))?;
        framed.push(frame(&message.encode_to_vec()));
    }
    assert!(!framed.is_empty() && framed.len() <= MAX_REQUEST_MESSAGES);
    Ok(framed)
}

type RequestFrames = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>;

/// Runs the call: sends the requests, keeps the request stream open, and writes each answer as a
/// line until the call ends or the client is gone.
async fn drive(routes: Routes, method: MethodDescriptor, requests: Vec<Bytes>, lines: mpsc::Sender<Bytes>) {
    let (request_sender, request_frames) = mpsc::channel::<RequestFrames>(requests.len());
    for request in requests {
        let sent = request_sender.try_send(Ok(hyper::body::Frame::data(request)));
        assert!(sent.is_ok(), "the request channel holds every request");
    }
    // Only a watch outlives the end of its requests (etcd's watch server keeps the stream after the
    // client's half-close; its keep-alive server and Snapshot's single request end there).
    let request_sender = (method.full_name() == WATCH_METHOD).then_some(request_sender);
    let Ok(request) = grpc_request(&method, StreamBody::new(ReceiverStream::new(request_frames))) else {
        return;
    };
    let response = match routes.oneshot(request).await {
        Ok(response) => response,
        Err(error) => return send_error(&lines, tonic::Status::internal(error.to_string())).await,
    };
    if let Some(status) = tonic::Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        return send_error(&lines, status).await;
    }
    forward_answers(&method, response.into_body(), &lines).await;
    // The request stream stays open for as long as answers flow.
    drop(request_sender);
}

/// Writes each framed answer of `body` as a `{"result":...}` line; a failing status in the trailers
/// as an `{"error":...}` line.
async fn forward_answers(
    method: &MethodDescriptor,
    mut body: tonic::body::Body,
    lines: &mpsc::Sender<Bytes>,
) {
    let mut pending = BytesMut::new();
    // Each turn takes one frame of the body; the call ends when the body does or the client leaves.
    loop {
        let Some(frame) = body.frame().await else { return };
        let Ok(frame) = frame else { return };
        let frame = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                if let Some(status) = frame.trailers_ref().and_then(tonic::Status::from_header_map)
                    && status.code() != tonic::Code::Ok
                {
                    send_error(lines, status).await;
                }
                return;
            }
        };
        pending.extend_from_slice(&frame);
        while let Some(message) = next_message(&mut pending) {
            let line = match DynamicMessage::decode(method.output(), message) {
                Ok(answer) => format!("{{\"result\":{}}}\n", to_json(&answer)),
                Err(error) => format!("{{\"error\":{{\"message\":{:?}}}}}\n", error.to_string()),
            };
            if lines.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
    }
}

/// The next whole gRPC message at the start of `pending`, if it has arrived.
fn next_message(pending: &mut BytesMut) -> Option<Bytes> {
    if pending.len() < 5 {
        return None;
    }
    let length = u32::from_be_bytes([pending[1], pending[2], pending[3], pending[4]]) as usize;
    if pending.len() < 5 + length {
        return None;
    }
    pending.advance(5);
    Some(pending.split_to(length).freeze())
}

/// grpc-gateway's error line on a stream.
async fn send_error(lines: &mpsc::Sender<Bytes>, status: tonic::Status) {
    let http_code = super::gateway::http_status(status.code());
    let line = serde_json::json!({
        "error": {
            "grpc_code": status.code() as i32,
            "http_code": http_code,
            "message": status.message(),
            "http_status": http::StatusCode::from_u16(http_code)
                .ok()
                .and_then(|code| code.canonical_reason())
                .unwrap_or(""),
        }
    });
    let _ = lines.send(Bytes::from(format!("{line}\n"))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_streaming_route_names_a_method_of_the_protos() {
        for (path, name) in STREAM_ROUTES {
            assert!(is_stream_path(path));
            assert!(method_by_name(name).is_some(), "{path} names no method");
        }
        assert!(!is_stream_path("/v3/kv/range"));
    }

    #[test]
    fn a_body_of_several_objects_is_several_requests_and_bad_json_is_refused() {
        let method = method_by_name("etcdserverpb.Watch/Watch").unwrap();
        let body =
            br#"{"create_request":{"key":"Zm9v"}} {"create_request":{"key":"YQ==","range_end":"Yg=="}}"#;
        let requests = parse_requests(&method, body).expect("two watch requests");
        assert_eq!(requests.len(), 2);
        let mut first = BytesMut::from(&requests[0][..]);
        let message = next_message(&mut first).expect("a whole frame");
        let decoded = DynamicMessage::decode(method.input(), message).unwrap();
        assert!(to_json(&decoded).contains("Zm9v"));
        let refused = parse_requests(&method, b"nonsense").expect_err("not JSON");
        assert_eq!(refused.status, 500);
        assert!(refused.body.contains("\"code\":2"), "{}", refused.body);
    }
}
