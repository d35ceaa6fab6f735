//! Saving and loading the CNN: PyTorch's names and layouts, round trips, and bad files.

use std::collections::HashMap;
use std::path::Path;

use aisec_sdk::model::PARAMETERS;
use aisec_sdk::{Cnn, Device, Mnist, Tensor};

/// From PyTorch 2.15, for the module documented in `model.rs`:
///
/// ```python
/// m = Cnn()
/// print([(k, tuple(v.shape)) for k, v in m.state_dict().items()])
/// ```
const PYTORCH_STATE_DICT: [(&str, &[usize]); 8] = [
    ("conv1.weight", &[16, 1, 5, 5]),
    ("conv1.bias", &[16]),
    ("conv2.weight", &[32, 16, 5, 5]),
    ("conv2.bias", &[32]),
    ("fc1.weight", &[128, 512]),
    ("fc1.bias", &[128]),
    ("fc2.weight", &[10, 128]),
    ("fc2.bias", &[10]),
];

#[test]
fn saved_names_and_shapes_are_exactly_pytorchs() {
    assert_eq!(PARAMETERS, PYTORCH_STATE_DICT);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    Cnn::init(3).unwrap().save(&path).unwrap();
    let stored = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let mut names: Vec<(&str, Vec<usize>, String)> = stored
        .iter()
        .map(|(k, v)| (k.as_str(), v.dims().to_vec(), format!("{:?}", v.dtype())))
        .collect();
    names.sort();
    let mut want: Vec<(&str, Vec<usize>, String)> = PYTORCH_STATE_DICT
        .iter()
        .map(|(k, s)| (*k, s.to_vec(), "F32".to_owned()))
        .collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn save_then_load_gives_identical_predictions_and_logits() {
    let data = Mnist::bundled().unwrap().test.head(64).unwrap();
    let model = Cnn::init(11).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    model.save(&path).unwrap();
    let loaded = Cnn::load(&path).unwrap();
    let a = model
        .logits(data.images())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let b = loaded
        .logits(data.images())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(
        model.predict(data.images()).unwrap(),
        loaded.predict(data.images()).unwrap()
    );
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let flat = |m: &Cnn| {
        m.named_tensors()
            .flat_map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(flat(&Cnn::init(5).unwrap()), flat(&Cnn::init(5).unwrap()));
    assert_ne!(flat(&Cnn::init(5).unwrap()), flat(&Cnn::init(6).unwrap()));
    let fc1 = Cnn::init(5).unwrap();
    let bound = 1.0 / 512f32.sqrt();
    let w = fc1
        .named_tensors()
        .nth(4)
        .unwrap()
        .1
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(w.iter().all(|v| v.abs() <= bound) && w.iter().any(|v| v.abs() > 0.9 * bound));
}

fn tensors_of(model: &Cnn) -> HashMap<String, Tensor> {
    model
        .named_tensors()
        .map(|(k, t)| (k.to_owned(), t.clone()))
        .collect()
}

#[test]
fn missing_misshaped_and_extra_tensors_are_named() {
    let model = Cnn::init(1).unwrap();
    let source = Path::new("suspicious.safetensors");

    let mut missing = tensors_of(&model);
    missing.remove("fc1.bias");
    let message = Cnn::from_tensors(missing, source).unwrap_err().to_string();
    assert!(
        message.contains("suspicious.safetensors") && message.contains("\"fc1.bias\" is missing"),
        "{message}"
    );

    let mut misshaped = tensors_of(&model);
    misshaped.insert(
        "conv2.weight".into(),
        Tensor::zeros((32, 16, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let message = Cnn::from_tensors(misshaped, source)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("\"conv2.weight\" has shape [32, 16, 3, 3], expected [32, 16, 5, 5]"),
        "{message}"
    );

    let mut extra = tensors_of(&model);
    extra.insert(
        "backdoor.weight".into(),
        Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let message = Cnn::from_tensors(extra, source).unwrap_err().to_string();
    assert!(
        message.contains("unexpected tensor \"backdoor.weight\""),
        "{message}"
    );

    let mut not_finite = tensors_of(&model);
    not_finite.insert(
        "fc2.bias".into(),
        Tensor::full(f32::NAN, 10, &Device::Cpu).unwrap(),
    );
    assert!(
        Cnn::from_tensors(not_finite, source)
            .unwrap_err()
            .to_string()
            .contains("NaN")
    );
}

#[test]
fn a_file_that_is_not_safetensors_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, b"\x80\x02}q\x00.").unwrap(); // a pickle, under a safetensors name
    let message = Cnn::load(&path).unwrap_err().to_string();
    assert!(
        message.contains("model.safetensors")
            && message.contains("not a readable safetensors file"),
        "{message}"
    );
    let message = Cnn::load(&dir.path().join("absent.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("absent.safetensors"), "{message}");
}

#[test]
fn wrong_input_shapes_are_errors_not_panics() {
    let model = Cnn::init(1).unwrap();
    let wrong = Tensor::zeros((2, 1, 32, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(
        model
            .forward(&wrong)
            .unwrap_err()
            .to_string()
            .contains("(n, 1, 28, 28)")
    );
    let x = Tensor::zeros((2, 1, 28, 28), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(
        model
            .input_gradient(&x, &[1])
            .unwrap_err()
            .to_string()
            .contains("1 labels for 2 images")
    );
    assert!(model.input_gradient(&x, &[1, 12]).is_err());
}
