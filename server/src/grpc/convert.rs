//! Field-for-field conversions between etcd's protobuf messages (`api`) and the node's v3 types
//! (`mvcc`'s request and response shapes, members, status). Pure: no IO, no backend.
//!
//! Headers: a top-level response carries the full `ResponseHeader` the node answered with; the
//! responses inside a txn carry only their revision (a nested txn's header is present but empty),
//! exactly as etcd fills them.

use api::etcdserverpb as pb;
use api::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use api::etcdserverpb::range_request::{SortOrder, SortTarget};
use api::etcdserverpb::{request_op, response_op};
use api::mvccpb;
use tonic::Status;

use super::backend::{Header, MemberStatus};
use crate::http::Member;

// --- Headers, key-values, events ---------------------------------------------------------------

/// etcd's full response header.
pub fn header(header: Header) -> pb::ResponseHeader {
    pb::ResponseHeader {
        cluster_id: header.cluster_id,
        member_id: header.member_id,
        revision: header.revision,
        raft_term: header.raft_term,
    }
}

/// The header of a response inside a txn: its revision only.
fn inner_header(header: mvcc::ResponseHeader) -> pb::ResponseHeader {
    pb::ResponseHeader { revision: header.revision, ..pb::ResponseHeader::default() }
}

pub fn key_value(kv: mvcc::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

pub fn event(event: mvcc::Event) -> mvccpb::Event {
    let kind = match event.kind {
        mvcc::EventKind::Put => mvccpb::event::EventType::Put,
        mvcc::EventKind::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event {
        r#type: kind as i32,
        kv: Some(key_value(event.kv)),
        prev_kv: event.prev_kv.map(key_value),
    }
}

// --- KV requests -------------------------------------------------------------------------------

/// An unknown sort order sorts nothing and an unknown target sorts by key, as etcd's applier does.
pub fn range_request(request: pb::RangeRequest) -> mvcc::RangeRequest {
    let sort_order = match SortOrder::try_from(request.sort_order) {
        Ok(SortOrder::Ascend) => mvcc::SortOrder::Ascend,
        Ok(SortOrder::Descend) => mvcc::SortOrder::Descend,
        Ok(SortOrder::None) | Err(_) => mvcc::SortOrder::None,
    };
    let sort_target = match SortTarget::try_from(request.sort_target) {
        Ok(SortTarget::Version) => mvcc::SortTarget::Version,
        Ok(SortTarget::Create) => mvcc::SortTarget::Create,
        Ok(SortTarget::Mod) => mvcc::SortTarget::Mod,
        Ok(SortTarget::Value) => mvcc::SortTarget::Value,
        Ok(SortTarget::Key) | Err(_) => mvcc::SortTarget::Key,
    };
    mvcc::RangeRequest {
        key: request.key,
        range_end: request.range_end,
        limit: request.limit,
        revision: request.revision,
        sort_order,
        sort_target,
        serializable: request.serializable,
        keys_only: request.keys_only,
        count_only: request.count_only,
        min_mod_revision: request.min_mod_revision,
        max_mod_revision: request.max_mod_revision,
        min_create_revision: request.min_create_revision,
        max_create_revision: request.max_create_revision,
    }
}

pub fn put_request(request: pb::PutRequest) -> mvcc::PutRequest {
    mvcc::PutRequest {
        key: request.key,
        value: request.value,
        lease: request.lease,
        prev_kv: request.prev_kv,
        ignore_value: request.ignore_value,
        ignore_lease: request.ignore_lease,
    }
}

pub fn delete_range_request(request: pb::DeleteRangeRequest) -> mvcc::DeleteRangeRequest {
    mvcc::DeleteRangeRequest { key: request.key, range_end: request.range_end, prev_kv: request.prev_kv }
}

pub fn compaction_request(request: pb::CompactionRequest) -> mvcc::CompactionRequest {
    mvcc::CompactionRequest { revision: request.revision, physical: request.physical }
}

/// A txn; an operation without a request is refused as etcd refuses it (`key not found`).
pub fn txn_request(request: pb::TxnRequest) -> Result<mvcc::TxnRequest, Status> {
    let compare = request.compare.into_iter().map(compare).collect();
    let success = request.success.into_iter().map(request_op).collect::<Result<Vec<_>, Status>>()?;
    let failure = request.failure.into_iter().map(request_op).collect::<Result<Vec<_>, Status>>()?;
    Ok(mvcc::TxnRequest { compare, success, failure })
}

fn request_op(op: pb::RequestOp) -> Result<mvcc::RequestOp, Status> {
    match op.request {
        Some(request_op::Request::RequestRange(request)) => {
            Ok(mvcc::RequestOp::Range(range_request(request)))
        }
        Some(request_op::Request::RequestPut(request)) => Ok(mvcc::RequestOp::Put(put_request(request))),
        Some(request_op::Request::RequestDeleteRange(request)) => {
            Ok(mvcc::RequestOp::DeleteRange(delete_range_request(request)))
        }
        Some(request_op::Request::RequestTxn(request)) => Ok(mvcc::RequestOp::Txn(txn_request(request)?)),
        None => Err(api::errors::KEY_NOT_FOUND.status()),
    }
}

/// A compare. A union that does not match the target reads as the target's zero value, as in etcd.
/// Results and targets outside etcd's enums are read as etcd's `compareKV` reads them
/// (`outside_the_enums`).
fn compare(compare: pb::Compare) -> mvcc::Compare {
    let result = match CompareResult::try_from(compare.result) {
        Ok(CompareResult::Equal) => Some(mvcc::CompareResult::Equal),
        Ok(CompareResult::Greater) => Some(mvcc::CompareResult::Greater),
        Ok(CompareResult::Less) => Some(mvcc::CompareResult::Less),
        Ok(CompareResult::NotEqual) => Some(mvcc::CompareResult::NotEqual),
        Err(_) => None,
    };
    let union = compare.target_union;
    let target = match CompareTarget::try_from(compare.target) {
        Ok(CompareTarget::Version) => {
            Some(mvcc::CompareTarget::Version(if let Some(TargetUnion::Version(n)) = union { n } else { 0 }))
        }
        Ok(CompareTarget::Create) => {
            Some(mvcc::CompareTarget::CreateRevision(if let Some(TargetUnion::CreateRevision(n)) = union {
                n
            } else {
                0
            }))
        }
        Ok(CompareTarget::Mod) => {
            Some(mvcc::CompareTarget::ModRevision(if let Some(TargetUnion::ModRevision(n)) = union {
                n
            } else {
                0
            }))
        }
        Ok(CompareTarget::Value) => {
            Some(mvcc::CompareTarget::Value(if let Some(TargetUnion::Value(v)) = union {
                v
            } else {
                Vec::new()
            }))
        }
        Ok(CompareTarget::Lease) => {
            Some(mvcc::CompareTarget::Lease(if let Some(TargetUnion::Lease(n)) = union { n } else { 0 }))
        }
        Err(_) => None,
    };
    let (target, result) = match (target, result) {
        (Some(target), Some(result)) => (target, result),
        (target, result) => outside_the_enums(target.as_ref(), result),
    };
    mvcc::Compare { result, target, key: compare.key, range_end: compare.range_end }
}

/// etcd's `compareKV` on a compare outside its enums: with an unknown result the compare holds for
/// every key (a Value compare still fails when no key exists, as every Value compare does); with an
/// unknown target the comparison reads as equal, so only EQUAL holds. Expressed as compares that
/// behave the same on every key: no version is below 0 (a missing key reads as version 0), and only
/// an existing key has a create revision above 0.
fn outside_the_enums(
    target: Option<&mvcc::CompareTarget>,
    result: Option<mvcc::CompareResult>,
) -> (mvcc::CompareTarget, mvcc::CompareResult) {
    let always = (mvcc::CompareTarget::Version(-1), mvcc::CompareResult::Greater);
    let never = (mvcc::CompareTarget::Version(-1), mvcc::CompareResult::Less);
    let any_existing_key = (mvcc::CompareTarget::CreateRevision(0), mvcc::CompareResult::Greater);
    match (target, result) {
        (Some(mvcc::CompareTarget::Value(_)), None) => any_existing_key,
        (Some(_), None) | (None, None) | (None, Some(mvcc::CompareResult::Equal)) => always,
        (None, Some(_)) => never,
        (Some(_), Some(_)) => unreachable!("a compare inside etcd's enums needs no rewriting"),
    }
}

// --- KV responses ------------------------------------------------------------------------------

pub fn range_response(response: mvcc::RangeResponse, header: pb::ResponseHeader) -> pb::RangeResponse {
    pb::RangeResponse {
        header: Some(header),
        kvs: response.kvs.into_iter().map(key_value).collect(),
        more: response.more,
        count: response.count,
    }
}

pub fn put_response(response: mvcc::PutResponse, header: pb::ResponseHeader) -> pb::PutResponse {
    pb::PutResponse { header: Some(header), prev_kv: response.prev_kv.map(key_value) }
}

pub fn delete_range_response(
    response: mvcc::DeleteRangeResponse,
    header: pb::ResponseHeader,
) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header: Some(header),
        deleted: response.deleted,
        prev_kvs: response.prev_kvs.into_iter().map(key_value).collect(),
    }
}

pub fn txn_response(response: mvcc::TxnResponse, header: pb::ResponseHeader) -> pb::TxnResponse {
    pb::TxnResponse {
        header: Some(header),
        succeeded: response.succeeded,
        responses: response.responses.into_iter().map(response_op).collect(),
    }
}

fn response_op(op: mvcc::ResponseOp) -> pb::ResponseOp {
    let response = match op {
        mvcc::ResponseOp::Range(inner) => {
            let header = inner_header(inner.header);
            response_op::Response::ResponseRange(range_response(inner, header))
        }
        mvcc::ResponseOp::Put(inner) => {
            let header = inner_header(inner.header);
            response_op::Response::ResponsePut(put_response(inner, header))
        }
        mvcc::ResponseOp::DeleteRange(inner) => {
            let header = inner_header(inner.header);
            response_op::Response::ResponseDeleteRange(delete_range_response(inner, header))
        }
        mvcc::ResponseOp::Txn(inner) => {
            let header = inner_header(inner.header);
            response_op::Response::ResponseTxn(txn_response(inner, header))
        }
    };
    pb::ResponseOp { response: Some(response) }
}

// --- Members and status ------------------------------------------------------------------------

pub fn member(member: &Member) -> pb::Member {
    pb::Member {
        id: member.id,
        name: member.name.clone(),
        peer_ur_ls: member.peer_urls.clone(),
        client_ur_ls: member.client_urls.clone(),
        is_learner: member.is_learner,
    }
}

/// Members as etcd lists them: by ID.
pub fn members(members: &[Member]) -> Vec<pb::Member> {
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by_key(|member| member.id);
    sorted.into_iter().map(member).collect()
}

pub fn status_response(status: MemberStatus) -> pb::StatusResponse {
    pb::StatusResponse {
        header: Some(header(status.header)),
        version: status.version,
        db_size: status.db_size_bytes,
        leader: status.leader,
        raft_index: status.raft_index,
        raft_term: status.raft_term,
        raft_applied_index: status.raft_applied_index,
        errors: status.errors,
        db_size_in_use: status.db_size_in_use_bytes,
        is_learner: status.is_learner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compare_reads_a_mismatched_union_as_the_targets_zero_value() {
        let request = pb::Compare {
            result: CompareResult::Greater as i32,
            target: CompareTarget::Mod as i32,
            key: b"k".to_vec(),
            target_union: Some(TargetUnion::Version(7)),
            range_end: Vec::new(),
        };
        let converted = compare(request);
        assert_eq!(converted.target, mvcc::CompareTarget::ModRevision(0));
        assert_eq!(converted.result, mvcc::CompareResult::Greater);
    }

    #[test]
    fn compares_outside_etcds_enums_read_as_etcd_reads_them() {
        let request = |result: i32, target: i32| pb::Compare { result, target, ..pb::Compare::default() };
        let always = (mvcc::CompareTarget::Version(-1), mvcc::CompareResult::Greater);
        let never = (mvcc::CompareTarget::Version(-1), mvcc::CompareResult::Less);
        let converted = |result, target| {
            let compare = compare(request(result, target));
            (compare.target, compare.result)
        };
        assert_eq!(converted(9, CompareTarget::Version as i32), always);
        assert_eq!(converted(9, 9), always);
        assert_eq!(converted(CompareResult::Equal as i32, 9), always);
        assert_eq!(converted(CompareResult::Greater as i32, 9), never);
        let value = converted(9, CompareTarget::Value as i32);
        assert_eq!(value, (mvcc::CompareTarget::CreateRevision(0), mvcc::CompareResult::Greater));
    }

    #[test]
    fn an_operation_without_a_request_is_etcds_key_not_found() {
        let request =
            pb::TxnRequest { success: vec![pb::RequestOp { request: None }], ..pb::TxnRequest::default() };
        let status = txn_request(request).unwrap_err();
        assert!(api::errors::KEY_NOT_FOUND.matches(&status));
    }

    #[test]
    fn responses_inside_a_txn_carry_only_their_revision() {
        let inner = mvcc::RangeResponse {
            header: mvcc::ResponseHeader { revision: 13 },
            count: 1,
            ..Default::default()
        };
        let nested = mvcc::TxnResponse { succeeded: true, ..Default::default() };
        let response = mvcc::TxnResponse {
            header: mvcc::ResponseHeader { revision: 13 },
            succeeded: false,
            responses: vec![mvcc::ResponseOp::Range(inner), mvcc::ResponseOp::Txn(nested)],
        };
        let top = pb::ResponseHeader { cluster_id: 1, member_id: 2, revision: 13, raft_term: 2 };
        let converted = txn_response(response, top);
        assert_eq!(converted.header, Some(top));
        let Some(response_op::Response::ResponseRange(range)) = &converted.responses[0].response else {
            panic!("a range response");
        };
        assert_eq!(range.header, Some(pb::ResponseHeader { revision: 13, ..Default::default() }));
        let Some(response_op::Response::ResponseTxn(txn)) = &converted.responses[1].response else {
            panic!("a txn response");
        };
        assert_eq!(txn.header, Some(pb::ResponseHeader::default()), "present but empty");
    }

    #[test]
    fn a_delete_event_keeps_the_key_and_revision_and_members_are_listed_by_id() {
        let kv = mvcc::KeyValue { key: b"k".to_vec(), mod_revision: 9, ..Default::default() };
        let converted = event(mvcc::Event { kind: mvcc::EventKind::Delete, kv, prev_kv: None });
        assert_eq!(converted.r#type, mvccpb::event::EventType::Delete as i32);
        assert_eq!(converted.kv.as_ref().map(|kv| kv.mod_revision), Some(9));
        let listed = members(&[Member { id: 9, ..Member::default() }, Member { id: 3, ..Member::default() }]);
        assert_eq!(listed.iter().map(|member| member.id).collect::<Vec<_>>(), [3, 9]);
    }
}
