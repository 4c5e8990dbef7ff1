//! Shared helpers of the cross-crate tests.

use std::io::Read;

/// Deterministic content of the `i`-th test blob: the first 8 bytes are `i`
/// (little endian), the rest comes from a xorshift generator seeded with `i`.
/// Sizes vary between 64 KiB and about 2 MiB so that writes take varying time.
pub fn blob_content(i: u64) -> impl Read {
    let size = 64 * 1024 + (i.wrapping_mul(7919) % (2 * 1024 * 1024));
    BlobSource {
        header: i.to_le_bytes(),
        pos: 0,
        size,
        state: i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
    }
}

struct BlobSource {
    header: [u8; 8],
    pos: u64,
    size: u64,
    state: u64,
}

impl Read for BlobSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && self.pos < self.size {
            buf[n] = if self.pos < 8 {
                self.header[self.pos as usize]
            } else {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                self.state as u8
            };
            n += 1;
            self.pos += 1;
        }
        Ok(n)
    }
}
