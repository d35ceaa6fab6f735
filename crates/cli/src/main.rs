//! The `aisec` binary: parses the command line and dispatches to the lab crates.
//!
//! Exit codes: 0 success, 1 a check or verification failed, 2 bad usage or bad input.

mod cli;
mod commands;
mod style;

use std::process::ExitCode;

use clap::Parser;

/// See `aisec_lab::runtime` for why.
#[global_allocator]
static ALLOCATOR: aisec_lab::runtime::Allocator = aisec_lab::runtime::Allocator;

/// How a command ended, when it did not fail with an error.
pub enum Outcome {
    /// Everything passed.
    Success,
    /// The command ran, and what it checked failed (exit code 1).
    Failed,
}

fn main() -> ExitCode {
    // When started as the sandbox's launcher (to confine an exercise's runner or build), this
    // confines the process and executes the program; it returns only otherwise.
    aisec_sandbox::launch_if_requested();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage_error = e.use_stderr();
            let _ = e.print();
            return if usage_error {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // SAFETY: nothing has started a thread yet (argument parsing does not).
    #[allow(unsafe_code)]
    unsafe {
        aisec_lab::runtime::configure_threads(cli.threads);
    }
    match commands::run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            style::error(&format!("{e:#}"));
            ExitCode::from(2)
        }
    }
}
