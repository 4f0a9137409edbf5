//! Task associations from ACS (spec endpoints §4.10): what
//! `/v3|v4/<id>/associations/<type>[/<name>]` read. The engine does not keep them, so
//! they travel with the other ACS-only task fields ([`super::source::AcsTaskInfo`]),
//! checkpointed with the task so that they survive an agent restart.

use ecs_types::task::Task;
use serde::{Deserialize, Serialize};

/// One association of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskAssociation {
    pub kind: String,
    pub name: String,
    /// Names of the containers it is attached to.
    pub containers: Vec<String>,
    /// `content.value`, served verbatim (its `encoding` is not applied, as in the
    /// reference).
    pub content: String,
}

/// The task's associations, in payload order.
pub fn from_task(task: &Task) -> Vec<TaskAssociation> {
    task.associations
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
        .collect()
}

/// Names of the associations of `kind` that list `container`, once per listing (the
/// reference's `AssociationsByTypeAndContainer`); `None` when there are none, which
/// the list answer prints as `null`.
pub fn names_for_container(
    list: &[TaskAssociation],
    kind: &str,
    container: &str,
) -> Option<Vec<String>> {
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

/// The content of the association `kind`/`name`, whichever containers it lists (the
/// reference does not check the caller here).
pub fn content<'a>(list: &'a [TaskAssociation], kind: &str, name: &str) -> Option<&'a str> {
    list.iter()
        .find(|a| a.kind == kind && a.name == name)
        .map(|a| a.content.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::source::AcsInfo;
    use crate::store::Store;

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
        let list = from_task(&task());
        assert_eq!(
            names_for_container(&list, "gpu", "b"),
            Some(vec!["0".into(), "1".into()])
        );
        assert_eq!(
            names_for_container(&list, "gpu", "a"),
            Some(vec!["0".into()])
        );
        assert_eq!(names_for_container(&list, "gpu", "c"), None);
        assert_eq!(names_for_container(&list, "other", "a"), None);
        assert_eq!(content(&list, "gpu", "1"), Some("eyJ4IjoyfQ=="));
        assert_eq!(content(&list, "gpu", "ei"), None);
        assert!(from_task(&Task::default()).is_empty());
    }

    #[test]
    fn associations_survive_a_restart_with_the_other_acs_fields() {
        let dir = tempfile::tempdir().expect("dir");
        let arn = "arn:aws:ecs:us-east-1:1:task/c/t";
        {
            let store = Store::open_in(dir.path()).expect("store");
            // Extras are kept only beside a stored task (the engine stores it).
            store.put_task(arn, &task()).expect("task record");
            let acs = AcsInfo::persistent(store).expect("acs");
            acs.record(&task());
        }
        let acs = AcsInfo::persistent(Store::open_in(dir.path()).expect("reopen")).expect("acs");
        let info = acs.get(arn).expect("recorded before the restart");
        assert_eq!(info.associations, from_task(&task()));
    }
}
