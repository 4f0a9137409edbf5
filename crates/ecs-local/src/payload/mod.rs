//! A placed task (task definition plus RunTask overrides) as the ACS `Task` shape, built
//! the way the ECS service builds it (task-engine.md, every **[backend]** mark):
//!
//! * settings with no first-class ACS member travel as Docker JSON in
//!   `dockerConfig.config` / `dockerConfig.hostConfig` (health check, labels, user,
//!   log configuration, ulimits, memory reservation, linux parameters, …);
//! * environment overrides are merged into `environment` (with `AWS_EXECUTION_ENV`);
//!   only `command` is left in the container's `overrides`;
//! * task CPU is sent in vCPUs, memory in MiB; `essential` is always present.

pub mod definition;
mod docker;

use ecs_types::task::{
    ASMAuthData, AuthStrategy, AuthenticationType, Container, ECRAuthData, EnvironmentFile,
    IAMRoleCredentials, ProxyConfiguration, RegistryAuthenticationData, Secret, SecretProvider,
    SecretTarget, SecretType, StringMap, Task, Volume, VolumeType,
};
use serde_json::Value;

use crate::store::model::{self, TaskDefinition};
use definition::{ContainerDefinition, ContainerOverride, TaskDefinitionBody, TaskOverride};

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("task definition {arn} cannot be read: {source}")]
    Definition {
        arn: String,
        source: serde_json::Error,
    },
    #[error("overrides of task {arn} cannot be read: {source}")]
    Overrides {
        arn: String,
        source: serde_json::Error,
    },
    #[error("docker configuration of container {container} cannot be encoded: {source}")]
    DockerConfig {
        container: String,
        source: serde_json::Error,
    },
}

/// The roles a task runs with: RunTask overrides win over the task definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRoles {
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
}

/// A task definition and a task's overrides, decoded.
#[derive(Debug, Clone)]
pub struct Launch {
    pub definition: TaskDefinitionBody,
    pub overrides: TaskOverride,
}

impl Launch {
    pub fn read(task: &model::Task, td: &TaskDefinition) -> Result<Self, PayloadError> {
        let definition: TaskDefinitionBody = serde_json::from_value(Value::Object(td.body.clone()))
            .map_err(|source| PayloadError::Definition {
                arn: td.arn.clone(),
                source,
            })?;
        let overrides: TaskOverride = match &task.overrides {
            Value::Null => TaskOverride::default(),
            other => {
                serde_json::from_value(other.clone()).map_err(|source| PayloadError::Overrides {
                    arn: task.arn.clone(),
                    source,
                })?
            }
        };
        Ok(Self {
            definition,
            overrides,
        })
    }

    pub fn roles(&self) -> TaskRoles {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        TaskRoles {
            task_role_arn: non_empty(&self.overrides.task_role_arn)
                .or_else(|| non_empty(&self.definition.task_role_arn)),
            execution_role_arn: non_empty(&self.overrides.execution_role_arn)
                .or_else(|| non_empty(&self.definition.execution_role_arn)),
        }
    }

    fn container_override(&self, name: &str) -> Option<&ContainerOverride> {
        self.overrides
            .container_overrides
            .iter()
            .find(|o| o.name.as_deref() == Some(name))
    }
}

/// Everything besides the task itself that goes into its ACS form.
#[derive(Debug, Clone)]
pub struct PayloadContext<'a> {
    pub region: &'a str,
    pub account_id: &'a str,
    /// `EC2`, or `EXTERNAL` for instances registered in external mode.
    pub launch_type: &'a str,
    /// The instance's `ecs.availability-zone` attribute, if it reported one.
    pub zone: Option<&'a str>,
    pub role_credentials: Option<IAMRoleCredentials>,
    pub execution_role_credentials: Option<IAMRoleCredentials>,
}

/// The launch type of tasks on an instance, from its registration attributes.
pub fn launch_type_of(instance: &model::ContainerInstance) -> &'static str {
    if instance.attribute("ecs.capability.external").is_some() {
        "EXTERNAL"
    } else {
        "EC2"
    }
}

/// Builds the ACS task for a placed task.
pub fn build_task(
    task: &model::Task,
    td: &TaskDefinition,
    launch: &Launch,
    ctx: &PayloadContext<'_>,
) -> Result<Task, PayloadError> {
    let def = &launch.definition;
    let network_mode = def
        .network_mode
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "bridge".to_string());
    let task_cpu = launch
        .overrides
        .cpu
        .as_deref()
        .or(def.cpu.as_deref())
        .and_then(cpu_units)
        .map(|units| units as f64 / 1024.0);
    let task_memory = launch
        .overrides
        .memory
        .as_deref()
        .or(def.memory.as_deref())
        .and_then(memory_mib);
    let containers = def
        .container_definitions
        .iter()
        .map(|cd| build_container(task, launch, cd, &network_mode, ctx))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Task {
        arn: Some(task.arn.clone()),
        task_cluster_arn: Some(task.cluster_arn.clone()),
        containers: Some(containers),
        desired_status: Some(task.desired_status.clone()),
        family: Some(td.family.clone()),
        version: Some(td.revision.to_string()),
        task_definition_account_id: Some(ctx.account_id.to_string()),
        volumes: Some(def.volumes.iter().map(build_volume).collect()),
        role_credentials: ctx.role_credentials.clone(),
        execution_role_credentials: ctx.execution_role_credentials.clone(),
        cpu: task_cpu,
        memory: task_memory,
        pid_mode: def.pid_mode.clone().filter(|m| !m.is_empty()),
        ipc_mode: def.ipc_mode.clone().filter(|m| !m.is_empty()),
        proxy_configuration: def
            .proxy_configuration
            .as_ref()
            .map(|p| ProxyConfiguration {
                proxy_type: p.proxy_type.as_deref().map(parse_enum),
                container_name: p.container_name.clone(),
                properties: p.properties.as_ref().map(|list| key_values(list)),
            }),
        launch_type: Some(ctx.launch_type.to_string()),
        zone: ctx.zone.map(str::to_string),
        network_mode: Some(network_mode),
        group: task.group.clone(),
        enable_fault_injection: def.enable_fault_injection,
        ..Task::default()
    })
}

fn parse_enum<T: std::str::FromStr<Err = std::convert::Infallible>>(s: &str) -> T {
    match s.parse() {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

fn key_values(list: &[definition::KeyValue]) -> StringMap {
    list.iter()
        .filter_map(|kv| Some((kv.name.clone()?, kv.value.clone().unwrap_or_default())))
        .collect()
}

/// Task CPU as CPU units: `"256"` or `"0.25 vCPU"`.
fn cpu_units(text: &str) -> Option<i64> {
    scaled(text, "vcpu", 1024.0)
}

/// Task memory in MiB: `"512"` or `"1 GB"`.
fn memory_mib(text: &str) -> Option<i64> {
    scaled(text, "gb", 1024.0)
}

fn scaled(text: &str, unit: &str, factor: f64) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    if let Ok(n) = t.parse::<i64>() {
        return Some(n).filter(|n| *n > 0);
    }
    let number = t.strip_suffix(unit)?.trim();
    let n: f64 = number.parse().ok()?;
    Some((n * factor).round() as i64).filter(|n| *n > 0)
}

fn build_container(
    task: &model::Task,
    launch: &Launch,
    cd: &ContainerDefinition,
    network_mode: &str,
    ctx: &PayloadContext<'_>,
) -> Result<Container, PayloadError> {
    let name = cd.name.clone().unwrap_or_default();
    let over = launch.container_override(&name);
    let awsvpc = network_mode == "awsvpc";

    let mut environment: StringMap = cd
        .environment
        .as_deref()
        .map(key_values)
        .unwrap_or_default();
    if let Some(extra) = over.and_then(|o| o.environment.as_deref()) {
        environment.extend(key_values(extra));
    }
    environment.insert(
        "AWS_EXECUTION_ENV".to_string(),
        format!("AWS_ECS_{}", ctx.launch_type),
    );

    let mut environment_files: Vec<EnvironmentFile> =
        cd.environment_files.clone().unwrap_or_default();
    if let Some(extra) = over.and_then(|o| o.environment_files.as_deref()) {
        environment_files.extend(extra.iter().cloned());
    }

    let overrides = match over.and_then(|o| o.command.as_ref()) {
        Some(command) => serde_json::json!({ "command": command }).to_string(),
        None => "{}".to_string(),
    };
    let memory = over.and_then(|o| o.memory).or(cd.memory);
    let memory_reservation = over
        .and_then(|o| o.memory_reservation)
        .or(cd.memory_reservation);
    let cpu = over.and_then(|o| o.cpu).or(cd.cpu).unwrap_or(0);

    let docker_config = docker::docker_config(cd, network_mode, memory, memory_reservation)
        .map_err(|source| PayloadError::DockerConfig {
            container: name.clone(),
            source,
        })?;
    let execution_role = ctx.execution_role_credentials.is_some();
    let awslogs = cd
        .log_configuration
        .as_ref()
        .and_then(|l| l.log_driver.as_deref())
        == Some("awslogs");

    Ok(Container {
        container_arn: task
            .containers
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.arn.clone()),
        name: Some(name),
        image: cd.image.clone(),
        cpu: Some(cpu),
        memory,
        essential: Some(cd.essential.unwrap_or(true)),
        command: cd.command.clone(),
        entry_point: cd.entry_point.clone(),
        environment: Some(environment),
        environment_files: Some(environment_files),
        overrides: Some(ecs_types::task::ContainerOverridesWire::Text(overrides)),
        port_mappings: Some(if awsvpc {
            Vec::new()
        } else {
            cd.port_mappings.clone().unwrap_or_default()
        }),
        links: Some(if awsvpc {
            Vec::new()
        } else {
            cd.links.clone().unwrap_or_default()
        }),
        mount_points: Some(cd.mount_points.clone().unwrap_or_default()),
        volumes_from: Some(cd.volumes_from.clone().unwrap_or_default()),
        secrets: Some(secrets(cd, ctx.region)),
        depends_on: cd.depends_on.clone(),
        start_timeout: cd.start_timeout,
        stop_timeout: cd.stop_timeout,
        restart_policy: cd.restart_policy.clone(),
        firelens_configuration: cd.firelens_configuration.clone(),
        credential_specs: cd.credential_specs.clone(),
        privileged: cd.privileged,
        linux_parameters: docker::acs_linux_parameters(cd),
        health_check_type: cd
            .health_check
            .as_ref()
            .map(|_| ecs_types::task::HealthCheckType::Docker),
        registry_authentication: registry_authentication(cd, ctx.region, execution_role),
        logs_auth_strategy: (awslogs && execution_role).then_some(AuthStrategy::ExecutionRole),
        docker_config: Some(docker_config),
        ..Container::default()
    })
}

/// The region part of an ARN, when `text` is one.
fn arn_region(text: &str) -> Option<&str> {
    let mut parts = text.splitn(5, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some(_), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

fn secret(name: &str, value_from: &str, target: SecretTarget, region: &str) -> Secret {
    let provider = if value_from.starts_with("arn:") && value_from.contains(":secretsmanager:") {
        SecretProvider::Asm
    } else {
        SecretProvider::Ssm
    };
    Secret {
        name: Some(name.to_string()),
        value_from: Some(value_from.to_string()),
        provider: Some(provider),
        secret_type: Some(SecretType::EnvironmentVariable),
        target: Some(target),
        region: Some(arn_region(value_from).unwrap_or(region).to_string()),
        container_path: None,
    }
}

fn secrets(cd: &ContainerDefinition, region: &str) -> Vec<Secret> {
    let container = cd
        .secrets
        .iter()
        .flatten()
        .map(|s| (s, SecretTarget::Container));
    let log_driver = cd
        .log_configuration
        .iter()
        .flat_map(|l| l.secret_options.iter().flatten())
        .map(|s| (s, SecretTarget::LogDriver));
    container
        .chain(log_driver)
        .filter_map(|(s, target)| {
            Some(secret(
                s.name.as_deref()?,
                s.value_from.as_deref()?,
                target,
                region,
            ))
        })
        .collect()
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/…` as (registry ID, region).
fn ecr_registry(image: &str) -> Option<(&str, &str)> {
    let host = image.split('/').next()?;
    let mut parts = host.split('.');
    let (Some(account), Some("dkr"), Some("ecr"), Some(region)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    (!account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()))
        .then_some((account, region))
}

fn registry_authentication(
    cd: &ContainerDefinition,
    region: &str,
    execution_role: bool,
) -> Option<RegistryAuthenticationData> {
    if let Some(parameter) = cd
        .repository_credentials
        .as_ref()
        .and_then(|r| r.credentials_parameter.clone())
    {
        return Some(RegistryAuthenticationData {
            auth_type: Some(AuthenticationType::Asm),
            asm_auth_data: Some(ASMAuthData {
                region: Some(arn_region(&parameter).unwrap_or(region).to_string()),
                credentials_parameter: Some(parameter),
            }),
            ecr_auth_data: None,
        });
    }
    let (registry_id, ecr_region) = ecr_registry(cd.image.as_deref()?)?;
    Some(RegistryAuthenticationData {
        auth_type: Some(AuthenticationType::Ecr),
        ecr_auth_data: Some(ECRAuthData {
            registry_id: Some(registry_id.to_string()),
            region: Some(ecr_region.to_string()),
            endpoint_override: None,
            use_execution_role: Some(execution_role),
        }),
        asm_auth_data: None,
    })
}

fn build_volume(v: &definition::VolumeDefinition) -> Volume {
    let mut volume = Volume {
        name: v.name.clone(),
        ..Volume::default()
    };
    if let Some(docker) = &v.docker_volume_configuration {
        volume.volume_type = Some(VolumeType::Docker);
        volume.docker_volume_configuration = Some(docker.clone());
    } else if let Some(efs) = &v.efs_volume_configuration {
        volume.volume_type = Some(VolumeType::Efs);
        volume.efs_volume_configuration = Some(efs.clone());
    } else if let Some(fsx) = &v.fsx_windows_file_server_volume_configuration {
        volume.volume_type = Some(VolumeType::FSxWindowsFileServer);
        volume.fsx_windows_file_server_volume_configuration = Some(fsx.clone());
    } else {
        // The agent requires a `host` object for host volumes, even an empty one.
        volume.volume_type = Some(VolumeType::Host);
        volume.host = Some(v.host.clone().unwrap_or_default());
    }
    volume
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::model::samples;
    use serde_json::json;

    fn definition(body: Value) -> TaskDefinition {
        TaskDefinition {
            arn: "arn:aws:ecs:us-east-1:111122223333:task-definition/web:3".into(),
            family: "web".into(),
            revision: 3,
            status: "ACTIVE".into(),
            registered_at: 1.0,
            deregistered_at: None,
            body: body.as_object().unwrap().clone(),
        }
    }

    fn context(launch_type: &str) -> PayloadContext<'_> {
        PayloadContext {
            region: "us-east-1",
            account_id: "111122223333",
            launch_type,
            zone: None,
            role_credentials: None,
            execution_role_credentials: None,
        }
    }

    #[test]
    fn task_level_members_volumes_secrets_and_roles() {
        let td = definition(json!({
            "family": "web", "cpu": "512", "memory": "1 GB", "networkMode": "host",
            "pidMode": "task", "taskRoleArn": "arn:aws:iam::1:role/td-role",
            "volumes": [{"name": "scratch"}, {"name": "data", "host": {"sourcePath": "/srv"}},
                        {"name": "shared", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true, "driver": "local"}}],
            "containerDefinitions": [{
                "name": "c", "image": "111122223333.dkr.ecr.us-west-2.amazonaws.com/app:1",
                "essential": false,
                "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"},
                    "secretOptions": [{"name": "token", "valueFrom": "/logs/token"}]},
                "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
                "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": true}],
                "environmentFiles": [{"value": "arn:aws:s3:::b/a.env", "type": "s3"}],
                "stopTimeout": 30
            }]
        }));
        let mut task = samples::task("arn:aws:ecs:us-east-1:111122223333:task/default/abc", "i");
        task.overrides = json!({"taskRoleArn": "arn:aws:iam::1:role/override-role",
                                "executionRoleArn": "arn:aws:iam::1:role/exec",
                                "containerOverrides": [{"name": "c",
                                    "environmentFiles": [{"value": "arn:aws:s3:::b/b.env", "type": "s3"}]}]});
        task.desired_status = "STOPPED".into();
        let launch = Launch::read(&task, &td).unwrap();
        assert_eq!(
            launch.roles(),
            TaskRoles {
                task_role_arn: Some("arn:aws:iam::1:role/override-role".into()),
                execution_role_arn: Some("arn:aws:iam::1:role/exec".into()),
            }
        );
        let mut ctx = context("EXTERNAL");
        ctx.execution_role_credentials = Some(IAMRoleCredentials {
            credentials_id: Some("x".into()),
            ..IAMRoleCredentials::default()
        });
        let out = build_task(&task, &td, &launch, &ctx).unwrap();
        assert_eq!(out.cpu, Some(0.5));
        assert_eq!(out.memory, Some(1024));
        assert_eq!(out.network_mode.as_deref(), Some("host"));
        assert_eq!(out.pid_mode.as_deref(), Some("task"));
        assert_eq!(out.desired_status.as_deref(), Some("STOPPED"));
        assert_eq!(out.version.as_deref(), Some("3"));
        assert_eq!(out.launch_type.as_deref(), Some("EXTERNAL"));
        let volumes = out.volumes();
        assert_eq!(volumes[0].volume_type, Some(VolumeType::Host));
        assert_eq!(
            volumes[0].host,
            Some(Default::default()),
            "empty host object"
        );
        assert_eq!(
            volumes[1].host.as_ref().unwrap().source_path.as_deref(),
            Some("/srv")
        );
        assert_eq!(volumes[2].volume_type, Some(VolumeType::Docker));

        let c = &out.containers()[0];
        assert_eq!(c.essential, Some(false));
        assert_eq!(
            c.container_arn.as_deref(),
            Some("arn:aws:ecs:us-east-1:111122223333:task/default/abc/c")
        );
        assert_eq!(
            c.environment.as_ref().unwrap()["AWS_EXECUTION_ENV"],
            "AWS_ECS_EXTERNAL"
        );
        assert_eq!(c.environment_files.as_ref().unwrap().len(), 2);
        assert_eq!(
            c.overrides,
            Some(ecs_types::task::ContainerOverridesWire::Text("{}".into()))
        );
        let secrets = c.secrets();
        assert_eq!(secrets.len(), 2);
        assert_eq!(secrets[0].target, Some(SecretTarget::Container));
        assert_eq!(secrets[0].provider, Some(SecretProvider::Ssm));
        assert_eq!(secrets[1].target, Some(SecretTarget::LogDriver));
        assert_eq!(c.logs_auth_strategy, Some(AuthStrategy::ExecutionRole));
        let ecr = c.registry_authentication.as_ref().unwrap();
        assert_eq!(ecr.auth_type, Some(AuthenticationType::Ecr));
        let data = ecr.ecr_auth_data.as_ref().unwrap();
        assert_eq!(data.region.as_deref(), Some("us-west-2"));
        assert_eq!(data.use_execution_role, Some(true));
        assert_eq!(c.depends_on().len(), 1);
        assert_eq!(c.stop_timeout, Some(30));
        let host = c
            .docker_config
            .as_ref()
            .unwrap()
            .host_config_fragment()
            .unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(
            host.log_config.unwrap().log_driver.as_deref(),
            Some("awslogs")
        );

        // What the agent decodes is what was built.
        let wire = serde_json::to_string(&out).unwrap();
        let back: Task = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, out);
    }

    #[test]
    fn awsvpc_containers_carry_no_host_networking_members() {
        let td = definition(json!({
            "family": "web", "networkMode": "awsvpc",
            "containerDefinitions": [{"name": "c", "image": "i", "links": ["db"],
                "hostname": "h", "dnsServers": ["10.0.0.2"],
                "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}]}]
        }));
        let task = samples::task("arn:aws:ecs:us-east-1:111122223333:task/default/abc", "i");
        let launch = Launch::read(&task, &td).unwrap();
        let out = build_task(&task, &td, &launch, &context("EC2")).unwrap();
        let c = &out.containers()[0];
        assert!(c.port_mappings().is_empty());
        assert_eq!(c.links, Some(Vec::new()));
        let dc = c.docker_config.as_ref().unwrap();
        assert_eq!(dc.config_fragment().unwrap().hostname, None);
        let host = dc.host_config_fragment().unwrap();
        assert_eq!(host.dns, None);
        assert_eq!(host.network_mode.as_deref(), Some("awsvpc"));
    }

    #[test]
    fn an_unreadable_definition_is_an_error() {
        let td = definition(json!({"family": "web", "containerDefinitions": [{"name": 5}]}));
        let task = samples::task("arn:aws:ecs:us-east-1:111122223333:task/default/abc", "i");
        assert!(matches!(
            Launch::read(&task, &td),
            Err(PayloadError::Definition { .. })
        ));
    }

    #[test]
    fn sizes_accept_units_and_words() {
        assert_eq!(cpu_units("256"), Some(256));
        assert_eq!(cpu_units("0.5 vCPU"), Some(512));
        assert_eq!(memory_mib("1 GB"), Some(1024));
        assert_eq!(memory_mib("768"), Some(768));
        assert_eq!(memory_mib("x"), None);
    }

    #[test]
    fn ecr_images_and_secret_providers() {
        assert_eq!(
            ecr_registry("111122223333.dkr.ecr.eu-west-1.amazonaws.com/app:1"),
            Some(("111122223333", "eu-west-1"))
        );
        assert_eq!(ecr_registry("busybox:latest"), None);
        let s = secret(
            "DB",
            "arn:aws:secretsmanager:eu-west-1:1:secret:db",
            SecretTarget::Container,
            "us-east-1",
        );
        assert_eq!(s.provider, Some(SecretProvider::Asm));
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        let s = secret("P", "/my/param", SecretTarget::LogDriver, "us-east-1");
        assert_eq!(s.provider, Some(SecretProvider::Ssm));
        assert_eq!(s.region.as_deref(), Some("us-east-1"));
    }
}
