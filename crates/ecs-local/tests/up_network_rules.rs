//! `ECS_AGENT_MANAGE_NETWORK_RULES`: an agent started as root installs the
//! 169.254.170.2 rules for its own task server and removes them at clean shutdown.

mod up_support;

use up_support::Local;

fn nat_rules() -> String {
    let out = std::process::Command::new("iptables")
        .args(["-w", "5", "-t", "nat", "-S"])
        .output()
        .expect("iptables (the tests run as root)");
    assert!(out.status.success(), "iptables -t nat -S: {}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_agent_installs_the_metadata_rules_and_removes_them_at_shutdown() {
    // ecs-agent's endpoints_bridge test (another process) installs the same rules.
    let _lock = ecs_test_support::net::lock_network_rules();
    let local =
        Local::start_with_env("netrules", &[("ECS_AGENT_MANAGE_NETWORK_RULES", "true")]).await;
    let port = local
        .up()
        .agent()
        .unwrap()
        .task_server_addr()
        .unwrap()
        .port();
    let dnat = format!(
        "-A PREROUTING -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 127.0.0.1:{port}"
    );
    let redirect = format!(
        "-A OUTPUT -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports {port}"
    );
    let installed = nat_rules();
    assert!(installed.contains(&dnat), "{installed}");
    assert!(installed.contains(&redirect), "{installed}");

    assert_eq!(local.stop().await, 0);
    let after = nat_rules();
    assert!(!after.contains(&dnat), "{after}");
    assert!(!after.contains(&redirect), "{after}");
}
