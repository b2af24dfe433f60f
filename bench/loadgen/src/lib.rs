//! `concord-bench`: a load generator for Concord and etcd, in the spirit of etcd's `benchmark` tool. It
//! speaks the v2 keys API over HTTP/1.1 and the v3 gRPC API, runs put, get, quorum get, mixed, txn and
//! watch fan-out workloads for a count or a duration, and reports throughput and latency percentiles
//! (HdrHistogram) as text or JSON. Every queue is bounded: one request in flight per client, one
//! connection per v2 watcher, a create queue per v3 watch stream the size of its watchers.
//!
//! This file only sequences a run: prefill, measured run, server memory, report.

pub mod client;
pub mod keys;
pub mod latency;
pub mod operations;
pub mod options;
pub mod progress;
pub mod report;
pub mod rss;
pub mod runner;
pub mod v2;
pub mod v3;
pub mod watch;

use serde_json::{Value, json};

use crate::keys::KeySpace;
use crate::operations::Maker;
use crate::options::{Options, Workload};
use crate::runner::Plan;

/// Runs what `options` ask for and returns the report (see `report`).
pub async fn run(options: &Options) -> Result<Value, String> {
    options.validate()?;
    let key_bytes = KeySpace::new(&options.key_prefix, options.key_size_bytes, options.key_count).key_bytes();
    let progress = (!options.quiet).then(|| options.workload.name().to_string());
    if options.workload == Workload::Watch {
        let (writes, figures) = watch::run(options, progress).await?;
        let mut report = report::report_json(options, key_bytes, &writes);
        report["watch"] = report::watch_json(&figures);
        return Ok(report);
    }
    let prefill = if options.workload.reads_existing_keys() && !options.no_prefill {
        Some(run_prefill(options).await?)
    } else {
        None
    };
    let rss_before = options.server_pid.and_then(rss::resident_bytes);
    let handles =
        client::open(options.protocol, &options.endpoints, options.connections, options.clients).await?;
    let plan = Plan { count: options.count, duration: options.duration(), rate: options.rate };
    let maker = Maker::new(options, options.workload);
    let outcome = runner::run(handles, maker, plan, options.seed, progress).await;
    let rss_after = options.server_pid.and_then(rss::resident_bytes);
    let mut report = report::report_json(options, key_bytes, &outcome);
    if let Some(prefill) = prefill {
        report["prefill"] = prefill;
    }
    if options.server_pid.is_some() {
        report["server_rss_bytes"] = json!({ "before": rss_before, "after": rss_after });
    }
    Ok(report)
}

/// Writes every key once, in order, with the run's clients; its outcome (not part of the figures).
async fn run_prefill(options: &Options) -> Result<Value, String> {
    let handles =
        client::open(options.protocol, &options.endpoints, options.connections, options.clients).await?;
    let plan = Plan { count: Some(options.key_count), duration: None, rate: None };
    let progress = (!options.quiet).then(|| "prefill".to_string());
    let outcome = runner::run(handles, Maker::prefill(options), plan, options.seed, progress).await;
    if outcome.errors > 0 {
        return Err(format!(
            "prefill: {} of {} puts failed, first: {}",
            outcome.errors,
            outcome.operations,
            outcome.first_error.unwrap_or_default()
        ));
    }
    Ok(report::outcome_json(&outcome))
}
