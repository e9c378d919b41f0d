//! httperf's `--print-request` and `--print-reply`: requests and replies on stdout as
//! they go out and come in, in httperf's line format.
//!
//! Every line is a prefix, the call's number, a colon and one line of the message with
//! its `\n` removed (a `\r` stays, as in httperf): `SH` request head, `SB` request body,
//! `RH` reply head (interim 1xx heads too), `RB` reply body (a chunked body's data, not its
//! framing). A summary line follows each message: `SS<n>: header H content C` after a
//! request, `RS<n>: header H content C footer F` after a reply (F: a chunked body's
//! trailer section). Bytes are written as they are, without escaping.
//!
//! Call numbers count up from the worker's index in steps of the number of workers, so
//! they are unique over the run (and 0, 1, 2, … with one worker, httperf's numbering).
//! A message is written to stdout in one piece once it is complete, so messages of
//! different workers do not mix inside a message (a very large body is written in
//! pieces of [`FLUSH_AT`] bytes).

use std::io::Write;

use volley_config::PrintSpec;

/// Output is written once this much is pending inside a message.
pub const FLUSH_AT: usize = 64 * 1024;

/// Prints one worker's requests and replies.
#[derive(Debug)]
pub struct Printer {
    spec: PrintSpec,
    out: Vec<u8>,
    next: u64,
    stride: u64,
    /// stdout failed (closed pipe): nothing more is printed.
    broken: bool,
    /// Tests: output kept here instead of going to stdout.
    #[cfg(test)]
    kept: Vec<u8>,
}

impl Printer {
    /// A printer for worker `index` of `workers`, or `None` when nothing is printed.
    pub fn new(spec: PrintSpec, index: u32, workers: u32) -> Option<Printer> {
        spec.any().then(|| Printer {
            spec,
            out: Vec::with_capacity(4096),
            next: u64::from(index),
            stride: u64::from(workers.max(1)),
            broken: false,
            #[cfg(test)]
            kept: Vec::new(),
        })
    }

    /// A new call's number.
    pub fn call_id(&mut self) -> u64 {
        let id = self.next;
        self.next += self.stride;
        id
    }

    /// The distance between this worker's consecutive call numbers.
    pub fn stride(&self) -> u64 {
        self.stride
    }

    /// Reply bodies are printed.
    pub fn reply_body_wanted(&self) -> bool {
        self.spec.reply.is_some_and(|p| p.body())
    }

    /// Reply heads are printed.
    pub fn reply_head_wanted(&self) -> bool {
        self.spec.reply.is_some_and(|p| p.header())
    }

    /// A request going out: its head (`SH`), body (`SB`) and summary (`SS`).
    pub fn request(&mut self, id: u64, bytes: &[u8], head_len: usize) {
        let Some(parts) = self.spec.request else {
            return;
        };
        let (head, body) = bytes.split_at(head_len.min(bytes.len()));
        if parts.header() {
            lines(&mut self.out, b"SH", id, head);
        }
        if parts.body() {
            lines(&mut self.out, b"SB", id, body);
        }
        let _ = writeln!(
            self.out,
            "SS{id}: header {} content {}",
            head.len(),
            body.len()
        );
        self.flush();
    }

    /// A reply head (interim or final): `RH` lines.
    pub fn reply_head(&mut self, id: u64, head: &[u8]) {
        if self.reply_head_wanted() {
            lines(&mut self.out, b"RH", id, head);
        }
    }

    /// Payload bytes of a reply body: complete lines go out as `RB` lines, a last partial
    /// line waits in `pending` for the rest.
    pub fn reply_body(&mut self, id: u64, pending: &mut Vec<u8>, data: &[u8]) {
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            line(&mut self.out, b"RB", id, pending, &rest[..nl]);
            pending.clear();
            rest = &rest[nl + 1..];
        }
        pending.extend_from_slice(rest);
        if self.out.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// The reply ended: the partial body line, then `RS`.
    pub fn reply_end(
        &mut self,
        id: u64,
        pending: &mut Vec<u8>,
        header: u64,
        content: u64,
        footer: u64,
    ) {
        if self.spec.reply.is_none() {
            return;
        }
        self.drop_pending(id, pending);
        let _ = writeln!(
            self.out,
            "RS{id}: header {header} content {content} footer {footer}"
        );
        self.flush();
    }

    /// The reply failed part way: what was printed of it goes out (no `RS` line: there
    /// is no reply).
    pub fn reply_failed(&mut self, id: u64, pending: &mut Vec<u8>) {
        self.drop_pending(id, pending);
        self.flush();
    }

    fn drop_pending(&mut self, id: u64, pending: &mut Vec<u8>) {
        if !pending.is_empty() {
            line(&mut self.out, b"RB", id, &[], pending);
            pending.clear();
        }
    }

    /// Writes what is pending to stdout.
    pub fn flush(&mut self) {
        if !self.out.is_empty() {
            self.emit();
            self.out.clear();
        }
    }

    #[cfg(not(test))]
    fn emit(&mut self) {
        if !self.broken {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(&self.out)
                .and_then(|()| stdout.flush())
                .is_err()
            {
                self.broken = true;
            }
        }
    }

    #[cfg(test)]
    fn emit(&mut self) {
        let _ = self.broken;
        self.kept.extend_from_slice(&self.out);
    }
}

/// `bytes` as lines (split at `\n`, which is dropped) under `prefix` and `id`; a last
/// piece without `\n` is a line too.
fn lines(out: &mut Vec<u8>, prefix: &[u8], id: u64, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    for l in body.split(|&b| b == b'\n') {
        line(out, prefix, id, &[], l);
    }
}

fn line(out: &mut Vec<u8>, prefix: &[u8], id: u64, start: &[u8], rest: &[u8]) {
    out.extend_from_slice(prefix);
    let _ = write!(out, "{id}:");
    out.extend_from_slice(start);
    out.extend_from_slice(rest);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_config::PrintParts;

    fn printer(request: Option<PrintParts>, reply: Option<PrintParts>) -> Printer {
        Printer::new(PrintSpec { request, reply }, 1, 2).unwrap()
    }

    fn text(p: &Printer) -> String {
        String::from_utf8(p.kept.clone()).unwrap()
    }

    #[test]
    fn nothing_asked_means_no_printer() {
        assert!(Printer::new(PrintSpec::default(), 0, 1).is_none());
    }

    #[test]
    fn requests_print_head_body_and_summary() {
        let req = b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\na\nb";
        let head = req.len() - 3;
        let mut p = printer(Some(PrintParts::Both), None);
        let id = p.call_id();
        p.request(id, req, head);
        assert_eq!(
            text(&p),
            "SH1:POST /x HTTP/1.1\r\nSH1:Content-Length: 3\r\nSH1:\r\nSB1:a\nSB1:b\n\
             SS1: header 39 content 3\n"
        );
        let mut h = printer(Some(PrintParts::Header), None);
        h.request(0, req, head);
        assert!(!text(&h).contains("SB0"), "{}", text(&h));
        let mut b = printer(Some(PrintParts::Body), None);
        b.request(0, req, head);
        assert_eq!(text(&b), "SB0:a\nSB0:b\nSS0: header 39 content 3\n");
    }

    #[test]
    fn reply_body_lines_join_across_reads() {
        let mut p = printer(None, Some(PrintParts::Both));
        assert_eq!((p.call_id(), p.call_id()), (1, 3), "worker 1 of 2");
        let mut pending = Vec::new();
        p.reply_head(3, b"HTTP/1.1 200 OK\r\n\r\n");
        p.reply_body(3, &mut pending, b"hel");
        p.reply_body(3, &mut pending, b"lo\nwor");
        p.reply_body(3, &mut pending, b"ld");
        p.reply_end(3, &mut pending, 19, 11, 0);
        assert_eq!(
            text(&p),
            "RH3:HTTP/1.1 200 OK\r\nRH3:\r\nRB3:hello\nRB3:world\n\
             RS3: header 19 content 11 footer 0\n"
        );
        assert!(pending.is_empty());
    }

    #[test]
    fn body_only_replies_skip_heads() {
        let mut p = printer(None, Some(PrintParts::Body));
        assert!(!p.reply_head_wanted() && p.reply_body_wanted());
        p.reply_head(0, b"HTTP/1.1 200 OK\r\n\r\n");
        let mut pending = Vec::new();
        p.reply_body(0, &mut pending, b"x");
        p.reply_failed(0, &mut pending);
        assert_eq!(text(&p), "RB0:x\n");
    }
}
