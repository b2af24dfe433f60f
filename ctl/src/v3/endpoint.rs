//! The endpoint commands: `endpoint health`, `status` and `hashkv [--rev]`, each asking every endpoint
//! itself (every member's client URL with `--cluster`). A failing endpoint is reported on stderr and
//! makes the command fail after the others are shown.

use std::time::Instant;

use api::etcdserverpb::cluster_client::ClusterClient;
use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::maintenance_client::MaintenanceClient;
use api::etcdserverpb::{HashKvRequest, MemberListRequest, RangeRequest, StatusRequest};

use super::connection::{Settings, dial_and_call};
use super::context::{Context, Global};
use super::environment::CommandFlags;
use super::errors::{Failure, RpcError, exit};
use super::print::{EndpointHash, EndpointHealth, EndpointStatus, Shown, write_stderr_line};
use crate::cluster::go_duration;

/// The global flags and `--cluster` (which `endpoint` commands also read from `ETCDCTL_CLUSTER`).
fn global_and_cluster(context: &Context, cluster: Option<bool>) -> Result<(Global, bool), Failure> {
    let mut cluster = cluster;
    let global =
        context.global_with(CommandFlags { cluster: Some(&mut cluster), ..CommandFlags::default() })?;
    Ok((global, cluster.unwrap_or(false)))
}

/// The endpoints to ask: those given, or with `--cluster` every member's client URLs.
pub async fn targets(settings: &Settings, cluster: bool) -> Result<Vec<String>, Failure> {
    if !cluster {
        return Ok(settings.endpoints.clone());
    }
    let members =
        dial_and_call(settings, settings.command_deadline(), ClusterClient::new, |mut client| async move {
            client.member_list(MemberListRequest {}).await
        })
        .await
        .map_err(|error| {
            Failure::new(
                exit::ERROR,
                &format!("failed to fetch endpoints from etcd cluster member list: {error}"),
            )
        })?;
    Ok(members.members.into_iter().flat_map(|member| member.client_ur_ls).collect())
}

pub async fn health(context: &Context, cluster: Option<bool>) -> Result<(), Failure> {
    let (global, cluster) = global_and_cluster(context, cluster)?;
    let endpoints = targets(&global.settings, cluster).await?;
    // Every endpoint is checked at the same time; the results keep the endpoints' order.
    let checks: Vec<_> = endpoints
        .into_iter()
        .map(|endpoint| tokio::spawn(check_health(global.settings.only(&endpoint), endpoint)))
        .collect();
    let mut results = Vec::with_capacity(checks.len());
    for check in checks {
        results.push(check.await.map_err(|error| Failure::new(exit::ERROR, &error.to_string()))?);
    }
    global.printer.print(&Shown::EndpointHealth(&results))?;
    if results.iter().any(|result| !result.error.is_empty()) {
        return Err(Failure::new(exit::ERROR, "unhealthy cluster"));
    }
    Ok(())
}

/// etcdctl's health check: a linearizable read of the key `health` (permission denied counts as healthy,
/// since the read went through consensus).
async fn check_health(settings: Settings, endpoint: String) -> EndpointHealth {
    let started = Instant::now();
    let request = RangeRequest { key: b"health".to_vec(), ..RangeRequest::default() };
    let outcome =
        dial_and_call(&settings, settings.command_deadline(), KvClient::new, |mut client| async move {
            client.range(request).await
        })
        .await;
    let took = go_duration(started.elapsed());
    match outcome {
        Ok(_) => EndpointHealth { endpoint, health: true, took, error: String::new() },
        Err(RpcError::Status(status)) if api::errors::PERMISSION_DENIED.matches(&status) => {
            EndpointHealth { endpoint, health: true, took, error: String::new() }
        }
        Err(error) => EndpointHealth { endpoint, health: false, took, error: error.to_string() },
    }
}

pub async fn status(context: &Context, cluster: Option<bool>) -> Result<(), Failure> {
    let (global, cluster) = global_and_cluster(context, cluster)?;
    let mut statuses = Vec::new();
    let mut failed = false;
    for endpoint in targets(&global.settings, cluster).await? {
        let settings = global.settings.only(&endpoint);
        let outcome = dial_and_call(
            &settings,
            settings.command_deadline(),
            MaintenanceClient::new,
            |mut client| async move { client.status(StatusRequest {}).await },
        )
        .await;
        match outcome {
            Ok(status) => statuses.push(EndpointStatus { endpoint, status }),
            Err(error) => {
                write_stderr_line(&format!("Failed to get the status of endpoint {endpoint} ({error})"));
                failed = true;
            }
        }
    }
    global.printer.print(&Shown::EndpointStatus(&statuses))?;
    if failed { Err(Failure::quiet(exit::ERROR)) } else { Ok(()) }
}

pub async fn hash_kv(context: &Context, cluster: Option<bool>, revision: i64) -> Result<(), Failure> {
    let (global, cluster) = global_and_cluster(context, cluster)?;
    let mut hashes = Vec::new();
    let mut last_error = None;
    for endpoint in targets(&global.settings, cluster).await? {
        let settings = global.settings.only(&endpoint);
        let outcome = dial_and_call(
            &settings,
            settings.command_deadline(),
            MaintenanceClient::new,
            |mut client| async move { client.hash_kv(HashKvRequest { revision }).await },
        )
        .await;
        match outcome {
            Ok(hash) => hashes.push(EndpointHash { endpoint, hash }),
            Err(error) => {
                write_stderr_line(&format!("Failed to get the hash of endpoint {endpoint} ({error})"));
                last_error = Some(error);
            }
        }
    }
    global.printer.print(&Shown::EndpointHash(&hashes))?;
    match last_error {
        Some(error) => Err(error.failure(exit::ERROR)),
        None => Ok(()),
    }
}
