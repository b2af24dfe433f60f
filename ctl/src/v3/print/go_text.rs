//! Go's ways of writing values as text, which etcdctl's output is made of: `%q` quoting
//! (`strconv.Quote`), `--hex` byte escapes, base64 for `[]byte` in JSON, `%v` of a string list, and
//! the compact protobuf text of an alarm.

use base64::Engine;

/// Go's `strconv.Quote` of the bytes read as a Go string: printable characters as they are, the usual
/// backslash escapes, `\xNN` for bytes that are not UTF-8 and for ASCII control bytes, `\uNNNN` or
/// `\UNNNNNNNN` for other unprintable characters.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut quoted = String::with_capacity(bytes.len() + 2);
    quoted.push('"');
    for chunk in bytes.utf8_chunks() {
        for character in chunk.valid().chars() {
            push_quoted_character(&mut quoted, character);
        }
        for byte in chunk.invalid() {
            quoted.push_str(&format!("\\x{byte:02x}"));
        }
    }
    quoted.push('"');
    quoted
}

fn push_quoted_character(quoted: &mut String, character: char) {
    match character {
        '"' => quoted.push_str("\\\""),
        '\\' => quoted.push_str("\\\\"),
        '\u{7}' => quoted.push_str("\\a"),
        '\u{8}' => quoted.push_str("\\b"),
        '\u{c}' => quoted.push_str("\\f"),
        '\n' => quoted.push_str("\\n"),
        '\r' => quoted.push_str("\\r"),
        '\t' => quoted.push_str("\\t"),
        '\u{b}' => quoted.push_str("\\v"),
        printable if is_go_printable(printable) => quoted.push(printable),
        ascii if (ascii as u32) < 0x80 => quoted.push_str(&format!("\\x{:02x}", ascii as u32)),
        narrow if (narrow as u32) < 0x10000 => quoted.push_str(&format!("\\u{:04x}", narrow as u32)),
        wide => quoted.push_str(&format!("\\U{:08x}", wide as u32)),
    }
}

/// An approximation of Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the
/// ASCII space; no control, space-like or invisible formatting characters.
fn is_go_printable(character: char) -> bool {
    if character == ' ' {
        return true;
    }
    let invisible = matches!(
        character,
        '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}' | '\u{e000}'..='\u{f8ff}'
    );
    !character.is_control() && !character.is_whitespace() && !invisible
}

/// etcdctl's `--hex` rendering: every byte as `\xNN`.
pub fn hex_escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("\\x{byte:02x}")).collect()
}

/// How Go's `encoding/json` writes a `[]byte`: standard base64 with padding.
pub fn base64_text(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Go's `%v` of a `[]string`: `[a b c]`.
pub fn go_string_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// An alarm type's name, as Go's `String()` of the `AlarmType` enum gives it.
pub fn alarm_type_name(alarm: i32) -> String {
    match api::etcdserverpb::AlarmType::try_from(alarm) {
        Ok(known) => known.as_str_name().to_string(),
        Err(_) => alarm.to_string(),
    }
}

/// The compact protobuf text of an alarm member (`%+v` of a generated message): fields that are not
/// zero, each followed by a space.
pub fn alarm_member_text(member_id: u64, alarm: i32) -> String {
    let mut text = String::new();
    if member_id != 0 {
        text.push_str(&format!("memberID:{member_id} "));
    }
    if alarm != 0 {
        text.push_str(&format!("alarm:{} ", alarm_type_name(alarm)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_go_strconv_quote() {
        assert_eq!(go_quote(b"plain"), "\"plain\"");
        assert_eq!(go_quote(b"q\tx\"y"), "\"q\\tx\\\"y\"");
        assert_eq!(go_quote(b"v\x01\xff"), "\"v\\x01\\xff\"");
        assert_eq!(go_quote("é\u{200b}".as_bytes()), "\"é\\u200b\"");
        assert_eq!(go_quote(b"back\\slash\x7f"), "\"back\\\\slash\\x7f\"");
    }

    #[test]
    fn hex_and_base64_read_like_etcdctl() {
        assert_eq!(hex_escaped(b"ab"), "\\x61\\x62");
        assert_eq!(base64_text(b"srn"), "c3Ju");
        assert_eq!(base64_text(b"v\x01\xff"), "dgH/");
    }

    #[test]
    fn lists_and_alarms_read_like_go() {
        assert_eq!(go_string_list(&[]), "[]");
        assert_eq!(go_string_list(&["a".into(), "b".into()]), "[a b]");
        assert_eq!(alarm_member_text(7, 1), "memberID:7 alarm:NOSPACE ");
    }
}
