//! What a confined program may do: the policy the launcher enforces.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Level, Result};

/// What a confined program may do. Everything not granted here is denied.
///
/// Paths must be absolute and must exist when the command is built and when the launcher
/// starts; symbolic links in them are followed once, when the launcher opens them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Files or folders (recursively) the program may read, list and execute. The program
    /// itself, its dynamic loader and its shared libraries (usually `/usr/lib`, `/lib64`,
    /// `/etc/ld.so.cache`) must be in here.
    pub read: Vec<PathBuf>,
    /// Folders (recursively) the program may read, write, create in, remove from and rename
    /// within. A file may be listed too; it then gets the rights that apply to a file.
    pub write: Vec<PathBuf>,
    /// `false`: only threads may be created — `fork`, `vfork` and `clone` without
    /// `CLONE_THREAD` fail with `EPERM`. Namespaces can never be created, whatever this says.
    pub processes: bool,
    /// Which sockets the program may create.
    pub sockets: Sockets,
    /// `RLIMIT_AS`: the most virtual memory the program may map, in MiB. `None`: unchanged.
    pub address_space_mib: Option<u64>,
    /// `RLIMIT_CPU`: CPU seconds before the kernel sends `SIGKILL`. `None`: unchanged.
    pub cpu_seconds: Option<u64>,
    /// `RLIMIT_NOFILE`: the most file descriptors open at once (stdin, stdout and stderr
    /// count).
    pub open_files: u64,
    /// `RLIMIT_FSIZE`: the largest file the program may write, in MiB. Core dumps are always
    /// disabled.
    pub file_size_mib: u64,
    /// `PR_SET_PDEATHSIG` with `SIGKILL`: the program is killed when its parent dies.
    ///
    /// Linux sends the signal when the *thread* that spawned the command exits, not the
    /// whole process: spawn from a thread that outlives the child (e.g. the main thread).
    pub die_with_parent: bool,
    /// The launcher refuses to execute the program, exiting with
    /// [`LEVEL_NOT_REACHED_EXIT`](crate::LEVEL_NOT_REACHED_EXIT), if it cannot reach this
    /// level.
    pub require: Level,
}

/// Which sockets a confined program may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sockets {
    /// `socket()` fails with `EPERM` for every address family. (`socketpair` stays allowed: it
    /// only makes a connected `AF_UNIX` pair inside the sandbox.)
    None,
    /// `AF_UNIX` sockets only. Abstract socket names outside the sandbox are out of reach
    /// (Landlock scope), but up to Landlock ABI 8 a pathname socket the program can name —
    /// `/run/docker.sock`, say — can be connected to: prefer [`Sockets::None`] and hand the
    /// program an already-connected descriptor.
    UnixOnly,
}

const MIB: u64 = 1 << 20;

impl Policy {
    /// Checks the policy before use: every path absolute, present and UTF-8 (the launcher
    /// receives the policy as JSON), every size representable in bytes.
    pub fn validate(&self) -> Result<()> {
        for (what, paths) in [("read path", &self.read), ("write path", &self.write)] {
            for path in paths {
                check_path(what, path)?;
                if let Err(source) = std::fs::metadata(path) {
                    return Err(Error::Path {
                        what,
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        self.address_space_bytes()?;
        self.file_size_bytes()?;
        Ok(())
    }

    pub(crate) fn address_space_bytes(&self) -> Result<Option<u64>> {
        self.address_space_mib
            .map(|mib| mib_to_bytes("address space limit", mib))
            .transpose()
    }

    pub(crate) fn file_size_bytes(&self) -> Result<u64> {
        mib_to_bytes("file size limit", self.file_size_mib)
    }
}

/// A path is usable in a policy only if it is absolute and survives the trip through JSON.
pub(crate) fn check_path(what: &'static str, path: &Path) -> Result<()> {
    check_absolute(what, path)?;
    if path.to_str().is_none() {
        return Err(Error::NonUtf8Path {
            what,
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Relative paths would be resolved against a working directory set only later.
pub(crate) fn check_absolute(what: &'static str, path: &Path) -> Result<()> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(Error::RelativePath {
            what,
            path: path.to_owned(),
        })
    }
}

fn mib_to_bytes(what: &'static str, mib: u64) -> Result<u64> {
    mib.checked_mul(MIB)
        .ok_or(Error::LimitOverflow { what, mib })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Policy {
        Policy {
            read: vec![PathBuf::from("/usr"), PathBuf::from("/")],
            write: vec![std::env::temp_dir()],
            processes: false,
            sockets: Sockets::UnixOnly,
            address_space_mib: Some(2048),
            cpu_seconds: None,
            open_files: 64,
            file_size_mib: 16,
            die_with_parent: true,
            require: Level::Partial,
        }
    }

    #[test]
    fn json_round_trip_keeps_every_field() {
        let policy = sample();
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), policy);
        assert!(json.contains("\"sockets\":\"unix-only\""), "{json}");
        assert!(json.contains("\"require\":\"partial\""), "{json}");
        assert!(json.contains("\"cpu_seconds\":null"), "{json}");
    }

    #[test]
    fn json_with_an_unknown_or_missing_field_is_refused() {
        let mut value = serde_json::to_value(sample()).unwrap();
        value["network"] = serde_json::Value::Bool(true);
        let error = serde_json::from_value::<Policy>(value).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `network`"),
            "{error}"
        );

        let mut value = serde_json::to_value(sample()).unwrap();
        value.as_object_mut().unwrap().remove("require");
        let error = serde_json::from_value::<Policy>(value).unwrap_err();
        assert!(
            error.to_string().contains("missing field `require`"),
            "{error}"
        );
    }

    #[test]
    fn validate_names_the_relative_path() {
        let mut policy = sample();
        policy.write.push(PathBuf::from("scratch"));
        match policy.validate() {
            Err(Error::RelativePath { what, path }) => {
                assert_eq!((what, path), ("write path", PathBuf::from("scratch")));
            }
            other => panic!("expected RelativePath, got {other:?}"),
        }
    }

    #[test]
    fn validate_names_the_missing_path() {
        let mut policy = sample();
        policy.read.push(PathBuf::from("/no/such/aisec/path"));
        let error = policy.validate().unwrap_err();
        assert!(
            matches!(&error, Error::Path { what: "read path", path, source }
                if path == Path::new("/no/such/aisec/path")
                    && source.kind() == std::io::ErrorKind::NotFound),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "read path \"/no/such/aisec/path\" cannot be opened"
        );
    }

    #[test]
    fn validate_refuses_a_limit_that_overflows_bytes() {
        let mut policy = sample();
        policy.address_space_mib = Some(u64::MAX / 1024);
        assert!(matches!(
            policy.validate(),
            Err(Error::LimitOverflow {
                what: "address space limit",
                ..
            })
        ));
        assert_eq!(sample().address_space_bytes().unwrap(), Some(2048 << 20));
    }

    #[cfg(unix)]
    #[test]
    fn validate_refuses_a_non_utf8_path() {
        use std::os::unix::ffi::OsStrExt;
        let mut policy = sample();
        policy
            .read
            .push(PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/\xff")));
        assert!(matches!(
            policy.validate(),
            Err(Error::NonUtf8Path {
                what: "read path",
                ..
            })
        ));
    }
}
