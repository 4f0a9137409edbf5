//! Wire shapes shared by the agent and ecs-local.
