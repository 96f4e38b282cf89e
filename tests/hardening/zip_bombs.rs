//! Zip bombs in `.npz` files are refused without inflating them, and
//! malformed members are refused, not sliced past their end.

use std::fs;
use std::io::Write;

use ndarray::Array1;
use onedata::sparse::{read_npz, read_npz_info};
use onedata::{LoadOptions, SessionData};

use super::{
    npy_bytes, npy_file, one_dir, proc_status_kb, reset_peak_rss, session_in, stored, zip,
    ZipMember,
};

/// Writes deflate bits, least significant first.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn new() -> Bits {
        Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        }
    }

    fn put(&mut self, value: u64, count: u32) {
        self.acc |= value << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: most significant bit first.
    fn code(&mut self, code: u64, len: u32) {
        for i in (0..len).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    fn align(&mut self) {
        if self.n > 0 {
            self.put(0, 8 - self.n);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.align();
        self.out
    }
}

/// A raw deflate stream of `prefix` followed by `zeros` zero bytes, at
/// deflate's best ratio (two bits per 258 zeros): `prefix` in a stored
/// block, then one dynamic block whose only match is (258, distance 1),
/// coded in one bit each.
fn deflate_bomb(prefix: &[u8], zeros: u64) -> Vec<u8> {
    assert!(prefix.len() <= 0xffff && zeros >= 1);
    let mut b = Bits::new();
    // Stored block, not final.
    b.put(0, 1);
    b.put(0, 2);
    b.align();
    b.put(prefix.len() as u64, 16);
    b.put(!prefix.len() as u64 & 0xffff, 16);
    b.out.extend_from_slice(prefix);
    // Dynamic block, final.
    b.put(1, 1);
    b.put(2, 2);
    b.put(29, 5); // HLIT: 286 literal/length codes
    b.put(1, 5); // HDIST: 2 distance codes
    b.put(14, 4); // HCLEN: 18 code length codes
                  // Code length code lengths, in deflate's order: 18 -> 1 bit, 1 and 2 -> 2 bits.
    const ORDER: [usize; 18] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1];
    for sym in ORDER {
        let len = match sym {
            18 => 1,
            1 | 2 => 2,
            _ => 0,
        };
        b.put(len, 3);
    }
    // Code length codes: 18 = "0", 1 = "10", 2 = "11".
    let zeros_run = |b: &mut Bits, mut n: u64| {
        while n > 0 {
            let k = n.min(138);
            assert!(k >= 11);
            b.code(0, 1);
            b.put(k - 11, 7);
            n -= k;
        }
    };
    b.code(3, 2); // literal 0: length 2
    zeros_run(&mut b, 138);
    zeros_run(&mut b, 117); // literals 1..=255 unused
    b.code(3, 2); // end of block: length 2
    zeros_run(&mut b, 28); // lengths 257..=284 unused
    b.code(2, 2); // length code 285 (258 bytes): length 1
    b.code(2, 2); // distance code 0: length 1
    b.code(2, 2); // distance code 1: length 1
                  // Literal/length codes: 285 = "0", literal 0 = "10", end = "11".
                  // Distance codes: 0 (distance 1) = "0".
    b.code(2, 2); // one literal zero
    let rest = zeros - 1;
    for _ in 0..rest / 258 {
        b.put(0, 2); // 258 more zeros
    }
    for _ in 0..rest % 258 {
        b.code(2, 2);
    }
    b.code(3, 2);
    b.finish()
}

/// The CRC-32 of `prefix` followed by `zeros` zero bytes, without hashing them all.
fn crc_with_zeros(prefix: &[u8], zeros: u64) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(prefix);
    const BLOCK: usize = 1 << 20;
    let mut block = crc32fast::Hasher::new();
    block.update(&vec![0u8; BLOCK]);
    for _ in 0..zeros / BLOCK as u64 {
        h.combine(&block);
    }
    h.update(&vec![0u8; (zeros % BLOCK as u64) as usize]);
    h.finalize()
}

/// A `.npy` header for a 1-d array of `descr` with `len` elements.
fn header_1d(descr: &str, len: u64) -> Vec<u8> {
    npy_file(
        1,
        &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len},), }}"),
        &[],
    )
}

/// The small members of a CSR matrix: `format`, `shape`, `indptr`, `indices`.
fn csr_members(shape: (i64, i64), indptr: &[i32], indices: &[i32]) -> Vec<ZipMember> {
    let format = npy_file(
        1,
        "{'descr': '|S3', 'fortran_order': False, 'shape': (), }",
        b"csr",
    );
    vec![
        stored("format.npy", format),
        stored(
            "shape.npy",
            npy_bytes(&Array1::from_vec(vec![shape.0, shape.1])),
        ),
        stored("indptr.npy", npy_bytes(&Array1::from_vec(indptr.to_vec()))),
        stored(
            "indices.npy",
            npy_bytes(&Array1::from_vec(indices.to_vec())),
        ),
    ]
}

/// A deflated `data.npy` member: `header`, then `zeros` zero bytes, with
/// `declared` as its uncompressed size in the directory.
fn bomb_member(header: &[u8], zeros: u64, declared: u64) -> ZipMember {
    ZipMember {
        name: "data.npy",
        method: 8,
        crc: crc_with_zeros(header, zeros),
        uncompressed: declared,
        data: deflate_bomb(header, zeros),
    }
}

/// The deflate bomb itself is sound: flate2 and libdeflate inflate it to
/// exactly the prefix and the zeros.
#[test]
fn deflate_bomb_builder_is_sound() {
    for zeros in [1u64, 2, 257, 258, 259, 517, 100_000] {
        let prefix = b"\x93NUMPY header".to_vec();
        let stream = deflate_bomb(&prefix, zeros);
        let mut decoder = flate2::write::DeflateDecoder::new(Vec::new());
        decoder.write_all(&stream).unwrap();
        let out = decoder.finish().unwrap();
        assert_eq!(out.len() as u64, prefix.len() as u64 + zeros);
        assert_eq!(&out[..prefix.len()], &prefix[..]);
        assert!(out[prefix.len()..].iter().all(|&b| b == 0));
        assert_eq!(crc32fast::hash(&out), crc_with_zeros(&prefix, zeros));
        let mut again = vec![0u8; out.len()];
        let n = libdeflater::Decompressor::new()
            .deflate_decompress(&stream, &mut again)
            .unwrap();
        assert_eq!(&again[..n], &out[..]);
    }
    // Near deflate's best ratio.
    let stream = deflate_bomb(b"", 258 * 100_000 + 1);
    assert!(stream.len() < 258 * 100_000 / 1000, "{}", stream.len());
}

#[test]
fn zip_bombs_are_refused_within_bounded_memory() {
    const MB: u64 = 1 << 20;
    let bomb_zeros: u64 = 256 * MB;
    let dir = tempfile::tempdir().unwrap();
    let s = session_in(dir.path());
    let one = one_dir(&s);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();

    // 1. The data member inflates to 256 MiB, its directory entry says so,
    //    its header claims ten float64: the sizes disagree.
    {
        let header = header_1d("<f8", 10);
        let total = header.len() as u64 + bomb_zeros;
        let mut members = csr_members((1, 10), &[0, 1], &[3]);
        members.push(bomb_member(&header, bomb_zeros, total));
        cases.push(("small_header_big_member", zip(&members), "promises"));
    }
    // 2. Header and directory agree on 256 MiB of float64 (deflate's best
    //    ratio, so the ratio bound lets it by), but indices hold 1 entry.
    {
        let n = bomb_zeros / 8;
        let header = header_1d("<f8", n);
        let total = header.len() as u64 + bomb_zeros;
        let mut members = csr_members((1, 10), &[0, 1], &[3]);
        members.push(bomb_member(&header, bomb_zeros, total));
        cases.push(("consistent_huge_data", zip(&members), "same length"));
    }
    // 3. Header and directory agree on 1 GiB, more than the compressed
    //    bytes can hold at deflate's best ratio.
    {
        let n = (1u64 << 30) / 8;
        let header = header_1d("<f8", n);
        let mut members = csr_members((1, n as i64), &[0, 0], &[]);
        members.push(bomb_member(
            &header,
            bomb_zeros,
            header.len() as u64 + (1 << 30),
        ));
        cases.push(("ratio_1gib", zip(&members), "compressed bytes can hold"));
    }
    // 4. The same claiming 1 TiB through a zip64 size field.
    {
        let n = (1u64 << 40) / 8;
        let header = header_1d("<f8", n);
        let mut members = csr_members((1, 10), &[0, 0], &[]);
        members.push(bomb_member(
            &header,
            bomb_zeros,
            header.len() as u64 + (1 << 40),
        ));
        cases.push((
            "ratio_1tib_zip64",
            zip(&members),
            "compressed bytes can hold",
        ));
    }
    // 5. The directory lies small: header and directory agree on ten
    //    float64, the stream goes on for 256 MiB. Decoding stops at the
    //    promised size.
    {
        let header = header_1d("<f8", 10);
        let mut members = csr_members((1, 10), &[0, 10], &(0..10).collect::<Vec<_>>());
        members.push(bomb_member(&header, bomb_zeros, header.len() as u64 + 80));
        cases.push(("lying_directory_small", zip(&members), "data.npy"));
    }
    // 6. As 5, with 1 MiB promised (the whole-stream inflate path).
    {
        let n = MB / 8;
        let header = header_1d("<f8", n);
        let indices: Vec<i32> = vec![0; n as usize];
        let mut members = csr_members((1, 10), &[0, n as i32], &indices);
        members.push(bomb_member(&header, bomb_zeros, header.len() as u64 + MB));
        cases.push(("lying_directory_1mib", zip(&members), "data.npy"));
    }

    for (tag, bytes, _) in &cases {
        assert!(
            (bytes.len() as u64) < 2 * MB,
            "{tag}: {} bytes is no bomb",
            bytes.len()
        );
    }
    let baseline = reset_peak_rss();
    for (tag, bytes, expect) in &cases {
        let name = format!("bomb.{tag}");
        let path = one.join(format!("{name}.npz"));
        fs::write(&path, bytes).unwrap();
        let results = [
            ("read_npz", read_npz(&path).map(|m| m.nnz())),
            ("read_npz_info", read_npz_info(&path).map(|i| i.nnz)),
            (
                "loadone",
                s.loadone_with(&name, LoadOptions::sparse(true))
                    .map(|d| d.as_sparse().unwrap().nnz()),
            ),
        ];
        for (what, r) in results {
            match r {
                // read_npz_info does not inflate data: it may accept a file
                // whose data stream lies about its length.
                Ok(nnz) if what == "read_npz_info" && tag.starts_with("lying") => {
                    assert!(nnz <= 1 << 17, "{tag}: {nnz}");
                }
                Ok(nnz) => panic!("{tag}: {what} accepted a zip bomb (nnz {nnz})"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&path.display().to_string()), "{tag}: {msg}");
                    if what != "read_npz_info" {
                        assert!(msg.contains(expect), "{tag}: {what}: {msg}");
                    }
                }
            }
        }
        eprintln!("{tag}: {} bytes, refused", bytes.len());
    }
    let peak = proc_status_kb("VmHWM:");
    if let (Some(base), Some(peak)) = (baseline, peak) {
        let grown_mb = peak.saturating_sub(base) / 1024;
        eprintln!("zip bombs: peak RSS grew by {grown_mb} MiB (bombs inflate to 256 MiB+)");
        assert!(
            grown_mb < 64,
            "peak RSS grew by {grown_mb} MiB while refusing zip bombs"
        );
        // The measurement itself sees memory that is touched.
        let before = proc_status_kb("VmRSS:").unwrap_or(0);
        let touched = vec![1u8; 96 << 20];
        let after = proc_status_kb("VmHWM:").unwrap_or(0);
        assert!(
            after.saturating_sub(before) / 1024 >= 64,
            "VmHWM did not see 96 MiB touched (RSS {before} KiB, then peak {after} KiB)"
        );
        drop(std::hint::black_box(touched));
    } else {
        eprintln!("zip bombs: /proc/self/status unavailable, peak RSS not measured");
    }
}

/// Found by the `npz` fuzz target: a member whose header length field is 0
/// or 1 is shorter than the preamble read before it; it is refused, not
/// sliced past its end.
#[test]
fn npz_members_with_tiny_header_lengths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (i, text_len) in [0u8, 1, 2].into_iter().enumerate() {
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&[text_len, 0]);
        npy.extend_from_slice(b"ab");
        let path = dir.path().join(format!("tiny{i}.npz"));
        fs::write(&path, zip(&[stored("format.npy", npy)])).unwrap();
        for result in [
            onedata::sparse::read_npz_info(&path).map(|_| ()),
            onedata::sparse::read_npz(&path).map(|_| ()),
        ] {
            let err = result.unwrap_err();
            assert!(err.to_string().contains("format.npy"), "{err}");
            assert!(err.to_string().contains(&format!("tiny{i}.npz")), "{err}");
        }
    }
}
