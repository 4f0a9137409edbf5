//! Many tasks at once whose only container exits at once: every exit is seen from Docker's
//! events (or the start's own inspect), never left to the periodic re-inspection. Under
//! load Docker delivers events of different containers with timestamps out of order; a
//! `die` taken for a replay left its task RUNNING for minutes.

mod engine_support;

use std::collections::HashSet;
use std::time::Duration;

use ecs_agent::engine::StateChange;
use ecs_types::{ContainerStatus, TaskStatus};
use engine_support::*;

/// Enough that, on a 2-core machine, some `die` events come out of timestamp order (the
/// code before the fix left about one task in 150 RUNNING).
const TASKS: usize = 100;
const EXIT_CODE: i64 = 7;
/// Well under the 5-minute re-inspection of steady tasks, with room for a busy machine.
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_exits_of_many_tasks_are_all_seen() {
    let arns: Vec<String> = (0..TASKS).map(|_| unique_arn()).collect();
    let _guard = Cleanup(arns.clone());
    let (engine, mut rx) = engine_with(config(), None).await;

    for (i, arn) in arns.iter().enumerate() {
        // Half exit at once; half a moment later, after their `start` event's inspect saw
        // them running, so that only their `die` event can bring the exit.
        let command = if i % 2 == 0 {
            format!("exit {EXIT_CODE}")
        } else {
            format!("sleep 0.5; exit {EXIT_CODE}")
        };
        let app = container("app", true, &command);
        add_task(&engine, arn, vec![app]).await;
    }

    let mut waiting: HashSet<&str> = arns.iter().map(String::as_str).collect();
    let mut exits = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !waiting.is_empty() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(StateChange::Task(t))) if t.status == TaskStatus::Stopped => {
                waiting.remove(t.task_arn.as_str());
            }
            Ok(Some(StateChange::Container(c))) if c.status == ContainerStatus::Stopped => {
                exits.push((c.task_arn.clone(), c.exit_code));
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("state change stream closed"),
            Err(_) => {
                let stuck: Vec<_> = waiting
                    .iter()
                    .map(|arn| {
                        let snap = engine.task(arn);
                        (arn.to_string(), snap.map(|s| s.known))
                    })
                    .collect();
                panic!(
                    "{} of {TASKS} tasks not STOPPED after {DEADLINE:?}: {stuck:?}",
                    stuck.len()
                );
            }
        }
    }

    assert_eq!(
        exits.len(),
        TASKS,
        "one container STOPPED per task: {exits:?}"
    );
    for arn in &arns {
        let code = exits.iter().find(|(a, _)| a == arn).map(|(_, c)| *c);
        assert_eq!(code, Some(Some(EXIT_CODE)), "exit code of {arn}");
    }
    engine.shutdown().await;
}
