//! The seven measurements. Each returns report sections; a failure in one is reported as
//! "not measured" with its reason, and the others still run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use bollard::Docker;
use bollard::models::ContainerCreateBody;
use serde_json::json;

use crate::control::{Control, epoch_now};
use crate::docker::{self, BASELINE_LABEL, CLUSTER_LABEL, EventLog, ms};
use crate::measure::{self, Summary, mib};
use crate::report::{Row, Section};
use crate::stack::{Binaries, Stack};
use crate::tmds;

pub const IMAGE: &str = "ecs-test/busybox:latest";
const SLEEP_FAMILY: &str = "bench-sleep";
const SHORT_FAMILY: &str = "bench-short";
const RUNNING_TIMEOUT: Duration = Duration::from_secs(300);

/// How big a run is.
#[derive(Debug, Clone)]
pub struct Plan {
    pub launch_sizes: Vec<usize>,
    pub churn_tasks: usize,
    /// Tasks launched one after another for the uncontended per-task split.
    pub sequential_tasks: usize,
    pub wrk_duration: Duration,
    pub wrk_connections: u32,
    /// Settling time before an idle memory reading.
    pub settle: Duration,
}

impl Plan {
    pub fn full() -> Plan {
        Plan {
            launch_sizes: vec![1, 10, 100],
            churn_tasks: 500,
            sequential_tasks: 10,
            wrk_duration: Duration::from_secs(10),
            wrk_connections: 64,
            settle: Duration::from_secs(3),
        }
    }

    pub fn tiny() -> Plan {
        Plan {
            launch_sizes: vec![1, 2],
            churn_tasks: 4,
            sequential_tasks: 2,
            wrk_duration: Duration::from_secs(1),
            wrk_connections: 4,
            settle: Duration::from_millis(300),
        }
    }
}

/// 7: sizes of the release binaries (the release profile strips them).
pub fn sizes(binaries: &Binaries) -> Section {
    let mut s = Section::new(
        "7. binary size",
        "none (the reference's Go binary is not on this machine)",
    );
    for (name, path) in [
        ("ecs-agent", &binaries.ecs_agent),
        ("ecs-local", &binaries.ecs_local),
    ] {
        let size = std::fs::metadata(path)
            .map(|m| m.len() as f64 / 1048576.0)
            .ok();
        s.rows
            .push(Row::new(name, "MiB", size).note(path.display().to_string()));
    }
    s
}

/// 1-5 on one stack: launch overhead at each size (with Docker event times for the
/// per-task split), then, with the largest batch still running, memory, metadata
/// throughput and restart recovery.
pub async fn launch_and_steady_state(
    binaries: &Binaries,
    docker: &Docker,
    plan: &Plan,
) -> Vec<Section> {
    let cluster = "bench-launch";
    let started = Instant::now();
    let mut stack = match Stack::start(binaries, cluster).await {
        Ok(stack) => stack,
        Err(e) => {
            return vec![Section::blocked(
                "1-5. launch, overhead, memory, metadata, restart",
                format!("{e:#}"),
            )];
        }
    };
    let cold_start_ms = ms(started.elapsed());
    let sections = match launch_inner(&mut stack, docker, plan, cold_start_ms).await {
        Ok(sections) => sections,
        Err(e) => vec![Section::blocked(
            "1-5. launch, overhead, memory, metadata, restart",
            format!("{e:#}{}", stack.log_tail("ecs-agent.log")),
        )],
    };
    stack.stop().await;
    let _ = docker::remove_labelled(docker, CLUSTER_LABEL, cluster).await;
    let _ = docker::remove_labelled(docker, BASELINE_LABEL, "true").await;
    sections
}

async fn launch_inner(
    stack: &mut Stack,
    docker: &Docker,
    plan: &Plan,
    cold_start_ms: f64,
) -> anyhow::Result<Vec<Section>> {
    let control = stack.control.clone();
    tokio::time::sleep(plan.settle).await;
    let idle_agent = stack.agent_pid().map(measure::memory).transpose()?;
    let idle_local = stack.local_pid().map(measure::memory).transpose()?;

    control
        .register(SLEEP_FAMILY, IMAGE, &["sleep", "3600"])
        .await?;
    let events = EventLog::record(docker, &control.cluster);
    // A first task warms the path and gives the container settings the baseline copies.
    let warm = control.run_tasks(SLEEP_FAMILY, 1).await?;
    let views = control.wait_for(&warm, "RUNNING", RUNNING_TIMEOUT).await?;
    let template_id = views[0]
        .runtime_id
        .clone()
        .context("no runtime id on the warm-up task")?;
    let template = docker::template(docker, &template_id).await?;
    stop_and_wait(&control, &warm).await?;

    let mut launch = Section::new(
        "1. launch: RunTask -> RUNNING recorded by ecs-local",
        "the same containers (settings copied from the agent's) created+started at once through the Docker API",
    );
    let mut overhead = Section::new(
        "2. per-task path (medians; ecs-local createdAt/startedAt and payload log times, Docker event times)",
        "Docker's own create / start call time in the baseline run",
    );
    let mut details = Vec::new();
    let mut running = Vec::new();

    // One task at a time: the per-task split without contention.
    let mut seq_base = Vec::new();
    let mut seq_views = Vec::new();
    for i in 0..plan.sequential_tasks {
        seq_base.extend(docker::launch(docker, &template, 1, &format!("seq{i}")).await?);
        docker::remove_labelled(docker, BASELINE_LABEL, "true").await?;
        let arns = control.run_tasks(SLEEP_FAMILY, 1).await?;
        seq_views.extend(control.wait_for(&arns, "RUNNING", RUNNING_TIMEOUT).await?);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seq_split = overhead_split(&seq_views, &events, &stack.payload_sent_times());
    split_rows(
        &mut overhead,
        &format!("{} one at a time:", plan.sequential_tasks),
        &seq_split,
        &seq_base,
    );
    let seq_arns: Vec<String> = seq_views.iter().map(|v| v.arn.clone()).collect();
    stop_and_wait(&control, &seq_arns).await?;
    details.push(json!({
        "sequential": plan.sequential_tasks,
        "baseline_create_call_ms": seq_base.iter().map(|l| l.create_call_ms).collect::<Vec<_>>(),
        "baseline_start_call_ms": seq_base.iter().map(|l| l.start_call_ms).collect::<Vec<_>>(),
        "split_ms": seq_split,
    }));

    let last = plan.launch_sizes.last().copied().unwrap_or(1);
    for &n in &plan.launch_sizes {
        let base = docker::launch(docker, &template, n, &format!("launch{n}")).await?;
        docker::remove_labelled(docker, BASELINE_LABEL, "true").await?;
        let base_started: Vec<f64> = base.iter().map(|l| l.started_ms).collect();
        let base_sum = Summary::of(&base_started).context("no baseline samples")?;

        let t0 = epoch_now();
        let arns = control.run_tasks(SLEEP_FAMILY, n).await?;
        let views = control.wait_for(&arns, "RUNNING", RUNNING_TIMEOUT).await?;
        let latencies: Vec<f64> = views
            .iter()
            .filter_map(|v| v.started_at.map(|s| (s - t0) * 1000.0))
            .collect();
        let ours = Summary::of(&latencies).context("no startedAt on RUNNING tasks")?;
        for (label, o, b) in [
            ("median", ours.median_ms, base_sum.median_ms),
            ("p95", ours.p95_ms, base_sum.p95_ms),
            ("max", ours.max_ms, base_sum.max_ms),
        ] {
            launch
                .rows
                .push(Row::new(format!("N={n} {label}"), "ms", Some(o)).baseline(Some(b)));
        }

        // Docker's event stream may deliver the last events just after RUNNING is seen.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let split = overhead_split(&views, &events, &stack.payload_sent_times());
        split_rows(&mut overhead, &format!("N={n} at once:"), &split, &base);
        details.push(json!({
            "n": n,
            "ours_ms": latencies,
            "baseline_started_ms": base_started,
            "baseline_create_call_ms": base.iter().map(|l| l.create_call_ms).collect::<Vec<_>>(),
            "baseline_start_call_ms": base.iter().map(|l| l.start_call_ms).collect::<Vec<_>>(),
            "split_ms": split,
        }));
        if n == last {
            running = arns;
        } else {
            stop_and_wait(&control, &arns).await?;
        }
    }
    launch.details = json!(details);

    let mut sections = vec![launch, overhead];
    let n = running.len();

    tokio::time::sleep(plan.settle).await;
    let busy_agent = stack.agent_pid().map(measure::memory).transpose()?;
    let busy_local = stack.local_pid().map(measure::memory).transpose()?;
    let mut memory = Section::new("3. memory (VmRSS / VmHWM)", "design targets in the notes");
    for (who, label, m, target) in [
        ("agent", "idle", idle_agent, "target < 10 MiB"),
        (
            "agent",
            &*format!("{n} tasks running"),
            busy_agent,
            "target < 20 MiB",
        ),
        ("ecs-local", "idle", idle_local, ""),
        ("ecs-local", &*format!("{n} tasks running"), busy_local, ""),
    ] {
        memory.rows.push(
            Row::new(
                format!("{who} VmRSS {label}"),
                "MiB",
                m.map(|m| mib(m.rss_kib)),
            )
            .note(target),
        );
        memory.rows.push(Row::new(
            format!("{who} VmHWM {label}"),
            "MiB",
            m.map(|m| mib(m.hwm_kib)),
        ));
        memory.rows.push(
            Row::new(
                format!("{who} RssAnon {label}"),
                "MiB",
                m.map(|m| mib(m.anon_kib)),
            )
            .note("VmRSS without the binary's own shared pages"),
        );
    }

    sections.push(
        match metadata_throughput(docker, &control, &running, plan).await {
            Ok(s) => s,
            Err(e) => Section::blocked("4. task metadata v4 throughput", format!("{e:#}")),
        },
    );

    let restart = restart_recovery(stack, docker, &control, &running, cold_start_ms).await;
    let after = stack.agent_pid().map(measure::memory).transpose()?;
    memory.rows.push(
        Row::new(
            format!("agent VmHWM after restart with {n} tasks"),
            "MiB",
            after.map(|m| mib(m.hwm_kib)),
        )
        .note("a fresh process that reconciled them"),
    );
    sections.insert(2, memory);
    sections.push(match restart {
        Ok(s) => s,
        Err(e) => Section::blocked(
            "5. restart recovery",
            format!("{e:#}{}", stack.log_tail("ecs-agent.log")),
        ),
    });
    if let Err(e) = stop_and_wait(&control, &running).await {
        eprintln!("stopping the remaining tasks: {e:#}");
    }
    Ok(sections)
}

/// The split's rows: medians of each step, and of the time beyond Docker's own calls
/// (each task's steps minus the baseline's median create and start call times).
fn split_rows(section: &mut Section, label: &str, split: &[Split], base: &[docker::Launched]) {
    let create_call = median(base.iter().map(|l| l.create_call_ms));
    let start_call = median(base.iter().map(|l| l.start_call_ms));
    let agent_side = median(split.iter().map(|s| s.sent_to_created)) - create_call
        + (median(split.iter().map(|s| s.created_to_started)) - start_call).max(0.0)
        + median(split.iter().map(|s| s.started_to_running));
    let rows = [
        (
            "ecs-local placed -> ACS payload sent",
            median(split.iter().map(|s| s.placed_to_sent)),
            None,
            "ecs-local: store write, then the ACS frame",
        ),
        (
            "payload sent -> Docker create done",
            median(split.iter().map(|s| s.sent_to_created)),
            Some(create_call),
            "agent: receipt, persist, ack, engine; then Docker create",
        ),
        (
            "create done -> start done",
            median(split.iter().map(|s| s.created_to_started)),
            Some(start_call),
            "mostly Docker's start",
        ),
        (
            "start done -> RUNNING recorded",
            median(split.iter().map(|s| s.started_to_running)),
            None,
            "agent event, outbox, SubmitTaskStateChange; ecs-local store write",
        ),
        (
            "agent's share beyond Docker's calls",
            agent_side,
            None,
            "sum of medians minus the baseline's create/start; target < 5 ms",
        ),
    ];
    // Under contention each median comes from a different task, so their sum says
    // nothing; the agent's share is only meaningful one task at a time.
    let rows = if label.contains("one at a time") {
        &rows[..]
    } else {
        &rows[..4]
    };
    for &(name, ours, baseline, note) in rows {
        section.rows.push(
            Row::new(format!("{label} {name}"), "ms", Some(ours))
                .baseline(baseline)
                .note(note),
        );
    }
}

/// Per task, in ms: placed -> Docker create event, create -> start event, start event ->
/// RUNNING recorded.
fn overhead_split(
    views: &[crate::control::TaskView],
    events: &EventLog,
    sent: &HashMap<String, f64>,
) -> Vec<Split> {
    views
        .iter()
        .filter_map(|v| {
            let (create, start) = events.get(&v.arn);
            let (placed, running) = (v.created_at?, v.started_at?);
            let (create, start) = (create?, start?);
            let sent = sent.get(&v.arn).copied()?;
            Some(Split {
                placed_to_sent: (sent - placed) * 1000.0,
                sent_to_created: (create - sent) * 1000.0,
                created_to_started: (start - create) * 1000.0,
                started_to_running: (running - start) * 1000.0,
            })
        })
        .collect()
}

/// One task's path in ms: ecs-local placed it -> ecs-local sent the ACS payload ->
/// Docker finished creating the container -> Docker finished starting it -> ecs-local
/// recorded RUNNING.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Split {
    placed_to_sent: f64,
    sent_to_created: f64,
    created_to_started: f64,
    started_to_running: f64,
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    Summary::of(&v).map(|s| s.median_ms).unwrap_or(f64::NAN)
}

async fn stop_and_wait(control: &Control, arns: &[String]) -> anyhow::Result<()> {
    control.stop_all(arns).await?;
    control.wait_for(arns, "STOPPED", RUNNING_TIMEOUT).await?;
    Ok(())
}

/// 4: wrk on the v4 task endpoint of one running task, then on a static server that
/// returns the same bytes.
async fn metadata_throughput(
    docker: &Docker,
    control: &Control,
    running: &[String],
    plan: &Plan,
) -> anyhow::Result<Section> {
    if !tmds::wrk_available() {
        anyhow::bail!("wrk is not installed (scripts/bench installs it with apt-get)");
    }
    let arn = running.first().context("no running task")?;
    let views = control.describe(std::slice::from_ref(arn)).await?;
    let id = views
        .first()
        .and_then(|v| v.runtime_id.clone())
        .context("no runtime id")?;
    let path = format!("{}/task", tmds::v4_path(docker, &id).await?);
    let (status, body) = tmds::get_once(tmds::TASK_SERVER, &path).await?;
    if status != 200 {
        anyhow::bail!(
            "GET {path} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let ours = tmds::wrk(
        &format!("http://{}{path}", tmds::TASK_SERVER),
        plan.wrk_connections,
        plan.wrk_duration,
    )
    .await?;
    let addr = tmds::serve_static(body.clone()).await?;
    let base = tmds::wrk(
        &format!("http://{addr}{path}"),
        plan.wrk_connections,
        plan.wrk_duration,
    )
    .await?;
    let mut s = Section::new(
        "4. task metadata v4 /task throughput (wrk -t2, rate limit off)",
        "a minimal axum server returning the same body, same wrk settings",
    );
    s.rows.push(
        Row::new("requests/s", "req/s", Some(ours.requests_per_s))
            .baseline(Some(base.requests_per_s))
            .note(format!(
                "target > 20000; {} connections, {} B body",
                plan.wrk_connections,
                body.len()
            )),
    );
    s.rows
        .push(Row::new("p50 latency", "ms", Some(ours.p50_ms)).baseline(Some(base.p50_ms)));
    s.rows
        .push(Row::new("p99 latency", "ms", Some(ours.p99_ms)).baseline(Some(base.p99_ms)));
    s.rows.push(
        Row::new("non-2xx responses", "count", Some(ours.non_2xx as f64))
            .baseline(Some(base.non_2xx as f64)),
    );
    s.details = json!({ "ours": ours, "baseline": base, "path": path });
    Ok(s)
}

/// 5: kill -9 with the tasks running, restart on the same state, time until ecs-local
/// sees the ACS connection again (the agent connects only after reconciling) and the
/// introspection endpoint lists every task RUNNING.
async fn restart_recovery(
    stack: &mut Stack,
    docker: &Docker,
    control: &Control,
    running: &[String],
    cold_start_ms: f64,
) -> anyhow::Result<Section> {
    let n = running.len();
    let cluster = control.cluster.clone();
    let before = docker::count_running(docker, CLUSTER_LABEL, &cluster).await?;
    // What reconciling has to ask Docker, done directly: list and inspect each container.
    let t = Instant::now();
    let views = control.describe(running).await?;
    let ids: Vec<String> = views.iter().filter_map(|v| v.runtime_id.clone()).collect();
    let inspects = ids.iter().map(|id| docker.inspect_container(id, None));
    for r in futures::future::join_all(inspects).await {
        r?;
    }
    let inspect_ms = ms(t.elapsed());

    stack.kill_agent().await?;
    stack.wait_connected(false, Duration::from_secs(10)).await?;
    let t = Instant::now();
    stack.start_agent().await?;
    stack.wait_connected(true, Duration::from_secs(60)).await?;
    let connected_ms = ms(t.elapsed());
    let listed_ms = loop {
        if let Ok(count) = introspection_running().await
            && count >= n
        {
            break ms(t.elapsed());
        }
        if t.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("the restarted agent does not list {n} running tasks");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let after = docker::count_running(docker, CLUSTER_LABEL, &cluster).await?;
    let still = control.describe(running).await?;
    let still_running = still.iter().filter(|v| v.last_status == "RUNNING").count();

    let mut s = Section::new(
        &format!("5. restart recovery: kill -9 with {n} tasks running, restart"),
        "cold start of the agent with no tasks (fresh registration); Docker list+inspect of the containers",
    );
    s.rows.push(
        Row::new(
            "restart -> ACS connected (reconciled)",
            "ms",
            Some(connected_ms),
        )
        .baseline(Some(cold_start_ms))
        .note("target < 1000 ms; baseline = cold start of ecs-local+agent"),
    );
    s.rows.push(Row::new(
        "restart -> introspection lists all RUNNING",
        "ms",
        Some(listed_ms),
    ));
    s.rows.push(
        Row::new(
            format!("Docker inspect of {n} containers"),
            "ms",
            Some(inspect_ms),
        )
        .note("the physical part of reconciling"),
    );
    s.rows.push(
        Row::new(
            "containers running before / after",
            "count",
            Some(after as f64),
        )
        .baseline(Some(before as f64))
        .note(format!(
            "{still_running} of {n} tasks still RUNNING in ecs-local"
        )),
    );
    Ok(s)
}

/// How many tasks the agent's introspection endpoint lists as RUNNING.
async fn introspection_running() -> anyhow::Result<usize> {
    let (status, body) = tmds::get_once("127.0.0.1:51678", "/v1/tasks").await?;
    anyhow::ensure!(status == 200, "introspection answered {status}");
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["Tasks"]
        .as_array()
        .map(|t| t.iter().filter(|t| t["KnownStatus"] == "RUNNING").count())
        .unwrap_or(0))
}

/// 6: many short tasks through the agent at once; tasks/s and CPU seconds, against the
/// same containers created, started and waited for through the Docker API.
pub async fn churn(binaries: &Binaries, docker: &Docker, plan: &Plan) -> Section {
    let cluster = "bench-churn";
    let mut stack = match Stack::start(binaries, cluster).await {
        Ok(stack) => stack,
        Err(e) => return Section::blocked("6. churn", format!("{e:#}")),
    };
    let section = match churn_inner(&mut stack, docker, plan).await {
        Ok(s) => s,
        Err(e) => Section::blocked(
            "6. churn",
            format!("{e:#}{}", stack.log_tail("ecs-agent.log")),
        ),
    };
    stack.stop().await;
    let _ = docker::remove_labelled(docker, CLUSTER_LABEL, cluster).await;
    let _ = docker::remove_labelled(docker, BASELINE_LABEL, "true").await;
    section
}

async fn churn_inner(stack: &mut Stack, docker: &Docker, plan: &Plan) -> anyhow::Result<Section> {
    let control = stack.control.clone();
    let n = plan.churn_tasks;
    control.register(SHORT_FAMILY, IMAGE, &["true"]).await?;
    let warm = control.run_tasks(SHORT_FAMILY, 1).await?;
    let views = control.wait_for(&warm, "STOPPED", RUNNING_TIMEOUT).await?;
    let id = views[0]
        .runtime_id
        .clone()
        .context("no runtime id on the warm-up task")?;
    let template: ContainerCreateBody = docker::template(docker, &id).await?;
    let dockerd = measure::find_process("dockerd");
    let dockerd_cpu = || dockerd.and_then(|p| measure::cpu_seconds(p).ok());

    let d0 = dockerd_cpu();
    let base_s = docker::churn(docker, &template, n).await?;
    let base_dockerd = d0.zip(dockerd_cpu()).map(|(a, b)| b - a);
    docker::remove_labelled(docker, BASELINE_LABEL, "true").await?;

    let agent = stack.agent_pid().context("no agent")?;
    let local = stack.local_pid().context("no ecs-local")?;
    let (a0, l0, d0) = (
        measure::cpu_seconds(agent)?,
        measure::cpu_seconds(local)?,
        dockerd_cpu(),
    );
    let t0 = epoch_now();
    let arns = control.run_tasks(SHORT_FAMILY, n).await?;
    let (views, stuck) = wait_stopped_or_stalled(&control, &arns).await?;
    let last = views.iter().filter_map(|v| v.stopped_at).fold(t0, f64::max);
    let ours_s = last - t0;
    let agent_cpu = measure::cpu_seconds(agent)? - a0;
    let local_cpu = measure::cpu_seconds(local)? - l0;
    let ours_dockerd = d0.zip(dockerd_cpu()).map(|(a, b)| b - a);
    let failed = views
        .iter()
        .filter(|v| {
            v.stopped_reason
                .as_deref()
                .is_some_and(|r| !r.contains("Essential container"))
        })
        .count();
    let mem = measure::memory(agent)?;

    let mut s = Section::new(
        &format!("6. churn: {n} short tasks (`true`) placed at once, until all STOPPED"),
        "the same containers created, started and waited for through the Docker API at once",
    );
    s.rows
        .push(Row::new("elapsed", "s", Some(ours_s)).baseline(Some(base_s)));
    s.rows.push(
        Row::new("throughput", "tasks/s", Some(n as f64 / ours_s))
            .baseline(Some(n as f64 / base_s)),
    );
    s.rows.push(
        Row::new("agent CPU", "s", Some(agent_cpu))
            .note(format!("{:.2} ms per task", agent_cpu * 1000.0 / n as f64)),
    );
    s.rows.push(Row::new("ecs-local CPU", "s", Some(local_cpu)));
    s.rows
        .push(Row::new("dockerd CPU", "s", ours_dockerd).baseline(base_dockerd));
    s.rows.push(
        Row::new("agent VmRSS / VmHWM after", "MiB", Some(mib(mem.rss_kib))).note(format!(
            "HWM {:.1} MiB, RssAnon {:.1} MiB",
            mib(mem.hwm_kib),
            mib(mem.anon_kib)
        )),
    );
    s.rows.push(
        Row::new(
            "tasks never reported STOPPED",
            "count",
            Some(stuck.len() as f64),
        )
        .note(if stuck.is_empty() {
            String::new()
        } else {
            format!("no progress for {STALL:?}; e.g. {}", stuck[0])
        }),
    );
    s.details = json!({ "stuck": stuck });
    s.rows.push(Row::new(
        "tasks stopped for another reason",
        "count",
        Some(failed as f64),
    ));
    Ok(s)
}

/// How long churn waits without any task newly STOPPED before it counts the rest as stuck.
const STALL: Duration = Duration::from_secs(30);

/// Waits until every task is STOPPED, or until none has stopped for [`STALL`]; the
/// views and the tasks that never stopped.
async fn wait_stopped_or_stalled(
    control: &Control,
    arns: &[String],
) -> anyhow::Result<(Vec<crate::control::TaskView>, Vec<String>)> {
    let mut last_progress = Instant::now();
    let mut stopped = 0;
    loop {
        let views = control.describe(arns).await?;
        let now = views.iter().filter(|v| v.last_status == "STOPPED").count();
        if now == arns.len() {
            return Ok((views, Vec::new()));
        }
        if now > stopped {
            stopped = now;
            last_progress = Instant::now();
        }
        if last_progress.elapsed() > STALL {
            let stuck = views
                .iter()
                .filter(|v| v.last_status != "STOPPED")
                .map(|v| v.arn.clone())
                .collect();
            return Ok((views, stuck));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 4 alone, `repeat` times in a row on one stack with the largest launch size running
/// (the same conditions as in the full run): the spread of the metadata throughput.
pub async fn metadata_only(
    binaries: &Binaries,
    docker: &Docker,
    plan: &Plan,
    repeat: usize,
) -> Vec<Section> {
    let cluster = "bench-metadata";
    let name = "4. task metadata v4 throughput";
    let stack = match Stack::start(binaries, cluster).await {
        Ok(stack) => stack,
        Err(e) => return vec![Section::blocked(name, format!("{e:#}"))],
    };
    let sections = match metadata_only_inner(&stack, docker, plan, repeat).await {
        Ok(sections) => sections,
        Err(e) => vec![Section::blocked(
            name,
            format!("{e:#}{}", stack.log_tail("ecs-agent.log")),
        )],
    };
    stack.stop().await;
    let _ = docker::remove_labelled(docker, CLUSTER_LABEL, cluster).await;
    sections
}

async fn metadata_only_inner(
    stack: &Stack,
    docker: &Docker,
    plan: &Plan,
    repeat: usize,
) -> anyhow::Result<Vec<Section>> {
    let control = stack.control.clone();
    let n = plan.launch_sizes.last().copied().unwrap_or(1);
    control
        .register(SLEEP_FAMILY, IMAGE, &["sleep", "3600"])
        .await?;
    let running = control.run_tasks(SLEEP_FAMILY, n).await?;
    control
        .wait_for(&running, "RUNNING", RUNNING_TIMEOUT)
        .await?;
    tokio::time::sleep(plan.settle).await;
    let mut sections = Vec::new();
    for i in 1..=repeat.max(1) {
        let mut s = metadata_throughput(docker, &control, &running, plan).await?;
        s.name = format!("{} [{n} tasks running; run {i} of {repeat}]", s.name);
        sections.push(s);
    }
    stop_and_wait(&control, &running).await?;
    Ok(sections)
}

/// 8: the agent's memory once many short tasks ran and were cleaned up (cleanup wait
/// 1 s), against the same agent's idle memory before them: what per-task state outlives
/// its task.
pub async fn churn_cleanup(binaries: &Binaries, docker: &Docker, plan: &Plan) -> Section {
    let cluster = "bench-cleanup";
    let name = "8. memory after churned tasks and their cleanup";
    let env = [("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "1s")];
    let stack = match Stack::start_with(binaries, cluster, &env).await {
        Ok(stack) => stack,
        Err(e) => return Section::blocked(name, format!("{e:#}")),
    };
    let section = match churn_cleanup_inner(&stack, plan).await {
        Ok(s) => s,
        Err(e) => Section::blocked(name, format!("{e:#}{}", stack.log_tail("ecs-agent.log"))),
    };
    stack.stop().await;
    let _ = docker::remove_labelled(docker, CLUSTER_LABEL, cluster).await;
    section
}

/// How long the agent may take to clean up every stopped task once the last stopped.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(120);

async fn churn_cleanup_inner(stack: &Stack, plan: &Plan) -> anyhow::Result<Section> {
    let control = stack.control.clone();
    let n = plan.churn_tasks;
    let agent = stack.agent_pid().context("no agent")?;
    control.register(SHORT_FAMILY, IMAGE, &["true"]).await?;
    // One task first, so that what the first task allocates once (image state, clients,
    // pools) is in the baseline too.
    let warm = control.run_tasks(SHORT_FAMILY, 1).await?;
    control.wait_for(&warm, "STOPPED", RUNNING_TIMEOUT).await?;
    wait_cleaned_up().await?;
    tokio::time::sleep(plan.settle).await;
    let before = measure::memory(agent)?;

    let arns = control.run_tasks(SHORT_FAMILY, n).await?;
    let (_, stuck) = wait_stopped_or_stalled(&control, &arns).await?;
    let cleanup = Instant::now();
    let left = wait_cleaned_up().await?;
    let cleanup_s = cleanup.elapsed().as_secs_f64();
    tokio::time::sleep(plan.settle).await;
    let soon = measure::memory(agent)?;
    // Tokio's blocking threads (store writes) idle out after 10 s.
    tokio::time::sleep(plan.settle.max(Duration::from_secs(12))).await;
    let after = measure::memory(agent)?;

    let mut s = Section::new(
        &format!(
            "{} ({n} short tasks, cleanup wait 1 s)",
            "8. memory after churned tasks and their cleanup"
        ),
        "the same agent after one task and its cleanup, before the churn",
    );
    s.rows.push(
        Row::new("agent RssAnon", "MiB", Some(mib(after.anon_kib)))
            .baseline(Some(mib(before.anon_kib)))
            .note(format!(
                "what the process allocated, 12 s after the cleanup ({:.1} MiB {:?} after it)",
                mib(soon.anon_kib),
                plan.settle
            )),
    );
    s.rows.push(
        Row::new("agent threads", "count", Some(after.threads as f64))
            .baseline(Some(before.threads as f64))
            .note(format!(
                "{} {:?} after the cleanup",
                soon.threads, plan.settle
            )),
    );
    s.rows.push(
        Row::new("agent VmRSS", "MiB", Some(mib(after.rss_kib)))
            .baseline(Some(mib(before.rss_kib)))
            .note(format!("VmHWM {:.1} MiB", mib(after.hwm_kib))),
    );
    s.rows.push(
        Row::new("last STOPPED -> all cleaned up", "s", Some(cleanup_s))
            .note("cleanup wait 1 s; introspection lists no task"),
    );
    s.rows.push(Row::new(
        "tasks still listed after the cleanup",
        "count",
        Some(left as f64),
    ));
    s.rows.push(Row::new(
        "tasks never reported STOPPED",
        "count",
        Some(stuck.len() as f64),
    ));
    Ok(s)
}

/// Waits until introspection lists no task, or [`CLEANUP_TIMEOUT`]; how many are left.
async fn wait_cleaned_up() -> anyhow::Result<usize> {
    let t = Instant::now();
    loop {
        let listed = introspection_count().await?;
        if listed == 0 || t.elapsed() > CLEANUP_TIMEOUT {
            return Ok(listed);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many tasks the agent's introspection endpoint lists, whatever their status.
async fn introspection_count() -> anyhow::Result<usize> {
    let (status, body) = tmds::get_once("127.0.0.1:51678", "/v1/tasks").await?;
    anyhow::ensure!(status == 200, "introspection answered {status}");
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["Tasks"].as_array().map_or(0, Vec::len))
}
