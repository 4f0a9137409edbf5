//! Engine lifecycle on the real Docker engine: links, dynamic host ports, the Docker
//! mapping visible in inspect, essential exits, stop timeouts.

mod engine_support;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use ecs_types::{ContainerStatus, TaskStatus};
use engine_support::*;
use serde_json::json;

#[tokio::test]
async fn linked_task_with_dynamic_port_runs_and_stops() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();

    let mut web = container("web", true, "exec nc -ll -p 80 -e echo hi");
    web["portMappings"] = json!([{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]);
    let mut client = container(
        "client",
        false,
        "for i in $(seq 100); do if nc websrv 80 </dev/null | grep -q hi; then exit 0; fi; sleep 0.2; done; exit 1",
    );
    client["links"] = json!(["web:websrv"]);
    add_task(&engine, &arn, vec![web, client]).await;

    let running = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Running, LONG).await;
    let web_state = container_in(&running, "web");
    assert!(web_state.runtime_id.is_some());
    let binding = web_state
        .network_bindings
        .iter()
        .find(|b| b.container_port == 80 && b.bind_ip == "0.0.0.0")
        .expect("port binding for 80/tcp");
    let (lo, hi) = ecs_agent::engine::config::default_dynamic_port_range();
    assert!((lo..=hi).contains(&binding.host_port), "{binding:?}");

    // The bound host port answers.
    let every = Duration::from_millis(100);
    let what = "an answer on the bound host port";
    let answer = ecs_test_support::wait_for(what, Duration::from_secs(30), every, async || {
        let mut answer = String::new();
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", binding.host_port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let _ = stream.read_to_string(&mut answer);
        }
        if answer.contains("hi") {
            Ok(answer)
        } else {
            Err(Some(format!("{answer:?}")))
        }
    })
    .await
    .unwrap();
    assert_eq!(answer.trim(), "hi");

    // The linked client reached the server through the link alias and exited 0;
    // it is not essential, so the task keeps running.
    wait_for(&mut rx, &mut seen, LONG, "client stopped", |c| {
        matches!(c, ecs_agent::engine::StateChange::Container(cc)
            if cc.container_name == "client" && cc.status == ContainerStatus::Stopped)
    })
    .await;
    assert_eq!(stopped(&seen, &arn, "client").unwrap().exit_code, Some(0));
    let snap = engine.task(&arn).unwrap();
    assert_eq!(snap.known, TaskStatus::Running);

    assert!(engine.set_desired_status(&arn, TaskStatus::Stopped));
    let done = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    assert!(done.execution_stopped_at.is_some());
    let web_stop = stopped(&seen, &arn, "web").unwrap();
    assert!(web_stop.exit_code.is_some());
    engine.shutdown().await;
}

#[tokio::test]
async fn docker_mapping_is_visible_in_inspect() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let cfg = ecs_agent::engine::EngineConfig {
        region: Some("eu-west-1".to_owned()),
        ..config()
    };
    let (engine, mut rx) = engine_with(cfg, None).await;
    let mut seen = Vec::new();

    let mut app = container("app", true, "exec sleep 3600");
    app["cpu"] = json!(300);
    app["memory"] = json!(64);
    app["environment"] = json!({"GREETING": "hello"});
    app["dockerConfig"] = json!({
        "config": "{\"Labels\":{\"team\":\"x\"},\"WorkingDir\":\"/tmp\",\"User\":\"nobody\"}",
        "hostConfig": "{\"NetworkMode\":\"bridge\",\"MemoryReservation\":33554432,\"CapAdd\":[\"NET_ADMIN\"],\"CapDrop\":[],\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":1024,\"Hard\":2048}],\"ReadonlyRootfs\":true,\"Init\":true,\"Tmpfs\":{\"/scratch\":\"rw,size=1m\"},\"Dns\":[\"10.1.2.3\"],\"ExtraHosts\":[\"db.local:10.0.0.5\"],\"Sysctls\":{\"net.core.somaxconn\":\"512\"}}",
        "version": "1.17"
    });
    let mut t = task_json(&arn, vec![app]);
    t["roleCredentials"] =
        json!({"credentialsId": "cred-123", "accessKeyId": "a", "secretAccessKey": "b"});
    t["cpu"] = json!(0.5);
    t["memory"] = json!(128);
    engine.add_task(task(t)).await.unwrap();
    let running = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Running, LONG).await;
    let id = running.containers[0].runtime_id.clone().unwrap();

    let info = inspect(&id);
    let name = info["Name"].as_str().unwrap().trim_start_matches('/');
    let suffix = name.strip_prefix("ecs-enginetest-1-app-").expect(name);
    assert_eq!(suffix.len(), 20);
    let labels = &info["Config"]["Labels"];
    assert_eq!(labels["com.amazonaws.ecs.task-arn"], arn.as_str());
    assert_eq!(labels["com.amazonaws.ecs.container-name"], "app");
    assert_eq!(
        labels["com.amazonaws.ecs.task-definition-family"],
        "enginetest"
    );
    assert_eq!(labels["com.amazonaws.ecs.task-definition-version"], "1");
    assert_eq!(labels["com.amazonaws.ecs.cluster"], "enginetest");
    assert_eq!(labels["team"], "x");
    let env: Vec<String> = info["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(env.contains(&"GREETING=hello".to_owned()));
    assert!(
        env.contains(&"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/cred-123".to_owned())
    );
    assert!(env.contains(&"AWS_REGION=eu-west-1".to_owned()));
    assert!(env.contains(&"AWS_DEFAULT_REGION=eu-west-1".to_owned()));
    for key in [
        "ECS_CONTAINER_METADATA_URI=http://169.254.170.2/v3/",
        "ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/",
        "ECS_AGENT_URI=http://169.254.170.2/api/",
    ] {
        assert!(env.iter().any(|e| e.starts_with(key)), "{key} in {env:?}");
    }
    assert_eq!(info["Config"]["WorkingDir"], "/tmp");
    assert_eq!(info["Config"]["User"], "nobody");
    let hc = &info["HostConfig"];
    assert_eq!(hc["CpuShares"], 300);
    assert_eq!(hc["Memory"], 64 * 1024 * 1024);
    assert_eq!(hc["MemoryReservation"], 32 * 1024 * 1024);
    assert_eq!(hc["CapAdd"], json!(["NET_ADMIN"]));
    assert_eq!(
        hc["Ulimits"],
        json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
    );
    assert_eq!(hc["ReadonlyRootfs"], true);
    assert_eq!(hc["Init"], true);
    assert_eq!(hc["Tmpfs"]["/scratch"], "rw,size=1m");
    assert_eq!(hc["Dns"], json!(["10.1.2.3"]));
    assert_eq!(hc["ExtraHosts"], json!(["db.local:10.0.0.5"]));
    assert_eq!(hc["Sysctls"]["net.core.somaxconn"], "512");
    assert_eq!(hc["NetworkMode"], "bridge");

    // Task-level limits on the task cgroup (cgroup v1, cgroupfs driver).
    let task_id = arn.rsplit('/').next().unwrap();
    let parent = format!("/ecs/{task_id}");
    if std::path::Path::new("/sys/fs/cgroup/cpu").is_dir() && hc["CgroupParent"] == parent.as_str()
    {
        let quota =
            std::fs::read_to_string(format!("/sys/fs/cgroup/cpu/ecs/{task_id}/cpu.cfs_quota_us"))
                .unwrap();
        assert_eq!(quota.trim(), "50000");
        let mem = std::fs::read_to_string(format!(
            "/sys/fs/cgroup/memory/ecs/{task_id}/memory.limit_in_bytes"
        ))
        .unwrap();
        assert_eq!(mem.trim(), (128 * 1024 * 1024).to_string());
    }

    engine.set_desired_status(&arn, TaskStatus::Stopped);
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    engine.shutdown().await;
}

#[tokio::test]
async fn essential_exit_stops_the_task_with_its_exit_code() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();
    let side = container("side", false, "exec sleep 3600");
    let main = container("main", true, "sleep 1; exit 3");
    add_task(&engine, &arn, vec![side, main]).await;
    let done = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    let main = container_in(&done, "main");
    assert_eq!(main.exit_code, Some(3));
    assert_eq!(main.status, ContainerStatus::Stopped);
    assert!(done.execution_stopped_at.is_some());
    // The agent sends no task reason for an essential exit (the backend derives it).
    assert_eq!(done.reason, None);
    let side = container_in(&done, "side");
    assert_eq!(side.status, ContainerStatus::Stopped);
    // Each container's STOPPED was reported exactly once.
    assert_eq!(
        container_changes(&seen, &arn, "main")
            .filter(|c| c.status == ContainerStatus::Stopped)
            .count(),
        1
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn container_ignoring_sigterm_is_killed_after_its_stop_timeout() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();
    let mut stubborn = container(
        "stubborn",
        true,
        "trap '' TERM; while true; do sleep 0.1; done",
    );
    stubborn["stopTimeout"] = json!(3);
    add_task(&engine, &arn, vec![stubborn]).await;
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Running, LONG).await;
    let asked = std::time::Instant::now();
    engine.set_desired_status(&arn, TaskStatus::Stopped);
    let done = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    let waited = asked.elapsed();
    assert!(waited >= Duration::from_secs(3), "stopped after {waited:?}");
    assert_eq!(done.containers[0].exit_code, Some(137));
    engine.shutdown().await;
}

#[tokio::test]
async fn cleanup_removes_containers_after_the_wait() {
    let arn = unique_arn();
    let cfg = ecs_agent::engine::EngineConfig {
        task_cleanup_wait: Duration::from_secs(1),
        ..config()
    };
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(cfg, None).await;
    let mut seen = Vec::new();
    let mut t = task_json(&arn, vec![container("once", true, "exit 0")]);
    t["volumes"] = json!([{"name": "scratch", "host": {}}]);
    t["containers"][0]["mountPoints"] =
        json!([{"sourceVolume": "scratch", "containerPath": "/scratch"}]);
    engine.add_task(task(t)).await.unwrap();
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    let volume = match &engine.task(&arn).unwrap().spec.volumes[0].kind {
        ecs_agent::engine::model::VolumeKind::Docker { docker_name, .. } => docker_name.clone(),
        other => panic!("{other:?}"),
    };
    // Bounded wait for the cleanup: the task leaves the engine, containers and the
    // task-scoped volume leave Docker.
    let every = Duration::from_millis(100);
    ecs_test_support::wait_until("the task's cleanup", LONG, every, async || {
        engine.task(&arn).is_none()
    })
    .await
    .unwrap();
    assert!(task_container_ids(&arn).is_empty());
    assert!(
        ecs_test_support::docker::inspect_volume(&volume).is_none(),
        "task volume {volume} survived cleanup"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn container_metadata_bind_and_variable_when_enabled() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = ecs_agent::engine::EngineConfig {
        container_metadata_enabled: true,
        host_data_dir: dir.path().to_path_buf(),
        ..config()
    };
    let (engine, mut rx) = engine_with(cfg, None).await;
    let mut seen = Vec::new();
    add_task(&engine, &arn, vec![container("m", true, "exec sleep 3600")]).await;
    // CREATED goes on the stream (for the metadata file writer) before RUNNING.
    wait_for(&mut rx, &mut seen, LONG, "m created", |c| {
        matches!(c, ecs_agent::engine::StateChange::Container(cc)
            if cc.container_name == "m" && cc.status == ContainerStatus::Created)
    })
    .await;
    let running = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Running, LONG).await;
    let info = inspect(running.containers[0].runtime_id.as_deref().unwrap());
    let env = info["Config"]["Env"].to_string();
    let var = env
        .split('"')
        .find(|e| e.starts_with("ECS_CONTAINER_METADATA_FILE="))
        .expect("metadata file variable");
    let inside = var
        .trim_start_matches("ECS_CONTAINER_METADATA_FILE=")
        .trim_end_matches("/ecs-container-metadata.json");
    assert!(inside.starts_with("/opt/ecs/metadata/"));
    let task_part = arn.split_once(":task/").unwrap().1;
    let host = dir.path().join("data/metadata").join(task_part).join("m");
    let bind = format!("{}:{inside}", host.display());
    assert!(
        info["HostConfig"]["Binds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b.as_str() == Some(bind.as_str())),
        "{bind} not in {}",
        info["HostConfig"]["Binds"]
    );
    engine.set_desired_status(&arn, TaskStatus::Stopped);
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    engine.shutdown().await;
}

#[tokio::test]
async fn restart_policy_restarts_in_place_until_an_ignored_exit() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();
    // First run exits 2 (restarted), the second run exits 0 (ignored: reported).
    let mut c = container(
        "flaky",
        true,
        "if [ -f /tmp/ran ]; then exit 0; fi; touch /tmp/ran; sleep 1.5; exit 2",
    );
    c["restartPolicy"] =
        json!({"enabled": true, "ignoredExitCodes": [0], "restartAttemptPeriod": 1});
    add_task(&engine, &arn, vec![c]).await;
    let done = wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    assert_eq!(done.containers[0].exit_code, Some(0));
    let stops = container_changes(&seen, &arn, "flaky")
        .filter(|c| c.status == ContainerStatus::Stopped)
        .count();
    assert_eq!(stops, 1, "the restarted exit is not reported");
    let snap = engine.task(&arn).unwrap();
    assert_eq!(snap.containers[0].restart_count, 1);
    // Same container all along.
    assert_eq!(task_container_ids(&arn).len(), 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn acs_resend_with_desired_stopped_stops_a_known_task() {
    let arn = unique_arn();
    let _guard = Cleanup(vec![arn.clone()]);
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();
    let value = task_json(&arn, vec![container("c", true, "exec sleep 3600")]);
    engine.add_task(task(value.clone())).await.unwrap();
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Running, LONG).await;
    // A repeat of RUNNING is ignored; no second container appears.
    engine.add_task(task(value.clone())).await.unwrap();
    assert_eq!(
        engine
            .list_tasks()
            .iter()
            .filter(|t| t.spec.arn == arn)
            .count(),
        1
    );
    let mut stop = value;
    stop["desiredStatus"] = json!("STOPPED");
    engine.add_task(task(stop)).await.unwrap();
    wait_task(&mut rx, &mut seen, &arn, TaskStatus::Stopped, LONG).await;
    assert_eq!(task_container_ids(&arn).len(), 1);
    // Desired status never goes back down.
    assert!(engine.set_desired_status(&arn, TaskStatus::Running));
    assert_eq!(engine.task(&arn).unwrap().desired, TaskStatus::Stopped);
    assert!(!engine.set_desired_status(
        "arn:aws:ecs:us-east-1:1:task/x/unknown",
        TaskStatus::Stopped
    ));
    engine.shutdown().await;
}

#[tokio::test]
async fn stop_right_after_start_never_leaves_a_task_stuck() {
    let (engine, mut rx) = engine_with(config(), None).await;
    let mut seen = Vec::new();
    let mut arns = Vec::new();
    for _ in 0..4 {
        let arn = unique_arn();
        let mut b = container("b", true, "exec sleep 3600");
        b["links"] = json!(["a"]);
        let value = task_json(&arn, vec![container("a", true, "exec sleep 3600"), b]);
        engine.add_task(task(value)).await.unwrap();
        arns.push(arn);
    }
    let _guard = Cleanup(arns.clone());
    // Stops land at different points of each task's start.
    for (i, arn) in arns.iter().enumerate() {
        if i > 0 {
            wait_for(&mut rx, &mut seen, LONG, "a container change", |c| {
                c.task_arn() == arn.as_str()
            })
            .await;
        }
        engine.set_desired_status(arn, TaskStatus::Stopped);
    }
    for arn in &arns {
        let done = wait_task(&mut rx, &mut seen, arn, TaskStatus::Stopped, LONG).await;
        assert!(
            done.containers
                .iter()
                .all(|c| c.status == ContainerStatus::Stopped)
        );
        // Nothing of the task is left running in Docker.
        for id in task_container_ids(arn) {
            assert_eq!(
                inspect(&id)["State"]["Running"],
                false,
                "{id} still running"
            );
        }
    }
    engine.shutdown().await;
}
