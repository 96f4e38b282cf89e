//! One `.npy` member of an `.npz` archive: its header read from the first
//! decompressed bytes, then its data decompressed straight into the buffer
//! that will own it, never past what the header promises.

use bytemuck::{AnyBitPattern, NoUninit, Zeroable};
use flate2::{Decompress, FlushDecompress, Status};

use super::zip::{Archive, Entry, Raw, DEFLATED, STORED};
use crate::error::{HeaderError, SparseError};
use crate::npy::{ElementKind, Header, MAX_HEADER_CHARS};

/// deflate's largest expansion: 258 bytes per 2-bit match code.
const DEFLATE_MAX_RATIO: u64 = 1032;
/// Slack for block headers and tiny streams.
const DEFLATE_SLACK: u64 = 1024;
/// Bytes decompressed and checksummed per step (stays in L2).
const CHUNK: usize = 1 << 18;
/// Data bytes from which a deflated member is inflated in one call of
/// libdeflate (faster than streaming) rather than streamed.
const WHOLE_STREAM_MIN: usize = 1 << 16;
/// Bytes of header read before its length is known.
const PREAMBLE: usize = 12;

enum Codec {
    Stored,
    Deflate(Box<Decompress>),
}

/// The decompressed byte stream of one member, checksummed as it goes.
struct Stream<'a> {
    name: String,
    input: &'a [u8],
    /// A prefix of `input` copied beforehand (see [`Raw`]): stored bytes
    /// are read from it where it holds them, sparing the map's pages.
    copy: &'a [u8],
    in_pos: usize,
    codec: Codec,
    ended: bool,
    crc: crc32fast::Hasher,
    expected_crc: u32,
    /// Uncompressed size recorded in the zip directory.
    total: u64,
}

/// A member whose header has been read, ready to decode its data.
pub(crate) struct Member<'a> {
    stream: Stream<'a>,
    header: Header,
}

impl std::fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.stream.name)
            .field("header", &self.header)
            .finish()
    }
}

/// `Some(member)` for the member `key` (`key` or `key.npy`) if the archive
/// has it.
pub(crate) fn open_optional<'a>(
    archive: &Archive<'a>,
    key: &str,
) -> Result<Option<Member<'a>>, SparseError> {
    match archive.find(key) {
        Some(entry) => Member::open(archive, entry).map(Some),
        None => Ok(None),
    }
}

/// The member `key` (`key` or `key.npy`), or a missing-member error.
pub(crate) fn open<'a>(archive: &Archive<'a>, key: &str) -> Result<Member<'a>, SparseError> {
    open_optional(archive, key)?.ok_or_else(|| SparseError::MissingMember(format!("{key}.npy")))
}

impl<'a> Member<'a> {
    /// Checks the member's sizes against what its compressed bytes can hold,
    /// then decodes and parses its `.npy` header.
    fn open(archive: &Archive<'a>, entry: &Entry) -> Result<Member<'a>, SparseError> {
        let name = entry.display_name();
        if entry.flags & 1 != 0 {
            return Err(SparseError::UnsupportedCompression {
                member: name,
                what: "encryption".into(),
            });
        }
        let Raw { data: input, copy } = archive.raw_data(entry)?;
        let codec = match entry.method {
            STORED => {
                if entry.uncompressed != entry.compressed {
                    return Err(SparseError::ImplausibleSize {
                        member: name,
                        claimed: entry.uncompressed,
                        compressed: entry.compressed,
                    });
                }
                Codec::Stored
            }
            DEFLATED => {
                let most = entry
                    .compressed
                    .saturating_mul(DEFLATE_MAX_RATIO)
                    .saturating_add(DEFLATE_SLACK);
                if entry.uncompressed > most {
                    return Err(SparseError::ImplausibleSize {
                        member: name,
                        claimed: entry.uncompressed,
                        compressed: entry.compressed,
                    });
                }
                Codec::Deflate(Box::new(Decompress::new(false)))
            }
            m => {
                return Err(SparseError::UnsupportedCompression {
                    member: name,
                    what: format!("compression method {m}"),
                })
            }
        };
        let mut stream = Stream {
            name,
            input,
            copy,
            in_pos: 0,
            codec,
            ended: false,
            crc: crc32fast::Hasher::new(),
            expected_crc: entry.crc,
            total: entry.uncompressed,
        };
        let header = stream.read_header()?;
        Ok(Member { stream, header })
    }

    /// The member's name in the archive.
    pub(crate) fn name(&self) -> &str {
        &self.stream.name
    }

    /// The member's `.npy` header.
    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        self.header.num_elements()
    }

    /// Bytes of data after the header.
    pub(crate) fn data_len(&self) -> usize {
        // Known to be `Some` since `read_header` checked it.
        self.header.data_len().unwrap_or(0)
    }

    /// A stored (not deflated) member's data bytes, in place in the
    /// archive, right after its header; `None` for a deflated member. The
    /// CRC is not checked (that would read every byte).
    pub(crate) fn stored_data(&self) -> Option<&'a [u8]> {
        self.stored_in(self.stream.input)
    }

    /// [`Member::stored_data`] from the copy read beforehand, when it
    /// holds all of it: the same bytes, read without touching the map.
    pub(crate) fn stored_copy(&self) -> Option<&'a [u8]> {
        self.stored_in(self.stream.copy)
    }

    fn stored_in(&self, input: &'a [u8]) -> Option<&'a [u8]> {
        match self.stream.codec {
            Codec::Stored => {
                let start = self.stream.in_pos;
                input.get(start..start.checked_add(self.data_len())?)
            }
            Codec::Deflate(_) => None,
        }
    }

    /// Decodes the data into `out` (exactly [`Member::data_len`] bytes),
    /// then checks the end of the stream and the CRC.
    pub(crate) fn read_into(mut self, out: &mut [u8]) -> Result<(), SparseError> {
        if out.len() != self.data_len() {
            let header = self.data_len() as u64;
            return Err(SparseError::MemberSizeMismatch {
                member: self.stream.name,
                header,
                zip: out.len() as u64,
            });
        }
        self.stream.read_exact(out)?;
        self.stream.finish()
    }

    /// Decodes the data as elements of `T` in native byte order: `T` must
    /// be the Rust type of the member's kind. Allocates exactly what the
    /// header promises and decompresses straight into it.
    pub(crate) fn read_vec<T: AnyBitPattern + NoUninit>(
        self,
        kind: ElementKind,
    ) -> Result<Vec<T>, SparseError> {
        let (mut v, start) = self.read_vec_at::<T>(kind)?;
        if start > 0 {
            let n = v.len() - start;
            v.copy_within(start.., 0);
            v.truncate(n);
        }
        Ok(v)
    }

    /// Like [`Member::read_vec`], but the elements may start at an offset
    /// of the vector returned with it (`v[start..]`), saving the move of a
    /// caller that copies them elsewhere anyway.
    pub(crate) fn read_vec_at<T: AnyBitPattern + NoUninit>(
        mut self,
        kind: ElementKind,
    ) -> Result<(Vec<T>, usize), SparseError> {
        let n = self.len();
        let size = std::mem::size_of::<T>();
        debug_assert_eq!(size, kind.itemsize());
        let native = self.header.dtype().is_native();
        let alloc = |count: usize, name: &str| {
            try_zeroed_vec::<T>(count).ok_or_else(|| SparseError::TooLarge {
                what: format!("archive member {name:?}"),
                bytes: count as u128 * size as u128,
            })
        };
        let mut v: Vec<T>;
        let mut start = 0;
        let head = self.header.data_offset();
        if self.data_len() >= WHOLE_STREAM_MIN
            && matches!(self.stream.codec, Codec::Deflate(_))
            && head.is_multiple_of(size.max(1))
        {
            // One call of libdeflate over the whole stream, header included,
            // into the vector itself (a few elements longer): the data starts
            // at element `head / size` (numpy pads headers to 64 bytes).
            v = alloc(n + head / size.max(1), &self.stream.name)?;
            start = head / size.max(1);
            self.stream
                .inflate_whole(bytemuck::cast_slice_mut(&mut v))?;
        } else {
            v = alloc(n, &self.stream.name)?;
            self.stream.read_exact(bytemuck::cast_slice_mut(&mut v))?;
            self.stream.finish()?;
        }
        if !native {
            let unit = kind.swap_unit();
            for c in bytemuck::cast_slice_mut::<T, u8>(&mut v[start..]).chunks_exact_mut(unit) {
                c.reverse();
            }
        }
        Ok((v, start))
    }

    /// For a large deflated member: inflates its whole stream (header
    /// included) in one call of libdeflate into a fresh buffer of header +
    /// data bytes and returns it with the offset of the data in it (numpy
    /// pads headers to 64 bytes, so the data is aligned). `Ok(None)` for a
    /// member better streamed: stored, or under 64 KiB.
    pub(crate) fn inflate_whole_padded(
        self,
    ) -> Result<Option<(crate::npy::AlignedBuf, usize)>, SparseError> {
        if self.data_len() < WHOLE_STREAM_MIN || !matches!(self.stream.codec, Codec::Deflate(_)) {
            return Ok(None);
        }
        let head = self.header.data_offset();
        let total = head
            .checked_add(self.data_len())
            .ok_or_else(|| SparseError::TooLarge {
                what: format!("archive member {:?}", self.stream.name),
                bytes: head as u128 + self.data_len() as u128,
            })?;
        // libdeflate writes every byte or the call fails.
        let mut buf = crate::npy::AlignedBuf::try_for_overwrite(total).ok_or_else(|| {
            SparseError::TooLarge {
                what: format!("archive member {:?}", self.stream.name),
                bytes: total as u128,
            }
        })?;
        self.stream.inflate_whole(buf.as_bytes_mut())?;
        Ok(Some((buf, head)))
    }

    /// Decodes the data as bytes (for the small `format` member).
    pub(crate) fn read_bytes(self) -> Result<Vec<u8>, SparseError> {
        let mut v = vec![0u8; self.data_len()];
        self.read_into(&mut v)?;
        Ok(v)
    }
}

impl Stream<'_> {
    fn header_error(&self, error: HeaderError) -> SparseError {
        SparseError::MemberHeader {
            member: self.name.clone(),
            error,
        }
    }

    fn read_header(&mut self) -> Result<Header, SparseError> {
        let header = match self.codec {
            Codec::Stored => self.read_stored_header(),
            Codec::Deflate(_) => self.read_header_copied(),
        }?;
        self.check_header(header)
    }

    /// A stored member's header, parsed where it lies (in the copy read
    /// beforehand when that holds it), without copying it.
    fn read_stored_header(&mut self) -> Result<Header, SparseError> {
        let first = (PREAMBLE as u64).min(self.total) as usize;
        let (copy, input) = (self.copy, self.input);
        let pick = |n: usize| copy.get(..n).or_else(|| input.get(..n));
        let short = || SparseError::Decompress {
            member: self.name.clone(),
            detail: "stored data is shorter than its size".into(),
        };
        let prefix = pick(first).ok_or_else(short)?;
        let needed = self.needed_header_len(prefix)?;
        let bytes = pick(needed).ok_or_else(short)?;
        self.crc.update(bytes);
        self.in_pos = needed;
        Header::parse(bytes).map_err(|e| self.header_error(e))
    }

    /// A deflated member's header, decoded into a buffer.
    fn read_header_copied(&mut self) -> Result<Header, SparseError> {
        let first = (PREAMBLE as u64).min(self.total) as usize;
        let mut buf = vec![0u8; first];
        self.read_exact(&mut buf)?;
        let needed = self.needed_header_len(&buf)?;
        buf.resize(needed, 0);
        self.read_exact(&mut buf[first..])?;
        Header::parse(&buf).map_err(|e| self.header_error(e))
    }

    /// The length of the header whose first bytes are `prefix`, checked
    /// against numpy's limit and the member's size.
    fn needed_header_len(&self, prefix: &[u8]) -> Result<usize, SparseError> {
        let total = self.total;
        let first = prefix.len();
        let needed = Header::required_len(prefix).map_err(|e| self.header_error(e))?;
        // numpy refuses headers over 10000 characters (4 bytes at most each).
        if needed > PREAMBLE + 4 * MAX_HEADER_CHARS {
            return Err(self.header_error(HeaderError::TooLarge(needed - PREAMBLE)));
        }
        if needed as u64 > total {
            return Err(self.header_error(Header::length_past_end(prefix, total)));
        }
        if needed < first {
            // A header text of under two bytes: the preamble already read
            // runs past it, and no dict fits in it anyway.
            let error = Header::parse(&prefix[..needed])
                .err()
                .unwrap_or(HeaderError::Syntax {
                    offset: 0,
                    what: "header text too short to hold a dict",
                });
            return Err(self.header_error(error));
        }
        Ok(needed)
    }

    /// Checks a parsed header against the member's size.
    fn check_header(&self, header: Header) -> Result<Header, SparseError> {
        let total = self.total;
        let data_len = header.data_len().ok_or_else(|| SparseError::MemberDtype {
            member: self.name.clone(),
            found: header.dtype().descr(),
            expected: "a numeric or bytes dtype",
        })?;
        let promised = (header.data_offset() as u64).saturating_add(data_len as u64);
        if promised != total {
            return Err(SparseError::MemberSizeMismatch {
                member: self.name.clone(),
                header: promised,
                zip: total,
            });
        }
        Ok(header)
    }

    /// Decodes the next `out.len()` bytes of the member.
    fn read_exact(&mut self, out: &mut [u8]) -> Result<(), SparseError> {
        let mut filled = 0;
        while filled < out.len() {
            let end = out.len().min(filled + CHUNK);
            let start = filled;
            match &mut self.codec {
                Codec::Stored => {
                    let n = end - start;
                    let range = self.in_pos..self.in_pos + n;
                    let src = self
                        .copy
                        .get(range.clone())
                        .or_else(|| self.input.get(range))
                        .ok_or_else(|| SparseError::Decompress {
                            member: self.name.clone(),
                            detail: "stored data is shorter than its size".into(),
                        })?;
                    out[start..end].copy_from_slice(src);
                    self.in_pos += n;
                    filled = end;
                }
                Codec::Deflate(d) => {
                    while filled < end {
                        if self.ended {
                            return Err(SparseError::MemberSizeMismatch {
                                member: self.name.clone(),
                                header: self.total,
                                zip: d.total_out(),
                            });
                        }
                        let (in0, out0) = (d.total_in(), d.total_out());
                        let rest = self.input.get(self.in_pos..).unwrap_or(&[]);
                        let status = d
                            .decompress(rest, &mut out[filled..end], FlushDecompress::None)
                            .map_err(|e| SparseError::Decompress {
                                member: self.name.clone(),
                                detail: format!("corrupt deflate data: {e}"),
                            })?;
                        let consumed = (d.total_in() - in0) as usize;
                        let produced = (d.total_out() - out0) as usize;
                        self.in_pos += consumed;
                        filled += produced;
                        match status {
                            Status::StreamEnd => self.ended = true,
                            Status::Ok | Status::BufError if consumed == 0 && produced == 0 => {
                                return Err(SparseError::Decompress {
                                    member: self.name.clone(),
                                    detail: "deflate data is truncated".into(),
                                });
                            }
                            _ => {}
                        }
                    }
                }
            }
            self.crc.update(&out[start..end]);
        }
        Ok(())
    }

    /// Decompresses the whole member, header included, into `out` (exactly
    /// its uncompressed size) with libdeflate, and checks its CRC.
    fn inflate_whole(self, out: &mut [u8]) -> Result<(), SparseError> {
        let mut d = libdeflater::Decompressor::new();
        match d.deflate_decompress(self.input, out) {
            Ok(n) if n == out.len() => {}
            Ok(n) => {
                return Err(SparseError::MemberSizeMismatch {
                    member: self.name,
                    header: self.total,
                    zip: n as u64,
                })
            }
            Err(libdeflater::DecompressionError::InsufficientSpace) => {
                return Err(SparseError::MemberSizeMismatch {
                    member: self.name,
                    header: self.total,
                    zip: self.total + 1,
                })
            }
            Err(libdeflater::DecompressionError::BadData) => {
                return Err(SparseError::Decompress {
                    member: self.name,
                    detail: "corrupt or truncated deflate data".into(),
                })
            }
        }
        let actual = crc32fast::hash(out);
        if actual != self.expected_crc {
            return Err(SparseError::CrcMismatch {
                member: self.name,
                expected: self.expected_crc,
                actual,
            });
        }
        Ok(())
    }

    /// Checks that the member ends where its header says and that its
    /// CRC-32 matches.
    fn finish(mut self) -> Result<(), SparseError> {
        if let Codec::Deflate(d) = &mut self.codec {
            if !self.ended {
                let mut scratch = [0u8; 64];
                let rest = self.input.get(self.in_pos..).unwrap_or(&[]);
                let out0 = d.total_out();
                let status = d
                    .decompress(rest, &mut scratch, FlushDecompress::Finish)
                    .map_err(|e| SparseError::Decompress {
                        member: self.name.clone(),
                        detail: format!("corrupt deflate data: {e}"),
                    })?;
                let produced = d.total_out() - out0;
                if produced > 0 {
                    return Err(SparseError::MemberSizeMismatch {
                        member: self.name.clone(),
                        header: self.total,
                        zip: out0 + produced,
                    });
                }
                if status != Status::StreamEnd {
                    return Err(SparseError::Decompress {
                        member: self.name.clone(),
                        detail: "deflate data is truncated".into(),
                    });
                }
            }
        }
        let actual = self.crc.finalize();
        if actual != self.expected_crc {
            return Err(SparseError::CrcMismatch {
                member: self.name,
                expected: self.expected_crc,
                actual,
            });
        }
        Ok(())
    }
}

/// A zeroed vector of `n` elements, or `None` when the memory cannot be had
/// (a fallible request first, so that a hostile size is an error, not an
/// abort; the zeroed allocation of a large size maps fresh zero pages).
pub(crate) fn try_zeroed_vec<T: Zeroable>(n: usize) -> Option<Vec<T>> {
    let mut probe: Vec<T> = Vec::new();
    probe.try_reserve_exact(n).ok()?;
    drop(probe);
    Some(bytemuck::zeroed_vec(n))
}
