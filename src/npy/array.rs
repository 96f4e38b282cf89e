//! [`NpyArray`]: a loaded `.npy` array, mapped or owned, and its typed views.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytemuck::AnyBitPattern;
use ndarray::{ArrayD, ArrayView, ArrayViewD, Dimension, IxDyn, ShapeBuilder};

use super::dtype::{Dtype, Element, ElementKind, NpBool};
use super::header::Header;
use super::read::OpenedFile;
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
        let path = path.as_ref();
        let file = OpenedFile::open(path)?;
        let (header, mapped) = file.npy_header()?;
        let storage = match mapped {
            Some(storage) => storage,
            None => file.map()?,
        };
        let offset = header.data_offset();
        NpyArray::with_data_at(path, Arc::new(storage), header, offset)
    }

    /// Parses a whole `.npy` file held in memory, copying it into an aligned
    /// buffer. `path` names the source in errors.
    pub fn from_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<NpyArray> {
        let header = Header::parse(bytes).map_err(|e| Error::invalid(path.as_ref(), e))?;
        let data = bytes.get(header.data_offset()..).unwrap_or(&[]);
        let buf = AlignedBuf::copy_from(data);
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
        let available = storage.as_bytes().len().saturating_sub(offset);
        let data_len = match header.data_len() {
            Some(n) if n > available => {
                return Err(Error::invalid(
                    path,
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
            path: Arc::from(path),
        };
        if let Some(kind) = array.dtype.kind() {
            let aligned = (array.data_bytes().as_ptr() as usize) % kind.align() == 0;
            if !array.dtype.is_native() || !aligned {
                array.decode_to_native(kind);
            }
        }
        Ok(array)
    }

    /// Copies the data into an aligned buffer in native byte order.
    fn decode_to_native(&mut self, kind: ElementKind) {
        let mut buf = AlignedBuf::copy_from(self.data_bytes());
        if !self.dtype.is_native() {
            let unit = kind.swap_unit();
            for chunk in buf.as_bytes_mut().chunks_exact_mut(unit) {
                chunk.reverse();
            }
        }
        self.data = 0..buf.len();
        self.storage = Arc::new(Storage::Owned(buf));
        self.dtype = Dtype::native(kind);
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
    /// numeric arrays.
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

    /// Reads a mapped file's pages into memory now, in one system call,
    /// instead of one page fault per page on first touch: worth calling
    /// before a full pass over a large array. Does nothing for owned arrays.
    pub fn prefetch(&self) {
        self.storage.prefetch();
    }

    /// Bytes held in memory by this array's buffer (zero when mapped).
    pub fn owned_bytes(&self) -> usize {
        self.storage.owned_bytes()
    }

    /// The raw data bytes in native byte order, in the file's element order.
    pub fn data_bytes(&self) -> &[u8] {
        &self.storage.as_bytes()[self.data.clone()]
    }

    /// The numeric kind, or an "unsupported dtype" error.
    pub fn kind(&self) -> Result<ElementKind> {
        self.dtype.kind().ok_or_else(|| {
            Error::invalid(
                &*self.path,
                Fault::UnsupportedDtype {
                    descr: self.dtype.descr(),
                },
            )
        })
    }

    fn check_type<T: Element>(&self) -> Result<()> {
        if self.kind()? == T::KIND {
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
    /// type, and with an "unsupported dtype" error for non-numeric arrays.
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
}
