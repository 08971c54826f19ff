//! [`Blackhole`]: a loopback port whose connects never complete.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// A listening port on `127.0.0.1` whose accept queue is full, so that the kernel drops
/// new SYNs: a connect to it neither succeeds nor fails until its timeout, like a
/// connect to a host that vanished.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use netpool_testkit::Blackhole;
///
/// let hole = Blackhole::bind()?;
/// let err = std::net::TcpStream::connect_timeout(&hole.addr(), Duration::from_millis(50))
///     .unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Blackhole {
    addr: SocketAddr,
    _listener: Socket,
    _fillers: Vec<TcpStream>,
}

impl Blackhole {
    /// Binds a port with a backlog of zero and fills its accept queue.
    ///
    /// # Errors
    ///
    /// The socket errors, or an error if the queue did not fill after 64 connects (a
    /// kernel that does not drop SYNs on a full queue).
    pub fn bind() -> io::Result<Self> {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        listener.listen(0)?;
        let addr = listener
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))?;
        let mut fillers = Vec::new();
        for _ in 0..64 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                Ok(stream) => fillers.push(stream),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Ok(Self {
                        addr,
                        _listener: listener,
                        _fillers: fillers,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("the accept queue never filled"))
    }

    /// The address whose connects hang.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
