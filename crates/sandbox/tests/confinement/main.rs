//! End-to-end confinement on the running kernel. This binary is its own launcher (its `main`
//! calls `launch_if_requested` first) and its own confined program (`confinement probe
//! <action>`, see `probe.rs`): every case starts a confined probe and checks what it could do,
//! and — where it is safe to — that the same action succeeds unconfined, so each case can fail.
//!
//! `cargo test -p aisec-sandbox --test confinement [-- <name filter>...]`. The level this
//! machine must reach is `full` unless `AISEC_SANDBOX_EXPECT_LEVEL` says otherwise.

#[cfg(target_os = "linux")]
mod cases;
#[cfg(target_os = "linux")]
mod probe;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    // First, before anything could start a thread: a launch never comes back from here.
    aisec_sandbox::launch_if_requested();
    cases::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("confinement: Landlock and seccomp are Linux-only, nothing to test here");
}
