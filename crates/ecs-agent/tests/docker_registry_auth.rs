//! Pull credentials reach the registry: a private `docker-registry` with htpasswd auth (the
//! Debian package scripts/test-env installs) is started for this test on a free port.
//! It holds no image, so a pull that authenticates fails with "manifest unknown" while one
//! that does not fails with an authentication error.

use std::process::Stdio;
use std::time::Duration;

use ecs_agent::docker::{DockerApi, DockerClient, DockerError, PullTimeouts, RegistryAuth};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const USER: &str = "ecs";
const PASSWORD: &str = "ecs-test-secret";
/// bcrypt (cost 4) of PASSWORD; the registry accepts only bcrypt entries.
const HTPASSWD: &str = "ecs:$2b$04$p1.ABxCSaCLW1rHxnMuLruijJJDWUvNnk9XdRa4eW/VF7G3Cqb1B2\n";

/// The registry process this test started; killed by its own handle on drop.
struct Registry {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_registry() -> Registry {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = ecs_test_support::net::free_port();
    let address = format!("127.0.0.1:{port}");
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, HTPASSWD).expect("htpasswd");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n\
             auth:\n  htpasswd:\n    realm: ecs-test\n    path: {}\n",
            dir.path().join("data").display(),
            htpasswd.display()
        ),
    )
    .expect("config");
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("docker-registry (Debian package docker-registry) must be installed");
    // Ready once it logs that it listens; the rest of its log is drained so it never blocks.
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let listening = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("listening on") {
                return true;
            }
        }
        false
    };
    let up = tokio::time::timeout(Duration::from_secs(30), listening)
        .await
        .expect("registry start in time");
    assert!(up, "registry exited before listening");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Registry {
        child,
        address,
        _dir: dir,
    }
}

fn message(err: &DockerError) -> String {
    match err {
        DockerError::NotFound { message }
        | DockerError::Api { message, .. }
        | DockerError::Pull { message, .. } => message.to_lowercase(),
        other => panic!("unexpected error kind {other:?}"),
    }
}

#[tokio::test]
async fn credentials_are_sent_with_the_pull() {
    let registry = start_registry().await;
    let docker = DockerClient::connect(None).await.expect("docker engine");
    let image = format!("{}/ecs-test/private:latest", registry.address);

    let anonymous = docker
        .pull_image(&image, None, PullTimeouts::default())
        .await
        .expect_err("needs credentials");
    let text = message(&anonymous);
    assert!(
        text.contains("auth") || text.contains("unauthorized"),
        "{text}"
    );

    let wrong = RegistryAuth {
        username: Some(USER.to_string()),
        password: Some("wrong".to_string()),
        server_address: Some(registry.address.clone()),
        ..Default::default()
    };
    let err = docker
        .pull_image(&image, Some(&wrong), PullTimeouts::default())
        .await
        .expect_err("bad password");
    let text = message(&err);
    assert!(
        text.contains("auth") || text.contains("unauthorized"),
        "{text}"
    );

    let good = RegistryAuth {
        username: Some(USER.to_string()),
        password: Some(PASSWORD.to_string()),
        server_address: Some(registry.address.clone()),
        ..Default::default()
    };
    let err = docker
        .pull_image(&image, Some(&good), PullTimeouts::default())
        .await
        .expect_err("authenticated, but the image does not exist");
    let text = message(&err);
    assert!(
        !text.contains("unauthorized") && !text.contains("no basic auth"),
        "{text}"
    );
    assert!(
        text.contains("manifest unknown") || text.contains("not found"),
        "{text}"
    );
}
