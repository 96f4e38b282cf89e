//! Reading a zip archive: the central directory (zip64 included) over bytes
//! in memory, and the members' local headers.

use super::*;

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
pub(super) const LOCAL_EXTRA_ROOM: usize = 256;
/// Room read for a member's `.npy` header: numpy's are 64 or 128 bytes
/// long for the shapes sparse members have (a longer one is read from the
/// map).
pub(super) const NPY_HEADER_ROOM: usize = 256;
/// The largest member [`Want::Whole`] reads in full; larger ones have
/// their headers read and their data taken from the map.
pub(super) const WHOLE_MAX: usize = 1 << 20;
/// Ranges this close together are read with one `pread`.
pub(super) const MERGE_GAP: usize = 4096;
/// The most [`Archive::plan`] reads in all.
pub(super) const PLAN_MAX: usize = 4 << 20;

/// A parsed zip archive over bytes in memory (a mapped file), and copies
/// of some of its ranges read beforehand.
pub(crate) struct Archive<'a> {
    bytes: &'a [u8],
    copies: Copies<'a>,
    pub(super) entries: Vec<Entry>,
    /// Bytes before the archive proper (a prefix, as `zipfile` allows).
    concat: u64,
}

/// An entry's name, shown as [`Entry::display_name`] shows it (`{:?}`
/// quotes it), for messages made only when there is an error.
pub(super) struct NameOf<'e>(&'e Entry);

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
pub(super) fn parse_central(cd: &[u8], pos: usize) -> Result<(Entry, usize), SparseError> {
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
