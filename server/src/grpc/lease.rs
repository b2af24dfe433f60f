//! etcd's Lease service: Grant, Revoke, the KeepAlive stream, TimeToLive and Leases. etcd's answers
//! for unknown leases are kept: TimeToLive answers TTL -1 and KeepAlive answers TTL 0 (no error);
//! Revoke answers "requested lease not found".

use api::etcdserverpb as pb;
use api::etcdserverpb::lease_server::Lease;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::backend::V3Error;
use super::{V3Backend, ask, convert, mismatched, require_leader, status};
use crate::node::{V3Reply, V3Request};

/// Keep-alive answers a stream may have queued for its client; the stream stops reading requests
/// while the client does not read its answers.
pub const KEEP_ALIVE_RESPONSE_QUEUE: usize = 16;

/// The Lease service over a backend.
pub struct LeaseService<B> {
    backend: B,
}

impl<B> LeaseService<B> {
    pub fn new(backend: B) -> LeaseService<B> {
        LeaseService { backend }
    }
}

type KeepAliveStream = ReceiverStream<Result<pb::LeaseKeepAliveResponse, Status>>;

/// Whether an error is the keyspace's "no such lease".
fn is_unknown_lease(error: &V3Error) -> bool {
    matches!(error, V3Error::Keyspace(mvcc::Error::LeaseNotFound))
}

#[tonic::async_trait]
impl<B: V3Backend> Lease for LeaseService<B> {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let request = request.into_inner();
        let answer =
            ask(&self.backend, V3Request::LeaseGrant { ttl_seconds: request.ttl, id: request.id }).await?;
        match answer.reply {
            V3Reply::LeaseGrant(reply) => Ok(Response::new(pb::LeaseGrantResponse {
                header: Some(convert::header(answer.header)),
                id: reply.id,
                ttl: reply.ttl,
                error: String::new(),
            })),
            other => Err(mismatched(&other)),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let token = super::token(&request);
        let revoke = V3Request::LeaseRevoke { id: request.into_inner().id };
        let answer = ask(&self.backend, super::on_behalf(token, revoke)).await?;
        match answer.reply {
            V3Reply::LeaseRevoke(_) => {
                Ok(Response::new(pb::LeaseRevokeResponse { header: Some(convert::header(answer.header)) }))
            }
            other => Err(mismatched(&other)),
        }
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<KeepAliveStream>, Status> {
        require_leader(&self.backend, &request)?;
        let (outgoing, responses) = mpsc::channel(KEEP_ALIVE_RESPONSE_QUEUE);
        tokio::spawn(keep_alive_session(self.backend.clone(), request.into_inner(), outgoing));
        Ok(Response::new(ReceiverStream::new(responses)))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let token = super::token(&request);
        let pb::LeaseTimeToLiveRequest { id, keys } = request.into_inner();
        let time_to_live = super::on_behalf(token, V3Request::LeaseTimeToLive { id, keys });
        let answer = match self.backend.v3(time_to_live).await {
            Ok(answer) => answer,
            Err(error) if is_unknown_lease(&error) => {
                let header = Some(convert::header(self.backend.v3_status().header));
                return Ok(Response::new(pb::LeaseTimeToLiveResponse {
                    header,
                    id,
                    ttl: -1,
                    ..Default::default()
                }));
            }
            Err(error) => return Err(status::v3_status(&error)),
        };
        match answer.reply {
            V3Reply::LeaseTimeToLive(reply) => Ok(Response::new(pb::LeaseTimeToLiveResponse {
                header: Some(convert::header(answer.header)),
                id: reply.id,
                ttl: reply.ttl,
                granted_ttl: reply.granted_ttl,
                keys: reply.keys,
            })),
            other => Err(mismatched(&other)),
        }
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        let answer = ask(&self.backend, V3Request::LeaseLeases).await?;
        match answer.reply {
            V3Reply::LeaseLeases(reply) => Ok(Response::new(pb::LeaseLeasesResponse {
                header: Some(convert::header(answer.header)),
                leases: reply.leases.into_iter().map(|id| pb::LeaseStatus { id }).collect(),
            })),
            other => Err(mismatched(&other)),
        }
    }
}

/// Answers a keep-alive stream's requests in order until the client closes its side or goes away.
/// An unknown lease is answered TTL 0; any other failure ends the stream with its status, as etcd does.
async fn keep_alive_session<B: V3Backend>(
    backend: B,
    mut inbound: Streaming<pb::LeaseKeepAliveRequest>,
    outgoing: mpsc::Sender<Result<pb::LeaseKeepAliveResponse, Status>>,
) {
    loop {
        let request = tokio::select! {
            request = inbound.message() => request,
            () = outgoing.closed() => return,
        };
        let Ok(Some(pb::LeaseKeepAliveRequest { id })) = request else { return };
        let answer = match backend.v3(V3Request::LeaseKeepAlive { id }).await {
            Ok(answer) => match answer.reply {
                V3Reply::LeaseKeepAlive(reply) => Ok(pb::LeaseKeepAliveResponse {
                    header: Some(convert::header(answer.header)),
                    id: reply.id,
                    ttl: reply.ttl,
                }),
                other => Err(mismatched(&other)),
            },
            Err(error) if is_unknown_lease(&error) => {
                let header = Some(convert::header(backend.v3_status().header));
                Ok(pb::LeaseKeepAliveResponse { header, id, ttl: 0 })
            }
            Err(error) => Err(status::v3_status(&error)),
        };
        let ends = answer.is_err();
        if outgoing.send(answer).await.is_err() || ends {
            return;
        }
    }
}
