//! The ACS connection URL's query (backend-protocol.md §3.2), which replaces the model's
//! `PollRequest`.

use ecs_types::acs::HandshakeError;

/// What an agent says about itself when it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectParams {
    /// The cluster as the agent is configured: a name or an ARN.
    pub cluster: String,
    pub container_instance: String,
    pub agent_hash: Option<String>,
    pub agent_version: Option<String>,
    /// `DockerVersion: 25.0.8` on ACS.
    pub docker_version: Option<String>,
    /// True on the first connection of an agent process: it needs credentials again.
    pub send_credentials: bool,
    pub seq_num: Option<i64>,
    pub protocol_version: Option<i64>,
}

fn bad_request(message: String) -> HandshakeError {
    HandshakeError::new("BadRequestException", message)
}

fn parse_int(name: &str, value: &str) -> Result<i64, HandshakeError> {
    value.parse().map_err(|_| {
        bad_request(format!(
            "Query parameter {name} must be an integer, got '{value}'."
        ))
    })
}

impl ConnectParams {
    /// Parses a form-encoded query; unknown parameters are ignored (agents add them).
    pub fn parse(query: &str) -> Result<Self, HandshakeError> {
        let mut cluster = None;
        let mut container_instance = None;
        let mut params = ConnectParams {
            cluster: String::new(),
            container_instance: String::new(),
            agent_hash: None,
            agent_version: None,
            docker_version: None,
            send_credentials: false,
            seq_num: None,
            protocol_version: None,
        };
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match name.as_ref() {
                "clusterArn" => cluster = Some(value),
                "containerInstanceArn" => container_instance = Some(value),
                "agentHash" => params.agent_hash = Some(value),
                "agentVersion" => params.agent_version = Some(value),
                "dockerVersion" => params.docker_version = Some(value),
                "sendCredentials" => {
                    params.send_credentials = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(bad_request(format!(
                                "Query parameter sendCredentials must be true or false, got '{other}'."
                            )));
                        }
                    }
                }
                "seqNum" => params.seq_num = Some(parse_int("seqNum", &value)?),
                "protocolVersion" => {
                    params.protocol_version = Some(parse_int("protocolVersion", &value)?)
                }
                _ => {}
            }
        }
        params.cluster = cluster
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad_request("Missing query parameter clusterArn.".to_string()))?;
        params.container_instance =
            container_instance
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    bad_request("Missing query parameter containerInstanceArn.".to_string())
                })?;
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_agents_query() {
        let q = "agentHash=a8b3e7d3&agentVersion=1.105.1&clusterArn=local&containerInstanceArn=arn%3Aaws%3Aecs%3Aus-east-1%3A111122223333%3Acontainer-instance%2Flocal%2F8f0c&dockerVersion=DockerVersion%3A+25.0.8&protocolVersion=2&sendCredentials=true&seqNum=1";
        let p = ConnectParams::parse(q).unwrap();
        assert_eq!(p.cluster, "local");
        assert_eq!(
            p.container_instance,
            "arn:aws:ecs:us-east-1:111122223333:container-instance/local/8f0c"
        );
        assert_eq!(p.docker_version.as_deref(), Some("DockerVersion: 25.0.8"));
        assert!(p.send_credentials);
        assert_eq!((p.seq_num, p.protocol_version), (Some(1), Some(2)));
    }

    #[test]
    fn refuses_missing_and_malformed_parameters() {
        assert!(ConnectParams::parse("clusterArn=a").is_err());
        assert!(ConnectParams::parse("containerInstanceArn=i").is_err());
        let e = ConnectParams::parse("clusterArn=a&containerInstanceArn=i&seqNum=x").unwrap_err();
        assert_eq!(e.exception_type, "BadRequestException");
        assert!(
            ConnectParams::parse("clusterArn=a&containerInstanceArn=i&sendCredentials=yes")
                .is_err()
        );
    }
}
