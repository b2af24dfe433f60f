//! The write-ahead log: the durable record of everything Raft must not forget (hard state, log
//! entries, where snapshots were taken), in segment files under `<data-dir>/member/wal`.
//!
//! Layout (the precise byte format is in DESIGN.md ("On-disk formats")): segments named
//! `<seq:016x>-<first_index:016x>.wal`; each a sequence of framed records whose CRC32 is chained
//! through the previous record's CRC, so a record from an older file, a reordered write or a missing
//! segment breaks the chain. Every segment opens with a CRC record (carrying the previous segment's
//! last CRC and the format version) and the metadata record, then repeats the newest snapshot marker
//! and hard state, so a segment can be read without the ones before it.
//!
//! Group commit: [`Wal::save`] frames everything one Raft step produced (entries, then hard state)
//! into one buffer and hands it to the disk in ONE append; [`Wal::sync`] is ONE `fdatasync`. A caller
//! that has several steps ready saves them all and syncs once, so throughput rises with load while
//! each sync still covers everything saved before it. Nothing saved is durable before `sync` returns.
//!
//! Failure: any I/O error poisons the WAL (every later call fails with [`WalError::Failed`]). After a
//! failed `fdatasync` the kernel may have dropped the dirty pages, so retrying could report success for
//! data that is gone; the only safe continuation is to stop and recover from what is on disk.
//!
//! Recovery ([`Wal::open`]): a torn tail (an incomplete or zero-filled last record in the LAST segment,
//! the mark of a crash during a write) is cut off and reported as a warning; any other damage is
//! [`WalError::Corrupt`] naming the file and offset. Entries are never silently dropped.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use raft::types::{Entry, HardState, Index, Term};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::disk::Disk;

/// The WAL format version written in every segment's CRC record.
pub const WAL_FORMAT_VERSION: u32 = 1;
/// Bytes of the frame header in front of every record's payload.
pub const RECORD_HEADER_LEN: usize = 16;
/// The largest record payload accepted on read or produced on write.
pub const MAX_RECORD_PAYLOAD: usize = codec::MAX_DECODE_BYTES;
/// An entries record is closed once its payload reaches about this size; a batch bigger than this
/// becomes several records (still in one write).
pub const ENTRIES_RECORD_TARGET: usize = 1 << 20;
/// The default segment size at which the WAL starts a new segment (etcd's 64 MB).
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;
/// etcd's default `--max-wals`.
pub const DEFAULT_MAX_WALS: usize = 5;
/// Torn-write detection looks for all-zero blocks of this size (the smallest disk sector).
const SECTOR_SIZE: usize = 512;

/// Record types. The numeric values are part of the on-disk format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Payload: previous segment's last CRC (u32 LE) then the format version (u32 LE).
    Crc = 1,
    /// Payload: opaque metadata bytes (member ID, cluster ID, initial configuration: the node's).
    Metadata = 2,
    /// Payload: codec-encoded [`HardState`].
    HardState = 3,
    /// Payload: codec-encoded `Vec<Entry>` (contiguous indexes).
    Entries = 4,
    /// Payload: codec-encoded [`SnapshotMarker`].
    Snapshot = 5,
}

impl RecordType {
    fn from_byte(byte: u8) -> Option<RecordType> {
        Some(match byte {
            1 => RecordType::Crc,
            2 => RecordType::Metadata,
            3 => RecordType::HardState,
            4 => RecordType::Entries,
            5 => RecordType::Snapshot,
            _ => return None,
        })
    }
}

/// A position in the log where a snapshot was taken (index and the term of the entry there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WalSnapshot {
    pub index: Index,
    pub term: Term,
}

/// The snapshot marker record: a snapshot exists at `snapshot`; with `replaces_log` every entry above
/// its index written before the marker is void (the node installed a leader's snapshot and threw its
/// own log away), without it the entries stay (the node compacted its own log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMarker {
    pub snapshot: WalSnapshot,
    pub replaces_log: bool,
}

/// Tunables; etcd's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment that reaches this size is closed and a new one started.
    pub segment_size: u64,
    /// `--max-wals`: how many segment files to keep at most, counting only those no snapshot still
    /// needs as removable; 0 keeps every segment.
    pub max_wals: usize,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions { segment_size: DEFAULT_SEGMENT_SIZE, max_wals: DEFAULT_MAX_WALS }
    }
}

/// Something recovery repaired and the operator should hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryWarning {
    /// The last segment ended in an incomplete or zero-filled record (a crash during a write); the
    /// file was cut at `offset`, dropping `dropped_bytes` bytes that had never been synced.
    TornTail { file: PathBuf, offset: u64, dropped_bytes: u64 },
}

impl fmt::Display for RecoveryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecoveryWarning::TornTail { file, offset, dropped_bytes } => write!(
                f,
                "torn WAL tail in {} at offset {offset}: dropped {dropped_bytes} unsynced bytes",
                file.display()
            ),
        }
    }
}

/// What [`Wal::open`] read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The metadata given to [`Wal::create`].
    pub metadata: Vec<u8>,
    /// The newest hard state saved (the default if none was).
    pub hard_state: HardState,
    /// The log after the snapshot the WAL was opened at: indexes `snapshot.index + 1 ..`, contiguous,
    /// with later writes at an index replacing earlier ones (and everything after them).
    pub entries: Vec<Entry>,
    /// Every snapshot marker in the segments read, oldest first.
    pub snapshot_markers: Vec<WalSnapshot>,
    pub warnings: Vec<RecoveryWarning>,
}

#[derive(Debug)]
pub enum WalError {
    Io {
        operation: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Damage that is not a torn tail: the node must not start on it.
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// No WAL in this directory.
    NotFound {
        dir: PathBuf,
    },
    /// `create` found a WAL already there.
    AlreadyExists {
        dir: PathBuf,
    },
    /// `open` was asked to start at a snapshot the WAL never recorded (or recorded with another term).
    SnapshotNotFound {
        wanted: WalSnapshot,
        dir: PathBuf,
    },
    /// The log was replaced by an installed snapshot newer than the one `open` was asked to start
    /// at: the entries up to it exist only in that snapshot.
    SnapshotRequired {
        found: WalSnapshot,
        wanted: WalSnapshot,
    },
    /// The caller asked for something the log cannot hold (a bug in the caller, never disk damage).
    InvalidRequest {
        reason: String,
    },
    /// An earlier I/O error poisoned this WAL; recover by reopening it.
    Failed,
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Io { operation, path, source } => {
                write!(f, "WAL {operation} failed on {}: {source}", path.display())
            }
            WalError::Corrupt { file, offset, reason } => {
                write!(f, "WAL corrupt in {} at offset {offset}: {reason}", file.display())
            }
            WalError::NotFound { dir } => write!(f, "no WAL in {}", dir.display()),
            WalError::AlreadyExists { dir } => write!(f, "a WAL already exists in {}", dir.display()),
            WalError::SnapshotNotFound { wanted, dir } => write!(
                f,
                "WAL in {} has no snapshot marker at index {} term {}",
                dir.display(),
                wanted.index,
                wanted.term
            ),
            WalError::SnapshotRequired { found, wanted } => write!(
                f,
                "WAL log was replaced by a snapshot at index {} term {}; cannot start from index {}",
                found.index, found.term, wanted.index
            ),
            WalError::InvalidRequest { reason } => write!(f, "invalid WAL request: {reason}"),
            WalError::Failed => f.write_str("WAL failed earlier and must be reopened"),
        }
    }
}

impl std::error::Error for WalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error<'a>(operation: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WalError + 'a {
    move |source| WalError::Io { operation, path: path.to_path_buf(), source }
}

// ------------------------------------------------------------------------------------------------
// Segment names
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    seq: u64,
    /// The index the log's next entry had when the segment was started: every live entry in
    /// earlier segments is below it.
    first_index: Index,
    path: PathBuf,
}

/// The file name of segment `seq` starting at `first_index`.
pub fn segment_name(seq: u64, first_index: Index) -> String {
    format!("{seq:016x}-{first_index:016x}.wal")
}

/// Parses `<seq:016x>-<first_index:016x>.wal`; anything else is not a segment.
pub fn parse_segment_name(name: &str) -> Option<(u64, Index)> {
    let stem = name.strip_suffix(".wal")?;
    let (seq, first_index) = stem.split_once('-')?;
    if seq.len() != 16 || first_index.len() != 16 {
        return None;
    }
    let parse = |text: &str| {
        if text.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase()) {
            u64::from_str_radix(text, 16).ok()
        } else {
            None
        }
    };
    Some((parse(seq)?, parse(first_index)?))
}

/// The segments in `dir`, by sequence number; a hole in the sequence is corruption (a segment that
/// other segments depend on is gone).
fn list_segments(disk: &dyn Disk, dir: &Path) -> Result<Vec<Segment>, WalError> {
    let names = match disk.list(dir) {
        Ok(names) => names,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io_error("list", dir)(error)),
    };
    let mut segments: Vec<Segment> = names
        .iter()
        .filter_map(|name| {
            let (seq, first_index) = parse_segment_name(name)?;
            Some(Segment { seq, first_index, path: dir.join(name) })
        })
        .collect();
    segments.sort_by_key(|segment| segment.seq);
    for pair in segments.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(WalError::Corrupt {
                file: pair[1].path.clone(),
                offset: 0,
                reason: format!("segment sequence jumps from {} to {}", pair[0].seq, pair[1].seq),
            });
        }
    }
    Ok(segments)
}

// ------------------------------------------------------------------------------------------------
// Record framing
// ------------------------------------------------------------------------------------------------

/// Appends one framed record to `buffer` and returns its CRC (the next record's chain seed).
/// `write_payload` appends the payload; the header is filled in after it.
fn frame_record(
    buffer: &mut Vec<u8>,
    record_type: RecordType,
    chain: u32,
    write_payload: impl FnOnce(&mut Vec<u8>),
) -> Result<u32, WalError> {
    let start = buffer.len();
    buffer.resize(start + RECORD_HEADER_LEN, 0);
    write_payload(buffer);
    let payload_len = buffer.len() - start - RECORD_HEADER_LEN;
    if payload_len > MAX_RECORD_PAYLOAD {
        buffer.truncate(start);
        return Err(WalError::InvalidRequest {
            reason: format!("a {record_type:?} record of {payload_len} bytes exceeds {MAX_RECORD_PAYLOAD}"),
        });
    }
    let header = &mut buffer[start..start + RECORD_HEADER_LEN];
    header[0..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    header[4] = record_type as u8;
    // Bytes 5..8 stay zero (reserved).
    let header_crc = crc32fast::hash(&header[0..8]);
    header[8..12].copy_from_slice(&header_crc.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new_with_initial(chain);
    hasher.update(&buffer[start..start + 8]);
    hasher.update(&buffer[start + RECORD_HEADER_LEN..]);
    let crc = hasher.finalize();
    buffer[start + 12..start + 16].copy_from_slice(&crc.to_le_bytes());
    Ok(crc)
}

fn frame_encoded<T: Serialize + ?Sized>(
    buffer: &mut Vec<u8>,
    record_type: RecordType,
    chain: u32,
    value: &T,
) -> Result<u32, WalError> {
    frame_record(buffer, record_type, chain, |buffer| codec::encode_into(value, buffer))
}

/// The records that open every segment: CRC link, metadata, newest snapshot marker, hard state.
fn segment_header(
    previous_crc: u32,
    metadata: &[u8],
    snapshot: WalSnapshot,
    hard_state: &HardState,
) -> Result<(Vec<u8>, u32), WalError> {
    let mut buffer = Vec::with_capacity(4 * RECORD_HEADER_LEN + metadata.len() + 64);
    let mut chain = frame_record(&mut buffer, RecordType::Crc, 0, |buffer| {
        buffer.extend_from_slice(&previous_crc.to_le_bytes());
        buffer.extend_from_slice(&WAL_FORMAT_VERSION.to_le_bytes());
    })?;
    chain =
        frame_record(&mut buffer, RecordType::Metadata, chain, |buffer| buffer.extend_from_slice(metadata))?;
    let marker = SnapshotMarker { snapshot, replaces_log: false };
    chain = frame_encoded(&mut buffer, RecordType::Snapshot, chain, &marker)?;
    chain = frame_encoded(&mut buffer, RecordType::HardState, chain, hard_state)?;
    Ok((buffer, chain))
}

/// One record as read back.
#[derive(Debug)]
enum Record {
    Crc {
        previous_crc: u32,
        version: u32,
    },
    Metadata(Vec<u8>),
    HardState(HardState),
    Entries(Vec<Entry>),
    Snapshot(SnapshotMarker),
    /// An entries record whose CRC was checked but whose payload was not decoded (the reader only
    /// wanted the other records).
    SkippedEntries,
}

/// How reading a segment ended.
#[derive(Debug)]
enum SegmentEnd {
    /// Every byte belongs to a valid record.
    Clean,
    /// The bytes from `offset` on are an incomplete or zero-filled record: a torn write.
    Torn { offset: u64 },
}

struct ScannedSegment {
    records: Vec<(u64, Record)>,
    end: SegmentEnd,
    /// The CRC of the last valid record.
    last_crc: u32,
}

fn corrupt(path: &Path, offset: usize, reason: impl Into<String>) -> WalError {
    WalError::Corrupt { file: path.to_path_buf(), offset: offset as u64, reason: reason.into() }
}

/// Whether some whole 512-byte sector (aligned in the file) of `bytes[start..end]` is all zeros: the
/// trace of a write whose sectors reached the disk out of order before a crash.
fn has_zero_sector(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut sector = start.div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
    while sector + SECTOR_SIZE <= end {
        if bytes[sector..sector + SECTOR_SIZE].iter().all(|&byte| byte == 0) {
            return true;
        }
        sector += SECTOR_SIZE;
    }
    false
}

/// Whether the zeros that end the file (from `zeros_from`) can explain damage to the record at
/// `[start, end)` as a torn write: the record lies wholly in them, or they cover it from a sector
/// boundary on (a crash loses whole sectors). A record that merely ends in a few zero bytes of its
/// own (a commit index of 0, say) does not qualify, so a flipped bit in a synced final record is
/// reported as corruption instead of being cut off as if it had never been written.
fn lost_from_a_sector(zeros_from: usize, start: usize, end: usize) -> bool {
    zeros_from <= start || zeros_from.next_multiple_of(SECTOR_SIZE) < end
}

/// Reads the records of one segment, checking framing and the CRC chain. `is_last` allows a torn
/// tail; anywhere else every byte must belong to a valid record.
fn scan_segment(
    path: &Path,
    bytes: &[u8],
    is_last: bool,
    decode_entries: bool,
) -> Result<ScannedSegment, WalError> {
    // Where the run of zero bytes that ends the file starts (preallocated or zero-filled space).
    let zeros_from = bytes.iter().rposition(|&byte| byte != 0).map_or(0, |last| last + 1);
    let mut records = Vec::new();
    let mut chain = 0u32;
    let mut offset = 0usize;
    let torn_or_corrupt = |offset: usize, reason: String| {
        if is_last {
            Ok(SegmentEnd::Torn { offset: offset as u64 })
        } else {
            Err(corrupt(path, offset, format!("{reason} (not in the last segment)")))
        }
    };
    let end = loop {
        if offset == bytes.len() {
            break SegmentEnd::Clean;
        }
        let remaining = bytes.len() - offset;
        if remaining < RECORD_HEADER_LEN {
            break torn_or_corrupt(offset, format!("incomplete record header ({remaining} bytes)"))?;
        }
        let header = &bytes[offset..offset + RECORD_HEADER_LEN];
        let payload_len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let header_crc = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        let record_crc = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes"));
        let record_type = RecordType::from_byte(header[4]);
        let header_valid = crc32fast::hash(&header[0..8]) == header_crc
            && header[5..8] == [0, 0, 0]
            && record_type.is_some()
            && payload_len <= MAX_RECORD_PAYLOAD;
        if !header_valid {
            // A torn write leaves a prefix followed by nothing or by zeros; damage followed by more
            // data is corruption.
            if lost_from_a_sector(zeros_from, offset, offset + RECORD_HEADER_LEN) {
                break torn_or_corrupt(offset, "zero-filled or partial record header".to_string())?;
            }
            return Err(corrupt(path, offset, "record header checksum mismatch"));
        }
        let record_type = record_type.expect("checked above");
        let frame_end = offset + RECORD_HEADER_LEN + payload_len;
        if frame_end > bytes.len() {
            break torn_or_corrupt(offset, format!("record of {payload_len} bytes runs past the end"))?;
        }
        let payload = &bytes[offset + RECORD_HEADER_LEN..frame_end];
        let seed = if records.is_empty() { 0 } else { chain };
        let mut hasher = crc32fast::Hasher::new_with_initial(seed);
        hasher.update(&header[0..8]);
        hasher.update(payload);
        if hasher.finalize() != record_crc {
            // A write whose pages reached the disk out of order leaves a zero hole in its last
            // record; only the final record gets that benefit of the doubt, so damage can never
            // make recovery drop a record that has valid records after it.
            let final_record = frame_end == bytes.len();
            if lost_from_a_sector(zeros_from, offset, frame_end)
                || (final_record && has_zero_sector(bytes, offset, frame_end))
            {
                break torn_or_corrupt(offset, "record checksum mismatch in zeroed space".to_string())?;
            }
            return Err(corrupt(path, offset, format!("{record_type:?} record checksum mismatch")));
        }
        let record = if record_type == RecordType::Entries && !decode_entries {
            Record::SkippedEntries
        } else {
            decode_record(record_type, payload).map_err(|reason| corrupt(path, offset, reason))?
        };
        match (records.len(), &record) {
            (0, Record::Crc { .. }) | (1, Record::Metadata(_)) => {}
            (0, _) => return Err(corrupt(path, offset, "segment does not start with a CRC record")),
            (1, _) => return Err(corrupt(path, offset, "segment's second record is not metadata")),
            (_, Record::Crc { .. }) => return Err(corrupt(path, offset, "CRC record inside a segment")),
            _ => {}
        }
        if let Record::Crc { version, .. } = record
            && version != WAL_FORMAT_VERSION
        {
            return Err(corrupt(path, offset, format!("unknown WAL format version {version}")));
        }
        records.push((offset as u64, record));
        chain = record_crc;
        offset = frame_end;
    };
    if records.len() < 2 {
        // A segment only ever gets its final name after its opening records are durable.
        return Err(corrupt(path, offset, "segment lacks its CRC and metadata records"));
    }
    Ok(ScannedSegment { records, end, last_crc: chain })
}

fn decode_record(record_type: RecordType, payload: &[u8]) -> Result<Record, String> {
    let undecodable = |error: codec::CodecError| format!("{record_type:?} record: {error}");
    Ok(match record_type {
        RecordType::Crc => {
            if payload.len() != 8 {
                return Err(format!("CRC record of {} bytes", payload.len()));
            }
            Record::Crc {
                previous_crc: u32::from_le_bytes(payload[0..4].try_into().expect("4 bytes")),
                version: u32::from_le_bytes(payload[4..8].try_into().expect("4 bytes")),
            }
        }
        RecordType::Metadata => Record::Metadata(payload.to_vec()),
        RecordType::HardState => Record::HardState(codec::decode(payload).map_err(undecodable)?),
        RecordType::Entries => Record::Entries(codec::decode(payload).map_err(undecodable)?),
        RecordType::Snapshot => Record::Snapshot(codec::decode(payload).map_err(undecodable)?),
    })
}

/// Reads `segments` in order, checking that each one's CRC record links to the previous one's last
/// CRC. Returns the records with their file and offset, and how the last segment ended.
struct ScanResult {
    records: Vec<(usize, u64, Record)>,
    last_end: SegmentEnd,
    last_crc: u32,
}

fn scan_segments(
    disk: &dyn Disk,
    segments: &[Segment],
    decode_entries: bool,
) -> Result<ScanResult, WalError> {
    let mut records = Vec::new();
    let mut previous_crc: Option<u32> = None;
    let mut last_end = SegmentEnd::Clean;
    let mut last_crc = 0;
    for (position, segment) in segments.iter().enumerate() {
        let bytes = disk.read(&segment.path).map_err(io_error("read", &segment.path))?;
        let is_last = position + 1 == segments.len();
        let scanned = scan_segment(&segment.path, &bytes, is_last, decode_entries)?;
        if let (Some(expected), Some((_, Record::Crc { previous_crc: found, .. }))) =
            (previous_crc, scanned.records.first())
            && expected != *found
        {
            return Err(corrupt(
                &segment.path,
                0,
                format!("segment links to CRC {found:08x}, previous segment ended with {expected:08x}"),
            ));
        }
        previous_crc = Some(scanned.last_crc);
        last_crc = scanned.last_crc;
        last_end = scanned.end;
        records.extend(scanned.records.into_iter().map(|(offset, record)| (position, offset, record)));
    }
    Ok(ScanResult { records, last_end, last_crc })
}

// ------------------------------------------------------------------------------------------------
// The WAL
// ------------------------------------------------------------------------------------------------

/// An open WAL, ready to append at its tail segment.
pub struct Wal {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    options: WalOptions,
    metadata: Vec<u8>,
    /// Every segment on disk, oldest first; the last one takes appends.
    segments: Vec<Segment>,
    /// Bytes in the tail segment.
    tail_len: u64,
    /// The CRC of the last record written: the seed of the next one.
    chain: u32,
    /// The index of the last entry in the log (or of the snapshot when the log after it is empty).
    last_index: Index,
    hard_state: HardState,
    /// The newest snapshot marker written, repeated at the start of every new segment.
    newest_snapshot: WalSnapshot,
    /// Snapshots up to this index may release the segments they cover.
    released_to: Index,
    /// Reused framing buffer, so a steady stream of saves allocates nothing.
    buffer: Vec<u8>,
    failed: bool,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segments", &self.segments.len())
            .field("tail_len", &self.tail_len)
            .field("last_index", &self.last_index)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Wal {
    /// Whether `dir` holds a WAL (at least one segment).
    pub fn exists(disk: &dyn Disk, dir: &Path) -> Result<bool, WalError> {
        Ok(!list_segments(disk, dir)?.is_empty())
    }

    /// Makes a new WAL in `dir` whose every segment carries `metadata` (opaque to the WAL). The first
    /// segment is written under a temporary name, synced, then renamed: a crash leaves either no WAL
    /// or a complete one.
    pub fn create(
        disk: Arc<dyn Disk>,
        dir: &Path,
        metadata: &[u8],
        options: WalOptions,
    ) -> Result<Wal, WalError> {
        validate_options(&options)?;
        if metadata.len() > MAX_RECORD_PAYLOAD / 2 {
            return Err(WalError::InvalidRequest { reason: format!("metadata of {} bytes", metadata.len()) });
        }
        disk.create_dir_all(dir).map_err(io_error("create directory", dir))?;
        if Wal::exists(&*disk, dir)? {
            return Err(WalError::AlreadyExists { dir: dir.to_path_buf() });
        }
        let mut wal = Wal {
            disk,
            dir: dir.to_path_buf(),
            options,
            metadata: metadata.to_vec(),
            segments: Vec::new(),
            tail_len: 0,
            chain: 0,
            last_index: 0,
            hard_state: HardState::default(),
            newest_snapshot: WalSnapshot::default(),
            released_to: 0,
            buffer: Vec::new(),
            failed: false,
        };
        wal.start_segment(0, 0, 0)?;
        Ok(wal)
    }

    /// Every snapshot marker in the WAL, oldest first, reading all segments (a torn tail is
    /// tolerated, nothing is repaired). The node loads the newest snapshot file that has a marker:
    /// a snapshot file without one was written by a node that crashed before recording it.
    pub fn snapshot_markers(disk: &dyn Disk, dir: &Path) -> Result<Vec<WalSnapshot>, WalError> {
        let segments = list_segments(disk, dir)?;
        if segments.is_empty() {
            return Err(WalError::NotFound { dir: dir.to_path_buf() });
        }
        // Only the markers are wanted: entries are checked but not decoded.
        let scanned = scan_segments(disk, &segments, false)?;
        let mut markers: Vec<WalSnapshot> = scanned
            .records
            .iter()
            .filter_map(|(_, _, record)| match record {
                Record::Snapshot(marker) => Some(marker.snapshot),
                _ => None,
            })
            .collect();
        markers.dedup();
        Ok(markers)
    }

    /// The metadata given to [`Wal::create`], read from the oldest segment without opening the WAL for
    /// appending (a restarting node learns its member and cluster IDs from it).
    pub fn read_metadata(disk: &dyn Disk, dir: &Path) -> Result<Vec<u8>, WalError> {
        let segments = list_segments(disk, dir)?;
        let Some(first) = segments.first() else {
            return Err(WalError::NotFound { dir: dir.to_path_buf() });
        };
        let scanned = scan_segments(disk, std::slice::from_ref(first), false)?;
        scanned
            .records
            .into_iter()
            .find_map(|(_, _, record)| match record {
                Record::Metadata(bytes) => Some(bytes),
                _ => None,
            })
            .ok_or_else(|| corrupt(&first.path, 0, "segment has no metadata record"))
    }

    /// Opens the WAL in `dir` for appending and reads back the state after `snapshot` (the snapshot
    /// the node restored, or the default for none): hard state and the entries above its index.
    /// A torn tail is cut off (and reported in `warnings`); other damage fails with `Corrupt`.
    pub fn open(
        disk: Arc<dyn Disk>,
        dir: &Path,
        snapshot: WalSnapshot,
        options: WalOptions,
    ) -> Result<(Wal, Recovered), WalError> {
        validate_options(&options)?;
        let segments = list_segments(&*disk, dir)?;
        if segments.is_empty() {
            return Err(WalError::NotFound { dir: dir.to_path_buf() });
        }
        // The segment holding `snapshot.index + 1` is the last one started at or below it; every live
        // entry above the snapshot is in it or after it.
        let start = segments
            .iter()
            .rposition(|segment| segment.first_index <= snapshot.index.saturating_add(1))
            .ok_or_else(|| {
                corrupt(
                    &segments[0].path,
                    0,
                    format!("no segment covers index {} (they start later)", snapshot.index + 1),
                )
            })?;
        let read = &segments[start..];
        let scanned = scan_segments(&*disk, read, true)?;

        let mut metadata: Option<Vec<u8>> = None;
        let mut hard_state = HardState::default();
        let mut entries: Vec<Entry> = Vec::new();
        let mut markers = Vec::new();
        let mut snapshot_found = snapshot == WalSnapshot::default();
        let mut newest_snapshot = WalSnapshot::default();
        // The log as replay builds it: `entries` holds indexes `snapshot.index + 1 ..`, contiguous.
        for (position, offset, record) in scanned.records {
            let path = &read[position].path;
            let offset = offset as usize;
            match record {
                Record::Crc { .. } | Record::SkippedEntries => {}
                Record::Metadata(bytes) => match &metadata {
                    None => metadata = Some(bytes),
                    Some(known) if *known == bytes => {}
                    Some(_) => return Err(corrupt(path, offset, "metadata differs from earlier segments")),
                },
                Record::HardState(state) => hard_state = state,
                Record::Snapshot(marker) => {
                    let at = marker.snapshot;
                    markers.push(at);
                    newest_snapshot = newest_snapshot.max(at);
                    if at.index == snapshot.index {
                        if at.term != snapshot.term {
                            return Err(WalError::SnapshotNotFound {
                                wanted: snapshot,
                                dir: dir.to_path_buf(),
                            });
                        }
                        snapshot_found = true;
                    }
                    if marker.replaces_log {
                        // The node threw its log away for this snapshot: no entry written before the
                        // marker survives. The entries up to its index live only in that snapshot.
                        if at.index > snapshot.index {
                            return Err(WalError::SnapshotRequired { found: at, wanted: snapshot });
                        }
                        entries.clear();
                    }
                }
                Record::Entries(batch) => {
                    for entry in batch {
                        if entry.index <= snapshot.index {
                            // Covered by the snapshot, but a write here still cut the log after it:
                            // whatever was collected above the snapshot came before and is void.
                            entries.clear();
                            continue;
                        }
                        let position_in_log = (entry.index - snapshot.index - 1) as usize;
                        if position_in_log > entries.len() {
                            let last_index = snapshot.index + entries.len() as u64;
                            return Err(corrupt(
                                path,
                                offset,
                                format!(
                                    "entry {} follows index {last_index} (a gap in the log)",
                                    entry.index
                                ),
                            ));
                        }
                        entries.truncate(position_in_log);
                        // (Against the snapshot's term only at the end: entries written before an
                        // installed snapshot's marker may be older, and the marker voids them.)
                        let previous_term = entries.last().map_or(0, |previous| previous.term);
                        if entry.term < previous_term {
                            return Err(corrupt(
                                path,
                                offset,
                                format!(
                                    "entry {} has term {} below its predecessor's {previous_term}",
                                    entry.index, entry.term
                                ),
                            ));
                        }
                        entries.push(entry);
                    }
                }
            }
        }
        if !snapshot_found {
            return Err(WalError::SnapshotNotFound { wanted: snapshot, dir: dir.to_path_buf() });
        }
        if let Some(first) = entries.first()
            && first.term < snapshot.term
        {
            let reason = format!(
                "entry {} has term {} below the snapshot's {}",
                first.index, first.term, snapshot.term
            );
            return Err(corrupt(&read[0].path, 0, reason));
        }
        let metadata = metadata.expect("every scanned segment has a metadata record");

        let tail = segments.last().expect("not empty").clone();
        let mut warnings = Vec::new();
        let mut tail_len = disk.file_len(&tail.path).map_err(io_error("stat", &tail.path))?;
        if let SegmentEnd::Torn { offset } = scanned.last_end {
            disk.truncate(&tail.path, offset).map_err(io_error("truncate", &tail.path))?;
            disk.sync_file(&tail.path).map_err(io_error("fdatasync", &tail.path))?;
            warnings.push(RecoveryWarning::TornTail {
                file: tail.path.clone(),
                offset,
                dropped_bytes: tail_len - offset,
            });
            tail_len = offset;
        }
        let wal = Wal {
            disk,
            dir: dir.to_path_buf(),
            options,
            metadata: metadata.clone(),
            segments,
            tail_len,
            chain: scanned.last_crc,
            last_index: snapshot.index + entries.len() as u64,
            hard_state,
            newest_snapshot,
            released_to: 0,
            buffer: Vec::new(),
            failed: false,
        };
        debug_assert_eq!(entries.last().map_or(wal.last_index, |entry| entry.index), wal.last_index);
        let recovered = Recovered { metadata, hard_state, entries, snapshot_markers: markers, warnings };
        Ok((wal, recovered))
    }

    /// Frames `entries` (contiguous; the first may rewrite earlier indexes, cutting the log there)
    /// and then `hard_state` into one buffer and writes it with one append. Not durable until
    /// [`Wal::sync`]. Starts a new segment afterwards when the tail reached the size limit.
    pub fn save(&mut self, hard_state: Option<&HardState>, entries: &[Entry]) -> Result<(), WalError> {
        self.check_usable()?;
        if hard_state.is_none() && entries.is_empty() {
            return Ok(());
        }
        self.validate_entries(entries)?;
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let framed = self.frame_batch(&mut buffer, hard_state, entries);
        let path = &self.segments.last().expect("a WAL always has a tail").path;
        let result = framed.and_then(|chain| {
            self.disk.append(path, &buffer).map(|()| chain).map_err(io_error("write", path))
        });
        let written = buffer.len() as u64;
        self.buffer = buffer;
        if matches!(result, Err(WalError::Io { .. })) {
            self.failed = true;
        }
        self.chain = result?;
        self.tail_len += written;
        if let Some(last) = entries.last() {
            self.last_index = last.index;
        }
        if let Some(state) = hard_state {
            self.hard_state = *state;
        }
        if self.tail_len >= self.options.segment_size {
            self.rotate()?;
        }
        Ok(())
    }

    /// One `fdatasync` of the tail segment: everything saved so far is durable when it returns.
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.check_usable()?;
        let path = &self.segments.last().expect("a WAL always has a tail").path;
        let result = self.disk.sync_file(path).map_err(io_error("fdatasync", path));
        self.failed = result.is_err();
        result
    }

    /// Records (durably, with its own sync) that a snapshot of the node's own state exists at
    /// `snapshot`; the log above it stays. Write the snapshot file first, then the marker.
    pub fn save_snapshot_marker(&mut self, snapshot: WalSnapshot) -> Result<(), WalError> {
        self.write_marker(SnapshotMarker { snapshot, replaces_log: false })
    }

    /// Records (durably) that the node installed a leader's snapshot at `snapshot` and discarded its
    /// log: on recovery no entry above its index written before this marker survives.
    pub fn save_installed_snapshot_marker(&mut self, snapshot: WalSnapshot) -> Result<(), WalError> {
        self.write_marker(SnapshotMarker { snapshot, replaces_log: true })?;
        self.last_index = snapshot.index;
        Ok(())
    }

    /// Allows removing the segments a snapshot at `index` covers (those whose every live entry is at or
    /// below `index`), then removes the oldest such segments while more than `max_wals` remain. The
    /// tail segment is never removed. Returns the paths removed.
    pub fn release_to(&mut self, index: Index) -> Result<Vec<PathBuf>, WalError> {
        self.check_usable()?;
        if index > self.newest_snapshot.index {
            return Err(WalError::InvalidRequest {
                reason: format!(
                    "release to {index} beyond the newest snapshot marker {}",
                    self.newest_snapshot.index
                ),
            });
        }
        self.released_to = self.released_to.max(index);
        self.purge()
    }

    fn purge(&mut self) -> Result<Vec<PathBuf>, WalError> {
        if self.options.max_wals == 0 {
            return Ok(Vec::new());
        }
        // Segment i is released when segment i + 1 starts at or below released_to + 1: everything
        // live in segment i is then covered by the snapshot.
        let releasable = self
            .segments
            .windows(2)
            .take_while(|pair| pair[1].first_index <= self.released_to.saturating_add(1))
            .count();
        let excess = self.segments.len().saturating_sub(self.options.max_wals);
        let remove = releasable.min(excess);
        let mut removed = Vec::with_capacity(remove);
        for segment in self.segments.drain(..remove) {
            // Oldest first: a crash part-way leaves a contiguous run of segments.
            if let Err(source) = self.disk.remove(&segment.path) {
                self.failed = true;
                return Err(WalError::Io { operation: "remove", path: segment.path, source });
            }
            removed.push(segment.path);
        }
        if !removed.is_empty() {
            self.disk.sync_dir(&self.dir).map_err(|source| {
                self.failed = true;
                WalError::Io { operation: "fsync directory", path: self.dir.clone(), source }
            })?;
        }
        Ok(removed)
    }

    /// The index of the last entry (or of the newest installed snapshot if the log above it is empty).
    pub fn last_index(&self) -> Index {
        self.last_index
    }

    /// The segment files on disk, oldest first.
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.segments.iter().map(|segment| segment.path.clone()).collect()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_usable(&self) -> Result<(), WalError> {
        if self.failed { Err(WalError::Failed) } else { Ok(()) }
    }

    fn validate_entries(&self, entries: &[Entry]) -> Result<(), WalError> {
        let Some(first) = entries.first() else { return Ok(()) };
        if first.index == 0 || first.index > self.last_index + 1 {
            return Err(WalError::InvalidRequest {
                reason: format!("entry {} cannot follow the last index {}", first.index, self.last_index),
            });
        }
        for pair in entries.windows(2) {
            if pair[1].index != pair[0].index + 1 || pair[1].term < pair[0].term {
                return Err(WalError::InvalidRequest {
                    reason: format!(
                        "entries not contiguous: ({}, term {}) then ({}, term {})",
                        pair[0].index, pair[0].term, pair[1].index, pair[1].term
                    ),
                });
            }
        }
        Ok(())
    }

    /// Frames entries (in records of about [`ENTRIES_RECORD_TARGET`] bytes) then the hard state.
    fn frame_batch(
        &self,
        buffer: &mut Vec<u8>,
        hard_state: Option<&HardState>,
        entries: &[Entry],
    ) -> Result<u32, WalError> {
        let mut chain = self.chain;
        let mut rest = entries;
        while !rest.is_empty() {
            let mut size = 0;
            let mut count = 0;
            while count < rest.len()
                && (count == 0 || size + rest[count].size_bytes() <= ENTRIES_RECORD_TARGET)
            {
                size += rest[count].size_bytes();
                count += 1;
            }
            chain = frame_encoded(buffer, RecordType::Entries, chain, &rest[..count])?;
            rest = &rest[count..];
        }
        if let Some(state) = hard_state {
            chain = frame_encoded(buffer, RecordType::HardState, chain, state)?;
        }
        Ok(chain)
    }

    fn write_marker(&mut self, marker: SnapshotMarker) -> Result<(), WalError> {
        self.check_usable()?;
        let mut buffer = Vec::with_capacity(64);
        let chain = frame_encoded(&mut buffer, RecordType::Snapshot, self.chain, &marker)?;
        let path = self.segments.last().expect("a WAL always has a tail").path.clone();
        let result = self.disk.append(&path, &buffer).map_err(io_error("write", &path));
        if let Err(error) = result {
            self.failed = true;
            return Err(error);
        }
        self.chain = chain;
        self.tail_len += buffer.len() as u64;
        self.newest_snapshot = self.newest_snapshot.max(marker.snapshot);
        self.sync()
    }

    /// Closes the tail (synced) and starts the next segment at the next index.
    fn rotate(&mut self) -> Result<(), WalError> {
        self.sync()?;
        let tail = self.segments.last().expect("a WAL always has a tail");
        let (seq, previous_crc) = (tail.seq + 1, self.chain);
        self.start_segment(seq, self.last_index + 1, previous_crc)?;
        self.purge()?;
        Ok(())
    }

    /// Writes a new segment's opening records under a temporary name, syncs it, renames it into
    /// place and syncs the directory, so the segment never exists half-made under its real name.
    fn start_segment(&mut self, seq: u64, first_index: Index, previous_crc: u32) -> Result<(), WalError> {
        let result = self.try_start_segment(seq, first_index, previous_crc);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn try_start_segment(&mut self, seq: u64, first_index: Index, previous_crc: u32) -> Result<(), WalError> {
        let (header, chain) =
            segment_header(previous_crc, &self.metadata, self.newest_snapshot, &self.hard_state)?;
        let path = self.dir.join(segment_name(seq, first_index));
        let temporary = self.dir.join(format!("{}.tmp", segment_name(seq, first_index)));
        let disk = &*self.disk;
        if disk.exists(&temporary).map_err(io_error("stat", &temporary))? {
            disk.remove(&temporary).map_err(io_error("remove", &temporary))?;
        }
        disk.create_new(&temporary).map_err(io_error("create", &temporary))?;
        disk.append(&temporary, &header).map_err(io_error("write", &temporary))?;
        disk.sync_file(&temporary).map_err(io_error("fdatasync", &temporary))?;
        disk.rename(&temporary, &path).map_err(io_error("rename", &temporary))?;
        disk.sync_dir(&self.dir).map_err(io_error("fsync directory", &self.dir))?;
        self.segments.push(Segment { seq, first_index, path });
        self.tail_len = header.len() as u64;
        self.chain = chain;
        Ok(())
    }
}

fn validate_options(options: &WalOptions) -> Result<(), WalError> {
    if options.segment_size < 4096 {
        return Err(WalError::InvalidRequest {
            reason: format!("segment size {} is below 4096 bytes", options.segment_size),
        });
    }
    Ok(())
}
