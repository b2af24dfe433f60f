//! The lease commands: `lease grant <ttl>`, `revoke <id>`, `timetolive <id> [--keys]`, `list` and
//! `keep-alive [--once] <id>` (IDs in hexadecimal), with etcdctl's messages and exit codes.
//!
//! `keep-alive` renews every third of the TTL, printing each answer, until the lease is gone; then the
//! simple format says `lease <id> expired or revoked.` and the command succeeds.

use std::time::Duration;

use api::etcdserverpb::lease_client::LeaseClient;
use api::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseLeasesRequest, LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::arguments::parse_int;
use super::cli::{KeepAliveArgs, TimeToLiveArgs};
use super::connection::{Settings, call, dial, dial_and_call};
use super::context::Context;
use super::errors::{Failure, RpcError, exit};
use super::print::simple::lease_hex;
use super::print::{Format, Printer, Shown, write_stdout};

/// Shortest pause between two renewals (a lease of 1 or 2 seconds still gets renewed in time).
const MIN_RENEW_INTERVAL: Duration = Duration::from_millis(500);

/// etcdctl's `leaseFromArgs`: a lease ID in hexadecimal.
fn lease_id(text: &str) -> Result<i64, Failure> {
    parse_int(text, 16).map_err(|error| {
        Failure::new(exit::BAD_ARGS, &format!("bad lease ID arg ({error}), expecting ID in Hex"))
    })
}

/// The deadline for a call etcdctl makes without one (`context.TODO()`): a day stands in for none.
fn no_deadline() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

pub async fn grant(context: &Context, args: &[String]) -> Result<(), Failure> {
    if args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "lease grant command needs TTL argument"));
    }
    let ttl = parse_int(&args[0], 10)
        .map_err(|error| Failure::new(exit::BAD_ARGS, &format!("bad TTL ({error})")))?;
    let global = context.global()?;
    let settings = &global.settings;
    let request = LeaseGrantRequest { ttl, id: 0 };
    let response =
        dial_and_call(settings, settings.command_deadline(), LeaseClient::new, |mut client| async move {
            client.lease_grant(request).await
        })
        .await
        .map_err(|error| Failure::new(exit::ERROR, &format!("failed to grant lease ({error})")))?;
    global.printer.print(&Shown::Grant(&response))
}

pub async fn revoke(context: &Context, args: &[String]) -> Result<(), Failure> {
    if args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "lease revoke command needs 1 argument"));
    }
    let id = lease_id(&args[0])?;
    let global = context.global()?;
    let settings = &global.settings;
    let response =
        dial_and_call(settings, settings.command_deadline(), LeaseClient::new, |mut client| async move {
            client.lease_revoke(LeaseRevokeRequest { id }).await
        })
        .await
        .map_err(|error| Failure::new(exit::ERROR, &format!("failed to revoke lease ({error})")))?;
    global.printer.print(&Shown::Revoke { id, response: &response })
}

pub async fn time_to_live(context: &Context, args: &TimeToLiveArgs) -> Result<(), Failure> {
    if args.args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "lease timetolive command needs lease ID as argument"));
    }
    let global = context.global()?;
    let request = LeaseTimeToLiveRequest { id: lease_id(&args.args[0])?, keys: args.keys };
    let channel = dial(&global.settings, global.settings.connect_deadline())
        .await
        .map_err(|error| error.failure(exit::BAD_CONNECTION))?;
    let response = call(no_deadline(), LeaseClient::new(channel).lease_time_to_live(request))
        .await
        .map_err(|error| error.failure(exit::BAD_CONNECTION))?;
    global.printer.print(&Shown::TimeToLive { response: &response, keys: args.keys })
}

pub async fn list(context: &Context) -> Result<(), Failure> {
    let global = context.global()?;
    let channel = dial(&global.settings, global.settings.connect_deadline())
        .await
        .map_err(|error| error.failure(exit::BAD_CONNECTION))?;
    let response = call(no_deadline(), LeaseClient::new(channel).lease_leases(LeaseLeasesRequest {}))
        .await
        .map_err(|error| error.failure(exit::BAD_CONNECTION))?;
    global.printer.print(&Shown::Leases(&response))
}

pub async fn keep_alive(context: &Context, args: &KeepAliveArgs) -> Result<(), Failure> {
    if args.args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "lease keep-alive command needs lease ID as argument"));
    }
    let id = lease_id(&args.args[0])?;
    let global = context.global()?;
    if args.once {
        let response =
            renew_once(&global.settings, id).await.map_err(|error| error.failure(exit::BAD_CONNECTION))?;
        return global.printer.print(&Shown::KeepAlive(&response));
    }
    renew_until_gone(&global.settings, global.printer, id).await?;
    if global.printer.format == Format::Simple {
        write_stdout(format!("lease {} expired or revoked.\n", lease_hex(id)).as_bytes());
    }
    Ok(())
}

/// One renewal (the Go client's `KeepAliveOnce`): a lease that is gone is `requested lease not found`.
async fn renew_once(settings: &Settings, id: i64) -> Result<LeaseKeepAliveResponse, RpcError> {
    let channel = dial(settings, settings.connect_deadline()).await?;
    let (requests, request_stream) = mpsc::channel(1);
    let _ = requests.send(LeaseKeepAliveRequest { id }).await;
    let mut responses =
        call(no_deadline(), LeaseClient::new(channel).lease_keep_alive(ReceiverStream::new(request_stream)))
            .await?;
    let response =
        responses.message().await?.ok_or_else(|| RpcError::Status(api::errors::LEASE_NOT_FOUND.status()))?;
    if response.ttl <= 0 {
        return Err(RpcError::Status(api::errors::LEASE_NOT_FOUND.status()));
    }
    Ok(response)
}

/// Renews every third of the TTL and prints each answer, until the lease is gone or the stream ends.
async fn renew_until_gone(settings: &Settings, printer: Printer, id: i64) -> Result<(), Failure> {
    let Ok(channel) = dial(settings, settings.connect_deadline()).await else { return Ok(()) };
    let (requests, request_stream) = mpsc::channel(1);
    if requests.send(LeaseKeepAliveRequest { id }).await.is_err() {
        return Ok(());
    }
    let mut client = LeaseClient::new(channel);
    let stream = client.lease_keep_alive(ReceiverStream::new(request_stream));
    let Ok(mut responses) = call(no_deadline(), stream).await else { return Ok(()) };
    // Runs for as long as the lease lives (each round waits for an answer, then a third of the TTL).
    while let Ok(Some(response)) = responses.message().await {
        if response.ttl <= 0 {
            return Ok(());
        }
        printer.print(&Shown::KeepAlive(&response))?;
        let pause = Duration::from_secs(response.ttl.unsigned_abs()) / 3;
        tokio::time::sleep(pause.max(MIN_RENEW_INTERVAL)).await;
        if requests.send(LeaseKeepAliveRequest { id }).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}
