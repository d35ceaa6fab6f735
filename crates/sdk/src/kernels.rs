//! Hand-written CPU kernels behind the CNN's custom candle ops: plain functions on f32 slices.

pub mod conv;
pub mod gemm;
pub mod pool;

/// Runs `f` on one of rayon's worker threads and returns its result.
///
/// A parallel loop started from outside rayon's pool hands its work to the workers and puts the
/// caller to sleep until they finish, two thread wake-ups per loop; a training step or a
/// gradient pass runs a dozen such loops. Started from a worker, each loop begins at once on
/// that worker while the others steal from it.
pub(crate) fn on_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}
