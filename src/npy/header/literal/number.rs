//! Number literals: integers in any radix, floats, imaginary numbers, and
//! the Python 2 `L` suffixes numpy's fallback drops.

use super::{is_ident_byte, Int, Parser, Value};
use crate::error::HeaderError;

impl<'a> Parser<'a> {
    /// A number literal, with Python 2 `L` suffixes where numpy drops them.
    pub(super) fn number(&mut self) -> Result<Value<'a>, HeaderError> {
        let start = self.pos;
        let radix = match (self.s[start], self.peek_at(1)) {
            (b'0', Some(b'x' | b'X')) => 16,
            (b'0', Some(b'o' | b'O')) => 8,
            (b'0', Some(b'b' | b'B')) => 2,
            _ => 10,
        };
        let value = if radix != 10 {
            self.pos += 2;
            let mut acc = Some(0);
            if !self.digits(radix, true, &mut acc) {
                return Err(Self::err_at(start, "invalid integer literal"));
            }
            Value::Int(Int {
                neg: false,
                mag: acc,
            })
        } else {
            let mut acc = Some(0);
            let whole = self.digits(10, false, &mut acc);
            let int_end = self.pos;
            let mut float = false;
            if self.peek() == Some(b'.') {
                self.pos += 1;
                let fraction = self.digits(10, false, &mut None);
                if !whole && !fraction {
                    return Err(Self::err_at(start, "invalid number literal"));
                }
                float = true;
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                let save = self.pos;
                self.pos += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.pos += 1;
                }
                if self.digits(10, false, &mut None) {
                    float = true;
                } else {
                    self.pos = save;
                }
            }
            if matches!(self.peek(), Some(b'j' | b'J')) {
                self.pos += 1;
                Value::Complex
            } else if float {
                Value::Float
            } else {
                let digits = &self.s[start..int_end];
                if digits[0] == b'0' && digits.iter().any(|&c| c != b'0' && c != b'_') {
                    return Err(Self::err_at(
                        start,
                        "leading zeros in a decimal integer literal",
                    ));
                }
                Value::Int(Int {
                    neg: false,
                    mag: acc,
                })
            }
        };
        if self.python2 {
            self.long_suffixes()?;
        }
        if self.peek().is_some_and(is_ident_byte) {
            return Err(Self::err_at(start, "invalid number literal"));
        }
        Ok(value)
    }

    /// `(["_"] digit)*` in `radix`, with a first `_` only if `leading_underscore`.
    /// Returns whether any digit was read; accumulates the value in `acc`.
    fn digits(&mut self, radix: u32, leading_underscore: bool, acc: &mut Option<u64>) -> bool {
        let mut any = false;
        loop {
            let underscore = self.peek() == Some(b'_') && (any || leading_underscore);
            let at = self.pos + underscore as usize;
            match self.s.get(at).and_then(|&c| (c as char).to_digit(radix)) {
                Some(d) => {
                    self.pos = at + 1;
                    any = true;
                    *acc = acc
                        .and_then(|v| v.checked_mul(radix as u64))
                        .and_then(|v| v.checked_add(d as u64));
                }
                None => return any,
            }
        }
    }

    /// numpy's Python 2 filter removes each `L` name token that follows a
    /// number token, with only blanks or line continuations in between.
    fn long_suffixes(&mut self) -> Result<(), HeaderError> {
        loop {
            let save = self.pos;
            loop {
                match self.peek() {
                    Some(b' ' | b'\t' | b'\x0c') => self.pos += 1,
                    Some(b'\\') if matches!(self.peek_at(1), Some(b'\n' | b'\r')) => {
                        self.continuation()?
                    }
                    _ => break,
                }
            }
            if self.peek() == Some(b'L') && !self.peek_at(1).is_some_and(is_ident_byte) {
                self.pos += 1;
                continue;
            }
            self.pos = save;
            return Ok(());
        }
    }
}
