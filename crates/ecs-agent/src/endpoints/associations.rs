//! Task associations from ACS (spec endpoints §4.10): what
//! `/v3|v4/<id>/associations/<type>[/<name>]` read. The engine does not keep them, so
//! they are taken from the ACS payload beside the other ACS-only fields.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use ecs_types::task::Task;

/// One association of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskAssociation {
    pub kind: String,
    pub name: String,
    /// Names of the containers it is attached to.
    pub containers: Vec<String>,
    /// `content.value`, served verbatim (its `encoding` is not applied, as in the
    /// reference).
    pub content: String,
}

/// Task ARN → its associations, in payload order.
#[derive(Debug, Default)]
pub struct Associations {
    tasks: RwLock<HashMap<String, Arc<Vec<TaskAssociation>>>>,
}

impl Associations {
    pub fn record(&self, task: &Task) {
        let Some(arn) = task.arn.as_deref().filter(|a| !a.is_empty()) else {
            return;
        };
        let list: Vec<TaskAssociation> = task
            .associations
            .iter()
            .flatten()
            .map(|a| TaskAssociation {
                kind: a
                    .association_type
                    .as_ref()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                name: a.name.clone().unwrap_or_default(),
                containers: a.containers.clone().unwrap_or_default(),
                content: a
                    .content
                    .as_ref()
                    .and_then(|c| c.value.clone())
                    .unwrap_or_default(),
            })
            .collect();
        let mut tasks = self.tasks.write().unwrap_or_else(|p| p.into_inner());
        if list.is_empty() {
            tasks.remove(arn);
        } else {
            tasks.insert(arn.to_owned(), Arc::new(list));
        }
    }

    fn of(&self, arn: &str) -> Option<Arc<Vec<TaskAssociation>>> {
        self.tasks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(arn)
            .cloned()
    }

    /// Names of the task's associations of `kind` that list `container`, once per
    /// listing (the reference's `AssociationsByTypeAndContainer`); `None` when there
    /// are none, which the list answer prints as `null`.
    pub fn names_for_container(
        &self,
        arn: &str,
        kind: &str,
        container: &str,
    ) -> Option<Vec<String>> {
        let list = self.of(arn)?;
        let names: Vec<String> = list
            .iter()
            .filter(|a| a.kind == kind)
            .flat_map(|a| {
                a.containers
                    .iter()
                    .filter(|c| c.as_str() == container)
                    .map(|_| a.name.clone())
            })
            .collect();
        (!names.is_empty()).then_some(names)
    }

    /// The content of the task's association `kind`/`name`, whichever containers it
    /// lists (the reference does not check the caller here).
    pub fn content(&self, arn: &str, kind: &str, name: &str) -> Option<String> {
        self.of(arn)?
            .iter()
            .find(|a| a.kind == kind && a.name == name)
            .map(|a| a.content.clone())
    }

    /// Keeps only the tasks in `live`.
    pub fn retain(&self, live: &HashSet<String>) {
        self.tasks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|arn, _| live.contains(arn));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        serde_json::from_value(serde_json::json!({
            "arn": "arn:aws:ecs:us-east-1:1:task/c/t",
            "associations": [
                {"type": "gpu", "name": "0", "containers": ["a", "b"],
                 "content": {"encoding": "identity", "value": "{\"x\":1}"}},
                {"type": "gpu", "name": "1", "containers": ["b"],
                 "content": {"encoding": "base64", "value": "eyJ4IjoyfQ=="}},
                {"type": "elastic-inference", "name": "ei", "containers": ["a"],
                 "content": {"value": "{}"}}
            ]
        }))
        .expect("task")
    }

    #[test]
    fn names_by_type_and_container() {
        let a = Associations::default();
        a.record(&task());
        let arn = "arn:aws:ecs:us-east-1:1:task/c/t";
        assert_eq!(
            a.names_for_container(arn, "gpu", "b"),
            Some(vec!["0".into(), "1".into()])
        );
        assert_eq!(
            a.names_for_container(arn, "gpu", "a"),
            Some(vec!["0".into()])
        );
        assert_eq!(a.names_for_container(arn, "gpu", "c"), None);
        assert_eq!(a.names_for_container(arn, "other", "a"), None);
        assert_eq!(a.content(arn, "gpu", "1").as_deref(), Some("eyJ4IjoyfQ=="));
        assert_eq!(a.content(arn, "gpu", "ei"), None);
        a.retain(&HashSet::new());
        assert_eq!(a.content(arn, "gpu", "0"), None);
    }
}
