//! Image pulls: when a pull is required (`ECS_IMAGE_PULL_BEHAVIOR`), which registry
//! credentials apply (`ECS_ENGINE_AUTH_TYPE`/`ECS_ENGINE_AUTH_DATA`), and the
//! reference pulled (§2.7).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use super::config::EngineAuth;
use crate::docker::RegistryAuth;

/// `image` with `:latest` appended when it has neither tag nor digest
/// (a `:` after the last `/` counts as a tag).
pub fn pull_reference(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// The registry host of an image: the first path segment when it looks like a host
/// (has `.` or `:`, or is `localhost`), else Docker Hub.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

const DOCKER_HUB_KEY: &str = "index.docker.io/v1/";

#[derive(Debug, Default, Deserialize)]
struct DockerAuthEntry {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
    #[serde(default, rename = "registrytoken")]
    registry_token: Option<String>,
}

/// The engine-wide credentials for `image`, if any (§2.7.3 "absent / other").
pub fn engine_auth_for(auth: &EngineAuth, image: &str) -> Option<RegistryAuth> {
    let entries: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(auth.auth_data.trim()).ok()?;
    let mut table: BTreeMap<String, RegistryAuth> = BTreeMap::new();
    for (key, value) in entries {
        let Ok(entry) = serde_json::from_value::<DockerAuthEntry>(value) else {
            continue;
        };
        let resolved = match auth.auth_type.trim() {
            "docker" => Some(RegistryAuth {
                username: entry.username,
                password: entry.password,
                auth: entry.auth,
                email: entry.email,
                server_address: Some(key.clone()),
                identity_token: entry.identity_token,
                registry_token: entry.registry_token,
            }),
            "dockercfg" => {
                entry
                    .auth
                    .as_deref()
                    .and_then(decode_user_password)
                    .map(|(user, password)| RegistryAuth {
                        username: Some(user),
                        password: Some(password),
                        email: entry.email.clone(),
                        server_address: Some(key.clone()),
                        ..RegistryAuth::default()
                    })
            }
            _ => None,
        };
        if let Some(resolved) = resolved {
            let key = key
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .to_owned();
            table.insert(key, resolved);
        }
    }

    let host = registry_of(image);
    if matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        return table.get(DOCKER_HUB_KEY).cloned();
    }
    if let Some(exact) = table.get(host) {
        return Some(exact.clone());
    }
    table
        .iter()
        .filter(|(key, _)| key.contains('/') && image.starts_with(key.as_str()))
        .max_by_key(|(key, _)| key.len())
        .map(|(_, v)| v.clone())
}

fn decode_user_password(encoded: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(kind: &str, data: &str) -> EngineAuth {
        EngineAuth {
            auth_type: kind.into(),
            auth_data: data.into(),
        }
    }

    #[test]
    fn latest_is_appended_only_without_tag() {
        assert_eq!(pull_reference("busybox"), "busybox:latest");
        assert_eq!(pull_reference("busybox:1.36"), "busybox:1.36");
        assert_eq!(
            pull_reference("127.0.0.1:5000/ecs-test/busybox"),
            "127.0.0.1:5000/ecs-test/busybox:latest"
        );
        assert_eq!(pull_reference("a/b@sha256:00"), "a/b@sha256:00");
    }

    #[test]
    fn registry_host_detection() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("library/busybox"), "docker.io");
        assert_eq!(registry_of("localhost/x"), "localhost");
        assert_eq!(registry_of("127.0.0.1:5000/x/y"), "127.0.0.1:5000");
        assert_eq!(registry_of("public.ecr.aws/x"), "public.ecr.aws");
    }

    #[test]
    fn docker_format() {
        let a = auth(
            "docker",
            r#"{"https://127.0.0.1:5000":{"username":"u","password":"p","email":"e"},"index.docker.io/v1/":{"username":"hub","password":"x"}}"#,
        );
        let got = engine_auth_for(&a, "127.0.0.1:5000/ecs-test/busybox").unwrap();
        assert_eq!(got.username.as_deref(), Some("u"));
        assert_eq!(got.password.as_deref(), Some("p"));
        assert_eq!(
            engine_auth_for(&a, "busybox").unwrap().username.as_deref(),
            Some("hub")
        );
        assert!(engine_auth_for(&a, "quay.io/x").is_none());
    }

    #[test]
    fn dockercfg_format_and_longest_path_key() {
        let a = auth(
            "dockercfg",
            r#"{"reg.example.com/team":{"auth":"dTE6cDE="},"reg.example.com/team/sub":{"auth":"dTI6cDI="},"bad":{"auth":"!!"}}"#,
        );
        let got = engine_auth_for(&a, "reg.example.com/team/sub/img").unwrap();
        assert_eq!(got.username.as_deref(), Some("u2"));
        assert_eq!(got.password.as_deref(), Some("p2"));
        let got = engine_auth_for(&a, "reg.example.com/team/img").unwrap();
        assert_eq!(got.username.as_deref(), Some("u1"));
    }

    #[test]
    fn unknown_type_or_bad_data_means_anonymous() {
        assert!(engine_auth_for(&auth("", r#"{"a":{}}"#), "a/b").is_none());
        assert!(engine_auth_for(&auth("docker", "not json"), "a/b").is_none());
    }
}
