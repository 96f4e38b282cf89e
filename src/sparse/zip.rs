//! The zip container of `.npz` files: a reader of the central directory
//! (zip64 included) over bytes in memory, and a writer that lays members out
//! as Python's `zipfile` does for `numpy.savez`.
//!
//! Only what `.npz` files need: stored and deflate members, no encryption,
//! one disk. Every offset and size read from the file is checked before use.

use std::io::{self, Write};

use crate::error::SparseError;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD64_SIG: u32 = 0x0606_4b50;
const EOCD64_LOCATOR_SIG: u32 = 0x0706_4b50;
const EOCD_LEN: usize = 22;
const EOCD64_LEN: usize = 56;
const EOCD64_LOCATOR_LEN: usize = 20;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;
const MAX_COMMENT: usize = 0xffff;

/// Compression method of a member.
pub(crate) const STORED: u16 = 0;
/// Compression method of a member.
pub(crate) const DEFLATED: u16 = 8;

/// Extra field id of the padding Android's `zipalign` puts in local headers.
const ALIGN_EXTRA_ID: u16 = 0xd935;
/// The smallest padding extra field: id, size and the alignment.
const ALIGN_EXTRA_MIN: u64 = 6;

/// Python's `zipfile.ZIP64_LIMIT`: sizes and offsets above it go to zip64 fields.
const ZIP64_LIMIT: u64 = (1 << 31) - 1;
/// Python's `zipfile.ZIP_FILECOUNT_LIMIT`.
const ZIP_FILECOUNT_LIMIT: usize = (1 << 16) - 1;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

fn bad(what: impl Into<String>) -> SparseError {
    SparseError::BadZip(what.into())
}

/// One member, as the central directory records it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: Vec<u8>,
    pub(crate) flags: u16,
    pub(crate) method: u16,
    pub(crate) crc: u32,
    pub(crate) compressed: u64,
    pub(crate) uncompressed: u64,
    local_offset: u64,
}

impl Entry {
    /// The name for messages.
    pub(crate) fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Copies of some ranges of a file, read with `pread` before its map is
/// touched: the directory, local headers and small members are read from
/// them where they can be, so that parsing them costs no page fault of the
/// map. Each copy is its file offset and its bytes (equal to the map's
/// bytes there; every range taken from a copy is checked against the map's
/// length too, so a copy can never reach past what the map holds).
#[derive(Default, Clone)]
pub(crate) struct Copies<'a> {
    parts: Vec<(usize, &'a [u8])>,
}

impl<'a> Copies<'a> {
    /// Adds the copy of the file's bytes from offset `at`.
    pub(crate) fn push(&mut self, at: usize, bytes: &'a [u8]) {
        if !bytes.is_empty() {
            self.parts.push((at, bytes));
        }
    }

    /// The bytes `at..at + len`, if one copy holds all of them.
    fn get(&self, at: usize, len: usize) -> Option<&'a [u8]> {
        let end = at.checked_add(len)?;
        self.parts.iter().find_map(|&(start, b)| {
            let from = at.checked_sub(start)?;
            b.get(from..end - start)
        })
    }

    /// The bytes from `at` as far as one copy holds them (empty if none does).
    fn from(&self, at: usize) -> &'a [u8] {
        self.parts
            .iter()
            .filter_map(|&(start, b)| b.get(at.checked_sub(start)?..))
            .max_by_key(|b| b.len())
            .unwrap_or(&[])
    }

    /// Whether one copy holds `range`.
    fn covers(&self, range: &std::ops::Range<usize>) -> bool {
        self.get(range.start, range.end.saturating_sub(range.start))
            .is_some()
    }
}

/// What [`Archive::plan`] reads of a member: its headers only, or all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// The local header and the `.npy` header (a large member).
    Headers,
    /// The whole member (a small one, or one whose data is checked on load).
    Whole,
}

/// Room read for a local header's name and extra field beyond its fixed
/// part: the zip64 field (20 bytes) and an alignment pad of up to 134.
const LOCAL_EXTRA_ROOM: usize = 256;
/// Room read for a member's `.npy` header: numpy's are 64 or 128 bytes
/// long for the shapes sparse members have (a longer one is read from the
/// map).
const NPY_HEADER_ROOM: usize = 256;
/// The largest member [`Want::Whole`] reads in full; larger ones have
/// their headers read and their data taken from the map.
const WHOLE_MAX: usize = 1 << 20;
/// Ranges this close together are read with one `pread`.
const MERGE_GAP: usize = 4096;
/// The most [`Archive::plan`] reads in all.
const PLAN_MAX: usize = 4 << 20;

/// A parsed zip archive over bytes in memory (a mapped file), and copies
/// of some of its ranges read beforehand.
pub(crate) struct Archive<'a> {
    bytes: &'a [u8],
    copies: Copies<'a>,
    entries: Vec<Entry>,
    /// Bytes before the archive proper (a prefix, as `zipfile` allows).
    concat: u64,
}

/// An entry's name, shown as [`Entry::display_name`] shows it (`{:?}`
/// quotes it), for messages made only when there is an error.
struct NameOf<'e>(&'e Entry);

impl std::fmt::Debug for NameOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&String::from_utf8_lossy(&self.0.name), f)
    }
}

/// The bytes of one member as [`Archive::raw_data`] finds them.
#[derive(Clone, Copy)]
pub(crate) struct Raw<'a> {
    /// The member's compressed bytes, in the archive's bytes (the map).
    pub(crate) data: &'a [u8],
    /// A prefix of the same bytes from a copy read beforehand (possibly
    /// empty): reading it touches no page of the map.
    pub(crate) copy: &'a [u8],
}

impl<'a> Archive<'a> {
    /// Reads the central directory of `bytes`.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Archive<'a>, SparseError> {
        Archive::parse_with(bytes, Copies::default())
    }

    /// Reads the central directory of `bytes`, from `copies` where they
    /// hold the bytes needed.
    pub(crate) fn parse_with(
        bytes: &'a [u8],
        copies: Copies<'a>,
    ) -> Result<Archive<'a>, SparseError> {
        let mut archive = Archive {
            bytes,
            copies,
            entries: Vec::new(),
            concat: 0,
        };
        archive.read_directory()?;
        Ok(archive)
    }

    /// The bytes `at..at + len` of the archive: from a copy if one holds
    /// them, else from the map (touching its pages).
    fn read(&self, at: usize, len: usize) -> Option<&'a [u8]> {
        let end = at.checked_add(len)?;
        if end > self.bytes.len() {
            return None;
        }
        self.copies.get(at, len).or_else(|| self.bytes.get(at..end))
    }

    fn read_u16(&self, at: usize) -> Option<u16> {
        u16_at(self.read(at, 2)?, 0)
    }

    fn read_u32(&self, at: usize) -> Option<u32> {
        u32_at(self.read(at, 4)?, 0)
    }

    fn read_u64(&self, at: usize) -> Option<u64> {
        u64_at(self.read(at, 8)?, 0)
    }

    fn read_directory(&mut self) -> Result<(), SparseError> {
        let len = self.bytes.len();
        if len < EOCD_LEN {
            return Err(SparseError::NotZip("too short to be a zip archive"));
        }
        // numpy.load takes a file for a zip only when it starts like one.
        let magic = self.read(0, 4).unwrap_or(&[]);
        if !(magic == b"PK\x03\x04" || magic == b"PK\x05\x06") {
            return Err(SparseError::NotZip("does not start with a zip signature"));
        }
        let eocd = self
            .find_eocd()
            .ok_or(SparseError::NotZip("no end of central directory record"))?;
        let read = |at| {
            self.read_u16(eocd + at)
                .ok_or_else(|| bad("truncated end record"))
        };
        let disk = read(4)?;
        let cd_disk = read(6)?;
        let mut count = read(10)? as u64;
        let mut cd_size = self
            .read_u32(eocd + 12)
            .ok_or_else(|| bad("truncated end record"))? as u64;
        let mut cd_offset = self
            .read_u32(eocd + 16)
            .ok_or_else(|| bad("truncated end record"))? as u64;
        // Where the directory's end is recorded: the zip64 record if there is one.
        let mut end_at = eocd as u64;
        if disk != 0 || cd_disk != 0 {
            return Err(bad("archives spanning several disks are not supported"));
        }
        if eocd >= EOCD64_LOCATOR_LEN
            && self.read_u32(eocd - EOCD64_LOCATOR_LEN) == Some(EOCD64_LOCATOR_SIG)
        {
            let loc = eocd - EOCD64_LOCATOR_LEN;
            let locator = |at| {
                self.read_u32(loc + at)
                    .ok_or_else(|| bad("truncated zip64 locator"))
            };
            let disks = locator(16)?;
            let disk64 = locator(4)?;
            if disk64 != 0 || disks > 1 {
                return Err(bad("archives spanning several disks are not supported"));
            }
            // As Python's zipfile: the zip64 record sits right before its locator.
            let rec = loc
                .checked_sub(EOCD64_LEN)
                .ok_or_else(|| bad("zip64 end record missing"))?;
            if self.read_u32(rec) != Some(EOCD64_SIG) {
                return Err(bad("zip64 end record missing"));
            }
            let field = |at| {
                self.read_u64(rec + at)
                    .ok_or_else(|| bad("truncated zip64 end record"))
            };
            count = field(32)?;
            cd_size = field(40)?;
            cd_offset = field(48)?;
            end_at = rec as u64;
        }
        // Data before the archive (e.g. a self-extractor stub) shifts every offset.
        let concat = end_at
            .checked_sub(cd_size)
            .and_then(|x| x.checked_sub(cd_offset))
            .ok_or_else(|| bad("central directory runs past its end record"))?;
        let cd_start = cd_offset + concat;
        let cd = usize::try_from(cd_start)
            .ok()
            .zip(usize::try_from(cd_size).ok())
            .and_then(|(at, n)| self.read(at, n))
            .ok_or_else(|| bad("central directory lies outside the file"))?;
        if count > (cd.len() / CENTRAL_LEN) as u64 {
            return Err(bad(format!(
                "end record announces {count} members, the directory has room for {}",
                cd.len() / CENTRAL_LEN
            )));
        }
        let mut entries = Vec::with_capacity(count as usize);
        let mut pos = 0usize;
        // Python's zipfile reads entries until the directory size is used up.
        while pos < cd.len() {
            let (entry, next) = parse_central(cd, pos)?;
            entries.push(entry);
            pos = next;
        }
        self.entries = entries;
        self.concat = concat;
        Ok(())
    }

    /// Finds the end of central directory record: at the very end when
    /// there is no comment, else the last signature in the final 64 KiB
    /// that fits.
    fn find_eocd(&self) -> Option<usize> {
        let len = self.bytes.len();
        let last = len.checked_sub(EOCD_LEN)?;
        if self.read_u32(last) == Some(EOCD_SIG) && self.read_u16(last + 20) == Some(0) {
            return Some(last);
        }
        let lowest = last.saturating_sub(MAX_COMMENT);
        let tail = self.read(lowest, len - lowest)?;
        (0..=last - lowest).rev().find_map(|at| {
            let fits = u32_at(tail, at) == Some(EOCD_SIG)
                && u16_at(tail, at + 20)
                    .is_some_and(|c| lowest + at + EOCD_LEN + c as usize <= len);
            fits.then_some(lowest + at)
        })
    }

    /// Where the local header of `entry` starts in the bytes.
    fn local_at(&self, entry: &Entry) -> Option<usize> {
        entry
            .local_offset
            .checked_add(self.concat)
            .and_then(|x| usize::try_from(x).ok())
    }

    /// The ranges to read with `pread` before parsing the members named
    /// `wanted` (each `key` or `key.npy`, as [`Archive::find`] finds them),
    /// so that parsing them reads copies rather than the map: the local
    /// header and `.npy` header of each, the whole of the [`Want::Whole`]
    /// ones up to [`WHOLE_MAX`] bytes, less what the copies already hold;
    /// ranges close together merged, each start rounded down to a multiple
    /// of 64 (so that a copy held 8-byte aligned in memory keeps the
    /// file's alignment of every element type), at most [`PLAN_MAX`] bytes
    /// in all. Only a plan: the bytes read are parsed and checked as the
    /// map's bytes are; what the plan misses is read from the map.
    pub(crate) fn plan(&self, wanted: &[(&str, Want)]) -> Vec<std::ops::Range<usize>> {
        let len = self.bytes.len();
        let mut ranges: Vec<std::ops::Range<usize>> = wanted
            .iter()
            .filter_map(|&(key, want)| {
                let entry = self.find(key)?;
                let at = self.local_at(entry)?;
                let headers = LOCAL_LEN + entry.name.len() + LOCAL_EXTRA_ROOM;
                let body = usize::try_from(entry.compressed).unwrap_or(usize::MAX);
                let body = match want {
                    Want::Whole if body <= WHOLE_MAX => body,
                    _ => body.min(NPY_HEADER_ROOM),
                };
                let end = at.checked_add(headers + body)?.min(len);
                (at < end).then_some(at & !63..end)
            })
            .filter(|r| !self.copies.covers(r))
            .collect();
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<std::ops::Range<usize>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(m) if r.start <= m.end.saturating_add(MERGE_GAP) => m.end = m.end.max(r.end),
                _ => merged.push(r),
            }
        }
        let mut total = 0usize;
        merged.retain(|r| {
            total = total.saturating_add(r.len());
            total <= PLAN_MAX
        });
        merged
    }

    /// The same archive with more copies to read from.
    pub(crate) fn with_copies<'b>(self, copies: Copies<'b>) -> Archive<'b>
    where
        'a: 'b,
    {
        Archive {
            bytes: self.bytes,
            copies,
            entries: self.entries,
            concat: self.concat,
        }
    }

    /// The member named `name`, or `name.npy`, as `numpy.load` looks
    /// members up (the last of equal names wins, as in `zipfile`).
    pub(crate) fn find(&self, key: &str) -> Option<&Entry> {
        let exact = self.entries.iter().rev().find(|e| e.name == key.as_bytes());
        exact.or_else(|| {
            self.entries
                .iter()
                .rev()
                .find(|e| e.name.strip_suffix(b".npy") == Some(key.as_bytes()))
        })
    }

    /// The compressed bytes of `entry`, after checking its local header
    /// (read from a copy where one holds it).
    pub(crate) fn raw_data(&self, entry: &Entry) -> Result<Raw<'a>, SparseError> {
        // The name for messages, made only when one is given.
        let name = NameOf(entry);
        let at = self
            .local_at(entry)
            .ok_or_else(|| bad(format!("member {name:?}: local header offset out of range")))?;
        if self.read_u32(at) != Some(LOCAL_SIG) {
            return Err(bad(format!(
                "member {name:?}: no local file header at offset {at}"
            )));
        }
        let field = |k| {
            at.checked_add(k)
                .and_then(|p| self.read_u16(p))
                .ok_or_else(|| bad("truncated local header"))
        };
        let name_len = field(26)? as usize;
        let extra_len = field(28)? as usize;
        let name_at = at
            .checked_add(LOCAL_LEN)
            .ok_or_else(|| bad("truncated local header"))?;
        let local_name = self
            .read(name_at, name_len)
            .ok_or_else(|| bad(format!("member {name:?}: truncated local header")))?;
        if local_name != entry.name.as_slice() {
            return Err(bad(format!(
                "member {name:?}: file name in directory and local header differ ({:?})",
                String::from_utf8_lossy(local_name)
            )));
        }
        let start = name_at + name_len + extra_len;
        let len = usize::try_from(entry.compressed)
            .map_err(|_| bad(format!("member {name:?}: compressed size out of range")))?;
        let data = start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| {
                bad(format!(
                    "member {name:?}: its {len} compressed bytes run past the end of the file"
                ))
            })?;
        let copy = self.copies.from(start);
        let copy = &copy[..copy.len().min(len)];
        Ok(Raw { data, copy })
    }
}

/// Parses the central directory entry at `pos`; returns it and the next position.
fn parse_central(cd: &[u8], pos: usize) -> Result<(Entry, usize), SparseError> {
    let trunc = || bad("truncated central directory entry");
    if u32_at(cd, pos) != Some(CENTRAL_SIG) {
        return Err(bad(format!(
            "bad central directory entry signature at directory offset {pos}"
        )));
    }
    let flags = u16_at(cd, pos + 8).ok_or_else(trunc)?;
    let method = u16_at(cd, pos + 10).ok_or_else(trunc)?;
    let crc = u32_at(cd, pos + 16).ok_or_else(trunc)?;
    let mut compressed = u32_at(cd, pos + 20).ok_or_else(trunc)? as u64;
    let mut uncompressed = u32_at(cd, pos + 24).ok_or_else(trunc)? as u64;
    let name_len = u16_at(cd, pos + 28).ok_or_else(trunc)? as usize;
    let extra_len = u16_at(cd, pos + 30).ok_or_else(trunc)? as usize;
    let comment_len = u16_at(cd, pos + 32).ok_or_else(trunc)? as usize;
    let mut local_offset = u32_at(cd, pos + 42).ok_or_else(trunc)? as u64;
    let name_at = pos + CENTRAL_LEN;
    let name = cd.get(name_at..name_at + name_len).ok_or_else(trunc)?;
    let extra = cd
        .get(name_at + name_len..name_at + name_len + extra_len)
        .ok_or_else(trunc)?;
    let next = name_at + name_len + extra_len + comment_len;
    if next > cd.len() {
        return Err(trunc());
    }
    // The zip64 extra field holds, in order, whichever of the three values
    // are saturated in the fixed fields.
    let mut e = 0usize;
    while e + 4 <= extra.len() {
        let id = u16_at(extra, e).ok_or_else(trunc)?;
        let size = u16_at(extra, e + 2).ok_or_else(trunc)? as usize;
        let body = extra
            .get(e + 4..e + 4 + size)
            .ok_or_else(|| bad("truncated extra field in the central directory"))?;
        if id == 0x0001 {
            let mut k = 0usize;
            let mut take = |v: &mut u64, what: &str| -> Result<(), SparseError> {
                if *v == 0xffff_ffff {
                    *v = u64_at(body, k)
                        .ok_or_else(|| bad(format!("zip64 extra field lacks the {what}")))?;
                    k += 8;
                }
                Ok(())
            };
            take(&mut uncompressed, "uncompressed size")?;
            take(&mut compressed, "compressed size")?;
            take(&mut local_offset, "header offset")?;
        }
        e += 4 + size;
    }
    Ok((
        Entry {
            name: name.to_vec(),
            flags,
            method,
            crc,
            compressed,
            uncompressed,
            local_offset,
        },
        next,
    ))
}

/// One member written so far, for the central directory.
struct Written {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_it_reads() {
        let mut zw = ZipWriter::new(Vec::new());
        let payload = b"hello";
        let crc = crc32fast::hash(payload);
        zw.begin("a.npy", STORED, crc, 5, 5).unwrap();
        zw.data(payload).unwrap();
        let bytes = zw.finish().unwrap();
        let archive = Archive::parse(&bytes).unwrap();
        let e = archive.find("a").unwrap();
        assert_eq!(e.crc, crc);
        assert_eq!(archive.raw_data(e).unwrap().data, payload);
        assert!(archive.find("b").is_none());
    }

    #[test]
    fn aligned_members_start_on_the_boundary_and_read_back() {
        // Names of every length mod 64 and payloads of odd sizes, so that
        // every padding from 0 to 63 (and the bumped small ones) occurs.
        let names: Vec<&'static str> = (1..=70)
            .map(|n| &*Box::leak("n".repeat(n).into_boxed_str()))
            .collect();
        let mut zw = ZipWriter::new(Vec::new());
        let mut want = Vec::new();
        for (k, name) in names.iter().enumerate() {
            let payload: Vec<u8> = (0..k * 3 + 1).map(|i| i as u8).collect();
            let crc = crc32fast::hash(&payload);
            let n = payload.len() as u64;
            zw.begin_aligned(name, STORED, crc, n, n, 64).unwrap();
            zw.data(&payload).unwrap();
            want.push(payload);
        }
        let bytes = zw.finish().unwrap();
        let archive = Archive::parse(&bytes).unwrap();
        for (name, payload) in names.iter().zip(&want) {
            let data = archive.raw_data(archive.find(name).unwrap()).unwrap().data;
            assert_eq!(data, payload.as_slice());
            let at = data.as_ptr() as usize - bytes.as_ptr() as usize;
            assert_eq!(at % 64, 0, "{name}");
        }
    }

    #[test]
    fn plan_reads_an_aligned_sparse_file_in_one_more_range() {
        // As `read_npz_stored` reads it: the first 4 KiB, the last 4 KiB,
        // then what the plan asks for, in one range, after which every
        // small member is held whole by a copy and no header is missing.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npz");
        let m = crate::demo::random_csc(3000, 500, 0.05, 3);
        crate::sparse::write_npz_with(&path, &m, crate::sparse::NpzOptions::ALIGNED).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let tail_at = (bytes.len() - 4096) & !63;
        let mut copies = Copies::default();
        copies.push(0, &bytes[..4096]);
        copies.push(tail_at, &bytes[tail_at..]);
        let archive = Archive::parse_with(&bytes, copies.clone()).unwrap();
        let wanted = [
            ("format", Want::Whole),
            ("shape", Want::Whole),
            ("_is_array", Want::Whole),
            ("indptr", Want::Whole),
            ("indices", Want::Headers),
            ("data", Want::Headers),
        ];
        let plan = archive.plan(&wanted);
        assert_eq!(plan.len(), 1, "{plan:?}");
        assert!(plan[0].len() < 8192, "{plan:?}");
        copies.push(plan[0].start, &bytes[plan[0].clone()]);
        let archive = archive.with_copies(copies);
        for (key, want) in wanted {
            let raw = archive.raw_data(archive.find(key).unwrap()).unwrap();
            let held = if want == Want::Whole {
                raw.data.len()
            } else {
                256
            };
            assert!(raw.copy.len() >= held, "{key}: {}", raw.copy.len());
            assert_eq!(raw.copy, &raw.data[..raw.copy.len()], "{key}");
        }
    }

    #[test]
    fn reads_zip64_end_records() {
        // One stored member, then a directory found through the zip64 end
        // record and its locator, the classic record saturated.
        let payload = b"abc";
        let crc = crc32fast::hash(payload);
        let mut zw = ZipWriter::new(Vec::new());
        zw.begin("x.npy", STORED, crc, 3, 3).unwrap();
        zw.data(payload).unwrap();
        let normal = zw.finish().unwrap();
        let cd_start = u32_at(&normal, normal.len() - 6).unwrap() as usize;
        let cd_end = normal.len() - EOCD_LEN;
        let mut b = normal[..cd_end].to_vec();
        let rec = b.len() as u64;
        b.extend_from_slice(&EOCD64_SIG.to_le_bytes());
        b.extend_from_slice(&44u64.to_le_bytes());
        b.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&((cd_end - cd_start) as u64).to_le_bytes());
        b.extend_from_slice(&(cd_start as u64).to_le_bytes());
        b.extend_from_slice(&EOCD64_LOCATOR_SIG.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&rec.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&EOCD_SIG.to_le_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        b.extend_from_slice(&[0xff; 8]);
        b.extend_from_slice(&[0, 0]);
        let archive = Archive::parse(&b).unwrap();
        assert_eq!(
            archive.raw_data(archive.find("x").unwrap()).unwrap().data,
            payload
        );
    }

    #[test]
    fn writes_zip64_fields_for_large_members() {
        // Sizes past 2 GiB go to the zip64 extra field, as zipfile does it
        // (the data itself is not written here: only the directory is read).
        let mut zw = ZipWriter::new(Vec::new());
        zw.begin("big.npy", STORED, 7, 3 << 30, 3 << 30).unwrap();
        let bytes = zw.finish().unwrap();
        let archive = Archive::parse(&bytes).unwrap();
        let e = archive.find("big").unwrap();
        assert_eq!((e.uncompressed, e.compressed, e.crc), (3 << 30, 3 << 30, 7));
        assert!(archive.raw_data(e).is_err());
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        for len in 0..200 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            assert!(Archive::parse(&junk).is_err());
        }
        let mut zw = ZipWriter::new(Vec::new());
        zw.begin("a.npy", STORED, 0, 1, 1).unwrap();
        zw.data(b"x").unwrap();
        let good = zw.finish().unwrap();
        for cut in 0..good.len() {
            if let Ok(a) = Archive::parse(&good[..cut]) {
                for e in &a.entries {
                    let _ = a.raw_data(e);
                }
            }
        }
        for i in 0..good.len() {
            for v in [0u8, 0xff, 0x7f] {
                let mut bad = good.clone();
                bad[i] = v;
                if let Ok(a) = Archive::parse(&bad) {
                    for e in &a.entries {
                        let _ = a.raw_data(e);
                    }
                }
            }
        }
    }
}
