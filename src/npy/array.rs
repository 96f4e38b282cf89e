//! [`NpyArray`]: a loaded `.npy` array, mapped or owned, and its typed views.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytemuck::AnyBitPattern;
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn, ShapeBuilder};

use super::dtype::{ByteOrder, Dtype, Element, ElementKind, NpBool, OtherKind};
use super::header::Header;
use super::storage::{AlignedBuf, Storage};
use crate::error::{Error, ErrorKind, Fault, HeaderError, Result};

/// A loaded `.npy` array.
///
/// The bytes are either a read-only memory map of the file (native byte order
/// and aligned data: the common case, opened in constant time whatever the
/// size) or an owned buffer (big-endian or misaligned files, decoded once into
/// native order; in-memory arrays). Cloning is cheap: clones share the bytes,
/// which stay valid as long as any clone or view lives.
///
/// ```
/// # fn main() -> onedata::Result<()> {
/// use ndarray::array;
/// use onedata::npy::{write_npy, NpyArray};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("mpci.times.npy");
/// write_npy(&path, &array![[1.0f32, 2.0], [3.0, 4.0]])?;
///
/// let arr = NpyArray::open(&path)?;
/// assert_eq!(arr.dtype().descr(), "<f4");
/// assert_eq!(arr.shape(), &[2, 2]);
/// let view = arr.view2::<f32>()?; // zero copy
/// assert_eq!(view[[1, 0]], 3.0);
/// assert!(arr.view::<f64>().is_err()); // wrong type: a typed error
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct NpyArray {
    storage: Arc<Storage>,
    header: Header,
    dtype: Dtype,
    data: Range<usize>,
    path: Arc<Path>,
}

impl std::fmt::Debug for NpyArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyArray")
            .field("path", &self.path)
            .field("dtype", &self.dtype.descr())
            .field("shape", &self.shape())
            .field("fortran_order", &self.is_fortran())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl NpyArray {
    /// Opens a `.npy` file: maps it, validates the header and checks that the
    /// file holds all the data the header promises, so that no later access
    /// can fault on a missing page.
    pub fn open(path: impl AsRef<Path>) -> Result<NpyArray> {
        super::NpyStored::open(path)?.into_array()
    }

    /// [`NpyArray::open`] with a choice of when to map the file and when to
    /// read it into memory (see [`MapPolicy`](super::MapPolicy)).
    pub fn open_with(path: impl AsRef<Path>, policy: super::MapPolicy) -> Result<NpyArray> {
        super::NpyStored::open_with(path, policy)?.into_array()
    }

    /// Parses a whole `.npy` file held in memory, copying it into an aligned
    /// buffer. `path` names the source in errors.
    pub fn from_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<NpyArray> {
        let header = Header::parse(bytes).map_err(|e| Error::invalid(path.as_ref(), e))?;
        let data = bytes.get(header.data_offset()..).unwrap_or(&[]);
        let buf = AlignedBuf::try_copy_from(data).ok_or_else(|| {
            Error::out_of_memory(
                format!("a copy of {}", path.as_ref().display()),
                data.len() as u128,
            )
        })?;
        NpyArray::from_parts(path.as_ref(), header, buf)
    }

    /// Builds an array from a parsed header and a buffer that holds its data
    /// from offset 0 (used by decoders that write straight into the buffer).
    pub(crate) fn from_parts(path: &Path, header: Header, buf: AlignedBuf) -> Result<NpyArray> {
        let storage = Arc::new(Storage::Owned(buf));
        NpyArray::with_data_at(path, storage, header, 0)
    }

    fn with_data_at(
        path: &Path,
        storage: Arc<Storage>,
        header: Header,
        offset: usize,
    ) -> Result<NpyArray> {
        NpyArray::with_data_at_shared(Arc::from(path), storage, header, offset)
    }

    /// [`NpyArray::with_data_at`] with the path already shared.
    pub(super) fn with_data_at_shared(
        path: Arc<Path>,
        storage: Arc<Storage>,
        header: Header,
        offset: usize,
    ) -> Result<NpyArray> {
        let available = storage.as_bytes().len().saturating_sub(offset);
        let data_len = match header.data_len() {
            Some(n) if n > available => {
                return Err(Error::invalid(
                    &*path,
                    Fault::Truncated {
                        offset: header.data_offset() as u64,
                        expected: n as u64,
                        actual: available as u64,
                    },
                ))
            }
            Some(n) => n,
            None => available,
        };
        let mut array = NpyArray {
            dtype: header.dtype().clone(),
            header,
            data: offset..offset + data_len,
            storage,
            path,
        };
        let (swap, align) = match array.dtype.kind() {
            Some(kind) => (kind.swap_unit(), kind.align()),
            // `U` is viewed as `u32`, datetimes as `i64`; the others as bytes.
            None => {
                let swap = array.dtype.other_swap_unit();
                let align = match swap {
                    Some(16) | None => 1,
                    Some(unit) => unit,
                };
                (swap.unwrap_or(1), align)
            }
        };
        let aligned = (array.data_bytes().as_ptr() as usize).is_multiple_of(align);
        let native = match array.dtype.byte_order() {
            Some(order) => order == ByteOrder::NATIVE,
            None => true,
        };
        if !native || !aligned {
            array.decode_to_native(swap, native)?;
        }
        Ok(array)
    }

    /// Copies the data into an aligned buffer in native byte order,
    /// reversing each `unit` bytes when the file's order is not native.
    /// Fails when memory for the copy (the size of the file's data) cannot
    /// be had.
    fn decode_to_native(&mut self, unit: usize, native: bool) -> Result<()> {
        let bytes = self.data_bytes();
        let mut buf = AlignedBuf::try_copy_from(bytes).ok_or_else(|| {
            Error::out_of_memory(
                format!("a native-order copy of {}", self.path.display()),
                bytes.len() as u128,
            )
        })?;
        if !native {
            for chunk in buf.as_bytes_mut().chunks_exact_mut(unit) {
                chunk.reverse();
            }
        }
        self.data = 0..buf.len();
        self.storage = Arc::new(Storage::Owned(buf));
        self.dtype = self.dtype.to_native();
        Ok(())
    }

    /// An owned array holding a copy of `array`'s elements in C order.
    /// `label` names it in errors (recipe results are labelled by their
    /// recipe file).
    ///
    /// ```
    /// use ndarray::array;
    /// let a = onedata::npy::NpyArray::from_array("computed", &array![[1i32, 2], [3, 4]]);
    /// assert!(!a.is_mapped());
    /// assert_eq!(a.view2::<i32>().unwrap()[[1, 0]], 3);
    /// ```
    pub fn from_array<S, D>(label: impl AsRef<Path>, array: &ndarray::ArrayBase<S, D>) -> NpyArray
    where
        S: ndarray::Data,
        S::Elem: Element,
        D: Dimension,
    {
        let kind = <S::Elem as Element>::KIND;
        let header = Header::new(Dtype::native(kind), false, array.shape());
        let mut buf = AlignedBuf::zeroed(array.len() * kind.itemsize());
        match array.as_slice() {
            Some(slice) => buf
                .as_bytes_mut()
                .copy_from_slice(bytemuck::cast_slice(slice)),
            None => {
                let size = kind.itemsize();
                for (chunk, x) in buf.as_bytes_mut().chunks_exact_mut(size).zip(array.iter()) {
                    chunk.copy_from_slice(bytemuck::bytes_of(x));
                }
            }
        }
        let storage = Arc::new(Storage::Owned(buf));
        let data_len = storage.as_bytes().len();
        NpyArray {
            dtype: header.dtype().clone(),
            header,
            data: 0..data_len,
            storage,
            path: Arc::from(label.as_ref()),
        }
    }

    /// The transpose (axes reversed), sharing the same bytes: a C-order
    /// array becomes a Fortran-order one and the reverse. No copy, whatever
    /// the size, as numpy's `a.T`.
    ///
    /// ```
    /// use ndarray::array;
    /// let a = onedata::npy::NpyArray::from_array("a", &array![[1u8, 2, 3], [4, 5, 6]]);
    /// let t = a.transposed();
    /// assert_eq!(t.shape(), &[3, 2]);
    /// assert_eq!(t.view2::<u8>().unwrap(), array![[1u8, 4], [2, 5], [3, 6]]);
    /// ```
    pub fn transposed(&self) -> NpyArray {
        if self.ndim() < 2 {
            return self.clone();
        }
        let shape: Vec<usize> = self.shape().iter().rev().copied().collect();
        NpyArray {
            storage: self.storage.clone(),
            header: Header::new(self.header.dtype().clone(), !self.is_fortran(), &shape),
            dtype: self.dtype.clone(),
            data: self.data.clone(),
            path: self.path.clone(),
        }
    }

    /// The file (or source) the array came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header as read from the file (its dtype may be big-endian).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The dtype of the data as held in memory: always native byte order for
    /// numbers, `U` strings, datetimes and long doubles (big-endian files
    /// are decoded once when opened).
    pub fn dtype(&self) -> &Dtype {
        &self.dtype
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.header.shape()
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.header.num_elements()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the data is in Fortran (column-major) order.
    pub fn is_fortran(&self) -> bool {
        self.header.fortran_order()
    }

    /// Whether the data is read straight from a memory map (zero copy).
    pub fn is_mapped(&self) -> bool {
        self.storage.is_mapped()
    }

    /// Whether no other program can change these bytes under a view: true
    /// for owned bytes, and for a map holding a lease on its file (Linux,
    /// local filesystems: a writer that opens or truncates the file waits
    /// until the map has moved into private memory, with the same values at
    /// the same addresses). False for a map without a lease, whose bytes
    /// follow the file if another program rewrites it in place. See
    /// [`MapPolicy`](crate::npy::MapPolicy).
    pub fn is_protected(&self) -> bool {
        self.storage.is_protected()
    }

    /// Reads a mapped file's pages into memory now, in one system call,
    /// instead of one page fault per page on first touch: worth calling
    /// before a full pass over a large array. Does nothing for owned arrays.
    pub fn prefetch(&self) {
        self.storage.prefetch();
    }

    /// Bytes held in memory by this array's buffer: zero when mapped, until
    /// another program opens the file for writing and the map's bytes move
    /// into private memory (see [`is_protected`](Self::is_protected)).
    pub fn owned_bytes(&self) -> usize {
        self.storage.owned_bytes()
    }

    /// Bytes still mapped from the file (zero for owned arrays, and for maps
    /// whose bytes a writer's `open` moved into memory).
    pub fn mapped_bytes(&self) -> usize {
        self.storage.mapped_bytes()
    }

    /// The raw data bytes in native byte order, in the file's element order.
    pub fn data_bytes(&self) -> &[u8] {
        &self.storage.as_bytes()[self.data.clone()]
    }

    /// The numeric kind: an "unsupported dtype" error for object arrays, a
    /// [`ErrorKind::TypeMismatch`](crate::ErrorKind::TypeMismatch) for the
    /// other non-numeric dtypes (strings, datetimes, records, ...).
    pub fn kind(&self) -> Result<ElementKind> {
        match self.dtype.kind() {
            Some(kind) => Ok(kind),
            None if self.dtype == Dtype::Object => Err(self.unsupported()),
            None => Err(Error::new(ErrorKind::TypeMismatch {
                path: self.path.to_path_buf(),
                requested: "a numeric dtype",
                found: self.dtype.descr(),
            })),
        }
    }

    fn check_type<T: Element>(&self) -> Result<()> {
        let kind = match self.dtype {
            Dtype::Object => Some(self.kind()?),
            _ => self.dtype.kind(),
        };
        if kind == Some(T::KIND) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::TypeMismatch {
                path: self.path.to_path_buf(),
                requested: T::KIND.native_descr(),
                found: self.dtype.descr(),
            }))
        }
    }

    /// A zero-copy view of the elements as `T`, in the file's memory order
    /// (Fortran files give a view with Fortran strides).
    ///
    /// Fails with [`ErrorKind::TypeMismatch`](crate::ErrorKind::TypeMismatch) if `T` is not the array's element
    /// type (strings, datetimes and records have their own accessors:
    /// [`NpyArray::strings`], [`NpyArray::datetimes`], [`NpyArray::raw_view`]),
    /// and with an "unsupported dtype" error for object arrays.
    /// Boolean arrays are viewed as [`NpBool`].
    pub fn view<T: Element + AnyBitPattern>(&self) -> Result<ArrayViewD<'_, T>> {
        self.check_type::<T>()?;
        let bytes = self.data_bytes();
        // Cannot fail: data is aligned for the kind and a whole number of elements.
        let elems: &[T] = bytemuck::try_cast_slice(bytes)
            .map_err(|_| Error::invalid(&*self.path, HeaderError::DimensionTooLarge))?;
        let shape = IxDyn(self.shape()).set_f(self.is_fortran());
        ArrayView::from_shape(shape, elems)
            .map_err(|_| Error::invalid(&*self.path, HeaderError::DimensionTooLarge))
    }

    /// A zero-copy view with a fixed number of dimensions (`Ix1`, `Ix2`, ...).
    pub fn view_dim<T: Element + AnyBitPattern, D: Dimension>(
        &self,
    ) -> Result<ArrayView<'_, T, D>> {
        let found = self.ndim();
        self.view::<T>()?.into_dimensionality::<D>().map_err(|_| {
            Error::new(ErrorKind::DimensionMismatch {
                path: self.path.to_path_buf(),
                requested: D::NDIM.unwrap_or(found),
                found,
            })
        })
    }

    /// A zero-copy one-dimensional view.
    pub fn view1<T: Element + AnyBitPattern>(&self) -> Result<ndarray::ArrayView1<'_, T>> {
        self.view_dim()
    }

    /// A zero-copy two-dimensional view (frames x ROIs for spks matrices).
    pub fn view2<T: Element + AnyBitPattern>(&self) -> Result<ndarray::ArrayView2<'_, T>> {
        self.view_dim()
    }

    /// A boolean array as Rust `bool`s (a copy: any non-zero byte is `true`).
    pub fn to_bool(&self) -> Result<ArrayD<bool>> {
        Ok(self.view::<NpBool>()?.map(|b| b.get()))
    }

    /// The bytes per element, or an "unsupported dtype" error for object
    /// arrays (whose data is a pickle).
    pub fn itemsize(&self) -> Result<usize> {
        self.dtype.itemsize().ok_or_else(|| self.unsupported())
    }

    fn unsupported(&self) -> Error {
        Error::invalid(
            &*self.path,
            Fault::UnsupportedDtype {
                descr: self.dtype.descr(),
            },
        )
    }

    fn other_kind(
        &self,
        requested: &'static str,
        fits: fn(&OtherKind) -> bool,
    ) -> Result<OtherKind> {
        match self.dtype.other_kind() {
            Some(k) if fits(&k) => Ok(k),
            _ if self.dtype == Dtype::Object => Err(self.unsupported()),
            _ => Err(Error::new(ErrorKind::TypeMismatch {
                path: self.path.to_path_buf(),
                requested,
                found: self.dtype.descr(),
            })),
        }
    }

    /// A zero-copy view of the data as `T` with one more axis, of
    /// `per_element` items, holding each element's items (the file's memory
    /// order for the outer axes, the element's items contiguous).
    fn element_view<T: AnyBitPattern>(&self, per_element: usize) -> Result<ArrayViewD<'_, T>> {
        let bad = || Error::invalid(&*self.path, HeaderError::DimensionTooLarge);
        let items: &[T] = bytemuck::try_cast_slice(self.data_bytes()).map_err(|_| bad())?;
        let outer = self.shape();
        let mut shape: Vec<usize> = outer.to_vec();
        shape.push(per_element);
        if shape.contains(&0) {
            // No element: any layout will do (ndarray refuses some strides here).
            return ArrayView::from_shape(IxDyn(&shape), &items[..0]).map_err(|_| bad());
        }
        let mut strides = vec![0usize; shape.len()];
        strides[outer.len()] = 1;
        let mut step = per_element;
        let axes: Vec<usize> = if self.is_fortran() {
            (0..outer.len()).collect()
        } else {
            (0..outer.len()).rev().collect()
        };
        for axis in axes {
            strides[axis] = step;
            step = step.saturating_mul(outer[axis]);
        }
        ArrayView::from_shape(IxDyn(&shape).strides(IxDyn(&strides)), items).map_err(|_| bad())
    }

    /// A zero-copy view of every element's bytes, for any dtype but objects:
    /// the array's shape with one more axis of [`NpyArray::itemsize`] bytes.
    /// This is how void (`V`) and structured records are read (see
    /// [`Dtype::fields`] for where each field lies), and long doubles
    /// (`f16`, `c32`: the platform's bytes, in native byte order).
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// use ndarray::array;
    /// let a = onedata::npy::NpyArray::from_array("a", &array![[1u16, 2], [3, 4]]);
    /// let raw = a.raw_view()?;
    /// assert_eq!(raw.shape(), &[2, 2, 2]);
    /// assert_eq!(raw[[1, 0, 0]], 3u16.to_ne_bytes()[0]);
    /// # Ok(()) }
    /// ```
    pub fn raw_view(&self) -> Result<ArrayViewD<'_, u8>> {
        let size = self.itemsize()?;
        self.element_view(size)
    }

    /// A copy of rows `rows` (along the first axis), in C order, owning its
    /// memory: what `a[start:stop].copy()` gives in numpy.
    ///
    /// ```
    /// use ndarray::array;
    /// let a = onedata::npy::NpyArray::from_array("a", &array![[1i32, 2], [3, 4], [5, 6]]);
    /// let rows = a.rows(1..3).unwrap();
    /// assert_eq!(rows.shape(), [2, 2]);
    /// assert_eq!(rows.view2::<i32>().unwrap(), array![[3, 4], [5, 6]]);
    /// assert!(a.rows(2..4).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// for a 0-d array or rows past its first axis; out of memory.
    pub fn rows(&self, rows: std::ops::Range<usize>) -> Result<NpyArray> {
        let n = self.shape().first().copied().ok_or_else(|| {
            Error::argument(format!("{}: a 0-d array has no rows", self.path.display()))
        })?;
        if rows.start > rows.end || rows.end > n {
            return Err(Error::argument(format!(
                "{}: rows {}..{} are not within its {n} rows",
                self.path.display(),
                rows.start,
                rows.end
            )));
        }
        let raw = self.raw_view()?;
        let part = raw.slice_axis(ndarray::Axis(0), ndarray::Slice::from(rows.clone()));
        let mut shape = self.shape().to_vec();
        shape[0] = rows.end - rows.start;
        let header = Header::new(self.dtype.clone(), false, &shape);
        let buf = match part.as_slice() {
            Some(bytes) => AlignedBuf::try_copy_from(bytes),
            None => AlignedBuf::try_copy_from(&part.iter().copied().collect::<Vec<u8>>()),
        }
        .ok_or_else(|| {
            Error::out_of_memory(
                format!("rows of {}", self.path.display()),
                part.len() as u128,
            )
        })?;
        NpyArray::from_parts(&self.path, header, buf)
    }

    /// Each element's bytes in C (row-major) order, whatever the memory
    /// order: borrowed from the data, one slice of [`NpyArray::itemsize`]
    /// bytes per element.
    pub fn element_bytes(&self) -> Result<Vec<&[u8]>> {
        let size = self.itemsize()?;
        let data = self.data_bytes();
        if size == 0 {
            return Ok(vec![&data[..0]; self.len()]);
        }
        let raw = self.element_view::<u8>(size)?;
        let last = ndarray::Axis(raw.ndim() - 1);
        Ok(raw
            .lanes(last)
            .into_iter()
            .map(|lane| {
                // Each lane is contiguous: its first byte's place in the data.
                let start = lane.as_ptr() as usize - data.as_ptr() as usize;
                &data[start..start + size]
            })
            .collect())
    }

    /// A zero-copy view of a `U` array's UTF-32 code units in native byte
    /// order: the array's shape with one more axis of the dtype's length
    /// (NUL-padded, as numpy stores them).
    pub fn utf32_view(&self) -> Result<ArrayViewD<'_, u32>> {
        match self.other_kind("unicode (<U)", |k| matches!(k, OtherKind::Unicode { .. }))? {
            OtherKind::Unicode { chars } => self.element_view(chars),
            _ => unreachable!(),
        }
    }

    /// The strings of a `U` array in C order, as numpy gives them (trailing
    /// NULs stripped; NULs inside a string kept). A code unit that is no
    /// Unicode scalar value (a surrogate, or past U+10FFFF) is a
    /// [`Fault::InvalidCodePoint`].
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// let mut file = onedata::npy::Header::new(
    ///     onedata::npy::Dtype::parse("<U2").unwrap(), false, &[2]).to_bytes();
    /// for c in ['é', 't', 'x', '\0'] {
    ///     file.extend_from_slice(&(c as u32).to_le_bytes());
    /// }
    /// let a = onedata::npy::NpyArray::from_bytes("a.npy", &file)?;
    /// assert_eq!(a.strings()?, ["ét", "x"]);
    /// # Ok(()) }
    /// ```
    pub fn strings(&self) -> Result<Vec<String>> {
        let units = self.utf32_view()?;
        let last = ndarray::Axis(units.ndim() - 1);
        // `len` comes from the header: a `<U0` array of any shape has no data.
        let mut out = crate::memory::try_with_capacity(self.len(), || {
            format!("the strings of {}", self.path.display())
        })?;
        for (index, lane) in units.lanes(last).into_iter().enumerate() {
            let len = lane.iter().rposition(|&u| u != 0).map_or(0, |i| i + 1);
            let mut s = String::with_capacity(len);
            for &u in lane.iter().take(len) {
                match char::from_u32(u) {
                    Some(c) => s.push(c),
                    None => {
                        return Err(Error::invalid(
                            &*self.path,
                            Fault::InvalidCodePoint {
                                index,
                                code_point: u,
                            },
                        ))
                    }
                }
            }
            out.push(s);
        }
        Ok(out)
    }

    /// The elements of an `S` array in C order, as numpy gives them:
    /// borrowed from the data, trailing NULs stripped (NULs inside kept).
    ///
    /// ```
    /// # fn main() -> onedata::Result<()> {
    /// let mut file = onedata::npy::Header::new(
    ///     onedata::npy::Dtype::parse("|S3").unwrap(), false, &[2]).to_bytes();
    /// file.extend_from_slice(b"a\0bc\0\0");
    /// let a = onedata::npy::NpyArray::from_bytes("a.npy", &file)?;
    /// assert_eq!(a.bytes_elements()?, [&b"a\0b"[..], b"c"]);
    /// # Ok(()) }
    /// ```
    pub fn bytes_elements(&self) -> Result<Vec<&[u8]>> {
        self.other_kind("bytes (|S)", |k| matches!(k, OtherKind::Bytes { .. }))?;
        Ok(self
            .element_bytes()?
            .into_iter()
            .map(|b| &b[..b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1)])
            .collect())
    }

    /// A zero-copy view of a datetime (`M8`) or timedelta (`m8`) array as
    /// `i64` counts of its unit ([`Dtype::datetime_unit`]), in the file's
    /// memory order; [`NAT`](super::NAT) (`i64::MIN`) is "not a time".
    pub fn datetimes(&self) -> Result<ArrayViewD<'_, i64>> {
        self.other_kind("datetime64/timedelta64 (<M8, <m8)", |k| {
            matches!(k, OtherKind::Datetime(_) | OtherKind::Timedelta(_))
        })?;
        let bad = || Error::invalid(&*self.path, HeaderError::DimensionTooLarge);
        let elems: &[i64] = bytemuck::try_cast_slice(self.data_bytes()).map_err(|_| bad())?;
        let shape = IxDyn(self.shape()).set_f(self.is_fortran());
        ArrayView::from_shape(shape, elems).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> NpyArray {
        let mut bytes = Header::new(Dtype::parse(descr).unwrap(), fortran, shape).to_bytes();
        bytes.extend_from_slice(data);
        NpyArray::from_bytes("t.npy", &bytes).unwrap()
    }

    fn utf32(s: &[char], order: ByteOrder) -> Vec<u8> {
        s.iter()
            .flat_map(|&c| match order {
                ByteOrder::Little => (c as u32).to_le_bytes(),
                ByteOrder::Big => (c as u32).to_be_bytes(),
            })
            .collect()
    }

    #[test]
    fn unicode_strings_in_either_byte_order_and_memory_order() {
        let chars = [
            'a', '\0', 'é', 'x', '🐭', '\0', 'b', '\0', '\0', '\0', 'z', 'q',
        ];
        // 2 x 3 elements of 2 chars each.
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let descr = if order == ByteOrder::Little {
                "<U2"
            } else {
                ">U2"
            };
            let c = file(descr, false, &[2, 3], &utf32(&chars, order));
            assert_eq!(c.strings().unwrap(), ["a", "éx", "🐭", "b", "", "zq"]);
            assert_eq!(c.dtype().descr(), "<U2");
            // The same bytes read as Fortran order: the transpose's elements.
            let f = file(descr, true, &[3, 2], &utf32(&chars, order));
            assert_eq!(f.strings().unwrap(), ["a", "b", "éx", "", "🐭", "zq"]);
            assert_eq!(f.utf32_view().unwrap().shape(), &[3, 2, 2]);
        }
    }

    #[test]
    fn empty_and_zero_width_arrays_have_no_strings() {
        assert!(file("<U1", false, &[0], &[]).strings().unwrap().is_empty());
        assert!(file("<U3", false, &[2, 0], &[])
            .strings()
            .unwrap()
            .is_empty());
        assert_eq!(
            file("|S0", false, &[2], &[])
                .bytes_elements()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            file("|V0", false, &[2], &[]).raw_view().unwrap().shape(),
            &[2, 0]
        );
    }

    #[test]
    fn invalid_code_points_are_a_typed_fault() {
        let mut data = utf32(&['a', 'b'], ByteOrder::Little);
        data.extend_from_slice(&0xd800u32.to_le_bytes());
        data.extend_from_slice(&0x110000u32.to_le_bytes());
        let a = file("<U2", false, &[2], &data);
        match a.strings().unwrap_err().fault() {
            Some(Fault::InvalidCodePoint { index, code_point }) => {
                assert_eq!((*index, *code_point), (1, 0xd800))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn datetimes_decode_big_endian_once() {
        let data: Vec<u8> = [5i64, i64::MIN, -1]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let a = file(">M8[D]", false, &[3], &data);
        assert_eq!(a.dtype().descr(), "<M8[D]");
        let v: Vec<i64> = a.datetimes().unwrap().iter().copied().collect();
        assert_eq!(v, [5, crate::npy::NAT, -1]);
        assert!(a.strings().is_err() && a.view::<i64>().is_err());
    }
}
