//! Helpers shared by the integration tests of `ecs-agent` and `ecs-local`: bounded
//! polling, the Docker CLI for set-up and clean-up, child processes with their output
//! captured, the AWS CLI's environment, ports, and the lock on the host's network rules.
//!
//! Everything here panics freely on set-up failures: it only ever runs inside tests.

pub mod aws_cli;
pub mod docker;
pub mod ecs;
pub mod http;
pub mod net;
pub mod process;
pub mod wait;

pub use wait::{TimedOut, wait_for, wait_until};

/// The test image every Docker test runs (`scripts/test-env` builds it).
pub const IMAGE: &str = "ecs-test/busybox:latest";
