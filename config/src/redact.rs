//! How a value the user gave appears in a message: credentials masked, control bytes
//! escaped.
//!
//! Error messages end up in terminals, CI logs and bug reports. A URL's user info
//! (`http://user:password@host/`) is a credential, so a message shows it as
//! `http://user:***@host/`; a user info without `:` is often a token on its own
//! (`https://TOKEN@host/`), so it is shown as `***@`. A control byte (ESC, CR, BEL, …)
//! could rewrite what the terminal shows, so it is shown as `\x1b`.

use std::fmt::Write;

/// `s` as a message may show it: the user info of every `scheme://user:pass@` masked (see
/// [`mask_userinfo`]) and control characters escaped (`\x01`, `\u{9b}`).
pub fn shown(s: &str) -> String {
    escape_controls(&mask_userinfo(s))
}

/// Masks the user info after every `://` in `s`: `http://user:secret@h/` becomes
/// `http://user:***@h/`, `http://token@h/` becomes `http://***@h/`.
///
/// The authority is taken to end at the first `/`, `?`, `#` or whitespace (RFC 3986 allows
/// none of them raw in user info); the user info is what comes before its last `@`.
/// Masking twice gives the same text.
pub fn mask_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = authority_end(tail);
        out.push_str(&mask_authority(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Masks the user info at the start of an authority-like value (`user:secret@host:80`,
/// as `--resolve`, httperf's `--server` or a run file's `host` may be given), as
/// [`mask_userinfo`] does after `://`. A value without `@` is returned as it is.
pub fn mask_authority(s: &str) -> String {
    let end = authority_end(s);
    let (authority, rest) = s.split_at(end);
    match authority.rfind('@') {
        None => s.to_string(),
        Some(at) => {
            let user = match authority[..at].split_once(':') {
                Some((user, _)) => format!("{user}:"),
                None => String::new(),
            };
            format!("{user}***{}{rest}", &authority[at..])
        }
    }
}

/// Where an authority starting `s` ends.
fn authority_end(s: &str) -> usize {
    s.find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
        .unwrap_or(s.len())
}

/// `s` with every control character written as an escape: `\x01` for C0 controls and DEL,
/// `\u{9b}` for C1 controls.
pub fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_masked_and_the_user_name_kept() {
        let cases = [
            (
                "http://user:secret@127.0.0.1:1/",
                "http://user:***@127.0.0.1:1/",
            ),
            ("https://u:p:q@h", "https://u:***@h"),
            ("http://token@h/x", "http://***@h/x"),
            ("http://u:p@h?q=a@b", "http://u:***@h?q=a@b"),
            ("http://a@b@h/", "http://***@h/"),
            (
                "bad url 'http://u:pw@h': no; expected http[s]://host[:port][/path]",
                "bad url 'http://u:***@h': no; expected http[s]://host[:port][/path]",
            ),
            (
                "x http://u:a@h y ftp://v:b@g/",
                "x http://u:***@h y ftp://v:***@g/",
            ),
            ("http://h/a@b", "http://h/a@b"),
            ("no url at all@x", "no url at all@x"),
            ("http://", "http://"),
        ];
        for (given, want) in cases {
            assert_eq!(mask_userinfo(given), want, "{given}");
            assert_eq!(mask_userinfo(want), want, "masking twice: {want}");
        }
    }

    #[test]
    fn authorities() {
        assert_eq!(
            mask_authority("user:secret@h:443:1.2.3.4"),
            "user:***@h:443:1.2.3.4"
        );
        assert_eq!(mask_authority("tok@h"), "***@h");
        assert_eq!(mask_authority("h:80"), "h:80");
        assert_eq!(mask_authority("u:p@h/a@b"), "u:***@h/a@b");
    }

    #[test]
    fn controls_are_escaped() {
        assert_eq!(
            escape_controls("a\x01b\tc\u{7f}\u{9b}é"),
            "a\\x01b\\x09c\\x7f\\u{9b}é"
        );
        assert_eq!(shown("http://u:s@h/\x1b[2J"), "http://u:***@h/\\x1b[2J");
        assert_eq!(shown("plain"), "plain");
    }
}
