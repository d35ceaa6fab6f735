//! The crate's one error type.

use std::io;
use std::path::PathBuf;

use crate::Level;

/// Why a sandboxed command could not be built, or why the launcher refused to start it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path (in the policy, or the program) is relative: it would be resolved against a
    /// working directory the caller sets only later, so it is refused.
    #[error("{what} {path:?} is not an absolute path")]
    RelativePath {
        /// Which path: "read path", "write path" or "program".
        what: &'static str,
        /// The offending path.
        path: PathBuf,
    },
    /// A path in the policy does not exist or cannot be opened.
    #[error("{what} {path:?} cannot be opened")]
    Path {
        /// Which list it is in: "read path" or "write path".
        what: &'static str,
        /// The offending path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A path cannot travel to the launcher, whose policy is JSON, because it is not UTF-8.
    #[error("{what} {path:?} is not valid UTF-8")]
    NonUtf8Path {
        /// Which path: "read path", "write path" or "program".
        what: &'static str,
        /// The offending path.
        path: PathBuf,
    },
    /// A size limit given in MiB does not fit in a 64-bit byte count.
    #[error("{what} of {mib} MiB does not fit in a byte count")]
    LimitOverflow {
        /// Which limit.
        what: &'static str,
        /// The value given.
        mib: u64,
    },
    /// The policy could not be encoded for the launcher.
    #[error("encoding the sandbox policy as JSON")]
    EncodePolicy(#[source] serde_json::Error),
    /// The policy's JSON is longer than the launcher accepts (too many paths).
    #[error("the sandbox policy is {n_bytes} bytes of JSON, the launcher accepts {max_bytes}")]
    PolicyTooLarge {
        /// Its length.
        n_bytes: usize,
        /// The most the launcher reads.
        max_bytes: usize,
    },
    /// The launcher was started with arguments that [`command`](crate::command) does not
    /// produce.
    #[error("malformed sandbox launch arguments: {problem}")]
    LaunchArgs {
        /// What is wrong with them.
        problem: String,
    },
    /// Lowering a resource limit failed.
    #[error("setting the {resource} resource limit to {value}")]
    Rlimit {
        /// The limit, as in `RLIMIT_<resource>`.
        resource: &'static str,
        /// The value asked for.
        value: u64,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// One confinement step failed in the system call that applies it.
    #[error("{step}")]
    Confine {
        /// What the launcher was doing.
        step: &'static str,
        /// What failed underneath (an I/O error, or the Landlock or seccomp crate's error).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The parent process exited before the launcher armed its death signal, so the program
    /// would outlive it.
    #[error("the parent process {expected} exited before the death signal was armed")]
    ParentGone {
        /// The pid of the process that built the command.
        expected: u32,
    },
    /// This machine cannot enforce the level the policy requires; nothing was executed.
    #[error("this machine reaches sandbox level {reached}, the policy requires {required}: {why}")]
    LevelNotReached {
        /// [`Policy::require`](crate::Policy::require).
        required: Level,
        /// What the launcher managed.
        reached: Level,
        /// Which layers fell short.
        why: String,
    },
    /// The confinement was applied but executing the program failed.
    #[error("executing {program:?}")]
    Exec {
        /// The program.
        program: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn confine(
        step: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Confine {
            step,
            source: Box::new(source),
        }
    }

    pub(crate) fn launch_args(problem: impl Into<String>) -> Self {
        Error::LaunchArgs {
            problem: problem.into(),
        }
    }
}
