//! Reading positional arguments the way etcdctl does: numbers through Go's `strconv` (and its error
//! texts), a value from stdin when it is not on the command line, and Go's `%q` unquoting.

use std::io::Read;

/// Longest value `put` reads from stdin.
pub const MAX_STDIN_VALUE_BYTES: u64 = 64 * 1024 * 1024;

/// Go's `strconv.ParseInt(text, base, 64)`, with Go's error text.
pub fn parse_int(text: &str, base: u32) -> Result<i64, String> {
    i64::from_str_radix(text, base).map_err(|error| strconv_error("ParseInt", text, &error))
}

/// Go's `strconv.ParseUint(text, base, 64)`, with Go's error text (no sign allowed).
pub fn parse_uint(text: &str, base: u32) -> Result<u64, String> {
    if text.starts_with('+') {
        return Err(format!("strconv.ParseUint: parsing {}: invalid syntax", go_quote_text(text)));
    }
    u64::from_str_radix(text, base).map_err(|error| strconv_error("ParseUint", text, &error))
}

fn strconv_error(function: &str, text: &str, error: &std::num::ParseIntError) -> String {
    use std::num::IntErrorKind;
    let reason = match error.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "value out of range",
        _ => "invalid syntax",
    };
    format!("strconv.{function}: parsing {}: {reason}", go_quote_text(text))
}

fn go_quote_text(text: &str) -> String {
    super::print::go_text::go_quote(text.as_bytes())
}

/// etcdctl's `argOrStdin`: argument `index`, else everything on stdin (`None` when stdin is empty).
pub fn argument_or_stdin(args: &[String], index: usize) -> Option<Vec<u8>> {
    if let Some(argument) = args.get(index) {
        return Some(argument.as_bytes().to_vec());
    }
    let mut bytes = Vec::new();
    let read = std::io::stdin().lock().take(MAX_STDIN_VALUE_BYTES).read_to_end(&mut bytes);
    if read.is_err() || bytes.is_empty() {
        return None;
    }
    Some(bytes)
}

/// Reads one Go-quoted string (`"..."` with escapes, or a raw `` `...` ``) at the start of `text`;
/// returns it and the rest of the text.
pub fn unquote_prefix(text: &str) -> Option<(String, &str)> {
    if let Some(raw) = text.strip_prefix('`') {
        let end = raw.find('`')?;
        return Some((raw[..end].to_string(), &raw[end + 1..]));
    }
    let body = text.strip_prefix('"')?;
    let mut unquoted = String::new();
    let mut characters = body.char_indices();
    while let Some((position, character)) = characters.next() {
        match character {
            '"' => return Some((unquoted, &body[position + 1..])),
            '\\' => unquoted.push(escaped_character(&mut characters)?),
            '\n' => return None,
            other => unquoted.push(other),
        }
    }
    None
}

/// The character a backslash escape stands for (the backslash already read).
fn escaped_character(characters: &mut std::str::CharIndices) -> Option<char> {
    let (_, escape) = characters.next()?;
    let mut hex_digits = |count: usize| -> Option<char> {
        let digits: String = characters.by_ref().take(count).map(|(_, digit)| digit).collect();
        if digits.len() != count {
            return None;
        }
        char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
    };
    Some(match escape {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        '\\' => '\\',
        '"' => '"',
        '\'' => '\'',
        'x' => hex_digits(2)?,
        'u' => hex_digits(4)?,
        'U' => hex_digits(8)?,
        _ => return None,
    })
}

/// Splits a line into arguments the way etcdctl's `argify` does: runs of non-space characters,
/// `"double quoted"` strings (unquoted Go-style) and `'single quoted'` strings (taken literally).
pub fn argify(line: &str) -> Result<Vec<String>, String> {
    let mut arguments = Vec::new();
    let mut rest = line;
    // Every round consumes at least one character, so the line's length bounds the rounds.
    while let Some(start) = rest.find(|character: char| !character.is_whitespace()) {
        rest = &rest[start..];
        if rest.starts_with('"') {
            let Some((argument, after)) = unquote_prefix(rest) else {
                return Err(format!("bad quoted string {rest}"));
            };
            arguments.push(argument);
            rest = after;
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let Some(end) = quoted.find('\'') else { return Err(format!("bad quoted string {rest}")) };
            arguments.push(quoted[..end].to_string());
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            arguments.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    Ok(arguments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_fail_with_go_strconv_texts() {
        assert_eq!(parse_int("1f", 16), Ok(31));
        assert_eq!(parse_int("zz", 16).unwrap_err(), "strconv.ParseInt: parsing \"zz\": invalid syntax");
        assert_eq!(
            parse_int("ffffffffffffffffff", 16).unwrap_err(),
            "strconv.ParseInt: parsing \"ffffffffffffffffff\": value out of range"
        );
        assert_eq!(parse_uint("+1", 16).unwrap_err(), "strconv.ParseUint: parsing \"+1\": invalid syntax");
    }

    #[test]
    fn lines_split_into_arguments_like_argify() {
        let arguments = argify(r#"put "a b\tc" 'x y' plain  --prev-kv"#).unwrap();
        assert_eq!(arguments, ["put", "a b\tc", "x y", "plain", "--prev-kv"]);
        assert!(argify("put \"open").is_err());
    }

    #[test]
    fn go_quoted_strings_unquote() {
        assert_eq!(unquote_prefix(r#""k\x41\u00e9") = "v""#), Some(("kAé".to_string(), r#") = "v""#)));
        assert_eq!(unquote_prefix("`raw\\n`rest"), Some(("raw\\n".to_string(), "rest")));
        assert_eq!(unquote_prefix("bare"), None);
    }
}
