//! The scenario file format and its runner, in the style of etcd-io/raft's datadriven tests.
//!
//! A file is a transcript: `#` comment lines and blank lines, and blocks of
//!
//! ```text
//! command arg key=value ...
//! optional input lines
//! ----
//! expected output lines (never blank)
//! ```
//!
//! ended by a blank line or the end of the file. The runner carries out each command on one in-memory
//! cluster (`interpreter.rs`) and compares what it prints with the expected block. With `REWRITE=1` in
//! the environment it writes the actual output back into the file instead (review the diff).
#![allow(dead_code)]

pub mod describe;
pub mod interpreter;

use interpreter::Interpreter;

/// One command of a scenario with the output the file expects of it.
#[derive(Clone, Debug)]
struct Block {
    /// 1-based line of the command in the file.
    line: usize,
    command: String,
    input: Vec<String>,
    expected: Vec<String>,
    /// Whether a blank line followed the expected output (rather than the end of the file).
    blank_after: bool,
}

#[derive(Clone, Debug)]
enum Item {
    /// A comment or blank line, kept verbatim.
    Verbatim(String),
    Block(Block),
}

const SEPARATOR: &str = "----";

fn parse(text: &str) -> Result<Vec<Item>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut items = Vec::new();
    let mut position = 0;
    while position < lines.len() {
        let line = lines[position];
        if line.trim().is_empty() || line.starts_with('#') {
            items.push(Item::Verbatim(line.to_string()));
            position += 1;
            continue;
        }
        let (block, next) = parse_block(&lines, position)?;
        items.push(Item::Block(block));
        position = next;
    }
    Ok(items)
}

/// Parses the block whose command is at `start`; returns it and the position after it.
fn parse_block(lines: &[&str], start: usize) -> Result<(Block, usize), String> {
    let mut position = start + 1;
    let mut input = Vec::new();
    while position < lines.len() && lines[position] != SEPARATOR {
        if lines[position].trim().is_empty() {
            return Err(format!("line {}: blank line before `{SEPARATOR}`", position + 1));
        }
        input.push(lines[position].to_string());
        position += 1;
    }
    if position == lines.len() {
        return Err(format!("line {}: command without `{SEPARATOR}`", start + 1));
    }
    position += 1;
    let mut expected = Vec::new();
    while position < lines.len() && !lines[position].trim().is_empty() {
        expected.push(lines[position].to_string());
        position += 1;
    }
    let blank_after = position < lines.len();
    let block = Block { line: start + 1, command: lines[start].to_string(), input, expected, blank_after };
    Ok((block, position + usize::from(blank_after)))
}

/// What running a scenario found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// One report per block whose output differs from its expectation, in file order.
    pub mismatches: Vec<String>,
    /// The file with every expected block replaced by the actual output.
    pub rewritten: String,
}

/// Runs a scenario text. Errors (unknown commands, bad arguments, a malformed file) stop the run.
pub fn run(name: &str, text: &str) -> Result<Outcome, String> {
    let items = parse(text).map_err(|why| format!("{name}: {why}"))?;
    let mut interpreter = Interpreter::default();
    let mut outcome = Outcome::default();
    for item in &items {
        match item {
            Item::Verbatim(line) => {
                outcome.rewritten.push_str(line);
                outcome.rewritten.push('\n');
            }
            Item::Block(block) => {
                let output = interpreter
                    .execute(&block.command, &block.input)
                    .map_err(|why| format!("{name}:{}: `{}`: {why}", block.line, block.command))?;
                let actual: Vec<String> = output.lines().map(|line| line.trim_end().to_string()).collect();
                assert!(actual.iter().all(|line| !line.is_empty()), "output with a blank line: {output:?}");
                if actual != block.expected {
                    outcome.mismatches.push(mismatch(name, block, &actual));
                }
                write_block(&mut outcome.rewritten, block, &actual);
            }
        }
    }
    Ok(outcome)
}

fn write_block(text: &mut String, block: &Block, actual: &[String]) {
    for line in std::iter::once(&block.command).chain(&block.input) {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(SEPARATOR);
    text.push('\n');
    for line in actual {
        text.push_str(line);
        text.push('\n');
    }
    if block.blank_after {
        text.push('\n');
    }
}

fn mismatch(name: &str, block: &Block, actual: &[String]) -> String {
    format!(
        "{name}:{}: `{}`\n--- expected\n{}\n--- actual\n{}",
        block.line,
        block.command,
        block.expected.join("\n"),
        actual.join("\n")
    )
}
