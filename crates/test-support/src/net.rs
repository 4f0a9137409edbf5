//! Loopback ports and the host-wide lock on the 169.254.170.2 rules.

use std::fs::File;
use std::net::TcpListener;

/// A loopback port with nothing listening on it (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Held while a test owns the host's 169.254.170.2 rules: tests of both crates (other
/// processes) install the same rules.
const NETWORK_RULES_LOCK: &str = "/tmp/ecs-agent-netrules-test.lock";

/// Takes the host-wide network rules lock, waiting for any other holder; released when
/// the returned file is dropped.
pub fn lock_network_rules() -> File {
    let lock = File::create(NETWORK_RULES_LOCK).expect("create the network rules lock file");
    lock.lock().expect("lock the network rules lock file");
    lock
}
