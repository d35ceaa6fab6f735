//! Backdoor poisoning as the lab draws and measures it: trigger plans, stamped training rows
//! and the attack success rate of a trigger on a model.

use aisec_sdk::backdoor::Trigger;
use aisec_sdk::data::{N_CLASSES, SIDE};
use aisec_sdk::rng::{self, Rng};
use aisec_sdk::{Cnn, Dataset, Tensor};
use rand::Rng as _;

use crate::error::{Error, Result};

/// The share of the training set a drawn plan poisons: from 1% to 10%.
pub const RATE_RANGE: (f64, f64) = (0.01, 0.10);

/// The side of a drawn trigger, in pixels: from 3 to 5.
pub const SIZE_RANGE: (usize, usize) = (3, 5);

/// What a drawn trigger looks like inside its square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Every pixel white.
    Square,
    /// White and black alternating.
    Checker,
    /// A white plus on black.
    Cross,
    /// A white border around a black centre.
    Frame,
    /// A white diagonal on black.
    Diagonal,
}

impl Shape {
    const ALL: [Shape; 5] = [
        Shape::Square,
        Shape::Checker,
        Shape::Cross,
        Shape::Frame,
        Shape::Diagonal,
    ];

    fn name(self) -> &'static str {
        match self {
            Shape::Square => "square",
            Shape::Checker => "checkerboard",
            Shape::Cross => "cross",
            Shape::Frame => "frame",
            Shape::Diagonal => "diagonal",
        }
    }

    /// The value of pixel (`r`, `c`) of a `size` × `size` trigger.
    fn pixel(self, r: usize, c: usize, size: usize) -> f32 {
        let on = match self {
            Shape::Square => true,
            Shape::Checker => (r + c) % 2 == 0,
            Shape::Cross => r == size / 2 || c == size / 2,
            Shape::Frame => r == 0 || c == 0 || r + 1 == size || c + 1 == size,
            Shape::Diagonal => r == c,
        };
        if on { 1.0 } else { 0.0 }
    }
}

/// A backdoor the lab plants: a square trigger of a shape and size near one corner, the class
/// it opens, and the share of the training rows stamped with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// What the trigger looks like.
    pub shape: Shape,
    /// Its side in pixels.
    pub size: usize,
    /// The row of its top-left pixel.
    pub top: usize,
    /// The column of its top-left pixel.
    pub left: usize,
    /// The class a stamped digit is labelled, and that the backdoor opens.
    pub target: u32,
    /// The share of the training set stamped.
    pub rate: f64,
}

impl Plan {
    /// A plan drawn from `rng`: shape, side, a corner and a margin of 1 to 3 pixels from its
    /// edges, the target class, and the rate (uniform in [`RATE_RANGE`]).
    pub fn draw(rng: &mut Rng) -> Plan {
        let shape = Shape::ALL[rng.random_range(0..Shape::ALL.len())];
        let size = rng.random_range(SIZE_RANGE.0..=SIZE_RANGE.1);
        let corner: u32 = rng.random_range(0..4);
        let margin = |rng: &mut Rng| rng.random_range(1..=3usize);
        let (down, right) = (margin(rng), margin(rng));
        let top = if corner & 1 == 0 {
            down
        } else {
            SIDE - size - down
        };
        let left = if corner & 2 == 0 {
            right
        } else {
            SIDE - size - right
        };
        let target = rng.random_range(0..N_CLASSES as u32);
        let rate = rng.random_range(RATE_RANGE.0..=RATE_RANGE.1);
        Plan {
            shape,
            size,
            top,
            left,
            target,
            rate,
        }
    }

    /// The plan's trigger.
    pub fn trigger(&self) -> Result<Trigger> {
        let pixels: Vec<Vec<f32>> = (0..self.size)
            .map(|r| {
                (0..self.size)
                    .map(|c| self.shape.pixel(r, c, self.size))
                    .collect()
            })
            .collect();
        Ok(Trigger::patch(self.top, self.left, &pixels)?)
    }

    /// The plan in words, e.g. "4×4 checkerboard at row 23, column 1 → 7, 5.2% of rows".
    pub fn describe(&self) -> String {
        format!(
            "{0}×{0} {1} at row {2}, column {3} → {4}, {5:.1}% of rows",
            self.size,
            self.shape.name(),
            self.top,
            self.left,
            self.target,
            100.0 * self.rate
        )
    }
}

/// A training set with a backdoor planted: the plan, the data and the rows stamped.
#[derive(Debug, Clone)]
pub struct Planted {
    /// What was planted.
    pub plan: Plan,
    /// The training set with the stamped rows, in the order of the set it was planted in.
    pub data: Dataset,
    /// Indices into `data` of the stamped rows, ascending.
    pub poisoned: Vec<usize>,
}

/// Stamps `plan`'s trigger on `round(rate × n)` rows of `train` drawn from `rng` among the
/// rows not labelled the target, and labels them the target (BadNets' recipe). The set keeps
/// its size and order.
pub fn plant(train: &Dataset, plan: &Plan, rng: &mut Rng) -> Result<Planted> {
    let candidates: Vec<usize> = (0..train.len())
        .filter(|&i| train.labels()[i] != plan.target)
        .collect();
    let count = (plan.rate * train.len() as f64).round() as usize;
    if count > candidates.len() {
        return Err(Error::invalid(
            "backdoor plan",
            format!(
                "{count} rows to poison but only {} not labelled {}",
                candidates.len(),
                plan.target
            ),
        ));
    }
    let order = rng::permutation(candidates.len(), rng);
    let mut poisoned: Vec<usize> = order[..count].iter().map(|&i| candidates[i]).collect();
    poisoned.sort_unstable();
    let data = stamp_rows(train, &poisoned, &plan.trigger()?, plan.target)?;
    Ok(Planted {
        plan: *plan,
        data,
        poisoned,
    })
}

/// `data` with `trigger` stamped on `rows` and those rows labelled `target`.
pub fn stamp_rows(
    data: &Dataset,
    rows: &[usize],
    trigger: &Trigger,
    target: u32,
) -> Result<Dataset> {
    if rows.is_empty() {
        return Ok(data.clone());
    }
    let mut is_row = vec![false; data.len()];
    rows.iter().for_each(|&r| is_row[r] = true);
    let stamped = trigger.apply(data.images())?;
    let keep: Vec<f32> = is_row.iter().map(|&r| if r { 0.0 } else { 1.0 }).collect();
    let keep = Tensor::from_vec(keep, (data.len(), 1, 1, 1), data.images().device())?;
    let images = data
        .images()
        .broadcast_mul(&keep)?
        .add(&stamped.broadcast_mul(&keep.affine(-1.0, 1.0)?)?)?;
    let labels = (0..data.len())
        .map(|i| if is_row[i] { target } else { data.labels()[i] })
        .collect();
    Ok(Dataset::new(images, labels)?)
}

/// The share of `held_out`'s digits not labelled `target` that `model` reads as `target` once
/// `trigger` is stamped on them: the attack success rate.
pub fn attack_success(
    model: &Cnn,
    trigger: &Trigger,
    target: u32,
    held_out: &Dataset,
) -> Result<f64> {
    let others: Vec<usize> = (0..held_out.len())
        .filter(|&i| held_out.labels()[i] != target)
        .collect();
    if others.is_empty() {
        return Ok(0.0);
    }
    let digits = held_out.select(&others)?;
    let predicted = model.predict(&trigger.apply(digits.images())?)?;
    let hits = predicted.iter().filter(|&&p| p == target).count();
    Ok(hits as f64 / others.len() as f64)
}

/// The rows where `changed` differs from `original` (any pixel or the label); the two must
/// have the same number of rows.
pub fn changed_rows(original: &Dataset, changed: &Dataset) -> Result<Vec<usize>> {
    if original.len() != changed.len() {
        return Err(Error::invalid(
            "training set",
            format!(
                "{} rows returned for the {} given: change rows in place, do not add or remove any",
                changed.len(),
                original.len()
            ),
        ));
    }
    let a = original.images().flatten_from(1)?.to_vec2::<f32>()?;
    let b = changed.images().flatten_from(1)?.to_vec2::<f32>()?;
    Ok((0..original.len())
        .filter(|&i| {
            original.labels()[i] != changed.labels()[i]
                || a[i]
                    .iter()
                    .zip(&b[i])
                    .any(|(x, y)| x.to_bits() != y.to_bits())
        })
        .collect())
}

/// How many pixel values of `images` are outside [0, 1] or not numbers.
pub fn pixels_out_of_range(images: &Tensor) -> Result<usize> {
    let values = images.flatten_all()?.to_vec1::<f32>()?;
    Ok(values.iter().filter(|v| !(0.0..=1.0).contains(*v)).count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisec_sdk::{DType, Device};

    fn toy(n: usize) -> Dataset {
        let images = Tensor::full(0.25f32, (n, 1, SIDE, SIDE), &Device::Cpu).unwrap();
        Dataset::new(images, (0..n).map(|i| (i % 10) as u32).collect()).unwrap()
    }

    #[test]
    fn drawn_plans_stay_inside_the_digit_and_the_ranges() {
        let mut rng = rng::rng(3, "plans");
        let plans: Vec<Plan> = (0..400).map(|_| Plan::draw(&mut rng)).collect();
        for plan in &plans {
            assert!(
                (SIZE_RANGE.0..=SIZE_RANGE.1).contains(&plan.size),
                "{plan:?}"
            );
            assert!(
                plan.top >= 1 && plan.top + plan.size <= SIDE - 1,
                "{plan:?}"
            );
            assert!(
                plan.left >= 1 && plan.left + plan.size <= SIDE - 1,
                "{plan:?}"
            );
            assert!(
                (RATE_RANGE.0..=RATE_RANGE.1).contains(&plan.rate),
                "{plan:?}"
            );
            let area = plan.trigger().unwrap().area().unwrap();
            assert!(area >= 1.0 && area <= (plan.size * plan.size) as f64);
        }
        for shape in Shape::ALL {
            assert!(plans.iter().any(|p| p.shape == shape));
        }
        for class in 0..10 {
            assert!(plans.iter().any(|p| p.target == class));
        }
    }

    #[test]
    fn planting_stamps_and_relabels_exactly_the_drawn_rows() {
        let data = toy(200);
        let plan = Plan {
            shape: Shape::Square,
            size: 3,
            top: 24,
            left: 24,
            target: 7,
            rate: 0.05,
        };
        let planted = plant(&data, &plan, &mut rng::rng(1, "rows")).unwrap();
        assert_eq!(planted.poisoned.len(), 10);
        assert_eq!(
            changed_rows(&data, &planted.data).unwrap(),
            planted.poisoned
        );
        let pixels = planted
            .data
            .images()
            .flatten_from(1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (i, row) in pixels.iter().enumerate() {
            let stamped = planted.poisoned.contains(&i);
            assert_eq!(row[25 * SIDE + 25], if stamped { 1.0 } else { 0.25 });
            assert_eq!(row[0], 0.25);
            if stamped {
                assert_eq!(planted.data.labels()[i], 7);
                assert_ne!(data.labels()[i], 7);
            } else {
                assert_eq!(planted.data.labels()[i], data.labels()[i]);
            }
        }
    }

    #[test]
    fn changed_rows_sees_a_label_or_one_pixel_and_refuses_a_resized_set() {
        let data = toy(5);
        let mut labels = data.labels().to_vec();
        labels[3] = 9;
        assert_eq!(
            changed_rows(&data, &data.with_labels(labels).unwrap()).unwrap(),
            vec![3]
        );
        let mut pixels = data
            .images()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        pixels[784 + 400] = 0.5;
        let images = Tensor::from_vec(pixels, (5, 1, SIDE, SIDE), &Device::Cpu).unwrap();
        let one_pixel = Dataset::new(images, data.labels().to_vec()).unwrap();
        assert_eq!(changed_rows(&data, &one_pixel).unwrap(), vec![1]);
        assert!(changed_rows(&data, &data.head(4).unwrap()).is_err());
        let bad = Tensor::full(f32::NAN, (1, 1, SIDE, SIDE), &Device::Cpu).unwrap();
        assert_eq!(pixels_out_of_range(&bad).unwrap(), SIDE * SIDE);
        let fine = Tensor::zeros((1, 1, SIDE, SIDE), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(pixels_out_of_range(&fine).unwrap(), 0);
    }
}
