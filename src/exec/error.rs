//! What can go wrong in `exec`, typed: each variant carries what its message needs, and the
//! message is the text users see (the scheduler reports it under the node that failed).

/// An error of `exec`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A registry answered, but not with what was asked for.
    #[error("{host} refused {what} (HTTP {status}): {message}")]
    Refused {
        host: String,
        what: String,
        status: u16,
        message: String,
    },
    /// A registry did not answer in time.
    #[error(
        "{host} did not answer {method} {url} within {secs} s; check that the registry is up and reachable"
    )]
    Silent {
        host: String,
        method: String,
        url: String,
        secs: u64,
    },
    /// A registry (or its token service) could not be reached: the cause chain on one line.
    #[error("{host}: {cause}")]
    Unreachable { host: String, cause: String },
    /// A registry asked for credentials the docker config does not hold.
    #[error("{host} requires credentials: run `docker login {host}`")]
    NoCredentials { host: String },
    /// A registry refused the credentials it was given.
    #[error("{host} refused the credentials for {repo} (HTTP {status})")]
    Credentials {
        host: String,
        repo: String,
        status: u16,
    },
    /// A registry or token service answered something the protocol does not allow.
    #[error("{0}")]
    Protocol(String),
    /// The system's TLS roots could not be loaded, so no HTTPS registry can be reached.
    #[error("cannot load the system's TLS roots: {0}")]
    Tls(String),
    /// Not an image reference (`host/repo:tag`).
    #[error("`{0}` is not an image reference")]
    Reference(String),
    /// A build's `shm-size` is not a size Docker reads (`128m`, `1g`, bytes).
    #[error("`{0}` is not a size like 128m")]
    Size(String),
    /// A `cache-from`/`cache-to` entry BuildKit's cache options cannot hold.
    #[error("cache `{spec}`: {why}")]
    Cache { spec: String, why: String },
}

/// The scheduler and the node kinds (`apply.rs`, `build.rs`, `publish.rs`, `export.rs`) still
/// pass errors as text; `?` there turns an `Error` into its message, the same text users saw
/// before errors were typed.
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}

/// A node kind's `?` on an `Error` fails the node for good, as the text it replaces did
/// (a retry would meet the same bad input).
impl From<Error> for super::schedule::RunError {
    fn from(e: Error) -> Self {
        Self::permanent(e.to_string())
    }
}
