//! The reference agent's acceptance rules for ACS messages (backend-protocol.md
//! §3.7, §3.9), as pure checks on the wire shapes: the agent drops (does not ack)
//! a message that fails them, and a control plane must never send one.

use crate::acs::{
    AttachInstanceNetworkInterfacesMessage, AttachTaskNetworkInterfacesMessage,
    ConfirmAttachmentMessage, IAMRoleCredentialsMessage, PayloadMessage, RoleType,
    TaskManifestMessage,
};
use crate::arn::Arn;
use crate::task::{ElasticNetworkInterface, NetworkInterfaceAssociationProtocol, Task};

/// Why the reference would drop (or crash on) a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {message_type}: {problem}")]
pub struct InvalidMessage {
    pub message_type: &'static str,
    pub problem: String,
}

fn check(
    message_type: &'static str,
    ok: bool,
    problem: impl FnOnce() -> String,
) -> Result<(), InvalidMessage> {
    if ok {
        Ok(())
    } else {
        Err(InvalidMessage {
            message_type,
            problem: problem(),
        })
    }
}

fn non_empty(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

fn require(
    message_type: &'static str,
    members: &[(&str, &Option<String>)],
) -> Result<(), InvalidMessage> {
    for (name, value) in members {
        check(message_type, non_empty(value), || format!("missing {name}"))?;
    }
    Ok(())
}

impl PayloadMessage {
    /// `messageId`, `clusterArn` and `containerInstanceArn` must be non-empty;
    /// otherwise the whole message is dropped without an ack.
    pub fn validate(&self) -> Result<(), InvalidMessage> {
        require(
            "PayloadMessage",
            &[
                ("messageId", &self.message_id),
                ("clusterArn", &self.cluster_arn),
                ("containerInstanceArn", &self.container_instance_arn),
            ],
        )
    }
}

impl Task {
    /// Members without which the reference crashes (§3.9): `attachmentType` on
    /// every attachment; for `amazonebs` attachments every property `name` and
    /// the `name` of every task volume.
    pub fn validate_for_reference(&self) -> Result<(), InvalidMessage> {
        const T: &str = "Task";
        let attachments = self.attachments.as_deref().unwrap_or(&[]);
        for a in attachments {
            check(T, non_empty(&a.attachment_type), || {
                "attachment without attachmentType".into()
            })?;
            if a.attachment_type.as_deref() == Some("amazonebs") {
                for p in a.attachment_properties.as_deref().unwrap_or(&[]) {
                    check(T, non_empty(&p.name), || {
                        "amazonebs attachment property without name".into()
                    })?;
                }
                for v in self.volumes() {
                    check(T, non_empty(&v.name), || {
                        "volume without name in a task with an amazonebs attachment".into()
                    })?;
                }
            }
        }
        Ok(())
    }
}

impl IAMRoleCredentialsMessage {
    /// `messageId`, `taskArn`, `roleCredentials.credentialsId` and a known
    /// `roleType` are required; otherwise dropped, no ack.
    pub fn validate(&self) -> Result<(), InvalidMessage> {
        const T: &str = "IAMRoleCredentialsMessage";
        require(
            T,
            &[("messageId", &self.message_id), ("taskArn", &self.task_arn)],
        )?;
        let creds = self
            .role_credentials
            .as_ref()
            .ok_or_else(|| InvalidMessage {
                message_type: T,
                problem: "missing roleCredentials".into(),
            })?;
        require(
            T,
            &[("roleCredentials.credentialsId", &creds.credentials_id)],
        )?;
        check(
            T,
            matches!(
                self.role_type,
                Some(RoleType::TaskApplication | RoleType::TaskExecution)
            ),
            || {
                format!(
                    "roleType must be TaskApplication or TaskExecution, got {:?}",
                    self.role_type.as_ref().map(|r| r.as_str())
                )
            },
        )
    }
}

impl TaskManifestMessage {
    /// `timeline`, and `taskArn` + `desiredStatus` on every entry: the reference
    /// crashes without them (§3.9).
    pub fn validate(&self) -> Result<(), InvalidMessage> {
        const T: &str = "TaskManifestMessage";
        require(T, &[("messageId", &self.message_id)])?;
        check(T, self.timeline.is_some(), || "missing timeline".into())?;
        for entry in self.tasks.as_deref().unwrap_or(&[]) {
            require(
                T,
                &[
                    ("tasks[].taskArn", &entry.task_arn),
                    ("tasks[].desiredStatus", &entry.desired_status),
                ],
            )?;
        }
        Ok(())
    }
}

/// `a.b.c.d/n` with each part in range.
fn is_ipv4_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    addr.parse::<std::net::Ipv4Addr>().is_ok() && prefix.parse::<u8>().is_ok_and(|p| p <= 32)
}

impl ElasticNetworkInterface {
    /// The reference's ENI checks for attach messages (§3.7.5).
    pub fn validate(&self) -> Result<(), InvalidMessage> {
        const T: &str = "ElasticNetworkInterface";
        require(
            T,
            &[("macAddress", &self.mac_address), ("ec2Id", &self.ec2_id)],
        )?;
        let has_v4 = self.ipv4_addresses.as_ref().is_some_and(|a| !a.is_empty());
        let has_v6 = self.ipv6_addresses.as_ref().is_some_and(|a| !a.is_empty());
        if has_v4 {
            let gw = self.subnet_gateway_ipv4_address.as_deref().unwrap_or("");
            check(T, is_ipv4_cidr(gw), || {
                format!("subnetGatewayIpv4Address {gw:?} is not a.b.c.d/n")
            })?;
        } else {
            check(T, has_v6, || "no IPv4 or IPv6 address".into())?;
            require(
                T,
                &[(
                    "subnetGatewayIpv6Address",
                    &self.subnet_gateway_ipv6_address,
                )],
            )?;
        }
        match &self.interface_association_protocol {
            None | Some(NetworkInterfaceAssociationProtocol::Default) => Ok(()),
            Some(NetworkInterfaceAssociationProtocol::Vlan) => check(
                T,
                self.interface_vlan_properties.as_ref().is_some_and(|v| {
                    non_empty(&v.vlan_id) && non_empty(&v.trunk_interface_mac_address)
                }),
                || "vlan interface without vlan properties".into(),
            ),
            Some(other) => check(T, false, || {
                format!("unsupported interfaceAssociationProtocol {other}")
            }),
        }
    }
}

fn validate_enis(
    message_type: &'static str,
    wait_timeout_ms: Option<i64>,
    enis: &Option<Vec<ElasticNetworkInterface>>,
) -> Result<(), InvalidMessage> {
    check(message_type, wait_timeout_ms.is_some_and(|w| w > 0), || {
        "waitTimeoutMs must be > 0".into()
    })?;
    let enis = enis.as_deref().unwrap_or(&[]);
    check(message_type, !enis.is_empty(), || {
        "no elasticNetworkInterfaces".into()
    })?;
    for eni in enis {
        eni.validate().map_err(|e| InvalidMessage {
            message_type,
            problem: e.problem,
        })?;
    }
    Ok(())
}

impl AttachTaskNetworkInterfacesMessage {
    pub fn validate(&self) -> Result<(), InvalidMessage> {
        const T: &str = "AttachTaskNetworkInterfacesMessage";
        require(
            T,
            &[
                ("messageId", &self.message_id),
                ("clusterArn", &self.cluster_arn),
                ("containerInstanceArn", &self.container_instance_arn),
                ("taskArn", &self.task_arn),
            ],
        )?;
        validate_enis(T, self.wait_timeout_ms, &self.elastic_network_interfaces)
    }
}

impl AttachInstanceNetworkInterfacesMessage {
    pub fn validate(&self) -> Result<(), InvalidMessage> {
        const T: &str = "AttachInstanceNetworkInterfacesMessage";
        require(
            T,
            &[
                ("messageId", &self.message_id),
                ("clusterArn", &self.cluster_arn),
                ("containerInstanceArn", &self.container_instance_arn),
            ],
        )?;
        validate_enis(T, self.wait_timeout_ms, &self.elastic_network_interfaces)
    }
}

impl ConfirmAttachmentMessage {
    /// The generic checks: ARNs parse, every property has a name and a value.
    /// Type-specific property checks (e.g. `amazonebs`) are the consumer's.
    pub fn validate(&self) -> Result<(), InvalidMessage> {
        const T: &str = "ConfirmAttachmentMessage";
        require(T, &[("messageId", &self.message_id)])?;
        let attachment = self.attachment.as_ref().ok_or_else(|| InvalidMessage {
            message_type: T,
            problem: "missing attachment".into(),
        })?;
        for (name, value) in [
            ("clusterArn", &self.cluster_arn),
            ("containerInstanceArn", &self.container_instance_arn),
            ("attachment.attachmentArn", &attachment.attachment_arn),
        ] {
            let v = value.as_deref().unwrap_or("");
            check(T, v.parse::<Arn>().is_ok(), || {
                format!("{name} {v:?} is not an ARN")
            })?;
        }
        for p in attachment.attachment_properties.as_deref().unwrap_or(&[]) {
            check(T, non_empty(&p.name) && non_empty(&p.value), || {
                "attachment property without name or value".into()
            })?;
        }
        Ok(())
    }

    /// 0 or absent means 300000 ms.
    pub fn effective_wait_timeout_ms(&self) -> i64 {
        match self.wait_timeout_ms {
            Some(w) if w > 0 => w,
            _ => 300_000,
        }
    }
}
