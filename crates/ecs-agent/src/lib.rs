//! The ECS container agent: a drop-in replacement for the Amazon ECS container agent.

pub mod docker;
pub mod images;
pub mod config;
pub mod logging;
pub mod store;
pub mod engine;
pub mod backend;
pub mod endpoints;
pub mod stats;
pub mod app;
pub mod cli;
pub mod exit;
pub mod healthcheck;
pub mod version;
