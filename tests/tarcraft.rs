//! Writes tar archives block by block, including the malformed and ambiguous ones no
//! well-behaved writer produces (duplicate PAX records, prefixes in GNU headers, data after
//! the end marker…), for the differential tests. Independent of `modelsig-common`.

/// Bytes in a tar block.
pub const BLOCK: usize = 512;

/// Header magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    /// POSIX ustar (`ustar\0` `00`).
    Ustar,
    /// GNU (`ustar  \0`).
    Gnu,
    /// Pre-POSIX: no magic.
    V7,
}

/// Recomputes a header's checksum (unsigned sum, field counted as spaces).
pub fn set_checksum(h: &mut [u8; BLOCK]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|c| u32::from(*c)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// A header block.
pub fn header(name: &[u8], typeflag: u8, size: u64, magic: Magic) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"14707523000\0");
    h[156] = typeflag;
    match magic {
        Magic::Ustar => h[257..265].copy_from_slice(b"ustar\x0000"),
        Magic::Gnu => h[257..265].copy_from_slice(b"ustar  \0"),
        Magic::V7 => {}
    }
    set_checksum(&mut h);
    h
}

/// One PAX record `LEN KEY=VALUE\n`.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body_len + 1;
    while len != body_len + len.to_string().len() {
        len = body_len + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// An archive being written.
#[derive(Debug, Default, Clone)]
pub struct TarCraft {
    /// The bytes so far.
    pub bytes: Vec<u8>,
}

impl TarCraft {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// A header followed by `data` and padding.
    pub fn block_and_data(&mut self, h: [u8; BLOCK], data: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(&h);
        self.bytes.extend_from_slice(data);
        let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
        self.bytes.resize(self.bytes.len() + pad, 0);
        self
    }

    /// A member of this type, name and data.
    pub fn entry(&mut self, name: &str, typeflag: u8, data: &[u8], magic: Magic) -> &mut Self {
        self.block_and_data(header(name.as_bytes(), typeflag, data.len() as u64, magic), data)
    }

    /// A regular file (ustar).
    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, b'0', data, Magic::Ustar)
    }

    /// A PAX header (`x` local or `g` global) with these records.
    pub fn pax(&mut self, typeflag: u8, records: &[(&str, &[u8])]) -> &mut Self {
        let data: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        self.entry("PaxHeaders/x", typeflag, &data, Magic::Ustar)
    }

    /// A GNU long name (`L`) or long link (`K`) header.
    pub fn gnu_long(&mut self, typeflag: u8, name: &[u8]) -> &mut Self {
        let mut data = name.to_vec();
        data.push(0);
        self.entry("././@LongLink", typeflag, &data, Magic::Gnu)
    }

    /// Raw bytes.
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(b);
        self
    }

    /// The end-of-archive marker (two zero blocks).
    pub fn end(&mut self) -> &mut Self {
        self.bytes.resize(self.bytes.len() + 2 * BLOCK, 0);
        self
    }

    /// The archive.
    pub fn build(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}
