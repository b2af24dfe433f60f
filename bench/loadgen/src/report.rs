//! The result of a run as one JSON object (`--json`) or as a few human-readable lines.

use serde_json::{Value, json};

use crate::latency::Percentiles;
use crate::options::Options;
use crate::runner::Outcome;
use crate::watch::WatchFigures;

/// The JSON of a latency distribution, in milliseconds.
pub fn latency_json(figures: &Percentiles) -> Value {
    json!({
        "count": figures.count,
        "mean": round(figures.mean_ms),
        "p50": round(figures.p50_ms),
        "p90": round(figures.p90_ms),
        "p99": round(figures.p99_ms),
        "p99_9": round(figures.p999_ms),
        "max": round(figures.max_ms),
    })
}

fn round(milliseconds: f64) -> f64 {
    (milliseconds * 1000.0).round() / 1000.0
}

/// The JSON of a run's outcome: counts, time, throughput and latency.
pub fn outcome_json(outcome: &Outcome) -> Value {
    let seconds = outcome.elapsed.as_secs_f64();
    let succeeded = outcome.operations - outcome.errors;
    json!({
        "operations": outcome.operations,
        "errors": outcome.errors,
        "first_error": outcome.first_error,
        "elapsed_seconds": round(seconds),
        "throughput_per_second": if seconds > 0.0 { round(succeeded as f64 / seconds) } else { 0.0 },
        "latency_ms": latency_json(&outcome.latencies.percentiles()),
    })
}

/// The whole report: the settings, then the outcome's fields at the top level.
pub fn report_json(options: &Options, key_bytes: usize, outcome: &Outcome) -> Value {
    let mut report = json!({
        "workload": options.workload.name(),
        "protocol": format!("{:?}", options.protocol).to_lowercase(),
        "endpoints": options.endpoints,
        "connections": options.connections,
        "clients": options.clients,
        "key_count": options.key_count,
        "key_bytes": key_bytes,
        "value_bytes": options.value_size_bytes,
        "random_keys": options.random_keys,
        "rate": options.rate,
    });
    let object = report.as_object_mut().expect("an object");
    if let Value::Object(fields) = outcome_json(outcome) {
        object.extend(fields);
    }
    report
}

/// The watch figures, under `"watch"` in the report.
pub fn watch_json(figures: &WatchFigures) -> Value {
    let bytes_per_watcher = match (figures.rss_before_bytes, figures.rss_watching_bytes) {
        (Some(before), Some(watching)) => Some((watching as f64 - before as f64) / figures.watchers as f64),
        _ => None,
    };
    json!({
        "watchers": figures.watchers,
        "expected_events": figures.expected_events,
        "delivered_events": figures.delivered_events,
        "cleared_polls": figures.cleared_polls,
        "watcher_errors": figures.watcher_errors,
        "delivery_latency_ms": latency_json(&figures.delivery.percentiles()),
        "server_rss_before_watchers_bytes": figures.rss_before_bytes,
        "server_rss_watching_bytes": figures.rss_watching_bytes,
        "server_bytes_per_watcher": bytes_per_watcher.map(|bytes| bytes.round()),
    })
}

/// The report as text: one line per part.
pub fn text(report: &Value) -> String {
    let mut lines = vec![format!(
        "{} over {}: {} clients, {} connections to {}, {} keys of {} bytes, {}-byte values{}",
        report["workload"].as_str().unwrap_or_default(),
        report["protocol"].as_str().unwrap_or_default(),
        report["clients"],
        report["connections"],
        report["endpoints"].as_array().map(|list| list.len()).unwrap_or_default(),
        report["key_count"],
        report["key_bytes"],
        report["value_bytes"],
        if report["random_keys"] == true { " (random)" } else { "" },
    )];
    if let Some(prefill) = report.get("prefill") {
        lines.push(format!(
            "prefill: {} puts, {} errors, {} s",
            prefill["operations"], prefill["errors"], prefill["elapsed_seconds"]
        ));
    }
    lines.push(format!(
        "operations {} ({} errors) in {} s: {} ops/s",
        report["operations"], report["errors"], report["elapsed_seconds"], report["throughput_per_second"]
    ));
    lines.push(format!("latency ms: {}", latency_text(&report["latency_ms"])));
    if let Some(watch) = report.get("watch") {
        lines.push(format!(
            "watch: {} watchers, {} of {} events delivered, {} cleared polls, {} watcher errors",
            watch["watchers"],
            watch["delivered_events"],
            watch["expected_events"],
            watch["cleared_polls"],
            watch["watcher_errors"]
        ));
        lines.push(format!("delivery latency ms: {}", latency_text(&watch["delivery_latency_ms"])));
        lines.push(format!("server bytes per watcher: {}", watch["server_bytes_per_watcher"]));
    }
    if let Some(rss) = report.get("server_rss_bytes") {
        lines.push(format!("server RSS bytes: before {}, after {}", rss["before"], rss["after"]));
    }
    lines.join("\n")
}

fn latency_text(latency: &Value) -> String {
    ["mean", "p50", "p90", "p99", "p99_9", "max"]
        .iter()
        .map(|name| format!("{} {}", name.replace('_', "."), latency[name]))
        .collect::<Vec<_>>()
        .join(", ")
}
