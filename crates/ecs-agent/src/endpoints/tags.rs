//! Tags of the task metadata `…WithTags` paths (spec endpoints §4.5): two ECS
//! `ListTagsForResource` calls made with the agent's instance credentials, one for the
//! container instance and one for the task, each retried on throttling and server errors.
//!
//! The ECS client is behind [`TagClient`] so that the endpoints do not depend on the
//! backend (which exists only once the agent has registered) and so that the retry rules
//! can be tested on their own.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::EndpointState;
use super::model::TaskError;

/// The answer of one `ListTagsForResource` attempt.
pub type TagsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<BTreeMap<String, String>, TagError>> + Send + 'a>>;

/// One `ListTagsForResource` call, made once (the caller retries).
pub trait TagClient: Send + Sync {
    /// `user_agent_suffix` is appended to the HTTP `User-Agent` after a space (v4 sends
    /// `container/<name>` so that CloudTrail shows which container asked).
    fn list_tags<'a>(&'a self, arn: &'a str, user_agent_suffix: Option<&'a str>) -> TagsFuture<'a>;
}

/// Error codes the reference retries (besides client-side throttling).
const RETRIABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ServerException",
    "LimitExceededException",
];

/// A failed attempt, with what the SDK error told about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TagError {
    /// The service's error code (`ResourceNotFoundException`, ...).
    pub code: Option<String>,
    /// The whole error text, as logged and put into `ErrorMessage`.
    pub message: String,
    /// The HTTP status of the answer, when there was one.
    pub status_code: Option<u16>,
    pub request_id: Option<String>,
    /// The client itself refused to send (its retry/rate quota ran dry).
    pub client_throttled: bool,
}

impl TagError {
    /// An error without service details (network, signing, ...).
    pub fn local(message: impl Into<String>) -> Self {
        TagError {
            code: None,
            message: message.into(),
            status_code: None,
            request_id: None,
            client_throttled: false,
        }
    }

    /// Worth another attempt: throttling, server errors, or client-side throttling.
    pub fn is_retriable(&self) -> bool {
        self.client_throttled
            || self
                .code
                .as_deref()
                .is_some_and(|c| RETRIABLE_CODES.contains(&c))
    }
}

/// How the calls are retried: back-off 0.5 s ×1.5 up to 10 s with ±10 % jitter, as the
/// reference, within an overall budget.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// ± this fraction of each delay.
    pub jitter: f64,
    /// Time allowed for all attempts of one resource. The reference allows 30 s; ours is
    /// ~4 s (spec §9 row 7) because a response not written within the 5 s write timeout
    /// is lost anyway, so a longer wait only holds the caller's connection for nothing.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
            multiplier: 1.5,
            jitter: 0.1,
            budget: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    fn jittered(&self, d: Duration) -> Duration {
        let factor = 1.0 + self.jitter * (2.0 * rand::random::<f64>() - 1.0);
        d.mul_f64(factor.max(0.0))
    }
}

/// The last error of a resource's lookup and how many attempts were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFailure {
    pub attempts: u32,
    pub error: TagError,
}

impl TagFailure {
    /// The reference's `ErrorMessage`.
    pub fn message(&self, arn: &str) -> String {
        format!(
            "GetResourceTags failed for {arn} after {} attempts: {}",
            self.attempts, self.error
        )
    }

    /// The v4 `Errors` element; code, status and request ID are ours (additive, §9 row 7).
    pub fn task_error(&self, field: &str, arn: &str) -> TaskError {
        TaskError {
            error_field: field.to_owned(),
            error_code: self.error.code.clone().unwrap_or_default(),
            error_message: self.message(arn),
            status_code: self.error.status_code.map_or(0, i64::from),
            request_id: self.error.request_id.clone().unwrap_or_default(),
            resource_arn: arn.to_owned(),
        }
    }
}

/// The tags of `arn`, retried per `policy`; every attempt ends by the budget's deadline.
pub async fn get_resource_tags(
    client: Option<&dyn TagClient>,
    arn: &str,
    user_agent_suffix: Option<&str>,
    policy: &RetryPolicy,
) -> Result<BTreeMap<String, String>, TagFailure> {
    let Some(client) = client else {
        return Err(TagFailure {
            attempts: 0,
            error: TagError::local("no ECS client: the agent has not registered with ECS (yet)"),
        });
    };
    let deadline = Instant::now() + policy.budget;
    let mut delay = policy.initial;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error =
            match tokio::time::timeout_at(deadline, client.list_tags(arn, user_agent_suffix)).await
            {
                Ok(Ok(tags)) => return Ok(tags),
                Ok(Err(e)) => e,
                Err(_) => TagError::local(format!(
                    "no answer within the {:?} budget of the tag lookup",
                    policy.budget
                )),
            };
        let wait = policy.jittered(delay);
        if !error.is_retriable() || Instant::now() + wait >= deadline {
            return Err(TagFailure { attempts, error });
        }
        tracing::debug!(arn, attempts, error = %error, "Retrying ListTagsForResource");
        tokio::time::sleep(wait).await;
        delay = delay.mul_f64(policy.multiplier).min(policy.max);
    }
}

/// What the tags paths add to a task object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskTags {
    pub container_instance_tags: BTreeMap<String, String>,
    pub task_tags: BTreeMap<String, String>,
    /// v4 only: one element per failed lookup, container instance first.
    pub errors: Vec<TaskError>,
}

pub const CONTAINER_INSTANCE_TAGS: &str = "ContainerInstanceTags";
pub const TASK_TAGS: &str = "TaskTags";

/// Both lookups. They run side by side (the reference runs them one after the other) so
/// that together they stay within one budget; results and errors keep the reference's
/// order, container instance first.
pub async fn task_tags(
    client: Option<&dyn TagClient>,
    container_instance_arn: &str,
    task_arn: &str,
    user_agent_suffix: Option<&str>,
    policy: &RetryPolicy,
) -> TaskTags {
    let (instance, task) = futures::join!(
        get_resource_tags(client, container_instance_arn, user_agent_suffix, policy),
        get_resource_tags(client, task_arn, user_agent_suffix, policy),
    );
    let mut out = TaskTags::default();
    for (field, arn, result, slot) in [
        (
            CONTAINER_INSTANCE_TAGS,
            container_instance_arn,
            instance,
            &mut out.container_instance_tags,
        ),
        (TASK_TAGS, task_arn, task, &mut out.task_tags),
    ] {
        match result {
            Ok(tags) => *slot = tags,
            Err(failure) => {
                tracing::error!(
                    "Task Metadata error: unable to get '{field}' for '{arn}': {}",
                    failure.message(arn)
                );
                out.errors.push(failure.task_error(field, arn));
            }
        }
    }
    out
}

/// The tag client of an [`EndpointState`], set once the agent has registered.
#[derive(Default)]
pub struct Tags {
    client: OnceLock<Arc<dyn TagClient>>,
    policy: RetryPolicy,
}

impl EndpointState {
    /// Where the tags paths get tags from; only the first call counts.
    pub fn set_tag_client(&self, client: Arc<dyn TagClient>) {
        let _ = self.tags.client.set(client);
    }

    /// The tags of `task_arn` and of this container instance. `container` (v4) names the
    /// asking container in the User-Agent.
    pub async fn task_tags(&self, task_arn: &str, container: Option<&str>) -> TaskTags {
        let suffix = container.map(|name| format!("container/{name}"));
        task_tags(
            self.tags.client.get().map(|c| c.as_ref()),
            &self.instance.container_instance_arn,
            task_arn,
            suffix.as_deref(),
            &self.tags.policy,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    type Answer = Result<BTreeMap<String, String>, TagError>;

    /// Answers from a script, one entry per call for each ARN, and records the calls.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<BTreeMap<String, Vec<Answer>>>,
        calls: Mutex<Vec<(String, Option<String>)>>,
    }

    impl Scripted {
        fn answer(&self, arn: &str, answers: Vec<Answer>) {
            self.answers.lock().unwrap().insert(arn.to_owned(), answers);
        }

        fn calls_for(&self, arn: &str) -> usize {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .filter(|(a, _)| a == arn)
                .count()
        }
    }

    impl TagClient for Scripted {
        fn list_tags<'a>(
            &'a self,
            arn: &'a str,
            user_agent_suffix: Option<&'a str>,
        ) -> TagsFuture<'a> {
            Box::pin(async move {
                self.calls
                    .lock()
                    .unwrap()
                    .push((arn.to_owned(), user_agent_suffix.map(str::to_owned)));
                let mut answers = self.answers.lock().unwrap();
                let queue = answers.get_mut(arn).expect("scripted ARN");
                if queue.len() > 1 {
                    queue.remove(0)
                } else {
                    queue[0].clone()
                }
            })
        }
    }

    /// Never answers.
    struct Silent;

    impl TagClient for Silent {
        fn list_tags<'a>(&'a self, _: &'a str, _: Option<&'a str>) -> TagsFuture<'a> {
            Box::pin(std::future::pending())
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
            multiplier: 1.5,
            jitter: 0.1,
            budget: Duration::from_millis(400),
        }
    }

    fn service(code: &str) -> TagError {
        TagError {
            code: Some(code.to_owned()),
            message: format!("{code}: nope"),
            status_code: Some(400),
            request_id: Some("req-1".to_owned()),
            client_throttled: false,
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const CI: &str = "arn:aws:ecs:us-east-1:1:container-instance/c/abc";
    const TASK: &str = "arn:aws:ecs:us-east-1:1:task/c/def";

    #[test]
    fn retried_errors_are_throttling_server_limit_and_client_side() {
        for code in [
            "ThrottlingException",
            "ServerException",
            "LimitExceededException",
        ] {
            assert!(service(code).is_retriable(), "{code}");
        }
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "InvalidParameterException",
            "ClientException",
        ] {
            assert!(!service(code).is_retriable(), "{code}");
        }
        assert!(!TagError::local("connection refused").is_retriable());
        let throttled = TagError {
            client_throttled: true,
            ..TagError::local("retry quota exceeded")
        };
        assert!(throttled.is_retriable());
    }

    #[test]
    fn delays_stay_within_ten_percent() {
        let policy = RetryPolicy::default();
        for _ in 0..200 {
            let d = policy.jittered(Duration::from_millis(500)).as_secs_f64();
            assert!((0.45..=0.55).contains(&d), "{d}");
        }
    }

    #[tokio::test]
    async fn throttling_is_retried_until_an_answer() {
        let client = Scripted::default();
        client.answer(
            TASK,
            vec![
                Err(service("ThrottlingException")),
                Err(service("ServerException")),
                Ok(tags(&[("a", "1")])),
            ],
        );
        let got = get_resource_tags(Some(&client), TASK, None, &fast()).await;
        assert_eq!(got, Ok(tags(&[("a", "1")])));
        assert_eq!(client.calls_for(TASK), 3);
    }

    #[tokio::test]
    async fn other_errors_stop_at_once() {
        let client = Scripted::default();
        client.answer(TASK, vec![Err(service("ResourceNotFoundException"))]);
        let failure = get_resource_tags(Some(&client), TASK, None, &fast())
            .await
            .unwrap_err();
        assert_eq!(failure.attempts, 1);
        assert_eq!(client.calls_for(TASK), 1);
        assert_eq!(
            failure.message(TASK),
            format!(
                "GetResourceTags failed for {TASK} after 1 attempts: ResourceNotFoundException: nope"
            )
        );
    }

    #[tokio::test]
    async fn retries_end_with_the_budget() {
        let client = Scripted::default();
        client.answer(TASK, vec![Err(service("ThrottlingException"))]);
        let started = std::time::Instant::now();
        let failure = get_resource_tags(Some(&client), TASK, None, &fast())
            .await
            .unwrap_err();
        let took = started.elapsed();
        // Ends by the budget (with room for a loaded machine's scheduling).
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(failure.attempts >= 2, "{failure:?}");
        assert_eq!(failure.attempts as usize, client.calls_for(TASK));
        assert_eq!(failure.error.code.as_deref(), Some("ThrottlingException"));
    }

    #[tokio::test]
    async fn a_hanging_call_is_cut_at_the_budget() {
        let started = std::time::Instant::now();
        let failure = get_resource_tags(Some(&Silent), TASK, None, &fast())
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(failure.attempts, 1);
        assert!(failure.error.message.contains("budget"), "{failure:?}");
    }

    #[tokio::test]
    async fn both_lookups_fill_their_fields_with_the_suffix() {
        let client = Scripted::default();
        client.answer(CI, vec![Ok(tags(&[("team", "core")]))]);
        client.answer(TASK, vec![Ok(tags(&[("app", "web"), ("env", "dev")]))]);
        let got = task_tags(Some(&client), CI, TASK, Some("container/web"), &fast()).await;
        assert_eq!(got.container_instance_tags, tags(&[("team", "core")]));
        assert_eq!(got.task_tags, tags(&[("app", "web"), ("env", "dev")]));
        assert!(got.errors.is_empty());
        let calls = client.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 2);
        assert!(
            calls
                .iter()
                .all(|(_, s)| s.as_deref() == Some("container/web"))
        );
    }

    #[tokio::test]
    async fn failures_become_errors_in_the_reference_key_order() {
        let client = Scripted::default();
        client.answer(CI, vec![Err(service("AccessDeniedException"))]);
        client.answer(TASK, vec![Err(TagError::local("connection refused"))]);
        let got = task_tags(Some(&client), CI, TASK, None, &fast()).await;
        assert!(got.container_instance_tags.is_empty() && got.task_tags.is_empty());
        let json = serde_json::to_string(&got.errors).unwrap();
        assert_eq!(
            json,
            format!(
                concat!(
                    r#"[{{"ErrorField":"ContainerInstanceTags","ErrorCode":"AccessDeniedException","#,
                    r#""ErrorMessage":"GetResourceTags failed for {ci} after 1 attempts: AccessDeniedException: nope","#,
                    r#""StatusCode":400,"RequestId":"req-1","ResourceARN":"{ci}"}},"#,
                    r#"{{"ErrorField":"TaskTags","#,
                    r#""ErrorMessage":"GetResourceTags failed for {task} after 1 attempts: connection refused","#,
                    r#""ResourceARN":"{task}"}}]"#
                ),
                ci = CI,
                task = TASK
            )
        );
    }

    #[tokio::test]
    async fn no_client_is_a_failure_of_both_lookups() {
        let got = task_tags(None, CI, TASK, None, &fast()).await;
        assert_eq!(got.errors.len(), 2);
        assert_eq!(got.errors[0].error_field, CONTAINER_INSTANCE_TAGS);
        assert_eq!(got.errors[1].error_field, TASK_TAGS);
        assert!(
            got.errors[1]
                .error_message
                .contains("after 0 attempts: no ECS client"),
            "{:?}",
            got.errors[1]
        );
    }
}
