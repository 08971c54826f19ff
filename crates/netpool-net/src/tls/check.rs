//! The liveness checks of the TLS managers (`is_valid`, `has_broken`) and the wait for a
//! refused client certificate after the handshake.

use std::io;
use std::time::{Duration, Instant};

use rustls::ClientConnection;

use crate::{AsSockRef, NetError, TlsError, TlsRuntime, check_alive as peek};

/// `is_valid` and `has_broken`: a failure the stream saw while checked out, the rustls
/// state, then one non-blocking peek; only when bytes are pending are they read into
/// rustls (TLS 1.3 session tickets are consumed and kept) and the state checked again.
pub(crate) fn check_alive<R: TlsRuntime>(stream: &mut R::TlsStream) -> Result<(), TlsError> {
    let (tcp, conn) = R::parts_mut(stream);
    if let Some(kind) = tcp.failure() {
        return Err(TlsError::Io(io::Error::new(
            kind,
            format!("the stream failed while it was checked out ({kind})"),
        )));
    }
    check_state(conn)?;
    let socket = tcp.sock_ref();
    match peek_socket::<R>(&socket) {
        Ok(()) => return Ok(()),
        Err(NetError::UnexpectedData) => {}
        Err(NetError::Closed) => return Err(TlsError::Closed),
        Err(NetError::Io(e)) => return Err(TlsError::Io(e)),
        Err(other) => return Err(TlsError::Io(io::Error::other(other))),
    }
    if R::BLOCKING {
        socket.set_nonblocking(true).map_err(TlsError::Io)?;
    }
    let drained = drain(&socket, conn);
    if R::BLOCKING {
        socket.set_nonblocking(false).map_err(TlsError::Io)?;
    }
    drained?;
    check_state(conn)
}

/// The one peek (`MSG_DONTWAIT` on unix; elsewhere a blocking socket is switched for it).
fn peek_socket<R: TlsRuntime>(socket: &socket2::SockRef<'_>) -> Result<(), NetError> {
    if !R::BLOCKING || cfg!(unix) {
        return peek(socket2::SockRef::from(&**socket));
    }
    socket.set_nonblocking(true).map_err(NetError::Io)?;
    let alive = peek(socket2::SockRef::from(&**socket));
    socket.set_nonblocking(false).map_err(NetError::Io)?;
    alive
}

/// Feeds rustls what the (non-blocking) socket holds: at most 16 reads.
fn drain(socket: &socket2::Socket, conn: &mut ClientConnection) -> Result<(), TlsError> {
    for _ in 0..16 {
        match conn.read_tls(&mut &*socket) {
            // An end of stream, or a close_notify already received.
            Ok(0) => return Err(TlsError::Closed),
            Ok(_) => {
                conn.process_new_packets().map_err(TlsError::Protocol)?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // "received plaintext buffer full" among others: out of sync either way.
            Err(e) => return Err(TlsError::Io(e)),
        }
    }
    Ok(())
}

/// The in-memory checks.
fn check_state(conn: &mut ClientConnection) -> Result<(), TlsError> {
    let state = conn.process_new_packets().map_err(TlsError::Protocol)?;
    if state.peer_has_closed() {
        return Err(TlsError::Closed);
    }
    if state.plaintext_bytes_to_read() > 0 {
        return Err(TlsError::UnexpectedData);
    }
    if conn.is_handshaking() {
        return Err(TlsError::Io(io::Error::new(
            io::ErrorKind::NotConnected,
            "the TLS handshake did not finish",
        )));
    }
    // No plaintext buffered: an error here is an end of stream without close_notify.
    match conn.reader().into_first_chunk() {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(TlsError::Closed),
        _ => Ok(()),
    }
}

/// Why the server's first words after the handshake were a refusal.
pub(crate) enum Refusal {
    /// An alert (a refused client certificate: `CertificateRequired`, `BadCertificate`,
    /// `UnknownCA`...) or a bad record.
    Tls(rustls::Error),
    /// The server closed the connection, or reading failed.
    Io(io::Error),
}

/// After a TLS 1.3 handshake with a client certificate: waits up to `wait` for the
/// server's first records. Session tickets (or any data) mean the server accepted the
/// certificate; an alert or an end of stream mean it refused it; silence until `wait`
/// passes is taken as acceptance.
pub(crate) async fn await_verdict<R: TlsRuntime>(
    stream: &mut R::TlsStream,
    wait: Duration,
) -> Result<(), Refusal> {
    let deadline = Instant::now() + wait;
    // Bounded: each round either ends or follows a readiness that was spurious.
    for _ in 0..64 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let (tcp, _) = R::parts_mut(stream);
        if !R::readable(tcp.get_ref(), left)
            .await
            .map_err(Refusal::Io)?
        {
            return Ok(());
        }
        let (tcp, conn) = R::parts_mut(stream);
        let socket = tcp.sock_ref();
        if R::BLOCKING {
            socket.set_nonblocking(true).map_err(Refusal::Io)?;
        }
        let read = conn.read_tls(&mut &*socket);
        if R::BLOCKING {
            socket.set_nonblocking(false).map_err(Refusal::Io)?;
        }
        match read {
            Ok(0) => {
                return Err(Refusal::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection right after the handshake \
                     (did it refuse the client certificate?)",
                )));
            }
            Ok(_) => {
                conn.process_new_packets().map_err(Refusal::Tls)?;
                return Ok(());
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(Refusal::Io(e)),
        }
    }
    Ok(())
}
