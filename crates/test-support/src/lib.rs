//! Helpers shared by the integration tests of `ecs-agent` and `ecs-local`: bounded
//! polling, the Docker CLI for set-up and clean-up, child processes with their output
//! captured, the AWS CLI's environment, ports, and the lock on the host's network rules.
//!
//! Everything here panics freely on set-up failures: it only ever runs inside tests.

pub mod agent;
pub mod aws_cli;
pub mod docker;
pub mod ecs;
pub mod http;
pub mod net;
pub mod process;
pub mod tls;
pub mod wait;

pub use wait::{TimedOut, wait_for, wait_until};

/// The test image every Docker test runs (`scripts/test-env` builds it).
pub const IMAGE: &str = "ecs-test/busybox:latest";

/// The test image: `$ECS_TEST_IMAGE`, else [`IMAGE`].
pub fn image() -> String {
    std::env::var("ECS_TEST_IMAGE").unwrap_or_else(|_| IMAGE.to_owned())
}

/// The local registry `scripts/test-env` runs: `$ECS_TEST_REGISTRY`, else
/// `127.0.0.1:5000`.
pub fn registry() -> String {
    std::env::var("ECS_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".to_owned())
}

/// A task ARN of `cluster` (account 123456789012, us-east-1) no other test uses.
pub fn unique_task_arn(cluster: &str) -> String {
    format!(
        "arn:aws:ecs:us-east-1:123456789012:task/{cluster}/{}",
        uuid::Uuid::new_v4().simple()
    )
}
