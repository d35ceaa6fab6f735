//! The CNN's outputs and input gradients against PyTorch autograd, and against finite differences.
//!
//! Reference values come from `fixtures/torch_reference.py` (PyTorch 2.15), which wrote
//! `fixtures/torch_reference.safetensors` from the weights in `fixtures/cnn.safetensors`:
//!
//! ```python
//! def forward(sd, x):
//!     x = F.max_pool2d(F.relu(F.conv2d(x, sd["conv1.weight"], sd["conv1.bias"])), 2)
//!     x = F.max_pool2d(F.relu(F.conv2d(x, sd["conv2.weight"], sd["conv2.bias"])), 2)
//!     penultimate = F.relu(F.linear(x.flatten(1), sd["fc1.weight"], sd["fc1.bias"]))
//!     return penultimate, F.linear(penultimate, sd["fc2.weight"], sd["fc2.bias"])
//!
//! for case, sd in [("trained", weights), ("zero_bias", zero_bias)]:
//!     xg = x.clone().requires_grad_(True)
//!     penultimate, logits = forward(sd, xg)
//!     (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xg)
//! ```
//!
//! `x` is 8 test digits plus an all-black and an all-white image; `zero_bias` sets some biases
//! to exactly 0 so ReLU sees exact zeros and max-pool windows hold exact ties. Those are the two
//! places where candle 0.11's stock layers disagree with PyTorch (a regression pin for both).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aisec_sdk::{Cnn, Device, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture("torch_reference.safetensors"), &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Loads the fixture weights, with the biases of `case` (PyTorch's copy of them).
fn model(case: &str, reference: &HashMap<String, Tensor>) -> Cnn {
    let mut tensors =
        candle_core::safetensors::load(fixture("cnn.safetensors"), &Device::Cpu).unwrap();
    for bias in ["conv1.bias", "conv2.bias", "fc1.bias"] {
        tensors.insert(
            bias.to_owned(),
            reference[&format!("{case}.{bias}")].clone(),
        );
    }
    Cnn::from_tensors(tensors, Path::new("fixture")).unwrap()
}

fn labels(reference: &HashMap<String, Tensor>) -> Vec<u32> {
    reference["y"]
        .to_dtype(candle_core::DType::I64)
        .unwrap()
        .to_vec1::<i64>()
        .unwrap()
        .iter()
        .map(|&v| v as u32)
        .collect()
}

/// Every element within 1e-4 relative error, with an absolute floor of 1e-6 of the largest
/// magnitude (elements near zero come from cancelling sums whose rounding differs by backend).
fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tolerance = 1e-4 * w.abs() + 1e-6 * scale;
        assert!(
            (g - w).abs() <= tolerance,
            "{what}[{i}]: got {g}, PyTorch {w} (tolerance {tolerance})"
        );
    }
}

#[test]
fn logits_and_penultimate_match_pytorch() {
    let reference = reference();
    for case in ["trained", "zero_bias"] {
        let cnn = model(case, &reference);
        let (penultimate, logits) = cnn.forward_with_penultimate(&reference["x"]).unwrap();
        assert_close(
            &format!("{case} logits"),
            &values(&logits),
            &values(&reference[&format!("{case}.logits")]),
        );
        assert_close(
            &format!("{case} penultimate"),
            &values(&penultimate),
            &values(&reference[&format!("{case}.penultimate")]),
        );
    }
}

#[test]
fn input_gradient_matches_pytorch_and_every_sign_agrees() {
    let reference = reference();
    for case in ["trained", "zero_bias"] {
        let cnn = model(case, &reference);
        let grad = values(
            &cnn.input_gradient(&reference["x"], &labels(&reference))
                .unwrap(),
        );
        let want = values(&reference[&format!("{case}.grad")]);
        assert_close(&format!("{case} input gradient"), &grad, &want);
        let zeros = want.iter().filter(|v| **v == 0.0).count();
        assert!(
            zeros > 500,
            "{case}: the fixture should hold many exact zeros, has {zeros}"
        );
        let disagree = grad
            .iter()
            .zip(&want)
            .filter(|(g, w)| {
                g.signum() * (**g != 0.0) as i32 as f32 != w.signum() * (**w != 0.0) as i32 as f32
            })
            .count();
        assert_eq!(
            disagree, 0,
            "{case}: FGSM would flip {disagree} pixels differently from PyTorch"
        );
    }
}

/// Central differences of the summed loss, pixel by pixel, on pixels with clear gradients.
///
/// Only pixels strictly between black and white are probed: next to a blank pixel, conv outputs
/// over blank patches tie exactly inside a max-pool window, the loss has a kink there, and a
/// central difference averages the two one-sided slopes instead of measuring the gradient.
#[test]
fn input_gradient_matches_central_finite_differences() {
    let reference = reference();
    let cnn = model("trained", &reference);
    let x = reference["x"].narrow(0, 0, 4).unwrap();
    let y = &labels(&reference)[..4];
    let (_, grad) = cnn.loss_and_input_gradient(&x, y).unwrap();
    let grad = values(&grad);
    let base = values(&x);
    let loss_at = |pixels: &[f32]| -> f64 {
        let t = Tensor::from_vec(pixels.to_vec(), x.dims(), &Device::Cpu).unwrap();
        f64::from(cnn.loss_and_input_gradient(&t, y).unwrap().0)
    };
    let mut order: Vec<usize> = (0..grad.len()).collect();
    order.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()));
    // f32 logits carry ~1e-6 of rounding noise, so h must be large enough to rise above it;
    // the network is piecewise linear and the loss smooth in the logits, so 1e-3 is accurate.
    let h = 1e-3f32;
    let mut checked = 0;
    let interior = order.iter().filter(|&&p| base[p] > 0.05 && base[p] < 0.95);
    for &pixel in interior.step_by(7).take(12) {
        let (mut plus, mut minus) = (base.clone(), base.clone());
        plus[pixel] += h;
        minus[pixel] -= h;
        let numeric = (loss_at(&plus) - loss_at(&minus)) / (2.0 * f64::from(h));
        let analytic = f64::from(grad[pixel]);
        assert!(
            (numeric - analytic).abs() <= 1e-2 * analytic.abs() + 1e-3,
            "pixel {pixel}: finite difference {numeric}, gradient {analytic}"
        );
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
fn gradient_of_an_image_does_not_depend_on_the_rest_of_the_batch() {
    let reference = reference();
    let cnn = model("trained", &reference);
    let y = labels(&reference);
    let all = values(&cnn.input_gradient(&reference["x"], &y).unwrap());
    let third = values(
        &cnn.input_gradient(&reference["x"].narrow(0, 2, 1).unwrap(), &y[2..3])
            .unwrap(),
    );
    // Equal up to float rounding: batch size changes the blocking of the matrix products.
    assert_close("image 2 alone", &third, &all[2 * 784..3 * 784]);
}
