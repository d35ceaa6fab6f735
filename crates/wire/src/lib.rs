//! The protocol between an exercise's checker and its runner: the checker (trusted: seed, draws,
//! ground truth, bars) calls the candidate's functions in the runner (untrusted: the candidate's
//! crate, the SDK and a generated adapter) over pipes, with inputs and outputs serialized.
//!
//! Each exercise declares its candidate-facing functions once, in `exercises/<id>/api.rs`, as
//! `exercise_api! { fn fgsm(model: &Cnn, images: &Tensor, labels: &[u32], eps: f32) -> Result<Tensor>; }`.
//! The checker's generated code expands that declaration with [`client!`] into a module of the
//! same functions, which forward each call; the runner's generated adapter expands it with
//! [`server!`] into the dispatch that calls the candidate's crate. A declaration that does not
//! match the candidate's signatures fails to compile in the runner: a build error, not a grade.
//!
//! Wire format: frames of an 8-byte length and bytes ([`frame`]). A call is a postcard header
//! `(function, n_args)` then one frame per argument; a reply is a postcard [`Reply`] header,
//! then, for a returned value, one frame holding it. Values are encoded as [`value`] says.

pub mod client;
pub mod frame;
pub mod runner;
pub mod value;

pub use value::{Param, Returns, Value, WireError};

/// The runner's allocator, as the lab's other programs use (candle's backward passes allocate
/// many short-lived temporaries, which mimalloc serves several times faster).
pub use mimalloc::MiMalloc as Allocator;

use serde::{Deserialize, Serialize};

/// A call as the runner receives it.
#[derive(Debug)]
pub struct Call {
    /// The function's name.
    pub function: String,
    /// Its encoded arguments, in order.
    pub args: Vec<Vec<u8>>,
}

/// The header of a reply.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// The function returned; its value follows in the next frame. `updates` holds, per
    /// parameter, the final state of a `&mut` parameter.
    Returned {
        /// Final states of `&mut` parameters, in parameter order.
        updates: Vec<Option<Vec<u8>>>,
    },
    /// The function panicked.
    Panicked {
        /// The panic message and where.
        message: String,
        /// The panic was a `todo!()`.
        not_started: bool,
    },
    /// The call could not be served (unknown function, arguments that did not decode).
    Refused {
        /// Why.
        message: String,
    },
}

/// Expands an API declaration into checker-side functions that call the runner.
#[macro_export]
macro_rules! client {
    ($( $(#[$meta:meta])* fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> $ret:ty ; )*) => {
        $(
            $(#[$meta])*
            #[allow(unused_mut, clippy::too_many_arguments)]
            pub fn $name( $( mut $arg : $ty ),* ) -> $ret {
                let function = stringify!($name);
                let args = vec![ $( $crate::client::encode(function, &$arg) ),* ];
                let answer = $crate::client::call(function, args);
                let mut updates = answer.updates.iter();
                $( $crate::client::update(function, &mut $arg, updates.next()); )*
                $crate::client::returned::<$ret>(function, &answer.value)
            }
        )*
    };
}

/// Expands an API declaration into the runner's `dispatch` function, calling the crate
/// `$krate`.
#[macro_export]
macro_rules! server {
    ($krate:ident; $( $(#[$meta:meta])* fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) -> $ret:ty ; )*) => {
        fn dispatch(
            function: &str,
            args: ::std::vec::Vec<::std::vec::Vec<u8>>,
        ) -> ::std::result::Result<$crate::runner::Returned, ::std::string::String> {
            match function {
                $(
                    stringify!($name) => {
                        let mut args = args.into_iter();
                        $(
                            let bytes = args
                                .next()
                                .ok_or_else(|| format!("{function}: too few arguments"))?;
                            let mut $arg = <$ty as $crate::Param<'_>>::decode(&bytes)
                                .map_err(|e| format!("{function}: argument {}: {e}", stringify!($arg)))?;
                        )*
                        let value: $ret = $krate::$name( $( <$ty as $crate::Param<'_>>::lend(&mut $arg) ),* );
                        let value = <$ret as $crate::Returns>::put_return(&value)
                            .map_err(|e| format!("{function}: the return value: {e}"))?;
                        let updates = vec![ $(
                            <$ty as $crate::Param<'_>>::encode_update(&$arg)
                                .map_err(|e| format!("{function}: {e}"))?
                        ),* ];
                        Ok($crate::runner::Returned { value, updates })
                    }
                )*
                other => Err(format!("no function {other:?} in this exercise")),
            }
        }
    };
}
