//! The durable store on real redb files: records, batches, corruption, locking, crash safety.

use std::os::unix::fs::PermissionsExt;

use ecs_agent::store::{Batch, STORE_FILE_NAME, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Task {
    arn: String,
    family: String,
    desired: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Container {
    docker_name: String,
    docker_id: Option<String>,
}

fn task(n: u32) -> Task {
    Task {
        arn: format!("arn:aws:ecs:us-east-1:123456789012:task/c1/{n:032x}"),
        family: "web".to_string(),
        desired: "RUNNING".to_string(),
    }
}

#[test]
fn tasks_put_get_list_delete_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    assert_eq!(store.path(), dir.path().join(STORE_FILE_NAME));
    let mode = std::fs::metadata(store.path())
        .expect("file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let (a, b) = (task(1), task(2));
    store.put_task(&a.arn, &a).expect("put a");
    store.put_task(&b.arn, &b).expect("put b");
    assert_eq!(
        store.get_task::<Task>(&a.arn).expect("get"),
        Some(a.clone())
    );
    assert_eq!(store.get_task::<Task>("arn:missing").expect("get"), None);

    let mut a2 = a.clone();
    a2.desired = "STOPPED".to_string();
    store.put_task(&a.arn, &a2).expect("overwrite");
    drop(store);

    let store = Store::open_in(dir.path()).expect("reopen");
    let listed: Vec<(String, Task)> = store.list_tasks().expect("list");
    assert_eq!(
        listed,
        vec![(a.arn.clone(), a2.clone()), (b.arn.clone(), b.clone())]
    );

    assert!(store.delete_task(&a.arn).expect("delete"));
    assert!(!store.delete_task(&a.arn).expect("delete again"));
    assert_eq!(store.get_task::<Task>(&a.arn).expect("get"), None);
    assert_eq!(store.list_tasks::<Task>().expect("list").len(), 1);
}

#[test]
fn task_extras_live_and_die_with_their_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let (a, b) = (task(1), task(2));
    store.put_task(&a.arn, &a).expect("put a");
    store
        .put_task_extras(&a.arn, &"extras of a")
        .expect("extras a");
    // b's extras were written but the engine never stored b (it refused the task).
    store
        .put_task_extras(&b.arn, &"extras of b")
        .expect("extras b");
    drop(store);

    let store = Store::open_in(dir.path()).expect("reopen");
    let listed: Vec<(String, String)> = store.list_task_extras().expect("list");
    assert_eq!(listed, vec![(a.arn.clone(), "extras of a".to_string())]);
    // The orphan was pruned, not just skipped.
    store.put_task(&b.arn, &b).expect("put b");
    assert_eq!(store.list_task_extras::<String>().expect("list").len(), 1);

    assert!(store.delete_task(&a.arn).expect("delete"));
    assert!(store.list_task_extras::<String>().expect("list").is_empty());
}

#[test]
fn containers_are_grouped_by_task_and_deleted_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let (a, b) = (task(1), task(2));
    store.put_task(&a.arn, &a).expect("put");
    store.put_task(&b.arn, &b).expect("put");
    let c = |name: &str| Container {
        docker_name: format!("ecs-web-1-{name}-0123456789abcdef0123"),
        docker_id: None,
    };
    // Name saved before create, ID after: both are plain overwrites of one record.
    store.put_container(&a.arn, "web", &c("web")).expect("put");
    store
        .put_container(&a.arn, "sidecar", &c("sidecar"))
        .expect("put");
    store.put_container(&b.arn, "web", &c("web")).expect("put");
    let mut with_id = c("web");
    with_id.docker_id = Some("f".repeat(64));
    store
        .put_container(&a.arn, "web", &with_id)
        .expect("put id");

    let of_a: Vec<(String, Container)> = store.list_containers(&a.arn).expect("list");
    assert_eq!(
        of_a,
        vec![
            ("sidecar".to_string(), c("sidecar")),
            ("web".to_string(), with_id.clone())
        ]
    );
    assert_eq!(
        store
            .get_container::<Container>(&a.arn, "web")
            .expect("get"),
        Some(with_id)
    );
    assert_eq!(
        store.list_all_containers::<Container>().expect("all").len(),
        3
    );

    store
        .delete_container(&a.arn, "sidecar")
        .expect("delete one");
    assert_eq!(
        store
            .list_containers::<Container>(&a.arn)
            .expect("list")
            .len(),
        1
    );

    store.delete_task(&a.arn).expect("delete task");
    assert!(
        store
            .list_containers::<Container>(&a.arn)
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store
            .list_containers::<Container>(&b.arn)
            .expect("list")
            .len(),
        1
    );
}

#[test]
fn images_are_stored_by_key() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct ImageState {
        names: Vec<String>,
        pull_succeeded: bool,
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let id = "sha256:a603d621aa8f";
    let state = ImageState {
        names: vec!["ecs-test/busybox:latest".to_string()],
        pull_succeeded: true,
    };
    store.put_image(id, &state).expect("put");
    assert_eq!(store.get_image::<ImageState>(id).expect("get"), Some(state));
    assert_eq!(store.list_images::<ImageState>().expect("list").len(), 1);
    store.delete_image(id).expect("delete");
    assert!(store.list_images::<ImageState>().expect("list").is_empty());
}

#[test]
fn a_batch_lands_whole_and_a_bad_record_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let a = task(1);
    let mut batch = Batch::new();
    batch
        .put_task(&a.arn, &a)
        .expect("task")
        .put_container(
            &a.arn,
            "web",
            &Container {
                docker_name: "n".to_string(),
                docker_id: None,
            },
        )
        .expect("container")
        .append_outbox(&"task RUNNING")
        .expect("outbox");
    let seqs = store.commit(&batch).expect("commit");
    assert_eq!(seqs.len(), 1);
    assert_eq!(store.outbox_len().expect("len"), 1);
    assert!(store.get_task::<Task>(&a.arn).expect("get").is_some());

    // A map with non-string keys cannot be JSON: the batch fails before touching the store.
    let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
    let err = Batch::new()
        .put_task("arn:bad", &bad)
        .expect_err("not encodable");
    assert!(
        matches!(err, StoreError::Encode { table: "tasks", .. }),
        "{err:?}"
    );
    assert_eq!(store.get_task::<Task>("arn:bad").expect("get"), None);
}

#[test]
fn corrupted_records_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = task(1);
    let path = {
        let store = Store::open_in(dir.path()).expect("open");
        store.put_task(&a.arn, &a).expect("put");
        store.set_manifest_seq_num(7).expect("seq");
        store.path().to_path_buf()
    };
    // Damage the stored bytes behind the store's back, as a bad disk or a bug would.
    {
        let db = redb::Database::create(&path).expect("raw open");
        let tx = db.begin_write().expect("tx");
        {
            let tasks: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("tasks");
            let mut t = tx.open_table(tasks).expect("tasks");
            t.insert(a.arn.as_str(), b"{\"arn\": 12, trunc".as_slice())
                .expect("insert");
            let meta: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("metadata");
            let mut m = tx.open_table(meta).expect("metadata");
            m.insert("task-manifest-seq-num", "seven").expect("insert");
        }
        tx.commit().expect("commit");
    }
    let store = Store::open_in(dir.path()).expect("reopen");
    match store.get_task::<Task>(&a.arn) {
        Err(StoreError::Corrupt { table, key, .. }) => {
            assert_eq!(table, "tasks");
            assert_eq!(key, a.arn);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(
        store.list_tasks::<Task>(),
        Err(StoreError::Corrupt { table: "tasks", .. })
    ));
    assert!(matches!(
        store.manifest_seq_num(),
        Err(StoreError::Corrupt {
            table: "metadata",
            ..
        })
    ));
    // The record can be replaced; the store itself is fine.
    store.put_task(&a.arn, &a).expect("overwrite");
    assert_eq!(store.get_task::<Task>(&a.arn).expect("get"), Some(a));
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(STORE_FILE_NAME);
    std::fs::write(&path, vec![0x5a_u8; 8192]).expect("junk");
    let err = Store::open_in(dir.path()).expect_err("junk file");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
}

#[test]
fn second_open_is_locked_and_missing_data_dir_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let err = Store::open_in(dir.path()).expect_err("already open");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    drop(store);
    Store::open_in(dir.path()).expect("open after close");

    let missing = dir.path().join("nope");
    let err = Store::open_in(&missing).expect_err("missing dir");
    assert!(matches!(err, StoreError::DataDir { .. }), "{err:?}");
    assert!(!missing.exists(), "the data dir is not created");
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").expect("file");
    let err = Store::open_in(&file).expect_err("not a dir");
    assert!(matches!(err, StoreError::DataDir { .. }), "{err:?}");
}

/// Child half of `committed_writes_survive_an_abort`: does nothing unless asked to.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("ECS_STORE_CRASH_DIR") else {
        return;
    };
    let store = Store::open_in(std::path::Path::new(&dir)).expect("open");
    for n in 0..20 {
        let t = task(n);
        store.put_task(&t.arn, &t).expect("put");
        store.append_outbox(&n).expect("append");
    }
    // No destructors, no clean close: what was committed must already be on disk.
    std::process::abort();
}

#[test]
fn committed_writes_survive_an_abort() {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("ECS_STORE_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run child");
    assert!(!status.success(), "the child aborts");
    let store = Store::open_in(dir.path()).expect("reopen after crash");
    assert_eq!(store.list_tasks::<Task>().expect("tasks").len(), 20);
    let pending: Vec<(u64, u32)> = store.outbox_pending().expect("outbox");
    assert_eq!(pending.len(), 20);
    assert!(pending.iter().enumerate().all(|(i, (_, n))| *n == i as u32));
}

#[test]
fn concurrent_commits_are_each_applied_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let seqs: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let task = task(t * 100 + i);
                            let mut batch = Batch::new();
                            batch
                                .put_task(&task.arn, &task)
                                .expect("task")
                                .append_outbox(&(t, i))
                                .expect("outbox");
                            let seqs = store.commit(&batch).expect("commit");
                            assert_eq!(seqs.len(), 1);
                            seqs[0]
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer thread"))
            .collect()
    });
    assert_eq!(store.list_tasks::<Task>().expect("tasks").len(), 200);
    let pending: Vec<(u64, (u32, u32))> = store.outbox_pending().expect("outbox");
    assert_eq!(pending.len(), 200);
    let mut all: Vec<u64> = seqs.iter().flatten().copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 200, "every append got its own sequence");
    // Each thread's own appends are in its commit order.
    for (t, thread_seqs) in seqs.iter().enumerate() {
        assert!(thread_seqs.windows(2).all(|w| w[0] < w[1]), "thread {t}");
        for (i, seq) in thread_seqs.iter().enumerate() {
            let entry = pending.iter().find(|(s, _)| s == seq).expect("pending");
            assert_eq!(entry.1, (t as u32, i as u32));
        }
    }
}

#[test]
fn waiting_open_is_bounded_and_succeeds_once_released() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().expect("tempdir");
    let holder = Store::open_in(dir.path()).expect("open");

    let started = Instant::now();
    let err = Store::open_in_waiting(dir.path(), Duration::from_millis(300)).expect_err("held");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Whether the waiter is already retrying or not yet started when the holder lets go, it
    // gets the store within its bound.
    let path = dir.path().to_path_buf();
    let waiter = std::thread::spawn(move || Store::open_in_waiting(&path, Duration::from_secs(30)));
    drop(holder);
    let store = waiter
        .join()
        .expect("waiter")
        .expect("opened after release");
    store.put_task("arn:t", &"x").expect("usable");
}
