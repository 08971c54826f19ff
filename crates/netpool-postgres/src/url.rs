//! The `postgres://` URL parser (libpq's syntax), and redaction of the password in one.

use std::path::PathBuf;

use crate::config::{Config, Password, parse_port, parse_secs, parse_ssl_mode};
use crate::error::ConfigError;

fn bad(reason: &str) -> ConfigError {
    ConfigError::Url {
        reason: reason.to_owned(),
    }
}

/// Parses `postgres[ql]://[user[:password]@][host[:port]][,...][/dbname][?k=v&...]`.
pub(crate) fn parse(url: &str) -> Result<Config, ConfigError> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| bad("it must start with postgres:// or postgresql://"))?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut config = Config::default();
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            config.user = Some(decode(user, "the user name")?);
        }
        if let Some(p) = password {
            config.password = Some(Password::new(decode(p, "the password")?));
        }
    }
    let (host, port) = hosts_and_port(hosts)?;
    config.host = host;
    config.port = port;
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        config.dbname = Some(decode(path, "the database name")?);
    }
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| bad("a query parameter has no '='"))?;
        let key = decode(key, "a parameter name")?;
        let value = decode(value, &key)?;
        match key.as_str() {
            "host" => config.host = Some(value),
            "port" => config.port = Some(parse_port("port", &value)?),
            "user" => config.user = Some(value),
            "password" => config.password = Some(Password::new(value)),
            "dbname" => config.dbname = Some(value),
            "options" => config.options = Some(value),
            "application_name" => config.application_name = Some(value),
            "sslmode" => config.ssl_mode = Some(parse_ssl_mode("sslmode", &value)?),
            "sslrootcert" => config.ssl_root_cert = Some(PathBuf::from(value)),
            "connect_timeout" => {
                config.connect_timeout = Some(parse_secs("connect_timeout", &value)?);
            }
            _ => {
                return Err(ConfigError::Parameter {
                    name: key,
                    reason: "unknown parameter".to_owned(),
                });
            }
        }
    }
    Ok(config)
}

/// `h1[:p],h2[:p]` (IPv6 in brackets): the hosts joined by commas and their port, which
/// must be the same for all.
fn hosts_and_port(list: &str) -> Result<(Option<String>, Option<u16>), ConfigError> {
    if list.is_empty() {
        return Ok((None, None));
    }
    let mut hosts = Vec::new();
    let mut port = None;
    for item in list.split(',') {
        let (host, p) = if let Some(rest) = item.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address lacks its ']'"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(bad("unexpected text after an IPv6 address")),
            }
        } else {
            match item.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (item, None),
            }
        };
        if let Some(p) = p.filter(|p| !p.is_empty()) {
            let p = parse_port("port", p)?;
            if port.is_some_and(|q| q != p) {
                return Err(bad("hosts with different ports are not supported"));
            }
            port = Some(p);
        }
        hosts.push(decode(host, "a host")?);
    }
    let hosts: Vec<_> = hosts.into_iter().filter(|h| !h.is_empty()).collect();
    let host = (!hosts.is_empty()).then(|| hosts.join(","));
    Ok((host, port))
}

/// Percent-decodes `s`; `what` names it in the error (its value is never shown).
fn decode(s: &str, what: &str) -> Result<String, ConfigError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(&format!("invalid percent-encoding in {what}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(&format!("{what} is not UTF-8 once decoded")))
}

/// The URL with the password (in the user info or a `password=` parameter) replaced by
/// `***`.
pub(crate) fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    let start = out.find("://").map_or(0, |i| i + 3);
    let end = out[start..]
        .find(['/', '?'])
        .map_or(out.len(), |i| start + i);
    if let Some(at) = out[start..end].rfind('@') {
        let userinfo = &out[start..start + at];
        if let Some(colon) = userinfo.find(':') {
            out.replace_range(start + colon + 1..start + at, "***");
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k == "password" => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SslMode;

    #[test]
    fn a_full_url_parses() {
        let c = parse(
            "postgresql://us%40er:p%3Ass@db1:6432,db2:6432/my%20db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=app&connect_timeout=3&options=-c%20x%3Dy",
        )
        .unwrap();
        assert_eq!(c.user.as_deref(), Some("us@er"));
        assert_eq!(c.password.as_ref().map(Password::expose), Some("p:ss"));
        assert_eq!(c.host.as_deref(), Some("db1,db2"));
        assert_eq!(c.port, Some(6432));
        assert_eq!(c.dbname.as_deref(), Some("my db"));
        assert_eq!(c.ssl_mode, Some(SslMode::VerifyFull));
        assert_eq!(c.ssl_root_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(c.application_name.as_deref(), Some("app"));
        assert_eq!(c.connect_timeout, Some(3));
        assert_eq!(c.options.as_deref(), Some("-c x=y"));
    }

    #[test]
    fn ipv6_and_bare_urls_parse() {
        let c = parse("postgres://[::1]:5433").unwrap();
        assert_eq!((c.host.as_deref(), c.port), (Some("::1"), Some(5433)));
        let c = parse("postgres://").unwrap();
        assert_eq!(c, Config::default());
        let c = parse("postgres:///db?host=/var/run/postgresql").unwrap();
        assert_eq!(c.host.as_deref(), Some("/var/run/postgresql"));
        assert_eq!(c.dbname.as_deref(), Some("db"));
    }

    #[test]
    fn errors_name_the_part_never_the_secret() {
        for (url, part) in [
            ("mysql://u:hunter2@h/db", "postgres://"),
            ("postgres://u:hunter2%zz@h/db", "the password"),
            ("postgres://u:hunter2@h:99999/db", "port"),
            ("postgres://u:hunter2@h/db?sslmode=hunter2", "sslmode"),
            ("postgres://u:hunter2@h/db?hunter=2", "unknown parameter"),
            ("postgres://u:hunter2@h:1,g:2/db", "different ports"),
        ] {
            let e = parse(url).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(shown.contains(part), "{url}: {shown}");
            assert!(!shown.contains("hunter2"), "{url}: {shown}");
        }
    }

    #[test]
    fn redact_hides_both_places_a_password_goes() {
        assert_eq!(
            redact("postgres://u:hunter2@h/db?password=hunter2&sslmode=require"),
            "postgres://u:***@h/db?password=***&sslmode=require"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
