//! Instance identity and the saved-state rules of config-and-lifecycle.md §4.4.

use ecs_agent::store::{InstanceIdentity, SavedState, Store, StoreError};

fn identity(cluster: &str, instance: &str) -> InstanceIdentity {
    InstanceIdentity {
        cluster: cluster.to_string(),
        container_instance_arn: "arn:aws:ecs:us-east-1:123456789012:container-instance/c1/abc"
            .to_string(),
        ec2_instance_id: instance.to_string(),
        agent_version: "1.105.1".to_string(),
        availability_zone: "us-east-1a".to_string(),
    }
}

#[test]
fn nothing_saved_is_fresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    assert_eq!(store.load_identity().expect("load"), None);
    assert_eq!(
        store
            .check_saved_identity(Some("i-1"), "c1")
            .expect("check"),
        SavedState::Fresh
    );
}

#[test]
fn same_instance_and_cluster_restores_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open_in(dir.path()).expect("open");
        store.save_identity(&identity("c1", "i-1")).expect("save");
        store.set_manifest_seq_num(42).expect("seq");
    }
    let store = Store::open_in(dir.path()).expect("reopen");
    assert_eq!(
        store.load_identity().expect("load"),
        Some(identity("c1", "i-1"))
    );
    assert_eq!(store.manifest_seq_num().expect("seq"), Some(42));
    assert_eq!(
        store
            .check_saved_identity(Some("i-1"), "c1")
            .expect("check"),
        SavedState::Restore(identity("c1", "i-1"))
    );
    // IMDS unavailable: the saved instance ID is trusted.
    assert_eq!(
        store.check_saved_identity(None, "c1").expect("check"),
        SavedState::Restore(identity("c1", "i-1"))
    );
}

#[test]
fn unset_cluster_compares_as_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    store
        .save_identity(&identity("default", "i-1"))
        .expect("save");
    assert!(matches!(
        store.check_saved_identity(Some("i-1"), ""),
        Ok(SavedState::Restore(_))
    ));
}

#[test]
fn cluster_mismatch_is_fatal_with_the_reference_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    store.save_identity(&identity("c1", "i-1")).expect("save");
    store.put_task("arn:t1", &"task").expect("task");
    let err = store
        .check_saved_identity(Some("i-1"), "other")
        .expect_err("mismatch");
    assert!(matches!(err, StoreError::ClusterMismatch { .. }));
    assert_eq!(
        err.to_string(),
        "Data mismatch; saved cluster 'c1' does not match configured cluster 'other'. \
         Perhaps you want to delete the configured checkpoint file?"
    );
    // Nothing was discarded: the operator decides.
    assert!(store.get_task::<String>("arn:t1").expect("get").is_some());
    let err = store
        .check_saved_identity(Some("i-1"), "")
        .expect_err("default");
    assert!(err.to_string().contains("configured cluster 'default'"));
}

#[test]
fn another_instance_discards_saved_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first_seq;
    {
        let store = Store::open_in(dir.path()).expect("open");
        store.save_identity(&identity("c1", "i-old")).expect("save");
        store.set_manifest_seq_num(5).expect("seq");
        store.put_task("arn:t1", &"task").expect("task");
        store
            .put_container("arn:t1", "web", &"container")
            .expect("container");
        store.put_image("sha256:1", &"image").expect("image");
        first_seq = store.append_outbox(&"change").expect("outbox");
    }
    let store = Store::open_in(dir.path()).expect("reopen");
    // The cluster is not even compared once the instance differs.
    assert_eq!(
        store
            .check_saved_identity(Some("i-new"), "some-other-cluster")
            .expect("check"),
        SavedState::Discarded {
            saved_instance_id: "i-old".to_string(),
            current_instance_id: "i-new".to_string(),
        }
    );
    assert_eq!(store.load_identity().expect("load"), None);
    assert_eq!(store.manifest_seq_num().expect("seq"), None);
    assert!(store.list_tasks::<String>().expect("tasks").is_empty());
    assert!(
        store
            .list_all_containers::<String>()
            .expect("containers")
            .is_empty()
    );
    assert!(store.list_images::<String>().expect("images").is_empty());
    assert_eq!(store.outbox_len().expect("outbox"), 0);
    assert!(store.append_outbox(&"next").expect("append") > first_seq);
    drop(store);

    // Discarding is durable, and the next start is a fresh one.
    let store = Store::open_in(dir.path()).expect("reopen");
    assert_eq!(
        store
            .check_saved_identity(Some("i-new"), "c1")
            .expect("check"),
        SavedState::Fresh
    );
}

#[test]
fn external_hosts_without_instance_id_never_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    store.save_identity(&identity("c1", "")).expect("save");
    assert!(matches!(
        store.check_saved_identity(Some("i-1"), "c1"),
        Ok(SavedState::Restore(_))
    ));
}
