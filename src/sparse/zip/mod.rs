//! The zip container of `.npz` files: a reader of the central directory
//! (zip64 included) over bytes in memory, and a writer that lays members out
//! as Python's `zipfile` does for `numpy.savez`.
//!
//! Only what `.npz` files need: stored and deflate members, no encryption,
//! one disk. Every offset and size read from the file is checked before use.

use crate::error::SparseError;

mod read;
mod write;

pub(crate) use read::{Archive, Copies, Entry, Raw, Want};
pub(crate) use write::ZipWriter;

pub(super) const LOCAL_SIG: u32 = 0x0403_4b50;
pub(super) const CENTRAL_SIG: u32 = 0x0201_4b50;
pub(super) const EOCD_SIG: u32 = 0x0605_4b50;
pub(super) const EOCD64_SIG: u32 = 0x0606_4b50;
pub(super) const EOCD64_LOCATOR_SIG: u32 = 0x0706_4b50;
pub(super) const EOCD_LEN: usize = 22;
pub(super) const EOCD64_LEN: usize = 56;
pub(super) const EOCD64_LOCATOR_LEN: usize = 20;
pub(super) const CENTRAL_LEN: usize = 46;
pub(super) const LOCAL_LEN: usize = 30;
pub(super) const MAX_COMMENT: usize = 0xffff;

/// Compression method of a member.
pub(crate) const STORED: u16 = 0;
/// Compression method of a member.
pub(crate) const DEFLATED: u16 = 8;

/// Extra field id of the padding Android's `zipalign` puts in local headers.
pub(super) const ALIGN_EXTRA_ID: u16 = 0xd935;
/// The smallest padding extra field: id, size and the alignment.
pub(super) const ALIGN_EXTRA_MIN: u64 = 6;

/// Python's `zipfile.ZIP64_LIMIT`: sizes and offsets above it go to zip64 fields.
pub(super) const ZIP64_LIMIT: u64 = (1 << 31) - 1;
/// Python's `zipfile.ZIP_FILECOUNT_LIMIT`.
pub(super) const ZIP_FILECOUNT_LIMIT: usize = (1 << 16) - 1;

pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(super) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

pub(super) fn bad(what: impl Into<String>) -> SparseError {
    SparseError::BadZip(what.into())
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
