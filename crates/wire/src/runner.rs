//! The runner's side: the loop that reads calls from the checker, runs the candidate's
//! function, and answers. The runner is the untrusted process; nothing here is relied on for
//! the grade — the checker validates every reply.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Mutex;

use crate::{Call, Reply, frame};

/// What the generated adapter's `dispatch` returns for a call it could serve.
pub struct Returned {
    /// The encoded return value.
    pub value: Vec<u8>,
    /// The final state of each parameter, in order (`Some` for `&mut` parameters).
    pub updates: Vec<Option<Vec<u8>>>,
}

/// The generated adapter's dispatch: a function name and its encoded arguments to a result.
pub type Dispatch = fn(&str, Vec<Vec<u8>>) -> Result<Returned, String>;

/// The largest call the runner accepts (the checker sends data sets of some tens of MB).
const MAX_CALL_BYTES: u64 = 1 << 30;

/// The message `todo!()` panics with: reaching one means "not started".
const TODO_MESSAGE: &str = "not yet implemented";

/// The last panic's message, recorded by the hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// The runner's `main`: serves calls on stdin, answering on the original stdout, until the
/// checker closes stdin. The candidate's own prints to stdout go to stderr instead, so they can
/// never corrupt a reply (the checker reads stderr as captured output).
pub fn serve(dispatch: Dispatch) -> ExitCode {
    match serve_calls(dispatch) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("runner: {e}");
            ExitCode::from(3)
        }
    }
}

fn serve_calls(dispatch: Dispatch) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    let replies = std::io::stdout().as_fd().try_clone_to_owned()?;
    rustix::stdio::dup2_stdout(std::io::stderr())?;
    let mut replies = std::fs::File::from(replies);
    let mut calls = std::io::stdin().lock();
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-text payload".to_owned());
        let text = match info.location() {
            Some(at) => format!("{message} (at {}:{})", at.file(), at.line()),
            None => message,
        };
        if !text.starts_with(TODO_MESSAGE) {
            eprintln!("panicked: {text}");
        }
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(text);
        }
    }));
    while let Some(call) = read_call(&mut calls)? {
        let Call { function, args } = call;
        let ran = std::panic::catch_unwind(|| dispatch(&function, args));
        let reply = match ran {
            Ok(Ok(returned)) => {
                write_reply(
                    &mut replies,
                    &Reply::Returned {
                        updates: returned.updates,
                    },
                    Some(&returned.value),
                )?;
                continue;
            }
            Ok(Err(message)) => Reply::Refused { message },
            Err(_) => {
                let message = LAST_PANIC
                    .lock()
                    .ok()
                    .and_then(|mut p| p.take())
                    .unwrap_or_else(|| "an unknown panic".into());
                Reply::Panicked {
                    not_started: message.starts_with(TODO_MESSAGE),
                    message,
                }
            }
        };
        write_reply(&mut replies, &reply, None)?;
    }
    Ok(())
}

fn read_call(input: &mut impl Read) -> std::io::Result<Option<Call>> {
    let Some(header) = frame::read(input, 1 << 20)? else {
        return Ok(None);
    };
    let (function, n_args): (String, u32) = postcard::from_bytes(&header)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let mut args = Vec::with_capacity(n_args.min(64) as usize);
    for _ in 0..n_args {
        let arg = frame::read(input, MAX_CALL_BYTES)?.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "a call ended early")
        })?;
        args.push(arg);
    }
    Ok(Some(Call { function, args }))
}

fn write_reply(out: &mut impl Write, reply: &Reply, value: Option<&[u8]>) -> std::io::Result<()> {
    let header = postcard::to_stdvec(reply)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    frame::write(out, &header)?;
    if let Some(value) = value {
        frame::write(out, value)?;
    }
    out.flush()
}
