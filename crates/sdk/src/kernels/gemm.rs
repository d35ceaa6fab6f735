//! A bounds-checked, safe front to the `gemm` crate's f32 matrix product.
//!
//! `gemm::gemm` takes raw pointers and strides. This module is the SDK's only `unsafe` code: it
//! checks that every element the product will touch lies inside the given slices before calling
//! it, so callers work with slices and cannot cause out-of-bounds access.
#![allow(unsafe_code)]

/// A read-only matrix view over a slice: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of this view (no copy).
    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = beta_dst * dst + a @ b`, with `dst` row-major `a.rows × b.cols`.
///
/// With `accumulate` false, `dst` is overwritten (its old contents are never read).
///
/// # Panics
/// If the shapes do not chain or a view does not fit its slice: both are programming errors in
/// the SDK's kernels, never a consequence of user input (shapes are validated before this).
pub fn matmul(dst: &mut [f32], a: Mat<'_>, b: Mat<'_>, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "matmul: inner dimensions differ");
    assert!(
        a.fits() && b.fits(),
        "matmul: operand view exceeds its slice"
    );
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert!(dst.len() >= m * n, "matmul: destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: every index gemm reads is (r * row_stride + c * col_stride) with r < rows and
    // c < cols for its operand, which `fits` checked lies inside the slice; every index it
    // writes is r * n + c < m * n <= dst.len(). The slices are distinct borrows (dst is &mut),
    // so the destination cannot alias an operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: Mat<'_>, b: Mat<'_>) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for r in 0..a.rows {
            for c in 0..b.cols {
                out[r * b.cols + c] = (0..a.cols)
                    .map(|k| {
                        a.data[r * a.row_stride + k * a.col_stride]
                            * b.data[k * b.row_stride + c * b.col_stride]
                    })
                    .sum();
            }
        }
        out
    }

    #[test]
    fn matches_a_naive_product_with_transposes_and_accumulation() {
        let a: Vec<f32> = (0..12).map(|v| v as f32 * 0.5 - 2.0).collect(); // 3x4
        let b: Vec<f32> = (0..20).map(|v| (v % 7) as f32 - 3.0).collect(); // 4x5
        let (a, b) = (Mat::row_major(&a, 3, 4), Mat::row_major(&b, 4, 5));
        let mut dst = vec![f32::NAN; 15];
        matmul(&mut dst, a, b, false);
        assert_eq!(dst, naive(a, b));
        matmul(&mut dst, a, b, true);
        assert_eq!(dst, naive(a, b).iter().map(|v| 2.0 * v).collect::<Vec<_>>());
        let bt: Vec<f32> = (0..20).map(|v| v as f32).collect(); // stored 5x4, used as 4x5
        let bt = Mat::row_major(&bt, 5, 4).t();
        let mut dst = vec![0.0; 15];
        matmul(&mut dst, a, bt, false);
        assert_eq!(dst, naive(a, bt));
    }

    #[test]
    #[should_panic(expected = "exceeds its slice")]
    fn refuses_a_view_larger_than_its_slice() {
        let a = vec![0.0; 5];
        let b = vec![0.0; 6];
        matmul(
            &mut [0.0; 6],
            Mat::row_major(&a, 2, 3),
            Mat::row_major(&b, 3, 2),
            false,
        );
    }
}
