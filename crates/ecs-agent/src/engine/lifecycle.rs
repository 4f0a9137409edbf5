//! The task/container state machine as pure functions over `TaskState`
//! (task-engine.md §1, §3): desired-status propagation, next transitions with
//! dependency resolution and stop order, task status derived from containers.

use chrono::{DateTime, Utc};
use ecs_types::{ContainerStatus, TaskStatus};

use super::model::Condition;
use super::state::{Health, STEADY, TaskState};

/// What a progress pass should do with one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Already where it is driven to.
    Nothing,
    /// An action for it is running.
    InFlight,
    /// Waiting for a dependency (or, when stopping, for its dependents to stop).
    Blocked,
    /// Move to this status with a Docker action (pull, create, start, stop).
    Action(ContainerStatus),
    /// Move to this status without any Docker call.
    Immediate(ContainerStatus),
    /// A dependency can never be satisfied: stop the container with this message.
    Terminal(String),
}

/// §1.4 rules 2 and 3: the essential rule, then task → container desired (raise only).
pub fn update_desired(task: &mut TaskState) {
    let essential_down = task
        .spec
        .containers
        .iter()
        .zip(&task.containers)
        .any(|(spec, st)| {
            spec.essential
                && (st.known == ContainerStatus::Stopped || st.desired == ContainerStatus::Stopped)
        });
    if essential_down && task.desired < TaskStatus::Stopped {
        task.desired = TaskStatus::Stopped;
    }
    let container_desired = task.desired.container_desired(STEADY);
    for st in &mut task.containers {
        if container_desired > st.desired {
            st.desired = container_desired;
        }
    }
}

/// §1.4 rule 1: an ACS desired status only ever raises the task's.
pub fn raise_task_desired(task: &mut TaskState, desired: TaskStatus) -> bool {
    if desired > task.desired {
        task.desired = desired;
        update_desired(task);
        true
    } else {
        false
    }
}

/// §1.6: the task known status is the minimum over containers, never going back.
/// Returns whether it changed.
pub fn update_known(task: &mut TaskState, now: DateTime<Utc>) -> bool {
    let Some(lowest) = task.containers.iter().map(|c| c.known).min() else {
        return false;
    };
    let essential_stopped = task
        .spec
        .containers
        .iter()
        .zip(&task.containers)
        .any(|(spec, st)| spec.essential && st.known == ContainerStatus::Stopped);
    if lowest == STEADY && essential_stopped {
        return false;
    }
    let derived = task
        .containers
        .iter()
        .map(|c| TaskStatus::from_container(c.known, STEADY))
        .min()
        .unwrap_or(TaskStatus::None);
    if derived > task.known {
        task.known = derived;
        task.known_time = now;
        true
    } else {
        false
    }
}

/// §1.7.
pub fn is_steady(task: &TaskState) -> bool {
    task.known == TaskStatus::Running && task.desired <= TaskStatus::Running
}

/// The next transition of container `idx` (§1.5, §3.3, §3.4, §3.6).
pub fn next_transition(task: &TaskState, idx: usize, now: DateTime<Utc>, upfront: bool) -> Next {
    let (spec, st) = task.pair(idx);
    if st.known >= st.desired {
        return Next::Nothing;
    }
    if st.applied.is_some() {
        return Next::InFlight;
    }
    if st.desired == ContainerStatus::Stopped {
        let dependents_running =
            task.spec
                .containers
                .iter()
                .zip(&task.containers)
                .any(|(other, other_st)| {
                    other.depends_on.iter().any(|d| d.container == spec.name)
                        && other_st.known != ContainerStatus::Stopped
                });
        if dependents_running {
            return Next::Blocked;
        }
        return if st.known.is_running() {
            Next::Action(ContainerStatus::Stopped)
        } else {
            Next::Immediate(ContainerStatus::Stopped)
        };
    }
    let Some(target) = st.known.next() else {
        return Next::Nothing;
    };
    // Digest resolution is a no-op here (no distribution lookups), and a container at
    // NONE may always do that step.
    if target == ContainerStatus::ManifestPulled {
        return Next::Immediate(target);
    }
    if !(target == ContainerStatus::Pulled && upfront) {
        match dependencies(task, idx, now) {
            DepState::Resolved => {}
            DepState::Blocked => return Next::Blocked,
            DepState::Terminal(msg) => return Next::Terminal(msg),
        }
    }
    Next::Action(target)
}

enum DepState {
    Resolved,
    Blocked,
    Terminal(String),
}

fn describe(task: &TaskState, idx: usize) -> String {
    let (spec, st) = task.pair(idx);
    let mut text = format!(
        "{}({}) ({}->{})",
        spec.name, spec.image, st.known, st.desired
    );
    if let Some(code) = st.exit_code {
        text.push_str(&format!(" - Exit: {code}"));
    }
    text
}

fn dependencies(task: &TaskState, idx: usize, now: DateTime<Utc>) -> DepState {
    let (spec, st) = task.pair(idx);
    let mut blocked = false;
    for dep in &spec.depends_on {
        let Some(dep_idx) = task.index_of(&dep.container) else {
            return DepState::Terminal(format!(
                "dependency graph: failed to resolve container ordering dependency [{}] for target [{}] as dependency does not exist.",
                dep.container,
                describe(task, idx)
            ));
        };
        let (dep_spec, dep_st) = task.pair(dep_idx);
        let fail = |why: &str| {
            DepState::Terminal(format!(
                "dependency graph: failed to resolve container ordering dependency [{}] for target [{}] as dependency {why}.",
                describe(task, dep_idx),
                describe(task, idx)
            ))
        };
        let waits_for_exit_or_health = matches!(
            dep.condition,
            Condition::Success | Condition::Complete | Condition::Healthy
        );
        if st.known < ContainerStatus::Created
            && dep_st.known != ContainerStatus::Stopped
            && waits_for_exit_or_health
            && dep_spec.start_timeout > 0
            && let Some(started) = dep_st.started_at
            && now > started + chrono::Duration::seconds(dep_spec.start_timeout as i64)
        {
            return fail("has timed out");
        }
        if dep.condition == Condition::Success
            && dep_st.known == ContainerStatus::Stopped
            && dep_st.exit_code != Some(0)
        {
            return fail("did not exit successfully");
        }
        if dep.condition == Condition::Complete
            && dep_st.known == ContainerStatus::Stopped
            && dep_st.exit_code.is_none()
        {
            return fail("did not exit successfully");
        }
        // Not in the reference (its dependents then wait forever): a HEALTHY
        // dependency that has stopped can never become healthy.
        if dep.condition == Condition::Healthy && dep_st.known == ContainerStatus::Stopped {
            return fail("stopped before becoming healthy");
        }
        if dep_st.known < ContainerStatus::Running
            && dep_st.desired == ContainerStatus::Stopped
            && dep_st.applied.is_none()
            && !matches!(dep.condition, Condition::Start | Condition::Create)
        {
            return fail("will never start");
        }
        let satisfied = match dep.condition {
            Condition::Create => dep_st.known >= ContainerStatus::Created,
            Condition::Start => dep_st.known == ContainerStatus::Stopped || dep_st.known >= STEADY,
            Condition::Complete => {
                dep_st.known == ContainerStatus::Stopped && dep_st.exit_code.is_some()
            }
            Condition::Success => {
                dep_st.known == ContainerStatus::Stopped && dep_st.exit_code == Some(0)
            }
            Condition::Healthy => dep_spec.health_check && dep_st.health == Health::Healthy,
        };
        if !satisfied {
            blocked = true;
        }
    }
    if blocked {
        DepState::Blocked
    } else {
        DepState::Resolved
    }
}

/// §3.2: can every container be ordered, given the desired statuses? False for cycles,
/// unknown containers and conditions that can never hold.
pub fn dependencies_resolvable(task: &TaskState) -> bool {
    let n = task.containers.len();
    let mut placed = vec![false; n];
    let mut count = 0;
    loop {
        let mut progress = false;
        for idx in 0..n {
            if placed[idx] {
                continue;
            }
            let spec = &task.spec.containers[idx];
            let ok = spec.depends_on.iter().all(|dep| {
                let Some(dep_idx) = task.index_of(&dep.container) else {
                    return false;
                };
                if !placed[dep_idx] {
                    return false;
                }
                let desired = task.containers[dep_idx].desired;
                let completes =
                    matches!(desired, ContainerStatus::Created | ContainerStatus::Stopped)
                        || desired == STEADY;
                match dep.condition {
                    Condition::Create | Condition::Complete | Condition::Success => completes,
                    Condition::Start => desired == STEADY,
                    Condition::Healthy => completes && task.spec.containers[dep_idx].health_check,
                }
            });
            if ok {
                placed[idx] = true;
                count += 1;
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    count == n
}

/// §7.2: should container `idx` be reported now?
pub fn container_reportable(task: &TaskState, idx: usize) -> bool {
    let st = &task.containers[idx];
    (st.known == STEADY || st.known == ContainerStatus::Stopped) && st.reported < st.known
}

/// §7.3: should the task be reported now?
pub fn task_reportable(task: &TaskState) -> bool {
    task.known.is_backend_recognised() && task.reported < task.known
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{
        ContainerSpec, Dependency, NetworkMode, RegistryAuthKind, TaskSpec,
    };
    use std::collections::BTreeMap;

    fn c(name: &str, essential: bool, deps: &[(&str, Condition)]) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: format!("{name}-img"),
            command: None,
            entry_point: None,
            cpu: 0,
            memory: 0,
            environment: BTreeMap::new(),
            essential,
            links: vec![],
            port_mappings: vec![],
            mount_points: vec![],
            volumes_from: vec![],
            docker_config: None,
            docker_host_config: None,
            docker_version: None,
            health_check: false,
            depends_on: deps
                .iter()
                .map(|(n, cond)| Dependency {
                    container: (*n).into(),
                    condition: *cond,
                })
                .collect(),
            start_timeout: 0,
            stop_timeout: 0,
            v3_endpoint_id: String::new(),
            registry_auth: RegistryAuthKind::Engine,
            restart_policy: None,
        }
    }

    fn task(containers: Vec<ContainerSpec>) -> TaskState {
        let spec = TaskSpec {
            arn: "arn:aws:ecs:r:1:task/c/t".into(),
            family: "f".into(),
            version: "1".into(),
            network_mode: NetworkMode::Bridge,
            pid_mode: None,
            ipc_mode: None,
            cpu: 0.0,
            memory: 0,
            volumes: vec![],
            containers,
            credentials_id: None,
            execution_credentials_id: None,
            memory_cpu_limits: false,
        };
        let mut t = TaskState::new(spec, TaskStatus::Running);
        update_desired(&mut t);
        t
    }

    use ContainerStatus as C;

    #[test]
    fn desired_propagates_to_steady_state() {
        let t = task(vec![c("a", true, &[])]);
        assert_eq!(t.containers[0].desired, C::Running);
    }

    #[test]
    fn essential_stop_stops_the_task() {
        let mut t = task(vec![c("a", true, &[]), c("b", false, &[])]);
        t.containers[0].known = C::Stopped;
        update_desired(&mut t);
        assert_eq!(t.desired, TaskStatus::Stopped);
        assert_eq!(t.containers[1].desired, C::Stopped);
    }

    #[test]
    fn non_essential_exit_keeps_task_running() {
        let mut t = task(vec![c("a", true, &[]), c("b", false, &[])]);
        t.containers[0].known = C::Running;
        t.containers[1].known = C::Running;
        assert!(update_known(&mut t, Utc::now()));
        assert_eq!(t.known, TaskStatus::Running);
        t.containers[1].known = C::Stopped;
        update_desired(&mut t);
        assert_eq!(t.desired, TaskStatus::Running);
        assert!(!update_known(&mut t, Utc::now()));
        assert_eq!(t.known, TaskStatus::Running);
    }

    #[test]
    fn task_does_not_become_running_after_essential_exit() {
        let mut t = task(vec![c("a", true, &[]), c("b", true, &[])]);
        t.containers[0].known = C::Running;
        t.containers[1].known = C::Stopped;
        assert!(!update_known(&mut t, Utc::now()));
        assert_eq!(t.known, TaskStatus::None);
        t.containers[0].known = C::Stopped;
        assert!(update_known(&mut t, Utc::now()));
        assert_eq!(t.known, TaskStatus::Stopped);
    }

    #[test]
    fn known_status_never_goes_back() {
        let mut t = task(vec![c("a", true, &[])]);
        t.containers[0].known = C::Running;
        update_known(&mut t, Utc::now());
        t.containers[0].known = C::Created;
        assert!(!update_known(&mut t, Utc::now()));
        assert_eq!(t.known, TaskStatus::Running);
    }

    #[test]
    fn acs_desired_only_raises() {
        let mut t = task(vec![c("a", true, &[])]);
        assert!(raise_task_desired(&mut t, TaskStatus::Stopped));
        assert!(!raise_task_desired(&mut t, TaskStatus::Running));
        assert_eq!(t.desired, TaskStatus::Stopped);
        assert_eq!(t.containers[0].desired, C::Stopped);
    }

    #[test]
    fn forward_steps_and_dependency_gate() {
        let mut t = task(vec![
            c("db", true, &[]),
            c("app", true, &[("db", Condition::Start)]),
        ]);
        let now = Utc::now();
        assert_eq!(
            next_transition(&t, 1, now, false),
            Next::Immediate(C::ManifestPulled)
        );
        t.containers[1].known = C::ManifestPulled;
        assert_eq!(next_transition(&t, 1, now, false), Next::Blocked);
        assert_eq!(next_transition(&t, 1, now, true), Next::Action(C::Pulled));
        t.containers[0].known = C::Running;
        assert_eq!(next_transition(&t, 1, now, false), Next::Action(C::Pulled));
        t.containers[1].known = C::Pulled;
        assert_eq!(next_transition(&t, 1, now, false), Next::Action(C::Created));
        t.containers[1].applied = Some(C::Created);
        assert_eq!(next_transition(&t, 1, now, false), Next::InFlight);
    }

    #[test]
    fn success_dependency_that_fails_is_terminal() {
        let mut t = task(vec![
            c("init", false, &[]),
            c("app", true, &[("init", Condition::Success)]),
        ]);
        t.containers[1].known = C::ManifestPulled;
        t.containers[0].known = C::Stopped;
        t.containers[0].exit_code = Some(1);
        match next_transition(&t, 1, Utc::now(), false) {
            Next::Terminal(msg) => assert_eq!(
                msg,
                "dependency graph: failed to resolve container ordering dependency [init(init-img) (STOPPED->RUNNING) - Exit: 1] for target [app(app-img) (MANIFEST_PULLED->RUNNING)] as dependency did not exit successfully."
            ),
            other => panic!("{other:?}"),
        }
        t.containers[0].exit_code = Some(0);
        assert_eq!(
            next_transition(&t, 1, Utc::now(), false),
            Next::Action(C::Pulled)
        );
    }

    #[test]
    fn complete_and_healthy_conditions() {
        let mut hc = c("db", true, &[]);
        hc.health_check = true;
        let mut t = task(vec![
            hc,
            c("job", false, &[]),
            c(
                "app",
                true,
                &[("db", Condition::Healthy), ("job", Condition::Complete)],
            ),
        ]);
        t.containers[2].known = C::ManifestPulled;
        t.containers[0].known = C::Running;
        t.containers[1].known = C::Running;
        assert_eq!(next_transition(&t, 2, Utc::now(), false), Next::Blocked);
        t.containers[0].health = Health::Healthy;
        assert_eq!(next_transition(&t, 2, Utc::now(), false), Next::Blocked);
        t.containers[1].known = C::Stopped;
        t.containers[1].exit_code = Some(7);
        assert_eq!(
            next_transition(&t, 2, Utc::now(), false),
            Next::Action(C::Pulled)
        );
    }

    #[test]
    fn stopped_healthy_dependency_is_terminal() {
        let mut db = c("db", false, &[]);
        db.health_check = true;
        let mut t = task(vec![db, c("app", true, &[("db", Condition::Healthy)])]);
        t.containers[1].known = C::ManifestPulled;
        t.containers[0].known = C::Stopped;
        t.containers[0].exit_code = Some(0);
        assert!(matches!(
            next_transition(&t, 1, Utc::now(), false),
            Next::Terminal(m) if m.ends_with("as dependency stopped before becoming healthy.")
        ));
    }

    #[test]
    fn start_timeout_of_the_dependency() {
        let mut slow = c("db", true, &[]);
        slow.start_timeout = 10;
        let mut t = task(vec![slow, c("app", true, &[("db", Condition::Healthy)])]);
        t.spec.containers[0].health_check = true;
        t.containers[1].known = C::ManifestPulled;
        t.containers[0].known = C::Running;
        let now = Utc::now();
        t.containers[0].started_at = Some(now - chrono::Duration::seconds(5));
        assert_eq!(next_transition(&t, 1, now, false), Next::Blocked);
        t.containers[0].started_at = Some(now - chrono::Duration::seconds(11));
        assert!(
            matches!(next_transition(&t, 1, now, false), Next::Terminal(m) if m.ends_with("as dependency has timed out."))
        );
    }

    #[test]
    fn dependency_that_will_never_start() {
        let mut t = task(vec![
            c("db", true, &[]),
            c("app", true, &[("db", Condition::Success)]),
        ]);
        t.containers[1].known = C::ManifestPulled;
        t.containers[0].known = C::Pulled;
        t.containers[0].desired = C::Stopped;
        assert!(
            matches!(next_transition(&t, 1, Utc::now(), false), Next::Terminal(m) if m.ends_with("will never start."))
        );
    }

    #[test]
    fn stop_order_is_reversed() {
        let mut t = task(vec![
            c("db", true, &[]),
            c("app", true, &[("db", Condition::Start)]),
        ]);
        t.containers[0].known = C::Running;
        t.containers[1].known = C::Running;
        raise_task_desired(&mut t, TaskStatus::Stopped);
        assert_eq!(next_transition(&t, 0, Utc::now(), false), Next::Blocked);
        assert_eq!(
            next_transition(&t, 1, Utc::now(), false),
            Next::Action(C::Stopped)
        );
        t.containers[1].known = C::Stopped;
        assert_eq!(
            next_transition(&t, 0, Utc::now(), false),
            Next::Action(C::Stopped)
        );
    }

    #[test]
    fn never_started_container_stops_without_docker() {
        let mut t = task(vec![c("a", true, &[])]);
        t.containers[0].known = C::Created;
        raise_task_desired(&mut t, TaskStatus::Stopped);
        assert_eq!(
            next_transition(&t, 0, Utc::now(), false),
            Next::Immediate(C::Stopped)
        );
    }

    #[test]
    fn validation_rejects_cycles_unknown_and_impossible() {
        let ok = task(vec![
            c("a", true, &[]),
            c("b", true, &[("a", Condition::Start)]),
        ]);
        assert!(dependencies_resolvable(&ok));
        let cycle = task(vec![
            c("a", true, &[("b", Condition::Start)]),
            c("b", true, &[("a", Condition::Start)]),
        ]);
        assert!(!dependencies_resolvable(&cycle));
        let unknown = task(vec![c("a", true, &[("zz", Condition::Start)])]);
        assert!(!dependencies_resolvable(&unknown));
        let no_health = task(vec![
            c("a", true, &[]),
            c("b", true, &[("a", Condition::Healthy)]),
        ]);
        assert!(!dependencies_resolvable(&no_health));
    }

    #[test]
    fn reportability() {
        let mut t = task(vec![c("a", true, &[])]);
        t.containers[0].known = C::Created;
        assert!(!container_reportable(&t, 0));
        t.containers[0].known = C::Running;
        assert!(container_reportable(&t, 0));
        t.containers[0].reported = C::Running;
        assert!(!container_reportable(&t, 0));
        t.known = TaskStatus::Running;
        assert!(task_reportable(&t));
        t.reported = TaskStatus::Running;
        assert!(!task_reportable(&t));
    }
}
