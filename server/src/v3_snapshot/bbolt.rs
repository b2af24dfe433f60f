//! A pure writer of bbolt database files (the format of etcd's backend and of its snapshots):
//! top-level buckets of sorted key/value pairs in, the bytes of a complete, consistent database out.
//!
//! Why by hand: the Rust ports of bbolt on crates.io (`bbolt-rs`, `boltdb`, `roltdb`) are either
//! unfinished or a one-maintainer port that opens a real file through mmap and file locks and brings
//! clap, rand, tempfile and more in as normal dependencies; Concord needs none of that, only a
//! deterministic bulk build of an image in memory, which is small: the file is fixed-size pages and
//! the tree is built bottom up from sorted input, so no page is ever rewritten.
//!
//! The format (bbolt 1.3, native little-endian on x86-64 and arm64): every page starts with a 16-byte
//! header (page id u64, flags u16, element count u16, overflow u32 = extra pages the page spans).
//! Pages 0 and 1 are meta pages (magic, version 2, page size, root bucket, freelist page, high-water
//! page id, transaction id, FNV-1a checksum); the two differ only in transaction id, as in a bbolt
//! snapshot. Page 2 is an empty freelist. Then each bucket's tree, and the root bucket's tree whose
//! leaf elements are bucket names with a 16-byte bucket header (root page id, sequence) as value.
//! Leaf elements are (flags, pos, key size, value size) u32s, branch elements (pos, key size) u32s and
//! the child page id u64; `pos` counts from the element to its key; data follows the element array.
//! A branch element's key is its child's first key. Every page below the high-water mark is reachable,
//! so bbolt's own consistency check (`tx.Check`, which `etcdctl snapshot status` runs) passes.

/// The page size Concord writes: the OS page size bbolt picks on Linux x86-64 and arm64.
pub const PAGE_SIZE_BYTES: usize = 4096;
/// bbolt's magic number.
pub const MAGIC: u32 = 0xED0C_DAED;
/// bbolt's data file version.
pub const VERSION: u32 = 2;
/// Bytes of a page header.
pub const PAGE_HEADER_BYTES: usize = 16;
/// Bytes of one leaf or branch element.
pub const ELEMENT_BYTES: usize = 16;
/// Bytes of a bucket header (root page id, sequence).
pub const BUCKET_HEADER_BYTES: usize = 16;
/// Bytes of the meta fields the checksum covers.
pub const META_CHECKSUMMED_BYTES: usize = 56;

pub const BRANCH_PAGE_FLAG: u16 = 0x01;
pub const LEAF_PAGE_FLAG: u16 = 0x02;
pub const META_PAGE_FLAG: u16 = 0x04;
pub const FREELIST_PAGE_FLAG: u16 = 0x10;
/// A leaf element whose value is a bucket header.
pub const BUCKET_LEAF_FLAG: u32 = 0x01;

/// The page id of the freelist page; 0 and 1 are the meta pages.
const FREELIST_PAGE_ID: u64 = 2;
/// Elements per page at most (the header's count is a u16, and bbolt reserves 0xFFFF).
const MAX_ELEMENTS_PER_PAGE: usize = 0xFFFE;

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A top-level bucket: its name and its entries, keys strictly increasing (bytewise).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    pub name: Vec<u8>,
    pub entries: Vec<Entry>,
}

impl Bucket {
    pub fn new(name: &[u8], entries: Vec<Entry>) -> Bucket {
        Bucket { name: name.to_vec(), entries }
    }
}

/// One element of a leaf page being built.
struct LeafElement<'a> {
    flags: u32,
    key: &'a [u8],
    value: &'a [u8],
}

/// The database holding `buckets` (names strictly increasing, keys non-empty and strictly increasing
/// in each), its meta pages at transaction `txid` (page 0) and `txid - 1` (page 1).
pub fn write_database(buckets: &[Bucket], txid: u64) -> Vec<u8> {
    assert!(txid >= 1, "meta page 1 carries txid - 1");
    assert!(buckets.windows(2).all(|pair| pair[0].name < pair[1].name), "bucket names must be sorted");
    let mut writer = PageWriter { bytes: vec![0; 3 * PAGE_SIZE_BYTES], next_page_id: 3 };
    writer.write_freelist();
    let mut headers = Vec::with_capacity(buckets.len());
    for bucket in buckets {
        assert!(!bucket.name.is_empty(), "a bucket needs a name");
        assert!(
            bucket.entries.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "keys of bucket {:?} must be strictly increasing",
            String::from_utf8_lossy(&bucket.name)
        );
        let elements: Vec<LeafElement> =
            bucket.entries.iter().map(|(key, value)| LeafElement { flags: 0, key, value }).collect();
        let root = writer.write_tree(&elements);
        headers.push(bucket_header(root));
    }
    let root_elements: Vec<LeafElement> = buckets
        .iter()
        .zip(&headers)
        .map(|(bucket, header)| LeafElement { flags: BUCKET_LEAF_FLAG, key: &bucket.name, value: header })
        .collect();
    let root = writer.write_tree(&root_elements);
    let high_water_page_id = writer.next_page_id;
    writer.write_meta(0, root, high_water_page_id, txid);
    writer.write_meta(1, root, high_water_page_id, txid - 1);
    assert_eq!(writer.bytes.len() as u64, high_water_page_id * PAGE_SIZE_BYTES as u64, "file = pages");
    writer.bytes
}

/// A bucket header for a bucket stored in its own pages (sequence 0).
fn bucket_header(root_page_id: u64) -> [u8; BUCKET_HEADER_BYTES] {
    let mut header = [0u8; BUCKET_HEADER_BYTES];
    header[..8].copy_from_slice(&root_page_id.to_le_bytes());
    header
}

/// bbolt's meta checksum: 64-bit FNV-1a over the fields before the checksum.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(PRIME))
}

/// Pages appended in id order to one growing buffer.
struct PageWriter {
    bytes: Vec<u8>,
    next_page_id: u64,
}

impl PageWriter {
    /// Reserves the pages for `size_bytes` at the end and writes the header; returns the page's id and
    /// the offset of its first byte.
    fn allocate(&mut self, size_bytes: usize, flags: u16, count: usize) -> (u64, usize) {
        assert!(count <= MAX_ELEMENTS_PER_PAGE, "too many elements for one page");
        let pages = size_bytes.div_ceil(PAGE_SIZE_BYTES).max(1);
        let page_id = self.next_page_id;
        let offset = page_id as usize * PAGE_SIZE_BYTES;
        assert_eq!(offset, self.bytes.len(), "pages are appended in order");
        self.bytes.resize(offset + pages * PAGE_SIZE_BYTES, 0);
        self.next_page_id += pages as u64;
        self.write_header(offset, page_id, flags, count as u16, (pages - 1) as u32);
        (page_id, offset)
    }

    fn write_header(&mut self, offset: usize, page_id: u64, flags: u16, count: u16, overflow: u32) {
        let header = &mut self.bytes[offset..offset + PAGE_HEADER_BYTES];
        header[0..8].copy_from_slice(&page_id.to_le_bytes());
        header[8..10].copy_from_slice(&flags.to_le_bytes());
        header[10..12].copy_from_slice(&count.to_le_bytes());
        header[12..16].copy_from_slice(&overflow.to_le_bytes());
    }

    fn write_freelist(&mut self) {
        let offset = FREELIST_PAGE_ID as usize * PAGE_SIZE_BYTES;
        self.write_header(offset, FREELIST_PAGE_ID, FREELIST_PAGE_FLAG, 0, 0);
    }

    fn write_meta(&mut self, page_id: u64, root_page_id: u64, high_water_page_id: u64, txid: u64) {
        let offset = page_id as usize * PAGE_SIZE_BYTES;
        self.write_header(offset, page_id, META_PAGE_FLAG, 0, 0);
        let mut meta = [0u8; META_CHECKSUMMED_BYTES + 8];
        meta[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        meta[4..8].copy_from_slice(&VERSION.to_le_bytes());
        meta[8..12].copy_from_slice(&(PAGE_SIZE_BYTES as u32).to_le_bytes());
        // flags (12..16) and the root bucket's sequence (24..32) stay 0.
        meta[16..24].copy_from_slice(&root_page_id.to_le_bytes());
        meta[32..40].copy_from_slice(&FREELIST_PAGE_ID.to_le_bytes());
        meta[40..48].copy_from_slice(&high_water_page_id.to_le_bytes());
        meta[48..56].copy_from_slice(&txid.to_le_bytes());
        let checksum = fnv1a_64(&meta[..META_CHECKSUMMED_BYTES]);
        meta[56..64].copy_from_slice(&checksum.to_le_bytes());
        let start = offset + PAGE_HEADER_BYTES;
        self.bytes[start..start + meta.len()].copy_from_slice(&meta);
    }

    /// Writes the tree of sorted `elements` (leaves, then branch levels up to one root); returns the
    /// root's page id. No elements: one empty leaf.
    fn write_tree(&mut self, elements: &[LeafElement]) -> u64 {
        let mut level = self.write_leaves(elements);
        // Each level has at most half the pages of the one below (every branch page holds at least
        // two children unless it is alone), so the height is bounded by log2 of the leaves plus one.
        let most_levels = usize::BITS as usize;
        for _ in 0..most_levels {
            if level.len() == 1 {
                return level[0].1;
            }
            level = self.write_branches(&level);
        }
        unreachable!("a tree deeper than {most_levels} levels");
    }

    /// Leaf pages of `elements`, each filled up to a page (a single larger element gets overflow
    /// pages); returns each page's first key and id.
    fn write_leaves<'a>(&mut self, elements: &[LeafElement<'a>]) -> Vec<(&'a [u8], u64)> {
        if elements.is_empty() {
            let (page_id, _) = self.allocate(PAGE_HEADER_BYTES, LEAF_PAGE_FLAG, 0);
            return vec![(&[][..], page_id)];
        }
        let sizes: Vec<usize> =
            elements.iter().map(|element| ELEMENT_BYTES + element.key.len() + element.value.len()).collect();
        let mut pages = Vec::new();
        for range in pack(&sizes, 1) {
            let page = &elements[range];
            pages.push((page[0].key, self.write_leaf(page)));
        }
        pages
    }

    fn write_leaf(&mut self, elements: &[LeafElement]) -> u64 {
        let data_bytes: usize = elements.iter().map(|element| element.key.len() + element.value.len()).sum();
        let size_bytes = PAGE_HEADER_BYTES + elements.len() * ELEMENT_BYTES + data_bytes;
        let (page_id, offset) = self.allocate(size_bytes, LEAF_PAGE_FLAG, elements.len());
        let mut data = offset + PAGE_HEADER_BYTES + elements.len() * ELEMENT_BYTES;
        for (index, element) in elements.iter().enumerate() {
            let at = offset + PAGE_HEADER_BYTES + index * ELEMENT_BYTES;
            let fields =
                [element.flags, (data - at) as u32, element.key.len() as u32, element.value.len() as u32];
            for (field_index, field) in fields.iter().enumerate() {
                self.bytes[at + 4 * field_index..at + 4 * field_index + 4]
                    .copy_from_slice(&field.to_le_bytes());
            }
            self.bytes[data..data + element.key.len()].copy_from_slice(element.key);
            data += element.key.len();
            self.bytes[data..data + element.value.len()].copy_from_slice(element.value);
            data += element.value.len();
        }
        assert_eq!(data - offset, size_bytes, "the leaf's data fills what was counted");
        page_id
    }

    /// One level of branch pages over `children` (first key, page id), in order.
    fn write_branches<'a>(&mut self, children: &[(&'a [u8], u64)]) -> Vec<(&'a [u8], u64)> {
        assert!(children.len() > 1, "a branch level needs two children or more");
        let sizes: Vec<usize> = children.iter().map(|(key, _)| ELEMENT_BYTES + key.len()).collect();
        let mut pages = Vec::new();
        for range in pack(&sizes, 2) {
            let page = &children[range];
            pages.push((page[0].0, self.write_branch(page)));
        }
        pages
    }

    fn write_branch(&mut self, children: &[(&[u8], u64)]) -> u64 {
        let keys_bytes: usize = children.iter().map(|(key, _)| key.len()).sum();
        let size_bytes = PAGE_HEADER_BYTES + children.len() * ELEMENT_BYTES + keys_bytes;
        let (page_id, offset) = self.allocate(size_bytes, BRANCH_PAGE_FLAG, children.len());
        let mut data = offset + PAGE_HEADER_BYTES + children.len() * ELEMENT_BYTES;
        for (index, (key, child)) in children.iter().enumerate() {
            let at = offset + PAGE_HEADER_BYTES + index * ELEMENT_BYTES;
            self.bytes[at..at + 4].copy_from_slice(&((data - at) as u32).to_le_bytes());
            self.bytes[at + 4..at + 8].copy_from_slice(&(key.len() as u32).to_le_bytes());
            self.bytes[at + 8..at + 16].copy_from_slice(&child.to_le_bytes());
            self.bytes[data..data + key.len()].copy_from_slice(key);
            data += key.len();
        }
        page_id
    }
}

/// Splits elements of the given sizes into consecutive runs that each fit one page after the page
/// header, with at least `min_per_run` elements per run (such a page may need overflow pages).
/// Branch levels ask for two, so each level has at most half the pages of the one below.
fn pack(sizes: &[usize], min_per_run: usize) -> Vec<std::ops::Range<usize>> {
    assert!(sizes.len() >= min_per_run && min_per_run >= 1, "enough elements for one run");
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut used_bytes = PAGE_HEADER_BYTES;
    for (index, size) in sizes.iter().enumerate() {
        let full = used_bytes + size > PAGE_SIZE_BYTES || index - start == MAX_ELEMENTS_PER_PAGE;
        if full && index - start >= min_per_run {
            runs.push(start..index);
            start = index;
            used_bytes = PAGE_HEADER_BYTES;
        }
        used_bytes += size;
    }
    match runs.last_mut() {
        Some(last) if sizes.len() - start < min_per_run => last.end = sizes.len(),
        _ => runs.push(start..sizes.len()),
    }
    debug_assert!(runs.iter().all(|run| run.len() >= min_per_run), "every page has its minimum");
    runs
}
