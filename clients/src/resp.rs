//! A minimal hand-written RESP (REdis Serialization Protocol) client, and netpool managers
//! that pool it over TCP on tokio and on smol.
//!
//! It shows how a custom protocol sits on netpool: the protocol is a [`Client`] over any
//! stream that implements the `futures-io` traits (smol's `TcpStream` does; a tokio
//! `TcpStream` does through [`tokio_util::compat`]), and a [`Manager`] opens the stream,
//! checks it with `PING`, and reports it broken after an I/O or protocol error.
//!
//! The parser is sans-I/O ([`parse`]): it never panics on garbage, bounds lengths and
//! nesting, and never allocates according to a length the peer announces.
//!
//! # Examples
//!
//! ```no_run
//! use netpool_core::{Pool, Pooled};
//! use netpool_clients::resp::TokioManager;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::builder().max_size(8).build(TokioManager::new("127.0.0.1:6379"))?;
//! let mut conn = pool.get().await?;
//! match conn.incr(b"visits").await {
//!     Ok(n) => println!("visit number {n}"),
//!     // The stream is out of sync or gone: close it instead of reusing it.
//!     Err(e) if e.is_fatal() => Pooled::discard(conn),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok(())
//! # }
//! ```

use std::io;
use std::marker::PhantomData;

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use netpool_core::{Hooks, Manager, Meta};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// The largest bulk string the parser accepts (the server's own default limit is 512 MiB;
/// this client is for small values).
pub const MAX_BULK_LEN: usize = 64 * 1024 * 1024;
/// The largest array the parser accepts.
pub const MAX_ARRAY_LEN: usize = 1024 * 1024;
/// The deepest nesting of arrays the parser accepts.
pub const MAX_DEPTH: usize = 32;
/// The longest simple string, error or integer line the parser accepts.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`: a simple string.
    Simple(String),
    /// `-ERR ...`: an error reply (the command failed; the connection is fine).
    Error(String),
    /// `:42`: an integer.
    Integer(i64),
    /// `$3 foo`, or `$-1`: a bulk string, or nil.
    Bulk(Option<Vec<u8>>),
    /// `*2 ...`, or `*-1`: an array, or a nil array.
    Array(Option<Vec<Self>>),
}

/// Why a reply could not be parsed: the peer sent something that is not RESP.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A reply started with a byte that is no RESP2 type marker.
    #[error("unknown reply type byte 0x{0:02x}")]
    UnknownType(u8),
    /// A line was not terminated by `\r\n` where one was required.
    #[error("missing CRLF terminator")]
    MissingCrlf,
    /// An integer or length field was not a valid number.
    #[error("invalid integer")]
    BadInteger,
    /// A length was negative (other than the nil marker -1).
    #[error("invalid length {0}")]
    BadLength(i64),
    /// A length, line or nesting depth exceeded this client's limits.
    #[error("reply exceeds the client's limits")]
    TooLarge,
    /// A simple string or error was not UTF-8.
    #[error("simple string is not UTF-8")]
    NotUtf8,
    /// Bytes arrived that no command asked for: the stream is out of sync.
    #[error("{0} unexpected bytes after the reply")]
    TrailingBytes(usize),
}

/// An error from a RESP [`Client`].
///
/// [`is_fatal`](RespError::is_fatal) tells whether the connection must be closed (with
/// [`Pooled::discard`](netpool_core::Pooled::discard)) rather than reused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    /// Reading from or writing to the stream failed.
    #[error("i/o error talking to the server: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection (EOF), possibly in the middle of a reply.
    #[error("the server closed the connection")]
    Closed,
    /// The server sent something that is not RESP.
    #[error("malformed reply from the server: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server answered with an error reply, such as `-ERR value is not an integer`.
    #[error("server error: {0}")]
    Server(String),
    /// The server answered with a well-formed reply of the wrong type for the command.
    #[error("unexpected reply to {command}: {reply:?}")]
    Unexpected {
        /// The command that was sent.
        command: &'static str,
        /// What came back.
        reply: Value,
    },
}

impl RespError {
    /// Returns `true` if the connection can no longer be trusted: an I/O error, EOF, garbage
    /// or a reply of the wrong type. Returns `false` for an error reply from the server,
    /// after which the connection is still in sync.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::Server(_))
    }
}

/// A RESP client over one stream. Commands are sent one at a time (no pipelining), so
/// after each complete reply the read buffer must be empty; anything left over is an
/// error ([`ProtocolError::TrailingBytes`]).
///
/// A command whose future is dropped half way leaves the stream out of sync; the client
/// then reports itself broken ([`Client::is_broken`]), which is what
/// [`TokioManager`]'s and [`SmolManager`]'s `has_broken` return.
///
/// # Examples
///
/// Over a pooled stream that another manager owns (here `netpool-smol`'s or
/// `netpool-tokio`'s plain TCP manager), borrow the stream for one exchange:
///
/// ```no_run
/// # async fn f(stream: &mut smol::net::TcpStream) -> Result<(), netpool_clients::resp::RespError> {
/// use netpool_clients::resp::Client;
///
/// let mut client = Client::new(stream);
/// client.set(b"greeting", b"hello").await?;
/// assert_eq!(client.get(b"greeting").await?.as_deref(), Some(&b"hello"[..]));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Client<S> {
    stream: S,
    buf: Vec<u8>,
    broken: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client over `stream`, which must be connected to a RESP server with nothing in
    /// flight.
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            buf: Vec::new(),
            broken: false,
        }
    }

    /// Sends one command (its arguments, the first being the command's name) and reads
    /// its reply. An error reply comes back as `Ok(Value::Error(..))`.
    ///
    /// # Errors
    ///
    /// [`RespError::Io`], [`RespError::Closed`] or [`RespError::Protocol`]; each leaves
    /// the client broken.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future half way leaves the client broken.
    pub async fn command(&mut self, args: &[&[u8]]) -> Result<Value, RespError> {
        if self.broken {
            return Err(RespError::Io(io::Error::new(
                io::ErrorKind::NotConnected,
                "the client broke on an earlier error",
            )));
        }
        // Broken until the exchange completes, so a dropped future or an error leaves it so.
        self.broken = true;
        let mut req = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        encode(args, &mut req);
        self.stream.write_all(&req).await?;
        self.stream.flush().await?;
        self.buf.clear();
        let value = loop {
            match parse(&self.buf)? {
                Some((value, used)) if used == self.buf.len() => break value,
                Some((_, used)) => {
                    return Err(ProtocolError::TrailingBytes(self.buf.len() - used).into());
                }
                None => {}
            }
            let start = self.buf.len();
            self.buf.resize(start + 4096, 0);
            let n = self.stream.read(&mut self.buf[start..]).await?;
            self.buf.truncate(start + n);
            if n == 0 {
                return Err(RespError::Closed);
            }
        };
        self.broken = false;
        Ok(value)
    }

    /// `PING`: checks that the server answers `PONG`.
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command); [`RespError::Server`] or [`RespError::Unexpected`]
    /// if the answer is not `PONG`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`command`](Self::command).
    pub async fn ping(&mut self) -> Result<(), RespError> {
        match self.checked(&[b"PING"]).await? {
            Value::Simple(s) if s == "PONG" => Ok(()),
            reply => Err(self.unexpected("PING", reply)),
        }
    }

    /// `GET key`: the value, or `None` if the key does not exist.
    ///
    /// # Errors
    ///
    /// As [`ping`](Self::ping).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`command`](Self::command).
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, RespError> {
        match self.checked(&[b"GET", key]).await? {
            Value::Bulk(v) => Ok(v),
            reply => Err(self.unexpected("GET", reply)),
        }
    }

    /// `SET key value`.
    ///
    /// # Errors
    ///
    /// As [`ping`](Self::ping).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`command`](Self::command).
    pub async fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), RespError> {
        match self.checked(&[b"SET", key, value]).await? {
            Value::Simple(s) if s == "OK" => Ok(()),
            reply => Err(self.unexpected("SET", reply)),
        }
    }

    /// `INCR key`: the value after the increment.
    ///
    /// # Errors
    ///
    /// As [`ping`](Self::ping); [`RespError::Server`] if the value is not an integer.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`command`](Self::command).
    pub async fn incr(&mut self, key: &[u8]) -> Result<i64, RespError> {
        match self.checked(&[b"INCR", key]).await? {
            Value::Integer(n) => Ok(n),
            reply => Err(self.unexpected("INCR", reply)),
        }
    }

    /// `SELECT db`: switches the connection to database `db`.
    ///
    /// # Errors
    ///
    /// As [`ping`](Self::ping); [`RespError::Server`] if `db` is out of range.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`command`](Self::command).
    pub async fn select(&mut self, db: u32) -> Result<(), RespError> {
        let db = db.to_string();
        match self.checked(&[b"SELECT", db.as_bytes()]).await? {
            Value::Simple(s) if s == "OK" => Ok(()),
            reply => Err(self.unexpected("SELECT", reply)),
        }
    }

    /// `CLIENT SETNAME name`: names the connection (as shown by `CLIENT LIST`).
    ///
    /// # Errors
    ///
    /// As [`ping`](Self::ping); [`RespError::Server`] for a name with spaces.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, as [`command`](Self::command).
    pub async fn set_name(&mut self, name: &str) -> Result<(), RespError> {
        match self
            .checked(&[b"CLIENT", b"SETNAME", name.as_bytes()])
            .await?
        {
            Value::Simple(s) if s == "OK" => Ok(()),
            reply => Err(self.unexpected("CLIENT SETNAME", reply)),
        }
    }

    /// Whether an earlier error or a dropped command left the stream unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The stream, mutably (for example to read its peer address).
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Gives the stream back.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Sends a command and turns an error reply into [`RespError::Server`].
    async fn checked(&mut self, args: &[&[u8]]) -> Result<Value, RespError> {
        match self.command(args).await? {
            Value::Error(e) => Err(RespError::Server(e)),
            value => Ok(value),
        }
    }

    fn unexpected(&mut self, command: &'static str, reply: Value) -> RespError {
        // A reply of the wrong type means we no longer know what the stream carries.
        self.broken = true;
        RespError::Unexpected { command, reply }
    }
}

/// Encodes a command as a RESP array of bulk strings, appending to `out`.
pub fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    push_header(out, b'*', args.len());
    for arg in args {
        push_header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses one reply from the front of `buf`.
///
/// Returns `Ok(None)` if `buf` holds only part of a reply, and `Ok(Some((value, used)))`
/// with the number of bytes the reply took.
///
/// # Errors
///
/// A [`ProtocolError`] if `buf` does not start with a valid RESP2 reply within the limits
/// ([`MAX_BULK_LEN`], [`MAX_ARRAY_LEN`], [`MAX_DEPTH`], [`MAX_LINE_LEN`]).
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    let mut pos = 0;
    Ok(parse_at(buf, &mut pos, 0)?.map(|v| (v, pos)))
}

fn push_header(out: &mut Vec<u8>, marker: u8, n: usize) {
    out.push(marker);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Parses the value at `*pos`, advancing `*pos` past it only when it is complete.
fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Value>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::TooLarge);
    }
    let Some(&marker) = buf.get(*pos) else {
        return Ok(None);
    };
    let mut at = *pos + 1;
    let Some(line) = line(buf, &mut at)? else {
        return Ok(None);
    };
    let value = match marker {
        b'+' => Value::Simple(utf8(line)?),
        b'-' => Value::Error(utf8(line)?),
        b':' => Value::Integer(integer(line)?),
        b'$' => match length(line, MAX_BULK_LEN)? {
            None => Value::Bulk(None),
            Some(len) => {
                // `len` is bounded by MAX_BULK_LEN, so this cannot overflow.
                let end = at + len;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ProtocolError::MissingCrlf);
                }
                let data = buf[at..end].to_vec();
                at = end + 2;
                Value::Bulk(Some(data))
            }
        },
        b'*' => match length(line, MAX_ARRAY_LEN)? {
            None => Value::Array(None),
            Some(len) => {
                // Never trust the announced length for the allocation.
                let mut items = Vec::with_capacity(len.min(64));
                for _ in 0..len {
                    match parse_at(buf, &mut at, depth + 1)? {
                        Some(item) => items.push(item),
                        None => return Ok(None),
                    }
                }
                Value::Array(Some(items))
            }
        },
        other => return Err(ProtocolError::UnknownType(other)),
    };
    *pos = at;
    Ok(Some(value))
}

/// The line starting at `*at` without its CRLF, advancing `*at` past the CRLF.
fn line<'a>(buf: &'a [u8], at: &mut usize) -> Result<Option<&'a [u8]>, ProtocolError> {
    let rest = &buf[(*at).min(buf.len())..];
    match rest.iter().position(|&b| b == b'\r') {
        Some(i) if i > MAX_LINE_LEN => Err(ProtocolError::TooLarge),
        // A line never holds a bare LF.
        Some(i) if rest[..i].contains(&b'\n') => Err(ProtocolError::MissingCrlf),
        Some(i) => match rest.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => {
                *at += i + 2;
                Ok(Some(&rest[..i]))
            }
            Some(_) => Err(ProtocolError::MissingCrlf),
        },
        None if rest.len() > MAX_LINE_LEN => Err(ProtocolError::TooLarge),
        None if rest.contains(&b'\n') => Err(ProtocolError::MissingCrlf),
        None => Ok(None),
    }
}

fn utf8(line: &[u8]) -> Result<String, ProtocolError> {
    String::from_utf8(line.to_vec()).map_err(|_| ProtocolError::NotUtf8)
}

fn integer(line: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ProtocolError::BadInteger)
}

/// A length field: `None` for the nil marker -1.
fn length(line: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
    match integer(line)? {
        -1 => Ok(None),
        n if n < 0 => Err(ProtocolError::BadLength(n)),
        n => match usize::try_from(n) {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(ProtocolError::TooLarge),
        },
    }
}

/// An adapter's pooled TCP stream, which a RESP [`Client`] can borrow for one exchange:
/// tokio's through [`tokio_util::compat`], smol's as it is (it implements futures-io).
pub trait RespStream {
    /// The borrowed stream.
    type Stream<'a>: AsyncRead + AsyncWrite + Unpin + Send
    where
        Self: 'a;

    /// Borrows the stream.
    fn stream(&mut self) -> Self::Stream<'_>;
}

impl RespStream for tokio::net::TcpStream {
    type Stream<'a> = Compat<&'a mut Self>;

    fn stream(&mut self) -> Compat<&mut Self> {
        self.compat()
    }
}

impl RespStream for smol::net::TcpStream {
    type Stream<'a> = &'a mut Self;

    fn stream(&mut self) -> &mut Self {
        self
    }
}

/// A netpool manager of RESP clients over tokio TCP streams (through
/// [`tokio_util::compat`]).
///
/// `is_valid` sends `PING`; `has_broken` is [`Client::is_broken`].
#[derive(Debug, Clone)]
pub struct TokioManager {
    addr: String,
}

impl TokioManager {
    /// A manager that connects to `addr` ("host:port").
    pub fn new(addr: impl Into<String>) -> Self {
        Self { addr: addr.into() }
    }
}

impl Manager for TokioManager {
    type Connection = Client<Compat<tokio::net::TcpStream>>;
    type Error = RespError;

    async fn connect(&self) -> Result<Self::Connection, RespError> {
        let stream = tokio::net::TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client::new(stream.compat()))
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), RespError> {
        conn.ping().await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.is_broken()
    }
}

/// A netpool manager of RESP clients over smol (async-io) TCP streams.
///
/// `is_valid` sends `PING`; `has_broken` is [`Client::is_broken`].
#[derive(Debug, Clone)]
pub struct SmolManager {
    addr: String,
}

impl SmolManager {
    /// A manager that connects to `addr` ("host:port").
    pub fn new(addr: impl Into<String>) -> Self {
        Self { addr: addr.into() }
    }
}

impl Manager for SmolManager {
    type Connection = Client<smol::net::TcpStream>;
    type Error = RespError;

    async fn connect(&self) -> Result<Self::Connection, RespError> {
        let stream = smol::net::TcpStream::connect(self.addr.as_str()).await?;
        stream.set_nodelay(true)?;
        Ok(Client::new(stream))
    }

    async fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), RespError> {
        conn.ping().await
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.is_broken()
    }
}

/// Setup hooks for [`TokioManager`] and [`SmolManager`] connections: on every new
/// connection `SELECT db` and (if named) `CLIENT SETNAME`, and, if asked for, `SELECT db`
/// again on every checkout, in case the last user switched databases.
///
/// ```no_run
/// use netpool_core::Pool;
/// use netpool_clients::resp::{TokioManager, TokioSetup};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder()
///     .hooks(TokioSetup::new(2).client_name("billing").reselect_on_checkout(true))
///     .build(TokioManager::new("127.0.0.1:6379"))?;
/// let mut conn = pool.get().await?; // on database 2, named "billing"
/// conn.set(b"invoice:1", b"paid").await?;
/// # Ok(())
/// # }
/// ```
///
/// Name it by its manager, [`TokioSetup`] or [`SmolSetup`], so the pool's type follows.
pub struct RespSetup<M> {
    db: u32,
    name: Option<String>,
    reselect: bool,
    manager: PhantomData<fn() -> M>,
}

/// [`RespSetup`] for [`TokioManager`].
pub type TokioSetup = RespSetup<TokioManager>;

/// [`RespSetup`] for [`SmolManager`].
pub type SmolSetup = RespSetup<SmolManager>;

impl<M> RespSetup<M> {
    /// Hooks that select database `db` on every new connection.
    pub fn new(db: u32) -> Self {
        Self {
            db,
            name: None,
            reselect: false,
            manager: PhantomData,
        }
    }

    /// Also names every new connection (`CLIENT SETNAME`; no spaces).
    #[must_use]
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Also selects the database again on every checkout (one round trip per checkout).
    #[must_use]
    pub fn reselect_on_checkout(mut self, reselect: bool) -> Self {
        self.reselect = reselect;
        self
    }

    async fn setup<S>(&self, conn: &mut Client<S>) -> Result<(), RespError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        conn.select(self.db).await?;
        if let Some(name) = &self.name {
            conn.set_name(name).await?;
        }
        Ok(())
    }
}

impl Hooks for RespSetup<TokioManager> {
    type Manager = TokioManager;

    async fn on_connect(
        &self,
        conn: &mut Client<Compat<tokio::net::TcpStream>>,
    ) -> Result<(), RespError> {
        self.setup(conn).await
    }

    fn runs_on_checkout(&self) -> bool {
        self.reselect
    }

    async fn on_checkout(
        &self,
        conn: &mut Client<Compat<tokio::net::TcpStream>>,
        _meta: Meta,
    ) -> Result<(), RespError> {
        conn.select(self.db).await
    }
}

impl Hooks for RespSetup<SmolManager> {
    type Manager = SmolManager;

    async fn on_connect(&self, conn: &mut Client<smol::net::TcpStream>) -> Result<(), RespError> {
        self.setup(conn).await
    }

    fn runs_on_checkout(&self) -> bool {
        self.reselect
    }

    async fn on_checkout(
        &self,
        conn: &mut Client<smol::net::TcpStream>,
        _meta: Meta,
    ) -> Result<(), RespError> {
        conn.select(self.db).await
    }
}

impl<M> std::fmt::Debug for RespSetup<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespSetup")
            .field("db", &self.db)
            .field("name", &self.name)
            .field("reselect", &self.reselect)
            .finish()
    }
}

/// The "host:port" of a `redis://[user[:password]@]host[:port][/db]` URL (port 6379 if
/// none is given). This client does not authenticate or select a database.
pub fn addr_from_url(url: &str) -> String {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("tcp://"))
        .unwrap_or(url);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    let has_port = match host.rsplit_once(':') {
        Some((h, p)) => !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':'),
        None => false,
    };
    if has_port {
        host.to_owned()
    } else {
        format!("{host}:6379")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(bytes: &[u8]) -> Value {
        match parse(bytes) {
            Ok(Some((v, used))) => {
                assert_eq!(used, bytes.len(), "whole input used");
                v
            }
            other => panic!("expected a complete value, got {other:?}"),
        }
    }

    #[test]
    fn parses_every_type() {
        assert_eq!(full(b"+OK\r\n"), Value::Simple("OK".into()));
        assert_eq!(full(b"-ERR no\r\n"), Value::Error("ERR no".into()));
        assert_eq!(full(b":-42\r\n"), Value::Integer(-42));
        assert_eq!(full(b"$3\r\nfoo\r\n"), Value::Bulk(Some(b"foo".to_vec())));
        assert_eq!(full(b"$0\r\n\r\n"), Value::Bulk(Some(Vec::new())));
        assert_eq!(full(b"$-1\r\n"), Value::Bulk(None));
        assert_eq!(full(b"*-1\r\n"), Value::Array(None));
        assert_eq!(
            full(b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n"),
            Value::Array(Some(vec![
                Value::Integer(1),
                Value::Array(Some(vec![Value::Bulk(Some(b"x".to_vec()))])),
            ]))
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let reply = b"*3\r\n$3\r\nfoo\r\n:7\r\n+OK\r\n";
        for end in 0..reply.len() {
            assert_eq!(parse(&reply[..end]), Ok(None), "prefix of {end} bytes");
        }
        assert!(matches!(parse(reply), Ok(Some((_, n))) if n == reply.len()));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let bad: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\n",
            b":12a\r\n",
            b"$-2\r\n",
            b"$3\r\nfooXY",
            b"+OK\rX",
            b"+OK\n",
            b"+OK\nX\r\n",
            b"$99999999999999999999\r\n",
            b"*99999999999\r\n",
            b"+\xff\xfe\r\n",
        ];
        for input in bad {
            assert!(
                parse(input).is_err(),
                "{:?} must be rejected",
                String::from_utf8_lossy(input)
            );
        }
        // Deep nesting is bounded, not a stack overflow.
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 2);
        assert_eq!(parse(&deep), Err(ProtocolError::TooLarge));
        // A huge array announced by the peer allocates nothing up front.
        assert_eq!(parse(b"*1000000\r\n:1\r\n"), Ok(None));
        // Every byte value in every position: no panic.
        let mut state = 0x2545_f491_u32;
        for _ in 0..20_000 {
            let len = (state % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    const ALPHABET: &[u8] = b"+-:$*\r\n0123-x";
                    ALPHABET[state as usize % ALPHABET.len()]
                })
                .collect();
            let _ = parse(&bytes);
        }
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode(&[b"SET", b"k", b""], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn addr_from_urls() {
        assert_eq!(addr_from_url("redis://127.0.0.1:6379"), "127.0.0.1:6379");
        assert_eq!(addr_from_url("redis://127.0.0.1"), "127.0.0.1:6379");
        assert_eq!(
            addr_from_url("redis://u:p@localhost:7000/2"),
            "localhost:7000"
        );
        assert_eq!(addr_from_url("127.0.0.1:6380"), "127.0.0.1:6380");
    }

    #[test]
    fn a_client_over_a_scripted_peer() {
        futures_lite::future::block_on(async {
            let stream = Scripted::new(&[
                b"+PONG\r\n",
                b"$-1\r\n",
                b":3\r\n",
                b"-ERR wrong\r\n",
                b"+OK\r\n+OK\r\n",
            ]);
            let mut c = Client::new(stream);
            c.ping().await.expect("PONG");
            assert_eq!(c.get(b"k").await.expect("nil"), None);
            assert_eq!(c.incr(b"k").await.expect("3"), 3);
            let e = c.incr(b"k").await.expect_err("server error");
            assert!(!e.is_fatal(), "{e}");
            assert!(!c.is_broken());
            // Two replies to one command: out of sync.
            let e = c.set(b"k", b"v").await.expect_err("trailing bytes");
            assert!(matches!(
                e,
                RespError::Protocol(ProtocolError::TrailingBytes(_))
            ));
            assert!(e.is_fatal() && c.is_broken());
            // EOF.
            let mut c = Client::new(Scripted::new(&[b"$5\r\nab"]));
            assert!(matches!(c.get(b"k").await, Err(RespError::Closed)));
        });
    }

    /// A peer that answers each flushed request with the next canned reply, a few bytes
    /// per read, then EOF.
    struct Scripted {
        replies: std::collections::VecDeque<Vec<u8>>,
        current: Vec<u8>,
        at: usize,
    }

    impl Scripted {
        fn new(replies: &[&[u8]]) -> Self {
            Self {
                replies: replies.iter().map(|r| r.to_vec()).collect(),
                current: Vec::new(),
                at: 0,
            }
        }
    }

    impl AsyncRead for Scripted {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let n = buf.len().min(3).min(self.current.len() - self.at);
            buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
            self.at += n;
            std::task::Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Scripted {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            self.current = self.replies.pop_front().unwrap_or_default();
            self.at = 0;
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }
}
