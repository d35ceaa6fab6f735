//! Dropping every capability, so that a launcher run as root does not hand root's powers to
//! the program (raising its own rlimits, changing the clock, raw devices, ...).

use rustix::io::Errno;
use rustix::process::geteuid;
use rustix::thread::{
    CapabilitySet, CapabilitySets, capabilities, capability_is_in_bounding_set,
    remove_capability_from_bounding_set, set_capabilities,
};

use crate::{Error, Result};

/// Empties the bounding, effective, permitted, inheritable and ambient sets.
///
/// The bounding set matters for uid 0: `execve` gives root every capability still in it,
/// whatever the other sets say. Emptying it needs `CAP_SETPCAP`; when that is missing and the
/// process is root, confinement fails rather than quietly running the program as full root.
pub(crate) fn drop_all() -> Result<()> {
    let error = |step| move |errno: Errno| Error::confine(step, std::io::Error::from(errno));

    let current = capabilities(None).map_err(error("reading capabilities (capget)"))?;
    if current.effective.contains(CapabilitySet::SETPCAP) {
        for capability in known_capabilities() {
            if capability_is_in_bounding_set(capability)
                .map_err(error("reading the capability bounding set"))?
            {
                remove_capability_from_bounding_set(capability)
                    .map_err(error("dropping the capability bounding set"))?;
            }
        }
    }
    // Ambient capabilities are cleared with these: the kernel keeps ambient within
    // permitted and inheritable.
    let none = CapabilitySets {
        effective: CapabilitySet::empty(),
        permitted: CapabilitySet::empty(),
        inheritable: CapabilitySet::empty(),
    };
    set_capabilities(None, none).map_err(error("dropping capabilities (capset)"))?;

    if geteuid().is_root() {
        for capability in known_capabilities() {
            if capability_is_in_bounding_set(capability)
                .map_err(error("reading the capability bounding set"))?
            {
                return Err(Error::confine(
                    "dropping capabilities",
                    std::io::Error::other(
                        "running as root without CAP_SETPCAP: the capability bounding set \
                         cannot be emptied, and execve would give the program root's \
                         capabilities back",
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Every capability the running kernel knows: it answers `EINVAL` past its last one.
fn known_capabilities() -> impl Iterator<Item = CapabilitySet> {
    (0..u64::BITS)
        .map(|bit| CapabilitySet::from_bits_retain(1 << bit))
        .take_while(|&capability| capability_is_in_bounding_set(capability) != Err(Errno::INVAL))
}
