//! The environment of an AWS CLI (or boto3) process pointed at ecs-local: the given
//! static keys and nothing from the machine's own AWS set-up.

use std::process::Command;

/// Gives `cmd` the keys and shields it from the user's profile, config and credential
/// files, the instance metadata service and the pager.
pub fn isolate(cmd: &mut Command, access_key_id: &str, secret_access_key: &str) {
    cmd.env("AWS_ACCESS_KEY_ID", access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret_access_key)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "");
}

/// `aws ecs <args> --endpoint-url <endpoint> --region <region> --output json`, isolated
/// as [`isolate`] says; the caller adds what else it needs and runs it.
pub fn ecs_command(
    endpoint: &str,
    region: &str,
    access_key_id: &str,
    secret_access_key: &str,
    args: &[&str],
) -> Command {
    let mut cmd = Command::new("aws");
    cmd.arg("ecs")
        .args(args)
        .args(["--endpoint-url", endpoint, "--region", region])
        .args(["--output", "json"]);
    isolate(&mut cmd, access_key_id, secret_access_key);
    cmd
}

/// The JSON an `aws` run printed, after asserting it succeeded; `Null` for no output.
pub fn json_output(args: &[&str], out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "aws ecs {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&out.stdout).expect("aws prints JSON")
}

/// The error `aws` gave when it could not be started.
pub fn not_installed(e: std::io::Error) -> ! {
    panic!("the AWS CLI must be installed (pip install awscli): running `aws` failed: {e}")
}
