//! `txn`: reads a transaction from stdin in etcdctl's form (compares, a blank line, success requests,
//! a blank line, failure requests, a blank line), sends it, and prints the outcome.
//!
//! A compare reads `target("key") op "value"` with target `ver|version`, `c|create`, `m|mod`,
//! `val|value` or `lease` and op `=`, `!=`, `<` or `>`; a request is a `put`, `get` or `del` line with
//! the same arguments and flags as the commands.

use std::io::BufRead;

use api::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use api::etcdserverpb::kv_client::KvClient;
use api::etcdserverpb::request_op::Request;
use api::etcdserverpb::{Compare, RequestOp, TxnRequest};
use clap::Parser;

use super::arguments::{argify, parse_int, unquote_prefix};
use super::cli::{TxnArgs, TxnOperation, TxnOperationKind};
use super::connection::{call, dial};
use super::context::Context;
use super::errors::{Failure, exit};
use super::kv::{ValueSource, delete_request, put_request, range_request};
use super::print::{Shown, go_text::go_quote, write_stdout};

/// Most lines one section of a transaction may hold.
pub const MAX_LINES_PER_SECTION: usize = 10_000;

pub async fn txn(context: &Context, args: &TxnArgs) -> Result<(), Failure> {
    if !args.args.is_empty() {
        return Err(Failure::new(exit::BAD_ARGS, "txn command does not accept argument"));
    }
    let global = context.global()?;
    let request = read_transaction(&mut std::io::stdin().lock(), args.interactive)?;
    let settings = &global.settings;
    let channel =
        dial(settings, settings.connect_deadline()).await.map_err(|error| error.failure(exit::ERROR))?;
    // etcdctl gives a transaction no deadline; a day stands in for "none".
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(86_400);
    let response = call(deadline, KvClient::new(channel).txn(request))
        .await
        .map_err(|error| error.failure(exit::ERROR))?;
    global.printer.print(&Shown::Txn(&response))
}

/// Reads the three sections, prompting for each in interactive mode.
pub fn read_transaction(input: &mut impl BufRead, interactive: bool) -> Result<TxnRequest, Failure> {
    let prompt = |text: &str| {
        if interactive {
            write_stdout(format!("{text}\n").as_bytes());
        }
    };
    prompt("compares:");
    let compare = read_section(input)?.iter().map(|line| parse_compare(line)).collect::<Result<_, _>>()?;
    prompt("success requests (get, put, del):");
    let success = read_section(input)?.iter().map(|line| parse_operation(line)).collect::<Result<_, _>>()?;
    prompt("failure requests (get, put, del):");
    let failure = read_section(input)?.iter().map(|line| parse_operation(line)).collect::<Result<_, _>>()?;
    Ok(TxnRequest { compare, success, failure })
}

/// The trimmed lines up to the next blank one. Input that ends first is etcdctl's `EOF` error.
fn read_section(input: &mut impl BufRead) -> Result<Vec<String>, Failure> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let read = input
            .read_line(&mut line)
            .map_err(|error| Failure::new(exit::INVALID_INPUT, &error.to_string()))?;
        if read == 0 || !line.ends_with('\n') {
            return Err(Failure::new(exit::INVALID_INPUT, "EOF"));
        }
        let line = line.trim();
        if line.is_empty() {
            return Ok(lines);
        }
        if lines.len() == MAX_LINES_PER_SECTION {
            return Err(Failure::new(
                exit::INVALID_INPUT,
                "too many lines in one section of the transaction",
            ));
        }
        lines.push(line.to_string());
    }
}

/// One `put`/`get`/`del` line as a request.
pub fn parse_operation(line: &str) -> Result<RequestOp, Failure> {
    let invalid = || Failure::new(exit::INVALID_INPUT, &format!("invalid txn request: {line}"));
    let arguments = argify(line).map_err(|_| invalid())?;
    if arguments.len() < 2 {
        return Err(Failure::new(exit::INVALID_INPUT, &format!("invalid txn compare request: {line}")));
    }
    let parsed = TxnOperation::try_parse_from(&arguments).map_err(|_| invalid())?;
    let request = match &parsed.operation {
        TxnOperationKind::Put(args) => Request::RequestPut(put_request(args, ValueSource::ArgumentOnly)?),
        TxnOperationKind::Get(args) => Request::RequestRange(range_request(args)?),
        TxnOperationKind::Del(args) => Request::RequestDeleteRange(delete_request(args)?),
    };
    Ok(RequestOp { request: Some(request) })
}

/// What a compare line holds before its value is interpreted.
#[derive(Debug, Default, PartialEq, Eq)]
struct CompareParts {
    target: String,
    key: String,
    operator: String,
    value: String,
}

/// One compare line as a compare.
pub fn parse_compare(line: &str) -> Result<Compare, Failure> {
    let malformed =
        |detail: String| Failure::new(exit::INVALID_INPUT, &format!("malformed comparison: {line}{detail}"));
    let Some((target, rest)) = line.split_once('(') else { return Err(malformed(String::new())) };
    let mut parts = CompareParts { target: target.to_string(), ..CompareParts::default() };
    if !scan_compare(rest, &mut parts) {
        return Err(malformed(format!(
            "; got {}({}) {} {}",
            parts.target,
            go_quote(parts.key.as_bytes()),
            parts.operator,
            go_quote(parts.value.as_bytes())
        )));
    }
    let invalid = || Failure::new(exit::INVALID_INPUT, &format!("invalid txn compare request: {line}"));
    let number = |base: u32| parse_int(&parts.value, base).map_err(|_| invalid());
    let (target, union) = match parts.target.as_str() {
        "ver" | "version" => (CompareTarget::Version, TargetUnion::Version(number(10)?)),
        "c" | "create" => (CompareTarget::Create, TargetUnion::CreateRevision(number(10)?)),
        "m" | "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(number(10)?)),
        "val" | "value" => (CompareTarget::Value, TargetUnion::Value(parts.value.as_bytes().to_vec())),
        "lease" => (CompareTarget::Lease, TargetUnion::Lease(number(16)?)),
        unknown => return Err(malformed(format!(" (unknown target {unknown})"))),
    };
    let result = match parts.operator.as_str() {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        "<" => CompareResult::Less,
        unknown => return Err(malformed(format!(" (unknown operator {unknown})"))),
    };
    Ok(Compare {
        result: result as i32,
        target: target as i32,
        key: parts.key.into_bytes(),
        range_end: Vec::new(),
        target_union: Some(union),
    })
}

/// Go's `Sscanf(rest, "%q) %s %q", ...)`: fills `parts` as far as it gets; true when all three parsed.
fn scan_compare(rest: &str, parts: &mut CompareParts) -> bool {
    let Some((key, rest)) = unquote_prefix(rest.trim_start()) else { return false };
    parts.key = key;
    let Some(rest) = rest.strip_prefix(')') else { return false };
    let rest = rest.trim_start();
    let operator_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if operator_end == 0 {
        return false;
    }
    parts.operator = rest[..operator_end].to_string();
    let Some((value, _)) = unquote_prefix(rest[operator_end..].trim_start()) else { return false };
    parts.value = value;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure_text(failure: Failure) -> (i32, String) {
        (failure.code, failure.message.unwrap_or_default())
    }

    #[test]
    fn a_value_compare_reads_key_operator_and_value() {
        let compare = parse_compare(r#"value("srn") = "three""#).unwrap();
        assert_eq!(compare.key, b"srn");
        assert_eq!(compare.result, CompareResult::Equal as i32);
        assert_eq!(compare.target_union, Some(TargetUnion::Value(b"three".to_vec())));
        let compare = parse_compare(r#"mod("a") < "100""#).unwrap();
        assert_eq!(compare.target_union, Some(TargetUnion::ModRevision(100)));
    }

    #[test]
    fn malformed_compares_fail_with_etcdctls_words() {
        assert_eq!(
            failure_text(parse_compare("bogus").unwrap_err()),
            (3, "malformed comparison: bogus".into())
        );
        assert_eq!(
            failure_text(parse_compare(r#"value(a) = "1""#).unwrap_err()).1,
            r#"malformed comparison: value(a) = "1"; got value("")  """#
        );
        assert_eq!(
            failure_text(parse_compare(r#"foo("a") = "1""#).unwrap_err()).1,
            r#"malformed comparison: foo("a") = "1" (unknown target foo)"#
        );
        assert_eq!(
            failure_text(parse_compare(r#"ver("a") = "x""#).unwrap_err()).1,
            r#"invalid txn compare request: ver("a") = "x""#
        );
    }

    #[test]
    fn the_three_sections_end_at_blank_lines() {
        let text = "value(\"a\") = \"b\"\n\nput a c\nget a --prefix\n\ndel zz\n\n";
        let request = read_transaction(&mut text.as_bytes(), false).unwrap();
        assert_eq!((request.compare.len(), request.success.len(), request.failure.len()), (1, 2, 1));
        let truncated = "value(\"a\") = \"b\"\n\n";
        assert_eq!(
            failure_text(read_transaction(&mut truncated.as_bytes(), false).unwrap_err()),
            (3, "EOF".into())
        );
    }

    #[test]
    fn bad_request_lines_are_invalid_input() {
        assert_eq!(failure_text(parse_operation("put").unwrap_err()).1, "invalid txn compare request: put");
        assert_eq!(failure_text(parse_operation("bump a b").unwrap_err()).1, "invalid txn request: bump a b");
        assert_eq!(parse_operation("put a").unwrap_err().code, exit::BAD_ARGS);
    }
}
