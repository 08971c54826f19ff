//! A `redis-server` of the test's own, on a free loopback port, stopped when dropped.
//!
//! Tests that kill clients, change settings, crash or restart a server use one of these,
//! never the Redis a developer runs on 6379.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process on `127.0.0.1:<port>`, with no persistence and its own
/// temporary directory; killed (and its directory removed) when dropped, also when the
/// test panics.
///
/// ```no_run
/// use netpool_testkit::RedisServer;
///
/// let mut server = RedisServer::start()?;
/// assert_eq!(server.command(&["PING"])?, "+PONG");
/// server.kill(); // a crash: SIGKILL
/// server.restart()?; // the same port again
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    dir: PathBuf,
}

/// A temporary directory path that no other server of this process uses:
/// `{prefix}-{pid}-{count}`.
pub(crate) fn unique_dir(prefix: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()))
}

impl RedisServer {
    /// Starts a plain `redis-server` on a free port and waits until it answers `PING`.
    pub fn start() -> io::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts `redis-server` with extra arguments (`["--requirepass", "secret"]`,
    /// `["--replicaof", "127.0.0.1", "7000"]`, TLS options…), on a free port.
    ///
    /// With `--port 0` among `args` (for a TLS-only server, say), the free port is given
    /// as `--tls-port` instead and readiness is checked by a TCP connect.
    pub fn start_with(args: &[&str]) -> io::Result<Self> {
        let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
        let mut last = io::Error::other("redis-server did not start");
        // Another process may take the free port between our probe and the server's bind:
        // try a few ports.
        for _ in 0..5 {
            let port = free_port()?;
            // Two tests in parallel may probe the same free port (one of their servers
            // then fails to bind and tries another): the directory is this try's own.
            let dir = unique_dir(&format!("netpool-redis-{port}"));
            std::fs::create_dir_all(&dir)?;
            let mut server = Self {
                child: None,
                port,
                args: args.clone(),
                dir,
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Whether a test that starts its own `redis-server` can run: `true` when one is
    /// installed; otherwise fails under `CI=true` and else says on stderr that the test
    /// is skipped and returns `false`.
    pub fn available() -> bool {
        if Self::installed() {
            return true;
        }
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true and redis-server is not installed"
        );
        eprintln!("!!!!! SKIPPING: redis-server is not installed");
        false
    }

    /// Whether `redis-server` is installed (on `PATH`).
    pub fn installed() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's own directory (its log is `redis.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills the server with SIGKILL (a crash) and waits for it to exit. Its clients'
    /// connections are reset by the kernel.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)), and waits
    /// until it answers.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        // The old socket may linger for a moment; redis-server sets SO_REUSEADDR, so
        // retry only on a failed start.
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Sends one command over a fresh plain-TCP connection and returns the first line of
    /// the reply (`+OK`, `:1`, `-ERR …`, `$5` …). For settings and checks, not for load.
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        let mut conn = self.send(args)?;
        let mut reply = Vec::new();
        let mut byte = [0; 1];
        while conn.read(&mut byte)? == 1 {
            if byte[0] == b'\n' {
                break;
            }
            reply.push(byte[0]);
        }
        let line = String::from_utf8_lossy(&reply);
        Ok(line.trim_end_matches('\r').to_owned())
    }

    /// Starts a `redis-server` that replicates `primary` (`--replicaof`), on a free
    /// port, and waits (up to 10 s) until its link to the primary is up and the first
    /// sync is done.
    pub fn replica_of(primary: &Self) -> io::Result<Self> {
        let port = primary.port().to_string();
        let replica = Self::start_with(&["--replicaof", "127.0.0.1", &port])?;
        // (`restart` starts it as a replica of the same primary again: same arguments.)
        replica.wait_synced(Duration::from_secs(10))?;
        Ok(replica)
    }

    /// Waits until this replica's link to its primary is up (`master_link_status:up`
    /// in `INFO replication`).
    pub fn wait_synced(&self, within: Duration) -> io::Result<()> {
        self.wait_until(within, "did not sync", || {
            Ok(self
                .info_field("replication", "master_link_status")?
                .is_some_and(|s| s == "up"))
        })
    }

    /// Waits until this primary lists `n` replicas online (`slave0` .. in `INFO
    /// replication`): a replica's own link can be up a moment before its primary lists
    /// it (in `ROLE`, which discovery reads).
    pub fn wait_replicas(&self, n: usize, within: Duration) -> io::Result<()> {
        self.wait_until(within, &format!("did not list {n} replicas online"), || {
            let mut online = 0;
            for i in 0..n {
                let field = self.info_field("replication", &format!("slave{i}"))?;
                online += usize::from(field.is_some_and(|f| f.contains("state=online")));
            }
            Ok(online == n)
        })
    }

    /// Polls `done` every 20 ms until it holds, up to `within` (then a `TimedOut` error
    /// saying `what`).
    fn wait_until(
        &self,
        within: Duration,
        what: &str,
        mut done: impl FnMut() -> io::Result<bool>,
    ) -> io::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if done()? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("redis-server on port {} {what} in {within:?}", self.port),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Connects and sends one command (`args` as a RESP array); the reply is the
    /// caller's to read (5 s read timeout).
    fn send(&self, args: &[&str]) -> io::Result<TcpStream> {
        let mut conn = TcpStream::connect(self.addr())?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        conn.write_all(req.as_bytes())?;
        Ok(conn)
    }

    /// One field of `INFO <section>` (`role`, `master_link_status`, ...), if present.
    pub fn info_field(&self, section: &str, field: &str) -> io::Result<Option<String>> {
        let mut conn = self.send(&["INFO", section])?;
        let mut reply = Vec::new();
        let mut buf = [0; 4096];
        let mut read_more = |reply: &mut Vec<u8>| -> io::Result<()> {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "INFO cut short",
                ));
            }
            reply.extend_from_slice(&buf[..n]);
            Ok(())
        };
        // A bulk reply: "$<len>\r\n<len bytes>\r\n".
        let body_len = loop {
            read_more(&mut reply)?;
            if let Some(end) = reply.windows(2).position(|w| w == b"\r\n") {
                let header = String::from_utf8_lossy(&reply[1..end]).into_owned();
                let len: usize = header
                    .parse()
                    .map_err(|_| io::Error::other(format!("unexpected INFO reply {header:?}")))?;
                break end + 2 + len;
            }
        };
        while reply.len() < body_len {
            read_more(&mut reply)?;
        }
        let text = String::from_utf8_lossy(&reply);
        Ok(text.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k == field).then(|| v.trim().to_owned())
        }))
    }

    fn tls_only(&self) -> bool {
        self.args
            .windows(2)
            .any(|w| w[0] == "--port" && w[1] == "0")
    }

    fn spawn(&mut self) -> io::Result<()> {
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        if self.tls_only() {
            cmd.args(["--tls-port", &port]);
        } else {
            cmd.args(["--port", &port]);
        }
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("could not start redis-server: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "redis-server on port {} exited at start ({status}); see {}",
                    self.port,
                    self.dir.join("redis.log").display()
                )));
            }
            let ready = if self.tls_only() {
                TcpStream::connect(self.addr()).is_ok()
            } else {
                self.command(&["PING"]).is_ok_and(|r| r == "+PONG")
            };
            if ready {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("redis-server on port {} not ready after 10 s", self.port),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_kills_and_restarts() {
        if !RedisServer::available() {
            return;
        }
        let mut server = RedisServer::start().expect("redis-server starts");
        assert_eq!(server.command(&["PING"]).expect("PING"), "+PONG");
        server.kill();
        assert!(server.command(&["PING"]).is_err(), "killed");
        server.restart().expect("restarts");
        assert_eq!(server.command(&["SET", "k", "v"]).expect("SET"), "+OK");
        let dir = server.dir().to_owned();
        drop(server);
        assert!(!dir.exists(), "its directory is removed");
    }

    #[test]
    fn a_replica_follows_its_primary() {
        if !RedisServer::available() {
            return;
        }
        let primary = RedisServer::start().expect("primary starts");
        let replica = RedisServer::replica_of(&primary).expect("replica syncs");
        assert_eq!(
            replica
                .info_field("replication", "role")
                .unwrap()
                .as_deref(),
            Some("slave")
        );
        assert_eq!(
            primary
                .info_field("replication", "role")
                .unwrap()
                .as_deref(),
            Some("master")
        );
        assert!(
            replica
                .command(&["SET", "k", "v"])
                .unwrap()
                .starts_with("-READONLY")
        );
    }
}

/// Runs the repository's `.ci/redis-cluster.sh` with `args` (`start`, `stop`, `status`,
/// `kill <port>`, `revive <port>`): the local Redis Cluster on 127.0.0.1:7100-7105.
///
/// # Errors
///
/// The script's output, when it could not run or exited with a failure.
pub fn cluster_script(args: &[&str]) -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/redis-cluster.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {args:?} failed: {}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The local Redis Cluster (see [`cluster_script`]) for one test: started if it was down,
/// and stopped when dropped (the test passed, failed or panicked) only if this guard
/// started it; a cluster that was already up (`.ci/run` starts one) is left to its owner.
#[derive(Debug)]
pub struct LocalCluster {
    started: bool,
}

impl LocalCluster {
    /// Makes sure the cluster is up; the guard and the outcome of `start` (its output on
    /// failure). The guard is returned either way, so that a half-started cluster is
    /// stopped too.
    pub fn up() -> (Self, Result<(), String>) {
        let started = cluster_script(&["status"]).is_err();
        (Self { started }, cluster_script(&["start"]))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if self.started {
            if let Err(e) = cluster_script(&["stop"]) {
                eprintln!("!!!!! could not stop the Redis Cluster this test started: {e}");
            }
        }
    }
}
