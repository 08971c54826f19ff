//! A PostgreSQL server of the test's own: `initdb` into a temporary directory, started
//! with `pg_ctl` on a free loopback port (as the `postgres` user when the tests run as
//! root), optionally TLS-only with rcgen certificates and SCRAM passwords; stopped and
//! removed when dropped, also when the test panics.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// How to set the server up.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// `ssl=on`, and TCP connections must use TLS (`hostssl` only).
    pub tls: bool,
    /// The `postgres` user's password; TCP connections then authenticate with SCRAM.
    pub password: Option<String>,
}

/// The running server; see the module docs.
#[derive(Debug)]
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    options: Options,
    running: bool,
}

impl PgServer {
    /// Whether `initdb` and `pg_ctl` are on `PATH`.
    pub fn installed() -> bool {
        ["initdb", "pg_ctl"].iter().all(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    }

    /// Creates the cluster and starts it (a few seconds: `initdb` runs).
    pub fn start(options: Options) -> io::Result<Self> {
        let dir = fresh_dir()?;
        let mut server = Self {
            dir,
            port: 0,
            options,
            running: false,
        };
        // From here on, Drop removes the directory.
        server.init()?;
        let mut last = io::Error::other("the server did not start");
        // Another process may take the free port between our probe and the bind.
        for _ in 0..5 {
            server.port = free_port()?;
            match server.pg_ctl_start() {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate (PEM file) that signed the server's certificate (with `tls`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A URL for the `postgres` user and database, with `extra` as its query string.
    pub fn url(&self, host: &str, password: Option<&str>, extra: &str) -> String {
        let user = match password {
            Some(p) => format!("postgres:{p}"),
            None => "postgres".to_owned(),
        };
        format!("postgres://{user}@{host}:{}/postgres?{extra}", self.port)
    }

    /// Stops it the way a crash does (`pg_ctl stop -m immediate`: every backend ends
    /// at once, sessions are cut).
    pub fn kill(&mut self) -> io::Result<()> {
        if self.running {
            self.running = false;
            check(self.as_postgres(&[
                "pg_ctl",
                "-D",
                &self.data(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])?)?;
        }
        Ok(())
    }

    /// Starts it again on the same port (after [`kill`](Self::kill)), with crash
    /// recovery.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill()?;
        self.pg_ctl_start()
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`), started on a free port.
    pub fn standby_of(primary: &Self) -> io::Result<Self> {
        let dir = fresh_dir()?;
        let mut standby = Self {
            dir,
            port: 0,
            options: primary.options.clone(),
            running: false,
        };
        chown_to_postgres(&standby.dir)?;
        let port = primary.port.to_string();
        check(standby.as_postgres(&[
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-D",
            &standby.data(),
            "-R",
            "-X",
            "stream",
            "--no-sync",
        ])?)?;
        // Its sockets go to its own directory.
        append(
            &standby.dir.join("data").join("postgresql.conf"),
            &format!("unix_socket_directories = '{}'\n", standby.dir.display()),
        )?;
        let mut last = io::Error::other("the standby did not start");
        for _ in 0..5 {
            standby.port = free_port()?;
            match standby.pg_ctl_start() {
                Ok(()) => return Ok(standby),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Promotes a standby to primary (`pg_ctl promote`, waiting until it is done).
    pub fn promote(&self) -> io::Result<()> {
        check(self.as_postgres(&["pg_ctl", "-D", &self.data(), "-w", "promote"])?)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn init(&mut self) -> io::Result<()> {
        let mut args = vec![
            "initdb".to_owned(),
            "-D".to_owned(),
            self.data(),
            "-U".to_owned(),
            "postgres".to_owned(),
            "--no-sync".to_owned(),
            "--auth-local=trust".to_owned(),
        ];
        if let Some(p) = &self.options.password {
            let pwfile = self.dir.join("pwfile");
            std::fs::write(&pwfile, p)?;
            args.push(format!("--pwfile={}", pwfile.display()));
            args.push("--auth-host=scram-sha-256".to_owned());
        } else {
            args.push("--auth-host=trust".to_owned());
        }
        chown_to_postgres(&self.dir)?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        check(self.as_postgres(&args)?)?;
        let method = if self.options.password.is_some() {
            "scram-sha-256"
        } else {
            "trust"
        };
        let mut conf =
            String::from("fsync = off\nlisten_addresses = '127.0.0.1'\nmax_connections = 50\n");
        conf.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            self.dir.display()
        ));
        let host = if self.options.tls {
            self.make_certs()?;
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
            "hostssl"
        } else {
            "host"
        };
        let data = self.dir.join("data");
        append(&data.join("postgresql.conf"), &conf)?;
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "local all all trust\n{host} all all 127.0.0.1/32 {method}\n\
                 {host} replication all 127.0.0.1/32 {method}\n"
            ),
        )?;
        chown_to_postgres(&self.dir)
    }

    fn make_certs(&self) -> io::Result<()> {
        let err = |e: rcgen::Error| io::Error::other(e.to_string());
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "netpool-postgres test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(err)?)
            .map_err(err)?;
        let key = KeyPair::generate().map_err(err)?;
        let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(err)?
            .signed_by(&key, &ca)
            .map_err(err)?;
        let data = self.dir.join("data");
        std::fs::write(self.ca_file(), ca.pem())?;
        std::fs::write(data.join("server.crt"), cert.pem())?;
        let key_file = data.join("server.key");
        std::fs::write(&key_file, key.serialize_pem())?;
        // The server refuses a key file others can read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
    }

    fn pg_ctl_start(&mut self) -> io::Result<()> {
        let log = self.dir.join("server.log").display().to_string();
        let opts = format!("-c port={}", self.port);
        check(self.as_postgres(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-l",
            &log,
            "-o",
            &opts,
            "-w",
            "-t",
            "60",
            "start",
        ])?)
        .map_err(|e| io::Error::other(format!("{e}; the log: {}", read(&log))))?;
        self.running = true;
        Ok(())
    }

    /// Runs `args` as the `postgres` user if we are root (the server refuses root).
    fn as_postgres(&self, args: &[&str]) -> io::Result<Output> {
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).args(args);
            c
        } else {
            let mut c = Command::new(args[0]);
            c.args(&args[1..]);
            c
        };
        cmd.stdin(Stdio::null()).current_dir(&self.dir).output()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(dir: &Path) -> io::Result<()> {
    if is_root() {
        check(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .output()?,
        )?;
    }
    Ok(())
}

fn check(out: Output) -> io::Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn append(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A new, empty directory for one server, named by [`super::unique`] (tests run in
/// parallel threads, and two of them once read the same time: their `initdb`s shared a
/// directory and removed each other's files). `create_dir`, not `create_dir_all`: a
/// directory already there is an error, never shared.
fn fresh_dir() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(super::unique("netpool-pg"));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// A port nothing listens on right now.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts a server for a test, or says why not: under CI=true a failure panics (the
/// tools are installed there); elsewhere the test is skipped loudly.
pub fn start_or_skip(options: Options) -> Option<PgServer> {
    if !PgServer::installed() && !super::ci() {
        super::skip("initdb/pg_ctl are not installed");
        return None;
    }
    match PgServer::start(options) {
        Ok(s) => Some(s),
        Err(e) if super::ci() => panic!("CI=true and a test PostgreSQL did not start: {e}"),
        Err(e) => {
            super::skip(&format!("a test PostgreSQL did not start: {e}"));
            None
        }
    }
}
