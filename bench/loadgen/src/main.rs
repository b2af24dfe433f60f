//! The `concord-bench` command: parses the options, runs the load on a tokio runtime, prints the report
//! (text, or JSON with `--json`) on stdout. Exit status: 0 when every operation succeeded, 1 when some
//! failed or the run could not start, 2 for bad options.

use std::process::ExitCode;

use clap::Parser;
use concord_bench::options::Options;
use concord_bench::report;

fn main() -> ExitCode {
    let options = Options::parse();
    if let Err(message) = options.validate() {
        eprintln!("concord-bench: {message}");
        return ExitCode::from(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(concord_bench::run(&options)) {
        Ok(result) => {
            if options.json {
                println!("{result}");
            } else {
                println!("{}", report::text(&result));
            }
            if result["errors"].as_u64() == Some(0) { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(message) => {
            eprintln!("concord-bench: {message}");
            ExitCode::from(1)
        }
    }
}
