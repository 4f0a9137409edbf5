//! The agent's version as the reference reports it (`--version`, introspection
//! `/v1/metadata`, registration `versionInfo`).

/// The reference agent version whose behaviour and wire protocol this agent
/// reproduces; the ECS backend gates features on the reported agent version, so a
/// drop-in replacement reports the version it is compatible with.
pub const AGENT_VERSION: &str = "1.105.1";

/// The short git hash of the build (`UNKNOWN` outside a git checkout).
pub const GIT_HASH: &str = env!("ECS_AGENT_GIT_HASH");

/// Whether the build had uncommitted changes to tracked files.
pub const GIT_DIRTY: bool = matches!(env!("ECS_AGENT_GIT_DIRTY").as_bytes(), b"true");

/// This implementation's own crate version, for diagnostics.
pub const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `--version` text: `Amazon ECS Agent:\n\tVersion: <v>\n\tCommit: <hash>\n`, plus
/// `\tDirty: true\n` for a dirty build.
pub fn version_text() -> String {
    format_version(AGENT_VERSION, GIT_HASH, GIT_DIRTY)
}

fn format_version(version: &str, hash: &str, dirty: bool) -> String {
    let mut text = format!("Amazon ECS Agent:\n\tVersion: {version}\n\tCommit: {hash}\n");
    if dirty {
        text.push_str("\tDirty: true\n");
    }
    text
}

/// The introspection `Version` string: `Amazon ECS Agent - v<v> (<hash>)`, with `*`
/// before the hash for a dirty build.
pub fn introspection_version() -> String {
    let dirty = if GIT_DIRTY { "*" } else { "" };
    format!("Amazon ECS Agent - v{AGENT_VERSION} ({dirty}{GIT_HASH})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_text_shapes() {
        assert_eq!(
            format_version("1.105.1", "a8b3e7d3", false),
            "Amazon ECS Agent:\n\tVersion: 1.105.1\n\tCommit: a8b3e7d3\n"
        );
        assert_eq!(
            format_version("1.105.1", "a8b3e7d3", true),
            "Amazon ECS Agent:\n\tVersion: 1.105.1\n\tCommit: a8b3e7d3\n\tDirty: true\n"
        );
    }

    #[test]
    fn introspection_version_names_the_hash() {
        let v = introspection_version();
        assert!(v.starts_with("Amazon ECS Agent - v1.105.1 ("), "{v}");
        assert!(v.ends_with(&format!("{GIT_HASH})")), "{v}");
    }
}
