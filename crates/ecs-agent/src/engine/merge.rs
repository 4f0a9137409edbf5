//! Go-style decoding of the raw `dockerConfig` JSON on top of the agent's own values.
//!
//! The reference builds Docker's Go `Config`/`HostConfig` structs and then runs
//! `json.Unmarshal` of the backend's raw strings into them. That gives semantics plain
//! JSON merging does not: keys match struct fields case-insensitively (exact match
//! first), unknown keys are ignored, scalars and arrays are replaced, maps gain or
//! overwrite entries, nested structs merge field by field, `null` resets maps, slices
//! and pointers but leaves plain scalars and structs alone, and a type mismatch is an
//! error. This module reproduces that on `serde_json::Value` using a schema of Docker's
//! field names, so the values it produces always carry Docker's canonical keys.

use serde_json::{Map, Value};

/// The Go type shape of a Docker API field.
#[derive(Debug)]
pub enum Shape {
    Str,
    Int,
    Bool,
    /// Docker's `StrSlice`: a list of strings, or one string meaning a one-element list.
    StrSlice,
    /// `struct{}` (values of `ExposedPorts`, `Volumes`).
    Empty,
    List(&'static Shape),
    Map(&'static Shape),
    Struct(&'static str, &'static [Field]),
    Ptr(&'static Shape),
}

/// One named field of a struct shape.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub shape: Shape,
}

const fn f(name: &'static str, shape: Shape) -> Field {
    Field { name, shape }
}

static HEALTHCHECK: Shape = Shape::Struct(
    "HealthConfig",
    &[
        f("Test", Shape::List(&Shape::Str)),
        f("Interval", Shape::Int),
        f("Timeout", Shape::Int),
        f("StartPeriod", Shape::Int),
        f("StartInterval", Shape::Int),
        f("Retries", Shape::Int),
    ],
);

/// Docker's `container.Config` (Engine API 1.41 and later).
pub static CONFIG: Shape = Shape::Struct(
    "Config",
    &[
        f("Hostname", Shape::Str),
        f("Domainname", Shape::Str),
        f("User", Shape::Str),
        f("AttachStdin", Shape::Bool),
        f("AttachStdout", Shape::Bool),
        f("AttachStderr", Shape::Bool),
        f("ExposedPorts", Shape::Map(&Shape::Empty)),
        f("Tty", Shape::Bool),
        f("OpenStdin", Shape::Bool),
        f("StdinOnce", Shape::Bool),
        f("Env", Shape::List(&Shape::Str)),
        f("Cmd", Shape::StrSlice),
        f("Healthcheck", Shape::Ptr(&HEALTHCHECK)),
        f("ArgsEscaped", Shape::Bool),
        f("Image", Shape::Str),
        f("Volumes", Shape::Map(&Shape::Empty)),
        f("WorkingDir", Shape::Str),
        f("Entrypoint", Shape::StrSlice),
        f("NetworkDisabled", Shape::Bool),
        f("MacAddress", Shape::Str),
        f("OnBuild", Shape::List(&Shape::Str)),
        f("Labels", Shape::Map(&Shape::Str)),
        f("StopSignal", Shape::Str),
        f("StopTimeout", Shape::Ptr(&Shape::Int)),
        f("Shell", Shape::StrSlice),
    ],
);

static PORT_BINDING: Shape = Shape::Struct(
    "PortBinding",
    &[f("HostIp", Shape::Str), f("HostPort", Shape::Str)],
);
const LOG_CONFIG: Shape = Shape::Struct(
    "LogConfig",
    &[f("Type", Shape::Str), f("Config", Shape::Map(&Shape::Str))],
);
const RESTART_POLICY: Shape = Shape::Struct(
    "RestartPolicy",
    &[f("Name", Shape::Str), f("MaximumRetryCount", Shape::Int)],
);
static WEIGHT_DEVICE: Shape = Shape::Ptr(&Shape::Struct(
    "WeightDevice",
    &[f("Path", Shape::Str), f("Weight", Shape::Int)],
));
static THROTTLE_DEVICE: Shape = Shape::Ptr(&Shape::Struct(
    "ThrottleDevice",
    &[f("Path", Shape::Str), f("Rate", Shape::Int)],
));
static DEVICE_MAPPING: Shape = Shape::Struct(
    "DeviceMapping",
    &[
        f("PathOnHost", Shape::Str),
        f("PathInContainer", Shape::Str),
        f("CgroupPermissions", Shape::Str),
    ],
);
static DEVICE_REQUEST: Shape = Shape::Struct(
    "DeviceRequest",
    &[
        f("Driver", Shape::Str),
        f("Count", Shape::Int),
        f("DeviceIDs", Shape::List(&Shape::Str)),
        f("Capabilities", Shape::List(&Shape::List(&Shape::Str))),
        f("Options", Shape::Map(&Shape::Str)),
    ],
);
static ULIMIT: Shape = Shape::Ptr(&Shape::Struct(
    "Ulimit",
    &[
        f("Name", Shape::Str),
        f("Hard", Shape::Int),
        f("Soft", Shape::Int),
    ],
));
static MOUNT: Shape = Shape::Struct(
    "Mount",
    &[
        f("Type", Shape::Str),
        f("Source", Shape::Str),
        f("Target", Shape::Str),
        f("ReadOnly", Shape::Bool),
        f("Consistency", Shape::Str),
        f(
            "BindOptions",
            Shape::Ptr(&Shape::Struct(
                "BindOptions",
                &[f("Propagation", Shape::Str), f("NonRecursive", Shape::Bool)],
            )),
        ),
        f(
            "VolumeOptions",
            Shape::Ptr(&Shape::Struct(
                "VolumeOptions",
                &[
                    f("NoCopy", Shape::Bool),
                    f("Labels", Shape::Map(&Shape::Str)),
                    f(
                        "DriverConfig",
                        Shape::Ptr(&Shape::Struct(
                            "Driver",
                            &[f("Name", Shape::Str), f("Options", Shape::Map(&Shape::Str))],
                        )),
                    ),
                ],
            )),
        ),
        f(
            "TmpfsOptions",
            Shape::Ptr(&Shape::Struct(
                "TmpfsOptions",
                &[f("SizeBytes", Shape::Int), f("Mode", Shape::Int)],
            )),
        ),
    ],
);

/// Docker's `container.HostConfig` with the embedded `Resources` flattened in.
pub static HOST_CONFIG: Shape = Shape::Struct(
    "HostConfig",
    &[
        f("Binds", Shape::List(&Shape::Str)),
        f("ContainerIDFile", Shape::Str),
        f("LogConfig", LOG_CONFIG),
        f("NetworkMode", Shape::Str),
        f("PortBindings", Shape::Map(&Shape::List(&PORT_BINDING))),
        f("RestartPolicy", RESTART_POLICY),
        f("AutoRemove", Shape::Bool),
        f("VolumeDriver", Shape::Str),
        f("VolumesFrom", Shape::List(&Shape::Str)),
        f("ConsoleSize", Shape::List(&Shape::Int)),
        f("Annotations", Shape::Map(&Shape::Str)),
        f("CapAdd", Shape::StrSlice),
        f("CapDrop", Shape::StrSlice),
        f("CgroupnsMode", Shape::Str),
        f("Dns", Shape::List(&Shape::Str)),
        f("DnsOptions", Shape::List(&Shape::Str)),
        f("DnsSearch", Shape::List(&Shape::Str)),
        f("ExtraHosts", Shape::List(&Shape::Str)),
        f("GroupAdd", Shape::List(&Shape::Str)),
        f("IpcMode", Shape::Str),
        f("Cgroup", Shape::Str),
        f("Links", Shape::List(&Shape::Str)),
        f("OomScoreAdj", Shape::Int),
        f("PidMode", Shape::Str),
        f("Privileged", Shape::Bool),
        f("PublishAllPorts", Shape::Bool),
        f("ReadonlyRootfs", Shape::Bool),
        f("SecurityOpt", Shape::List(&Shape::Str)),
        f("StorageOpt", Shape::Map(&Shape::Str)),
        f("Tmpfs", Shape::Map(&Shape::Str)),
        f("UTSMode", Shape::Str),
        f("UsernsMode", Shape::Str),
        f("ShmSize", Shape::Int),
        f("Sysctls", Shape::Map(&Shape::Str)),
        f("Runtime", Shape::Str),
        f("Isolation", Shape::Str),
        // Resources (embedded struct: its fields are top-level keys).
        f("CpuShares", Shape::Int),
        f("Memory", Shape::Int),
        f("NanoCpus", Shape::Int),
        f("CgroupParent", Shape::Str),
        f("BlkioWeight", Shape::Int),
        f("BlkioWeightDevice", Shape::List(&WEIGHT_DEVICE)),
        f("BlkioDeviceReadBps", Shape::List(&THROTTLE_DEVICE)),
        f("BlkioDeviceWriteBps", Shape::List(&THROTTLE_DEVICE)),
        f("BlkioDeviceReadIOps", Shape::List(&THROTTLE_DEVICE)),
        f("BlkioDeviceWriteIOps", Shape::List(&THROTTLE_DEVICE)),
        f("CpuPeriod", Shape::Int),
        f("CpuQuota", Shape::Int),
        f("CpuRealtimePeriod", Shape::Int),
        f("CpuRealtimeRuntime", Shape::Int),
        f("CpusetCpus", Shape::Str),
        f("CpusetMems", Shape::Str),
        f("Devices", Shape::List(&DEVICE_MAPPING)),
        f("DeviceCgroupRules", Shape::List(&Shape::Str)),
        f("DeviceRequests", Shape::List(&DEVICE_REQUEST)),
        f("KernelMemory", Shape::Int),
        f("KernelMemoryTCP", Shape::Int),
        f("MemoryReservation", Shape::Int),
        f("MemorySwap", Shape::Int),
        f("MemorySwappiness", Shape::Ptr(&Shape::Int)),
        f("OomKillDisable", Shape::Ptr(&Shape::Bool)),
        f("PidsLimit", Shape::Ptr(&Shape::Int)),
        f("Ulimits", Shape::List(&ULIMIT)),
        f("CpuCount", Shape::Int),
        f("CpuPercent", Shape::Int),
        f("IOMaximumIOps", Shape::Int),
        f("IOMaximumBandwidth", Shape::Int),
        // Back to HostConfig proper.
        f("Mounts", Shape::List(&MOUNT)),
        f("MaskedPaths", Shape::List(&Shape::Str)),
        f("ReadonlyPaths", Shape::List(&Shape::Str)),
        f("Init", Shape::Ptr(&Shape::Bool)),
    ],
);

/// A raw value that does not fit the Go type it is decoded into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("json: cannot unmarshal {found} into Go struct field {field} of type {expected}")]
pub struct MergeError {
    pub found: &'static str,
    pub field: String,
    pub expected: &'static str,
}

/// Decodes the raw JSON text `raw` on top of `target` (an object with canonical keys)
/// following `shape`. Empty text means "nothing to merge".
pub fn merge_raw(target: &mut Value, raw: &str, shape: &Shape) -> Result<(), MergeRawError> {
    if raw.trim().is_empty() {
        return Ok(());
    }
    let parsed: Value =
        serde_json::from_str(raw).map_err(|e| MergeRawError::Syntax(e.to_string()))?;
    decode(target, &parsed, shape, root_name(shape))?;
    strip_nulls(target);
    Ok(())
}

/// Why the raw `dockerConfig` text could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeRawError {
    #[error("{0}")]
    Syntax(String),
    #[error(transparent)]
    Type(#[from] MergeError),
}

fn root_name(shape: &Shape) -> &'static str {
    match shape {
        Shape::Struct(name, _) => name,
        _ => "",
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn go_type(shape: &Shape) -> &'static str {
    match shape {
        Shape::Str => "string",
        Shape::Int => "int64",
        Shape::Bool => "bool",
        Shape::StrSlice => "strslice.StrSlice",
        Shape::Empty => "struct {}",
        Shape::List(_) => "[]",
        Shape::Map(_) => "map",
        Shape::Struct(name, _) => name,
        Shape::Ptr(inner) => go_type(inner),
    }
}

fn mismatch(raw: &Value, shape: &Shape, path: &str) -> MergeError {
    MergeError {
        found: json_kind(raw),
        field: path.to_owned(),
        expected: go_type(shape),
    }
}

/// The value a fresh Go variable of this shape holds.
fn zero(shape: &Shape) -> Value {
    match shape {
        Shape::Str => Value::String(String::new()),
        Shape::Int => Value::from(0),
        Shape::Bool => Value::Bool(false),
        Shape::Empty | Shape::Struct(..) => Value::Object(Map::new()),
        Shape::StrSlice | Shape::List(_) | Shape::Map(_) | Shape::Ptr(_) => Value::Null,
    }
}

fn decode(target: &mut Value, raw: &Value, shape: &Shape, path: &str) -> Result<(), MergeError> {
    match shape {
        Shape::Str => match raw {
            Value::Null => Ok(()),
            Value::String(_) => {
                *target = raw.clone();
                Ok(())
            }
            _ => Err(mismatch(raw, shape, path)),
        },
        Shape::Int => match raw {
            Value::Null => Ok(()),
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                *target = raw.clone();
                Ok(())
            }
            _ => Err(mismatch(raw, shape, path)),
        },
        Shape::Bool => match raw {
            Value::Null => Ok(()),
            Value::Bool(_) => {
                *target = raw.clone();
                Ok(())
            }
            _ => Err(mismatch(raw, shape, path)),
        },
        Shape::StrSlice => match raw {
            Value::Null => {
                *target = Value::Null;
                Ok(())
            }
            Value::String(s) => {
                *target = Value::Array(vec![Value::String(s.clone())]);
                Ok(())
            }
            Value::Array(items) if items.iter().all(Value::is_string) => {
                *target = raw.clone();
                Ok(())
            }
            _ => Err(mismatch(raw, shape, path)),
        },
        Shape::Empty => match raw {
            Value::Null => Ok(()),
            Value::Object(_) => {
                *target = Value::Object(Map::new());
                Ok(())
            }
            _ => Err(mismatch(raw, shape, path)),
        },
        Shape::List(elem) => match raw {
            Value::Null => {
                *target = Value::Null;
                Ok(())
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let mut slot = zero(elem);
                    decode(&mut slot, item, elem, path)?;
                    out.push(slot);
                }
                *target = Value::Array(out);
                Ok(())
            }
            _ => Err(mismatch(raw, shape, path)),
        },
        Shape::Map(elem) => match raw {
            Value::Null => {
                *target = Value::Null;
                Ok(())
            }
            Value::Object(entries) => {
                if !target.is_object() {
                    *target = Value::Object(Map::new());
                }
                for (key, item) in entries {
                    // Go decodes each map element into a fresh value, never into the old one.
                    let mut slot = zero(elem);
                    decode(&mut slot, item, elem, path)?;
                    if let Value::Object(map) = target {
                        map.insert(key.clone(), slot);
                    }
                }
                Ok(())
            }
            _ => Err(mismatch(raw, shape, path)),
        },
        Shape::Ptr(inner) => match raw {
            Value::Null => {
                *target = Value::Null;
                Ok(())
            }
            _ => {
                if target.is_null() {
                    *target = zero(inner);
                }
                decode(target, raw, inner, path)
            }
        },
        Shape::Struct(name, fields) => match raw {
            Value::Null => Ok(()),
            Value::Object(entries) => {
                if !target.is_object() {
                    *target = Value::Object(Map::new());
                }
                for (key, item) in entries {
                    let Some(field) = find_field(fields, key) else {
                        continue;
                    };
                    let field_path = format!("{name}.{}", field.name);
                    if let Value::Object(map) = target {
                        let slot = map
                            .entry(field.name.to_owned())
                            .or_insert_with(|| zero(&field.shape));
                        decode(slot, item, &field.shape, &field_path)?;
                    }
                }
                Ok(())
            }
            _ => Err(mismatch(raw, shape, path)),
        },
    }
}

/// Go's `encoding/json` field lookup: exact name first, then ASCII case-insensitive.
fn find_field<'a>(fields: &'a [Field], key: &str) -> Option<&'a Field> {
    fields.iter().find(|field| field.name == key).or_else(|| {
        fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(key))
    })
}

/// Removes struct members reset to `null` so Docker sees them as absent.
fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(mut base: Value, raw: &str, shape: &Shape) -> Value {
        merge_raw(&mut base, raw, shape).unwrap();
        base
    }

    #[test]
    fn health_check_key_is_matched_case_insensitively() {
        let out = merged(
            json!({"Image": "busybox"}),
            r#"{"HealthCheck":{"test":["CMD","echo","hello"],"Interval":30000000000,"Timeout":5000000000,"Retries":3}}"#,
            &CONFIG,
        );
        assert_eq!(
            out["Healthcheck"],
            json!({"Test":["CMD","echo","hello"],"Interval":30000000000u64,"Timeout":5000000000u64,"Retries":3})
        );
        assert_eq!(out["Image"], "busybox");
    }

    #[test]
    fn lower_case_hostname_fills_hostname() {
        let out = merged(json!({}), r#"{"hostname":"web-1"}"#, &CONFIG);
        assert_eq!(out, json!({"Hostname": "web-1"}));
    }

    #[test]
    fn labels_are_merged_not_replaced() {
        let out = merged(
            json!({"Labels": {"keep": "1", "over": "agent"}}),
            r#"{"Labels":{"over":"raw","team":"x"}}"#,
            &CONFIG,
        );
        assert_eq!(
            out["Labels"],
            json!({"keep": "1", "over": "raw", "team": "x"})
        );
    }

    #[test]
    fn port_bindings_merge_per_port_and_replace_the_list() {
        let out = merged(
            json!({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "49160"}], "53/udp": [{"HostIp": "", "HostPort": "53"}]}}),
            r#"{"PortBindings":{"80/tcp":[{"hostport":"8080"}]}}"#,
            &HOST_CONFIG,
        );
        assert_eq!(
            out["PortBindings"],
            json!({"80/tcp": [{"HostPort": "8080"}], "53/udp": [{"HostIp": "", "HostPort": "53"}]})
        );
    }

    #[test]
    fn arrays_are_replaced() {
        let out = merged(
            json!({"Binds": ["/a:/a"], "Links": ["x:y"]}),
            r#"{"Binds":["/b:/b"]}"#,
            &HOST_CONFIG,
        );
        assert_eq!(out["Binds"], json!(["/b:/b"]));
        assert_eq!(out["Links"], json!(["x:y"]));
    }

    #[test]
    fn null_resets_maps_and_slices_but_not_scalars() {
        let out = merged(
            json!({"Binds": ["/a:/a"], "Memory": 5, "Sysctls": {"a": "b"}}),
            r#"{"Binds":null,"Memory":null,"Sysctls":null}"#,
            &HOST_CONFIG,
        );
        assert_eq!(out, json!({"Memory": 5}));
    }

    #[test]
    fn nested_struct_merges_field_by_field() {
        let out = merged(
            json!({"LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}}}),
            r#"{"logconfig":{"config":{"max-file":"3"}}}"#,
            &HOST_CONFIG,
        );
        assert_eq!(
            out["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}})
        );
    }

    #[test]
    fn resources_fields_are_top_level_and_override() {
        let out = merged(
            json!({"Memory": 134217728, "CpuShares": 2}),
            r#"{"MemoryReservation":67108864,"cpushares":512,"Ulimits":[{"name":"nofile","soft":1024,"hard":2048}]}"#,
            &HOST_CONFIG,
        );
        assert_eq!(out["Memory"], 134217728);
        assert_eq!(out["MemoryReservation"], 67108864);
        assert_eq!(out["CpuShares"], 512);
        assert_eq!(
            out["Ulimits"],
            json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
        );
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let out = merged(
            json!({}),
            r#"{"NoSuchField":1,"Privileged":true}"#,
            &HOST_CONFIG,
        );
        assert_eq!(out, json!({"Privileged": true}));
    }

    #[test]
    fn strslice_accepts_a_single_string() {
        let out = merged(
            json!({}),
            r#"{"Cmd":"echo hi","Entrypoint":["sh","-c"]}"#,
            &CONFIG,
        );
        assert_eq!(out["Cmd"], json!(["echo hi"]));
        assert_eq!(out["Entrypoint"], json!(["sh", "-c"]));
    }

    #[test]
    fn type_mismatch_is_an_error() {
        let mut base = json!({});
        let err = merge_raw(&mut base, r#"{"Memory":"lots"}"#, &HOST_CONFIG).unwrap_err();
        assert_eq!(
            err.to_string(),
            "json: cannot unmarshal string into Go struct field HostConfig.Memory of type int64"
        );
        let err = merge_raw(&mut base, r#"{"Memory":1.5}"#, &HOST_CONFIG).unwrap_err();
        assert!(err.to_string().contains("number"));
    }

    #[test]
    fn syntax_error_is_reported() {
        let mut base = json!({});
        assert!(matches!(
            merge_raw(&mut base, "{not json", &CONFIG),
            Err(MergeRawError::Syntax(_))
        ));
    }

    #[test]
    fn empty_text_is_a_no_op() {
        let out = merged(json!({"Image": "x"}), "  ", &CONFIG);
        assert_eq!(out, json!({"Image": "x"}));
    }

    #[test]
    fn tmpfs_and_sysctls_are_maps() {
        let out = merged(
            json!({"Sysctls": {"net.a": "1"}}),
            r#"{"Tmpfs":{"/run":"rw,size=65536k"},"Sysctls":{"net.b":"2"}}"#,
            &HOST_CONFIG,
        );
        assert_eq!(out["Tmpfs"], json!({"/run": "rw,size=65536k"}));
        assert_eq!(out["Sysctls"], json!({"net.a": "1", "net.b": "2"}));
    }
}
