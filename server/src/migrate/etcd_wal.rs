//! Reading an etcd 3.4 write-ahead log (`member/wal/<seq:016x>-<index:016x>.wal`) record by record,
//! and replaying its records into what etcd recovers from them.
//!
//! The format (etcd's `wal` package): each record is a little-endian u64 length field, then a
//! `walpb.Record` padded to 8 bytes. The low 56 bits of the length field are the record's bytes; when
//! the top bit is set, the low 3 bits of the top byte are the padding. A zero length field is the end
//! of the written part of a file (etcd preallocates segments with zeros). Each record's `crc` is the
//! CRC-32C of its `data` continued from the previous record's, across files; a file opens with a CRC
//! record carrying the chain's value at its start. Records: metadata (`etcdserverpb.Metadata`),
//! entries (`raftpb.Entry`), hard states, CRC, snapshot markers (`walpb.Snapshot`).
//!
//! Damage in the last file that a crash during a write explains (a record running past the end of the
//! file, or one holding an all-zero 512-byte sector) ends the log with a warning, as etcd repairs it;
//! any other damage stops the reading and is reported with its file and offset, after the records
//! read before it.

use std::fmt;
use std::path::{Path, PathBuf};

use prost::Message;

use super::etcd_proto::{
    Entry, HardState, Metadata, RECORD_CRC, RECORD_ENTRY, RECORD_METADATA, RECORD_SNAPSHOT, RECORD_STATE,
    WalRecord, WalSnapshot,
};

/// Bytes of a record's length field.
const LENGTH_FIELD_BYTES: usize = 8;
/// The sector a torn write loses whole (etcd's `minSectorSize`).
const SECTOR_BYTES: usize = 512;
/// Segments read at most (etcd keeps 5 by default; a billion is no real WAL).
const MAX_SEGMENTS: usize = 1 << 20;

/// One decoded record of an etcd WAL.
#[derive(Clone, Debug, PartialEq)]
pub enum EtcdRecord {
    /// The CRC chain's value where a file starts.
    Crc(u32),
    Metadata(Metadata),
    Entry(Entry),
    State(HardState),
    Snapshot(WalSnapshot),
}

/// A record and where it was read.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadRecord {
    pub file: PathBuf,
    pub offset: u64,
    pub record: EtcdRecord,
}

/// What is wrong at a place in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub file: PathBuf,
    pub offset: u64,
    pub reason: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} at offset {}: {}", self.file.display(), self.offset, self.reason)
    }
}

/// Everything read from a WAL directory, in order, and how the reading ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WalContents {
    pub records: Vec<ReadRecord>,
    /// A torn last record (a crash during a write): the log ends before it.
    pub torn_tail: Option<Damage>,
    /// Damage nothing but corruption explains: the records after it were not read.
    pub damage: Option<Damage>,
}

/// The `.wal` files of `dir` in sequence order, checked to have no sequence gap.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, u64, PathBuf)>, Damage> {
    let listing_damage = |reason: String| Damage { file: dir.to_path_buf(), offset: 0, reason };
    let entries = std::fs::read_dir(dir).map_err(|error| listing_damage(format!("cannot list: {error}")))?;
    let mut segments = Vec::new();
    for entry in entries.take(MAX_SEGMENTS) {
        let entry = entry.map_err(|error| listing_damage(format!("cannot list: {error}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((sequence, index)) = parse_segment_name(&name) {
            segments.push((sequence, index, entry.path()));
        }
    }
    segments.sort();
    for pair in segments.windows(2) {
        if pair[1].0 != pair[0].0 + 1 {
            return Err(Damage {
                file: pair[1].2.clone(),
                offset: 0,
                reason: format!("WAL sequence gap: {:016x} follows {:016x}", pair[1].0, pair[0].0),
            });
        }
    }
    Ok(segments)
}

/// `<seq:016x>-<index:016x>.wal` as (sequence, first index).
pub fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (sequence, index) = stem.split_once('-')?;
    let hex16 = |text: &str| {
        (text.len() == 16 && text.bytes().all(|byte| byte.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
    };
    Some((hex16(sequence)?, hex16(index)?))
}

/// Reads every record of the WAL in `dir`, in order, stopping at the first damage.
pub fn read_wal(dir: &Path) -> WalContents {
    let mut contents = WalContents::default();
    let segments = match list_segments(dir) {
        Ok(segments) => segments,
        Err(damage) => {
            contents.damage = Some(damage);
            return contents;
        }
    };
    if segments.is_empty() {
        contents.damage =
            Some(Damage { file: dir.to_path_buf(), offset: 0, reason: "no .wal files".to_string() });
        return contents;
    }
    let mut chain = 0u32;
    for (position, (_, _, path)) in segments.iter().enumerate() {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                contents.damage =
                    Some(Damage { file: path.clone(), offset: 0, reason: format!("read: {error}") });
                return contents;
            }
        };
        let is_last = position + 1 == segments.len();
        let mut reader = SegmentReader { path, bytes: &bytes, chain, records: &mut contents.records };
        match reader.read_all() {
            Ok(()) => chain = reader.chain,
            Err(damage) if is_last && damage.torn => {
                contents.torn_tail = Some(damage.damage);
                return contents;
            }
            Err(damage) => {
                contents.damage = Some(damage.damage);
                return contents;
            }
        }
    }
    contents
}

/// Damage, and whether a torn write explains it.
struct FrameDamage {
    damage: Damage,
    torn: bool,
}

/// Reading one segment's records.
struct SegmentReader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    /// The CRC chain's value after the last record read.
    chain: u32,
    records: &'a mut Vec<ReadRecord>,
}

impl SegmentReader<'_> {
    fn read_all(&mut self) -> Result<(), FrameDamage> {
        let mut offset = 0usize;
        // Every pass consumes a length field and a record, so the loop ends with the file.
        while offset + LENGTH_FIELD_BYTES <= self.bytes.len() {
            let field = u64::from_le_bytes(
                self.bytes[offset..offset + LENGTH_FIELD_BYTES].try_into().expect("8 bytes"),
            );
            if field == 0 {
                return Ok(()); // the preallocated rest of the file
            }
            let record_bytes = (field & 0x00FF_FFFF_FFFF_FFFF) as usize;
            let padding = if field >> 63 == 1 { ((field >> 56) & 0x7) as usize } else { 0 };
            let start = offset + LENGTH_FIELD_BYTES;
            let Some(end) = start.checked_add(record_bytes).filter(|end| end + padding <= self.bytes.len())
            else {
                return Err(self.damage(offset, "record runs past the end of the file".to_string(), true));
            };
            let record = self.decode(offset, &self.bytes[start..end])?;
            self.records.push(ReadRecord { file: self.path.to_path_buf(), offset: offset as u64, record });
            offset = end + padding;
        }
        let rest = &self.bytes[offset.min(self.bytes.len())..];
        if rest.iter().any(|byte| *byte != 0) {
            return Err(self.damage(offset, "incomplete length field".to_string(), true));
        }
        Ok(())
    }

    /// Decodes and checks the record in `data` (framed at `offset`), moving the CRC chain on.
    fn decode(&mut self, offset: usize, data: &[u8]) -> Result<EtcdRecord, FrameDamage> {
        let end = offset + LENGTH_FIELD_BYTES + data.len();
        let torn = has_zero_sector(self.bytes, offset, end);
        let record = WalRecord::decode(data)
            .map_err(|error| self.damage(offset, format!("undecodable record: {error}"), torn))?;
        if record.record_type == RECORD_CRC {
            if self.chain != 0 && record.crc != self.chain {
                let reason =
                    format!("CRC record {:08x} does not continue the chain {:08x}", record.crc, self.chain);
                return Err(self.damage(offset, reason, false));
            }
            self.chain = record.crc;
            return Ok(EtcdRecord::Crc(record.crc));
        }
        let crc = mvcc::crc32c_update(self.chain, &record.data);
        if crc != record.crc {
            let reason = format!("record CRC mismatch: stored {:08x}, computed {crc:08x}", record.crc);
            return Err(self.damage(offset, reason, torn));
        }
        self.chain = crc;
        decode_payload(&record).map_err(|reason| self.damage(offset, reason, false))
    }

    fn damage(&self, offset: usize, reason: String, torn: bool) -> FrameDamage {
        FrameDamage { damage: Damage { file: self.path.to_path_buf(), offset: offset as u64, reason }, torn }
    }
}

/// Whether `bytes[start..end]` holds a whole 512-byte sector (aligned in the file) of zeros: the mark
/// of a write whose sectors reached the disk out of order before a crash (etcd's `isTornEntry`).
fn has_zero_sector(bytes: &[u8], start: usize, end: usize) -> bool {
    let end = end.min(bytes.len());
    let mut sector = start.div_ceil(SECTOR_BYTES) * SECTOR_BYTES;
    while sector + SECTOR_BYTES <= end {
        if bytes[sector..sector + SECTOR_BYTES].iter().all(|byte| *byte == 0) {
            return true;
        }
        sector += SECTOR_BYTES;
    }
    false
}

fn decode_payload(record: &WalRecord) -> Result<EtcdRecord, String> {
    let data = record.data.as_slice();
    let failed = |what: &str, error: prost::DecodeError| format!("undecodable {what}: {error}");
    Ok(match record.record_type {
        RECORD_METADATA => EtcdRecord::Metadata(Metadata::decode(data).map_err(|e| failed("metadata", e))?),
        RECORD_ENTRY => EtcdRecord::Entry(Entry::decode(data).map_err(|e| failed("entry", e))?),
        RECORD_STATE => EtcdRecord::State(HardState::decode(data).map_err(|e| failed("hard state", e))?),
        RECORD_SNAPSHOT => {
            EtcdRecord::Snapshot(WalSnapshot::decode(data).map_err(|e| failed("snapshot marker", e))?)
        }
        other => return Err(format!("unknown record type {other}")),
    })
}

/// What etcd recovers from its WAL when it restarts from a snapshot at `snapshot`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EtcdLog {
    pub metadata: Metadata,
    pub hard_state: HardState,
    /// The log after the snapshot: indexes `snapshot.index + 1 ..`, later writes at an index replacing
    /// that entry and every one after it.
    pub entries: Vec<Entry>,
}

/// etcd's `ReadAll` over records read from the start of the WAL: the metadata (the same in every
/// file), the newest hard state, and the entries above the snapshot's index. A snapshot other than
/// the empty one must have its marker in the WAL with the same term.
pub fn replay(records: &[ReadRecord], snapshot: WalSnapshot) -> Result<EtcdLog, Damage> {
    let mut log = EtcdLog::default();
    let mut metadata: Option<Metadata> = None;
    let mut marker_found = snapshot.index == 0;
    for read in records {
        let damage = |reason: String| Damage { file: read.file.clone(), offset: read.offset, reason };
        match &read.record {
            EtcdRecord::Crc(_) => {}
            EtcdRecord::Metadata(found) => {
                if metadata.is_some_and(|known| known != *found) {
                    return Err(damage("metadata differs from the first file's".to_string()));
                }
                metadata = Some(*found);
            }
            EtcdRecord::State(state) => log.hard_state = *state,
            EtcdRecord::Snapshot(marker) if marker.index == snapshot.index => {
                if marker.term != snapshot.term {
                    let reason = format!(
                        "snapshot marker term {} but the snapshot's is {}",
                        marker.term, snapshot.term
                    );
                    return Err(damage(reason));
                }
                marker_found = true;
            }
            EtcdRecord::Snapshot(_) => {}
            EtcdRecord::Entry(entry) if entry.index > snapshot.index => {
                let kept = entry.index - snapshot.index - 1;
                if kept > log.entries.len() as u64 {
                    return Err(damage(format!(
                        "entry {} leaves a gap after {}",
                        entry.index,
                        log.entries.len()
                    )));
                }
                log.entries.truncate(kept as usize);
                log.entries.push(entry.clone());
            }
            EtcdRecord::Entry(_) => {}
        }
    }
    let Some(metadata) = metadata else {
        let file = records.first().map_or_else(PathBuf::new, |read| read.file.clone());
        return Err(Damage { file, offset: 0, reason: "the WAL has no metadata record".to_string() });
    };
    if !marker_found {
        let file = records.first().map_or_else(PathBuf::new, |read| read.file.clone());
        let reason = format!("no marker for the snapshot at index {} term {}", snapshot.index, snapshot.term);
        return Err(Damage { file, offset: 0, reason });
    }
    log.metadata = metadata;
    Ok(log)
}
