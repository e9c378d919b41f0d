//! A view over the header fields of a received reply head (LoadGen's `RC_HEADERS`).
//!
//! The head was checked by [`crate::http::parse_head`] when it arrived; [`Headers`]
//! borrows its bytes (kept in a per-slot buffer for hooks) and walks its lines again on
//! demand, so showing the fields to a hook costs no allocation. Names and values are as
//! received: names keep their case (look them up with [`Headers::get`], which ignores
//! case), values lose only the whitespace around them. A field given several times
//! appears once per line, in order.

/// The header fields of one reply head.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headers<'a> {
    /// The whole head: status line, fields, empty line (or nothing).
    head: &'a [u8],
}

/// One header field as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The field name, in the case the server sent.
    pub name: &'a str,
    /// The field value, without the whitespace around it (may be any bytes).
    pub value: &'a [u8],
}

impl<'a> Field<'a> {
    /// The value as text, if it is UTF-8.
    pub fn value_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }
}

impl<'a> Headers<'a> {
    /// The fields of the head `head` (a complete head, as received; empty for none).
    pub fn new(head: &'a [u8]) -> Self {
        Headers { head }
    }

    /// The head's bytes, status line included.
    pub fn raw(&self) -> &'a [u8] {
        self.head
    }

    /// True when there is no head (the request failed before one was read).
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The fields in the order received.
    pub fn iter(&self) -> FieldIter<'a> {
        FieldIter {
            lines: self.head,
            status_seen: false,
        }
    }

    /// The value of the first field called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }

    /// [`Headers::get`] as text, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of the fields called `name` (any case), in order.
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = Field<'a>;
    type IntoIter = FieldIter<'a>;

    fn into_iter(self) -> FieldIter<'a> {
        self.iter()
    }
}

/// The fields of a [`Headers`], in order.
#[derive(Debug, Clone)]
pub struct FieldIter<'a> {
    /// What is left of the head.
    lines: &'a [u8],
    /// The status line was skipped.
    status_seen: bool,
}

impl<'a> FieldIter<'a> {
    /// The next line, without its line ending (`None` at the end of the bytes).
    fn line(&mut self) -> Option<&'a [u8]> {
        if self.lines.is_empty() {
            return None;
        }
        let (line, rest) = match self.lines.iter().position(|&b| b == b'\n') {
            Some(i) => (&self.lines[..i], &self.lines[i + 1..]),
            None => (self.lines, &[][..]),
        };
        self.lines = rest;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        while !self.status_seen {
            // Empty lines before the status line are allowed (RFC 9112 §2.2).
            let line = self.line()?;
            self.status_seen = !line.is_empty();
        }
        loop {
            let line = self.line()?;
            if line.is_empty() {
                // The end of the header section.
                self.lines = &[];
                return None;
            }
            if line.starts_with(b" ") || line.starts_with(b"\t") {
                // An obsolete line folding (RFC 9112 §5.2): its text is not shown.
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let Ok(name) = std::str::from_utf8(&line[..colon]) else {
                continue;
            };
            return Some(Field {
                name,
                value: line[colon + 1..].trim_ascii(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"\r\nHTTP/1.1 200 OK\r\nX-Token: abc \r\nset-cookie: a=1\r\n\
        Folded: one\r\n two\r\nSet-Cookie: b=2\r\nEmpty:\r\n\r\nbody";

    #[test]
    fn fields_are_as_received_in_order() {
        let h = Headers::new(HEAD);
        let names: Vec<&str> = h.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            ["X-Token", "set-cookie", "Folded", "Set-Cookie", "Empty"]
        );
        assert_eq!(h.get("x-token"), Some(&b"abc"[..]));
        assert_eq!(h.get_str("X-TOKEN"), Some("abc"));
        assert_eq!(h.get("Empty"), Some(&b""[..]));
        assert_eq!(h.get("missing"), None);
        let cookies: Vec<&[u8]> = h.get_all("Set-Cookie").collect();
        assert_eq!(cookies, [&b"a=1"[..], &b"b=2"[..]]);
        assert!(!h.is_empty());
    }

    #[test]
    fn no_head_and_odd_bytes_give_no_fields_and_no_panic() {
        assert!(Headers::new(b"").is_empty());
        assert!(Headers::new(b"HTTP/1.1 200 OK\r\n").is_empty());
        assert!(Headers::new(b"\n\n\n").is_empty());
        let odd = Headers::new(b"HTTP/1.0 200 OK\nno colon\n\xff\xfe: x\nA:b\n");
        let fields: Vec<Field<'_>> = odd.iter().collect();
        assert_eq!(fields.len(), 1);
        assert_eq!((fields[0].name, fields[0].value), ("A", &b"b"[..]));
    }
}
