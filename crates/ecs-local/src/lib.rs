//! A local ECS control plane: the ECS JSON API for users' tools and agents, backed by a
//! durable store, with placement of tasks on registered container instances.
//!
//! ```text
//! ecs-local serve --listen 127.0.0.1:51680 --data-dir ./ecs-local-data
//! export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
//! aws ecs create-cluster --endpoint-url http://127.0.0.1:51680
//! aws ecs register-task-definition --cli-input-json file://web.json --endpoint-url http://127.0.0.1:51680
//! aws ecs run-task --task-definition web --endpoint-url http://127.0.0.1:51680
//! ```
//!
//! * [`api`]: `POST /` with `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Op>`,
//!   SigV4-checked (any key by default; `--credentials FILE` of `AKID SECRET` lines makes
//!   it strict), errors as `{"__type", "message"}` with the AWS status codes.
//! * [`store`]: redb under `--data-dir`, written through before every answer; the seam
//!   for the websocket servers (placed tasks, desired-status notices, agent connection).
//! * [`scheduler`]: placement by CPU, memory and host ports, `memberOf` /
//!   `distinctInstance` constraints and `random` / `spread` / `binpack` strategies.
//! * [`acs`], [`tcs`]: the agent's websockets under `/acs/ws` and `/tcs/ws`, advertised by
//!   DiscoverPollEndpoint as `http://<host the agent used>/acs` and `/tcs`.

pub mod acs;
pub mod api;
pub mod credentials;
pub mod payload;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod tcs;
pub mod up;
