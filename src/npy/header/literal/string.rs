//! String literals: prefixes, quotes, adjacent-literal concatenation and
//! escapes, as Python reads them.

use std::borrow::Cow;

use super::{is_string_prefix, Node, Parser, Value};
use crate::error::HeaderError;

impl<'a> Parser<'a> {
    fn at_string_start(&self) -> bool {
        let mut i = self.pos;
        while self.s.get(i).is_some_and(|c| c.is_ascii_alphabetic()) {
            i += 1;
        }
        matches!(self.s.get(i), Some(b'\'' | b'"')) && is_string_prefix(&self.s[self.pos..i])
    }

    /// One or more adjacent string literals, concatenated as Python does.
    pub(super) fn strings(&mut self) -> Result<(Value<'a>, Node), HeaderError> {
        let mut text: Option<Cow<'a, str>> = None;
        let mut bytes = None;
        loop {
            let start = self.pos;
            let (is_bytes, value) = self.string_literal()?;
            if bytes.is_some_and(|b| b != is_bytes) {
                return Err(Self::err_at(start, "cannot mix bytes and str literals"));
            }
            bytes = Some(is_bytes);
            text = Some(match text {
                None => value,
                Some(prev) => Cow::Owned(prev.into_owned() + &value),
            });
            let save = self.pos;
            self.ws()?;
            if !self.at_string_start() {
                self.pos = save;
                break;
            }
        }
        let text = text.unwrap_or_default();
        let value = match bytes {
            // Each char of a bytes literal's value is one byte.
            Some(true) => Value::Bytes(text.chars().count()),
            _ => Value::Str(text),
        };
        Ok((value, Node::Constant))
    }

    /// One string literal: returns whether it is bytes, and its value.
    fn string_literal(&mut self) -> Result<(bool, Cow<'a, str>), HeaderError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let prefix = &self.s[start..self.pos];
        let has = |p: u8| prefix.iter().any(|c| c.to_ascii_lowercase() == p);
        if has(b'f') {
            return Err(Self::err_at(start, "an f-string is not a literal"));
        }
        let (raw, is_bytes) = (has(b'r'), has(b'b'));
        let quote = self.s[self.pos];
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let body_start = self.pos;
        let mut plain = true;
        loop {
            match self.peek() {
                None => return Err(Self::err_at(start, "unterminated string")),
                Some(b'\\') => {
                    plain = false;
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(Self::err_at(start, "unterminated string")),
                        Some(b'\r') if self.peek_at(1) == Some(b'\n') => self.pos += 2,
                        Some(c) if is_bytes && c >= 0x80 => {
                            return Err(self.err("bytes can only contain ASCII characters"))
                        }
                        Some(_) => self.pos += 1,
                    }
                }
                Some(b'\n' | b'\r') if !triple => {
                    return Err(Self::err_at(start, "unterminated string"))
                }
                Some(b'\r') => {
                    plain = false;
                    self.pos += 1;
                }
                Some(c) if c == quote => {
                    if !triple || (self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote))
                    {
                        break;
                    }
                    self.pos += 1;
                }
                Some(c) if is_bytes && c >= 0x80 => {
                    return Err(self.err("bytes can only contain ASCII characters"))
                }
                Some(_) => self.pos += 1,
            }
        }
        let body = &self.text[body_start..self.pos];
        self.pos += if triple { 3 } else { 1 };
        let value = if plain {
            Cow::Borrowed(body)
        } else {
            Cow::Owned(unescape(body, raw, is_bytes).map_err(|what| Self::err_at(start, what))?)
        };
        Ok((is_bytes, value))
    }
}

/// The value of a string literal's body, as Python reads it (newlines
/// normalized to `\n`, escapes decoded unless `raw`).
fn unescape(body: &str, raw: bool, bytes: bool) -> Result<String, &'static str> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\\' if raw => {
                out.push('\\');
                match chars.next() {
                    Some('\r') => {
                        chars.next_if_eq(&'\n');
                        out.push('\n');
                    }
                    Some(e) => out.push(e),
                    None => {}
                }
            }
            '\\' => {
                let Some(e) = chars.next() else { break };
                let mut hex = |n: usize| -> Result<u32, &'static str> {
                    let mut v = 0;
                    for _ in 0..n {
                        let d = chars
                            .next_if(char::is_ascii_hexdigit)
                            .ok_or("truncated escape in a string")?;
                        v = v * 16 + d.to_digit(16).unwrap_or(0);
                    }
                    Ok(v)
                };
                let code = match e {
                    '\n' => continue,
                    '\r' => {
                        chars.next_if_eq(&'\n');
                        continue;
                    }
                    '\\' | '\'' | '"' => e as u32,
                    'a' => 7,
                    'b' => 8,
                    'f' => 12,
                    'n' => 10,
                    'r' => 13,
                    't' => 9,
                    'v' => 11,
                    '0'..='7' => {
                        let mut v = e as u32 - '0' as u32;
                        for _ in 0..2 {
                            match chars.next_if(|c| ('0'..='7').contains(c)) {
                                Some(d) => v = v * 8 + (d as u32 - '0' as u32),
                                None => break,
                            }
                        }
                        v
                    }
                    'x' => hex(2)?,
                    'u' if !bytes => hex(4)?,
                    'U' if !bytes => {
                        let v = hex(8)?;
                        if v > 0x10ffff {
                            return Err("illegal Unicode character in a string");
                        }
                        v
                    }
                    'N' if !bytes => {
                        return Err("\\N{name} escapes are not supported (known difference)")
                    }
                    other => {
                        // Python keeps an unknown escape as it is.
                        out.push('\\');
                        other as u32
                    }
                };
                // A lone surrogate cannot be a Rust char; it matches no key or dtype anyway.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}
