//! Applies a policy to the launcher's own process, layer by layer, and says what it reached.

#[cfg(target_os = "linux")]
mod capabilities;
#[cfg(target_os = "linux")]
mod landlock;
#[cfg(unix)]
mod limits;
#[cfg(target_os = "linux")]
mod seccomp;

use crate::{Level, Policy, Result};

/// What the launcher managed to enforce on itself.
#[derive(Debug)]
pub(crate) struct Reached {
    pub(crate) level: Level,
    /// One sentence per layer that fell short, for the message when `require` is not met.
    pub(crate) shortfalls: Vec<String>,
}

/// Confines the calling process. Landlock, seccomp and capabilities apply to the calling
/// thread only, which is enough: it is the one thread that survives the `exec` that follows.
#[cfg(target_os = "linux")]
pub(crate) fn apply(policy: &Policy, parent_pid: u32) -> Result<Reached> {
    limits::apply(policy)?;
    if policy.die_with_parent {
        limits::die_with_parent(parent_pid)?;
    }
    capabilities::drop_all()?;
    let mut shortfalls = Vec::new();
    // Landlock before seccomp: the seccomp filter then has nothing left to allow for the
    // launcher but `execve`, and Landlock's `restrict_self` sets `no_new_privs` for both.
    let landlock = landlock::restrict_self(policy, &mut shortfalls)?;
    let seccomp = seccomp::install(policy, &mut shortfalls)?;
    Ok(Reached {
        level: Level::from_layers(landlock, seccomp),
        shortfalls,
    })
}

/// See [`crate::probe`].
#[cfg(target_os = "linux")]
pub(crate) fn probe() -> Level {
    Level::from_layers(landlock::probe(), seccomp::available())
}

/// Off Linux only the rlimits can be applied: the launcher reaches [`Level::None`].
#[cfg(all(unix, not(target_os = "linux")))]
pub(crate) fn apply(policy: &Policy, _parent_pid: u32) -> Result<Reached> {
    if policy.die_with_parent {
        return Err(unsupported("asking for SIGKILL when the parent dies"));
    }
    limits::apply(policy)?;
    Ok(Reached {
        level: Level::None,
        shortfalls: vec!["Landlock and seccomp need Linux".to_owned()],
    })
}

#[cfg(not(unix))]
pub(crate) fn apply(_policy: &Policy, _parent_pid: u32) -> Result<Reached> {
    Err(unsupported("setting resource limits"))
}

#[cfg(not(target_os = "linux"))]
fn unsupported(step: &'static str) -> crate::Error {
    let source = std::io::Error::new(std::io::ErrorKind::Unsupported, "needs Linux");
    crate::Error::confine(step, source)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn probe() -> Level {
    Level::None
}
