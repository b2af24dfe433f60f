//! etcd's Cluster service: MemberList, MemberAdd (voters and learners), MemberRemove, MemberUpdate and
//! MemberPromote. Headers carry the cluster, member and term but no revision, as etcd's do; member
//! lists are sorted by ID. MemberAdd checks its peer URLs as etcd does; MemberUpdate does not;
//! MemberPromote refuses a voter as "not a learner" before asking whether it has caught up; a second
//! learner is refused as etcd 3.4 refuses it. While auth is on, every change needs the root role
//! (etcd's `permission denied`, `user name is empty`); MemberList is open.

use api::etcdserverpb as pb;
use api::etcdserverpb::cluster_server::Cluster;
use tonic::{Request, Response, Status};

use super::backend::{Header, V3Backend};
use super::status::member_status;
use super::{check_admin, convert};

/// Learners a cluster may have at once (etcd 3.4's `maxLearners`).
const MAX_LEARNERS: usize = 1;

/// The Cluster service over a backend.
pub struct ClusterService<B> {
    backend: B,
}

impl<B> ClusterService<B> {
    pub fn new(backend: B) -> ClusterService<B> {
        ClusterService { backend }
    }
}

impl<B: V3Backend> ClusterService<B> {
    /// The header and member list as they are now.
    fn header_and_members(&self) -> (Option<pb::ResponseHeader>, Vec<pb::Member>) {
        let status = self.backend.status();
        let header = Header {
            cluster_id: status.cluster_id,
            member_id: status.member_id,
            revision: 0,
            raft_term: status.term,
        };
        (Some(convert::header(header)), convert::members(&status.members))
    }
}

#[tonic::async_trait]
impl<B: V3Backend> Cluster for ClusterService<B> {
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        // etcd checks the URLs before the caller's permission.
        let peer_urls = crate::http::validate_peer_urls(&request.get_ref().peer_ur_ls)
            .map_err(|_| api::errors::MEMBER_BAD_URLS.status())?;
        check_admin(&self.backend, &request).await?;
        let request = request.into_inner();
        let learners = self.backend.status().members.iter().filter(|member| member.is_learner).count();
        if request.is_learner && learners >= MAX_LEARNERS {
            return Err(api::errors::TOO_MANY_LEARNERS.status());
        }
        let added = self
            .backend
            .member_add_v3(peer_urls, request.is_learner)
            .await
            .map_err(|error| member_status(&error))?;
        let (header, members) = self.header_and_members();
        Ok(Response::new(pb::MemberAddResponse { header, member: Some(convert::member(&added)), members }))
    }

    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        check_admin(&self.backend, &request).await?;
        self.backend.member_remove(request.into_inner().id).await.map_err(|error| member_status(&error))?;
        let (header, members) = self.header_and_members();
        Ok(Response::new(pb::MemberRemoveResponse { header, members }))
    }

    async fn member_update(
        &self,
        request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        check_admin(&self.backend, &request).await?;
        let request = request.into_inner();
        self.backend
            .member_update(request.id, request.peer_ur_ls)
            .await
            .map_err(|error| member_status(&error))?;
        let (header, members) = self.header_and_members();
        Ok(Response::new(pb::MemberUpdateResponse { header, members }))
    }

    async fn member_list(
        &self,
        _request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let (header, members) = self.header_and_members();
        Ok(Response::new(pb::MemberListResponse { header, members }))
    }

    async fn member_promote(
        &self,
        request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        check_admin(&self.backend, &request).await?;
        let id = request.into_inner().id;
        // etcd refuses a voter before asking whether it has caught up: "not a learner" comes first.
        if self.backend.status().members.iter().any(|member| member.id == id && !member.is_learner) {
            return Err(api::errors::MEMBER_NOT_LEARNER.status());
        }
        self.backend.member_promote(id).await.map_err(|error| member_status(&error))?;
        let (header, members) = self.header_and_members();
        Ok(Response::new(pb::MemberPromoteResponse { header, members }))
    }
}
