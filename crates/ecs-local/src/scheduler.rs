//! Placement of tasks on container instances by CPU, memory and host ports, and the
//! failure reasons the real service gives when nothing fits.

pub mod expression;

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::store::State;
use crate::store::model::{ACTIVE, ContainerInstance, Reservation, Task, TaskDefinition};
use expression::{Expression, Facts};

/// Why an instance cannot take a task, as RunTask's `failures[].reason` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Shortfall {
    Cpu,
    Memory,
    Ports,
    PortsUdp,
    /// A `memberOf` constraint excludes the instance.
    Attribute,
    /// A `distinctInstance` constraint excludes the instance.
    DistinctInstance,
    /// The instance's agent was connected and is not any more.
    Agent,
}

impl Shortfall {
    pub fn reason(self) -> &'static str {
        match self {
            Shortfall::Cpu => "RESOURCE:CPU",
            Shortfall::Memory => "RESOURCE:MEMORY",
            Shortfall::Ports => "RESOURCE:PORTS",
            Shortfall::PortsUdp => "RESOURCE:PORTS_UDP",
            Shortfall::Attribute => "ATTRIBUTE",
            Shortfall::DistinctInstance => "DISTINCT_INSTANCE",
            Shortfall::Agent => "AGENT",
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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct RulesError(String);

#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Random,
    /// Fewest tasks of the group per value of the field (`instanceId`, `host`, or
    /// `attribute:NAME`).
    Spread(String),
    /// Least remaining CPU (`cpu`) or memory (`memory`) first.
    BinpackCpu,
    BinpackMemory,
}

/// Placement constraints and strategies of one RunTask.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    pub group: String,
    pub distinct_instance: bool,
    pub member_of: Vec<Expression>,
    pub strategies: Vec<Strategy>,
}

fn text<'a>(value: &'a Value, member: &str) -> Option<&'a str> {
    value.get(member).and_then(Value::as_str)
}

impl Rules {
    /// Reads RunTask's `placementConstraints` and `placementStrategy` and the task
    /// definition's own `placementConstraints`.
    pub fn parse(
        group: &str,
        constraints: &[Value],
        strategies: &[Value],
        td: &TaskDefinition,
    ) -> Result<Self, RulesError> {
        if constraints.len() > 10 {
            return Err(RulesError(
                "At most 10 placement constraints are allowed.".into(),
            ));
        }
        if strategies.len() > 5 {
            return Err(RulesError(
                "At most 5 placement strategies are allowed.".into(),
            ));
        }
        let mut rules = Rules {
            group: group.to_string(),
            ..Default::default()
        };
        let td_constraints = td
            .body
            .get("placementConstraints")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for constraint in constraints.iter().chain(td_constraints) {
            match text(constraint, "type") {
                Some("distinctInstance") => rules.distinct_instance = true,
                Some("memberOf") => {
                    let expression = text(constraint, "expression").ok_or_else(|| {
                        RulesError("A memberOf constraint needs an expression.".into())
                    })?;
                    let parsed = Expression::parse(expression)
                        .map_err(|e| RulesError(format!("Invalid memberOf constraint: {e}")))?;
                    rules.member_of.push(parsed);
                }
                other => {
                    return Err(RulesError(format!(
                        "Unknown placement constraint type {other:?}."
                    )));
                }
            }
        }
        for strategy in strategies {
            let field = text(strategy, "field").unwrap_or("");
            let parsed = match text(strategy, "type") {
                Some("random") => Strategy::Random,
                Some("spread") if field == "instanceId" || field == "host" => {
                    Strategy::Spread("instanceId".into())
                }
                Some("spread") if field.starts_with("attribute:") => {
                    Strategy::Spread(field.to_string())
                }
                Some("binpack") if field.eq_ignore_ascii_case("cpu") => Strategy::BinpackCpu,
                Some("binpack") if field.eq_ignore_ascii_case("memory") => Strategy::BinpackMemory,
                other => {
                    return Err(RulesError(format!(
                        "Unsupported placement strategy {other:?} with field '{field}'."
                    )));
                }
            };
            rules.strategies.push(parsed);
        }
        Ok(rules)
    }
}

/// Whether the instance's agent was connected and went away: it gets no new tasks. One
/// that never connected yet still does (they are delivered when it connects).
pub fn agent_gone(instance: &ContainerInstance) -> bool {
    !instance.agent_connected && instance.agent_disconnected_at.is_some()
}

fn live_tasks<'a>(state: &'a State, instance_arn: &str) -> Vec<&'a Task> {
    state
        .tasks_on(instance_arn)
        .filter(|t| t.holds_resources())
        .collect()
}

/// Whether an instance passes the `memberOf` expressions.
pub fn admits(state: &State, instance: &ContainerInstance, expressions: &[Expression]) -> bool {
    if expressions.is_empty() {
        return true;
    }
    let live = live_tasks(state, &instance.arn);
    let facts = Facts {
        instance,
        running_tasks: live.iter().filter(|t| t.last_status == "RUNNING").count(),
        task_groups: live.iter().filter_map(|t| t.group.as_deref()).collect(),
    };
    expressions.iter().all(|e| e.matches(&facts))
}

struct Candidate<'a> {
    instance: &'a ContainerInstance,
    left: Remaining,
    group_tasks: i64,
}

/// Chooses an ACTIVE instance of the cluster that satisfies the rules and fits
/// `demand`, ordered by the strategies (then most memory left); otherwise says why each
/// instance refused.
pub fn place(
    state: &State,
    cluster_arn: &str,
    demand: &Reservation,
    rules: &Rules,
) -> Result<String, Vec<Refusal>> {
    let mut refusals = Vec::new();
    let mut candidates = Vec::new();
    for instance in state
        .instances
        .values()
        .filter(|i| i.cluster_arn == cluster_arn && i.status == ACTIVE)
    {
        let refuse = |shortfall| Refusal {
            instance_arn: instance.arn.clone(),
            shortfall,
        };
        if agent_gone(instance) {
            refusals.push(refuse(Shortfall::Agent));
            continue;
        }
        if !admits(state, instance, &rules.member_of) {
            refusals.push(refuse(Shortfall::Attribute));
            continue;
        }
        let group_tasks = live_tasks(state, &instance.arn)
            .iter()
            .filter(|t| t.group.as_deref() == Some(rules.group.as_str()))
            .count() as i64;
        if rules.distinct_instance && group_tasks > 0 {
            refusals.push(refuse(Shortfall::DistinctInstance));
            continue;
        }
        let left = remaining(state, instance);
        if let Err(shortfall) = left.check(demand) {
            refusals.push(refuse(shortfall));
            continue;
        }
        candidates.push(Candidate {
            instance,
            left,
            group_tasks,
        });
    }
    let spread_counts = spread_counts(state, cluster_arn, rules);
    let key = |c: &Candidate<'_>| -> Vec<i64> {
        let mut key: Vec<i64> = rules
            .strategies
            .iter()
            .map(|s| match s {
                Strategy::Random => i64::from(rand::random::<u32>()),
                Strategy::Spread(field) if field == "instanceId" => c.group_tasks,
                Strategy::Spread(field) => {
                    let value = attribute_value(c.instance, field);
                    spread_counts
                        .get(&(field.as_str(), value))
                        .copied()
                        .unwrap_or(0)
                }
                Strategy::BinpackCpu => c.left.cpu,
                Strategy::BinpackMemory => c.left.memory,
            })
            .collect();
        key.push(-c.left.memory);
        key
    };
    candidates
        .iter()
        .map(|c| (key(c), c.instance.arn.as_str()))
        .min()
        .map(|(_, arn)| arn.to_string())
        .ok_or(refusals)
}

fn attribute_value<'a>(instance: &'a ContainerInstance, field: &str) -> &'a str {
    let name = field.strip_prefix("attribute:").unwrap_or(field);
    instance
        .attribute(name)
        .and_then(|a| a.value.as_deref())
        .unwrap_or("")
}

/// Live tasks of the group per (spread field, attribute value) across the cluster.
fn spread_counts<'a>(
    state: &'a State,
    cluster_arn: &str,
    rules: &'a Rules,
) -> HashMap<(&'a str, &'a str), i64> {
    let mut counts = HashMap::new();
    for field in rules.strategies.iter().filter_map(|s| match s {
        Strategy::Spread(f) if f != "instanceId" => Some(f.as_str()),
        _ => None,
    }) {
        for instance in state
            .instances
            .values()
            .filter(|i| i.cluster_arn == cluster_arn)
        {
            let n = live_tasks(state, &instance.arn)
                .iter()
                .filter(|t| t.group.as_deref() == Some(rules.group.as_str()))
                .count() as i64;
            *counts
                .entry((field, attribute_value(instance, field)))
                .or_insert(0) += n;
        }
    }
    counts
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
            agent_disconnected_at: None,
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
        assert_eq!(
            place(&state, "c", &small, &Rules::default()),
            Ok("i2".to_string())
        );
        let huge = Reservation {
            memory: 4096,
            ..Default::default()
        };
        let refusals = place(&state, "c", &huge, &Rules::default()).unwrap_err();
        assert_eq!(refusals.len(), 2);
        assert!(refusals.iter().all(|r| r.shortfall == Shortfall::Memory));
        let reserved_port = Reservation {
            tcp_ports: vec![22],
            ..Default::default()
        };
        let refusals = place(&state, "c", &reserved_port, &Rules::default()).unwrap_err();
        assert!(
            refusals
                .iter()
                .all(|r| r.shortfall.reason() == "RESOURCE:PORTS")
        );
        let mut busy = instance("i2", 1024, 2048);
        busy.status = "DRAINING".into();
        state.instances.insert("i2".into(), busy);
        assert_eq!(
            place(&state, "c", &small, &Rules::default()),
            Ok("i1".to_string())
        );
    }

    fn rules(constraints: Value, strategies: Value) -> Rules {
        let td = td(json!({"containerDefinitions": []}));
        Rules::parse(
            "family:web",
            constraints.as_array().unwrap(),
            strategies.as_array().unwrap(),
            &td,
        )
        .unwrap()
    }

    #[test]
    fn constraints_and_strategies_choose_the_instance() {
        let mut state = State::default();
        let mut blue = instance("i1", 1024, 512);
        blue.attributes.push(crate::store::model::Attribute {
            name: "stack".into(),
            value: Some("blue".into()),
        });
        state.instances.insert("i1".into(), blue);
        state
            .instances
            .insert("i2".into(), instance("i2", 1024, 2048));
        let small = Reservation {
            memory: 128,
            ..Default::default()
        };
        let binpack = rules(json!([]), json!([{"type": "binpack", "field": "memory"}]));
        assert_eq!(place(&state, "c", &small, &binpack), Ok("i1".into()));
        let member = rules(
            json!([{"type": "memberOf", "expression": "attribute:stack != blue"}]),
            json!([{"type": "binpack", "field": "memory"}]),
        );
        assert_eq!(place(&state, "c", &small, &member), Ok("i2".into()));

        let mut task = crate::store::model::samples::task("t", "i2");
        task.group = Some("family:web".into());
        state.tasks.insert("t".into(), task);
        let distinct = rules(json!([{"type": "distinctInstance"}]), json!([]));
        assert_eq!(place(&state, "c", &small, &distinct), Ok("i1".into()));
        let spread = rules(
            json!([]),
            json!([{"type": "spread", "field": "instanceId"}]),
        );
        assert_eq!(place(&state, "c", &small, &spread), Ok("i1".into()));
        let nowhere = rules(
            json!([{"type": "distinctInstance"},
                   {"type": "memberOf", "expression": "attribute:stack exists"}]),
            json!([]),
        );
        let mut blocked = state.clone();
        let mut other = crate::store::model::samples::task("u", "i1");
        other.group = Some("family:web".into());
        blocked.tasks.insert("u".into(), other);
        let refusals = place(&blocked, "c", &small, &nowhere).unwrap_err();
        let mut gone = state.clone();
        for instance in gone.instances.values_mut() {
            instance.agent_connected = false;
            instance.agent_disconnected_at = Some(1.0);
        }
        let refusals_gone = place(&gone, "c", &small, &Rules::default()).unwrap_err();
        assert!(
            refusals_gone
                .iter()
                .all(|r| r.shortfall.reason() == "AGENT")
        );
        let mut reasons: Vec<&str> = refusals.iter().map(|r| r.shortfall.reason()).collect();
        reasons.sort_unstable();
        assert_eq!(reasons, vec!["ATTRIBUTE", "DISTINCT_INSTANCE"]);
    }

    #[test]
    fn unknown_rules_are_refused() {
        let td = td(json!({"containerDefinitions": []}));
        for (constraints, strategies) in [
            (json!([{"type": "memberOf"}]), json!([])),
            (
                json!([{"type": "memberOf", "expression": "nonsense"}]),
                json!([]),
            ),
            (json!([{"type": "sameHost"}]), json!([])),
            (json!([]), json!([{"type": "spread", "field": "zone"}])),
            (json!([]), json!([{"type": "binpack", "field": "disk"}])),
        ] {
            assert!(
                Rules::parse(
                    "g",
                    constraints.as_array().unwrap(),
                    strategies.as_array().unwrap(),
                    &td
                )
                .is_err()
            );
        }
    }
}
