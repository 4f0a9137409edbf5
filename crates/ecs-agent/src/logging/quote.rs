//! String quoting as the reference's log formatters do it.
//!
//! Plain messages go through Go's `%q` (`strconv.Quote`); structured JSON values go
//! through `encoding/json` with its default HTML escaping. Log parsers written against
//! the reference depend on both, so they are reproduced byte for byte where we can.

use std::fmt::Write as _;

/// Appends `s` quoted as Go's `strconv.Quote` would: `"` and `\` escaped, the C escapes
/// for `\a \b \f \n \r \t \v`, `\xHH` for other ASCII controls and DEL, `\uHHHH` /
/// `\UHHHHHHHH` for other non-printable characters, printable Unicode kept as is.
pub fn go_quote_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if go_is_print(c) => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// `go_quote_into` into a new string.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    go_quote_into(&mut out, s);
    out
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space. Without Unicode category tables in std this recognises the non-printable
/// classes by range: controls, every space except U+0020, the format characters,
/// private use and non-characters. Unassigned code points are treated as printable
/// (Go would escape them); they do not occur in the agent's own messages.
fn go_is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_space = matches!(
        u,
        0x00A0 | 0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891
            | 0x08E2 | 0x1680 | 0x180E | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x2064
            | 0x2066..=0x206F | 0x3000 | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD
            | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001
            | 0xE0020..=0xE007F
    );
    let private_or_nonchar = matches!(u, 0xE000..=0xF8FF | 0xF0000..=0x10FFFF | 0xFDD0..=0xFDEF)
        || (u & 0xFFFE) == 0xFFFE;
    !(format_or_space || private_or_nonchar)
}

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it by default:
/// `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u00XX`/`\u20XX`, `\b \f \n \r \t`
/// short forms, other controls as `\u00xx` (lower-case hex).
pub fn json_quote_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json_quote_into` into a new string.
pub fn json_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    json_quote_into(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_strconv_quote() {
        // Expected values are what Go's strconv.Quote returns for the same input.
        let cases = [
            ("plain", r#""plain""#),
            (r#"say "hi""#, r#""say \"hi\"""#),
            ("back\\slash", r#""back\\slash""#),
            ("a\nb\tc\r", r#""a\nb\tc\r""#),
            ("\u{7}\u{8}\u{b}\u{c}", r#""\a\b\v\f""#),
            ("nul\u{0}esc\u{1b}del\u{7f}", r#""nul\x00esc\x1bdel\x7f""#),
            ("Live long and prosper 🖖🏼", "\"Live long and prosper 🖖🏼\""),
            ("héllo wörld 日本", "\"héllo wörld 日本\""),
            (
                "nbsp\u{a0}zwsp\u{200b}bom\u{feff}",
                r#""nbsp\u00a0zwsp\u200bbom\ufeff""#,
            ),
            ("line\u{2028}sep", r#""line\u2028sep""#),
            ("pua\u{e000}", r#""pua\ue000""#),
            ("tag\u{e0041}", r#""tag\U000e0041""#),
            ("c1\u{85}", r#""c1\u0085""#),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want, "input {input:?}");
        }
    }

    #[test]
    fn json_quote_matches_encoding_json() {
        let cases = [
            ("plain", r#""plain""#),
            (r#"a "b" \c"#, r#""a \"b\" \\c""#),
            (
                "<a href='x'>&</a>",
                r#""\u003ca href='x'\u003e\u0026\u003c/a\u003e""#,
            ),
            ("n\nr\rt\tb\u{8}f\u{c}", r#""n\nr\rt\tb\bf\f""#),
            ("nul\u{0}esc\u{1b}", r#""nul\u0000esc\u001b""#),
            ("del\u{7f}", "\"del\u{7f}\""),
            ("ls\u{2028}ps\u{2029}", r#""ls\u2028ps\u2029""#),
            ("🖖🏼 日本", "\"🖖🏼 日本\""),
        ];
        for (input, want) in cases {
            assert_eq!(json_quote(input), want, "input {input:?}");
        }
    }
}
