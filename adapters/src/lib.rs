//! The order core's ports on AWS (DynamoDB, SNS, Step Functions) and in memory: one adapter per
//! port per backend. Depends on `order-core`, never the reverse.

pub mod config;
pub mod dynamodb;
pub mod memory;
pub mod sfn;
pub mod sns;
