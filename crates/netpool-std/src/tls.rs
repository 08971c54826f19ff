//! TLS on blocking sockets (feature `tls`): [`Threads`]' [`TlsRuntime`], over rustls's
//! [`StreamOwned`], for `TlsManager`, `TlsPool` and `tls(..)`.

use std::future::{Future, ready};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use netpool_net::rustls::pki_types::ServerName;
use netpool_net::rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::Threads;
use netpool_net::{TlsRuntime, Tracked};

impl TlsRuntime for Threads {
    type TlsStream = StreamOwned<ClientConnection, Tracked<TcpStream>>;

    fn handshake(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        tcp: Tracked<TcpStream>,
        limit: Option<Duration>,
    ) -> impl Future<Output = io::Result<Self::TlsStream>> + Send {
        ready(handshake(config, name, tcp, limit))
    }

    fn parts(stream: &Self::TlsStream) -> (&Tracked<TcpStream>, &ClientConnection) {
        (&stream.sock, &stream.conn)
    }

    fn parts_mut(stream: &mut Self::TlsStream) -> (&Tracked<TcpStream>, &mut ClientConnection) {
        (&stream.sock, &mut stream.conn)
    }

    fn readable(tcp: &TcpStream, limit: Duration) -> impl Future<Output = io::Result<bool>> + Send {
        ready(readable(tcp, limit))
    }
}

/// A blocking wait for bytes (or an end of stream) on `tcp`, up to `limit`.
fn readable(tcp: &TcpStream, limit: Duration) -> io::Result<bool> {
    tcp.set_read_timeout(Some(limit.max(Duration::from_millis(1))))?;
    let peeked = tcp.peek(&mut [0; 1]);
    tcp.set_read_timeout(None)?;
    match peeked {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A blocking handshake, each read and write bounded by `limit`.
fn handshake(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    mut tcp: Tracked<TcpStream>,
    limit: Option<Duration>,
) -> io::Result<StreamOwned<ClientConnection, Tracked<TcpStream>>> {
    let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    tcp.set_read_timeout(limit)?;
    tcp.set_write_timeout(limit)?;
    let done = (|| {
        // Each complete_io runs flights until the handshake is done or fails (an end of
        // stream is an error); the count only bounds a peer that dribbles.
        for _ in 0..64 {
            if !conn.is_handshaking() {
                break;
            }
            conn.complete_io(&mut tcp)?;
        }
        if conn.is_handshaking() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the TLS handshake did not finish",
            ));
        }
        // The client's last flight, so the server sees the handshake finished.
        for _ in 0..64 {
            if !conn.wants_write() {
                break;
            }
            conn.write_tls(&mut tcp)?;
        }
        tcp.flush()
    })();
    if let Err(e) = done {
        // A blocking socket reports an expired timeout as WouldBlock on Unix.
        return Err(match (e.kind(), limit) {
            (io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut, Some(limit)) => io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out after {limit:?}"),
            ),
            _ => e,
        });
    }
    tcp.set_read_timeout(None)?;
    tcp.set_write_timeout(None)?;
    Ok(StreamOwned::new(conn, tcp))
}
