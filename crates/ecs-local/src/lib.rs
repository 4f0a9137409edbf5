//! A local ECS control plane: the ECS JSON API for users' tools and agents, backed by a
//! durable store, with placement of tasks on registered container instances.

pub mod acs;
pub mod api;
pub mod credentials;
pub mod payload;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod tcs;
