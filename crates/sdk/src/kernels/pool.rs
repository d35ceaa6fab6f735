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
    fn nan_propagates_like_pytorch() {
        let x = [1.0, f32::NAN, 2.0, 0.0];
        let mut out = [0.0];
        forward(&x, 2, 2, &mut out);
        assert!(out[0].is_nan());
    }
}
