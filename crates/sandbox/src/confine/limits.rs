//! Resource limits and the parent-death signal: what the launcher sets on its own process
//! before restricting it.

use rlimit::Resource;

use crate::{Error, Policy, Result};

/// Sets every rlimit of the policy, soft and hard alike, so the program cannot raise them.
pub(crate) fn apply(policy: &Policy) -> Result<()> {
    lower(Resource::CORE, "CORE", 0)?;
    lower(Resource::NOFILE, "NOFILE", policy.open_files)?;
    lower(Resource::FSIZE, "FSIZE", policy.file_size_bytes()?)?;
    if let Some(bytes) = policy.address_space_bytes()? {
        lower(Resource::AS, "AS", bytes)?;
    }
    if let Some(seconds) = policy.cpu_seconds {
        // Soft equal to hard: the kernel sends SIGKILL at the limit instead of a SIGXCPU the
        // program could catch and ignore.
        lower(Resource::CPU, "CPU", seconds)?;
    }
    Ok(())
}

/// Sets soft and hard limit to `value`, or to the current hard limit if that is lower: only
/// ever lowering needs no privilege.
fn lower(resource: Resource, name: &'static str, value: u64) -> Result<()> {
    let error = |source| Error::Rlimit {
        resource: name,
        value,
        source,
    };
    let (_, hard) = rlimit::getrlimit(resource).map_err(error)?;
    let value = value.min(hard);
    rlimit::setrlimit(resource, value, value).map_err(error)
}

/// Arms `SIGKILL` for when the parent dies, then checks the parent is still the one that built
/// the command: had it died in between, the signal would never come.
#[cfg(target_os = "linux")]
pub(crate) fn die_with_parent(expected: u32) -> Result<()> {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal};

    set_parent_process_death_signal(Some(Signal::KILL)).map_err(|errno| {
        Error::confine(
            "asking for SIGKILL when the parent dies (PR_SET_PDEATHSIG)",
            std::io::Error::from(errno),
        )
    })?;
    let parent = getppid().and_then(|pid| u32::try_from(pid.as_raw_nonzero().get()).ok());
    if parent != Some(expected) {
        return Err(Error::ParentGone { expected });
    }
    Ok(())
}
