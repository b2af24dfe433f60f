//! etcd's JSON gateway under `/v3/`: `curl -XPOST .../v3/kv/put -d '{"key":"Zm9v","value":"YmFy"}'`.
//!
//! Each request is transcoded, not reimplemented: its JSON becomes the gRPC request message (through the
//! protos' descriptors, with protobuf's JSON rules: base64 bytes, 64-bit integers as strings, the protos'
//! own field names), which goes through the very same gRPC services in-process; the answer comes back as
//! JSON the way etcd 3.4's grpc-gateway writes it (default values left out). So the gateway can never
//! disagree with the gRPC API. Why not a gateway crate: Rust has no grpc-gateway; prost-reflect does
//! the JSON mapping, and this file is only the routing and the gRPC framing.

use std::sync::OnceLock;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, SerializeOptions};
use tonic::service::Routes;
use tower::ServiceExt;

/// etcd 3.4's gateway paths and the gRPC methods behind them (unary ones; the streaming ones are in
/// `gateway_stream`).
const ROUTES: &[(&str, &str)] = &[
    ("/v3/kv/range", "etcdserverpb.KV/Range"),
    ("/v3/kv/put", "etcdserverpb.KV/Put"),
    ("/v3/kv/deleterange", "etcdserverpb.KV/DeleteRange"),
    ("/v3/kv/txn", "etcdserverpb.KV/Txn"),
    ("/v3/kv/compaction", "etcdserverpb.KV/Compact"),
    ("/v3/lease/grant", "etcdserverpb.Lease/LeaseGrant"),
    ("/v3/lease/revoke", "etcdserverpb.Lease/LeaseRevoke"),
    ("/v3/kv/lease/revoke", "etcdserverpb.Lease/LeaseRevoke"),
    ("/v3/lease/timetolive", "etcdserverpb.Lease/LeaseTimeToLive"),
    ("/v3/kv/lease/timetolive", "etcdserverpb.Lease/LeaseTimeToLive"),
    ("/v3/lease/leases", "etcdserverpb.Lease/LeaseLeases"),
    ("/v3/kv/lease/leases", "etcdserverpb.Lease/LeaseLeases"),
    ("/v3/cluster/member/list", "etcdserverpb.Cluster/MemberList"),
    ("/v3/cluster/member/add", "etcdserverpb.Cluster/MemberAdd"),
    ("/v3/cluster/member/remove", "etcdserverpb.Cluster/MemberRemove"),
    ("/v3/cluster/member/update", "etcdserverpb.Cluster/MemberUpdate"),
    ("/v3/cluster/member/promote", "etcdserverpb.Cluster/MemberPromote"),
    ("/v3/maintenance/alarm", "etcdserverpb.Maintenance/Alarm"),
    ("/v3/maintenance/status", "etcdserverpb.Maintenance/Status"),
    ("/v3/maintenance/defragment", "etcdserverpb.Maintenance/Defragment"),
    ("/v3/maintenance/hash", "etcdserverpb.Maintenance/HashKV"),
    ("/v3/maintenance/transfer-leadership", "etcdserverpb.Maintenance/MoveLeader"),
    ("/v3/auth/enable", "etcdserverpb.Auth/AuthEnable"),
    ("/v3/auth/disable", "etcdserverpb.Auth/AuthDisable"),
    ("/v3/auth/authenticate", "etcdserverpb.Auth/Authenticate"),
    ("/v3/auth/user/add", "etcdserverpb.Auth/UserAdd"),
    ("/v3/auth/user/get", "etcdserverpb.Auth/UserGet"),
    ("/v3/auth/user/list", "etcdserverpb.Auth/UserList"),
    ("/v3/auth/user/delete", "etcdserverpb.Auth/UserDelete"),
    ("/v3/auth/user/changepw", "etcdserverpb.Auth/UserChangePassword"),
    ("/v3/auth/user/grant", "etcdserverpb.Auth/UserGrantRole"),
    ("/v3/auth/user/revoke", "etcdserverpb.Auth/UserRevokeRole"),
    ("/v3/auth/role/add", "etcdserverpb.Auth/RoleAdd"),
    ("/v3/auth/role/get", "etcdserverpb.Auth/RoleGet"),
    ("/v3/auth/role/list", "etcdserverpb.Auth/RoleList"),
    ("/v3/auth/role/delete", "etcdserverpb.Auth/RoleDelete"),
    ("/v3/auth/role/grant", "etcdserverpb.Auth/RoleGrantPermission"),
    ("/v3/auth/role/revoke", "etcdserverpb.Auth/RoleRevokePermission"),
];

/// gRPC's code for a malformed request (what the gateway answers for JSON it cannot read).
const CODE_INVALID_ARGUMENT: i32 = 3;
/// gRPC's code for a path no service serves.
const CODE_UNIMPLEMENTED: i32 = 12;

/// What the gateway answers: an HTTP status and a JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayReply {
    pub status: u16,
    pub body: String,
}

/// Whether `path` is one of the gateway's (`/v3/...`).
pub fn is_gateway_path(path: &str) -> bool {
    path.starts_with("/v3/")
}

/// Serves one gateway request through the gRPC `routes`; `authorization` (the `Authorization` header,
/// a v3 simple token as etcd's gateway takes it) goes along as the call's metadata.
pub async fn handle(routes: Routes, path: &str, body: &[u8], authorization: Option<&str>) -> GatewayReply {
    let Some(method) = method_for(path) else {
        return error_reply(404, CODE_UNIMPLEMENTED, "Not Found");
    };
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request = match DynamicMessage::deserialize(method.input(), &mut deserializer) {
        Ok(request) => request,
        Err(error) => return error_reply(400, CODE_INVALID_ARGUMENT, &error.to_string()),
    };
    match call(routes, &method, request.encode_to_vec(), authorization).await {
        Ok(bytes) => match DynamicMessage::decode(method.output(), bytes.as_slice()) {
            Ok(response) => GatewayReply { status: 200, body: to_json(&response) },
            Err(error) => error_reply(500, 13, &format!("undecodable answer: {error}")),
        },
        Err(status) => error_reply(http_status(status.code()), status.code() as i32, status.message()),
    }
}

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(api::FILE_DESCRIPTOR_SET).expect("the api crate embeds a valid descriptor set")
    })
}

fn method_for(path: &str) -> Option<MethodDescriptor> {
    let (_, full_name) = ROUTES.iter().find(|(route, _)| *route == path)?;
    method_by_name(full_name)
}

/// The method `service/method` of the protos (`etcdserverpb.KV/Range`).
pub(super) fn method_by_name(full_name: &str) -> Option<MethodDescriptor> {
    let (service, method) = full_name.split_once('/')?;
    pool().get_service_by_name(service)?.methods().find(|candidate| candidate.name() == method)
}

/// One unary gRPC call through the in-process routes: a framed message in, a framed message (or a
/// status in the headers or trailers) out.
async fn call(
    routes: Routes,
    method: &MethodDescriptor,
    message: Vec<u8>,
    authorization: Option<&str>,
) -> Result<Vec<u8>, tonic::Status> {
    let mut request = grpc_request(method, Full::new(frame(&message)))
        .map_err(|error| tonic::Status::internal(error.to_string()))?;
    if let Some(value) = authorization.and_then(|token| http::HeaderValue::from_str(token).ok()) {
        request.headers_mut().insert("authorization", value);
    }
    let response =
        routes.oneshot(request).await.map_err(|error| tonic::Status::internal(error.to_string()))?;
    if let Some(status) = tonic::Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        return Err(status);
    }
    let collected =
        response.into_body().collect().await.map_err(|error| tonic::Status::internal(error.to_string()))?;
    if let Some(status) = collected.trailers().and_then(tonic::Status::from_header_map)
        && status.code() != tonic::Code::Ok
    {
        return Err(status);
    }
    unframe(collected.to_bytes())
}

/// A gRPC request for `method` with `body`, as a gRPC client sends it.
pub(super) fn grpc_request<Body>(method: &MethodDescriptor, body: Body) -> http::Result<http::Request<Body>> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    http::Request::builder()
        .method("POST")
        .uri(path)
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
}

/// One message in gRPC's framing: uncompressed, its length, its bytes.
pub(super) fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(message.len() + 5);
    framed.put_u8(0);
    framed.put_u32(message.len() as u32);
    framed.put_slice(message);
    framed.freeze()
}

fn unframe(mut bytes: Bytes) -> Result<Vec<u8>, tonic::Status> {
    if bytes.len() < 5 {
        return Err(tonic::Status::internal("empty gRPC answer"));
    }
    let _compressed = bytes.get_u8();
    let length = bytes.get_u32() as usize;
    if bytes.len() < length {
        return Err(tonic::Status::internal("truncated gRPC answer"));
    }
    Ok(bytes[..length].to_vec())
}

/// grpc-gateway's JSON: the protos' field names, 64-bit integers as strings, default values left out.
pub(super) fn to_json(message: &DynamicMessage) -> String {
    let options = SerializeOptions::new().use_proto_field_name(true).skip_default_fields(true);
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut out);
    match message.serialize_with_options(&mut serializer, &options) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(error) => format!("{{\"error\":{:?}}}", error.to_string()),
    }
}

pub(super) fn error_reply(status: u16, code: i32, message: &str) -> GatewayReply {
    let body = serde_json::json!({ "error": message, "message": message, "code": code }).to_string();
    GatewayReply { status, body }
}

/// grpc-gateway's mapping of gRPC codes to HTTP statuses.
pub(super) fn http_status(code: tonic::Code) -> u16 {
    use tonic::Code;
    match code {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::Unauthenticated => 401,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_names_a_method_of_the_protos() {
        for (path, _) in ROUTES {
            assert!(method_for(path).is_some(), "{path} names no method");
        }
        assert!(method_for("/v3/kv/nothing").is_none());
    }

    #[test]
    fn answers_are_written_like_etcds_gateway() {
        let method = method_for("/v3/lease/grant").unwrap();
        let mut response = DynamicMessage::new(method.output());
        response.set_field_by_name("ID", prost_reflect::Value::I64(4390625061201234222));
        response.set_field_by_name("TTL", prost_reflect::Value::I64(30));
        assert_eq!(to_json(&response), r#"{"ID":"4390625061201234222","TTL":"30"}"#);
    }
}
