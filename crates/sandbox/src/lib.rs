//! Confines an untrusted program on Linux with Landlock, seccomp, rlimits and parent-death
//! signals, and says which level of confinement this machine reaches.
//!
//! The confinement is applied by a trusted *launcher* to itself, which then `exec`s the target
//! program: nothing of the target — not even code that runs before its `main`, such as
//! `.init_array` constructors — ever runs unconfined. Any trusted binary is a launcher once it
//! calls [`launch_if_requested`] first thing in `main`; [`command`] builds the
//! [`std::process::Command`] that goes through it.
//!
//! ```no_run
//! # fn main() -> aisec_sandbox::Result<()> {
//! use aisec_sandbox::{Level, Policy, Sockets};
//! use std::path::{Path, PathBuf};
//!
//! aisec_sandbox::launch_if_requested(); // first thing in main
//! let policy = Policy {
//!     read: vec![PathBuf::from("/usr/lib"), PathBuf::from("/opt/runner")],
//!     write: vec![PathBuf::from("/tmp/scratch")],
//!     processes: false,
//!     sockets: Sockets::None,
//!     address_space_mib: Some(2048),
//!     cpu_seconds: Some(60),
//!     open_files: 64,
//!     file_size_mib: 16,
//!     die_with_parent: true,
//!     require: Level::Full,
//! };
//! let launcher = std::env::current_exe().expect("own path");
//! let status = aisec_sandbox::command(&launcher, &policy, Path::new("/opt/runner/run"), &[])?
//!     .env("LANG", "C.UTF-8")
//!     .status();
//! # let _ = status;
//! # Ok(()) }
//! ```
//!
//! Order of the launcher: rlimits, parent-death signal, capabilities dropped, Landlock (which
//! sets `no_new_privs`), seccomp, `exec`. seccomp goes last so that its filter never has to
//! allow anything the launcher itself still needs, only `execve`.
//!
//! The seccomp filter kills a process making system calls of another architecture (32-bit
//! `int 0x80` on x86_64, say), so only programs of the build's own architecture run confined.

mod confine;
mod error;
mod launch;
mod level;
mod policy;

pub use error::{Error, Result};
pub use launch::{command, launch_if_requested};
pub use level::{Level, probe};
pub use policy::{Policy, Sockets};

/// Exit code of the launcher when it cannot confine or start the program (bad arguments,
/// a policy path that cannot be opened, a failed `exec`, ...). The message is on stderr.
///
/// The confined program can exit with any code itself, this one included, so a caller must
/// treat it as a hint for the message, not as proof of who failed.
pub const LAUNCH_FAILED_EXIT: i32 = 125;

/// Exit code of the launcher when this machine cannot reach the policy's
/// [`require`](Policy::require) level; nothing was executed. Same caveat as
/// [`LAUNCH_FAILED_EXIT`]: call [`probe`] beforehand to choose a level the machine reaches.
pub const LEVEL_NOT_REACHED_EXIT: i32 = 124;
