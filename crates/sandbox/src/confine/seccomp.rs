//! The seccomp layer: system calls that reach outside the sandbox or into the kernel's
//! riskiest code fail, and so do sockets and new processes the policy does not allow.

use std::collections::BTreeMap;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use crate::{Error, Policy, Result, Sockets};

/// Always `EPERM`, whatever the policy: debugging or reading other processes, mounts and
/// namespaces, kernel modules and kexec, eBPF and perf, keyrings, io_uring (whose operations
/// would bypass every other rule here), sessions and process groups, and host administration.
const DENIED: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_pidfd_getfd,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    // The new mount API does what mount(2) does.
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_setns,
    libc::SYS_unshare,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_setsid,
    libc::SYS_setpgid,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_syslog,
    // Opens files by handle, around path names (needs CAP_DAC_READ_SEARCH, dropped anyway).
    libc::SYS_open_by_handle_at,
];

/// `clone` flags that create namespaces. `unshare` and `setns` are denied, so these are too,
/// whatever `processes` says: a new user namespace is where most kernel escapes start.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

fn target_arch() -> Option<TargetArch> {
    if cfg!(target_arch = "x86_64") {
        Some(TargetArch::x86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(TargetArch::aarch64)
    } else {
        None
    }
}

/// Whether this process could install a seccomp filter, read from `/proc/self/status`
/// without installing one: its `Seccomp_filters` line exists only in kernels built with
/// filters, and mode 1 (strict) admits no filter.
pub(crate) fn available() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    let mode = status
        .lines()
        .find_map(|line| line.strip_prefix("Seccomp:"))
        .map(str::trim);
    let has_filters = status
        .lines()
        .any(|line| line.starts_with("Seccomp_filters:"));
    target_arch().is_some() && has_filters && matches!(mode, Some("0" | "2"))
}

/// Installs the filters on the calling thread. `Ok(false)` (and a shortfall) when this kernel
/// or architecture has no seccomp filters; an error when they exist but fail.
pub(crate) fn install(policy: &Policy, shortfalls: &mut Vec<String>) -> Result<bool> {
    let Some(arch) = target_arch() else {
        shortfalls.push(format!(
            "seccomp filters are not built for {}",
            std::env::consts::ARCH
        ));
        return Ok(false);
    };
    let programs = filters(policy, arch)
        .map_err(|error| Error::confine("compiling the seccomp filters", error))?;
    for (index, program) in programs.iter().enumerate() {
        match seccompiler::apply_filter(program) {
            Ok(()) => {}
            // Only the first: once one filter is in, a failing second is no missing feature.
            Err(error @ (seccompiler::Error::Prctl(_) | seccompiler::Error::Seccomp(_)))
                if index == 0 =>
            {
                shortfalls.push(format!("seccomp filters are not available: {error}"));
                return Ok(false);
            }
            Err(error) => return Err(Error::confine("installing the seccomp filters", error)),
        }
    }
    Ok(true)
}

/// The BPF programs for `policy` on `arch`, which must be the running one (the syscall numbers
/// are this build's). seccompiler gives one action per filter, so `EPERM` rules and `ENOSYS`
/// rules are separate programs; the kernel runs them all.
pub(crate) fn filters(
    policy: &Policy,
    arch: TargetArch,
) -> std::result::Result<Vec<BpfProgram>, BackendError> {
    let mut eperm: BTreeMap<i64, Vec<SeccompRule>> = DENIED
        .iter()
        .map(|&syscall| (syscall, Vec::new()))
        .collect();
    // An empty rule list matches every call.
    let socket_rules = match policy.sockets {
        Sockets::None => Vec::new(),
        Sockets::UnixOnly => vec![rule(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?],
    };
    eperm.insert(libc::SYS_socket, socket_rules);
    eperm.insert(libc::SYS_clone, clone_rules(policy.processes)?);
    if !policy.processes {
        #[cfg(target_arch = "x86_64")]
        {
            eperm.insert(libc::SYS_fork, Vec::new());
            eperm.insert(libc::SYS_vfork, Vec::new());
        }
    }
    let eperm = SeccompFilter::new(
        eperm,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )?;

    // clone3 passes its flags in memory a filter cannot read, so neither CLONE_THREAD nor the
    // namespace flags can be checked: ENOSYS makes glibc (and Rust's std through it) fall back
    // to clone, where they can.
    let enosys = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )?;

    let mut programs = vec![eperm.try_into()?, enosys.try_into()?];
    if arch == TargetArch::x86_64 {
        programs.push(x32_filter());
    }
    Ok(programs)
}

/// For `clone`, whose first argument is the flags on both architectures: namespace flags
/// always match, and without `processes` so does every call lacking `CLONE_THREAD`.
fn clone_rules(processes: bool) -> std::result::Result<Vec<SeccompRule>, BackendError> {
    let mut rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            rule(0, SeccompCmpOp::MaskedEq(flag), flag)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if !processes {
        let thread = libc::CLONE_THREAD as u64;
        rules.push(rule(0, SeccompCmpOp::MaskedEq(thread), 0)?);
    }
    Ok(rules)
}

/// One condition on the low 32 bits of argument `arg`: every value compared here (an address
/// family, clone flags) lives there.
fn rule(arg: u8, op: SeccompCmpOp, value: u64) -> std::result::Result<SeccompRule, BackendError> {
    SeccompRule::new(vec![SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        op,
        value,
    )?])
}

/// `ENOSYS` for every x32 system call (numbers with bit 30 set). They pass seccompiler's
/// architecture check — x32 shares `AUDIT_ARCH_X86_64` — under numbers its rules do not name,
/// so on a kernel built with x32 they would walk around every rule above. seccompiler cannot
/// express a range of numbers, hence these six instructions by hand.
fn x32_filter() -> BpfProgram {
    use seccompiler::sock_filter;

    // linux/audit.h: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
    const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    // Offsets in struct seccomp_data.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let op = |code: u32, jt: u8, jf: u8, k: u32| sock_filter {
        // BPF opcodes fit in 16 bits by definition.
        code: code as u16,
        jt,
        jf,
        k,
    };
    vec![
        op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, ARCH),
        // Another architecture: allowed here, the main filter kills it.
        op(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            0,
            3,
            AUDIT_ARCH_X86_64,
        ),
        op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, NR),
        op(
            libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K,
            0,
            1,
            X32_SYSCALL_BIT,
        ),
        op(
            libc::BPF_RET | libc::BPF_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::sample;

    fn arch() -> TargetArch {
        target_arch().expect("tests run on x86_64 or aarch64")
    }

    #[test]
    fn filters_compile_for_every_policy_shape() {
        for processes in [false, true] {
            for sockets in [Sockets::None, Sockets::UnixOnly] {
                let policy = Policy {
                    processes,
                    sockets,
                    ..sample()
                };
                let programs = filters(&policy, arch()).unwrap();
                let expected = if cfg!(target_arch = "x86_64") { 3 } else { 2 };
                assert_eq!(programs.len(), expected);
                assert!(programs.iter().all(|program| !program.is_empty()));
            }
        }
    }
}
