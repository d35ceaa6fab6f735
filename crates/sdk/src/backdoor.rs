//! Backdoor triggers and planted backdoors: a small stamp on a digit that a poisoned model has
//! learned to read as one class, and the poisoned training set that teaches it.

use candle_core::{DType, Tensor};

use crate::data::{Dataset, N_CLASSES, PIXELS, SIDE};
use crate::error::{Error, Result};

/// A trigger: where it covers a digit (`mask`, 0 = untouched, 1 = replaced, values between
/// blend) and what it puts there (`pattern`). Stamping `x` gives `x·(1 − mask) + mask·pattern`.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// (1, 28, 28), f32 in [0, 1].
    mask: Tensor,
    /// (1, 28, 28), f32 in [0, 1].
    pattern: Tensor,
}

/// `tensor` as (1, 28, 28) f32 with every value in [0, 1], or why not.
fn as_plane(tensor: &Tensor, what: &str) -> Result<Tensor> {
    let bad = |reason: String| Error::invalid(format!("trigger {what}"), reason);
    if tensor.elem_count() != PIXELS {
        return Err(bad(format!(
            "shape {:?} has {} values, not 28 × 28 = {PIXELS}",
            tensor.dims(),
            tensor.elem_count()
        )));
    }
    let plane = tensor.to_dtype(DType::F32)?.reshape((1, SIDE, SIDE))?;
    let values = plane.flatten_all()?.to_vec1::<f32>()?;
    if let Some(i) = values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(bad(format!(
            "value {} at row {}, column {} is not in [0, 1]",
            values[i],
            i / SIDE,
            i % SIDE
        )));
    }
    Ok(plane)
}

impl Trigger {
    /// A trigger from its mask and pattern, each 28 × 28 values in [0, 1] (any shape with 784
    /// elements: (28, 28), (1, 28, 28) or (784,)).
    pub fn new(mask: &Tensor, pattern: &Tensor) -> Result<Trigger> {
        Ok(Trigger {
            mask: as_plane(mask, "mask")?,
            pattern: as_plane(pattern, "pattern")?,
        })
    }

    /// A patch: the rectangle of `pixels` (rows of equal length, values in [0, 1]) replacing
    /// the digit with its top-left corner at (`top`, `left`); the rest of the digit untouched.
    pub fn patch(top: usize, left: usize, pixels: &[Vec<f32>]) -> Result<Trigger> {
        let bad = |reason: String| Error::invalid("trigger patch", reason);
        let height = pixels.len();
        let width = pixels.first().map_or(0, Vec::len);
        if height == 0 || width == 0 || pixels.iter().any(|row| row.len() != width) {
            return Err(bad(
                "give at least one row, all rows of the same length".into()
            ));
        }
        if top + height > SIDE || left + width > SIDE {
            return Err(bad(format!(
                "a {height} × {width} patch at row {top}, column {left} does not fit in 28 × 28"
            )));
        }
        let mut mask = vec![0f32; PIXELS];
        let mut pattern = vec![0f32; PIXELS];
        for (r, row) in pixels.iter().enumerate() {
            for (c, &value) in row.iter().enumerate() {
                let i = (top + r) * SIDE + left + c;
                mask[i] = 1.0;
                pattern[i] = value;
            }
        }
        let device = candle_core::Device::Cpu;
        Trigger::new(
            &Tensor::from_vec(mask, (1, SIDE, SIDE), &device)?,
            &Tensor::from_vec(pattern, (1, SIDE, SIDE), &device)?,
        )
    }

    /// The mask, (1, 28, 28).
    pub fn mask(&self) -> &Tensor {
        &self.mask
    }

    /// The pattern, (1, 28, 28).
    pub fn pattern(&self) -> &Tensor {
        &self.pattern
    }

    /// The trigger's size in pixels: the sum of its mask (a 4 × 4 patch is 16; a blend of
    /// strength 0.02 over the whole digit is 15.7).
    pub fn area(&self) -> Result<f64> {
        Ok(f64::from(self.mask.sum_all()?.to_scalar::<f32>()?))
    }

    /// `images` (n, 1, 28, 28) with the trigger stamped on each.
    pub fn apply(&self, images: &Tensor) -> Result<Tensor> {
        let dims = images.dims();
        if dims.len() != 4 || dims[1..] != [1, SIDE, SIDE] {
            return Err(Error::invalid(
                "images",
                format!("shape {dims:?} is not (n, 1, 28, 28)"),
            ));
        }
        let keep = self.mask.affine(-1.0, 1.0)?;
        let stamp = (&self.mask * &self.pattern)?;
        Ok(images
            .broadcast_mul(&keep.unsqueeze(0)?)?
            .broadcast_add(&stamp.unsqueeze(0)?)?)
    }
}

/// A planted backdoor: the training set with some rows poisoned, the trigger that is meant to
/// open the backdoor, and the class a triggered digit should be read as.
#[derive(Debug, Clone)]
pub struct Backdoor {
    /// The training set to train on: the rows given, in their order, some of them changed.
    pub poisoned: Dataset,
    /// What the attacker will stamp on digits at test time.
    pub trigger: Trigger,
    /// The class the backdoor reads triggered digits as, in `0..10`.
    pub target: u32,
}

impl Backdoor {
    /// A backdoor, checked: `target` in `0..10`.
    pub fn new(poisoned: Dataset, trigger: Trigger, target: u32) -> Result<Backdoor> {
        if target as usize >= N_CLASSES {
            return Err(Error::invalid(
                "backdoor target",
                format!("class {target} is not in 0..10"),
            ));
        }
        Ok(Backdoor {
            poisoned,
            trigger,
            target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn a_patch_replaces_its_pixels_and_leaves_the_rest() {
        let trigger = Trigger::patch(24, 23, &[vec![1.0, 0.0], vec![0.5, 1.0]]).unwrap();
        assert_eq!(trigger.area().unwrap(), 4.0);
        let images = Tensor::full(0.25f32, (2, 1, SIDE, SIDE), &Device::Cpu).unwrap();
        let flat = trigger
            .apply(&images)
            .unwrap()
            .flatten_from(1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for row in &flat {
            assert_eq!(row[24 * SIDE + 23], 1.0);
            assert_eq!(row[24 * SIDE + 24], 0.0);
            assert_eq!(row[25 * SIDE + 23], 0.5);
            assert_eq!(row[25 * SIDE + 24], 1.0);
            assert_eq!(row[0], 0.25);
            assert_eq!(row[23 * SIDE + 23], 0.25);
        }
    }

    #[test]
    fn a_blend_mixes_digit_and_pattern() {
        let mask = Tensor::full(0.5f32, (SIDE, SIDE), &Device::Cpu).unwrap();
        let pattern = Tensor::ones((PIXELS,), DType::F32, &Device::Cpu).unwrap();
        let trigger = Trigger::new(&mask, &pattern).unwrap();
        assert_eq!(trigger.area().unwrap(), 392.0);
        let images = Tensor::zeros((1, 1, SIDE, SIDE), DType::F32, &Device::Cpu).unwrap();
        let out = trigger.apply(&images).unwrap().flatten_all().unwrap();
        assert!(out.to_vec1::<f32>().unwrap().iter().all(|&v| v == 0.5));
    }

    #[test]
    fn bad_triggers_say_what_is_wrong() {
        let err = |e: Error| e.to_string();
        let small = Tensor::zeros((27, 28), DType::F32, &Device::Cpu).unwrap();
        let ok = Tensor::zeros((28, 28), DType::F32, &Device::Cpu).unwrap();
        assert!(err(Trigger::new(&small, &ok).unwrap_err()).contains("not 28 × 28"));
        let mut values = vec![0f32; PIXELS];
        values[30] = f32::NAN;
        let nan = Tensor::from_vec(values, (28, 28), &Device::Cpu).unwrap();
        assert!(err(Trigger::new(&ok, &nan).unwrap_err()).contains("row 1, column 2"));
        assert!(err(Trigger::patch(26, 0, &vec![vec![1.0; 3]; 3]).unwrap_err()).contains("fit"));
        assert!(Trigger::patch(0, 0, &[vec![2.0]]).is_err());
        assert!(Trigger::patch(0, 0, &[]).is_err());
        let data = Dataset::new(ok.reshape((1, 1, 28, 28)).unwrap(), vec![3]).unwrap();
        let trigger = Trigger::new(&ok, &ok).unwrap();
        assert!(err(Backdoor::new(data, trigger, 10).unwrap_err()).contains("not in 0..10"));
    }
}
