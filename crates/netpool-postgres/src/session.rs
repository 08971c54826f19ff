//! What the server said about the session: the transaction status of its last
//! `ReadyForQuery`, whether requests are still in flight, and whether the session's
//! prepared statements were dropped (`DISCARD ALL`, `DEALLOCATE`).
//!
//! # Implementation details
//!
//! tokio-postgres does not expose the transaction status the server reports after every
//! request, so the stream under the client ([`Tap`]) reads the message headers as they
//! pass, in both directions, without copying or holding back any byte:
//!
//! * server to client: every message is a type byte and a big-endian length (counting
//!   itself); the parser keeps the body of `ReadyForQuery` (`Z`, one status byte: `I`
//!   idle, `T` in a transaction, `E` in a failed transaction) and the first bytes of
//!   `CommandComplete` (`C`, the command tag), and skips the rest by length;
//! * client to server: the startup packet (and an `SSLRequest` before it, on the plain
//!   stream) has no type byte; after it every `Query` (`Q`) and `Sync` (`S`) asks for one
//!   `ReadyForQuery`. `sent` counts them (the startup packet counts once), `answered`
//!   counts the `ReadyForQuery`s.
//!
//! `status` is stored before `answered` is incremented (release), and read after
//! `answered` (acquire): once `answered == sent`, `status` is the answer to the last
//! request. The counts can drift in one known case (a `COPY FROM STDIN` sends a `Sync`
//! the server ignores), so after a round trip made while it holds the session alone,
//! the pool resynchronises them ([`Session::resync`]).
//!
//! Over TLS the tap sits above the TLS stream (it must see plaintext); the tap on the
//! TCP stream below it only sees the `SSLRequest` and its one-byte answer, then goes
//! passive.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The shared view of one session's protocol state.
#[derive(Debug)]
pub(crate) struct Session {
    /// Requests that ask for a `ReadyForQuery` (the startup packet, `Query`, `Sync`).
    sent: AtomicU64,
    /// `ReadyForQuery` messages received.
    answered: AtomicU64,
    /// The status byte of the last `ReadyForQuery` (0 before the first).
    status: AtomicU8,
    /// `DISCARD ALL` / `DEALLOCATE` commands completed: the prepared statements are gone.
    discards: AtomicU64,
}

/// The transaction status the server reported last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxStatus {
    /// Not in a transaction block, every request answered.
    Idle,
    /// In a transaction block (or a failed one), every request answered.
    InTransaction,
    /// Requests are in flight (or the counts drifted): ask the server.
    Unknown,
}

impl Session {
    pub(crate) fn new() -> Self {
        Self {
            // The startup packet is answered by the first ReadyForQuery.
            sent: AtomicU64::new(1),
            answered: AtomicU64::new(0),
            status: AtomicU8::new(0),
            discards: AtomicU64::new(0),
        }
    }

    /// The transaction status, if every request has been answered.
    #[inline]
    pub(crate) fn status(&self) -> TxStatus {
        // Acquire pairs with the release increment in `ready`: `status` is at least as
        // new as the answer counted.
        let answered = self.answered.load(Ordering::Acquire);
        let sent = self.sent.load(Ordering::Acquire);
        if answered != sent {
            return TxStatus::Unknown;
        }
        match self.status.load(Ordering::Relaxed) {
            b'I' => TxStatus::Idle,
            b'T' | b'E' => TxStatus::InTransaction,
            _ => TxStatus::Unknown,
        }
    }

    /// How many times the session's prepared statements were dropped.
    #[inline]
    pub(crate) fn discards(&self) -> u64 {
        self.discards.load(Ordering::Acquire)
    }

    /// After a round trip that the caller, holding the session alone, saw answered:
    /// nothing is in flight, whatever the counts say.
    pub(crate) fn resync(&self) {
        let sent = self.sent.load(Ordering::Acquire);
        self.answered.store(sent, Ordering::Release);
    }

    fn ready(&self, status: u8) {
        self.ready_n(1, status);
    }

    /// `n` `ReadyForQuery` messages passed, the last with `status`.
    fn ready_n(&self, n: u64, status: u8) {
        self.status.store(status, Ordering::Relaxed);
        self.answered.fetch_add(n, Ordering::Release);
    }

    fn request(&self) {
        self.request_n(1);
    }

    /// `n` requests that each ask for a `ReadyForQuery` were sent.
    fn request_n(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Release);
    }

    fn discarded(&self) {
        self.discards.fetch_add(1, Ordering::Release);
    }
}

/// One direction's parser. At a message boundary, the whole messages that follow are read
/// in place (the common case, [`Parse::whole`]); a message split across reads or writes
/// is taken up to its end by [`Parse::split`].
trait Parse {
    /// Nothing of a message is pending.
    fn at_boundary(&self) -> bool;
    /// Reads the whole messages at the start of `data`: how many bytes they take.
    fn whole(data: &[u8], session: &Session) -> usize;
    /// Goes on with the message under way (or starts one `data` holds only part of): the
    /// bytes of `data` taken, up to the next message boundary or the end.
    fn split(&mut self, data: &[u8], session: &Session) -> usize;

    /// Passes `data` through the parser.
    #[inline]
    fn feed(&mut self, mut data: &[u8], session: &Session) {
        while !data.is_empty() {
            if self.at_boundary() {
                data = &data[Self::whole(data, session)..];
                if data.is_empty() {
                    return;
                }
            }
            data = &data[self.split(data, session)..];
        }
    }
}

/// The server-to-client parser.
#[derive(Debug)]
struct ReadParser {
    /// Bytes to pass before messages start (the one-byte answer to an `SSLRequest`).
    skip: usize,
    /// The header of the current message (type and length), as far as read.
    header: [u8; 5],
    have: usize,
    /// Body bytes of the current message still to pass.
    body_left: usize,
    /// The first body bytes of a `Z` or `C` message.
    body: [u8; 16],
    body_have: usize,
    kind: u8,
}

impl ReadParser {
    fn new(skip: usize) -> Self {
        Self {
            skip,
            header: [0; 5],
            have: 0,
            body_left: 0,
            body: [0; 16],
            body_have: 0,
            kind: 0,
        }
    }
}

impl Parse for ReadParser {
    #[inline(always)]
    fn at_boundary(&self) -> bool {
        self.skip == 0 && self.body_left == 0 && self.have == 0
    }

    #[inline(always)]
    fn whole(data: &[u8], session: &Session) -> usize {
        whole_messages(data, session)
    }

    /// A message split across reads (or the `SSLRequest` answer).
    fn split(&mut self, data: &[u8], session: &Session) -> usize {
        let total = data.len();
        let mut data = data;
        while !data.is_empty() {
            if self.at_boundary() && data.len() < total {
                break;
            }
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            if self.body_left == 0 {
                // Reading a header.
                let n = (5 - self.have).min(data.len());
                self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
                self.have += n;
                data = &data[n..];
                if self.have < 5 {
                    break;
                }
                self.have = 0;
                self.kind = self.header[0];
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                self.body_left = len.saturating_sub(4);
                self.body_have = 0;
                if self.body_left == 0 {
                    self.finish(session);
                }
                continue;
            }
            let n = self.body_left.min(data.len());
            if matches!(self.kind, b'Z' | b'C') {
                let keep = n.min(self.body.len() - self.body_have);
                self.body[self.body_have..self.body_have + keep].copy_from_slice(&data[..keep]);
                self.body_have += keep;
            }
            self.body_left -= n;
            data = &data[n..];
            if self.body_left == 0 {
                self.finish(session);
            }
        }
        total - data.len()
    }
}

impl ReadParser {
    /// A whole message has passed.
    fn finish(&mut self, session: &Session) {
        let body = &self.body[..self.body_have];
        match self.kind {
            b'Z' => session.ready(body.first().copied().unwrap_or(0)),
            b'C' => command_complete(body, session),
            _ => {}
        }
    }
}

/// The type byte of the typed message at `at` in `data`, the length its header gives
/// (at least 4: it counts itself, and a broken stream's shorter one is taken as 4), and
/// where it ends, if all of it is there.
#[inline(always)]
fn message_at(data: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let [kind, len @ ..] = *data.get(at..)?.first_chunk::<5>()?;
    let len = (u32::from_be_bytes(len) as usize).max(4);
    let end = at.saturating_add(1).saturating_add(len);
    (end <= data.len()).then_some((kind, len, end))
}

/// Reads the whole server messages at the start of `data` into `session` (every
/// `ReadyForQuery` counted with one atomic operation): how many bytes they take.
#[inline]
fn whole_messages(data: &[u8], session: &Session) -> usize {
    let mut at = 0;
    let mut ready = 0;
    let mut status = 0;
    while let Some((kind, len, end)) = message_at(data, at) {
        if kind == b'Z' {
            ready += 1;
            status = if len > 4 { data[at + 5] } else { 0 };
        } else if kind == b'C' && len > 4 && data[at + 5] == b'D' {
            command_complete(&data[at + 5..end], session);
        }
        at = end;
    }
    if ready > 0 {
        session.ready_n(ready, status);
    }
    at
}

/// The whole client messages at the start of `data`: how many bytes they take, and how
/// many of them (`Query`, `Sync`) ask for a `ReadyForQuery`.
#[inline]
fn whole_requests(data: &[u8]) -> (usize, u64) {
    let mut at = 0;
    let mut requests = 0;
    while let Some((kind, _, end)) = message_at(data, at) {
        requests += u64::from(matches!(kind, b'Q' | b'S'));
        at = end;
    }
    (at, requests)
}

/// A `CommandComplete` (whose body starts with its tag) has passed.
#[cold]
fn command_complete(body: &[u8], session: &Session) {
    // The tag is NUL-terminated: "DISCARD ALL", "DEALLOCATE", "DEALLOCATE ALL".
    let tag = body.split(|&b| b == 0).next().unwrap_or_default();
    if tag == b"DISCARD ALL" || tag.starts_with(b"DEALLOCATE") {
        session.discarded();
    }
}

/// The client-to-server parser.
#[derive(Debug)]
struct WriteParser {
    /// Messages without a type byte still to come (the startup packet, an `SSLRequest`).
    untyped: usize,
    header: [u8; 5],
    have: usize,
    body_left: usize,
}

impl WriteParser {
    fn new(untyped: usize) -> Self {
        Self {
            untyped,
            header: [0; 5],
            have: 0,
            body_left: 0,
        }
    }
}

impl Parse for WriteParser {
    #[inline(always)]
    fn at_boundary(&self) -> bool {
        self.untyped == 0 && self.body_left == 0 && self.have == 0
    }

    #[inline(always)]
    fn whole(data: &[u8], session: &Session) -> usize {
        let (used, requests) = whole_requests(data);
        if requests > 0 {
            session.request_n(requests);
        }
        used
    }

    /// A message split across writes (or an untyped one).
    fn split(&mut self, data: &[u8], session: &Session) -> usize {
        let total = data.len();
        let mut data = data;
        while !data.is_empty() {
            if self.at_boundary() && data.len() < total {
                break;
            }
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                data = &data[n..];
                continue;
            }
            let header_len = if self.untyped > 0 { 4 } else { 5 };
            let n = (header_len - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have < header_len {
                break;
            }
            self.have = 0;
            let len_at = header_len - 4;
            let len = u32::from_be_bytes([
                self.header[len_at],
                self.header[len_at + 1],
                self.header[len_at + 2],
                self.header[len_at + 3],
            ]) as usize;
            self.body_left = len.saturating_sub(4);
            if self.untyped > 0 {
                self.untyped -= 1;
            } else {
                match self.header[0] {
                    b'Q' | b'S' => session.request(),
                    // The Sync sent with a COPY FROM STDIN is ignored by the server (it
                    // arrives in copy-in mode); `resync` corrects the count.
                    _ => {}
                }
            }
        }
        total - data.len()
    }
}

/// A stream that reads the protocol as it passes (see the module docs); a passive tap
/// passes bytes only.
#[derive(Debug)]
pub(crate) struct Tap<S> {
    inner: S,
    session: std::sync::Arc<Session>,
    read: ReadParser,
    write: WriteParser,
    passive: bool,
}

impl<S> Tap<S> {
    /// A tap on the stream that carries the protocol from the start: `ssl_request` if an
    /// `SSLRequest` goes first on it.
    pub(crate) fn new(inner: S, session: std::sync::Arc<Session>, ssl_request: bool) -> Self {
        Self {
            inner,
            session,
            read: ReadParser::new(usize::from(ssl_request)),
            write: WriteParser::new(1 + usize::from(ssl_request)),
            passive: false,
        }
    }

    /// Stops reading the protocol: TLS runs on top of this stream now.
    pub(crate) fn set_passive(&mut self) {
        self.passive = true;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            if let Some(read) = buf.filled().get(before..).filter(|r| !r.is_empty()) {
                if !this.passive {
                    this.read.feed(read, &this.session);
                }
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, data);
        if !this.passive {
            if let Poll::Ready(Ok(n)) = poll {
                this.write.feed(&data[..n], &this.session);
            }
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn untyped(body: &[u8]) -> Vec<u8> {
        let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        m.extend_from_slice(body);
        m
    }

    /// Feeds `data` in pieces of `size` bytes, so headers and bodies are split across
    /// reads (or, for large pieces, whole messages are read in place).
    fn pieces(size: usize, data: &[u8], mut feed: impl FnMut(&[u8])) {
        for chunk in data.chunks(size) {
            feed(chunk);
        }
    }

    #[test]
    fn status_follows_ready_for_query_across_split_reads() {
        // 3: every header split; 7 and 11: some messages whole, some split; 4096: all whole.
        for size in [3, 7, 11, 4096] {
            status_follows_ready_for_query(size);
        }
    }

    fn status_follows_ready_for_query(size: usize) {
        let in_pieces = |data: &[u8], feed: &mut dyn FnMut(&[u8])| pieces(size, data, feed);
        let session = Session::new();
        let mut w = WriteParser::new(2);
        let mut r = ReadParser::new(1);
        let mut out = untyped(&[0x04, 0xd2, 0x16, 0x2f]); // SSLRequest
        out.extend(untyped(b"\0\x03\0\0user\0postgres\0\0"));
        in_pieces(&out, &mut |d| w.feed(d, &session));
        assert_eq!(
            session.status(),
            TxStatus::Unknown,
            "startup not answered ({size})"
        );
        let mut inp = b"N".to_vec();
        inp.extend(msg(b'R', &[0, 0, 0, 0]));
        inp.extend(msg(b'S', b"client_encoding\0UTF8\0"));
        inp.extend(msg(b'Z', b"I"));
        in_pieces(&inp, &mut |d| r.feed(d, &session));
        assert_eq!(session.status(), TxStatus::Idle);

        in_pieces(&msg(b'Q', b"BEGIN\0"), &mut |d| w.feed(d, &session));
        assert_eq!(session.status(), TxStatus::Unknown, "in flight");
        let mut inp = msg(b'C', b"BEGIN\0");
        inp.extend(msg(b'Z', b"T"));
        in_pieces(&inp, &mut |d| r.feed(d, &session));
        assert_eq!(session.status(), TxStatus::InTransaction);

        let mut out = msg(b'P', b"\0SELECT 1\0\0\0");
        out.extend(msg(b'B', &[0; 8]));
        out.extend(msg(b'E', &[0; 5]));
        out.extend(msg(b'S', &[]));
        out.extend(msg(b'Q', b"DISCARD ALL\0"));
        in_pieces(&out, &mut |d| w.feed(d, &session));
        let mut inp = msg(b'E', b"SERROR\0Cxx\0\0");
        inp.extend(msg(b'Z', b"E"));
        in_pieces(&inp, &mut |d| r.feed(d, &session));
        assert_eq!(session.status(), TxStatus::Unknown, "one still in flight");
        assert_eq!(session.discards(), 0);
        let mut inp = msg(b'C', b"DISCARD ALL\0");
        inp.extend(msg(b'Z', b"I"));
        in_pieces(&inp, &mut |d| r.feed(d, &session));
        assert_eq!(session.status(), TxStatus::Idle);
        assert_eq!(session.discards(), 1);
    }

    #[test]
    fn one_read_with_several_answers_counts_each() {
        let session = Session::new();
        let mut w = WriteParser::new(1);
        let mut out = untyped(b"\0\x03\0\0");
        out.extend(msg(b'Q', b"BEGIN\0"));
        out.extend(msg(b'Q', b"DELETE FROM t\0"));
        out.extend(msg(b'Q', b"DISCARD ALL\0"));
        w.feed(&out, &session);
        let mut inp = msg(b'Z', b"I");
        inp.extend(msg(b'C', b"BEGIN\0"));
        inp.extend(msg(b'Z', b"T"));
        inp.extend(msg(b'C', b"DELETE 1\0"));
        inp.extend(msg(b'Z', b"T"));
        ReadParser::new(0).feed(&inp, &session);
        assert_eq!(session.status(), TxStatus::Unknown, "DISCARD ALL in flight");
        assert_eq!(session.discards(), 0, "DELETE is not a discard");
        let mut inp = msg(b'C', b"DISCARD ALL\0");
        inp.extend(msg(b'Z', b"I"));
        ReadParser::new(0).feed(&inp, &session);
        assert_eq!(session.status(), TxStatus::Idle);
        assert_eq!(session.discards(), 1);
    }

    #[test]
    fn resync_forgets_requests_the_server_ignored() {
        let session = Session::new();
        let mut w = WriteParser::new(1);
        w.feed(&untyped(b"\0\x03\0\0"), &session);
        w.feed(&msg(b'S', &[]), &session);
        ReadParser::new(0).feed(&msg(b'Z', b"I"), &session);
        assert_eq!(session.status(), TxStatus::Unknown);
        session.resync();
        assert_eq!(session.status(), TxStatus::Idle);
    }
}
