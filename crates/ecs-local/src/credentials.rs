//! Task role and execution role credentials, generated locally.
//!
//! There is no STS here: a task whose definition names a role gets random keys of the
//! shape STS issues (an `ASIA…` access key, a 40-character secret, a session token) and
//! an expiration. The agent hands them to containers through its credentials endpoint;
//! they open nothing, but SDKs in the containers find well-formed credentials.
//!
//! Credentials are kept per (task, role type) so that a payload resent after a reconnect
//! carries the same set, and are replaced (with a new `credentialsId`) before they expire.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use ecs_types::SensitiveString;
use ecs_types::acs::RoleType;
use ecs_types::task::IAMRoleCredentials;

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_text(alphabet: &[u8], len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::fill(bytes.as_mut_slice());
    bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect()
}

/// One set of role credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleCredentials {
    pub credentials_id: String,
    pub role_arn: String,
    pub access_key_id: String,
    pub secret_access_key: SensitiveString,
    pub session_token: SensitiveString,
    pub expiration: DateTime<Utc>,
}

impl RoleCredentials {
    /// Fresh random credentials for `role_arn`, valid for `lifetime` from `now`.
    pub fn generate(role_arn: &str, now: DateTime<Utc>, lifetime: Duration) -> Self {
        let lifetime = chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(6));
        Self {
            credentials_id: uuid::Uuid::new_v4().to_string(),
            role_arn: role_arn.to_string(),
            access_key_id: format!("ASIA{}", random_text(UPPER_DIGITS, 16)),
            secret_access_key: random_text(SECRET_ALPHABET, 40).into(),
            session_token: random_text(SECRET_ALPHABET, 356).into(),
            expiration: now + lifetime,
        }
    }

    /// RFC 3339 UTC with whole seconds, which every AWS SDK parses.
    pub fn expiration_text(&self) -> String {
        self.expiration.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// The ACS `IAMRoleCredentials` shape.
    pub fn to_wire(&self) -> IAMRoleCredentials {
        IAMRoleCredentials {
            credentials_id: Some(self.credentials_id.clone()),
            role_arn: Some(self.role_arn.clone()),
            access_key_id: Some(self.access_key_id.clone()),
            secret_access_key: Some(self.secret_access_key.clone()),
            session_token: Some(self.session_token.clone()),
            expiration: Some(self.expiration_text()),
            credential_scope: None,
        }
    }
}

/// Lifetimes of generated credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialsPolicy {
    /// How long a generated set is valid.
    pub lifetime: Duration,
    /// A set is replaced once less than this remains.
    pub refresh_before: Duration,
}

impl Default for CredentialsPolicy {
    fn default() -> Self {
        // STS role sessions of ECS tasks last 6 h and are renewed well before expiry.
        Self {
            lifetime: Duration::from_secs(6 * 3600),
            refresh_before: Duration::from_secs(3600),
        }
    }
}

fn role_key(role_type: &RoleType) -> u8 {
    match role_type {
        RoleType::TaskApplication => 0,
        _ => 1,
    }
}

/// The current credentials of every task that has a role.
#[derive(Debug, Default)]
pub struct CredentialsBook {
    policy: CredentialsPolicy,
    sets: Mutex<HashMap<(String, u8), RoleCredentials>>,
}

impl CredentialsBook {
    pub fn new(policy: CredentialsPolicy) -> Self {
        Self {
            policy,
            sets: Mutex::new(HashMap::new()),
        }
    }

    pub fn policy(&self) -> CredentialsPolicy {
        self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u8), RoleCredentials>> {
        // Every edit is a single insert or remove, so a poisoned map is still whole.
        self.sets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The task's credentials for `role_arn`, generated on first use or when the role
    /// changed.
    pub fn current(
        &self,
        task_arn: &str,
        role_type: &RoleType,
        role_arn: &str,
        now: DateTime<Utc>,
    ) -> RoleCredentials {
        let mut sets = self.lock();
        let key = (task_arn.to_string(), role_key(role_type));
        match sets.get(&key) {
            Some(existing) if existing.role_arn == role_arn => existing.clone(),
            _ => {
                let fresh = RoleCredentials::generate(role_arn, now, self.policy.lifetime);
                sets.insert(key, fresh.clone());
                fresh
            }
        }
    }

    /// The existing set, if any, without generating one.
    pub fn get(&self, task_arn: &str, role_type: &RoleType) -> Option<RoleCredentials> {
        self.lock()
            .get(&(task_arn.to_string(), role_key(role_type)))
            .cloned()
    }

    /// Replaces the task's set when it is due; returns the new set.
    pub fn refresh_if_due(
        &self,
        task_arn: &str,
        role_type: &RoleType,
        now: DateTime<Utc>,
    ) -> Option<RoleCredentials> {
        let mut sets = self.lock();
        let key = (task_arn.to_string(), role_key(role_type));
        let existing = sets.get(&key)?;
        let remaining = (existing.expiration - now)
            .to_std()
            .unwrap_or(Duration::ZERO);
        if remaining > self.policy.refresh_before {
            return None;
        }
        let fresh = RoleCredentials::generate(&existing.role_arn, now, self.policy.lifetime);
        sets.insert(key, fresh.clone());
        Some(fresh)
    }

    /// Forgets a task's credentials (the task stopped).
    pub fn forget(&self, task_arn: &str) {
        self.lock().retain(|(arn, _), _| arn != task_arn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_have_sts_shapes() {
        let now = Utc::now();
        let c = RoleCredentials::generate("arn:aws:iam::1:role/r", now, Duration::from_secs(60));
        assert!(c.access_key_id.starts_with("ASIA") && c.access_key_id.len() == 20);
        assert_eq!(c.secret_access_key.expose().len(), 40);
        assert!(c.expiration_text().ends_with('Z'));
        assert!(!format!("{c:?}").contains(c.secret_access_key.expose()));
        let wire = c.to_wire();
        assert_eq!(
            wire.credentials_id.as_deref(),
            Some(c.credentials_id.as_str())
        );
    }

    #[test]
    fn book_keeps_a_set_until_it_is_due() {
        let book = CredentialsBook::new(CredentialsPolicy {
            lifetime: Duration::from_secs(100),
            refresh_before: Duration::from_secs(10),
        });
        let now = Utc::now();
        let a = book.current("t", &RoleType::TaskApplication, "r", now);
        assert_eq!(book.current("t", &RoleType::TaskApplication, "r", now), a);
        assert!(
            book.refresh_if_due("t", &RoleType::TaskApplication, now)
                .is_none()
        );
        let later = now + chrono::Duration::seconds(95);
        let b = book
            .refresh_if_due("t", &RoleType::TaskApplication, later)
            .expect("due");
        assert_ne!(a.credentials_id, b.credentials_id);
        assert_eq!(book.get("t", &RoleType::TaskApplication), Some(b));
        book.forget("t");
        assert!(book.get("t", &RoleType::TaskApplication).is_none());
    }
}
