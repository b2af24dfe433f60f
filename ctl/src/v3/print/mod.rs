//! Output for the v3 commands: what each command shows (`Shown`), and the choice of etcdctl's five
//! formats (`-w simple|json|fields|protobuf|table`). Each format lives in its own file and renders
//! the subset etcdctl renders; for the rest etcdctl says `<format> not supported as output format`
//! (exit 4), after the request has been sent, and so does concordctl.

pub mod auth;
pub mod fields;
pub mod go_text;
pub mod json;
pub mod protobuf;
pub mod simple;
pub mod table;

use std::io::Write;

use api::etcdserverpb::{
    AlarmResponse, DeleteRangeResponse, HashKvResponse, LeaseGrantResponse, LeaseKeepAliveResponse,
    LeaseLeasesResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse, MemberAddResponse, MemberListResponse,
    MemberPromoteResponse, MemberRemoveResponse, MemberUpdateResponse, MoveLeaderResponse, PutResponse,
    RangeResponse, StatusResponse, TxnResponse, WatchResponse,
};

use super::errors::{Failure, exit};

/// One endpoint's health check (`endpoint health`).
#[derive(Debug, Clone)]
pub struct EndpointHealth {
    pub endpoint: String,
    pub health: bool,
    /// Go's `time.Duration` text of how long the check took (empty when it never ran).
    pub took: String,
    pub error: String,
}

/// One endpoint's status (`endpoint status`).
#[derive(Debug, Clone)]
pub struct EndpointStatus {
    pub endpoint: String,
    pub status: StatusResponse,
}

/// One endpoint's key-value hash (`endpoint hashkv`).
#[derive(Debug, Clone)]
pub struct EndpointHash {
    pub endpoint: String,
    pub hash: HashKvResponse,
}

/// Everything a v3 command can show, with what the simple format needs besides the response.
#[derive(Debug)]
pub enum Shown<'a> {
    Get(&'a RangeResponse),
    Put(&'a PutResponse),
    Delete(&'a DeleteRangeResponse),
    Txn(&'a TxnResponse),
    Watch(&'a WatchResponse),
    Grant(&'a LeaseGrantResponse),
    Revoke {
        id: i64,
        response: &'a LeaseRevokeResponse,
    },
    KeepAlive(&'a LeaseKeepAliveResponse),
    TimeToLive {
        response: &'a LeaseTimeToLiveResponse,
        keys: bool,
    },
    Leases(&'a LeaseLeasesResponse),
    MemberAdd(&'a MemberAddResponse),
    MemberRemove {
        id: u64,
        response: &'a MemberRemoveResponse,
    },
    MemberUpdate {
        id: u64,
        response: &'a MemberUpdateResponse,
    },
    MemberPromote {
        id: u64,
        response: &'a MemberPromoteResponse,
    },
    MemberList(&'a MemberListResponse),
    EndpointHealth(&'a [EndpointHealth]),
    EndpointStatus(&'a [EndpointStatus]),
    EndpointHash(&'a [EndpointHash]),
    MoveLeader {
        leader: u64,
        target: u64,
        response: &'a MoveLeaderResponse,
    },
    Alarm(&'a AlarmResponse),
    SnapshotStatus(crate::v3::snapshot::SnapshotStatus),
    /// A `user` or `role` command's answer.
    Auth(&'a auth::AuthShown),
}

/// etcdctl's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Simple,
    Json,
    Fields,
    Protobuf,
    Table,
}

impl Format {
    /// The format `-w` names, or etcdctl's error for an unknown one (exit 4, before any request).
    pub fn parse(name: &str) -> Result<Format, Failure> {
        match name {
            "simple" => Ok(Format::Simple),
            "json" => Ok(Format::Json),
            "fields" => Ok(Format::Fields),
            "protobuf" => Ok(Format::Protobuf),
            "table" => Ok(Format::Table),
            _ => Err(Failure::new(exit::BAD_FEATURE, "unsupported output format")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Simple => "simple",
            Format::Json => "json",
            Format::Fields => "fields",
            Format::Protobuf => "protobuf",
            Format::Table => "table",
        }
    }
}

/// How to print: the format, `--hex`, and `get --print-value-only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Printer {
    pub format: Format,
    pub hex: bool,
    pub value_only: bool,
}

impl Printer {
    pub fn new(format: Format, hex: bool) -> Printer {
        Printer { format, hex, value_only: false }
    }

    /// Renders `shown` in this printer's format and writes it to stdout.
    pub fn print(&self, shown: &Shown) -> Result<(), Failure> {
        let unsupported = || format!("{} not supported as output format", self.format.name());
        let rendered = match self.format {
            Format::Simple => simple::render(shown, self.hex, self.value_only).ok_or_else(unsupported),
            Format::Json => {
                json::render(shown).map(|line| format!("{line}\n").into_bytes()).ok_or_else(unsupported)
            }
            Format::Fields => fields::render(shown).map(String::into_bytes).ok_or_else(unsupported),
            Format::Protobuf => protobuf::render(shown),
            Format::Table => table::render(shown).map(String::into_bytes).ok_or_else(unsupported),
        };
        let bytes = rendered.map_err(|message| Failure::new(exit::BAD_FEATURE, &message))?;
        write_stdout(&bytes);
        Ok(())
    }
}

/// Writes to stdout and flushes, ignoring a closed pipe (`concordctl get --prefix '' | head -1`).
pub fn write_stdout(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

/// Writes a line to stderr (etcdctl's progress and per-endpoint failure lines).
pub fn write_stderr_line(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{text}");
}
