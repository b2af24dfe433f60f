//! The key commands (set, get, mk, mkdir, setdir, update, updatedir, rm, rmdir, ls, watch, exec-watch):
//! argument checks, the request each sends, and etcdctl v2's exact output for each outcome.

use std::io::{Read, Write};
use std::process::{Child, Command as ProcessCommand, Stdio};

use crate::cli::{
    ExecWatchArgs, GetArgs, KeyArgs, LsArgs, MkArgs, OutputFormat, RmArgs, SetArgs, TtlKeyArgs,
    TtlKeyValueArgs, WatchArgs,
};
use crate::client::{Client, ClientError, ClusterError, exit};
use crate::http::Request;
use crate::keys::{self, DeleteOptions, GetOptions, KeysOutcome, KeysResponse, Node, PrevExist, SetOptions};

/// A command's exit code, after everything it had to say was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(pub i32);

/// Writes to stdout, ignoring a closed pipe (`concordctl ls | head -1` must not panic).
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// etcdctl's `handleError`: `Error:  <text>` on stderr, then the exit code.
pub fn fail(code: i32, text: &str) -> Exit {
    eprintln!("Error:  {text}");
    Exit(code)
}

pub fn fail_client(code: i32, error: &ClientError) -> Exit {
    eprint!("{}", error.report());
    Exit(code)
}

/// Renders a keys response in one of etcdctl's three formats (`printResponseKey`).
pub fn render_response(response: &KeysResponse, format: OutputFormat) -> String {
    match format {
        OutputFormat::Simple => {
            if response.action != "delete" {
                format!("{}\n", response.node.value)
            } else {
                format!(
                    "PrevNode.Value: {}\n",
                    response.prev_node.as_ref().map(|prev| prev.value.as_str()).unwrap_or("")
                )
            }
        }
        OutputFormat::Extended => {
            let mut text = format!(
                "Key: {}\nCreated-Index: {}\nModified-Index: {}\n",
                response.node.key, response.node.created_index, response.node.modified_index
            );
            if let Some(prev) = &response.prev_node {
                text.push_str(&format!("PrevNode.Value: {}\n", prev.value));
            }
            text.push_str(&format!("TTL: {}\nIndex: {}\n", response.node.ttl, response.etcd_index));
            if response.action != "delete" {
                text.push_str(&format!("\n{}\n", response.node.value));
            }
            text
        }
        OutputFormat::Json => format!("{}\n", keys::response_json(response)),
    }
}

/// Sends a keys request and decodes the answer; errors are reported the etcdctl way (exit 4).
fn keys_call(client: &Client, request: &Request, one_shot: bool) -> Result<KeysResponse, Exit> {
    let response = if one_shot { client.send_once(request) } else { client.send(request) };
    let response = response.map_err(|error| fail_client(exit::SERVER_ERROR, &error))?;
    match keys::decode(response.status, &response.headers, &response.body) {
        KeysOutcome::Ok(decoded) => Ok(*decoded),
        KeysOutcome::Error(error) => Err(fail(exit::SERVER_ERROR, &error.to_string())),
        KeysOutcome::Empty => Err(fail(exit::SERVER_ERROR, "client: response body is empty")),
        KeysOutcome::Malformed(_) => Err(fail(
            exit::SERVER_ERROR,
            "client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.",
        )),
    }
}

fn key_of(args: &[String]) -> Result<&str, Exit> {
    args.first().map(String::as_str).ok_or_else(|| fail(exit::BAD_ARGS, "key required"))
}

/// The value argument, or all of stdin when absent (etcdctl's `argOrStdin`); an empty stdin is an error.
fn value_of(args: &[String]) -> Result<String, Exit> {
    if let Some(value) = args.get(1) {
        return Ok(value.clone());
    }
    let mut value = String::new();
    match std::io::stdin().read_to_string(&mut value) {
        Ok(_) if !value.is_empty() => Ok(value),
        _ => Err(fail(exit::BAD_ARGS, "value required")),
    }
}

pub fn set(client: &Client, args: &SetArgs, format: OutputFormat) -> Result<(), Exit> {
    let key = key_of(&args.args)?;
    let value = value_of(&args.args)?;
    let options = SetOptions {
        ttl: args.ttl,
        prev_value: args.swap_with_value.clone(),
        prev_index: args.swap_with_index,
        ..SetOptions::default()
    };
    let response = keys_call(client, &keys::set_request(key, &value, &options), false)?;
    out(&render_response(&response, format));
    Ok(())
}

pub fn mk(client: &Client, args: &MkArgs, format: OutputFormat) -> Result<(), Exit> {
    let key = key_of(&args.args)?;
    let value = value_of(&args.args)?;
    let response = if args.in_order {
        keys_call(client, &keys::create_in_order_request(key, &value, args.ttl), true)?
    } else {
        let options =
            SetOptions { ttl: args.ttl, prev_exist: PrevExist::MustNotExist, ..SetOptions::default() };
        keys_call(client, &keys::set_request(key, &value, &options), true)?
    };
    out(&render_response(&response, format));
    Ok(())
}

pub fn update(client: &Client, args: &TtlKeyValueArgs, format: OutputFormat) -> Result<(), Exit> {
    let key = key_of(&args.args)?;
    let value = value_of(&args.args)?;
    let options = SetOptions { ttl: args.ttl, prev_exist: PrevExist::MustExist, ..SetOptions::default() };
    let response = keys_call(client, &keys::set_request(key, &value, &options), false)?;
    out(&render_response(&response, format));
    Ok(())
}

/// Which directory-writing command: they differ only in the `prevExist` condition.
#[derive(Clone, Copy, Debug)]
pub enum DirWrite {
    /// `mkdir`: the directory must not exist.
    Make,
    /// `setdir`: create, or turn a file into a directory.
    Set,
    /// `updatedir`: the directory must exist (refreshes its TTL).
    Update,
}

/// mkdir/setdir/updatedir print nothing in simple format, the response otherwise.
pub fn dir_write(
    client: &Client,
    args: &TtlKeyArgs,
    kind: DirWrite,
    format: OutputFormat,
) -> Result<(), Exit> {
    let key = key_of(&args.args)?;
    let prev_exist = match kind {
        DirWrite::Make => PrevExist::MustNotExist,
        DirWrite::Set => PrevExist::Ignore,
        DirWrite::Update => PrevExist::MustExist,
    };
    let options = SetOptions { ttl: args.ttl, dir: true, prev_exist, ..SetOptions::default() };
    let one_shot = matches!(kind, DirWrite::Make);
    let response = keys_call(client, &keys::set_request(key, "", &options), one_shot)?;
    if format != OutputFormat::Simple {
        out(&render_response(&response, format));
    }
    Ok(())
}

pub fn rm(client: &Client, args: &RmArgs, format: OutputFormat) -> Result<(), Exit> {
    let key = key_of(&args.args)?;
    let options = DeleteOptions {
        prev_value: args.with_value.clone(),
        prev_index: args.with_index,
        dir: args.dir,
        recursive: args.recursive,
    };
    let response = keys_call(client, &keys::delete_request(key, &options), true)?;
    // A removed directory prints nothing in simple format (it has no value to show).
    if !response.node.dir || format != OutputFormat::Simple {
        out(&render_response(&response, format));
    }
    Ok(())
}

pub fn rmdir(client: &Client, args: &KeyArgs, format: OutputFormat) -> Result<(), Exit> {
    let key = key_of(&args.args)?;
    let options = DeleteOptions { dir: true, ..DeleteOptions::default() };
    let response = keys_call(client, &keys::delete_request(key, &options), true)?;
    if format != OutputFormat::Simple {
        out(&render_response(&response, format));
    }
    Ok(())
}

pub fn get(client: &Client, args: &GetArgs, format: OutputFormat) -> Result<(), Exit> {
    let key = key_of(&args.args)?;
    let options = GetOptions { recursive: false, sort: args.sort, quorum: args.quorum };
    let response = keys_call(client, &keys::get_request(key, options), false)?;
    if response.node.dir {
        eprintln!("{}: is a directory", response.node.key);
        return Err(Exit(exit::BAD_ARGS));
    }
    out(&render_response(&response, format));
    Ok(())
}

pub fn ls(client: &Client, args: &LsArgs, format: OutputFormat) -> Result<(), Exit> {
    let key = args.args.first().map(String::as_str).unwrap_or("/");
    let options = GetOptions { recursive: args.recursive, sort: args.sort, quorum: args.quorum };
    let response = keys_call(client, &keys::get_request(key, options), false)?;
    // etcdctl 3.4 prints `ls` as a listing in simple format and as the response in the others.
    if format != OutputFormat::Simple {
        out(&render_response(&response, format));
        return Ok(());
    }
    out(&render_listing(&response.node, args.p));
    Ok(())
}

/// `ls`: a file lists its own name; a directory lists its children (recursively if they were fetched).
pub fn render_listing(node: &Node, slash_after_dirs: bool) -> String {
    fn walk(node: &Node, slash_after_dirs: bool, text: &mut String) {
        if node.dir && slash_after_dirs {
            text.push_str(&format!("{}/\n", node.key));
        } else {
            text.push_str(&format!("{}\n", node.key));
        }
        for child in node.nodes.iter().flatten() {
            walk(child, slash_after_dirs, text);
        }
    }
    let mut text = String::new();
    if !node.dir {
        text.push_str(&format!("{}\n", node.key));
    }
    for child in node.nodes.iter().flatten() {
        walk(child, slash_after_dirs, &mut text);
    }
    text
}

/// Long-polls for the next event at or after `wait_index`, skipping empty (server-closed) polls.
fn next_event(client: &Client, key: &str, wait_index: u64, recursive: bool) -> Result<KeysResponse, Exit> {
    loop {
        let request = keys::wait_request(key, wait_index, recursive);
        let mut open =
            client.open_watch(&request).map_err(|error| fail_client(exit::SERVER_ERROR, &error))?;
        // A connection that breaks mid-body ends the watch with an error, as in etcdctl.
        let body = open.read_body().map_err(|error| {
            let cluster = ClusterError { errors: vec![error.to_string()], all_connection_errors: true };
            fail_client(exit::SERVER_ERROR, &ClientError::Cluster(cluster))
        })?;
        match keys::decode(open.status, &open.headers, &body) {
            KeysOutcome::Ok(response) => return Ok(*response),
            KeysOutcome::Empty => continue,
            KeysOutcome::Error(error) => return Err(fail(exit::SERVER_ERROR, &error.to_string())),
            KeysOutcome::Malformed(_) => {
                return Err(fail(
                    exit::SERVER_ERROR,
                    "client: response is invalid json. The endpoint is probably not valid etcd cluster endpoint.",
                ));
            }
        }
    }
}

pub fn watch(client: &Client, args: &WatchArgs, format: OutputFormat) -> Result<(), Exit> {
    let key = key_of(&args.args)?;
    // The Go client's watcher starts at AfterIndex+1 when an index is given, at "the next event" otherwise.
    let mut wait_index = if args.after_index > 0 { args.after_index + 1 } else { 0 };
    loop {
        let response = next_event(client, key, wait_index, args.recursive)?;
        wait_index = response.node.modified_index + 1;
        if response.node.dir {
            continue;
        }
        let mut text = String::new();
        if args.recursive {
            text.push_str(&format!("[{}] {}\n", response.action, response.node.key));
        }
        text.push_str(&render_response(&response, format));
        out(&text);
        if !args.forever {
            return Ok(());
        }
    }
}

/// Splits exec-watch's arguments into `(key, command)`.
///
/// Concord's documented form is `exec-watch KEY -- COMMAND [ARGS...]`. etcdctl 3.4's argument parser drops
/// the `--`, so it always takes the LAST argument as the key (`exec-watch COMMAND [ARGS...] KEY`); that
/// form works here too whenever no `--` was given.
pub fn split_exec_watch_args(args: &[String], separator_given: bool) -> Option<(String, Vec<String>)> {
    if args.len() < 2 {
        return None;
    }
    if let Some(position) = args.iter().position(|arg| arg == "--")
        && position > 0
    {
        let command: Vec<String> = args[position + 1..].to_vec();
        return if command.is_empty() { None } else { Some((args[0].clone(), command)) };
    }
    if separator_given {
        return Some((args[0].clone(), args[1..].to_vec()));
    }
    Some((args[args.len() - 1].clone(), args[..args.len() - 1].to_vec()))
}

/// exec-watch runs each event's command without waiting for it (as etcdctl does), up to this many at once.
pub const MAX_RUNNING_CHILDREN: usize = 64;

pub fn exec_watch(client: &Client, args: &ExecWatchArgs, separator_given: bool) -> Result<(), Exit> {
    let Some((key, command)) = split_exec_watch_args(&args.args, separator_given) else {
        return Err(fail(exit::BAD_ARGS, "key and command to exec required"));
    };
    // etcdctl 3.4 adds one here and the watcher adds another: the first event seen is at after-index + 2.
    // Kept for compatibility.
    let mut wait_index = if args.after_index > 0 { args.after_index + 2 } else { 0 };
    let mut children: Vec<Child> = Vec::new();
    loop {
        let response = next_event(client, &key, wait_index, args.recursive)?;
        wait_index = response.node.modified_index + 1;
        if response.node.dir {
            eprintln!("Ignored dir {} change", response.node.key);
            continue;
        }
        // Reap children that finished, so a long watch does not accumulate zombies; past the bound, wait
        // for the oldest (backpressure instead of an unbounded number of processes).
        children.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
        if children.len() >= MAX_RUNNING_CHILDREN {
            let mut oldest = children.remove(0);
            let _ = oldest.wait();
        }
        debug_assert!(children.len() < MAX_RUNNING_CHILDREN);
        let spawned = ProcessCommand::new(&command[0])
            .args(&command[1..])
            .env("ETCD_WATCH_ACTION", &response.action)
            .env("ETCD_WATCH_MODIFIED_INDEX", response.node.modified_index.to_string())
            .env("ETCD_WATCH_KEY", &response.node.key)
            .env("ETCD_WATCH_VALUE", &response.node.value)
            .stdin(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => children.push(child),
            Err(error) => {
                eprint!("exec: {:?}: {error}", command[0]);
                return Err(Exit(exit::BAD_ARGS));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn exec_watch_accepts_both_argument_orders() {
        let (key, command) = split_exec_watch_args(&strings(&["/k", "--", "sh", "-c", "x"]), false).unwrap();
        assert_eq!((key.as_str(), command), ("/k", strings(&["sh", "-c", "x"])));
        let (key, command) = split_exec_watch_args(&strings(&["/k", "sh", "-c", "x"]), true).unwrap();
        assert_eq!((key.as_str(), command), ("/k", strings(&["sh", "-c", "x"])));
        let (key, command) = split_exec_watch_args(&strings(&["sh", "-c", "x", "/k"]), false).unwrap();
        assert_eq!((key.as_str(), command), ("/k", strings(&["sh", "-c", "x"])));
        assert!(split_exec_watch_args(&strings(&["/k"]), false).is_none());
        assert!(split_exec_watch_args(&strings(&["/k", "--"]), false).is_none());
    }

    #[test]
    fn listing_prints_children_and_marks_dirs_with_p() {
        let child = |key: &str, dir: bool| Node { key: key.to_string(), dir, ..Node::default() };
        let mut sub = child("/a/sub", true);
        sub.nodes = Some(vec![child("/a/sub/x", false)]);
        let mut root = child("/a", true);
        root.nodes = Some(vec![child("/a/f", false), sub]);
        assert_eq!(render_listing(&root, false), "/a/f\n/a/sub\n/a/sub/x\n");
        assert_eq!(render_listing(&root, true), "/a/f\n/a/sub/\n/a/sub/x\n");
        assert_eq!(render_listing(&child("/file", false), true), "/file\n");
    }

    #[test]
    fn delete_renders_previous_value() {
        let response = KeysResponse {
            action: "delete".to_string(),
            node: Node { key: "/x".to_string(), created_index: 7, modified_index: 8, ..Node::default() },
            prev_node: Some(Node { key: "/x".to_string(), value: "z".to_string(), ..Node::default() }),
            etcd_index: 8,
            ..KeysResponse::default()
        };
        assert_eq!(render_response(&response, OutputFormat::Simple), "PrevNode.Value: z\n");
        assert_eq!(
            render_response(&response, OutputFormat::Extended),
            "Key: /x\nCreated-Index: 7\nModified-Index: 8\nPrevNode.Value: z\nTTL: 0\nIndex: 8\n"
        );
    }
}
