//! Placement of tasks on container instances by CPU, memory and host ports, and the
//! failure reasons the real service gives when nothing fits.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::store::State;
use crate::store::model::{ACTIVE, ContainerInstance, Reservation, TaskDefinition};

/// Why an instance cannot take a task, as RunTask's `failures[].reason` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shortfall {
    Cpu,
    Memory,
    Ports,
    PortsUdp,
}

impl Shortfall {
    pub fn reason(self) -> &'static str {
        match self {
            Shortfall::Cpu => "RESOURCE:CPU",
            Shortfall::Memory => "RESOURCE:MEMORY",
            Shortfall::Ports => "RESOURCE:PORTS",
            Shortfall::PortsUdp => "RESOURCE:PORTS_UDP",
        }
    }
}

/// What an instance has left after the tasks that still hold resources on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remaining {
    pub cpu: i64,
    pub memory: i64,
    pub used_tcp: BTreeSet<u16>,
    pub used_udp: BTreeSet<u16>,
}

fn ports_of(instance: &ContainerInstance, name: &str) -> BTreeSet<u16> {
    instance
        .resource(name)
        .and_then(|r| r.string_set_value.as_ref())
        .map(|ports| ports.iter().filter_map(|p| p.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Registered resources minus what the instance's live tasks reserve; the instance's
/// reserved ports (the PORTS resources) count as used.
pub fn remaining(state: &State, instance: &ContainerInstance) -> Remaining {
    let mut left = Remaining {
        cpu: instance.resource("CPU").map(|r| r.number()).unwrap_or(0),
        memory: instance.resource("MEMORY").map(|r| r.number()).unwrap_or(0),
        used_tcp: ports_of(instance, "PORTS"),
        used_udp: ports_of(instance, "PORTS_UDP"),
    };
    for task in state
        .tasks_on(&instance.arn)
        .filter(|t| t.holds_resources())
    {
        let r = &task.reservation;
        left.cpu -= r.cpu;
        left.memory -= r.memory;
        left.used_tcp.extend(r.tcp_ports.iter().copied());
        left.used_udp.extend(r.udp_ports.iter().copied());
    }
    left
}

impl Remaining {
    pub fn check(&self, demand: &Reservation) -> Result<(), Shortfall> {
        if demand.cpu > self.cpu {
            return Err(Shortfall::Cpu);
        }
        if demand.memory > self.memory {
            return Err(Shortfall::Memory);
        }
        if demand.tcp_ports.iter().any(|p| self.used_tcp.contains(p)) {
            return Err(Shortfall::Ports);
        }
        if demand.udp_ports.iter().any(|p| self.used_udp.contains(p)) {
            return Err(Shortfall::PortsUdp);
        }
        Ok(())
    }
}

fn int_member(value: &Value, name: &str) -> Option<i64> {
    match value.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Task-level sizes accept "1 vCPU" / "2 GB" forms as well as plain units.
fn parse_size(text: &str, unit: i64) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    if let Ok(n) = t.parse::<i64>() {
        return Some(n);
    }
    let number: String = t
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let rest = t[number.len()..].trim();
    let n: f64 = number.parse().ok()?;
    match rest {
        "vcpu" | "gb" => Some((n * unit as f64) as i64),
        _ => None,
    }
}

/// The per-container sizes of one container after its override, if any.
struct Sizes {
    cpu: i64,
    memory: Option<i64>,
    memory_reservation: Option<i64>,
}

fn container_sizes(definition: &Value, overrides: &Value) -> Sizes {
    let name = definition.get("name").and_then(Value::as_str).unwrap_or("");
    let over = overrides
        .get("containerOverrides")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
        });
    let pick = |member: &str| {
        over.and_then(|o| int_member(o, member))
            .or_else(|| int_member(definition, member))
    };
    Sizes {
        cpu: pick("cpu").unwrap_or(0),
        memory: pick("memory"),
        memory_reservation: pick("memoryReservation"),
    }
}

/// What one task of `td` (with `overrides`) reserves on an instance.
pub fn demand(td: &TaskDefinition, overrides: &Value) -> Reservation {
    let host_network = td.str_member("networkMode") == Some("host");
    let mut demand = Reservation::default();
    let mut container_cpu = 0;
    let mut container_memory = 0;
    for definition in td.container_definitions() {
        let sizes = container_sizes(definition, overrides);
        container_cpu += sizes.cpu;
        container_memory += sizes.memory.or(sizes.memory_reservation).unwrap_or(0);
        for mapping in definition
            .get("portMappings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let container_port = int_member(mapping, "containerPort");
            let host_port = int_member(mapping, "hostPort")
                .filter(|p| *p != 0)
                .or(if host_network { container_port } else { None });
            let Some(port) = host_port.and_then(|p| u16::try_from(p).ok()) else {
                // Dynamic host ports are chosen by Docker and never conflict.
                continue;
            };
            if mapping.get("protocol").and_then(Value::as_str) == Some("udp") {
                demand.udp_ports.push(port);
            } else {
                demand.tcp_ports.push(port);
            }
        }
    }
    let task_cpu = overrides
        .get("cpu")
        .and_then(Value::as_str)
        .or(td.str_member("cpu"))
        .and_then(|s| parse_size(s, 1024));
    let task_memory = overrides
        .get("memory")
        .and_then(Value::as_str)
        .or(td.str_member("memory"))
        .and_then(|s| parse_size(s, 1024));
    demand.cpu = task_cpu.unwrap_or(container_cpu);
    demand.memory = task_memory.unwrap_or(container_memory);
    demand.tcp_ports.sort_unstable();
    demand.tcp_ports.dedup();
    demand.udp_ports.sort_unstable();
    demand.udp_ports.dedup();
    demand
}

/// A refused placement: which instance, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub instance_arn: String,
    pub shortfall: Shortfall,
}

/// Chooses, among the cluster's ACTIVE instances, the one with the most memory left that
/// fits `demand`; otherwise says why each instance refused.
pub fn place(
    state: &State,
    cluster_arn: &str,
    demand: &Reservation,
) -> Result<String, Vec<Refusal>> {
    let mut refusals = Vec::new();
    let mut best: Option<(i64, &str)> = None;
    for instance in state
        .instances
        .values()
        .filter(|i| i.cluster_arn == cluster_arn && i.status == ACTIVE)
    {
        let left = remaining(state, instance);
        match left.check(demand) {
            Ok(()) => {
                if best.is_none_or(|(memory, _)| left.memory > memory) {
                    best = Some((left.memory, &instance.arn));
                }
            }
            Err(shortfall) => refusals.push(Refusal {
                instance_arn: instance.arn.clone(),
                shortfall,
            }),
        }
    }
    match best {
        Some((_, arn)) => Ok(arn.to_string()),
        None => Err(refusals),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::Resource;
    use serde_json::json;

    fn td(body: Value) -> TaskDefinition {
        TaskDefinition {
            arn: "arn:aws:ecs:us-east-1:1:task-definition/web:1".into(),
            family: "web".into(),
            revision: 1,
            status: ACTIVE.into(),
            registered_at: 0.0,
            deregistered_at: None,
            body: body.as_object().cloned().unwrap_or_default(),
        }
    }

    fn instance(arn: &str, cpu: i64, memory: i64) -> ContainerInstance {
        ContainerInstance {
            arn: arn.into(),
            cluster_arn: "c".into(),
            status: ACTIVE.into(),
            ec2_instance_id: None,
            registered_resources: vec![
                Resource::integer("CPU", cpu),
                Resource::integer("MEMORY", memory),
                Resource::string_set("PORTS", vec!["22".into()]),
                Resource::string_set("PORTS_UDP", vec![]),
            ],
            attributes: vec![],
            version_info: None,
            registered_at: 0.0,
            agent_connected: true,
            client_token: None,
            version: 1,
        }
    }

    #[test]
    fn demand_sums_containers_and_applies_overrides() {
        let td = td(json!({"containerDefinitions": [
            {"name": "a", "cpu": 256, "memory": 512,
             "portMappings": [{"containerPort": 80, "hostPort": 8080},
                              {"containerPort": 53, "hostPort": 53, "protocol": "udp"},
                              {"containerPort": 81}]},
            {"name": "b", "memoryReservation": 128}
        ]}));
        let d = demand(&td, &Value::Null);
        assert_eq!(d.cpu, 256);
        assert_eq!(d.memory, 640);
        assert_eq!(d.tcp_ports, vec![8080]);
        assert_eq!(d.udp_ports, vec![53]);
        let over = json!({"containerOverrides": [{"name": "a", "memory": 1024}]});
        assert_eq!(demand(&td, &over).memory, 1152);
        let over = json!({"memory": "2 GB", "cpu": "1 vCPU"});
        let d = demand(&td, &over);
        assert_eq!((d.cpu, d.memory), (1024, 2048));
    }

    #[test]
    fn host_network_reserves_container_ports() {
        let td = td(json!({"networkMode": "host", "containerDefinitions": [
            {"name": "a", "memory": 64, "portMappings": [{"containerPort": 9000}]}]}));
        assert_eq!(demand(&td, &Value::Null).tcp_ports, vec![9000]);
    }

    #[test]
    fn places_on_the_instance_with_most_memory_or_explains() {
        let mut state = State::default();
        state
            .instances
            .insert("i1".into(), instance("i1", 1024, 512));
        state
            .instances
            .insert("i2".into(), instance("i2", 1024, 2048));
        let small = Reservation {
            cpu: 100,
            memory: 256,
            ..Default::default()
        };
        assert_eq!(place(&state, "c", &small), Ok("i2".to_string()));
        let huge = Reservation {
            memory: 4096,
            ..Default::default()
        };
        let refusals = place(&state, "c", &huge).unwrap_err();
        assert_eq!(refusals.len(), 2);
        assert!(refusals.iter().all(|r| r.shortfall == Shortfall::Memory));
        let reserved_port = Reservation {
            tcp_ports: vec![22],
            ..Default::default()
        };
        let refusals = place(&state, "c", &reserved_port).unwrap_err();
        assert!(
            refusals
                .iter()
                .all(|r| r.shortfall.reason() == "RESOURCE:PORTS")
        );
        let mut busy = instance("i2", 1024, 2048);
        busy.status = "DRAINING".into();
        state.instances.insert("i2".into(), busy);
        assert_eq!(place(&state, "c", &small), Ok("i1".to_string()));
    }
}
