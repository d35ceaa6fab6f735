//! The launcher protocol: [`command`] writes the launcher's arguments, [`launch_if_requested`]
//! reads them back, confines the process and `exec`s the program.
//!
//! argv of a launch: `<launcher> --aisec-sandbox-launch <parent pid> <policy JSON> <program>
//! [args...]`. Nothing is optional and nothing is reordered: anything else is an error.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::policy::{check_absolute, check_path};
use crate::{Error, LAUNCH_FAILED_EXIT, LEVEL_NOT_REACHED_EXIT, Policy, Result, confine};

/// The hidden first argument that turns a launcher binary into the launcher.
const LAUNCH_FLAG: &str = "--aisec-sandbox-launch";

/// A policy longer than this is not one [`command`] wrote.
const MAX_POLICY_BYTES: usize = 1 << 20;

/// A [`Command`] that runs `program args...` confined by `policy`, through `launcher` — a
/// trusted binary whose `main` calls [`launch_if_requested`] first (`std::env::current_exe()`
/// of such a binary, usually).
///
/// The environment is cleared: add what the program needs with `.env(...)`. The caller sets
/// stdin, stdout, stderr and the current directory. `program` must be an absolute path (there
/// is no `PATH` to search) and every policy path must exist.
///
/// The command also carries this process's pid: with
/// [`die_with_parent`](Policy::die_with_parent), spawn it from this process.
pub fn command(
    launcher: &Path,
    policy: &Policy,
    program: &Path,
    args: &[OsString],
) -> Result<Command> {
    policy.validate()?;
    check_absolute("program", program)?;
    let json = serde_json::to_string(policy).map_err(Error::EncodePolicy)?;
    if json.len() > MAX_POLICY_BYTES {
        return Err(Error::PolicyTooLarge {
            n_bytes: json.len(),
            max_bytes: MAX_POLICY_BYTES,
        });
    }
    let mut command = Command::new(launcher);
    command
        .arg(LAUNCH_FLAG)
        .arg(std::process::id().to_string())
        .arg(json)
        .arg(program)
        .args(args)
        .env_clear();
    Ok(command)
}

/// Call first thing in `main`. If this process was started by [`command`], confines it and
/// `exec`s the program: it then never returns — on failure it prints the error to stderr and
/// exits with [`LAUNCH_FAILED_EXIT`] (or [`LEVEL_NOT_REACHED_EXIT`]). Otherwise it returns
/// at once and `main` goes on.
///
/// Only the calling thread is confined. `exec` ends every other thread, so the program is
/// confined from its first instruction regardless; calling this first keeps any other code of
/// the host binary from running in between.
pub fn launch_if_requested() {
    let request = match parse(std::env::args_os()) {
        Ok(None) => return,
        Ok(Some(request)) => request,
        Err(error) => exit_with(&error),
    };
    let error = request.run();
    exit_with(&error)
}

/// A launch, as read back from argv.
#[derive(Debug, PartialEq)]
struct LaunchRequest {
    parent_pid: u32,
    policy: Policy,
    program: PathBuf,
    args: Vec<OsString>,
}

/// `Ok(None)` when argv is not a launch at all (no flag in first place).
fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Option<LaunchRequest>> {
    let mut argv = argv.into_iter().skip(1);
    match argv.next() {
        Some(flag) if flag == LAUNCH_FLAG => {}
        _ => return Ok(None),
    }
    let mut next = |what: &str| {
        argv.next()
            .ok_or_else(|| Error::launch_args(format!("{LAUNCH_FLAG} must be followed by {what}")))
    };
    let parent_pid = parse_pid(&next("the parent pid")?)?;
    let policy = parse_policy(&next("the policy")?)?;
    let program = PathBuf::from(next("the program")?);
    check_absolute("program", &program)?;
    Ok(Some(LaunchRequest {
        parent_pid,
        policy,
        program,
        args: argv.collect(),
    }))
}

/// Plain decimal, as `u32::to_string` writes it, and a valid pid: no sign, no leading zero,
/// no spaces, within `1..=i32::MAX`.
fn parse_pid(text: &OsStr) -> Result<u32> {
    let invalid = || Error::launch_args(format!("parent pid {text:?} is not a process id"));
    let text = text.to_str().ok_or_else(invalid)?;
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let pid: u32 = text.parse().map_err(|_| invalid())?;
    if i32::try_from(pid).is_err() {
        return Err(invalid());
    }
    Ok(pid)
}

fn parse_policy(text: &OsStr) -> Result<Policy> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(Error::launch_args(format!(
            "the policy is longer than {MAX_POLICY_BYTES} bytes"
        )));
    }
    let text = text
        .to_str()
        .ok_or_else(|| Error::launch_args("the policy is not UTF-8"))?;
    let policy: Policy = serde_json::from_str(text)
        .map_err(|error| Error::launch_args(format!("the policy is not valid: {error}")))?;
    for (what, paths) in [("read path", &policy.read), ("write path", &policy.write)] {
        for path in paths {
            check_path(what, path)?;
        }
    }
    Ok(policy)
}

impl LaunchRequest {
    /// Confines this process and `exec`s the program; returns only with what went wrong.
    fn run(self) -> Error {
        if let Err(error) = self.policy.validate() {
            return error;
        }
        let reached = match confine::apply(&self.policy, self.parent_pid) {
            Ok(reached) => reached,
            Err(error) => return error,
        };
        if reached.level < self.policy.require {
            return Error::LevelNotReached {
                required: self.policy.require,
                reached: reached.level,
                why: reached.shortfalls.join("; "),
            };
        }
        exec(&self.program, &self.args)
    }
}

#[cfg(unix)]
fn exec(program: &Path, args: &[OsString]) -> Error {
    use std::os::unix::process::CommandExt;

    // The environment, stdio and working directory are the launcher's, which are what the
    // caller set on the command.
    let source = Command::new(program).args(args).exec();
    Error::Exec {
        program: program.to_owned(),
        source,
    }
}

#[cfg(not(unix))]
fn exec(program: &Path, _args: &[OsString]) -> Error {
    Error::Exec {
        program: program.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::Unsupported, "exec needs Unix"),
    }
}

/// Prints `error` with its sources on one line and exits. This runs in place of the host
/// binary's `main`, which must not carry on as if it had been started normally.
fn exit_with(error: &Error) -> ! {
    let mut message = format!("aisec-sandbox launcher: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    // Nothing better to do if stderr is gone; the exit code still tells.
    let _ = writeln!(std::io::stderr(), "{message}");
    let code = match error {
        Error::LevelNotReached { .. } => LEVEL_NOT_REACHED_EXIT,
        _ => LAUNCH_FAILED_EXIT,
    };
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::sample;

    fn argv(parts: &[&str]) -> Vec<OsString> {
        parts.iter().map(OsString::from).collect()
    }

    fn problem(result: Result<Option<LaunchRequest>>) -> String {
        match result {
            Err(Error::LaunchArgs { problem }) => problem,
            other => panic!("expected LaunchArgs, got {other:?}"),
        }
    }

    fn policy_json() -> String {
        serde_json::to_string(&sample()).unwrap()
    }

    #[test]
    fn command_arguments_parse_back_to_the_same_launch() {
        let args = [OsString::from("--flag-for-the-program"), OsString::from("")];
        let command = command(
            Path::new("/usr/bin/aisec"),
            &sample(),
            Path::new("/bin/echo"),
            &args,
        )
        .unwrap();
        assert_eq!(command.get_program(), "/usr/bin/aisec");
        let argv = std::iter::once(command.get_program().to_owned())
            .chain(command.get_args().map(OsStr::to_owned));
        let request = parse(argv).unwrap().expect("a launch");
        assert_eq!(
            request,
            LaunchRequest {
                parent_pid: std::process::id(),
                policy: sample(),
                program: PathBuf::from("/bin/echo"),
                args: args.to_vec(),
            }
        );
    }

    #[test]
    fn command_refuses_a_policy_too_long_for_the_launcher() {
        // 2 000 paths of 1 000 bytes, each the root folder written the long way.
        let root = PathBuf::from(format!("/{}", "./".repeat(500)));
        let policy = Policy {
            read: vec![root; 2_000],
            ..sample()
        };
        let error = command(
            Path::new("/usr/bin/aisec"),
            &policy,
            Path::new("/bin/echo"),
            &[],
        )
        .unwrap_err();
        assert!(
            matches!(error, Error::PolicyTooLarge { n_bytes, max_bytes }
                if n_bytes > max_bytes && max_bytes == MAX_POLICY_BYTES),
            "{error:?}"
        );
    }

    #[test]
    fn command_refuses_a_relative_program() {
        let error = command(
            Path::new("/usr/bin/aisec"),
            &sample(),
            Path::new("echo"),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "program \"echo\" is not an absolute path"
        );
    }

    #[test]
    fn argv_without_the_flag_first_is_not_a_launch() {
        assert_eq!(parse(argv(&["aisec"])).unwrap(), None);
        assert_eq!(parse(argv(&[])).unwrap(), None);
        assert_eq!(parse(argv(&["aisec", "grade", LAUNCH_FLAG])).unwrap(), None);
        assert_eq!(
            parse(argv(&["aisec", "--aisec-sandbox-launch=1"])).unwrap(),
            None
        );
    }

    #[test]
    fn missing_parts_are_named() {
        let json = policy_json();
        assert_eq!(
            problem(parse(argv(&["l", LAUNCH_FLAG]))),
            "--aisec-sandbox-launch must be followed by the parent pid"
        );
        assert_eq!(
            problem(parse(argv(&["l", LAUNCH_FLAG, "42"]))),
            "--aisec-sandbox-launch must be followed by the policy"
        );
        assert_eq!(
            problem(parse(argv(&["l", LAUNCH_FLAG, "42", &json]))),
            "--aisec-sandbox-launch must be followed by the program"
        );
    }

    #[test]
    fn a_pid_must_be_plain_decimal_in_range() {
        let json = policy_json();
        for pid in [
            "",
            "0",
            "042",
            "+42",
            "-1",
            " 42",
            "42 ",
            "4x",
            "2147483648",
            "99999999999",
        ] {
            let message = problem(parse(argv(&["l", LAUNCH_FLAG, pid, &json, "/bin/true"])));
            assert!(
                message.contains("is not a process id"),
                "{pid:?}: {message}"
            );
        }
        let request = parse(argv(&["l", LAUNCH_FLAG, "2147483647", &json, "/bin/true"]));
        assert_eq!(request.unwrap().unwrap().parent_pid, 2_147_483_647);
    }

    #[test]
    fn a_malformed_policy_is_refused_with_the_json_error() {
        for (json, expected) in [
            ("", "EOF while parsing"),
            ("{", "EOF while parsing"),
            ("42", "invalid type: integer"),
            ("{\"read\": []}", "missing field"),
        ] {
            let message = problem(parse(argv(&["l", LAUNCH_FLAG, "42", json, "/bin/true"])));
            assert!(
                message.starts_with("the policy is not valid: "),
                "{message}"
            );
            assert!(message.contains(expected), "{json:?}: {message}");
        }
        let mut value = serde_json::to_value(sample()).unwrap();
        value["require"] = "total".into();
        let json = value.to_string();
        let message = problem(parse(argv(&["l", LAUNCH_FLAG, "42", &json, "/bin/true"])));
        assert!(message.contains("unknown variant `total`"), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn an_oversized_or_non_utf8_policy_is_refused() {
        use std::os::unix::ffi::OsStringExt;
        let huge = "x".repeat(MAX_POLICY_BYTES + 1);
        let message = problem(parse(argv(&["l", LAUNCH_FLAG, "42", &huge, "/bin/true"])));
        assert!(message.contains("longer than"), "{message}");

        let parts = vec![
            OsString::from("l"),
            OsString::from(LAUNCH_FLAG),
            OsString::from("42"),
            OsString::from_vec(b"{\xff}".to_vec()),
            OsString::from("/bin/true"),
        ];
        assert_eq!(problem(parse(parts)), "the policy is not UTF-8");
    }

    #[test]
    fn relative_paths_in_the_policy_or_program_are_refused() {
        let json = policy_json();
        let error = parse(argv(&["l", LAUNCH_FLAG, "42", &json, "true"])).unwrap_err();
        assert!(
            matches!(
                error,
                Error::RelativePath {
                    what: "program",
                    ..
                }
            ),
            "{error:?}"
        );

        let mut policy = sample();
        policy.read.push(PathBuf::from("lib"));
        let json = serde_json::to_string(&policy).unwrap();
        let error = parse(argv(&["l", LAUNCH_FLAG, "42", &json, "/bin/true"])).unwrap_err();
        assert!(
            matches!(
                error,
                Error::RelativePath {
                    what: "read path",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn everything_after_the_program_is_passed_through_verbatim() {
        let json = policy_json();
        let request = parse(argv(&[
            "l",
            LAUNCH_FLAG,
            "42",
            &json,
            "/bin/sh",
            LAUNCH_FLAG,
            "-c",
            "",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(request.args, argv(&[LAUNCH_FLAG, "-c", ""]));
    }
}
