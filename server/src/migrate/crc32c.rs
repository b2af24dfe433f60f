//! CRC-32C (Castagnoli), the checksum of etcd's WAL records and `.snap` files, continued from a
//! previous value the way Go's `crc32.Update` continues it. Table-driven; the table is built at compile
//! time.

/// The reflected Castagnoli polynomial.
const POLYNOMIAL: u32 = 0x82F6_3B78;

const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLYNOMIAL } else { crc >> 1 };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// The CRC-32C of `previous`'s input followed by `bytes` (`previous` = 0 starts afresh).
pub fn update(previous: u32, bytes: &[u8]) -> u32 {
    let mut crc = !previous;
    for &byte in bytes {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_check_value_and_continuation_agree() {
        // The catalogue check value of CRC-32C over "123456789".
        assert_eq!(update(0, b"123456789"), 0xE306_9283);
        assert_eq!(update(update(0, b"1234"), b"56789"), 0xE306_9283);
        assert_ne!(update(0, b"123456780"), 0xE306_9283);
    }
}
