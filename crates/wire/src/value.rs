//! How each type that crosses the boundary is encoded, and decoded with validation.
//!
//! Tensors, models and data sets travel as safetensors bytes (f32 images and probabilities,
//! u32 labels); everything else as postcard. Decoding is the place where a reply from the
//! untrusted side becomes a typed value: a malformed reply is an error here, never a panic or a
//! silently wrong value in a check.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aisec_sdk::backdoor::{Backdoor, Trigger};
use aisec_sdk::llm::{Deployment, GuardLevel, Login, Message, Verdict};
use aisec_sdk::rng::Rng;
use aisec_sdk::supply_chain::{FileVerdict, ManifestEntry};
use aisec_sdk::theft::{Answers, ClientLog};
use aisec_sdk::{Cnn, DType, Dataset, Device, Tensor};
use rand_chacha::rand_core::SeedableRng;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

fn error(what: impl std::fmt::Display) -> WireError {
    WireError(what.to_string())
}

/// A value with an owned form on both sides.
pub trait Value: Sized {
    /// The bytes of the value.
    fn put(&self) -> Result<Vec<u8>, WireError>;
    /// The value from bytes, validated.
    fn take(bytes: &[u8]) -> Result<Self, WireError>;
}

fn put_postcard(value: &impl Serialize) -> Result<Vec<u8>, WireError> {
    postcard::to_stdvec(value).map_err(error)
}

fn take_postcard<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, WireError> {
    postcard::from_bytes(bytes).map_err(|e| error(format!("not a valid {what}: {e}")))
}

macro_rules! postcard_values {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl Value for $ty {
            fn put(&self) -> Result<Vec<u8>, WireError> {
                put_postcard(self)
            }
            fn take(bytes: &[u8]) -> Result<Self, WireError> {
                take_postcard(bytes, $what)
            }
        }
    )*};
}

postcard_values!(
    f32 => "number",
    f64 => "number",
    u32 => "number",
    u64 => "number",
    usize => "number",
    bool => "boolean",
    Vec<u32> => "list of numbers",
    Vec<u64> => "list of numbers",
    Vec<usize> => "list of row indices",
    Vec<f64> => "list of numbers",
    Vec<ManifestEntry> => "manifest",
    Vec<FileVerdict> => "list of verdicts",
    PathBuf => "path",
    String => "text",
    Option<String> => "text or nothing",
    Vec<String> => "list of texts",
    Vec<Message> => "conversation",
    Vec<Vec<Message>> => "list of conversations",
    Deployment => "deployment",
    Login => "login",
    Verdict => "verdict",
    GuardLevel => "guard level",
    Answers => "kind of answers",
);

/// Named tensors as safetensors bytes.
fn put_tensors<'n, 't>(
    tensors: impl IntoIterator<Item = (&'n str, &'t Tensor)>,
) -> Result<Vec<u8>, WireError> {
    let tensors: Vec<(&str, &Tensor)> = tensors.into_iter().collect();
    safetensors::tensor::serialize(tensors, None).map_err(error)
}

/// Safetensors bytes as named tensors (read by the safetensors crate, which checks the header,
/// the offsets and the sizes).
fn take_tensors(bytes: &[u8], what: &str) -> Result<HashMap<String, Tensor>, WireError> {
    candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
        .map_err(|e| error(format!("not a valid {what}: {e}")))
}

/// One tensor of `dtype` named `name` out of `tensors`.
fn named(
    tensors: &mut HashMap<String, Tensor>,
    name: &str,
    dtype: DType,
) -> Result<Tensor, WireError> {
    let tensor = tensors
        .remove(name)
        .ok_or_else(|| error(format!("tensor {name:?} is missing")))?;
    if tensor.dtype() != dtype {
        return Err(error(format!(
            "tensor {name:?} has dtype {:?}, expected {dtype:?}",
            tensor.dtype()
        )));
    }
    Ok(tensor)
}

impl Value for Tensor {
    fn put(&self) -> Result<Vec<u8>, WireError> {
        put_tensors([("t", self)])
    }

    /// One f32 tensor of rank 1 to 4.
    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        let mut tensors = take_tensors(bytes, "tensor")?;
        let tensor = named(&mut tensors, "t", DType::F32)?;
        if !tensors.is_empty() || !(1..=4).contains(&tensor.rank()) {
            return Err(error(format!(
                "expected one f32 tensor of rank 1 to 4, got rank {} and {} more tensors",
                tensor.rank(),
                tensors.len()
            )));
        }
        Ok(tensor)
    }
}

impl Value for Cnn {
    fn put(&self) -> Result<Vec<u8>, WireError> {
        put_tensors(self.named_tensors())
    }

    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        let tensors = take_tensors(bytes, "model")?;
        Cnn::from_tensors(tensors, Path::new("the model the checker sent")).map_err(error)
    }
}

impl Value for Dataset {
    fn put(&self) -> Result<Vec<u8>, WireError> {
        let labels = Tensor::from_slice(self.labels(), self.len(), &Device::Cpu).map_err(error)?;
        put_tensors([("images", self.images()), ("labels", &labels)])
    }

    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        let mut tensors = take_tensors(bytes, "data set")?;
        let images = named(&mut tensors, "images", DType::F32)?;
        let labels = named(&mut tensors, "labels", DType::U32)?
            .to_vec1::<u32>()
            .map_err(error)?;
        Dataset::new(images, labels).map_err(error)
    }
}

impl Value for ClientLog {
    fn put(&self) -> Result<Vec<u8>, WireError> {
        let n = self.len();
        let times = Tensor::from_slice(self.times(), n, &Device::Cpu).map_err(error)?;
        let predicted = Tensor::from_slice(self.predicted(), n, &Device::Cpu).map_err(error)?;
        put_tensors([
            ("times", &times),
            ("images", self.images()),
            ("predicted", &predicted),
        ])
    }

    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        let mut tensors = take_tensors(bytes, "client log")?;
        let times = named(&mut tensors, "times", DType::F64)?
            .to_vec1::<f64>()
            .map_err(error)?;
        let images = named(&mut tensors, "images", DType::F32)?;
        let predicted = named(&mut tensors, "predicted", DType::U32)?
            .to_vec1::<u32>()
            .map_err(error)?;
        ClientLog::new(times, images, predicted).map_err(error)
    }
}

impl Value for Backdoor {
    fn put(&self) -> Result<Vec<u8>, WireError> {
        let data = &self.poisoned;
        let labels = Tensor::from_slice(data.labels(), data.len(), &Device::Cpu).map_err(error)?;
        let target = Tensor::from_slice(&[self.target], 1, &Device::Cpu).map_err(error)?;
        put_tensors([
            ("images", data.images()),
            ("labels", &labels),
            ("mask", self.trigger.mask()),
            ("pattern", self.trigger.pattern()),
            ("target", &target),
        ])
    }

    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        let mut tensors = take_tensors(bytes, "backdoor")?;
        let images = named(&mut tensors, "images", DType::F32)?;
        let labels = named(&mut tensors, "labels", DType::U32)?
            .to_vec1::<u32>()
            .map_err(error)?;
        let mask = named(&mut tensors, "mask", DType::F32)?;
        let pattern = named(&mut tensors, "pattern", DType::F32)?;
        let target = match named(&mut tensors, "target", DType::U32)?.to_vec1::<u32>() {
            Ok(target) if target.len() == 1 => target[0],
            _ => return Err(error("the backdoor's target is not one class")),
        };
        let poisoned = Dataset::new(images, labels).map_err(error)?;
        let trigger = Trigger::new(&mask, &pattern).map_err(error)?;
        Backdoor::new(poisoned, trigger, target).map_err(error)
    }
}

/// A tensor or nothing: a flag byte, then the tensor's bytes.
impl Value for Option<Tensor> {
    fn put(&self) -> Result<Vec<u8>, WireError> {
        match self {
            None => Ok(vec![0]),
            Some(tensor) => {
                let mut bytes = vec![1];
                bytes.extend(tensor.put()?);
                Ok(bytes)
            }
        }
    }

    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        match bytes.split_first() {
            Some((0, [])) => Ok(None),
            Some((1, rest)) => Tensor::take(rest).map(Some),
            _ => Err(error("not a valid tensor or nothing")),
        }
    }
}

/// A generator's whole state: key, stream and position.
#[derive(Serialize, Deserialize)]
struct RngState {
    key: [u8; 32],
    stream: u64,
    word_pos: u128,
}

impl Value for Rng {
    fn put(&self) -> Result<Vec<u8>, WireError> {
        put_postcard(&RngState {
            key: self.get_seed(),
            stream: self.get_stream(),
            word_pos: self.get_word_pos(),
        })
    }

    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        let state: RngState = take_postcard(bytes, "generator state")?;
        let mut rng = Rng::from_seed(state.key);
        rng.set_stream(state.stream);
        rng.set_word_pos(state.word_pos);
        Ok(rng)
    }
}

/// A parameter of a candidate-facing function, as the checker passes it and the runner hands
/// it to the candidate's code: `Owned` is what the runner decodes, `lend` what it passes on.
/// A `&mut` parameter sends its final state back (`encode_update` / `apply_update`), so the
/// checker's generator advances exactly as if the call had been local.
pub trait Param<'a>: Sized {
    /// What the runner decodes the argument into.
    type Owned;
    /// The argument's bytes (checker side).
    fn encode(&self) -> Result<Vec<u8>, WireError>;
    /// The owned argument (runner side).
    fn decode(bytes: &[u8]) -> Result<Self::Owned, WireError>;
    /// The argument as the candidate's function takes it.
    fn lend(owned: &'a mut Self::Owned) -> Self;
    /// The state to send back after the call (`&mut` parameters only).
    fn encode_update(_owned: &Self::Owned) -> Result<Option<Vec<u8>>, WireError> {
        Ok(None)
    }
    /// Takes the state the runner sent back (`&mut` parameters only).
    fn apply_update(&mut self, _bytes: &[u8]) -> Result<(), WireError> {
        Ok(())
    }
}

macro_rules! borrowed_params {
    ($($borrowed:ty => $owned:ty, encoded by $encode:expr;)*) => {$(
        impl<'a> Param<'a> for &'a $borrowed {
            type Owned = $owned;
            fn encode(&self) -> Result<Vec<u8>, WireError> {
                let encode: fn(&$borrowed) -> Result<Vec<u8>, WireError> = $encode;
                encode(self)
            }
            fn decode(bytes: &[u8]) -> Result<$owned, WireError> {
                <$owned as Value>::take(bytes)
            }
            fn lend(owned: &'a mut $owned) -> Self {
                &*owned
            }
        }
    )*};
}

borrowed_params!(
    Cnn => Cnn, encoded by |v| v.put();
    Tensor => Tensor, encoded by |v| v.put();
    Dataset => Dataset, encoded by |v| v.put();
    Path => PathBuf, encoded by |v| v.to_path_buf().put();
    [u32] => Vec<u32>, encoded by |v| put_postcard(&v);
    [f64] => Vec<f64>, encoded by |v| put_postcard(&v);
    [ManifestEntry] => Vec<ManifestEntry>, encoded by |v| put_postcard(&v);
    str => String, encoded by |v| put_postcard(&v);
    [String] => Vec<String>, encoded by |v| put_postcard(&v);
    [Message] => Vec<Message>, encoded by |v| put_postcard(&v);
    [Vec<Message>] => Vec<Vec<Message>>, encoded by |v| put_postcard(&v);
    Deployment => Deployment, encoded by |v| v.put();
    ClientLog => ClientLog, encoded by |v| v.put();
);

macro_rules! copied_params {
    ($($ty:ty),* $(,)?) => {$(
        impl<'a> Param<'a> for $ty {
            type Owned = $ty;
            fn encode(&self) -> Result<Vec<u8>, WireError> {
                self.put()
            }
            fn decode(bytes: &[u8]) -> Result<$ty, WireError> {
                <$ty as Value>::take(bytes)
            }
            fn lend(owned: &'a mut $ty) -> Self {
                *owned
            }
        }
    )*};
}

copied_params!(f32, f64, u32, u64, usize, bool, GuardLevel, Answers);

impl<'a> Param<'a> for &'a mut Rng {
    type Owned = Rng;
    fn encode(&self) -> Result<Vec<u8>, WireError> {
        (**self).put()
    }
    fn decode(bytes: &[u8]) -> Result<Rng, WireError> {
        Rng::take(bytes)
    }
    fn lend(owned: &'a mut Rng) -> Self {
        owned
    }
    fn encode_update(owned: &Rng) -> Result<Option<Vec<u8>>, WireError> {
        owned.put().map(Some)
    }
    fn apply_update(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        **self = Rng::take(bytes)?;
        Ok(())
    }
}

/// What a candidate-facing function returns: encoded by the runner, decoded (validated) by the
/// checker. `Result` returns carry the candidate's error message across.
pub trait Returns: Sized {
    /// The return value's bytes (runner side).
    fn put_return(&self) -> Result<Vec<u8>, WireError>;
    /// The return value (checker side), validated.
    fn take_return(bytes: &[u8]) -> Result<Self, WireError>;
}

/// A `Result` as it crosses: the value's bytes, or the error's message.
#[derive(Serialize, Deserialize)]
enum Outcome {
    Ok(Vec<u8>),
    Err(String),
}

/// The longest error message kept from the candidate's code.
const MAX_ERROR_CHARS: usize = 4096;

macro_rules! returns {
    (results: $($ty:ty),* ; plain: $($plain:ty),* $(,)?) => {
        $(
            impl Returns for aisec_sdk::Result<$ty> {
                fn put_return(&self) -> Result<Vec<u8>, WireError> {
                    let outcome = match self {
                        Ok(value) => Outcome::Ok(value.put()?),
                        Err(e) => Outcome::Err(e.to_string()),
                    };
                    put_postcard(&outcome)
                }
                fn take_return(bytes: &[u8]) -> Result<Self, WireError> {
                    match take_postcard::<Outcome>(bytes, "result")? {
                        Outcome::Ok(bytes) => Ok(Ok(<$ty as Value>::take(&bytes)?)),
                        Outcome::Err(message) => {
                            let message: String = message.chars().take(MAX_ERROR_CHARS).collect();
                            Ok(Err(aisec_sdk::Error::invalid("your function", message)))
                        }
                    }
                }
            }
        )*
        $(
            impl Returns for $plain {
                fn put_return(&self) -> Result<Vec<u8>, WireError> {
                    self.put()
                }
                fn take_return(bytes: &[u8]) -> Result<Self, WireError> {
                    <$plain as Value>::take(bytes)
                }
            }
        )*
    };
}

returns!(
    results: Tensor, Vec<f64>, Vec<usize>, Vec<u32>, Vec<FileVerdict>, f64, Cnn, Dataset,
        Verdict, Option<String>, Login, Vec<String>, Option<Tensor>, bool, Backdoor;
    plain: f64, f32, u64, usize, bool, Vec<f64>, Vec<usize>
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_models_and_data_round_trip() {
        let images = Tensor::rand(0f32, 1f32, (3, 1, 28, 28), &Device::Cpu).unwrap();
        let back = Tensor::take(&images.put().unwrap()).unwrap();
        assert_eq!(
            back.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            images.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
        let data = Dataset::new(images, vec![1, 2, 3]).unwrap();
        let back = Dataset::take(&data.put().unwrap()).unwrap();
        assert_eq!(back.labels(), &[1, 2, 3]);
        let model = Cnn::init(1).unwrap();
        let back = Cnn::take(&model.put().unwrap()).unwrap();
        for ((_, a), (_, b)) in model.named_tensors().zip(back.named_tensors()) {
            assert_eq!(
                a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
            );
        }
    }

    #[test]
    fn backdoors_round_trip_and_a_bad_one_is_refused() {
        let images = Tensor::rand(0f32, 1f32, (2, 1, 28, 28), &Device::Cpu).unwrap();
        let data = Dataset::new(images, vec![4, 7]).unwrap();
        let trigger = Trigger::patch(1, 2, &[vec![1.0, 0.0]]).unwrap();
        let backdoor = Backdoor::new(data, trigger, 7).unwrap();
        let back = Backdoor::take(&backdoor.put().unwrap()).unwrap();
        assert_eq!(back.poisoned.labels(), &[4, 7]);
        assert_eq!(back.target, 7);
        assert_eq!(back.trigger.area().unwrap(), 2.0);
        // A mask value above 1 and a target that is not a class are refused on arrival.
        let x = Tensor::zeros((1, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
        let l = Tensor::new(&[1u32], &Device::Cpu).unwrap();
        let zero = Tensor::zeros((1, 28, 28), DType::F32, &Device::Cpu).unwrap();
        let refusal = |mask: &Tensor, target: u32| {
            let target = Tensor::new(&[target], &Device::Cpu).unwrap();
            let bytes = put_tensors([
                ("images", &x),
                ("labels", &l),
                ("mask", mask),
                ("pattern", &zero),
                ("target", &target),
            ])
            .unwrap();
            Backdoor::take(&bytes).unwrap_err().0
        };
        let bright = Tensor::full(2f32, (1, 28, 28), &Device::Cpu).unwrap();
        assert!(refusal(&bright, 3).contains("not in [0, 1]"));
        assert!(refusal(&zero, 12).contains("not in 0..10"));
    }

    #[test]
    fn client_logs_and_optional_tensors_round_trip() {
        let images = Tensor::rand(0f32, 1f32, (2, 1, 28, 28), &Device::Cpu).unwrap();
        let log = ClientLog::new(vec![0.5, 2.25], images.clone(), vec![3, 9]).unwrap();
        let back = ClientLog::take(&log.put().unwrap()).unwrap();
        assert_eq!(back.times(), &[0.5, 2.25]);
        assert_eq!(back.predicted(), &[3, 9]);
        assert!(
            <Option<Tensor> as Value>::take(&Value::put(&None::<Tensor>).unwrap())
                .unwrap()
                .is_none()
        );
        let some = <Option<Tensor> as Value>::take(&Value::put(&Some(images)).unwrap()).unwrap();
        assert_eq!(some.unwrap().dims(), &[2, 1, 28, 28]);
        // Times out of order, and a flag byte that is neither 0 nor 1, are refused.
        let t = Tensor::new(&[2.0f64, 1.0], &Device::Cpu).unwrap();
        let x = Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
        let p = Tensor::new(&[1u32, 1], &Device::Cpu).unwrap();
        let bytes = put_tensors([("times", &t), ("images", &x), ("predicted", &p)]).unwrap();
        assert!(ClientLog::take(&bytes).is_err());
        assert!(<Option<Tensor> as Value>::take(&[2]).is_err());
        // A batch of no images crosses too (the first round of a query loop sends one).
        let none_yet = Tensor::zeros((0, 1, 28, 28), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(
            Tensor::take(&none_yet.put().unwrap()).unwrap().dims(),
            &[0, 1, 28, 28]
        );
    }

    #[test]
    fn generators_carry_their_position() {
        use rand_chacha::rand_core::RngCore;
        let mut rng = aisec_sdk::rng::rng(3, "x");
        rng.next_u64();
        let mut copy = Rng::take(&rng.put().unwrap()).unwrap();
        assert_eq!(copy.next_u64(), rng.next_u64());
    }

    #[test]
    fn hostile_replies_are_errors_not_values() {
        // Not safetensors; a u32 tensor where f32 is expected; two tensors where one is.
        assert!(Tensor::take(b"garbage").is_err());
        let labels = Tensor::new(&[1u32, 2], &Device::Cpu).unwrap();
        assert!(Tensor::take(&put_tensors([("t", &labels)]).unwrap()).is_err());
        let x = Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap();
        assert!(Tensor::take(&put_tensors([("t", &x), ("u", &x)]).unwrap()).is_err());
        // A list whose length prefix promises more than the bytes hold.
        assert!(Vec::<usize>::take(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1]).is_err());
        assert!(<aisec_sdk::Result<Vec<usize>>>::take_return(&[7, 7, 7]).is_err());
    }
}
