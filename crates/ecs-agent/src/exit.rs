//! The process exit codes, as the reference uses them (spec config-and-lifecycle §2.1).
//! ecs-init and systemd units in the field decide on restarts by these numbers.

use std::process::ExitCode;

/// Normal shutdown after SIGTERM/SIGINT; `--version`, `--license`, a successful
/// `--healthcheck`, `--print-config`.
pub const SUCCESS: u8 = 0;

/// An error after which the agent should be restarted: configuration load errors,
/// Docker unreachable, registration failures that may pass, `--healthcheck` without an
/// HTTP response, `--windows-service` on Linux.
pub const ERROR: u8 = 1;

/// A panic (Go's runtime exit status for a panic). ecs-init dumps the last lines of the
/// agent's output, then restarts it.
pub const PANIC: u8 = 2;

/// Terminal: do not restart. Command-line errors (including `-h`), cloud-init failure,
/// unsupported Docker, unloadable saved state, terminal registration errors, a failed
/// final save on SIGTERM.
pub const TERMINAL: u8 = 5;

/// A staged self-update was performed; ecs-init loads the new image and restarts.
pub const UPDATE: u8 = 42;

/// `code` as a process exit code.
pub fn exit_code(code: u8) -> ExitCode {
    ExitCode::from(code)
}
