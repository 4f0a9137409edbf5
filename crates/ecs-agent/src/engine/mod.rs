//! The task engine: runs ECS tasks on the Docker engine as the reference agent does.

pub mod config;
pub mod merge;

pub use config::{EngineConfig, PullBehavior};
