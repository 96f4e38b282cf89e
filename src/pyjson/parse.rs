//! Reading: Python's `json.loads` grammar, `NaN` and `Infinity` included.

use super::*;

// ---------------------------------------------------------------------------
// Reading: json.loads.

/// Parses `text` as Python's `json.loads(text)` does.
pub fn loads(text: &str) -> Result<PyJson, PyJsonError> {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        depth: 0,
        lone: None,
    };
    if text.starts_with('\u{feff}') {
        return Err(p.error("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0));
    }
    p.ws();
    let value = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.error("Extra data", p.i));
    }
    if let Some((code, at)) = p.lone {
        return Err(p.error(
            &format!("Lone surrogate \\u{code:04x} is not supported"),
            at,
        ));
    }
    Ok(value)
}

pub(super) struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
    /// The first lone surrogate escape (`\ud800`) and where it is.
    lone: Option<(u32, usize)>,
}

impl Parser<'_> {
    /// Python's message: `msg: line L column C (char N)`, counted in characters.
    fn error(&self, msg: &str, at: usize) -> PyJsonError {
        let before = &self.s[..at.min(self.s.len())];
        let line = before.matches('\n').count() + 1;
        let col = match before.rfind('\n') {
            Some(nl) => before[nl + 1..].chars().count() + 1,
            None => before.chars().count() + 1,
        };
        let pos = before.chars().count();
        PyJsonError(format!("{msg}: line {line} column {col} (char {pos})"))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<PyJson, PyJsonError> {
        let start = self.i;
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                return self.string(start).map(PyJson::Str);
            }
            Some(b'{') => return self.nested(start, Parser::object),
            Some(b'[') => return self.nested(start, Parser::array),
            Some(b'n') if self.eat("null") => return Ok(PyJson::Null),
            Some(b't') if self.eat("true") => return Ok(PyJson::Bool(true)),
            Some(b'f') if self.eat("false") => return Ok(PyJson::Bool(false)),
            None => return Err(self.error("Expecting value", start)),
            _ => {}
        }
        if let Some(number) = self.number() {
            return Ok(number);
        }
        if self.eat("NaN") {
            Ok(PyJson::Float(f64::NAN))
        } else if self.eat("Infinity") {
            Ok(PyJson::Float(f64::INFINITY))
        } else if self.eat("-Infinity") {
            Ok(PyJson::Float(f64::NEG_INFINITY))
        } else {
            Err(self.error("Expecting value", start))
        }
    }

    fn nested(
        &mut self,
        start: usize,
        f: fn(&mut Self) -> Result<PyJson, PyJsonError>,
    ) -> Result<PyJson, PyJsonError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(&format!("Nesting deeper than {MAX_DEPTH} levels"), start));
        }
        self.depth += 1;
        self.i += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, or `None` (and
    /// nothing consumed) when there is no such number here.
    fn number(&mut self) -> Option<PyJson> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => {
                self.i = start;
                return None;
            }
        }
        let mut float = false;
        if self.peek() == Some(b'.') && matches!(self.b.get(self.i + 1), Some(b'0'..=b'9')) {
            self.i += 1;
            self.digits();
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mark = self.i;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                self.i = mark;
            } else {
                float = true;
            }
        }
        let text = &self.s[start..self.i];
        Some(if float {
            // Rust's parse rounds correctly and overflows to infinity, as
            // Python's float() does.
            PyJson::Float(text.parse().unwrap_or(f64::NAN))
        } else {
            match text.parse::<i128>() {
                Ok(i) => PyJson::Int(i),
                Err(_) => PyJson::BigInt(text.to_string()),
            }
        })
    }

    /// The rest of a string whose opening quote is at `start`.
    fn string(&mut self, start: usize) -> Result<String, PyJsonError> {
        let mut out = String::new();
        loop {
            let chunk = self.i;
            while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\' && c >= 0x20) {
                self.i += 1;
            }
            out.push_str(&self.s[chunk..self.i]);
            match self.peek() {
                None => return Err(self.error("Unterminated string starting at", start)),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let at = self.i;
                    self.i += 1;
                    let c = match self.peek() {
                        None => return Err(self.error("Unterminated string starting at", start)),
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i -= 1;
                            out.push(self.unicode_escape(at)?);
                            continue;
                        }
                        Some(_) => return Err(self.error("Invalid \\escape", at)),
                    };
                    self.i += 1;
                    out.push(c);
                }
                Some(_) => return Err(self.error("Invalid control character at", self.i)),
            }
        }
    }

    /// Four hex digits after `\u` at `self.i`, moving past them.
    fn hex4(&mut self, at: usize) -> Result<u32, PyJsonError> {
        let hex = self.b.get(self.i + 2..self.i + 6);
        match hex
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
        {
            Some(v) => {
                self.i += 6;
                Ok(v)
            }
            None => Err(self.error("Invalid \\uXXXX escape", at + 1)),
        }
    }

    /// `\uXXXX` at `self.i`, a surrogate pair joined.
    fn unicode_escape(&mut self, at: usize) -> Result<char, PyJsonError> {
        let hi = self.hex4(at)?;
        let code = if (0xd800..0xdc00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
            let mark = self.i;
            let lo = self.hex4(self.i)?;
            if (0xdc00..0xe000).contains(&lo) {
                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
            } else {
                self.i = mark;
                hi
            }
        } else {
            hi
        };
        // Python keeps lone surrogates in its str; a Rust String cannot. The
        // refusal waits for the end of the text, so that any error Python
        // would report is reported first.
        Ok(char::from_u32(code).unwrap_or_else(|| {
            if self.lone.is_none() {
                self.lone = Some((code, at));
            }
            char::REPLACEMENT_CHARACTER
        }))
    }

    fn array(&mut self) -> Result<PyJson, PyJsonError> {
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(PyJson::List(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b']') => {
                    self.i += 1;
                    return Ok(PyJson::List(items));
                }
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                _ => return Err(self.error("Expecting ',' delimiter", self.i)),
            }
        }
    }

    fn object(&mut self) -> Result<PyJson, PyJsonError> {
        let mut items = Vec::new();
        self.ws();
        match self.peek() {
            Some(b'}') => {
                self.i += 1;
                return Ok(PyJson::Dict(items));
            }
            Some(b'"') => {}
            _ => {
                return Err(self.error("Expecting property name enclosed in double quotes", self.i))
            }
        }
        loop {
            let start = self.i;
            self.i += 1;
            let key = self.string(start)?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.error("Expecting ':' delimiter", self.i));
            }
            self.i += 1;
            self.ws();
            let value = self.value()?;
            dict_insert(&mut items, key, value);
            self.ws();
            match self.peek() {
                Some(b'}') => {
                    self.i += 1;
                    return Ok(PyJson::Dict(items));
                }
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(
                            self.error("Expecting property name enclosed in double quotes", self.i)
                        );
                    }
                }
                _ => return Err(self.error("Expecting ',' delimiter", self.i)),
            }
        }
    }
}
