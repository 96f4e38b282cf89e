//! Writing a zip archive as Python's `zipfile` writes `numpy.savez`'s.

use std::io::{self, Write};

use super::*;

/// One member written so far, for the central directory.
pub(super) struct Written {
    name: &'static str,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
}

/// Writes a zip archive member by member, laid out byte for byte as
/// Python's `zipfile` lays out what `numpy.savez` writes: local headers with
/// a zip64 extra field (numpy forces it), the date 1980-01-01, permissions
/// `rw-------`, zip64 directory fields only where sizes or offsets need them.
pub(crate) struct ZipWriter<W: Write> {
    w: W,
    pos: u64,
    written: Vec<Written>,
}

impl<W: Write> ZipWriter<W> {
    pub(crate) fn new(w: W) -> Self {
        ZipWriter {
            w,
            pos: 0,
            written: Vec::new(),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Starts a member: writes its local header. The caller then writes
    /// exactly `compressed` bytes of data through [`ZipWriter::data`].
    pub(crate) fn begin(
        &mut self,
        name: &'static str,
        method: u16,
        crc: u32,
        uncompressed: u64,
        compressed: u64,
    ) -> io::Result<()> {
        self.begin_aligned(name, method, crc, uncompressed, compressed, 1)
    }

    /// [`ZipWriter::begin`], with the member's data starting at a multiple
    /// of `align` bytes in the file: the local header is padded with an
    /// extra field (id `0xd935`, as Android's `zipalign` writes it: the
    /// alignment as a `u16`, then zeros), which zip readers skip.
    pub(crate) fn begin_aligned(
        &mut self,
        name: &'static str,
        method: u16,
        crc: u32,
        uncompressed: u64,
        compressed: u64,
        align: u64,
    ) -> io::Result<()> {
        let offset = self.pos;
        let unpadded = offset + (LOCAL_LEN + name.len() + 20) as u64;
        let mut pad = (align - unpadded % align) % align;
        if pad != 0 && pad < ALIGN_EXTRA_MIN {
            pad += align.max(ALIGN_EXTRA_MIN).div_ceil(align) * align;
        }
        let mut h = Vec::with_capacity(LOCAL_LEN + name.len() + 20 + pad as usize);
        h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        h.extend_from_slice(&45u16.to_le_bytes()); // version needed: zip64
        h.extend_from_slice(&0u16.to_le_bytes()); // flags
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // time 00:00:00
        h.extend_from_slice(&0x0021u16.to_le_bytes()); // date 1980-01-01
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(20 + pad as u16).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(&uncompressed.to_le_bytes());
        h.extend_from_slice(&compressed.to_le_bytes());
        if pad != 0 {
            h.extend_from_slice(&ALIGN_EXTRA_ID.to_le_bytes());
            h.extend_from_slice(&((pad - 4) as u16).to_le_bytes());
            h.extend_from_slice(&(align.min(0xffff) as u16).to_le_bytes());
            h.resize(h.len() + pad as usize - 6, 0);
        }
        self.put(&h)?;
        self.written.push(Written {
            name,
            method,
            crc,
            compressed,
            uncompressed,
            offset,
        });
        Ok(())
    }

    /// Writes member data.
    pub(crate) fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.put(bytes)
    }

    /// Writes the central directory and the end records.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        let start = self.pos;
        let written = std::mem::take(&mut self.written);
        for m in &written {
            let mut extra: Vec<u64> = Vec::new();
            let (mut csize, mut usize_) = (m.compressed as u32, m.uncompressed as u32);
            if m.uncompressed > ZIP64_LIMIT || m.compressed > ZIP64_LIMIT {
                extra.push(m.uncompressed);
                extra.push(m.compressed);
                csize = u32::MAX;
                usize_ = u32::MAX;
            }
            let mut offset = m.offset as u32;
            if m.offset > ZIP64_LIMIT {
                extra.push(m.offset);
                offset = u32::MAX;
            }
            let mut h = Vec::with_capacity(CENTRAL_LEN + m.name.len() + 28);
            h.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
            h.extend_from_slice(&0x032du16.to_le_bytes()); // made by: unix, 4.5
            h.extend_from_slice(&45u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&m.method.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&0x0021u16.to_le_bytes());
            h.extend_from_slice(&m.crc.to_le_bytes());
            h.extend_from_slice(&csize.to_le_bytes());
            h.extend_from_slice(&usize_.to_le_bytes());
            h.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
            let extra_len = if extra.is_empty() {
                0
            } else {
                4 + 8 * extra.len()
            };
            h.extend_from_slice(&(extra_len as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // comment
            h.extend_from_slice(&0u16.to_le_bytes()); // disk
            h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            h.extend_from_slice(&(0o600u32 << 16).to_le_bytes());
            h.extend_from_slice(&offset.to_le_bytes());
            h.extend_from_slice(m.name.as_bytes());
            if !extra.is_empty() {
                h.extend_from_slice(&1u16.to_le_bytes());
                h.extend_from_slice(&((8 * extra.len()) as u16).to_le_bytes());
                for v in &extra {
                    h.extend_from_slice(&v.to_le_bytes());
                }
            }
            self.put(&h)?;
        }
        let end = self.pos;
        let count = written.len();
        let (mut cd_count, mut cd_size, mut cd_offset) = (count as u64, end - start, start);
        if count > ZIP_FILECOUNT_LIMIT || cd_offset > ZIP64_LIMIT || cd_size > ZIP64_LIMIT {
            let mut r = Vec::with_capacity(EOCD64_LEN + EOCD64_LOCATOR_LEN);
            r.extend_from_slice(&EOCD64_SIG.to_le_bytes());
            r.extend_from_slice(&44u64.to_le_bytes());
            r.extend_from_slice(&45u16.to_le_bytes());
            r.extend_from_slice(&45u16.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&cd_count.to_le_bytes());
            r.extend_from_slice(&cd_count.to_le_bytes());
            r.extend_from_slice(&cd_size.to_le_bytes());
            r.extend_from_slice(&cd_offset.to_le_bytes());
            r.extend_from_slice(&EOCD64_LOCATOR_SIG.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&end.to_le_bytes());
            r.extend_from_slice(&1u32.to_le_bytes());
            self.put(&r)?;
            cd_count = cd_count.min(0xffff);
            cd_size = cd_size.min(0xffff_ffff);
            cd_offset = cd_offset.min(0xffff_ffff);
        }
        let mut r = Vec::with_capacity(EOCD_LEN);
        r.extend_from_slice(&EOCD_SIG.to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        r.extend_from_slice(&(cd_count as u16).to_le_bytes());
        r.extend_from_slice(&(cd_count as u16).to_le_bytes());
        r.extend_from_slice(&(cd_size as u32).to_le_bytes());
        r.extend_from_slice(&(cd_offset as u32).to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        self.put(&r)?;
        Ok(self.w)
    }
}
