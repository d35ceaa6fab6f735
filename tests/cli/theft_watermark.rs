//! The model-theft track end to end: `watermark`.
