//! Deterministic simulation of the order saga (issue 18, in progress): the real state machine
//! (`statemachines/order-saga.asl.json`) run by an interpreter of the States Language on a
//! virtual clock (`asl`), with its tasks going to the same step handlers the functions serve and
//! to the DynamoDB adapters and the definition's DynamoDB integrations on one in-process
//! DynamoDB (`cloud`).

pub mod asl;
pub mod audit;
pub mod choices;
pub mod cloud;
pub mod notify;
pub mod operator;
pub mod products;
pub mod properties;
pub mod queue;
pub mod schedule;
