//! 2-D convolution (stride 1, no padding, square kernel) as im2col + matrix product, on slices.
//!
//! Layouts are PyTorch's: input (batch, in_channels, height, width), weight (out_channels,
//! in_channels, k, k), output (batch, out_channels, height - k + 1, width - k + 1), all row-major.
//! Work is split over fixed chunks of images (not over threads), and partial weight gradients are
//! summed in chunk order, so results are bit-identical whatever the thread count.

use rayon::prelude::*;

use super::gemm::{Mat, matmul};

/// Images per parallel task.
const CHUNK: usize = 8;

/// The geometry of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub in_channels: usize,
    pub height: usize,
    pub width: usize,
    pub out_channels: usize,
    pub kernel: usize,
}

impl ConvShape {
    pub fn out_height(&self) -> usize {
        self.height + 1 - self.kernel
    }
    pub fn out_width(&self) -> usize {
        self.width + 1 - self.kernel
    }
    /// Rows of the im2col matrix: one per weight of an output channel.
    fn patch_len(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }
    /// Columns of the im2col matrix: one per output pixel.
    fn out_pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }
    pub fn input_len(&self) -> usize {
        self.in_channels * self.height * self.width
    }
    pub fn output_len(&self) -> usize {
        self.out_channels * self.out_pixels()
    }
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }
}

/// col[(c, ky, kx), (oy, ox)] = image[c, oy + ky, ox + kx] for one image.
fn im2col(image: &[f32], s: &ConvShape, col: &mut [f32]) {
    let (k, ow, oh) = (s.kernel, s.out_width(), s.out_height());
    for c in 0..s.in_channels {
        for ky in 0..k {
            for kx in 0..k {
                let row = &mut col[((c * k + ky) * k + kx) * oh * ow..][..oh * ow];
                for oy in 0..oh {
                    let src = &image[(c * s.height + oy + ky) * s.width + kx..][..ow];
                    row[oy * ow..(oy + 1) * ow].copy_from_slice(src);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column entry back onto the pixel it came from.
fn col2im_add(col: &[f32], s: &ConvShape, image: &mut [f32]) {
    let (k, ow, oh) = (s.kernel, s.out_width(), s.out_height());
    for c in 0..s.in_channels {
        for ky in 0..k {
            for kx in 0..k {
                let row = &col[((c * k + ky) * k + kx) * oh * ow..][..oh * ow];
                for oy in 0..oh {
                    let dst = &mut image[(c * s.height + oy + ky) * s.width + kx..][..ow];
                    for (d, v) in dst.iter_mut().zip(&row[oy * ow..(oy + 1) * ow]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// out = conv(x, weight) + bias.
pub fn forward(x: &[f32], weight: &[f32], bias: &[f32], s: &ConvShape, out: &mut [f32]) {
    let w = Mat::row_major(weight, s.out_channels, s.patch_len());
    out.par_chunks_mut(CHUNK * s.output_len())
        .zip(x.par_chunks(CHUNK * s.input_len()))
        .for_each(|(out_chunk, x_chunk)| {
            let mut col = vec![0.0; s.patch_len() * s.out_pixels()];
            for (out_img, x_img) in out_chunk
                .chunks_mut(s.output_len())
                .zip(x_chunk.chunks(s.input_len()))
            {
                im2col(x_img, s, &mut col);
                for (plane, &b) in out_img.chunks_mut(s.out_pixels()).zip(bias) {
                    plane.fill(b);
                }
                matmul(
                    out_img,
                    w,
                    Mat::row_major(&col, s.patch_len(), s.out_pixels()),
                    true,
                );
            }
        });
}

/// dx = the gradient of the loss with respect to the input, given `grad_out`.
pub fn backward_input(grad_out: &[f32], weight: &[f32], s: &ConvShape, grad_x: &mut [f32]) {
    let wt = Mat::row_major(weight, s.out_channels, s.patch_len()).t();
    grad_x
        .par_chunks_mut(CHUNK * s.input_len())
        .zip(grad_out.par_chunks(CHUNK * s.output_len()))
        .for_each(|(dx_chunk, dout_chunk)| {
            let mut col = vec![0.0; s.patch_len() * s.out_pixels()];
            for (dx_img, dout_img) in dx_chunk
                .chunks_mut(s.input_len())
                .zip(dout_chunk.chunks(s.output_len()))
            {
                matmul(
                    &mut col,
                    wt,
                    Mat::row_major(dout_img, s.out_channels, s.out_pixels()),
                    false,
                );
                dx_img.fill(0.0);
                col2im_add(&col, s, dx_img);
            }
        });
}

/// The gradients of the loss with respect to the weight and the bias, given `grad_out`.
pub fn backward_params(
    x: &[f32],
    grad_out: &[f32],
    s: &ConvShape,
    grad_weight: &mut [f32],
    grad_bias: &mut [f32],
) {
    let partials: Vec<(Vec<f32>, Vec<f32>)> = x
        .par_chunks(CHUNK * s.input_len())
        .zip(grad_out.par_chunks(CHUNK * s.output_len()))
        .map(|(x_chunk, dout_chunk)| {
            let mut col = vec![0.0; s.patch_len() * s.out_pixels()];
            let mut dw = vec![0.0; s.weight_len()];
            let mut db = vec![0.0; s.out_channels];
            for (x_img, dout_img) in x_chunk
                .chunks(s.input_len())
                .zip(dout_chunk.chunks(s.output_len()))
            {
                im2col(x_img, s, &mut col);
                let dout = Mat::row_major(dout_img, s.out_channels, s.out_pixels());
                matmul(
                    &mut dw,
                    dout,
                    Mat::row_major(&col, s.patch_len(), s.out_pixels()).t(),
                    true,
                );
                for (d, plane) in db.iter_mut().zip(dout_img.chunks(s.out_pixels())) {
                    *d += plane.iter().sum::<f32>();
                }
            }
            (dw, db)
        })
        .collect();
    grad_weight.fill(0.0);
    grad_bias.fill(0.0);
    for (dw, db) in partials {
        grad_weight.iter_mut().zip(&dw).for_each(|(g, v)| *g += v);
        grad_bias.iter_mut().zip(&db).for_each(|(g, v)| *g += v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> ConvShape {
        ConvShape {
            batch: 3,
            in_channels: 2,
            height: 6,
            width: 5,
            out_channels: 4,
            kernel: 3,
        }
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32 * 2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    /// Direct definition of the convolution, in f64.
    fn direct(x: &[f32], w: &[f32], b: &[f32], s: &ConvShape) -> Vec<f64> {
        let (oh, ow, k) = (s.out_height(), s.out_width(), s.kernel);
        let mut out = vec![0.0; s.batch * s.output_len()];
        for n in 0..s.batch {
            for o in 0..s.out_channels {
                for y in 0..oh {
                    for xx in 0..ow {
                        let mut acc = f64::from(b[o]);
                        for c in 0..s.in_channels {
                            for ky in 0..k {
                                for kx in 0..k {
                                    acc += f64::from(
                                        x[((n * s.in_channels + c) * s.height + y + ky) * s.width
                                            + xx
                                            + kx],
                                    ) * f64::from(
                                        w[((o * s.in_channels + c) * k + ky) * k + kx],
                                    );
                                }
                            }
                        }
                        out[((n * s.out_channels + o) * oh + y) * ow + xx] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_definition() {
        let s = shape();
        let (x, w, b) = (
            values(s.batch * s.input_len(), 1),
            values(s.weight_len(), 2),
            values(s.out_channels, 3),
        );
        let mut out = vec![0.0; s.batch * s.output_len()];
        forward(&x, &w, &b, &s, &mut out);
        for (got, want) in out.iter().zip(direct(&x, &w, &b, &s)) {
            assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    /// The loss L = sum(out * g) is linear in x and w, so its gradients are exact adjoints:
    /// <dx, v> must equal L(x + v) - L(x) for any v (likewise for w and b).
    #[test]
    fn backward_passes_are_the_adjoints_of_forward() {
        let s = shape();
        let (x, w, b) = (
            values(s.batch * s.input_len(), 1),
            values(s.weight_len(), 2),
            values(s.out_channels, 3),
        );
        let g = values(s.batch * s.output_len(), 4);
        let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
            direct(x, w, b, &s)
                .iter()
                .zip(&g)
                .map(|(o, g)| o * f64::from(*g))
                .sum()
        };
        let mut dx = vec![0.0; x.len()];
        backward_input(&g, &w, &s, &mut dx);
        let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; b.len()]);
        backward_params(&x, &g, &s, &mut dw, &mut db);

        let dot = |a: &[f32], v: &[f32]| -> f64 {
            a.iter()
                .zip(v)
                .map(|(a, v)| f64::from(*a) * f64::from(*v))
                .sum()
        };
        let vx = values(x.len(), 5);
        let x2: Vec<f32> = x.iter().zip(&vx).map(|(a, v)| a + v).collect();
        assert!((dot(&dx, &vx) - (loss(&x2, &w, &b) - loss(&x, &w, &b))).abs() < 1e-3);
        let vw = values(w.len(), 6);
        let w2: Vec<f32> = w.iter().zip(&vw).map(|(a, v)| a + v).collect();
        assert!((dot(&dw, &vw) - (loss(&x, &w2, &b) - loss(&x, &w, &b))).abs() < 1e-3);
        let vb = values(b.len(), 7);
        let b2: Vec<f32> = b.iter().zip(&vb).map(|(a, v)| a + v).collect();
        assert!((dot(&db, &vb) - (loss(&x, &w, &b2) - loss(&x, &w, &b))).abs() < 1e-3);
    }
}
