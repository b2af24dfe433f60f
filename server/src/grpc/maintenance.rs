//! etcd's Maintenance service: Status (every field `etcdctl endpoint status` prints, raised alarms
//! in `errors` as etcd writes them), Alarm (list, raise NOSPACE, disarm: the node's replicated alarms), Hash, HashKV, MoveLeader, Defragment (nothing to do for
//! an in-memory keyspace, so it succeeds) and Snapshot (this member's keyspace as etcd's bbolt file:
//! the node hands out a copy, a blocking thread encodes it, and the frames go out through a bounded
//! channel). Alarm, Defragment, MoveLeader and Snapshot answers carry no header, as etcd's do.
//! While auth is on, Defragment, Hash, HashKV and Snapshot need the root role and are refused with
//! the auth store's own errors (`auth: permission denied`, code `Unknown`) as etcd 3.4 refuses them;
//! Status, Alarm and MoveLeader are open, as in etcd 3.4.

use api::etcdserverpb as pb;
use api::etcdserverpb::alarm_request::AlarmAction;
use api::etcdserverpb::maintenance_server::Maintenance;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{V3Backend, ask, check_admin, convert, mismatched, status};
use crate::node::{AlarmAction as NodeAlarmAction, AlarmMember, AlarmType, V3Image, V3Reply, V3Request};
use crate::v3_snapshot::etcd_db::{EtcdImage, etcd_database};
use crate::v3_snapshot::stream::Frames;

/// Snapshot frames (32 KiB each) waiting for a slow client at most.
const SNAPSHOT_CHANNEL_FRAMES: usize = 8;
/// Why raising a CORRUPT alarm by hand is refused.
pub const ALARM_ACTIVATE_UNSUPPORTED: &str = "concord: raising the CORRUPT alarm is not supported";

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

impl<B: V3Backend> MaintenanceService<B> {
    async fn alarms(
        &self,
        action: NodeAlarmAction,
        member_id: u64,
        alarm: Option<AlarmType>,
    ) -> Result<Vec<AlarmMember>, Status> {
        let answer = ask(&self.backend, V3Request::Alarm { action, member_id, alarm }).await?;
        match answer.reply {
            V3Reply::Alarm(alarms) => Ok(alarms),
            other => Err(mismatched(&other)),
        }
    }
}

/// An alarm as etcd's status `errors` spell it (the protobuf text of `AlarmMember`).
pub fn alarm_text(alarm: &AlarmMember) -> String {
    let name = match alarm.alarm {
        AlarmType::NoSpace => "NOSPACE",
        AlarmType::Corrupt => "CORRUPT",
    };
    format!("memberID:{} alarm:{name} ", alarm.member_id)
}

#[tonic::async_trait]
impl<B: V3Backend> Maintenance for MaintenanceService<B> {
    /// Lists, raises (NOSPACE only) or disarms alarms; answers the alarms listed or changed.
    async fn alarm(&self, request: Request<pb::AlarmRequest>) -> Result<Response<pb::AlarmResponse>, Status> {
        let request = request.into_inner();
        let alarm = match pb::AlarmType::try_from(request.alarm) {
            Ok(pb::AlarmType::None) => None,
            Ok(pb::AlarmType::Nospace) => Some(AlarmType::NoSpace),
            Ok(pb::AlarmType::Corrupt) => Some(AlarmType::Corrupt),
            Err(_) => return Err(Status::invalid_argument(format!("unknown alarm type {}", request.alarm))),
        };
        let action = match AlarmAction::try_from(request.action) {
            Ok(AlarmAction::Get) => NodeAlarmAction::Get,
            Ok(AlarmAction::Deactivate) => NodeAlarmAction::Deactivate,
            Ok(AlarmAction::Activate) if alarm != Some(AlarmType::Corrupt) => NodeAlarmAction::Activate,
            Ok(AlarmAction::Activate) | Err(_) => {
                return Err(Status::unimplemented(ALARM_ACTIVATE_UNSUPPORTED));
            }
        };
        let alarms = self.alarms(action, request.member_id, alarm).await?;
        let alarms = alarms
            .iter()
            .map(|raised| pb::AlarmMember { member_id: raised.member_id, alarm: raised.alarm as i32 })
            .collect();
        Ok(Response::new(pb::AlarmResponse { header: None, alarms }))
    }

    /// The status copy, with the raised alarms as `errors` (etcd: `memberID:<id> alarm:NOSPACE `).
    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let mut status = self.backend.v3_status();
        if let Ok(alarms) = self.alarms(NodeAlarmAction::Get, 0, None).await {
            status.errors = alarms.iter().map(alarm_text).collect();
        }
        Ok(Response::new(convert::status_response(status)))
    }

    async fn defragment(
        &self,
        request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        check_admin(&self.backend, &request).await.map_err(status::maintenance_status)?;
        Ok(Response::new(pb::DefragmentResponse { header: None }))
    }

    async fn hash(&self, request: Request<pb::HashRequest>) -> Result<Response<pb::HashResponse>, Status> {
        let hash = super::on_behalf(super::token(&request), V3Request::Hash);
        let answer = ask(&self.backend, hash).await.map_err(status::maintenance_status)?;
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
        let token = super::token(&request);
        let hash_kv = V3Request::HashKv { revision: request.into_inner().revision };
        let answer =
            ask(&self.backend, super::on_behalf(token, hash_kv)).await.map_err(status::maintenance_status)?;
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

    /// The keyspace as etcd's snapshot: a copy from the node (at its applied index), encoded off the
    /// async threads, streamed in chunks followed by the file's sha256.
    async fn snapshot(
        &self,
        request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        let snapshot = super::on_behalf(super::token(&request), V3Request::Snapshot);
        let answer = ask(&self.backend, snapshot).await.map_err(status::maintenance_status)?;
        let image = match answer.reply {
            V3Reply::Snapshot(image) => image,
            other => return Err(mismatched(&other)),
        };
        let database = tokio::task::spawn_blocking(move || encode(&image))
            .await
            .map_err(|error| Status::internal(format!("concord: encoding the snapshot failed: {error}")))?;
        let (sender, receiver) = mpsc::channel(SNAPSHOT_CHANNEL_FRAMES);
        tokio::spawn(send_frames(Frames::new(database), sender));
        Ok(Response::new(ReceiverStream::new(receiver)))
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

/// The bbolt file of an image.
fn encode(image: &V3Image) -> Vec<u8> {
    let etcd_image =
        EtcdImage { keyspace: &image.keyspace, consistent_index: image.applied_index, alarms: &image.alarms };
    etcd_database(&etcd_image)
}

/// Sends every frame in order; stops early when the client goes away.
async fn send_frames(frames: Frames, sender: mpsc::Sender<Result<pb::SnapshotResponse, Status>>) {
    for frame in frames {
        let response =
            pb::SnapshotResponse { header: None, remaining_bytes: frame.remaining_bytes, blob: frame.blob };
        if sender.send(Ok(response)).await.is_err() {
            return;
        }
    }
}
