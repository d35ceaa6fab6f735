//! The cases, and the fixture and outcome helpers they share.

use crate::probe;

use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use aisec_sandbox::{LAUNCH_FAILED_EXIT, Level, Policy, Sockets};
use anyhow::{Context, Result, bail, ensure};
use rustix::process::{Pid, Signal, WaitOptions, kill_process, waitpid};

/// Runs a probe (`probe <action>...`) or the cases (optionally only those whose names contain
/// one of the arguments).
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("probe") {
        return probe::run(&args[1..]);
    }
    // libtest flags cargo may pass through (`--nocapture`, `--quiet`) mean nothing here.
    let filters: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    run_cases(&filters)
}

type Case = (&'static str, fn(&Fixture) -> Result<()>);

const CASES: &[Case] = &[
    (
        "probe_reports_the_expected_level",
        probe_reports_the_expected_level,
    ),
    ("require_full_launches_here", require_full_launches_here),
    ("reads_only_inside_read", reads_only_inside_read),
    ("writes_only_inside_write", writes_only_inside_write),
    (
        "tcp_connect_to_loopback_is_denied",
        tcp_connect_to_loopback_is_denied,
    ),
    (
        "unix_sockets_follow_the_policy",
        unix_sockets_follow_the_policy,
    ),
    (
        "abstract_unix_sockets_outside_are_out_of_reach",
        abstract_unix_sockets_outside_are_out_of_reach,
    ),
    ("processes_follow_the_policy", processes_follow_the_policy),
    (
        "threads_work_without_processes",
        threads_work_without_processes,
    ),
    (
        "proc_of_the_parent_is_unreadable",
        proc_of_the_parent_is_unreadable,
    ),
    (
        "signalling_the_parent_is_denied",
        signalling_the_parent_is_denied,
    ),
    (
        "ptrace_of_the_parent_is_denied",
        ptrace_of_the_parent_is_denied,
    ),
    ("setsid_is_denied", setsid_is_denied),
    (
        "address_space_limit_stops_a_1_gib_allocation",
        address_space_limit_stops_a_1_gib_allocation,
    ),
    ("cpu_limit_kills_a_busy_loop", cpu_limit_kills_a_busy_loop),
    ("child_dies_with_its_parent", child_dies_with_its_parent),
    ("capabilities_are_dropped", capabilities_are_dropped),
    (
        "environment_is_only_what_the_caller_set",
        environment_is_only_what_the_caller_set,
    ),
    (
        "launcher_refuses_malformed_arguments",
        launcher_refuses_malformed_arguments,
    ),
    (
        "missing_policy_paths_are_named",
        missing_policy_paths_are_named,
    ),
    (
        "launcher_refuses_when_the_parent_is_gone",
        launcher_refuses_when_the_parent_is_gone,
    ),
];

fn run_cases(filters: &[&str]) -> ExitCode {
    let fixture = match Fixture::new() {
        Ok(fixture) => fixture,
        Err(error) => {
            eprintln!("setting up the fixture: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let selected: Vec<&Case> = CASES
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f)))
        .collect();
    println!("running {} confinement cases", selected.len());
    let mut n_failed = 0;
    for (name, case) in &selected {
        println!("case {name}");
        match case(&fixture) {
            Ok(()) => println!("  ... ok"),
            Err(error) => {
                n_failed += 1;
                println!("  ... FAILED: {error:#}");
            }
        }
    }
    println!(
        "confinement: {} passed, {n_failed} failed",
        selected.len() - n_failed
    );
    if n_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Folders for one run: `readable/` (in `read`), `scratch/` (in `write`) and `outside/`
/// (in neither), each with a file.
struct Fixture {
    _root: tempfile::TempDir,
    exe: PathBuf,
    readable: PathBuf,
    scratch: PathBuf,
    outside: PathBuf,
}

impl Fixture {
    fn new() -> Result<Self> {
        let root = tempfile::tempdir().context("creating the fixture folder")?;
        let exe = std::env::current_exe().context("finding this test binary")?;
        let [readable, scratch, outside] =
            ["readable", "scratch", "outside"].map(|name| root.path().join(name));
        for (folder, text) in [
            (&readable, "readable"),
            (&scratch, "scratch"),
            (&outside, "outside"),
        ] {
            std::fs::create_dir(folder).with_context(|| format!("creating {folder:?}"))?;
            std::fs::write(folder.join("data.txt"), text)
                .with_context(|| format!("writing into {folder:?}"))?;
        }
        std::fs::write(outside.join("listed.txt"), "listed").context("writing listed.txt")?;
        Ok(Fixture {
            _root: root,
            exe,
            readable,
            scratch,
            outside,
        })
    }

    /// The runner's policy: this binary and its libraries, `readable/`, `scratch/`.
    fn policy(&self) -> Policy {
        let mut policy = probe::minimal_policy(&self.exe);
        policy.read.push(self.readable.clone());
        policy.write.push(self.scratch.clone());
        policy
    }

    /// Runs `probe <action>` confined by `policy`.
    fn confined(&self, policy: &Policy, action: &[&str]) -> Result<Outcome> {
        let mut command = self.confined_command(policy, action)?;
        Outcome::of(&mut command, action)
    }

    fn confined_command(&self, policy: &Policy, action: &[&str]) -> Result<Command> {
        let args: Vec<OsString> = std::iter::once("probe")
            .chain(action.iter().copied())
            .map(OsString::from)
            .collect();
        let mut command = aisec_sandbox::command(&self.exe, policy, &self.exe, &args)
            .with_context(|| format!("building the confined command for {action:?}"))?;
        command.stdin(Stdio::null());
        Ok(command)
    }

    /// Runs `probe <action>` without any sandbox: the control.
    fn unconfined(&self, action: &[&str]) -> Result<Outcome> {
        let mut command = Command::new(&self.exe);
        command.arg("probe").args(action).stdin(Stdio::null());
        Outcome::of(&mut command, action)
    }
}

/// How a probe ended.
struct Outcome {
    action: String,
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn of(command: &mut Command, action: &[&str]) -> Result<Self> {
        let confined = command.get_args().next() == Some("--aisec-sandbox-launch".as_ref());
        let output = command
            .output()
            .with_context(|| format!("running probe {action:?}"))?;
        let how = if confined { "confined" } else { "unconfined" };
        Ok(Outcome {
            action: format!("{how} {}", action.join(" ")),
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }

    /// The action succeeded; returns what it reported.
    fn ok(&self) -> Result<&str> {
        match self.stdout.strip_prefix("ok: ") {
            Some(detail) if self.status.success() => {
                println!("    {}: ok ({})", self.action, shorten(detail));
                Ok(detail)
            }
            _ => bail!(
                "expected `{}` to succeed, got {}",
                self.action,
                self.describe()
            ),
        }
    }

    /// The action was refused — the probe ran and said so, not a launcher failure or a crash.
    /// `errno`, when given, must be the error it got.
    fn denied(&self, errno: Option<i32>) -> Result<&str> {
        let Some(why) = self.stdout.strip_prefix("denied: ") else {
            bail!(
                "expected `{}` to be denied, got {}",
                self.action,
                self.describe()
            );
        };
        ensure!(
            self.status.code() == Some(i32::from(probe::DENIED)),
            "`{}` said denied but {}",
            self.action,
            self.describe()
        );
        if let Some(errno) = errno {
            ensure!(
                why.starts_with(&format!("errno={errno} ")),
                "`{}` was denied with {why:?}, expected errno {errno}",
                self.action
            );
        }
        println!("    {}: denied ({})", self.action, shorten(why));
        Ok(why)
    }

    fn describe(&self) -> String {
        format!(
            "{} with stdout {:?} and stderr {:?}",
            self.status, self.stdout, self.stderr
        )
    }
}

fn expected_level() -> Result<Level> {
    match std::env::var("AISEC_SANDBOX_EXPECT_LEVEL") {
        Err(_) => Ok(Level::Full),
        Ok(text) => serde_json::from_value(serde_json::Value::String(text.clone()))
            .with_context(|| format!("AISEC_SANDBOX_EXPECT_LEVEL={text:?}")),
    }
}

fn probe_reports_the_expected_level(_: &Fixture) -> Result<()> {
    let expected = expected_level()?;
    let probed = aisec_sandbox::probe();
    ensure!(
        probed == expected,
        "probe() says {probed}, expected {expected}"
    );
    Ok(())
}

fn require_full_launches_here(fixture: &Fixture) -> Result<()> {
    let policy = Policy {
        require: Level::Full,
        ..fixture.policy()
    };
    fixture.confined(&policy, &["noop"])?.ok()?;
    Ok(())
}

fn reads_only_inside_read(fixture: &Fixture) -> Result<()> {
    let policy = fixture.policy();
    let inside = fixture.readable.join("data.txt");
    let text = fixture
        .confined(&policy, &["read", path(&inside)])?
        .ok()?
        .to_owned();
    ensure!(text == "readable", "read {text:?} from {inside:?}");
    // A file listed on its own is readable, its neighbours are not.
    let mut with_file = policy.clone();
    with_file.read.push(fixture.outside.join("listed.txt"));
    let listed = fixture.confined(
        &with_file,
        &["read", path(&fixture.outside.join("listed.txt"))],
    )?;
    ensure!(
        listed.ok()? == "listed",
        "read {:?} from the listed file",
        listed.stdout
    );
    fixture
        .confined(
            &with_file,
            &["read", path(&fixture.outside.join("data.txt"))],
        )?
        .denied(Some(libc::EACCES))?;
    for outside in ["/etc/passwd", path(&fixture.outside.join("data.txt"))] {
        fixture.unconfined(&["read", outside])?.ok()?;
        fixture
            .confined(&policy, &["read", outside])?
            .denied(Some(libc::EACCES))?;
    }
    Ok(())
}

fn writes_only_inside_write(fixture: &Fixture) -> Result<()> {
    let policy = fixture.policy();
    let inside = fixture.scratch.join("new.txt");
    fixture.confined(&policy, &["write", path(&inside)])?.ok()?;
    let written = std::fs::read_to_string(&inside).context("reading what the probe wrote")?;
    ensure!(
        written == "written by the probe",
        "scratch file holds {written:?}"
    );

    for (folder, what) in [
        (&fixture.outside, "outside"),
        (&fixture.readable, "read-only"),
    ] {
        let target = folder.join("new.txt");
        fixture
            .confined(&policy, &["write", path(&target)])?
            .denied(Some(libc::EACCES))?;
        ensure!(!target.exists(), "the {what} file {target:?} was created");
        let existing = folder.join("data.txt");
        fixture
            .confined(&policy, &["write", path(&existing)])?
            .denied(Some(libc::EACCES))?;
    }
    fixture
        .unconfined(&["write", path(&fixture.outside.join("control.txt"))])?
        .ok()?;
    Ok(())
}

fn tcp_connect_to_loopback_is_denied(fixture: &Fixture) -> Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("listening on loopback")?;
    let port = listener.local_addr()?.port().to_string();
    fixture.unconfined(&["tcp-connect", &port])?.ok()?;
    for sockets in [Sockets::None, Sockets::UnixOnly] {
        let policy = Policy {
            sockets,
            ..fixture.policy()
        };
        // seccomp refuses the AF_INET socket itself; Landlock's TCP rule is the layer behind.
        fixture
            .confined(&policy, &["tcp-connect", &port])?
            .denied(Some(libc::EPERM))?;
    }
    Ok(())
}

fn unix_sockets_follow_the_policy(fixture: &Fixture) -> Result<()> {
    let none = fixture.policy();
    fixture
        .confined(&none, &["unix-socket"])?
        .denied(Some(libc::EPERM))?;
    let unix = Policy {
        sockets: Sockets::UnixOnly,
        ..fixture.policy()
    };
    fixture.confined(&unix, &["unix-socket"])?.ok()?;
    Ok(())
}

fn abstract_unix_sockets_outside_are_out_of_reach(fixture: &Fixture) -> Result<()> {
    let name = format!("aisec-sandbox-test-{}", std::process::id());
    let address = SocketAddr::from_abstract_name(&name)?;
    let _listener = UnixListener::bind_addr(&address).context("binding an abstract socket")?;
    fixture.unconfined(&["abstract-connect", &name])?.ok()?;
    let policy = Policy {
        sockets: Sockets::UnixOnly,
        ..fixture.policy()
    };
    fixture
        .confined(&policy, &["abstract-connect", &name])?
        .denied(Some(libc::EPERM))?;
    Ok(())
}

fn processes_follow_the_policy(fixture: &Fixture) -> Result<()> {
    let mut policy = fixture.policy();
    policy.read.extend(
        ["/bin/true", "/usr/bin/true"]
            .map(PathBuf::from)
            .into_iter()
            .filter(|p| p.exists()),
    );
    let denied = Policy {
        processes: false,
        ..policy.clone()
    };
    fixture
        .confined(&denied, &["spawn", "/bin/true"])?
        .denied(Some(libc::EPERM))?;
    let allowed = Policy {
        processes: true,
        ..policy
    };
    fixture.confined(&allowed, &["spawn", "/bin/true"])?.ok()?;
    Ok(())
}

fn threads_work_without_processes(fixture: &Fixture) -> Result<()> {
    let detail = fixture
        .confined(&fixture.policy(), &["threads", "4"])?
        .ok()?
        .to_owned();
    ensure!(detail == "4 threads, sum 12", "threads reported {detail:?}");
    Ok(())
}

fn proc_of_the_parent_is_unreadable(fixture: &Fixture) -> Result<()> {
    let pid = std::process::id().to_string();
    let cmdline = format!("/proc/{pid}/cmdline");
    let environ = format!("/proc/{pid}/environ");
    fixture.unconfined(&["read", &cmdline])?.ok()?;
    fixture.unconfined(&["read", &environ])?.ok()?;
    fixture
        .confined(&fixture.policy(), &["read", &cmdline])?
        .denied(Some(libc::EACCES))?;

    // Even with /proc readable, another process's memory-backed files stay out of reach:
    // Landlock's ptrace restriction, not the filesystem rules, refuses them.
    let mut with_proc = fixture.policy();
    with_proc.read.push(PathBuf::from("/proc"));
    fixture
        .confined(&with_proc, &["read", "/proc/self/status"])?
        .ok()?;
    fixture
        .confined(&with_proc, &["read", &environ])?
        .denied(Some(libc::EACCES))?;
    Ok(())
}

fn signalling_the_parent_is_denied(fixture: &Fixture) -> Result<()> {
    let pid = std::process::id().to_string();
    fixture.unconfined(&["kill", &pid])?.ok()?;
    fixture
        .confined(&fixture.policy(), &["kill", &pid])?
        .denied(Some(libc::EPERM))?;
    Ok(())
}

fn ptrace_of_the_parent_is_denied(fixture: &Fixture) -> Result<()> {
    let pid = std::process::id().to_string();
    fixture
        .confined(&fixture.policy(), &["ptrace-attach", &pid])?
        .denied(Some(libc::EPERM))?;

    // The control attaches to a sleeper, never to this process: stopping it would hang the run.
    let mut sleeper = Command::new(&fixture.exe)
        .args(["probe", "sleep-ready", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("starting a sleeper to trace")?;
    let control = fixture.unconfined(&["ptrace-attach", &sleeper.id().to_string()]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    control?.ok()?;
    Ok(())
}

fn setsid_is_denied(fixture: &Fixture) -> Result<()> {
    fixture.unconfined(&["setsid"])?.ok()?;
    fixture
        .confined(&fixture.policy(), &["setsid"])?
        .denied(Some(libc::EPERM))?;
    Ok(())
}

fn address_space_limit_stops_a_1_gib_allocation(fixture: &Fixture) -> Result<()> {
    let unlimited = fixture.policy();
    fixture.confined(&unlimited, &["alloc", "1024"])?.ok()?;
    let limited = Policy {
        address_space_mib: Some(512),
        ..fixture.policy()
    };
    fixture
        .confined(&limited, &["alloc", "1024"])?
        .denied(None)?;
    fixture.confined(&limited, &["alloc", "16"])?.ok()?;
    Ok(())
}

fn cpu_limit_kills_a_busy_loop(fixture: &Fixture) -> Result<()> {
    let policy = Policy {
        cpu_seconds: Some(1),
        ..fixture.policy()
    };
    // 30 wall-clock seconds of spinning only ends by itself if the limit failed.
    let outcome = fixture.confined(&policy, &["busy", "30"])?;
    ensure!(
        outcome.status.signal() == Some(libc::SIGKILL),
        "expected SIGKILL at the CPU limit, got {}",
        outcome.describe()
    );
    println!("    {}: killed by SIGKILL", outcome.action);
    Ok(())
}

fn child_dies_with_its_parent(fixture: &Fixture) -> Result<()> {
    // Orphans of `probe orphan` are re-parented to this process, which can then reap them.
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .context("becoming a child subreaper")?;
    for die_with_parent in [true, false] {
        let outcome = fixture.unconfined(&["orphan", &die_with_parent.to_string()])?;
        let pid: i32 = outcome.ok()?.parse().context("orphan's pid")?;
        let pid = Pid::from_raw(pid).context("orphan's pid is 0")?;
        if die_with_parent {
            let (_, status) = waitpid(Some(pid), WaitOptions::empty())?.context("no status")?;
            ensure!(
                status.terminating_signal() == Some(libc::SIGKILL),
                "the child outlived its parent: {status:?}"
            );
            println!("    child {pid:?} was killed by SIGKILL when its parent exited");
        } else {
            let early = waitpid(Some(pid), WaitOptions::NOHANG)?;
            let _ = kill_process(pid, Signal::KILL);
            let _ = waitpid(Some(pid), WaitOptions::empty());
            ensure!(
                early.is_none(),
                "without die_with_parent the child still died: {early:?}"
            );
            println!("    without die_with_parent, child {pid:?} outlived its parent");
        }
    }
    Ok(())
}

fn capabilities_are_dropped(fixture: &Fixture) -> Result<()> {
    if rustix::process::geteuid().is_root() {
        // The control: as root, the unconfined probe has capabilities to lose.
        fixture.unconfined(&["caps"])?.denied(None)?;
    }
    fixture.confined(&fixture.policy(), &["caps"])?.ok()?;
    fixture
        .confined(&fixture.policy(), &["raise-nofile"])?
        .denied(Some(libc::EPERM))?;
    Ok(())
}

fn environment_is_only_what_the_caller_set(fixture: &Fixture) -> Result<()> {
    let mut command = fixture.confined_command(&fixture.policy(), &["env"])?;
    command.env("AISEC_PROBE", "1");
    let outcome = Outcome::of(&mut command, &["env"])?;
    let vars = outcome.ok()?;
    ensure!(vars == "AISEC_PROBE=1", "the program saw {vars:?}");
    Ok(())
}

fn launcher_refuses_malformed_arguments(fixture: &Fixture) -> Result<()> {
    let output = Command::new(&fixture.exe)
        .args(["--aisec-sandbox-launch", "1", "{", "/bin/true"])
        .stdin(Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.code() == Some(LAUNCH_FAILED_EXIT),
        "launcher exited with {}",
        output.status
    );
    ensure!(
        stderr.contains("malformed sandbox launch arguments: the policy is not valid"),
        "launcher said {stderr:?}"
    );
    println!("    launcher: {}", stderr.trim());
    Ok(())
}

/// The check behind `die_with_parent`: had the parent died before the death signal was armed,
/// the child would be re-parented; a launch naming another parent looks exactly like that.
fn launcher_refuses_when_the_parent_is_gone(fixture: &Fixture) -> Result<()> {
    let policy = fixture.policy();
    let json = serde_json::to_string(&policy)?;
    let output = Command::new(&fixture.exe)
        .args([
            "--aisec-sandbox-launch",
            "1",
            &json,
            path(&fixture.exe),
            "probe",
            "noop",
        ])
        .env_clear()
        .stdin(Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.code() == Some(LAUNCH_FAILED_EXIT) && output.stdout.is_empty(),
        "launcher exited with {} and stdout {:?}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    ensure!(
        stderr.contains("the parent process 1 exited before the death signal was armed"),
        "launcher said {stderr:?}"
    );
    println!("    launcher: {}", stderr.trim());
    Ok(())
}

fn missing_policy_paths_are_named(fixture: &Fixture) -> Result<()> {
    let gone = fixture.outside.join("vanishing");
    std::fs::create_dir(&gone)?;
    let mut policy = fixture.policy();
    policy.read.push(gone.clone());
    let mut command = fixture.confined_command(&policy, &["noop"])?;
    std::fs::remove_dir(&gone)?;

    // Built while the folder existed, launched after it went: the launcher names it.
    let outcome = Outcome::of(&mut command, &["noop"])?;
    ensure!(
        outcome.status.code() == Some(LAUNCH_FAILED_EXIT),
        "expected the launcher to refuse, got {}",
        outcome.describe()
    );
    let expected = format!("read path {gone:?} cannot be opened");
    ensure!(
        outcome.stderr.contains(&expected),
        "launcher said {:?}",
        outcome.stderr
    );
    println!("    launcher: {}", outcome.stderr);

    // And `command` itself refuses a path that is already missing.
    let error = fixture.confined_command(&policy, &["noop"]).unwrap_err();
    ensure!(
        format!("{error:#}").contains(&expected),
        "command said {error:#}"
    );
    println!("    command: {error:#}");
    Ok(())
}

/// One printable line of at most 60 characters.
fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if text.chars().nth(MAX).is_some() {
        line.push_str("...");
    }
    line
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap_or("<non-UTF-8 path>")
}
