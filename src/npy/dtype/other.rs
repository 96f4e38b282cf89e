//! The dtypes other than numbers and objects: strings, bytes, datetimes
//! and timedeltas with their unit, records and their fields, voids, long
//! doubles.

use super::*;

/// The base unit of a numpy `datetime64` (`M8`) or `timedelta64` (`m8`)
/// dtype, as `numpy.datetime_data` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeBase {
    /// No unit (`M8`, `m8`): numpy's generic unit.
    Generic,
    /// `Y`
    Years,
    /// `M`
    Months,
    /// `W`
    Weeks,
    /// `D`
    Days,
    /// `h`
    Hours,
    /// `m`
    Minutes,
    /// `s`
    Seconds,
    /// `ms`
    Milliseconds,
    /// `us`
    Microseconds,
    /// `ns`
    Nanoseconds,
    /// `ps`
    Picoseconds,
    /// `fs`
    Femtoseconds,
    /// `as`
    Attoseconds,
}

impl TimeBase {
    const ALL: [TimeBase; 14] = [
        TimeBase::Generic,
        TimeBase::Years,
        TimeBase::Months,
        TimeBase::Weeks,
        TimeBase::Days,
        TimeBase::Hours,
        TimeBase::Minutes,
        TimeBase::Seconds,
        TimeBase::Milliseconds,
        TimeBase::Microseconds,
        TimeBase::Nanoseconds,
        TimeBase::Picoseconds,
        TimeBase::Femtoseconds,
        TimeBase::Attoseconds,
    ];

    /// numpy's code for the unit: `"D"`, `"s"`, `"us"`, ... (`"generic"`
    /// for the generic unit, as `numpy.datetime_data` gives it).
    pub const fn code(self) -> &'static str {
        match self {
            TimeBase::Generic => "generic",
            TimeBase::Years => "Y",
            TimeBase::Months => "M",
            TimeBase::Weeks => "W",
            TimeBase::Days => "D",
            TimeBase::Hours => "h",
            TimeBase::Minutes => "m",
            TimeBase::Seconds => "s",
            TimeBase::Milliseconds => "ms",
            TimeBase::Microseconds => "us",
            TimeBase::Nanoseconds => "ns",
            TimeBase::Picoseconds => "ps",
            TimeBase::Femtoseconds => "fs",
            TimeBase::Attoseconds => "as",
        }
    }
}

/// The unit of a datetime or timedelta dtype: `numpy.datetime_data(dtype)`,
/// a base unit and a multiplier (`M8[25ms]` is 25 milliseconds).
///
/// Each element is an `i64` count of this unit (since 1970-01-01T00:00 for
/// datetimes); `i64::MIN` is NaT, "not a time", as in numpy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatetimeUnit {
    /// The base unit.
    pub base: TimeBase,
    /// How many base units one step is (1 unless the dtype says otherwise).
    pub count: u64,
}

/// numpy's "not a time" value of `datetime64` and `timedelta64` elements.
pub const NAT: i64 = i64::MIN;

/// What a dtype other than numbers and objects holds: the kinds
/// [`Dtype::Other`] covers, read from its descr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtherKind {
    /// `U<n>`: `n` characters, each one UTF-32 code unit, NUL-padded.
    Unicode {
        /// Characters per element (the itemsize is four times this).
        chars: usize,
    },
    /// `S<n>`: `n` bytes, NUL-padded.
    Bytes {
        /// Bytes per element.
        len: usize,
    },
    /// `M8[unit]`: `datetime64`, an `i64` per element.
    Datetime(DatetimeUnit),
    /// `m8[unit]`: `timedelta64`, an `i64` per element.
    Timedelta(DatetimeUnit),
    /// `f16` (`numpy.longdouble`): the platform's long double, kept as raw bytes.
    LongDouble,
    /// `c32` (`numpy.clongdouble`): two long doubles, real then imaginary.
    ComplexLongDouble,
    /// `V<n>` without fields (also subarray dtypes): `n` opaque bytes.
    Void {
        /// Bytes per element.
        size: usize,
    },
    /// A structured record (a list of fields; see [`Dtype::fields`]).
    Structured,
}

/// One field of a structured dtype, as its descr list declares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// The field name.
    pub name: String,
    /// The field's title, for `((title, name), format)` fields.
    pub title: Option<String>,
    /// Where the field starts in the record, in bytes.
    pub offset: usize,
    /// The field's element dtype (a nested record is a structured dtype).
    pub dtype: Dtype,
    /// The field's subarray shape (empty for a scalar field).
    pub shape: Vec<usize>,
    /// The field's size in bytes (the element size times the subarray's).
    pub size: usize,
}

impl Dtype {
    /// What a [`Dtype::Other`] holds, read from its descr (`None` for
    /// numbers and objects, and for dtypes onedata cannot lay out, such as
    /// records that hold objects).
    pub fn other_kind(&self) -> Option<OtherKind> {
        let Dtype::Other { descr, itemsize } = self else {
            return None;
        };
        let size = (*itemsize)?;
        let b = descr.as_bytes();
        if !matches!(b.first(), Some(b'<' | b'>' | b'|')) {
            return Some(OtherKind::Structured);
        }
        let code = &descr[1..];
        Some(match code.as_bytes().first()? {
            b'U' => OtherKind::Unicode { chars: size / 4 },
            b'S' => OtherKind::Bytes { len: size },
            b'V' => OtherKind::Void { size },
            b'M' => OtherKind::Datetime(parse_unit(code)?),
            b'm' => OtherKind::Timedelta(parse_unit(code)?),
            _ if code == "f16" => OtherKind::LongDouble,
            _ if code == "c32" => OtherKind::ComplexLongDouble,
            _ => return None,
        })
    }

    /// The unit of a datetime (`M8`) or timedelta (`m8`) dtype.
    ///
    /// ```
    /// use onedata::npy::{Dtype, TimeBase};
    /// let unit = Dtype::parse("<M8[25ms]").unwrap().datetime_unit().unwrap();
    /// assert_eq!((unit.base, unit.count), (TimeBase::Milliseconds, 25));
    /// ```
    pub fn datetime_unit(&self) -> Option<DatetimeUnit> {
        match self.other_kind()? {
            OtherKind::Datetime(u) | OtherKind::Timedelta(u) => Some(u),
            _ => None,
        }
    }

    /// The byte order of multi-byte elements: numbers, `U`, datetimes and
    /// long doubles (`None` for bytes, void, records and objects).
    pub fn byte_order(&self) -> Option<ByteOrder> {
        match self {
            Dtype::Numeric { kind, order } => (kind.itemsize() > 1).then_some(*order),
            Dtype::Object => None,
            Dtype::Other { descr, .. } => match (descr.as_bytes().first(), self.other_kind()?) {
                (_, OtherKind::Bytes { .. } | OtherKind::Void { .. } | OtherKind::Structured) => {
                    None
                }
                (Some(b'>'), _) => Some(ByteOrder::Big),
                (Some(b'<'), _) => Some(ByteOrder::Little),
                _ => None,
            },
        }
    }

    /// The size of the unit whose bytes are reversed to change the byte
    /// order of a [`Dtype::Other`] (`None` when there is nothing to swap).
    pub(crate) fn other_swap_unit(&self) -> Option<usize> {
        match self.other_kind()? {
            OtherKind::Unicode { .. } => Some(4),
            OtherKind::Datetime(_) | OtherKind::Timedelta(_) => Some(8),
            OtherKind::LongDouble | OtherKind::ComplexLongDouble => Some(16),
            _ => None,
        }
    }

    /// This dtype in native byte order (itself when it has none).
    pub(crate) fn to_native(&self) -> Dtype {
        match self {
            Dtype::Numeric { kind, .. } => Dtype::native(*kind),
            Dtype::Other { descr, itemsize } if self.byte_order().is_some() => Dtype::Other {
                descr: format!("{}{}", ByteOrder::NATIVE.char(), &descr[1..]),
                itemsize: *itemsize,
            },
            other => other.clone(),
        }
    }

    /// The fields of a structured dtype, in the order the descr lists them,
    /// with their offsets (padding fields, `('', '|V<n>')`, are skipped but
    /// counted). `None` for other dtypes.
    ///
    /// ```
    /// use onedata::npy::Dtype;
    /// let dtype = Dtype::Other {
    ///     descr: "[('a', '<i2'), ('', '|V2'), ('b', '<f4', (2,))]".into(),
    ///     itemsize: Some(12),
    /// };
    /// let fields = dtype.fields().unwrap();
    /// assert_eq!(fields[1].name, "b");
    /// assert_eq!((fields[1].offset, fields[1].shape.as_slice()), (4, &[2][..]));
    /// assert_eq!(fields[1].dtype.descr(), "<f4");
    /// ```
    pub fn fields(&self) -> Option<Vec<Field>> {
        match (self, self.other_kind()?) {
            (Dtype::Other { descr, .. }, OtherKind::Structured) => {
                crate::npy::header::record_fields(descr)
            }
            _ => None,
        }
    }
}

/// Reads the unit of `M8[25ms]`, `m8[D]`, `M8` as the header parser wrote it.
pub(super) fn parse_unit(code: &str) -> Option<DatetimeUnit> {
    let rest = &code[2..];
    if rest.is_empty() {
        return Some(DatetimeUnit {
            base: TimeBase::Generic,
            count: 1,
        });
    }
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
    let count = if digits == 0 {
        1
    } else {
        inner[..digits].parse().ok()?
    };
    let base = TimeBase::ALL
        .into_iter()
        .find(|b| b.code() == &inner[digits..])?;
    Some(DatetimeUnit { base, count })
}
