//! Task role and execution role credentials pushed by ACS, kept in memory only (the
//! reference never persists them) for the credentials endpoint to serve.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ecs_types::acs::RoleType;
use ecs_types::task::IAMRoleCredentials;

/// Where the ACS session keeps the credentials it receives: this module's
/// [`CredentialsManager`], or the credentials endpoint's own store.
pub trait CredentialsStore: Send + Sync + 'static {
    /// Stores (or refreshes) `credentials` for `task_arn`; false when they cannot be
    /// kept (e.g. an empty `credentialsId`).
    fn store(&self, task_arn: &str, role_type: &RoleType, credentials: &IAMRoleCredentials)
    -> bool;
}

impl CredentialsStore for CredentialsManager {
    fn store(
        &self,
        task_arn: &str,
        role_type: &RoleType,
        credentials: &IAMRoleCredentials,
    ) -> bool {
        self.set(task_arn, role_type.clone(), credentials)
    }
}

/// One set of credentials with the task and role it belongs to. `Debug` redacts secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCredentials {
    pub task_arn: String,
    pub role_type: RoleType,
    pub credentials: IAMRoleCredentials,
}

/// `credentialsId` → credentials; clones share the map.
#[derive(Debug, Clone, Default)]
pub struct CredentialsManager {
    inner: Arc<RwLock<HashMap<String, TaskCredentials>>>,
}

impl CredentialsManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores (or refreshes) credentials under their ID; false when the ID is empty.
    pub fn set(
        &self,
        task_arn: &str,
        role_type: RoleType,
        credentials: &IAMRoleCredentials,
    ) -> bool {
        let Some(id) = credentials
            .credentials_id
            .clone()
            .filter(|id| !id.is_empty())
        else {
            return false;
        };
        let entry = TaskCredentials {
            task_arn: task_arn.to_owned(),
            role_type,
            credentials: credentials.clone(),
        };
        self.write().insert(id, entry);
        true
    }

    pub fn get(&self, credentials_id: &str) -> Option<TaskCredentials> {
        self.read().get(credentials_id).cloned()
    }

    /// Forgets every set belonging to `task_arn` (task cleanup).
    pub fn remove_task(&self, task_arn: &str) {
        self.write().retain(|_, c| c.task_arn != task_arn);
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, TaskCredentials>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, TaskCredentials>> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The credentials endpoint's store takes what ACS delivers.
impl CredentialsStore for crate::endpoints::CredentialsManager {
    fn store(
        &self,
        task_arn: &str,
        role_type: &RoleType,
        credentials: &IAMRoleCredentials,
    ) -> bool {
        let role = match role_type {
            RoleType::TaskApplication => crate::endpoints::RoleType::TaskApplication,
            RoleType::TaskExecution => crate::endpoints::RoleType::TaskExecution,
            RoleType::Other(_) => return false,
        };
        let id = credentials.credentials_id.as_deref().unwrap_or_default();
        self.set(
            id,
            task_arn,
            role,
            crate::endpoints::RoleCredentials::from_acs(credentials),
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_credentials_by_id_and_forgets_a_task() {
        let m = CredentialsManager::new();
        let creds = IAMRoleCredentials {
            credentials_id: Some("c1".into()),
            access_key_id: Some("AKID".into()),
            secret_access_key: Some("secret".into()),
            ..Default::default()
        };
        assert!(m.set("task-a", RoleType::TaskApplication, &creds));
        assert!(!m.set(
            "task-a",
            RoleType::TaskExecution,
            &IAMRoleCredentials::default()
        ));
        let got = m.get("c1").unwrap();
        assert_eq!(got.task_arn, "task-a");
        assert!(!format!("{got:?}").contains("secret\""));
        m.remove_task("task-a");
        assert!(m.is_empty());
    }
}
