//! ReLU followed by 2×2 max-pooling (stride 2), fused, with PyTorch's gradient routing.
//!
//! `max_pool2d(relu(x), 2)` in PyTorch sends each window's gradient to exactly one element: the
//! first maximum in row-major order, and only if that maximum is positive (ReLU's gradient at 0
//! is 0). candle 0.11's own max-pool backward instead scales a unique maximum's gradient by 0.25
//! and copies it to every tied value; this kernel reproduces PyTorch.
//!
//! Layout: input (planes, height, width) with even height and width, where planes = batch ×
//! channels; output (planes, height / 2, width / 2).

use rayon::prelude::*;

/// Planes per parallel task.
const CHUNK: usize = 64;

/// Index within the window (0..4, row-major) of the first maximum, PyTorch's way: a later value
/// wins only if strictly greater, or NaN.
#[inline]
fn first_max(values: [f32; 4]) -> (usize, f32) {
    let mut best = (0, values[0]);
    for (i, &v) in values.iter().enumerate().skip(1) {
        if v > best.1 || v.is_nan() {
            best = (i, v);
            if v.is_nan() {
                break;
            }
        }
    }
    best
}

#[inline]
fn window(plane: &[f32], width: usize, oy: usize, ox: usize) -> [f32; 4] {
    let top = 2 * oy * width + 2 * ox;
    [
        plane[top],
        plane[top + 1],
        plane[top + width],
        plane[top + width + 1],
    ]
}

/// relu(x) with NaN kept, as PyTorch does.
#[inline]
pub fn relu(v: f32) -> f32 {
    if v > 0.0 || v.is_nan() { v } else { 0.0 }
}

/// out = max_pool2x2(relu(x)).
pub fn forward(x: &[f32], height: usize, width: usize, out: &mut [f32]) {
    let (oh, ow) = (height / 2, width / 2);
    out.par_chunks_mut(CHUNK * oh * ow)
        .zip(x.par_chunks(CHUNK * height * width))
        .for_each(|(out, x)| {
            for (out, plane) in out.chunks_mut(oh * ow).zip(x.chunks(height * width)) {
                for oy in 0..oh {
                    for ox in 0..ow {
                        out[oy * ow + ox] = relu(first_max(window(plane, width, oy, ox)).1);
                    }
                }
            }
        });
}

/// grad_x for out = max_pool2x2(relu(x)), given grad_out.
pub fn backward(x: &[f32], grad_out: &[f32], height: usize, width: usize, grad_x: &mut [f32]) {
    let (oh, ow) = (height / 2, width / 2);
    grad_x
        .par_chunks_mut(CHUNK * height * width)
        .zip(x.par_chunks(CHUNK * height * width))
        .zip(grad_out.par_chunks(CHUNK * oh * ow))
        .for_each(|((grad_x, x), grad_out)| {
            grad_x.fill(0.0);
            for ((dx, plane), dout) in grad_x
                .chunks_mut(height * width)
                .zip(x.chunks(height * width))
                .zip(grad_out.chunks(oh * ow))
            {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let (at, max) = first_max(window(plane, width, oy, ox));
                        if max > 0.0 {
                            dx[(2 * oy + at / 2) * width + 2 * ox + at % 2] = dout[oy * ow + ox];
                        }
                    }
                }
            }
        });
}

/// The window position [`forward_recording`] stores when no gradient flows back through a
/// window (its maximum is not positive, or is NaN).
pub const NO_GRADIENT: u8 = 4;

/// out = max_pool2x2(relu(x)), and for each output the position (0..4, row-major) within its
/// window of the element its gradient goes to, or [`NO_GRADIENT`].
pub fn forward_recording(x: &[f32], height: usize, width: usize, out: &mut [f32], at: &mut [u8]) {
    let (oh, ow) = (height / 2, width / 2);
    out.par_chunks_mut(CHUNK * oh * ow)
        .zip(at.par_chunks_mut(CHUNK * oh * ow))
        .zip(x.par_chunks(CHUNK * height * width))
        .for_each(|((out, at), x)| {
            for ((out, at), plane) in out
                .chunks_mut(oh * ow)
                .zip(at.chunks_mut(oh * ow))
                .zip(x.chunks(height * width))
            {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let (i, max) = first_max(window(plane, width, oy, ox));
                        out[oy * ow + ox] = relu(max);
                        at[oy * ow + ox] = if max > 0.0 { i as u8 } else { NO_GRADIENT };
                    }
                }
            }
        });
}

/// grad_x for out = max_pool2x2(relu(x)), given grad_out and the positions
/// [`forward_recording`] stored.
pub fn backward_recorded(
    at: &[u8],
    grad_out: &[f32],
    height: usize,
    width: usize,
    grad_x: &mut [f32],
) {
    let (oh, ow) = (height / 2, width / 2);
    grad_x
        .par_chunks_mut(CHUNK * height * width)
        .zip(at.par_chunks(CHUNK * oh * ow))
        .zip(grad_out.par_chunks(CHUNK * oh * ow))
        .for_each(|((grad_x, at), grad_out)| {
            grad_x.fill(0.0);
            for ((dx, at), dout) in grad_x
                .chunks_mut(height * width)
                .zip(at.chunks(oh * ow))
                .zip(grad_out.chunks(oh * ow))
            {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let i = usize::from(at[oy * ow + ox]);
                        if i < usize::from(NO_GRADIENT) {
                            dx[(2 * oy + i / 2) * width + 2 * ox + i % 2] = dout[oy * ow + ox];
                        }
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_the_gradient_to_one_first_maximum_and_not_through_non_positive_windows() {
        #[rustfmt::skip]
        let x = [
            1.0, 3.0,   2.0, 2.0,
            3.0, 0.5,   2.0, 1.0,
            -1.0, -2.0, 0.0, 0.0,
            -0.5, -3.0, 0.0, 0.0,
        ];
        let mut out = [0.0; 4];
        forward(&x, 4, 4, &mut out);
        assert_eq!(out, [3.0, 2.0, 0.0, 0.0]);
        let mut dx = [9.0; 16];
        backward(&x, &[10.0, 20.0, 30.0, 40.0], 4, 4, &mut dx);
        #[rustfmt::skip]
        let want = [
            0.0, 10.0, 20.0, 0.0,
            0.0, 0.0,  0.0,  0.0,
            0.0, 0.0,  0.0,  0.0,
            0.0, 0.0,  0.0,  0.0,
        ];
        assert_eq!(dx, want);
    }

    #[test]
    fn recorded_positions_give_the_same_values_and_gradients() {
        let x: Vec<f32> = (0..2 * 4 * 6)
            .map(|i| [1.0, -2.0, 3.0, 3.0, 0.0, f32::NAN, -1.0, 2.5][(i * 7) % 8])
            .collect();
        let (mut out, mut out_rec) = (vec![0.0; 12], vec![0.0; 12]);
        let mut at = vec![0; 12];
        forward(&x, 4, 6, &mut out);
        forward_recording(&x, 4, 6, &mut out_rec, &mut at);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out), bits(&out_rec));
        let g: Vec<f32> = (1..=12).map(|v| v as f32).collect();
        let (mut dx, mut dx_rec) = (vec![7.0; x.len()], vec![7.0; x.len()]);
        backward(&x, &g, 4, 6, &mut dx);
        backward_recorded(&at, &g, 4, 6, &mut dx_rec);
        assert_eq!(dx, dx_rec);
        assert!(at.contains(&NO_GRADIENT) && dx.iter().any(|&v| v != 0.0));
    }

    #[test]
    fn nan_propagates_like_pytorch() {
        let x = [1.0, f32::NAN, 2.0, 0.0];
        let mut out = [0.0];
        forward(&x, 2, 2, &mut out);
        assert!(out[0].is_nan());
    }
}
