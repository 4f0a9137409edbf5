//! The three request bodies (spec endpoints §4.12) with the reference's field types and
//! its validation, in its order and with its exact texts.

use std::net::IpAddr;

use super::gojson::{self, DecodeError, Value};

pub const MISSING_BODY: &str = "required request body is missing";
pub const ZERO_DELAY_AND_JITTER: &str =
    "required either DelayMilliseconds or JitterMilliseconds to be non-zero";

fn missing(field: &str) -> String {
    format!("required parameter {field} is missing")
}

fn invalid(value: &str, field: &str) -> String {
    format!("invalid value {value} for parameter {field}")
}

/// `network-blackhole-port` (all three operations).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Blackhole {
    pub port: Option<u16>,
    pub protocol: Option<String>,
    pub traffic_type: Option<String>,
    /// `None` entries are JSON nulls (Go's nil `*string`).
    pub sources_to_filter: Vec<Option<String>>,
}

/// `network-latency` start.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Latency {
    pub delay_ms: Option<u64>,
    pub jitter_ms: Option<u64>,
    pub sources: Vec<Option<String>>,
    pub sources_to_filter: Vec<Option<String>>,
    pub flows_percent: Option<i64>,
}

/// `network-packet-loss` start.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PacketLoss {
    pub loss_percent: Option<u64>,
    pub sources: Vec<Option<String>>,
    pub sources_to_filter: Vec<Option<String>>,
    pub flows_percent: Option<i64>,
}

/// A validated blackhole request with the values the commands need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlackholeSpec {
    pub port: u16,
    pub protocol: String,
    pub egress: bool,
    pub sources_to_filter: Vec<String>,
}

impl BlackholeSpec {
    /// `<trafficType>-<protocol>-<port>`.
    pub fn chain(&self) -> String {
        let dir = if self.egress { "egress" } else { "ingress" };
        format!("{dir}-{}-{}", self.protocol, self.port)
    }
}

/// What a latency or packet loss fault does to the selected flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impairment {
    Delay { delay_ms: u64, jitter_ms: u64 },
    Loss { percent: u64 },
}

/// A validated latency or packet loss request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetemSpec {
    pub impairment: Impairment,
    pub sources: Vec<String>,
    pub sources_to_filter: Vec<String>,
    /// 1..=100; 100 when the request has none.
    pub flows_percent: u32,
}

/// Go's `UnmarshalTypeError` text; Go keeps the first one in document order.
struct Fields<'a> {
    strukt: &'static str,
    /// The entry index of the error, and its text.
    error: Option<(usize, String)>,
    entries: &'a [(String, Value)],
}

impl<'a> Fields<'a> {
    /// Decodes the body's top level: an object (or null) of `strukt`.
    fn top(value: &'a Value, strukt: &'static str) -> Result<Fields<'a>, String> {
        match value {
            Value::Object(entries) => Ok(Fields {
                strukt,
                error: None,
                entries,
            }),
            Value::Null => Ok(Fields {
                strukt,
                error: None,
                entries: &[],
            }),
            other => Err(format!(
                "json: cannot unmarshal {} into Go value of type types.{strukt}",
                other.kind()
            )),
        }
    }

    fn type_error(&mut self, at: usize, what: &str, field: &str, ty: &str) {
        if self.error.as_ref().is_none_or(|(i, _)| at < *i) {
            self.error = Some((
                at,
                format!(
                    "json: cannot unmarshal {what} into Go struct field {}.{field} of type {ty}",
                    self.strukt
                ),
            ));
        }
    }

    /// The values given for `field` under any case of its name, in order (Go: the
    /// last one wins, a type error on any of them counts).
    fn values(&self, field: &str) -> Vec<(usize, &'a Value)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k.eq_ignore_ascii_case(field))
            .map(|(i, (_, v))| (i, v))
            .collect()
    }

    fn uint(&mut self, field: &str, ty: &str, max: u64) -> Option<u64> {
        let mut out = None;
        for (at, v) in self.values(field) {
            match v {
                Value::Null => out = None,
                Value::Number(n) => match n.parse::<u64>() {
                    Ok(x) if x <= max => out = Some(x),
                    _ => self.type_error(at, &format!("number {n}"), field, ty),
                },
                other => self.type_error(at, other.kind(), field, ty),
            }
        }
        out
    }

    fn int(&mut self, field: &str) -> Option<i64> {
        let mut out = None;
        for (at, v) in self.values(field) {
            match v {
                Value::Null => out = None,
                Value::Number(n) => match n.parse::<i64>() {
                    Ok(x) => out = Some(x),
                    _ => self.type_error(at, &format!("number {n}"), field, "int"),
                },
                other => self.type_error(at, other.kind(), field, "int"),
            }
        }
        out
    }

    fn string(&mut self, field: &str) -> Option<String> {
        let mut out = None;
        for (at, v) in self.values(field) {
            match v {
                Value::Null => out = None,
                Value::String(s) => out = Some(s.clone()),
                other => self.type_error(at, other.kind(), field, "string"),
            }
        }
        out
    }

    fn strings(&mut self, field: &str) -> Vec<Option<String>> {
        let mut out = Vec::new();
        for (at, v) in self.values(field) {
            match v {
                Value::Null => out = Vec::new(),
                Value::Array(items) => {
                    out = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            Value::Null => out.push(None),
                            Value::String(s) => out.push(Some(s.clone())),
                            other => {
                                self.type_error(at, other.kind(), field, "string");
                                out.push(None);
                            }
                        }
                    }
                }
                other => self.type_error(at, other.kind(), field, "[]*string"),
            }
        }
        out
    }

    fn finish<T>(self, value: T) -> Result<T, String> {
        match self.error {
            Some((_, e)) => Err(e),
            None => Ok(value),
        }
    }
}

/// The 400 text of a body that does not decode.
fn decode(body: &[u8]) -> Result<Value, String> {
    gojson::decode(body).map_err(|e| match e {
        DecodeError::Empty => MISSING_BODY.to_owned(),
        DecodeError::Invalid(m) => m,
    })
}

impl Blackhole {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let value = decode(body)?;
        let mut f = Fields::top(&value, "NetworkBlackholePortRequest")?;
        let r = Blackhole {
            port: f
                .uint("Port", "uint16", u64::from(u16::MAX))
                .map(|p| p as u16),
            protocol: f.string("Protocol"),
            traffic_type: f.string("TrafficType"),
            sources_to_filter: f.strings("SourcesToFilter"),
        };
        f.finish(r)
    }

    pub fn validate(&self) -> Result<BlackholeSpec, String> {
        let Some(port) = self.port else {
            return Err(missing("Port"));
        };
        let protocol = self.protocol.as_deref().unwrap_or_default();
        if protocol.is_empty() {
            return Err(missing("Protocol"));
        }
        let traffic = self.traffic_type.as_deref().unwrap_or_default();
        if traffic.is_empty() {
            return Err(missing("TrafficType"));
        }
        if protocol != "tcp" && protocol != "udp" {
            return Err(invalid(protocol, "Protocol"));
        }
        if traffic != "ingress" && traffic != "egress" {
            return Err(invalid(traffic, "TrafficType"));
        }
        let sources_to_filter = ip_list(&self.sources_to_filter, "SourcesToFilter")?;
        Ok(BlackholeSpec {
            port,
            protocol: protocol.to_owned(),
            egress: traffic == "egress",
            sources_to_filter,
        })
    }
}

fn flows_percent(v: Option<i64>) -> Result<u32, String> {
    match v {
        None => Ok(100),
        Some(p) if (1..=100).contains(&p) => Ok(p as u32),
        Some(p) => Err(invalid(&p.to_string(), "flowsPercent")),
    }
}

impl Latency {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let value = decode(body)?;
        let mut f = Fields::top(&value, "NetworkLatencyRequest")?;
        let r = Latency {
            delay_ms: f.uint("DelayMilliseconds", "uint64", u64::MAX),
            jitter_ms: f.uint("JitterMilliseconds", "uint64", u64::MAX),
            sources: f.strings("Sources"),
            sources_to_filter: f.strings("SourcesToFilter"),
            flows_percent: f.int("FlowsPercent"),
        };
        f.finish(r)
    }

    pub fn validate(&self) -> Result<NetemSpec, String> {
        let Some(delay_ms) = self.delay_ms else {
            return Err(missing("DelayMilliseconds"));
        };
        let Some(jitter_ms) = self.jitter_ms else {
            return Err(missing("JitterMilliseconds"));
        };
        if delay_ms == 0 && jitter_ms == 0 {
            return Err(ZERO_DELAY_AND_JITTER.to_owned());
        }
        if self.sources.is_empty() {
            return Err(missing("Sources"));
        }
        let sources = ip_list(&self.sources, "Sources")?;
        let sources_to_filter = ip_list(&self.sources_to_filter, "SourcesToFilter")?;
        Ok(NetemSpec {
            impairment: Impairment::Delay {
                delay_ms,
                jitter_ms,
            },
            sources,
            sources_to_filter,
            flows_percent: flows_percent(self.flows_percent)?,
        })
    }
}

impl PacketLoss {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let value = decode(body)?;
        let mut f = Fields::top(&value, "NetworkPacketLossRequest")?;
        let r = PacketLoss {
            loss_percent: f.uint("LossPercent", "uint64", u64::MAX),
            sources: f.strings("Sources"),
            sources_to_filter: f.strings("SourcesToFilter"),
            flows_percent: f.int("FlowsPercent"),
        };
        f.finish(r)
    }

    pub fn validate(&self) -> Result<NetemSpec, String> {
        let Some(percent) = self.loss_percent else {
            return Err(missing("LossPercent"));
        };
        if !(1..=100).contains(&percent) {
            // Go prints it through a conversion to int.
            return Err(invalid(&(percent as i64).to_string(), "LossPercent"));
        }
        if self.sources.is_empty() {
            return Err(missing("Sources"));
        }
        let sources = ip_list(&self.sources, "Sources")?;
        let sources_to_filter = ip_list(&self.sources_to_filter, "SourcesToFilter")?;
        Ok(NetemSpec {
            impairment: Impairment::Loss { percent },
            sources,
            sources_to_filter,
            flows_percent: flows_percent(self.flows_percent)?,
        })
    }
}

/// Every entry must be an IPv4/IPv6 address or CIDR block (a null counts as `""`).
fn ip_list(list: &[Option<String>], field: &str) -> Result<Vec<String>, String> {
    list.iter()
        .map(|s| {
            let s = s.as_deref().unwrap_or_default();
            if family(s).is_some() {
                Ok(s.to_owned())
            } else {
                Err(invalid(s, field))
            }
        })
        .collect()
}

/// IP family of an address or CIDR block: `Some(false)` IPv4, `Some(true)` IPv6.
pub fn family(s: &str) -> Option<bool> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if let Some(p) = prefix {
        // Go's ParseCIDR: decimal digits only, no sign, no leading zeros.
        let ok_digits = !p.is_empty()
            && p.bytes().all(|c| c.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'));
        if !ok_digits || p.parse::<u32>().ok()? > max {
            return None;
        }
    }
    Some(ip.is_ipv6())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bh(body: &str) -> String {
        match Blackhole::parse(body.as_bytes()).and_then(|r| r.validate()) {
            Err(e) => e,
            Ok(s) => panic!("{body}: accepted {s:?}"),
        }
    }

    fn lat(body: &str) -> String {
        match Latency::parse(body.as_bytes()).and_then(|r| r.validate()) {
            Err(e) => e,
            Ok(s) => panic!("{body}: accepted {s:?}"),
        }
    }

    fn loss(body: &str) -> String {
        match PacketLoss::parse(body.as_bytes()).and_then(|r| r.validate()) {
            Err(e) => e,
            Ok(s) => panic!("{body}: accepted {s:?}"),
        }
    }

    #[test]
    fn blackhole_texts() {
        assert_eq!(bh(""), MISSING_BODY);
        assert_eq!(bh("{"), "unexpected EOF");
        assert_eq!(bh("{}"), "required parameter Port is missing");
        assert_eq!(bh("null"), "required parameter Port is missing");
        assert_eq!(
            bh(r#"{"Port":1}"#),
            "required parameter Protocol is missing"
        );
        assert_eq!(
            bh(r#"{"Port":1,"Protocol":""}"#),
            "required parameter Protocol is missing"
        );
        assert_eq!(
            bh(r#"{"Port":1,"Protocol":"tcp"}"#),
            "required parameter TrafficType is missing"
        );
        assert_eq!(
            bh(r#"{"Port":1,"Protocol":"icmp","TrafficType":"x"}"#),
            "invalid value icmp for parameter Protocol"
        );
        assert_eq!(
            bh(r#"{"Port":1,"Protocol":"tcp","TrafficType":"both"}"#),
            "invalid value both for parameter TrafficType"
        );
        assert_eq!(
            bh(
                r#"{"Port":1,"Protocol":"tcp","TrafficType":"ingress","SourcesToFilter":["10.0.0.0/33"]}"#
            ),
            "invalid value 10.0.0.0/33 for parameter SourcesToFilter"
        );
        assert_eq!(
            bh(r#"{"Port":1,"Protocol":"tcp","TrafficType":"ingress","SourcesToFilter":[null]}"#),
            "invalid value  for parameter SourcesToFilter"
        );
        assert_eq!(
            bh(r#"{"Port":70000}"#),
            "json: cannot unmarshal number 70000 into Go struct field NetworkBlackholePortRequest.Port of type uint16"
        );
        assert_eq!(
            bh(r#"{"Port":"80"}"#),
            "json: cannot unmarshal string into Go struct field NetworkBlackholePortRequest.Port of type uint16"
        );
        assert_eq!(
            bh(r#"{"Port":-1}"#),
            "json: cannot unmarshal number -1 into Go struct field NetworkBlackholePortRequest.Port of type uint16"
        );
        assert_eq!(
            bh(r#"{"Protocol":5,"Port":"x"}"#),
            "json: cannot unmarshal number into Go struct field NetworkBlackholePortRequest.Protocol of type string"
        );
        assert_eq!(
            bh(r#"{"SourcesToFilter":"1.2.3.4"}"#),
            "json: cannot unmarshal string into Go struct field NetworkBlackholePortRequest.SourcesToFilter of type []*string"
        );
        assert_eq!(
            bh(r#"{"SourcesToFilter":[1]}"#),
            "json: cannot unmarshal number into Go struct field NetworkBlackholePortRequest.SourcesToFilter of type string"
        );
        assert_eq!(
            bh("[]"),
            "json: cannot unmarshal array into Go value of type types.NetworkBlackholePortRequest"
        );
    }

    #[test]
    fn blackhole_accepts_case_insensitive_keys_and_ignores_unknown_ones() {
        let spec = Blackhole::parse(
            br#"{"port":8080,"PROTOCOL":"udp","TrafficType":"egress","Other":[{}],"SourcesToFilter":["::1","10.0.0.0/8"]}"#,
        )
        .and_then(|r| r.validate())
        .unwrap();
        assert_eq!(
            spec,
            BlackholeSpec {
                port: 8080,
                protocol: "udp".into(),
                egress: true,
                sources_to_filter: vec!["::1".into(), "10.0.0.0/8".into()],
            }
        );
        assert_eq!(spec.chain(), "egress-udp-8080");
    }

    #[test]
    fn latency_texts() {
        assert_eq!(lat(" "), MISSING_BODY);
        assert_eq!(lat("{}"), "required parameter DelayMilliseconds is missing");
        assert_eq!(
            lat(r#"{"DelayMilliseconds":1}"#),
            "required parameter JitterMilliseconds is missing"
        );
        assert_eq!(
            lat(r#"{"DelayMilliseconds":0,"JitterMilliseconds":0}"#),
            ZERO_DELAY_AND_JITTER
        );
        assert_eq!(
            lat(r#"{"DelayMilliseconds":1,"JitterMilliseconds":0,"Sources":[]}"#),
            "required parameter Sources is missing"
        );
        assert_eq!(
            lat(r#"{"DelayMilliseconds":1,"JitterMilliseconds":0,"Sources":["x"]}"#),
            "invalid value x for parameter Sources"
        );
        assert_eq!(
            lat(
                r#"{"DelayMilliseconds":1,"JitterMilliseconds":0,"Sources":["1.2.3.4"],"SourcesToFilter":["y"]}"#
            ),
            "invalid value y for parameter SourcesToFilter"
        );
        assert_eq!(
            lat(
                r#"{"DelayMilliseconds":1,"JitterMilliseconds":0,"Sources":["1.2.3.4"],"FlowsPercent":0}"#
            ),
            "invalid value 0 for parameter flowsPercent"
        );
        assert_eq!(
            lat(
                r#"{"DelayMilliseconds":1,"JitterMilliseconds":0,"Sources":["1.2.3.4"],"FlowsPercent":101}"#
            ),
            "invalid value 101 for parameter flowsPercent"
        );
        assert_eq!(
            lat(r#"{"DelayMilliseconds":1.5}"#),
            "json: cannot unmarshal number 1.5 into Go struct field NetworkLatencyRequest.DelayMilliseconds of type uint64"
        );
        assert_eq!(
            lat(r#"{"FlowsPercent":true}"#),
            "json: cannot unmarshal bool into Go struct field NetworkLatencyRequest.FlowsPercent of type int"
        );
        let ok = Latency::parse(
            br#"{"DelayMilliseconds":0,"JitterMilliseconds":5,"Sources":["203.0.113.0/24"]}"#,
        )
        .and_then(|r| r.validate())
        .unwrap();
        assert_eq!(ok.flows_percent, 100);
        assert_eq!(
            ok.impairment,
            Impairment::Delay {
                delay_ms: 0,
                jitter_ms: 5
            }
        );
    }

    #[test]
    fn packet_loss_texts() {
        assert_eq!(loss(""), MISSING_BODY);
        assert_eq!(loss("{}"), "required parameter LossPercent is missing");
        assert_eq!(
            loss(r#"{"LossPercent":0}"#),
            "invalid value 0 for parameter LossPercent"
        );
        assert_eq!(
            loss(r#"{"LossPercent":101}"#),
            "invalid value 101 for parameter LossPercent"
        );
        assert_eq!(
            loss(r#"{"LossPercent":5}"#),
            "required parameter Sources is missing"
        );
        assert_eq!(
            loss(r#"{"LossPercent":5,"Sources":["1.2.3.4"],"FlowsPercent":-3}"#),
            "invalid value -3 for parameter flowsPercent"
        );
        assert_eq!(
            loss(r#"{"LossPercent":"5"}"#),
            "json: cannot unmarshal string into Go struct field NetworkPacketLossRequest.LossPercent of type uint64"
        );
    }

    #[test]
    fn families() {
        assert_eq!(family("1.2.3.4"), Some(false));
        assert_eq!(family("10.0.0.0/8"), Some(false));
        assert_eq!(family("2001:db8::/32"), Some(true));
        assert_eq!(family("::1"), Some(true));
        assert_eq!(family("1.2.3.4/"), None);
        assert_eq!(family("1.2.3.4/08"), None);
        assert_eq!(family("::/129"), None);
        assert_eq!(family("host"), None);
    }
}
