//! What runs inside the sandbox: one action per process, reported on stdout as one line,
//! `ok: <detail>` (exit 0) or `denied: <why>` (exit 1). Usage errors exit 2.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use aisec_sandbox::{Level, Policy, Sockets};
use rustix::process::{Pid, Signal};

/// Exit code of a probe whose action was refused.
pub const DENIED: u8 = 1;
/// Exit code of a probe that was called wrongly (a bug in the test, not a result).
pub const USAGE: u8 = 2;

/// Runs `args` (the words after `probe`) and reports.
pub fn run(args: &[String]) -> ExitCode {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match act(&args) {
        Some(outcome) => outcome,
        None => {
            eprintln!("probe: unknown action {args:?}");
            return ExitCode::from(USAGE);
        }
    };
    let mut stdout = std::io::stdout().lock();
    let (line, code) = match outcome {
        Ok(detail) => (format!("ok: {detail}"), ExitCode::SUCCESS),
        Err(why) => (format!("denied: {why}"), ExitCode::from(DENIED)),
    };
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
    code
}

/// `None` for an action this probe does not know.
fn act(args: &[&str]) -> Option<Result<String, String>> {
    Some(match *args {
        ["noop"] => Ok("nothing done".to_owned()),
        ["read", path] => std::fs::read_to_string(path).map_err(os),
        ["write", path] => std::fs::write(path, "written by the probe")
            .map(|()| format!("wrote {path}"))
            .map_err(os),
        ["tcp-connect", port] => {
            // Loopback only: this test never connects anywhere else.
            let port: u16 = port.parse().ok()?;
            TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .map(|_| format!("connected to 127.0.0.1:{port}"))
                .map_err(os)
        }
        ["unix-socket"] => UnixDatagram::unbound()
            .map(|_| "created an AF_UNIX socket".to_owned())
            .map_err(os),
        ["abstract-connect", name] => SocketAddr::from_abstract_name(name)
            .and_then(|address| UnixStream::connect_addr(&address))
            .map(|_| format!("connected to abstract socket {name}"))
            .map_err(os),
        ["spawn", program] => match Command::new(program).status() {
            Ok(status) if status.success() => Ok(format!("{program} ran")),
            Ok(status) => Err(format!("{program} ran but {status}")),
            Err(error) => Err(os(error)),
        },
        ["threads", count] => threads(count.parse().ok()?),
        ["kill", pid] => {
            // SIGWINCH: ignored by default, so a wrongly allowed signal harms nobody.
            let pid = Pid::from_raw(pid.parse().ok()?)?;
            rustix::process::kill_process(pid, Signal::WINCH)
                .map(|()| format!("sent SIGWINCH to {pid:?}"))
                .map_err(|errno| os(errno.into()))
        }
        ["ptrace-attach", pid] => {
            let pid = nix::unistd::Pid::from_raw(pid.parse().ok()?);
            nix::sys::ptrace::attach(pid)
                .map(|()| format!("attached to {pid}"))
                .map_err(|errno| os(std::io::Error::from(errno)))
        }
        ["setsid"] => rustix::process::setsid()
            .map(|session| format!("new session {session:?}"))
            .map_err(|errno| os(errno.into())),
        ["alloc", mib] => {
            let bytes = mib.parse::<usize>().ok()?.checked_mul(1 << 20)?;
            let mut memory = Vec::<u8>::new();
            memory
                .try_reserve_exact(bytes)
                .map(|()| format!("reserved {mib} MiB"))
                .map_err(|error| error.to_string())
        }
        ["busy", seconds] => {
            let until = Instant::now() + Duration::from_secs(seconds.parse().ok()?);
            let mut spins = 0u64;
            while Instant::now() < until {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
            Ok(format!("still alive after {spins} spins"))
        }
        ["sleep-ready", seconds] => {
            println!("ready");
            let _ = std::io::stdout().flush();
            std::thread::sleep(Duration::from_secs(seconds.parse().ok()?));
            Ok("slept".to_owned())
        }
        ["caps"] => capabilities(),
        ["raise-nofile"] => {
            let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
            let higher = hard.saturating_add(1);
            rlimit::setrlimit(rlimit::Resource::NOFILE, higher, higher)
                .map(|()| format!("raised RLIMIT_NOFILE to {higher}"))
                .map_err(os)
        }
        ["env"] => {
            let mut vars: Vec<String> = std::env::vars_os()
                .map(|(key, value)| {
                    format!("{}={}", key.to_string_lossy(), value.to_string_lossy())
                })
                .collect();
            vars.sort();
            Ok(vars.join(","))
        }
        ["orphan", die_with_parent] => orphan(die_with_parent.parse().ok()?),
        _ => return None,
    })
}

/// An OS error with its number first, so the cases can tell which layer refused.
fn os(error: std::io::Error) -> String {
    format!("errno={} {error}", error.raw_os_error().unwrap_or(0))
}

fn threads(count: u32) -> Result<String, String> {
    let handles = (0..count)
        .map(|index| std::thread::Builder::new().spawn(move || u64::from(index) * 2))
        .collect::<Result<Vec<_>, _>>()
        .map_err(os)?;
    let sum: u64 = handles
        .into_iter()
        .map(|handle| handle.join().unwrap_or(u64::MAX))
        .sum();
    Ok(format!("{count} threads, sum {sum}"))
}

/// Ok only if no capability is left in any set, the bounding set included.
fn capabilities() -> Result<String, String> {
    use rustix::thread::{CapabilitySet, capabilities, capability_is_in_bounding_set};
    let sets = capabilities(None).map_err(|errno| os(errno.into()))?;
    let bounding: Vec<u32> = (0..64)
        .filter(|&bit| {
            capability_is_in_bounding_set(CapabilitySet::from_bits_retain(1 << bit)) == Ok(true)
        })
        .collect();
    if sets.effective.is_empty()
        && sets.permitted.is_empty()
        && sets.inheritable.is_empty()
        && bounding.is_empty()
    {
        Ok("no capabilities".to_owned())
    } else {
        Err(format!(
            "capabilities left: {sets:?}, bounding {bounding:?}"
        ))
    }
}

/// Starts a confined `sleep-ready 60` child, waits until it runs, prints its pid and exits,
/// leaving it orphaned.
fn orphan(die_with_parent: bool) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(os)?;
    let policy = Policy {
        die_with_parent,
        ..minimal_policy(&exe)
    };
    let args: Vec<OsString> = ["probe", "sleep-ready", "60"].map(OsString::from).to_vec();
    let mut child = aisec_sandbox::command(&exe, &policy, &exe, &args)
        .map_err(|error| error.to_string())?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Not this process's stderr: whoever reads that until EOF would wait for the child.
        .stderr(Stdio::null())
        .spawn()
        .map_err(os)?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).map_err(os)?;
    if line.trim() != "ready" {
        return Err(format!("the child said {line:?} instead of ready"));
    }
    // Not waited for: this process exits and leaves the child to its fate.
    Ok(child.id().to_string())
}

/// The dynamic loader, the C library and the loader cache: what any program of this build
/// needs to start. Only those present on this machine.
pub fn system_read_paths() -> Vec<PathBuf> {
    [
        "/lib",
        "/lib64",
        "/usr/lib",
        "/usr/lib64",
        "/etc/ld.so.cache",
    ]
    .into_iter()
    .map(PathBuf::from)
    .filter(|path| path.exists())
    .collect()
}

/// Enough to run this test binary and nothing else.
pub fn minimal_policy(exe: &Path) -> Policy {
    let mut read = system_read_paths();
    read.push(exe.to_owned());
    Policy {
        read,
        write: Vec::new(),
        processes: false,
        sockets: Sockets::None,
        address_space_mib: None,
        cpu_seconds: None,
        open_files: 64,
        file_size_mib: 16,
        die_with_parent: true,
        require: Level::Full,
    }
}
