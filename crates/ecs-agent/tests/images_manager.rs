//! Image states and cleanup against the real engine. Only names made by these tests are ever
//! removed: tags of the test image (removing a tag of a multi-tag image only untags it).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ecs_agent::docker::{DockerApi, DockerClient};
use ecs_agent::images::{ImageCleanupConfig, ImageManager, ImageState};
use ecs_agent::store::Store;
use futures::FutureExt;

use ecs_test_support::IMAGE;
const T: Duration = Duration::from_secs(60);

fn unique_tag(prefix: &str) -> String {
    format!("ecs-test/{prefix}-{}:v1", uuid::Uuid::new_v4().simple())
}

/// Untags on drop whatever the test made, even when an assertion fails.
struct Untag(Vec<String>);

impl Drop for Untag {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = std::process::Command::new("docker")
                .args(["rmi", tag])
                .output();
        }
    }
}

async fn docker() -> Arc<dyn DockerApi> {
    Arc::new(DockerClient::connect(None).await.expect("docker engine"))
}

async fn tag(docker: &Arc<dyn DockerApi>, source: &str, reference: &str) {
    let (repo, tag) = reference.rsplit_once(':').expect("tagged reference");
    docker.tag_image(source, repo, tag, T).await.expect("tag");
}

fn config() -> ImageCleanupConfig {
    ImageCleanupConfig {
        minimum_age: Duration::from_secs(3600),
        ..Default::default()
    }
}

fn later() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::hours(2)
}

#[tokio::test]
async fn referenced_images_stay_and_unused_ones_are_removed() {
    let docker = docker().await;
    let name = unique_tag("cleanup");
    let _untag = Untag(vec![name.clone()]);
    tag(&docker, IMAGE, &name).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("store");
    let manager = ImageManager::new(docker.clone(), Some(store.clone()), config());

    let state = manager
        .record_container(&name, "task1/web", true)
        .await
        .expect("record");
    let busybox = docker.inspect_image(IMAGE, T).await.expect("inspect");
    assert_eq!(state.image_id, busybox.id);
    assert_eq!(state.names, vec![name.clone()]);
    assert!(state.pull_succeeded);
    assert!(manager.pulled_successfully(&name));
    assert!(!manager.pulled_successfully(IMAGE));
    assert!(
        store
            .get_image::<ImageState>(&busybox.id)
            .expect("stored")
            .is_some()
    );

    // Too young: nothing, even unreferenced.
    let young = manager.cleanup_cycle(&HashSet::new()).await;
    assert!(young.images.is_empty());
    // Old enough but referenced: nothing.
    let referenced = manager.cleanup_cycle_at(later(), &HashSet::new()).await;
    assert!(referenced.images.is_empty());
    docker.inspect_image(&name, T).await.expect("still tagged");

    manager.remove_container("task1/web").expect("unreference");
    let report = manager.cleanup_cycle_at(later(), &HashSet::new()).await;
    assert_eq!(report.images, vec![busybox.id.clone()]);
    let err = docker.inspect_image(&name, T).await.expect_err("untagged");
    assert!(err.is_not_found());
    docker
        .inspect_image(IMAGE, T)
        .await
        .expect("the test image stays");
    assert!(manager.images().is_empty());
    assert_eq!(
        store.get_image::<ImageState>(&busybox.id).expect("read"),
        None
    );
}

#[tokio::test]
async fn excluded_names_are_never_removed() {
    let docker = docker().await;
    let name = unique_tag("excluded");
    let _untag = Untag(vec![name.clone()]);
    tag(&docker, IMAGE, &name).await;
    let manager = ImageManager::new(
        docker.clone(),
        None,
        ImageCleanupConfig {
            excluded: vec![name.clone()],
            ..config()
        },
    );
    manager
        .record_container(&name, "c", false)
        .await
        .expect("record");
    manager.remove_container("c").expect("unreference");
    let report = manager.cleanup_cycle_at(later(), &HashSet::new()).await;
    assert!(report.images.is_empty());
    docker.inspect_image(&name, T).await.expect("kept");
    assert!(!manager.pulled_successfully(&name));
}

#[tokio::test]
async fn states_survive_a_restart_without_references() {
    let docker = docker().await;
    let name = unique_tag("persist");
    let _untag = Untag(vec![name.clone()]);
    tag(&docker, IMAGE, &name).await;
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open_in(dir.path()).expect("store");
        let manager = ImageManager::new(docker.clone(), Some(store), config());
        manager
            .record_container(&name, "c", true)
            .await
            .expect("record");
    }
    let store = Store::open_in(dir.path()).expect("reopen");
    let manager = ImageManager::new(docker.clone(), Some(store), config());
    assert_eq!(manager.load().expect("load"), 1);
    assert!(manager.pulled_successfully(&name));
    let states = manager.images();
    assert_eq!(states.len(), 1);
    assert!(states[0].containers.is_empty());
}

#[tokio::test]
async fn a_name_that_moves_to_another_image_leaves_the_old_record() {
    let docker = docker().await;
    let name = unique_tag("moving");
    let other = unique_tag("other");
    let _untag = Untag(vec![name.clone(), other.clone()]);
    // A second image ID: a commit of a container of the test image.
    let container = format!("ecs-test-commit-{}", uuid::Uuid::new_v4().simple());
    let run = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .args(args)
            .output()
            .expect("docker cli");
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    run(&["create", "--name", &container, IMAGE, "true"]);
    run(&["commit", &container, &other]);
    run(&["rm", &container]);

    tag(&docker, IMAGE, &name).await;
    let manager = ImageManager::new(docker.clone(), None, config());
    let first = manager
        .record_container(&name, "a", true)
        .await
        .expect("record");
    // Re-point the name at the other image, as a new pull of a moving tag does.
    tag(&docker, &other, &name).await;
    let second = manager
        .record_container(&name, "b", true)
        .await
        .expect("record again");
    assert_ne!(first.image_id, second.image_id);
    let states = manager.images();
    let old = states
        .iter()
        .find(|s| s.image_id == first.image_id)
        .expect("old record");
    assert!(old.names.is_empty());
    assert!(old.containers.contains("a"));
    let new = states
        .iter()
        .find(|s| s.image_id == second.image_id)
        .expect("new record");
    assert_eq!(new.names, vec![name.clone()]);
}

#[tokio::test]
async fn cleanup_waits_for_pulls_in_progress() {
    let docker = docker().await;
    let manager = ImageManager::new(docker, None, config());
    let permit = manager.pull_permit().await;
    let known = HashSet::new();
    let mut cycle = Box::pin(manager.cleanup_cycle(&known));
    assert!(
        cycle.as_mut().now_or_never().is_none(),
        "cleanup must not run under a pull"
    );
    drop(permit);
    let report = cycle.await;
    assert!(report.images.is_empty());
}
