//! Request bodies decoded the way the reference's Go `json.Decoder` decodes them, so
//! that a client sees the same 400 texts (spec endpoints §4.12): only the first value
//! is read (trailing bytes ignored), syntax errors are Go's scanner messages, keys
//! match struct fields case-insensitively, and a value of the wrong JSON type yields
//! `json: cannot unmarshal <what> into Go struct field <Struct>.<Field> of type <T>`.

/// Go's nesting limit for the scanner.
const MAX_DEPTH: usize = 10_000;

/// A decoded value, as deep as the fault request types go (an object of scalars and
/// arrays of scalars); anything deeper is only named by its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The literal as written (Go parses it for the target type).
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
    /// An array or object nested below what the request types read.
    Nested(&'static str),
}

impl Value {
    /// The word Go's `UnmarshalTypeError` uses for this kind of value.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Nested(k) => k,
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Empty or whitespace only (Go's `io.EOF`).
    Empty,
    /// The text Go's decoder reports.
    Invalid(String),
}

/// The first JSON value of `body`, checked with Go's scanner rules.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let end = scan(body)?;
    let mut p = Parser {
        b: &body[..end],
        i: 0,
    };
    Ok(p.value(0))
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Go's `quoteChar`: the offending byte as a quoted character.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        7 => "'\\a'".to_owned(),
        8 => "'\\b'".to_owned(),
        9 => "'\\t'".to_owned(),
        10 => "'\\n'".to_owned(),
        11 => "'\\v'".to_owned(),
        12 => "'\\f'".to_owned(),
        13 => "'\\r'".to_owned(),
        b'\\' => "'\\\\'".to_owned(),
        0..=0x1f | 0x7f => format!("'\\x{c:02x}'"),
        0x80..=0xa0 | 0xad => format!("'\\u{:04x}'", c),
        _ => format!("'{}'", char::from(c)),
    }
}

fn invalid(c: u8, context: &str) -> DecodeError {
    DecodeError::Invalid(format!("invalid character {} {context}", quote_char(c)))
}

fn unexpected_eof() -> DecodeError {
    DecodeError::Invalid("unexpected EOF".to_owned())
}

#[derive(Clone, Copy)]
enum Frame {
    Object,
    Array,
}

/// Scans the first value; `Ok(end)` is the offset just past it.
fn scan(b: &[u8]) -> Result<usize, DecodeError> {
    let mut i = 0;
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    if i == b.len() {
        return Err(DecodeError::Empty);
    }
    let mut stack: Vec<Frame> = Vec::new();
    // Scans one value starting at `i` (a container only opens); then the loop handles
    // what follows according to the enclosing frame.
    let mut expect_value = true;
    loop {
        if expect_value {
            i = skip_space(b, i)?;
            let c = b[i];
            match c {
                b'{' | b'[' => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(DecodeError::Invalid("exceeded max depth".to_owned()));
                    }
                    i = skip_space(b, i + 1)?;
                    if c == b'{' {
                        stack.push(Frame::Object);
                        match b[i] {
                            b'}' => i += 1,
                            b'"' => {
                                i = scan_key(b, i)?;
                                continue;
                            }
                            other => {
                                return Err(invalid(
                                    other,
                                    "looking for beginning of object key string",
                                ));
                            }
                        }
                    } else {
                        stack.push(Frame::Array);
                        if b[i] == b']' {
                            i += 1;
                        } else {
                            continue;
                        }
                    }
                    // An empty container: closed at once.
                    stack.pop();
                }
                b'"' => i = scan_string(b, i)?,
                b'-' | b'0'..=b'9' => i = scan_number(b, i)?,
                b't' => i = scan_literal(b, i, b"true")?,
                b'f' => i = scan_literal(b, i, b"false")?,
                b'n' => i = scan_literal(b, i, b"null")?,
                other => return Err(invalid(other, "looking for beginning of value")),
            }
        }
        // A value ended at `i`.
        let Some(frame) = stack.last().copied() else {
            return Ok(i);
        };
        i = skip_space(b, i)?;
        let c = b[i];
        match (frame, c) {
            (Frame::Object, b',') => {
                i = skip_space(b, i + 1)?;
                if b[i] != b'"' {
                    return Err(invalid(b[i], "looking for beginning of object key string"));
                }
                i = scan_key(b, i)?;
                expect_value = true;
            }
            (Frame::Array, b',') => {
                i += 1;
                expect_value = true;
            }
            (Frame::Object, b'}') | (Frame::Array, b']') => {
                i += 1;
                stack.pop();
                expect_value = false;
            }
            (Frame::Object, other) => return Err(invalid(other, "after object key:value pair")),
            (Frame::Array, other) => return Err(invalid(other, "after array element")),
        }
    }
}

fn skip_space(b: &[u8], mut i: usize) -> Result<usize, DecodeError> {
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    if i == b.len() {
        return Err(unexpected_eof());
    }
    Ok(i)
}

/// A key string and the colon after it; returns the offset after the colon.
fn scan_key(b: &[u8], i: usize) -> Result<usize, DecodeError> {
    let i = skip_space(b, scan_string(b, i)?)?;
    if b[i] != b':' {
        return Err(invalid(b[i], "after object key"));
    }
    Ok(i + 1)
}

fn scan_string(b: &[u8], start: usize) -> Result<usize, DecodeError> {
    let mut i = start + 1;
    loop {
        let c = *b.get(i).ok_or_else(unexpected_eof)?;
        match c {
            b'"' => return Ok(i + 1),
            b'\\' => {
                let e = *b.get(i + 1).ok_or_else(unexpected_eof)?;
                match e {
                    b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => i += 2,
                    b'u' => {
                        for k in 0..4 {
                            let h = *b.get(i + 2 + k).ok_or_else(unexpected_eof)?;
                            if !h.is_ascii_hexdigit() {
                                return Err(invalid(h, "in \\u hexadecimal character escape"));
                            }
                        }
                        i += 6;
                    }
                    other => return Err(invalid(other, "in string escape code")),
                }
            }
            0..=0x1f => return Err(invalid(c, "in string literal")),
            _ => i += 1,
        }
    }
}

fn scan_number(b: &[u8], mut i: usize) -> Result<usize, DecodeError> {
    let at = |i: usize| b.get(i).copied();
    if at(i) == Some(b'-') {
        i += 1;
        match at(i) {
            Some(b'0'..=b'9') => {}
            Some(c) => return Err(invalid(c, "in numeric literal")),
            None => return Err(unexpected_eof()),
        }
    }
    if at(i) == Some(b'0') {
        i += 1;
    } else {
        while matches!(at(i), Some(b'0'..=b'9')) {
            i += 1;
        }
    }
    if at(i) == Some(b'.') {
        i += 1;
        match at(i) {
            Some(b'0'..=b'9') => {}
            Some(c) => return Err(invalid(c, "after decimal point in numeric literal")),
            None => return Err(unexpected_eof()),
        }
        while matches!(at(i), Some(b'0'..=b'9')) {
            i += 1;
        }
    }
    if matches!(at(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(at(i), Some(b'+' | b'-')) {
            i += 1;
        }
        match at(i) {
            Some(b'0'..=b'9') => {}
            Some(c) => return Err(invalid(c, "in exponent of numeric literal")),
            None => return Err(unexpected_eof()),
        }
        while matches!(at(i), Some(b'0'..=b'9')) {
            i += 1;
        }
    }
    Ok(i)
}

fn scan_literal(b: &[u8], i: usize, word: &[u8]) -> Result<usize, DecodeError> {
    let name = std::str::from_utf8(word).unwrap_or_default();
    for (k, &want) in word.iter().enumerate().skip(1) {
        match b.get(i + k) {
            Some(&c) if c == want => {}
            Some(&c) => {
                return Err(invalid(
                    c,
                    &format!("in literal {name} (expecting {})", quote_char(want)),
                ));
            }
            None => return Err(unexpected_eof()),
        }
    }
    Ok(i + word.len())
}

/// Builds the shallow tree of a value the scanner accepted.
struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn space(&mut self) {
        while self.i < self.b.len() && is_space(self.b[self.i]) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Value {
        self.space();
        let Some(&c) = self.b.get(self.i) else {
            return Value::Null;
        };
        match c {
            b'{' | b'[' if depth >= 2 => {
                self.skip_container();
                Value::Nested(if c == b'{' { "object" } else { "array" })
            }
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                loop {
                    self.space();
                    match self.b.get(self.i) {
                        Some(b'}') | None => {
                            self.i += 1;
                            return Value::Object(fields);
                        }
                        Some(b',') => self.i += 1,
                        _ => {
                            let key = self.string();
                            self.space();
                            self.i += 1; // the colon
                            let v = self.value(depth + 1);
                            fields.push((key, v));
                        }
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.space();
                    match self.b.get(self.i) {
                        Some(b']') | None => {
                            self.i += 1;
                            return Value::Array(items);
                        }
                        Some(b',') => self.i += 1,
                        _ => items.push(self.value(depth + 1)),
                    }
                }
            }
            b'"' => Value::String(self.string()),
            b't' => {
                self.i += 4;
                Value::Bool(true)
            }
            b'f' => {
                self.i += 5;
                Value::Bool(false)
            }
            b'n' => {
                self.i += 4;
                Value::Null
            }
            _ => {
                let start = self.i;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                Value::Number(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
            }
        }
    }

    /// Skips a (valid) container without building it.
    fn skip_container(&mut self) {
        let mut depth = 0usize;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'"' => {
                    self.string();
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
    }

    /// A (valid) string literal, unescaped; bad UTF-8 and lone surrogates become U+FFFD.
    fn string(&mut self) -> String {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        let mut pending_high: Option<u16> = None;
        let push_char = |out: &mut Vec<u8>, ch: char| {
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        };
        while self.i < self.b.len() {
            let c = self.b[self.i];
            if c == b'\\' && self.b.get(self.i + 1) == Some(&b'u') {
                let hex = std::str::from_utf8(&self.b[self.i + 2..self.i + 6]).unwrap_or("0");
                let unit = u16::from_str_radix(hex, 16).unwrap_or(0xfffd);
                self.i += 6;
                match (pending_high.take(), unit) {
                    (Some(high), 0xdc00..=0xdfff) => {
                        let code = 0x10000
                            + ((u32::from(high) - 0xd800) << 10)
                            + (u32::from(unit) - 0xdc00);
                        push_char(&mut out, char::from_u32(code).unwrap_or('\u{fffd}'));
                    }
                    (prev, unit) => {
                        if prev.is_some() {
                            push_char(&mut out, '\u{fffd}');
                        }
                        if (0xd800..=0xdbff).contains(&unit) {
                            pending_high = Some(unit);
                        } else {
                            push_char(
                                &mut out,
                                char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}'),
                            );
                        }
                    }
                }
                continue;
            }
            if pending_high.take().is_some() {
                push_char(&mut out, '\u{fffd}');
            }
            match c {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    let e = self.b.get(self.i + 1).copied().unwrap_or(b'\\');
                    out.push(match e {
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        other => other,
                    });
                    self.i += 2;
                }
                other => {
                    out.push(other);
                    self.i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        match decode(body.as_bytes()) {
            Err(DecodeError::Invalid(m)) => m,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_read_like_go() {
        assert_eq!(decode(b"  \n").unwrap_err(), DecodeError::Empty);
        assert_eq!(err("{"), "unexpected EOF");
        assert_eq!(err(r#"{"Port": 1"#), "unexpected EOF");
        assert_eq!(
            err("x"),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(
            err("{x"),
            "invalid character 'x' looking for beginning of object key string"
        );
        assert_eq!(err(r#"{"a" 1}"#), "invalid character '1' after object key");
        assert_eq!(
            err(r#"{"a":1 "b":2}"#),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(err("[1 2]"), "invalid character '2' after array element");
        assert_eq!(
            err("[tru]"),
            "invalid character ']' in literal true (expecting 'e')"
        );
        assert_eq!(err("nul"), "unexpected EOF");
        assert_eq!(err("-x"), "invalid character 'x' in numeric literal");
        assert_eq!(
            err("[1.x]"),
            "invalid character 'x' after decimal point in numeric literal"
        );
        assert_eq!(
            err("[1ex]"),
            "invalid character 'x' in exponent of numeric literal"
        );
        assert_eq!(err("\"a\nb\""), "invalid character '\\n' in string literal");
        assert_eq!(
            err(r#""\q""#),
            "invalid character 'q' in string escape code"
        );
        assert_eq!(
            err(r#""\u12x4""#),
            "invalid character 'x' in \\u hexadecimal character escape"
        );
        assert_eq!(
            err(r#"{"a":1,}"#),
            "invalid character '}' looking for beginning of object key string"
        );
        assert_eq!(
            err("'a'"),
            "invalid character '\\'' looking for beginning of value"
        );
    }

    #[test]
    fn first_value_only_and_shallow_tree() {
        assert_eq!(decode(b"{} trailing junk").unwrap(), Value::Object(vec![]));
        let v = decode(br#"{"Port": 80, "S": ["a\u00e9", null, [1]], "x": {"y": {}}}"#).unwrap();
        assert_eq!(
            v,
            Value::Object(vec![
                ("Port".into(), Value::Number("80".into())),
                (
                    "S".into(),
                    Value::Array(vec![
                        Value::String("a\u{e9}".into()),
                        Value::Null,
                        Value::Nested("array")
                    ])
                ),
                (
                    "x".into(),
                    Value::Object(vec![("y".into(), Value::Nested("object"))])
                ),
            ])
        );
        assert_eq!(
            decode(br#""\ud83d\ude00""#).unwrap(),
            Value::String("\u{1f600}".into())
        );
        let deep = "[".repeat(20_000);
        assert_eq!(
            decode(deep.as_bytes()).unwrap_err(),
            DecodeError::Invalid("exceeded max depth".into())
        );
    }
}
