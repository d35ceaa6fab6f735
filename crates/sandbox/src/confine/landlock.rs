//! The Landlock layer: which files the program may read or write, no TCP, and no reaching
//! abstract UNIX sockets or processes outside the sandbox.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use ::landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus,
    PathBeneath, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetError, RulesetStatus, Scope,
};
use rustix::fs::{FileType, Mode, OFlags, fstat, open};

use crate::{Error, Level, Policy, Result};

/// The newest ABI whose rights are asked for. ABI 7 adds no right over ABI 6, only audit-log
/// flags, so a kernel with ABI 6 enforces all of it: that is what [`Level::Full`] promises.
const ABI_TARGET: ABI = ABI::V7;

/// Everything the sandbox handles: every filesystem right, TCP bind and connect, and both
/// scopes. Rules are added for filesystem paths only, so TCP is denied outright.
fn ruleset(compat: CompatLevel) -> std::result::Result<Ruleset, RulesetError> {
    Ruleset::default()
        .set_compatibility(compat)
        .handle_access(AccessFs::from_all(ABI_TARGET))?
        .handle_access(AccessNet::from_all(ABI_TARGET))?
        .scope(Scope::from_all(ABI_TARGET))
}

/// Full when the kernel would enforce the whole ruleset, Partial when it enforces at least the
/// first ABI's filesystem rights. Creating a ruleset restricts nothing.
pub(crate) fn probe() -> Level {
    let full = ruleset(CompatLevel::HardRequirement).and_then(Ruleset::create);
    if full.is_ok() {
        return Level::Full;
    }
    let any = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(Ruleset::create);
    if any.is_ok() {
        Level::Partial
    } else {
        Level::None
    }
}

/// Restricts the calling thread (and so the program it `exec`s) to the policy, as far as the
/// kernel allows; says how far in `shortfalls` when not all the way.
pub(crate) fn restrict_self(policy: &Policy, shortfalls: &mut Vec<String>) -> Result<Level> {
    let landlock_error = |step| move |error| Error::confine(step, error);
    let mut ruleset = ruleset(CompatLevel::BestEffort)
        .and_then(Ruleset::create)
        .map_err(landlock_error("creating the Landlock ruleset"))?;

    let read = AccessFs::from_read(ABI_TARGET);
    let write = AccessFs::from_all(ABI_TARGET);
    for (what, paths, rights) in [
        ("read path", &policy.read, read),
        ("write path", &policy.write, write),
    ] {
        for path in paths {
            let (fd, rights) = open_beneath(what, path, rights)?;
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, rights))
                .map_err(landlock_error("adding a Landlock rule"))?;
        }
    }

    let status = ruleset
        .restrict_self()
        .map_err(landlock_error("enforcing the Landlock ruleset"))?;
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi.to_string(),
        _ => "none".to_owned(),
    };
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Level::Full,
        RulesetStatus::PartiallyEnforced => {
            shortfalls.push(format!(
                "Landlock is only partly enforced (kernel Landlock ABI {abi}, full needs 6: \
                 TCP rules and scopes)"
            ));
            Level::Partial
        }
        RulesetStatus::NotEnforced => {
            shortfalls.push("Landlock is not enabled in this kernel".to_owned());
            Level::None
        }
    })
}

/// Opens `path` for a rule (`O_PATH`: no read access needed) and trims `rights` to those the
/// kernel accepts on what it is: on a file, the directory rights would be refused.
fn open_beneath(
    what: &'static str,
    path: &Path,
    rights: BitFlags<AccessFs>,
) -> Result<(OwnedFd, BitFlags<AccessFs>)> {
    let path_error = |errno| Error::Path {
        what,
        path: path.to_owned(),
        source: io::Error::from(errno),
    };
    let fd = open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).map_err(path_error)?;
    let stat = fstat(&fd).map_err(path_error)?;
    let rights = if FileType::from_raw_mode(stat.st_mode).is_dir() {
        rights
    } else {
        rights & AccessFs::from_file(ABI_TARGET)
    };
    Ok((fd, rights))
}
