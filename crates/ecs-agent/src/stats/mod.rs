//! Docker stats for the task metadata endpoint: the per-container sample watch and the
//! reference's stats document shape.

pub mod collector;
pub mod shape;

pub use collector::{Samples, StatsCollector};
pub use shape::StatsJson;
