//! Process-wide set-up for the lab's programs (the `aisec` binary and exercise harnesses): the
//! memory allocator and the numeric worker threads.
//!
//! The allocator: candle's backward passes allocate many short-lived full-size temporaries,
//! which mimalloc serves several times faster than the system allocator (input gradients ran
//! ~1.6× faster with it). Each program names it as its `#[global_allocator]`.
//!
//! The CNN's kernels run on rayon's global pool. candle 0.11 adds a pool of its own for large
//! element-wise ops (64 Ki elements and up), whose idle workers spin for 25,000 pauses after
//! every op before they sleep; on two cores that spinning thread takes a third of the CPU from
//! the kernels (training ran ~1.4× faster without it, measured with `aisec bench`). candle also
//! asks for the thread count on every matrix product, and without `RAYON_NUM_THREADS` set it
//! answers by parsing `/proc/cpuinfo` each time.
//!
//! Both are read from the environment only, once, when candle first needs them, so the only
//! way to set them is the environment, before any thread starts. Child processes (exercise
//! harnesses) inherit the settings, which is what they need too.

#![allow(unsafe_code)]

/// The global allocator every lab program declares.
pub use mimalloc::MiMalloc as Allocator;

/// candle's own pool: off, so candle's element-wise ops run on the calling thread and only the
/// kernels' rayon pool does parallel work.
const CANDLE_THREADS: &str = "CANDLE_NUM_THREADS";
/// The thread count rayon's global pool and candle's matrix products use.
const RAYON_THREADS: &str = "RAYON_NUM_THREADS";

/// Sets the worker-thread environment for this process and its children: `threads` workers
/// (`--threads`) if given, else `RAYON_NUM_THREADS` if set, else one per core; and no candle
/// pool, unless `CANDLE_NUM_THREADS` is already set (a user's setting is kept).
///
/// # Safety
/// No other thread may be running: changing the environment while another thread reads it is
/// undefined behaviour. Call it first thing in `main`.
pub unsafe fn configure_threads(threads: Option<usize>) {
    let threads = threads
        .or_else(|| {
            std::env::var(RAYON_THREADS)
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        });
    // SAFETY: the caller guarantees this process has a single thread.
    unsafe {
        std::env::set_var(RAYON_THREADS, threads.to_string());
        if std::env::var_os(CANDLE_THREADS).is_none() {
            std::env::set_var(CANDLE_THREADS, "1");
        }
    }
}
