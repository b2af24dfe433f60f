//! `watch [options] <key> [range_end] [-- <command> [args...]]`: opens a watch stream, prints events as
//! they come (and runs the command once per event, with `ETCD_WATCH_*` in its environment) until
//! interrupted or until the server cancels the watch (`watch is canceled by the server`, exit 5).
//!
//! When the stream breaks without a cancel (the member went away), the watch is opened again, on the
//! next endpoint that answers, from the revision after the last one seen, as etcd's Go client does.

use api::etcdserverpb::watch_client::WatchClient;
use api::etcdserverpb::watch_request::RequestUnion;
use api::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use api::mvccpb::event::EventType;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::cli::WatchArgs;
use super::connection::{Settings, dial};
use super::context::Context;
use super::environment::CommandFlags;
use super::errors::{Failure, RpcError, exit};
use super::kv::prefix_end;
use super::print::go_text::go_quote;
use super::print::{Printer, Shown, write_stderr_line, write_stdout};

/// The key arguments and the command to run per event, as etcdctl's `parseWatchArgs` splits them.
#[derive(Debug, PartialEq, Eq)]
pub struct WatchTarget {
    pub key_arguments: Vec<String>,
    pub command: Vec<String>,
}

pub async fn watch(context: &Context, args: &WatchArgs) -> Result<(), Failure> {
    if args.interactive {
        return Err(Failure::new(
            exit::BAD_ARGS,
            "interactive watch (-i) is not supported by concordctl yet",
        ));
    }
    let variable = |name: &str| std::env::var(name).unwrap_or_default();
    let (environment_key, environment_range_end) =
        (variable("ETCDCTL_WATCH_KEY"), variable("ETCDCTL_WATCH_RANGE_END"));
    if environment_key.is_empty() && !environment_range_end.is_empty() {
        return Err(Failure::new(
            exit::BAD_ARGS,
            &format!("ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={environment_range_end:?}"),
        ));
    }
    let target = split_arguments(&context.raw_args, &args.args, &environment_key, &environment_range_end)
        .map_err(|message| Failure::new(exit::BAD_ARGS, message))?;
    let global = context.global_with(CommandFlags { watch: true, ..CommandFlags::default() })?;
    let create = create_request(&target.key_arguments, args)?;
    follow(&global.settings, global.printer, create, &target.command).await?;
    Err(Failure::new(exit::INTERRUPTED, "watch is canceled by the server"))
}

/// etcdctl's `parseWatchArgs` (non-interactive): the raw command line tells where `--` was.
pub fn split_arguments(
    raw_args: &[String],
    positional: &[String],
    environment_key: &str,
    environment_range_end: &str,
) -> Result<WatchTarget, &'static str> {
    let after_watch =
        raw_args.iter().position(|arg| arg == "watch").map(|index| &raw_args[index + 1..]).unwrap_or(&[]);
    let separator = after_watch.iter().position(|arg| arg == "--");
    let command: Vec<String> = separator.map(|index| after_watch[index + 1..].to_vec()).unwrap_or_default();
    if separator.is_some() && command.is_empty() {
        return Err("bad number of arguments (found separator --, but no commands)");
    }
    if separator.is_none() && after_watch.is_empty() && environment_key.is_empty() {
        return Err("bad number of arguments");
    }
    let key_count = positional.len().saturating_sub(command.len());
    if !environment_key.is_empty() && key_count > 0 {
        return Err("bad number of arguments (found conflicting environment key)");
    }
    let mut key_arguments = Vec::new();
    if !environment_key.is_empty() {
        key_arguments.push(environment_key.to_string());
        if !environment_range_end.is_empty() {
            key_arguments.push(environment_range_end.to_string());
        }
    }
    key_arguments.extend(positional[..key_count].iter().cloned());
    Ok(WatchTarget { key_arguments, command })
}

/// etcdctl's `getWatchChan`: the watch to create.
fn create_request(key_arguments: &[String], args: &WatchArgs) -> Result<WatchCreateRequest, Failure> {
    let Some(key) = key_arguments.first() else {
        return Err(Failure::new(exit::BAD_ARGS, "bad number of arguments"));
    };
    let mut key = key.as_bytes().to_vec();
    let mut range_end = Vec::new();
    if key_arguments.len() == 2 {
        if args.prefix {
            return Err(Failure::new(exit::BAD_ARGS, "`range_end` and `--prefix` are mutually exclusive"));
        }
        range_end = key_arguments[1].as_bytes().to_vec();
    }
    if args.prefix {
        if key.is_empty() {
            key = vec![0];
            range_end = vec![0];
        } else {
            range_end = prefix_end(&key);
        }
    }
    Ok(WatchCreateRequest {
        key,
        range_end,
        start_revision: args.rev,
        prev_kv: args.prev_kv,
        ..WatchCreateRequest::default()
    })
}

/// Prints the watch's responses until the server cancels it; reopens it when the stream breaks after
/// having delivered something (a stream that breaks before any response is an error).
async fn follow(
    settings: &Settings,
    printer: Printer,
    mut create: WatchCreateRequest,
    command: &[String],
) -> Result<(), Failure> {
    // A round that returns to the loop received at least one response, and each reconnection is bounded
    // by the connect deadline: a cluster that stays away ends the command.
    loop {
        let channel =
            dial(settings, settings.connect_deadline()).await.map_err(|error| error.failure(exit::ERROR))?;
        match session(channel, printer, &mut create, command).await? {
            SessionEnd::Canceled => return Ok(()),
            SessionEnd::Broken { received: true } => continue,
            SessionEnd::Broken { received: false } => {
                return Err(Failure::new(exit::ERROR, "watch stream closed before the watch was created"));
            }
        }
    }
}

/// How one watch stream ended.
enum SessionEnd {
    /// The server cancelled the watch or closed the stream.
    Canceled,
    /// The stream failed; `received` says whether it had delivered anything.
    Broken { received: bool },
}

/// One watch stream: creates the watch and prints what comes until the stream ends.
async fn session(
    channel: super::connection::Conn,
    printer: Printer,
    create: &mut WatchCreateRequest,
    command: &[String],
) -> Result<SessionEnd, Failure> {
    // etcd answers the call only with its first message, so the create request is queued first.
    let (requests, request_stream) = mpsc::channel(1);
    let first = WatchRequest { request_union: Some(RequestUnion::CreateRequest(create.clone())) };
    requests.send(first).await.map_err(|_| Failure::new(exit::ERROR, "watch request stream closed"))?;
    let mut request = tonic::Request::new(ReceiverStream::new(request_stream));
    request.metadata_mut().insert("hasleader", tonic::metadata::MetadataValue::from_static("true"));
    let mut responses = match WatchClient::new(channel).watch(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Err(RpcError::Status(status).failure(exit::ERROR)),
    };
    let mut received = false;
    loop {
        let response = match responses.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return Ok(SessionEnd::Canceled),
            Err(_) => return Ok(SessionEnd::Broken { received }),
        };
        received = true;
        if response.canceled {
            write_stderr_line(&format!("watch was canceled ({})", cancel_reason(&response)));
            printer.print(&Shown::Watch(&response))?;
            return Ok(SessionEnd::Canceled);
        }
        resume_point(create, &response);
        if !response.created {
            show(printer, &response, command)?;
        }
    }
}

/// Moves the watch's start past what has been seen, so a reopened watch neither repeats nor skips.
fn resume_point(create: &mut WatchCreateRequest, response: &WatchResponse) {
    if let Some(last) = response.events.last().and_then(|event| event.kv.as_ref()) {
        create.start_revision = last.mod_revision + 1;
    } else if create.start_revision == 0 || !response.created {
        let revision = response.header.unwrap_or_default().revision;
        create.start_revision = create.start_revision.max(revision + 1);
    }
}

fn show(printer: Printer, response: &WatchResponse, command: &[String]) -> Result<(), Failure> {
    let is_progress_notice = response.events.is_empty() && response.compact_revision == 0;
    if is_progress_notice {
        let revision = response.header.unwrap_or_default().revision;
        write_stdout(format!("progress notify: {revision}\n").as_bytes());
    }
    printer.print(&Shown::Watch(response))?;
    if !command.is_empty() {
        for event in &response.events {
            run_command(command, response, event)?;
        }
    }
    Ok(())
}

/// Why the server cancelled (the Go client's `WatchResponse.Err()`).
fn cancel_reason(response: &WatchResponse) -> String {
    if response.compact_revision != 0 {
        return api::errors::COMPACTED.message.to_string();
    }
    if response.cancel_reason.is_empty() {
        return api::errors::FUTURE_REVISION.message.to_string();
    }
    RpcError::Status(tonic::Status::failed_precondition(response.cancel_reason.clone())).to_string()
}

/// Runs the watch's command for one event, as etcdctl does: inherited output, `ETCD_WATCH_*` set.
fn run_command(
    command: &[String],
    response: &WatchResponse,
    event: &api::mvccpb::Event,
) -> Result<(), Failure> {
    let kind = EventType::try_from(event.r#type).map(|kind| kind.as_str_name()).unwrap_or("UNKNOWN");
    let key_value = event.kv.clone().unwrap_or_default();
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .env("ETCD_WATCH_REVISION", response.header.unwrap_or_default().revision.to_string())
        .env("ETCD_WATCH_EVENT_TYPE", format!("\"{kind}\""))
        .env("ETCD_WATCH_KEY", go_quote(&key_value.key))
        .env("ETCD_WATCH_VALUE", go_quote(&key_value.value))
        .status();
    let error = match status {
        Ok(status) if status.success() => return Ok(()),
        Ok(status) => format!("exit status {}", status.code().unwrap_or(-1)),
        Err(error) => format!("exec: {}: {error}", go_quote(command[0].as_bytes())),
    };
    let quoted: Vec<String> = command.iter().map(|arg| go_quote(arg.as_bytes())).collect();
    write_stderr_line(&format!("command [{}] error ({error})", quoted.join(" ")));
    Err(Failure::quiet(exit::ERROR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn the_separator_splits_keys_from_the_command() {
        let raw = strings(&["concordctl", "watch", "foo", "--rev", "1", "--", "echo", "hi"]);
        let target = split_arguments(&raw, &strings(&["foo", "echo", "hi"]), "", "").unwrap();
        assert_eq!(
            target,
            WatchTarget { key_arguments: strings(&["foo"]), command: strings(&["echo", "hi"]) }
        );
    }

    #[test]
    fn bad_watch_arguments_fail_like_etcdctl() {
        let raw = strings(&["concordctl", "watch", "foo", "--"]);
        assert_eq!(
            split_arguments(&raw, &strings(&["foo"]), "", ""),
            Err("bad number of arguments (found separator --, but no commands)")
        );
        assert_eq!(split_arguments(&strings(&["c", "watch"]), &[], "", ""), Err("bad number of arguments"));
        let raw = strings(&["c", "watch", "foo"]);
        assert_eq!(
            split_arguments(&raw, &strings(&["foo"]), "env-key", ""),
            Err("bad number of arguments (found conflicting environment key)")
        );
    }

    #[test]
    fn the_environment_key_comes_first() {
        let raw = strings(&["c", "watch", "--", "echo"]);
        let target = split_arguments(&raw, &strings(&["echo"]), "k", "z").unwrap();
        assert_eq!(target.key_arguments, strings(&["k", "z"]));
    }

    #[test]
    fn a_reopened_watch_starts_after_the_last_event() {
        let mut create = WatchCreateRequest::default();
        let created = WatchResponse { created: true, header: Some(header(7)), ..WatchResponse::default() };
        resume_point(&mut create, &created);
        assert_eq!(create.start_revision, 8);
        let event = api::mvccpb::Event {
            kv: Some(api::mvccpb::KeyValue { mod_revision: 9, ..Default::default() }),
            ..Default::default()
        };
        let events =
            WatchResponse { events: vec![event], header: Some(header(9)), ..WatchResponse::default() };
        resume_point(&mut create, &events);
        assert_eq!(create.start_revision, 10);
    }

    fn header(revision: i64) -> api::etcdserverpb::ResponseHeader {
        api::etcdserverpb::ResponseHeader { revision, ..Default::default() }
    }
}
