//! A pure, validating reader of bbolt database files (see `bbolt` for the format): the top-level
//! buckets and their entries, in key order. It checks what bbolt's `tx.Check` checks — valid meta,
//! every page inside the file, no page referenced twice, every page below the high-water mark either
//! reachable or free, keys in order — so the writer's tests can hold its output to it, and so etcd
//! snapshots can be read back (inline buckets included). Nested buckets are refused: etcd has none.

use std::collections::BTreeSet;
use std::fmt;

use super::bbolt::{
    BRANCH_PAGE_FLAG, BUCKET_HEADER_BYTES, BUCKET_LEAF_FLAG, Bucket, ELEMENT_BYTES, Entry,
    FREELIST_PAGE_FLAG, LEAF_PAGE_FLAG, MAGIC, META_CHECKSUMMED_BYTES, PAGE_HEADER_BYTES, VERSION, fnv1a_64,
};

/// Tree levels followed at most (a real tree of 2^32 pages is far shallower).
const MAX_TREE_DEPTH: usize = 64;

/// Why bytes are not a consistent bbolt database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoltError(pub String);

impl fmt::Display for BoltError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "invalid bbolt database: {}", self.0)
    }
}

impl std::error::Error for BoltError {}

fn invalid<T>(problem: String) -> Result<T, BoltError> {
    Err(BoltError(problem))
}

/// The meta page a reader uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub page_size_bytes: usize,
    pub root_page_id: u64,
    pub freelist_page_id: u64,
    pub high_water_page_id: u64,
    pub txid: u64,
}

/// The freelist page id of a database written without a freelist.
const NO_FREELIST_PAGE_ID: u64 = u64::MAX;

/// The database's buckets, each with its entries in key order, after checking its consistency.
pub fn read_database(bytes: &[u8]) -> Result<(Meta, Vec<Bucket>), BoltError> {
    let meta = newest_meta(bytes)?;
    let mut reader = Reader { bytes, meta, referenced: BTreeSet::new() };
    reader.reference(0, 0)?;
    reader.reference(1, 0)?;
    // etcd 3.4 writes its databases without a freelist (bbolt's NoFreelistSync): the meta names no
    // page, and bbolt takes every page nothing references as free.
    let has_freelist = meta.freelist_page_id != NO_FREELIST_PAGE_ID;
    if has_freelist {
        reader.read_freelist()?;
    }
    let mut top = Vec::new();
    reader.walk(meta.root_page_id, 0, &mut top)?;
    let mut buckets = Vec::with_capacity(top.len());
    for (flags, name, value) in top {
        if flags & BUCKET_LEAF_FLAG == 0 {
            return invalid(format!("top-level key {name:?} is not a bucket"));
        }
        buckets.push(Bucket { name, entries: reader.read_bucket(&value)? });
    }
    for page_id in 0..meta.high_water_page_id {
        if has_freelist && !reader.referenced.contains(&page_id) {
            return invalid(format!("page {page_id}: unreachable unfreed"));
        }
    }
    Ok((meta, buckets))
}

/// The valid meta page with the highest transaction id.
fn newest_meta(bytes: &[u8]) -> Result<Meta, BoltError> {
    let first = parse_meta(bytes, 0);
    let page_size_bytes =
        first.as_ref().map(|meta| meta.page_size_bytes).unwrap_or(super::bbolt::PAGE_SIZE_BYTES);
    let second = parse_meta(bytes, page_size_bytes);
    match (first, second) {
        (Ok(first), Ok(second)) => Ok(if second.txid > first.txid { second } else { first }),
        (Ok(meta), Err(_)) | (Err(_), Ok(meta)) => Ok(meta),
        (Err(error), Err(_)) => Err(error),
    }
}

fn parse_meta(bytes: &[u8], offset: usize) -> Result<Meta, BoltError> {
    let start = offset + PAGE_HEADER_BYTES;
    let Some(meta) = bytes.get(start..start + META_CHECKSUMMED_BYTES + 8) else {
        return invalid(format!("no meta page at byte {offset}"));
    };
    let u32_at = |at: usize| u32::from_le_bytes(meta[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_le_bytes(meta[at..at + 8].try_into().expect("8 bytes"));
    if u32_at(0) != MAGIC || u32_at(4) != VERSION {
        return invalid(format!("meta at byte {offset}: bad magic or version"));
    }
    if u64_at(56) != fnv1a_64(&meta[..META_CHECKSUMMED_BYTES]) {
        return invalid(format!("meta at byte {offset}: bad checksum"));
    }
    let page_size_bytes = u32_at(8) as usize;
    let meta = Meta {
        page_size_bytes,
        root_page_id: u64_at(16),
        freelist_page_id: u64_at(32),
        high_water_page_id: u64_at(40),
        txid: u64_at(48),
    };
    let file_pages = bytes.len() / page_size_bytes.max(1);
    if page_size_bytes < 1024 || meta.high_water_page_id > file_pages as u64 {
        return invalid(format!("meta at byte {offset}: page size {page_size_bytes}, {meta:?}"));
    }
    Ok(meta)
}

/// A page header.
struct PageHeader {
    flags: u16,
    count: usize,
    overflow: u64,
}

fn page_header(bytes: &[u8]) -> PageHeader {
    PageHeader {
        flags: u16::from_le_bytes([bytes[8], bytes[9]]),
        count: usize::from(u16::from_le_bytes([bytes[10], bytes[11]])),
        overflow: u64::from(u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"))),
    }
}

/// (flags, key, value) of one leaf element.
type Element = (u32, Vec<u8>, Vec<u8>);

struct Reader<'a> {
    bytes: &'a [u8],
    meta: Meta,
    referenced: BTreeSet<u64>,
}

impl Reader<'_> {
    /// Marks a page and its overflow pages as used, once each.
    fn reference(&mut self, page_id: u64, overflow: u64) -> Result<(), BoltError> {
        for id in page_id..=page_id + overflow {
            if id >= self.meta.high_water_page_id {
                return invalid(format!("page {id}: out of bounds"));
            }
            if !self.referenced.insert(id) {
                return invalid(format!("page {id}: multiple references"));
            }
        }
        Ok(())
    }

    /// The bytes of page `page_id` with its overflow pages, after marking them used.
    fn page(&mut self, page_id: u64) -> Result<(&[u8], PageHeader), BoltError> {
        let page_size = self.meta.page_size_bytes;
        let beyond = || BoltError(format!("page {page_id}: beyond the file"));
        let offset =
            usize::try_from(page_id).ok().and_then(|id| id.checked_mul(page_size)).ok_or_else(beyond)?;
        let Some(first) = offset.checked_add(page_size).and_then(|end| self.bytes.get(offset..end)) else {
            return Err(beyond());
        };
        let header = page_header(first);
        let end = (header.overflow as usize)
            .checked_add(1)
            .and_then(|pages| pages.checked_mul(page_size))
            .and_then(|length| length.checked_add(offset))
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(beyond)?;
        self.reference(page_id, header.overflow)?;
        Ok((&self.bytes[offset..end], header))
    }

    fn read_freelist(&mut self) -> Result<(), BoltError> {
        let (page, header) = self.page(self.meta.freelist_page_id)?;
        if header.flags != FREELIST_PAGE_FLAG {
            return invalid("the freelist page is not a freelist".to_string());
        }
        let ids = &page[PAGE_HEADER_BYTES..];
        let (skip, count) = if header.count == 0xFFFF {
            (1, u64::from_le_bytes(ids[..8].try_into().expect("8 bytes")) as usize)
        } else {
            (0, header.count)
        };
        let free: Vec<u64> = (skip..skip + count)
            .map(|index| {
                ids.get(index * 8..index * 8 + 8).map(|id| u64::from_le_bytes(id.try_into().expect("8")))
            })
            .collect::<Option<_>>()
            .ok_or_else(|| BoltError("freelist beyond its page".to_string()))?;
        for id in free {
            self.reference(id, 0)?;
        }
        Ok(())
    }

    /// The entries of a (non-nested) bucket from its header.
    fn read_bucket(&mut self, header: &[u8]) -> Result<Vec<Entry>, BoltError> {
        if header.len() < BUCKET_HEADER_BYTES {
            return invalid("bucket header too short".to_string());
        }
        let root = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
        let mut elements = Vec::new();
        if root == 0 {
            read_leaf(&header[BUCKET_HEADER_BYTES..], &mut elements)?;
        } else {
            self.walk(root, 0, &mut elements)?;
        }
        let mut entries = Vec::with_capacity(elements.len());
        for (flags, key, value) in elements {
            if flags & BUCKET_LEAF_FLAG != 0 {
                return invalid(format!("nested bucket {key:?}"));
            }
            entries.push((key, value));
        }
        if !entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return invalid("keys out of order".to_string());
        }
        Ok(entries)
    }

    /// Appends the leaf elements of the tree under `page_id`, in order.
    fn walk(&mut self, page_id: u64, depth: usize, elements: &mut Vec<Element>) -> Result<(), BoltError> {
        if depth > MAX_TREE_DEPTH {
            return invalid(format!("page {page_id}: tree deeper than {MAX_TREE_DEPTH}"));
        }
        let (page, header) = self.page(page_id)?;
        if header.flags == LEAF_PAGE_FLAG {
            return read_leaf(page, elements);
        }
        if header.flags != BRANCH_PAGE_FLAG {
            return invalid(format!("page {page_id}: invalid type {:#x}", header.flags));
        }
        let mut children = Vec::with_capacity(header.count);
        for index in 0..header.count {
            let at = PAGE_HEADER_BYTES + index * ELEMENT_BYTES;
            let element =
                page.get(at..at + ELEMENT_BYTES).ok_or_else(|| BoltError("branch overrun".into()))?;
            children.push(u64::from_le_bytes(element[8..16].try_into().expect("8 bytes")));
        }
        for child in children {
            self.walk(child, depth + 1, elements)?;
        }
        Ok(())
    }
}

/// The elements of one leaf page (`page` starts at its header).
fn read_leaf(page: &[u8], elements: &mut Vec<Element>) -> Result<(), BoltError> {
    let header = page.get(..PAGE_HEADER_BYTES).map(page_header);
    let Some(header) = header.filter(|header| header.flags == LEAF_PAGE_FLAG) else {
        return invalid("not a leaf page".to_string());
    };
    for index in 0..header.count {
        let at = PAGE_HEADER_BYTES + index * ELEMENT_BYTES;
        let field = |number: usize| -> Option<usize> {
            let start = at + 4 * number;
            page.get(start..start + 4).map(|bytes| u32::from_le_bytes(bytes.try_into().expect("4")) as usize)
        };
        let (Some(flags), Some(position), Some(key_size), Some(value_size)) =
            (field(0), field(1), field(2), field(3))
        else {
            return invalid("leaf element beyond its page".to_string());
        };
        let key_start = at + position;
        let key = page.get(key_start..key_start + key_size);
        let value = page.get(key_start + key_size..key_start + key_size + value_size);
        let (Some(key), Some(value)) = (key, value) else {
            return invalid("leaf data beyond its page".to_string());
        };
        elements.push((flags as u32, key.to_vec(), value.to_vec()));
    }
    Ok(())
}
