//! Hand-written CPU kernels behind the CNN's custom candle ops: plain functions on f32 slices.

pub mod conv;
pub mod gemm;
pub mod pool;
