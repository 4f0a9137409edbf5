//! The ECS container agent.
