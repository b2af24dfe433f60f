//! The key commands `put`, `get`, `del` and `compaction`: etcdctl's argument checks (and their exit
//! codes), the request each builds (shared with `txn`), the call, and the output.

use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::range_request::{SortOrder, SortTarget};
use api::etcdserverpb::{CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest};

use super::arguments::{argument_or_stdin, parse_int};
use super::cli::{CompactionArgs, DelArgs, GetArgs, PutArgs};
use super::connection::dial_and_call;
use super::context::Context;
use super::errors::{Failure, exit};
use super::print::{Format, Shown};

/// Where a value comes from when `put` has only a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueSource {
    /// The command line, else stdin (the `put` command).
    ArgumentOrStdin,
    /// The command line only (a `put` inside `txn`, whose stdin holds the transaction).
    ArgumentOnly,
}

const PUT_ARGUMENTS: &str = "put command needs 1 argument and input from stdin or 2 arguments";
const RANGE_ARGUMENTS: &str = "get command needs one argument as key and an optional argument as range_end";
const DELETE_ARGUMENTS: &str = "del command needs one argument as key and an optional argument as range_end";
const PREFIX_AND_FROM_KEY: &str = "`--prefix` and `--from-key` cannot be set at the same time, choose one";
const TOO_MANY_WITH_PREFIX: &str =
    "too many arguments, only accept one argument when `--prefix` or `--from-key` is set";

/// etcdctl's `getPutOp`.
pub fn put_request(args: &PutArgs, source: ValueSource) -> Result<PutRequest, Failure> {
    let Some(key) = args.args.first() else { return Err(Failure::new(exit::BAD_ARGS, PUT_ARGUMENTS)) };
    if args.ignore_value && args.args.len() > 1 {
        return Err(Failure::new(
            exit::BAD_ARGS,
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    let value = if args.ignore_value {
        Vec::new()
    } else {
        let value = match source {
            ValueSource::ArgumentOrStdin => argument_or_stdin(&args.args, 1),
            ValueSource::ArgumentOnly => args.args.get(1).map(|value| value.as_bytes().to_vec()),
        };
        value.ok_or_else(|| Failure::new(exit::BAD_ARGS, PUT_ARGUMENTS))?
    };
    let lease = parse_int(&args.lease, 16).map_err(|error| {
        Failure::new(exit::BAD_ARGS, &format!("bad lease ID ({error}), expecting ID in Hex"))
    })?;
    Ok(PutRequest {
        key: key.as_bytes().to_vec(),
        value,
        lease,
        prev_kv: args.prev_kv,
        ignore_value: args.ignore_value,
        ignore_lease: args.ignore_lease,
    })
}

/// The end of the range of keys starting with `prefix` (clientv3's `GetPrefixRangeEnd`): the prefix
/// with its last byte below 0xff incremented, or `\0` (every key) when there is none.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The key and range end for a key argument, an optional range end, and `--prefix` / `--from-key`.
fn key_range(args: &[String], prefix: bool, from_key: bool) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    if prefix && from_key {
        return Err(Failure::new(exit::BAD_ARGS, PREFIX_AND_FROM_KEY));
    }
    let mut key = args[0].as_bytes().to_vec();
    let mut range_end = Vec::new();
    if let Some(end) = args.get(1) {
        if prefix || from_key {
            return Err(Failure::new(exit::BAD_ARGS, TOO_MANY_WITH_PREFIX));
        }
        range_end = end.as_bytes().to_vec();
    }
    if prefix || from_key {
        if key.is_empty() {
            key = vec![0];
            range_end = vec![0];
        } else {
            range_end = if prefix { prefix_end(&key) } else { vec![0] };
        }
    }
    Ok((key, range_end))
}

/// etcdctl's `getGetOp`.
pub fn range_request(args: &GetArgs) -> Result<RangeRequest, Failure> {
    if args.args.is_empty() {
        return Err(Failure::new(exit::BAD_ARGS, RANGE_ARGUMENTS));
    }
    if args.prefix && args.from_key {
        return Err(Failure::new(exit::BAD_ARGS, PREFIX_AND_FROM_KEY));
    }
    let serializable = match args.consistency.as_str() {
        "s" => true,
        "l" => false,
        other => return Err(Failure::new(exit::BAD_FEATURE, &format!("unknown consistency flag {other:?}"))),
    };
    let (key, range_end) = key_range(&args.args, args.prefix, args.from_key)?;
    let (sort_order, sort_target) = sorting(&args.order, &args.sort_by)?;
    Ok(RangeRequest {
        key,
        range_end,
        limit: args.limit,
        revision: args.rev.max(0),
        sort_order: sort_order as i32,
        sort_target: sort_target as i32,
        serializable,
        keys_only: args.keys_only,
        ..RangeRequest::default()
    })
}

/// `--order` and `--sort-by`; like clientv3, ascending by key is sent as no sort at all.
fn sorting(order: &str, target: &str) -> Result<(SortOrder, SortTarget), Failure> {
    let order = match order.to_uppercase().as_str() {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        _ => return Err(Failure::new(exit::BAD_FEATURE, &format!("bad sort order {order}"))),
    };
    let target = match target.to_uppercase().as_str() {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        _ => return Err(Failure::new(exit::BAD_FEATURE, &format!("bad sort target {target}"))),
    };
    let order = if target == SortTarget::Key && order == SortOrder::Ascend { SortOrder::None } else { order };
    Ok((order, target))
}

/// etcdctl's `getDelOp`.
pub fn delete_request(args: &DelArgs) -> Result<DeleteRangeRequest, Failure> {
    if args.args.is_empty() || args.args.len() > 2 {
        return Err(Failure::new(exit::BAD_ARGS, DELETE_ARGUMENTS));
    }
    let (key, range_end) = key_range(&args.args, args.prefix, args.from_key)?;
    Ok(DeleteRangeRequest { key, range_end, prev_kv: args.prev_kv })
}

pub async fn put(context: &Context, args: &PutArgs) -> Result<(), Failure> {
    let request = put_request(args, ValueSource::ArgumentOrStdin)?;
    let global = context.global()?;
    let settings = &global.settings;
    let response =
        dial_and_call(settings, settings.command_deadline(), KvClient::new, |mut client| async move {
            client.put(request).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    global.printer.print(&Shown::Put(&response))
}

pub async fn get(context: &Context, args: &GetArgs) -> Result<(), Failure> {
    let request = range_request(args)?;
    let global = context.global()?;
    let settings = &global.settings;
    let response =
        dial_and_call(settings, settings.command_deadline(), KvClient::new, |mut client| async move {
            client.range(request).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    let mut printer = global.printer;
    if args.print_value_only {
        if printer.format != Format::Simple {
            return Err(Failure::new(exit::BAD_ARGS, "print-value-only is only for `--write-out=simple`"));
        }
        printer.value_only = true;
    }
    printer.print(&Shown::Get(&response))
}

pub async fn delete(context: &Context, args: &DelArgs) -> Result<(), Failure> {
    let request = delete_request(args)?;
    let global = context.global()?;
    let settings = &global.settings;
    let response =
        dial_and_call(settings, settings.command_deadline(), KvClient::new, |mut client| async move {
            client.delete_range(request).await
        })
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    global.printer.print(&Shown::Delete(&response))
}

pub async fn compaction(context: &Context, args: &CompactionArgs) -> Result<(), Failure> {
    if args.args.len() != 1 {
        return Err(Failure::new(exit::BAD_ARGS, "compaction command needs 1 argument"));
    }
    let revision = parse_int(&args.args[0], 10).map_err(|error| Failure::new(exit::ERROR, &error))?;
    let global = context.global()?;
    let settings = &global.settings;
    let request = CompactionRequest { revision, physical: args.physical };
    dial_and_call(settings, settings.command_deadline(), KvClient::new, |mut client| async move {
        client.compact(request).await
    })
    .await
    .map_err(|error| error.failure(exit::ERROR))?;
    super::print::write_stdout(format!("compacted revision {revision}\n").as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn prefixes_end_after_their_last_incrementable_byte() {
        assert_eq!(prefix_end(b"abc"), b"abd");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    }

    #[test]
    fn an_empty_prefix_means_every_key() {
        let args =
            GetArgs { args: strings(&[""]), prefix: true, consistency: "l".into(), ..GetArgs::default() };
        let request = range_request(&args).unwrap();
        assert_eq!((request.key, request.range_end), (vec![0], vec![0]));
    }

    #[test]
    fn get_arguments_are_checked_like_etcdctl() {
        let base = GetArgs { consistency: "l".into(), ..GetArgs::default() };
        assert_eq!(range_request(&base).unwrap_err().code, exit::BAD_ARGS);
        let both = GetArgs { args: strings(&["a"]), prefix: true, from_key: true, ..base.clone() };
        assert_eq!(range_request(&both).unwrap_err().message.as_deref(), Some(PREFIX_AND_FROM_KEY));
        let bad_order = GetArgs { args: strings(&["a"]), order: "sideways".into(), ..base.clone() };
        assert_eq!(range_request(&bad_order).unwrap_err().code, exit::BAD_FEATURE);
        let key_ascending = GetArgs { args: strings(&["a"]), order: "ascend".into(), ..base };
        assert_eq!(range_request(&key_ascending).unwrap().sort_order, SortOrder::None as i32);
    }

    #[test]
    fn put_needs_a_value_and_a_hex_lease() {
        let missing = PutArgs { args: strings(&["k"]), lease: "0".into(), ..PutArgs::default() };
        assert_eq!(put_request(&missing, ValueSource::ArgumentOnly).unwrap_err().code, exit::BAD_ARGS);
        let leased = PutArgs { args: strings(&["k", "v"]), lease: "1f".into(), ..PutArgs::default() };
        assert_eq!(put_request(&leased, ValueSource::ArgumentOnly).unwrap().lease, 31);
    }
}
