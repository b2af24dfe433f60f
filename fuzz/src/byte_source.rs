//! Reading fuzz input as a stream of small decisions: each call takes the next bytes, and an
//! exhausted input answers zeros (so every decoder built on it is total and always ends).

/// A cursor over fuzz input.
#[derive(Debug)]
pub struct ByteSource<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> ByteSource<'a> {
    pub fn new(bytes: &'a [u8]) -> ByteSource<'a> {
        ByteSource { bytes, position: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.position >= self.bytes.len()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        &self.bytes[self.position.min(self.bytes.len())..]
    }

    pub fn u8(&mut self) -> u8 {
        let byte = self.bytes.get(self.position).copied().unwrap_or(0);
        self.position += 1;
        byte
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        for byte in &mut bytes {
            *byte = self.u8();
        }
        u64::from_le_bytes(bytes)
    }

    pub fn i64(&mut self) -> i64 {
        self.u64() as i64
    }

    /// Up to `count` bytes (fewer when the input ends first).
    pub fn take(&mut self, count: usize) -> &'a [u8] {
        let start = self.position.min(self.bytes.len());
        let end = start.saturating_add(count).min(self.bytes.len());
        self.position = end;
        &self.bytes[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exhausted_source_reads_zeros_and_stays_empty() {
        let mut source = ByteSource::new(&[1, 2, 3]);
        assert_eq!(source.u16(), 0x0201);
        assert_eq!(source.take(5), &[3]);
        assert!(source.is_empty());
        assert_eq!(source.u64(), 0);
        assert_eq!(source.remaining(), &[] as &[u8]);
    }
}
