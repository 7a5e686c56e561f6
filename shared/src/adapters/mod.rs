//! One adapter per port per backend.

pub mod channels;
pub mod dynamodb;
pub mod memory;
pub mod sfn;
pub mod sns;
