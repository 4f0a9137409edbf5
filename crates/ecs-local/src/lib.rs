//! A local ECS control plane.
