//! The Python literal parser: reads the header text as `ast.literal_eval`
//! reads it, with the line and indentation rules of Python's tokenizer and
//! numpy's Python 2 fallback. Numbers are read in `number`, strings in
//! `string`.

mod number;
mod string;

use std::borrow::Cow;
use std::ops::Range;

use smallvec::SmallVec;

use crate::error::HeaderError;

/// Python's tokenizer refuses brackets nested deeper than this.
const MAX_NESTING: usize = 200;

/// A Python integer: sign and magnitude (`None` when beyond `u64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Int {
    pub(super) neg: bool,
    pub(super) mag: Option<u64>,
}

/// A Python literal value, as far as the header checks need it.
#[derive(Debug, Clone)]
pub(super) enum Value<'a> {
    Str(Cow<'a, str>),
    /// A bytes literal, by its length.
    Bytes(usize),
    Int(Int),
    Bool(bool),
    Float,
    Complex,
    None,
    Ellipsis,
    Tuple(Vec<Value<'a>>),
    List(Vec<Value<'a>>),
    Dict(Vec<Entry<'a>>),
    Set(Vec<Value<'a>>),
}

/// A dict entry, with where its value is in the header text (inside any
/// grouping parentheses).
#[derive(Debug, Clone)]
pub(super) struct Entry<'a> {
    pub(super) key: Value<'a>,
    pub(super) value: Value<'a>,
    pub(super) span: Range<usize>,
}

impl Value<'_> {
    fn hashable(&self) -> bool {
        match self {
            Value::Tuple(items) => items.iter().all(Value::hashable),
            Value::List(_) | Value::Dict(_) | Value::Set(_) => false,
            _ => true,
        }
    }

    /// A short description for error messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Value::Str(s) => format!("{s:?}"),
            Value::Bytes(_) => "bytes".into(),
            Value::Int(Int { neg, mag: Some(m) }) => {
                format!("{}{m}", if *neg { "-" } else { "" })
            }
            Value::Int(_) => "int".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Float => "float".into(),
            Value::Complex => "complex".into(),
            Value::None => "None".into(),
            Value::Ellipsis => "Ellipsis".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::List(_) => "list".into(),
            Value::Dict(_) => "dict".into(),
            Value::Set(_) => "set".into(),
        }
    }
}

/// What kind of expression produced a value: `ast.literal_eval` allows a
/// sign only on a number constant, and `a + bj` only for a signed or plain
/// real number `a` and an imaginary constant `bj`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Constant,
    Signed,
    Other,
}

/// A recursive-descent reader of the Python literals `ast.literal_eval` accepts.
pub(super) struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    pos: usize,
    /// numpy's Python 2 fallback applies (versions 1.0 and 2.0).
    python2: bool,
    depth: usize,
    /// Where the last value read is, without grouping parentheses.
    last_span: Range<usize>,
    /// Whether the last newline read was `\n` or `\r\n`, not a lone `\r`.
    last_newline_lf: bool,
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn is_string_prefix(word: &[u8]) -> bool {
    let lower: SmallVec<[u8; 2]> = word.iter().map(u8::to_ascii_lowercase).collect();
    matches!(
        &lower[..],
        b"" | b"r" | b"u" | b"b" | b"br" | b"rb" | b"f" | b"fr" | b"rf"
    )
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str, python2: bool) -> Self {
        Parser {
            text,
            s: text.as_bytes(),
            pos: 0,
            python2,
            depth: 0,
            last_span: 0..0,
            last_newline_lf: false,
        }
    }

    fn err_at(offset: usize, what: &'static str) -> HeaderError {
        HeaderError::Syntax { offset, what }
    }

    fn err(&self, what: &'static str) -> HeaderError {
        Self::err_at(self.pos, what)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.pos + ahead).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The whole header: one expression that must be a dict, with the
    /// line and indentation rules of Python's tokenizer around it.
    pub(super) fn header(&mut self) -> Result<Vec<Entry<'a>>, HeaderError> {
        // ast.literal_eval strips leading spaces and tabs.
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.line_start()?;
        let start = self.pos;
        let value = match self.peek() {
            Some(b'{' | b'(') => self.atom()?.0,
            None => return Err(self.err("empty header")),
            Some(_) => return Err(self.err("the header is not a dict")),
        };
        self.tail()?;
        match value {
            Value::Dict(entries) => Ok(entries),
            _ => Err(Self::err_at(start, "the header is not a dict")),
        }
    }

    /// Skips blank and comment lines at the start of a line outside
    /// brackets, and refuses an indented line as Python's tokenizer does.
    fn line_start(&mut self) -> Result<(), HeaderError> {
        loop {
            let (mut col, mut cont_col, mut continued) = (0usize, 0usize, false);
            loop {
                match self.peek() {
                    Some(b' ' | b'\t') => {
                        col += 1;
                        self.pos += 1;
                    }
                    Some(b'\x0c') => {
                        col = 0;
                        self.pos += 1;
                    }
                    Some(b'\\') => {
                        // The indentation is the column of the first continuation.
                        if cont_col == 0 {
                            cont_col = col;
                        }
                        continued = true;
                        self.continuation()?;
                    }
                    _ => break,
                }
            }
            match self.peek() {
                Some(b'#') => {
                    self.comment();
                    if self.peek().is_none() {
                        return Ok(());
                    }
                    self.newline();
                }
                Some(b'\n' | b'\r') => self.newline(),
                next => {
                    let indent = if cont_col != 0 { cont_col } else { col };
                    // numpy's Python 2 fallback re-tokenizes the header,
                    // which drops a last line of only blanks (its lines end
                    // at `\n` only).
                    let dropped =
                        next.is_none() && self.python2 && !continued && self.last_newline_lf;
                    if indent > 0 && !dropped {
                        return Err(self.err("unexpected indent"));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// After the dict: blanks, comments and empty lines only.
    fn tail(&mut self) -> Result<(), HeaderError> {
        loop {
            match self.peek() {
                None => return Ok(()),
                Some(b' ' | b'\t' | b'\x0c') => self.pos += 1,
                Some(b'#') => self.comment(),
                Some(b'\\') => self.continuation()?,
                Some(b'\n' | b'\r') => {
                    self.newline();
                    self.line_start()?;
                    if self.peek().is_some() {
                        return Err(self.err("unexpected text after the header dict"));
                    }
                }
                Some(_) => return Err(self.err("unexpected text after the header dict")),
            }
        }
    }

    fn comment(&mut self) {
        while !matches!(self.peek(), None | Some(b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn newline(&mut self) {
        self.eat(b'\r');
        self.last_newline_lf = self.eat(b'\n');
    }

    /// A backslash that joins two lines; it must end its line and not the header.
    fn continuation(&mut self) -> Result<(), HeaderError> {
        let start = self.pos;
        self.pos += 1;
        match self.peek() {
            Some(b'\n' | b'\r') => self.newline(),
            _ => {
                return Err(Self::err_at(
                    start,
                    "unexpected character after line continuation character",
                ))
            }
        }
        if self.peek().is_none() {
            return Err(Self::err_at(start, "header ends after a line continuation"));
        }
        Ok(())
    }

    /// Whitespace inside brackets: newlines, comments and continuations too.
    fn ws(&mut self) -> Result<(), HeaderError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\x0c' | b'\n' | b'\r') => self.pos += 1,
                Some(b'#') => self.comment(),
                Some(b'\\') => self.continuation()?,
                _ => return Ok(()),
            }
        }
    }

    fn open(&mut self) -> Result<(), HeaderError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err("too many nested brackets"));
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    /// Consumes the closing bracket `close` if it is next.
    fn close(&mut self, close: u8) -> bool {
        let closed = self.eat(close);
        if closed {
            self.depth -= 1;
        }
        closed
    }

    /// An expression: a signed value, or `real ± imaginary`.
    fn expr(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        let (left, node) = self.unary()?;
        let save = self.pos;
        self.ws()?;
        if !matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos = save;
            return Ok((left, node));
        }
        self.pos += 1;
        self.ws()?;
        let start = self.pos;
        let (right, right_node) = self.unary()?;
        let left_ok = matches!(node, Node::Constant | Node::Signed)
            && matches!(left, Value::Int(_) | Value::Float);
        let right_ok = right_node == Node::Constant && matches!(right, Value::Complex);
        if left_ok && right_ok {
            Ok((Value::Complex, Node::Other))
        } else {
            Err(Self::err_at(
                start,
                "only a real number plus or minus an imaginary one is a literal sum",
            ))
        }
    }

    /// A value with optional signs; literal_eval allows one, on a number.
    fn unary(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        let start = self.pos;
        let (mut signs, mut neg) = (0usize, false);
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            signs += 1;
            neg ^= c == b'-';
            self.pos += 1;
            self.ws()?;
        }
        let (value, node) = self.atom()?;
        if signs == 0 {
            return Ok((value, node));
        }
        let number = matches!(value, Value::Int(_) | Value::Float | Value::Complex);
        if signs > 1 || node != Node::Constant || !number {
            return Err(Self::err_at(start, "a sign applies only to a number"));
        }
        let value = match value {
            Value::Int(i) => Value::Int(Int {
                neg: neg && i.mag != Some(0),
                mag: i.mag,
            }),
            other => other,
        };
        Ok((value, Node::Signed))
    }

    fn atom(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        let start = self.pos;
        let grouped = self.peek() == Some(b'(');
        let result = self.atom_inner()?;
        // A group's span is its content's, set by the inner atom.
        if !grouped || matches!(result.0, Value::Tuple(_)) {
            self.last_span = start..self.pos;
        }
        Ok(result)
    }

    fn atom_inner(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        match self.peek() {
            None => Err(self.err("expected a value")),
            Some(b'(') => {
                self.open()?;
                self.ws()?;
                if self.close(b')') {
                    return Ok((Value::Tuple(Vec::new()), Node::Other));
                }
                let (first, node) = self.expr()?;
                self.ws()?;
                if self.close(b')') {
                    // Parentheses around one value only group it.
                    return Ok((first, node));
                }
                if !self.eat(b',') {
                    return Err(self.err("expected ',' or ')'"));
                }
                let mut items = vec![first];
                self.items(b')', &mut items)?;
                Ok((Value::Tuple(items), Node::Other))
            }
            Some(b'[') => {
                self.open()?;
                let mut items = Vec::new();
                self.items(b']', &mut items)?;
                Ok((Value::List(items), Node::Other))
            }
            Some(b'{') => self.dict_or_set(),
            Some(b'\'' | b'"') => self.strings(),
            Some(c) if c.is_ascii_digit() => Ok((self.number()?, Node::Constant)),
            Some(b'.') => {
                if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                    Ok((self.number()?, Node::Constant))
                } else if self.s[self.pos..].starts_with(b"...") {
                    self.pos += 3;
                    Ok((Value::Ellipsis, Node::Constant))
                } else {
                    Err(self.err("expected a value"))
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = self.pos;
                while self.peek().is_some_and(is_ident_byte) {
                    self.pos += 1;
                }
                let word = &self.s[start..self.pos];
                if matches!(self.peek(), Some(b'\'' | b'"')) && is_string_prefix(word) {
                    self.pos = start;
                    return self.strings();
                }
                match word {
                    b"True" => Ok((Value::Bool(true), Node::Constant)),
                    b"False" => Ok((Value::Bool(false), Node::Constant)),
                    b"None" => Ok((Value::None, Node::Constant)),
                    b"set" => {
                        // `set()`, the empty set, is the one call literal_eval allows.
                        self.ws()?;
                        if self.peek() == Some(b'(') {
                            self.open()?;
                            self.ws()?;
                            if self.close(b')') {
                                return Ok((Value::Set(Vec::new()), Node::Other));
                            }
                        }
                        Err(Self::err_at(start, "only set() is a literal call"))
                    }
                    _ => Err(Self::err_at(start, "a name is not a literal")),
                }
            }
            Some(_) => Err(self.err("expected a value")),
        }
    }

    /// The rest of a list, tuple or set up to `close`, trailing comma allowed.
    fn items(&mut self, close: u8, items: &mut Vec<Value<'a>>) -> Result<(), HeaderError> {
        loop {
            self.ws()?;
            if self.close(close) {
                return Ok(());
            }
            items.push(self.expr()?.0);
            self.ws()?;
            if self.eat(b',') {
                continue;
            }
            if self.close(close) {
                return Ok(());
            }
            return Err(self.err("expected ',' or a closing bracket"));
        }
    }

    fn dict_or_set(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        self.open()?;
        self.ws()?;
        if self.close(b'}') {
            return Ok((Value::Dict(Vec::new()), Node::Other));
        }
        let key_start = self.pos;
        let (first, _) = self.expr()?;
        self.ws()?;
        if !self.eat(b':') {
            let mut items = vec![first];
            if !self.close(b'}') {
                if !self.eat(b',') {
                    return Err(self.err("expected ',', ':' or '}'"));
                }
                self.items(b'}', &mut items)?;
            }
            if !items.iter().all(Value::hashable) {
                return Err(Self::err_at(key_start, "unhashable set element"));
            }
            return Ok((Value::Set(items), Node::Other));
        }
        let mut entries = Vec::new();
        let (mut key, mut key_start) = (first, key_start);
        loop {
            self.ws()?;
            let (value, _) = self.expr()?;
            if !key.hashable() {
                return Err(Self::err_at(key_start, "unhashable dict key"));
            }
            entries.push(Entry {
                key,
                value,
                span: self.last_span.clone(),
            });
            self.ws()?;
            if self.close(b'}') {
                break;
            }
            if !self.eat(b',') {
                return Err(self.err("expected ',' or '}' after a value"));
            }
            self.ws()?;
            if self.close(b'}') {
                break;
            }
            key_start = self.pos;
            key = self.expr()?.0;
            self.ws()?;
            if !self.eat(b':') {
                return Err(self.err("expected ':' after a key"));
            }
        }
        Ok((Value::Dict(entries), Node::Other))
    }
}

#[cfg(test)]
mod tests {
    use crate::npy::header::tests::parse;
    use crate::npy::header::{Header, MAGIC};

    #[test]
    fn accepts_python_dialect() {
        let h = parse("{\"shape\":(2L,3 L),u'fortran_order':True,'descr':'>i8'}").unwrap();
        assert_eq!(h.shape(), &[2, 3]);
        assert!(h.fortran_order());
        assert_eq!(h.dtype().descr(), ">i8");
        assert_eq!(
            parse("{'descr':'<f8','fortran_order':False,'shape':()}")
                .unwrap()
                .shape(),
            &[] as &[usize]
        );
        assert_eq!(
            parse("{'descr':'<f8','fortran_order':False,'shape':(0x10, 1_0,)}")
                .unwrap()
                .shape(),
            &[16, 10]
        );
        let h =
            parse("({'desc' \"r\": 'float32', ('fortran_order'): (False), 'shape': ((2), +(3),)})")
                .unwrap();
        assert_eq!(
            (h.dtype().descr().as_str(), h.shape()),
            ("<f4", &[2, 3][..])
        );
        // Python 2 `l` was never written by numpy and is not filtered.
        assert!(parse("{'descr':'<f8','fortran_order':False,'shape':(3l,)}").is_err());
    }

    #[test]
    fn follows_python_line_rules() {
        let d = "{'descr':'<f8','fortran_order':False,'shape':()}";
        for (text, ok) in [
            (format!("  {d}"), true),
            (format!("\n\n{d}\n\n"), true),
            (format!("# c\n{d} # c\n"), true),
            (format!("\n {d}"), false),
            (format!("{d}\n  # c\n"), true),
            (format!("{d}\n\\\n"), false),
            (format!("{d}\0"), false),
        ] {
            assert_eq!(parse(&text).is_ok(), ok, "{text:?}");
        }
        // A last line of blanks: refused by Python, dropped by numpy's Python 2 fallback.
        let text = format!("{d}\n  ");
        assert!(parse(&text).is_ok());
        let mut v3 = MAGIC.to_vec();
        v3.extend_from_slice(&[3, 0]);
        v3.extend_from_slice(&(text.len() as u32).to_le_bytes());
        v3.extend_from_slice(text.as_bytes());
        assert!(Header::parse(&v3).is_err());
    }

    #[test]
    fn nesting_limit_is_pythons() {
        let nested = |n: usize| {
            let shape = format!("{}(3,){}", "(".repeat(n), ")".repeat(n));
            parse(&format!(
                "{{'descr':'<f8','fortran_order':False,'shape':{shape}}}"
            ))
        };
        assert!(nested(198).is_ok());
        assert!(nested(199).is_err());
    }
}
