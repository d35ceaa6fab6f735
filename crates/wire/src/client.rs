//! The checker's side: one runner process per graded exercise, started on the first call, and
//! the calls the generated `exercise` module makes into it.
//!
//! A call that cannot complete — the candidate's code panicked, reached a `todo!()`, died, or
//! answered something that does not decode — unwinds out of the checker's harness code with a
//! [`Failure`] payload (no panic message is printed), and the harness runtime turns it into the
//! exercise's outcome. A candidate's `Err` is not a failure: it is returned as the function's
//! value, for the harness to grade.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout};
use std::sync::{Arc, Mutex, OnceLock};

use crate::{Reply, Returns, frame};

/// The largest reply accepted from the runner.
pub const MAX_REPLY_BYTES: u64 = 64 << 20;
/// The runner's stderr kept for messages; the rest is counted and dropped.
pub const MAX_CAPTURED_BYTES: usize = 1 << 20;

/// Why a call into the candidate's code did not return a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The candidate's code reached a `todo!()`.
    NotStarted(String),
    /// It panicked: the message and where.
    Panicked(String),
    /// The runner died or stopped answering (signal, abort, limit, exit).
    Died(String),
    /// The runner answered something that is not a valid reply.
    Malformed(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotStarted(m) => write!(f, "not started: {m}"),
            Failure::Panicked(m) => write!(f, "panicked: {m}"),
            Failure::Died(m) => write!(f, "{m}"),
            Failure::Malformed(m) => write!(f, "sent a malformed reply: {m}"),
        }
    }
}

/// Starts the runner: stdin, stdout and stderr piped.
pub type Spawn = Box<dyn Fn() -> std::io::Result<Child> + Send + Sync>;

struct Setup {
    spawn: Spawn,
    memory_mib: u64,
}

static SETUP: OnceLock<Setup> = OnceLock::new();
static RUNNER: Mutex<Option<Runner>> = Mutex::new(None);

/// The runner's stderr as captured so far.
#[derive(Debug, Default)]
pub struct Captured {
    /// The first [`MAX_CAPTURED_BYTES`] bytes.
    pub kept: Vec<u8>,
    /// Bytes dropped after those.
    pub dropped: u64,
}

impl Captured {
    /// The kept text, lossily decoded, with a note of what was dropped.
    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!(
                "\n… ({} more bytes of output dropped)",
                self.dropped
            ));
        }
        text
    }
}

struct Runner {
    child: Child,
    calls: ChildStdin,
    replies: ChildStdout,
    stderr: Arc<Mutex<Captured>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

/// Sets how the runner is started (once per checker process); `memory_mib` is its address-space
/// limit, named in messages when it runs out.
pub fn install(spawn: Spawn, memory_mib: u64) {
    let _ = SETUP.set(Setup { spawn, memory_mib });
}

/// The running runner's process id, if it has started.
pub fn runner_pid() -> Option<u32> {
    RUNNER
        .lock()
        .ok()
        .and_then(|r| r.as_ref().map(|r| r.child.id()))
}

/// Stops the runner (if any) and returns its captured stderr.
pub fn shutdown() -> String {
    let Some(mut runner) = RUNNER.lock().ok().and_then(|mut r| r.take()) else {
        return String::new();
    };
    let _ = runner.child.kill();
    let _ = runner.child.wait();
    if let Some(reader) = runner.stderr_reader.take() {
        let _ = reader.join();
    }
    runner.stderr.lock().map(|c| c.text()).unwrap_or_default()
}

fn start() -> Result<Runner, Failure> {
    let setup = SETUP
        .get()
        .ok_or_else(|| Failure::Died("no runner was set up for this run".into()))?;
    let mut child =
        (setup.spawn)().map_err(|e| Failure::Died(format!("the runner could not start: {e}")))?;
    let (Some(calls), Some(replies), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        return Err(Failure::Died("the runner's pipes were not set up".into()));
    };
    let captured = Arc::new(Mutex::new(Captured::default()));
    let sink = Arc::clone(&captured);
    let stderr_reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buffer) {
            if n == 0 {
                break;
            }
            if let Ok(mut c) = sink.lock() {
                let room = MAX_CAPTURED_BYTES.saturating_sub(c.kept.len()).min(n);
                c.kept.extend_from_slice(&buffer[..room]);
                c.dropped += (n - room) as u64;
            }
        }
    });
    Ok(Runner {
        child,
        calls,
        replies,
        stderr: captured,
        stderr_reader: Some(stderr_reader),
    })
}

/// What a call returned: the value's bytes and the updated `&mut` parameters.
pub struct Answer {
    /// The encoded return value.
    pub value: Vec<u8>,
    /// Per parameter, its final state if it is a `&mut` parameter.
    pub updates: Vec<Option<Vec<u8>>>,
}

/// Calls `function` in the runner with encoded `args`; unwinds with a [`Failure`] if it does
/// not return.
pub fn call(function: &str, args: Vec<Vec<u8>>) -> Answer {
    match try_call(function, args) {
        Ok(answer) => answer,
        Err(failure) => std::panic::resume_unwind(Box::new(failure)),
    }
}

fn try_call(function: &str, args: Vec<Vec<u8>>) -> Result<Answer, Failure> {
    let mut guard = RUNNER
        .lock()
        .map_err(|_| Failure::Died("the runner connection was poisoned".into()))?;
    if guard.is_none() {
        *guard = Some(start()?);
    }
    let runner = guard.as_mut().expect("started above");
    let sent = send(&mut runner.calls, function, &args);
    let reply = sent.and_then(|()| receive(&mut runner.replies));
    match reply {
        Ok(answer) => answer,
        Err(io) => {
            // The runner is gone or speaks nonsense: collect why, and never use it again.
            let mut runner = guard.take().expect("present");
            let _ = runner.child.kill();
            let status = runner.child.wait();
            if let Some(reader) = runner.stderr_reader.take() {
                let _ = reader.join();
            }
            let stderr = runner.stderr.lock().map(|c| c.text()).unwrap_or_default();
            let memory = SETUP.get().map_or(0, |s| s.memory_mib);
            Err(match status {
                Ok(status) if io.kind() != std::io::ErrorKind::InvalidData => {
                    Failure::Died(describe_death(status, &stderr, memory))
                }
                _ => Failure::Malformed(io.to_string()),
            })
        }
    }
}

fn send(calls: &mut ChildStdin, function: &str, args: &[Vec<u8>]) -> std::io::Result<()> {
    let header = postcard::to_stdvec(&(function, args.len() as u32))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    frame::write(calls, &header)?;
    for arg in args {
        frame::write(calls, arg)?;
    }
    calls.flush()
}

/// Reads one reply. The outer error is the transport's (the runner is unusable); the inner
/// one is a failure of the call itself.
fn receive(replies: &mut ChildStdout) -> std::io::Result<Result<Answer, Failure>> {
    let header = frame::read(replies, 1 << 20)?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the runner closed its output",
        )
    })?;
    let reply: Reply = postcard::from_bytes(&header)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(match reply {
        Reply::Returned { updates } => {
            let value = frame::read(replies, MAX_REPLY_BYTES)?.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "a reply ended early")
            })?;
            Ok(Answer { value, updates })
        }
        Reply::Panicked {
            message,
            not_started,
        } => {
            let message: String = message.chars().take(4096).collect();
            Err(if not_started {
                Failure::NotStarted(message)
            } else {
                Failure::Panicked(message)
            })
        }
        Reply::Refused { message } => Err(Failure::Malformed(message.chars().take(4096).collect())),
    })
}

/// Decodes a return value; a reply that does not decode is a [`Failure::Malformed`].
pub fn returned<R: Returns>(function: &str, bytes: &[u8]) -> R {
    match R::take_return(bytes) {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(Box::new(Failure::Malformed(format!(
            "{function} returned {e}"
        )))),
    }
}

/// Applies a `&mut` parameter's returned state.
pub fn update<'a, P: crate::Param<'a>>(
    function: &str,
    param: &mut P,
    bytes: Option<&Option<Vec<u8>>>,
) {
    if let Some(Some(bytes)) = bytes {
        if let Err(e) = param.apply_update(bytes) {
            std::panic::resume_unwind(Box::new(Failure::Malformed(format!(
                "{function} sent back {e}"
            ))));
        }
    }
}

/// Encodes an argument; an encoding failure is the checker's own problem, reported as such.
pub fn encode<'a, P: crate::Param<'a>>(function: &str, param: &P) -> Vec<u8> {
    match param.encode() {
        Ok(bytes) => bytes,
        Err(e) => std::panic::resume_unwind(Box::new(Failure::Died(format!(
            "the checker could not encode an argument of {function}: {e}"
        )))),
    }
}

fn describe_death(status: std::process::ExitStatus, stderr: &str, memory_mib: u64) -> String {
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return format!("ran out of memory (the limit is {memory_mib} MiB)");
    }
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        let name = match signal {
            6 => " (SIGABRT: abort, e.g. a failed allocation or a stack overflow)",
            9 => " (SIGKILL)",
            11 => " (SIGSEGV: invalid memory access)",
            24 => " (SIGXCPU: the CPU-time limit)",
            31 => " (SIGSYS: a forbidden system call)",
            _ => "",
        };
        return format!("the candidate's code was killed by signal {signal}{name}");
    }
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    format!(
        "the candidate's code exited ({status}) instead of returning{}",
        if last.is_empty() {
            String::new()
        } else {
            format!(": {last}")
        }
    )
}
