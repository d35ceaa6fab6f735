//! The model-theft track end to end: `extraction`.
