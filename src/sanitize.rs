//! Text that came from outside (log lines, substation names, file names) may carry
//! terminal escape sequences. Drawing them raw could move the cursor, change colours or
//! retitle the operator's terminal, so everything external goes through here first.

/// Removes ANSI/VT escape sequences (CSI, OSC, DCS, ...) and every other control
/// character; tabs become a space. Printable Unicode is kept as is.
pub fn sanitize_for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI / OSC / DCS introducers carry a sequence just like ESC [ / ESC ].
            '\u{9b}' => skip_until_final(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            // Bidi overrides can make text render in misleading order.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_until_final(chars),
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => skip_string(chars),
        // ESC ( B and friends: one intermediate then a final byte.
        Some('(') | Some(')') | Some('*') | Some('+') | Some('#') | Some('%') => {
            chars.next();
        }
        _ => {}
    }
}

/// CSI: parameters and intermediates, ended by a byte in 0x40..=0x7e.
fn skip_until_final(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

/// OSC/DCS/etc: ended by BEL, ST (ESC \) or C1 ST.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
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
}
