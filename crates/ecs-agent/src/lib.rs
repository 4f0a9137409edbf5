//! The ECS container agent: a drop-in replacement for the Amazon ECS container agent.

pub mod app;
pub mod backend;
pub mod cli;
pub mod config;
pub mod docker;
pub mod endpoints;
pub mod engine;
pub mod exit;
pub mod healthcheck;
pub mod images;
pub mod logging;
pub mod stats;
pub mod store;
pub mod version;
