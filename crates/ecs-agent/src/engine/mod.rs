//! The task engine: runs ECS tasks on the Docker engine as the reference agent does.

pub mod config;
pub mod errors;
pub mod intake;
pub mod lifecycle;
pub mod mapping;
pub mod merge;
pub mod model;
pub mod naming;
pub mod ports;
pub mod pull;
pub mod state;

pub use config::{EngineConfig, PullBehavior};
