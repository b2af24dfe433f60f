//! etcd's Maintenance service: Status (every field `etcdctl endpoint status` prints), Alarm (none is
//! ever raised: the keyspace lives in memory), Hash, HashKV, MoveLeader, Defragment (nothing to do for
//! an in-memory keyspace, so it succeeds) and Snapshot (not served yet). Alarm, Defragment and
//! MoveLeader answers carry no header, as etcd's do.

use api::etcdserverpb as pb;
use api::etcdserverpb::alarm_request::AlarmAction;
use api::etcdserverpb::maintenance_server::Maintenance;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{V3Backend, ask, convert, mismatched, status};
use crate::node::{V3Reply, V3Request};

/// Why Snapshot is refused.
pub const SNAPSHOT_UNSUPPORTED: &str =
    "concord: snapshot download is not supported yet (etcd's snapshot is a bolt database file)";
/// Why raising an alarm by hand is refused.
pub const ALARM_ACTIVATE_UNSUPPORTED: &str = "concord: raising alarms is not supported";

/// The Maintenance service over a backend.
pub struct MaintenanceService<B> {
    backend: B,
}

impl<B> MaintenanceService<B> {
    pub fn new(backend: B) -> MaintenanceService<B> {
        MaintenanceService { backend }
    }
}

type SnapshotStream = ReceiverStream<Result<pb::SnapshotResponse, Status>>;

#[tonic::async_trait]
impl<B: V3Backend> Maintenance for MaintenanceService<B> {
    /// Listing and disarming answer the (always empty) list of raised alarms.
    async fn alarm(&self, request: Request<pb::AlarmRequest>) -> Result<Response<pb::AlarmResponse>, Status> {
        match AlarmAction::try_from(request.into_inner().action) {
            Ok(AlarmAction::Get | AlarmAction::Deactivate) => Ok(Response::new(pb::AlarmResponse::default())),
            Ok(AlarmAction::Activate) | Err(_) => Err(Status::unimplemented(ALARM_ACTIVATE_UNSUPPORTED)),
        }
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        Ok(Response::new(convert::status_response(self.backend.v3_status())))
    }

    async fn defragment(
        &self,
        _request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        Ok(Response::new(pb::DefragmentResponse { header: None }))
    }

    async fn hash(&self, _request: Request<pb::HashRequest>) -> Result<Response<pb::HashResponse>, Status> {
        let answer = ask(&self.backend, V3Request::Hash).await?;
        match answer.reply {
            V3Reply::Hash(reply) => Ok(Response::new(pb::HashResponse {
                header: Some(convert::header(answer.header)),
                hash: reply.hash,
            })),
            other => Err(mismatched(&other)),
        }
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        let answer =
            ask(&self.backend, V3Request::HashKv { revision: request.into_inner().revision }).await?;
        match answer.reply {
            V3Reply::HashKv(reply) => Ok(Response::new(pb::HashKvResponse {
                header: Some(convert::header(answer.header)),
                hash: reply.hash,
                compact_revision: reply.compact_revision,
            })),
            other => Err(mismatched(&other)),
        }
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        _request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        Err(Status::unimplemented(SNAPSHOT_UNSUPPORTED))
    }

    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        let target = request.into_inner().target_id;
        self.backend.move_leader(target).await.map_err(|error| status::v3_status(&error))?;
        Ok(Response::new(pb::MoveLeaderResponse { header: None }))
    }
}
