//! Text that came from outside (log lines, substation names, file names) may carry
//! terminal escape sequences. Drawing them raw could move the cursor, change colours or
//! retitle the operator's terminal, so everything external goes through here first.

/// Removes ANSI/VT escape sequences (CSI, OSC, DCS, ...) and every other control
/// character; tabs become a space. Printable Unicode is kept as is, except bidi overrides.
pub fn sanitize_for_terminal(s: &str) -> String {
    // The escape parser (vte, under strip-ansi-escapes) reads 7-bit sequences; a C1 control
    // (U+0080..U+009F, e.g. U+009B = CSI) is the same as ESC followed by U+0040..U+005F.
    let mut seven_bit = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{80}'..='\u{9f}' => {
                seven_bit.push('\u{1b}');
                seven_bit.push(char::from(c as u8 - 0x40));
            }
            '\t' => seven_bit.push(' '),
            c => seven_bit.push(c),
        }
    }
    strip_ansi_escapes::strip_str(seven_bit)
        .chars()
        // Bidi overrides can make text render in misleading order.
        .filter(|c| !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_csi_osc_and_controls() {
        let evil = "ok \u{1b}[31mred\u{1b}[0m \u{1b}]0;pwned\u{7}title\r\nnext\u{8}\u{0}";
        assert_eq!(sanitize_for_terminal(evil), "ok red titlenext");
    }

    #[test]
    fn keeps_unicode_and_turns_tabs_into_spaces() {
        assert_eq!(sanitize_for_terminal("Zürich\tsüd ⚡"), "Zürich süd ⚡");
    }

    #[test]
    fn unterminated_sequences_do_not_leak() {
        assert_eq!(sanitize_for_terminal("a\u{1b}]52;c;AAAA"), "a");
        assert_eq!(sanitize_for_terminal("a\u{1b}[12"), "a");
        assert_eq!(sanitize_for_terminal("a\u{9b}2Jb"), "ab");
    }

    #[test]
    fn strips_bidi_overrides() {
        assert_eq!(sanitize_for_terminal("sub\u{202e}tset"), "subtset");
    }

    #[test]
    fn strips_c1_strings_and_charset_switches() {
        assert_eq!(sanitize_for_terminal("a\u{9d}0;title\u{9c}b"), "ab");
        assert_eq!(sanitize_for_terminal("a\u{1b}(Bb\u{1b}P1$r\u{1b}\\c"), "abc");
        assert_eq!(sanitize_for_terminal("a\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\"), "alink");
    }
}
