//! The ECS container agent: a drop-in replacement for the Amazon ECS container agent.

pub mod docker;
pub mod logging;
pub mod engine;
