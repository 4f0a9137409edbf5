//! Durable state of the control plane: an in-memory copy for queries, written through to
//! redb inside every mutation before the caller answers, so a crash loses nothing that was
//! acknowledged.
//!
//! Mutations run in [`Store::write`]: the closure edits the state through a [`Txn`] that
//! remembers what it touched; on success the touched records are committed to redb in one
//! transaction, on failure every edit is rolled back. Nothing else writes.
//!
//! For the ACS server: [`Store::subscribe`] yields a [`WorkNotice`] whenever a task is
//! placed on an instance or its desired status changes; [`Store::tasks_on_instance`] and
//! [`Store::task_definition`] give what a payload needs; [`Store::set_agent_connected`]
//! records the connection state shown by DescribeContainerInstances.

pub mod arn;
pub mod model;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

pub use arn::Arns;
use model::{Cluster, ContainerInstance, Tag, Task, TaskDefinition};

const CLUSTERS: TableDefinition<&str, &[u8]> = TableDefinition::new("clusters");
const TASK_DEFINITIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("task_definitions");
const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
const INSTANCES: TableDefinition<&str, &[u8]> = TableDefinition::new("container_instances");
const TAGS: TableDefinition<&str, &[u8]> = TableDefinition::new("tags");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] redb::Error),
    #[error("record {key} in table {table} is unreadable: {source}")]
    Corrupt {
        table: &'static str,
        key: String,
        source: serde_json::Error,
    },
    #[error("cannot encode record: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

fn db<T, E: Into<redb::Error>>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Db(e.into()))
}

/// "Instance X has new work": a task was placed on it or its desired status changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkNotice {
    pub container_instance_arn: String,
    pub task_arn: String,
}

/// Everything the control plane knows. Task definitions are keyed by (family, revision).
#[derive(Debug, Default, Clone)]
pub struct State {
    pub clusters: BTreeMap<String, Cluster>,
    pub task_definitions: BTreeMap<(String, u32), TaskDefinition>,
    pub tasks: BTreeMap<String, Task>,
    pub instances: BTreeMap<String, ContainerInstance>,
    pub tags: BTreeMap<String, Vec<Tag>>,
}

impl State {
    pub fn tasks_on(&self, instance_arn: &str) -> impl Iterator<Item = &Task> {
        self.tasks
            .values()
            .filter(move |t| t.container_instance_arn == instance_arn)
    }

    pub fn tags_of(&self, arn: &str) -> &[Tag] {
        self.tags.get(arn).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The highest revision of a family, whatever its status.
    pub fn latest_revision(&self, family: &str) -> Option<&TaskDefinition> {
        self.task_definitions
            .range((family.to_string(), 0)..=(family.to_string(), u32::MAX))
            .next_back()
            .map(|(_, td)| td)
    }

    /// The highest ACTIVE revision of a family.
    pub fn latest_active_revision(&self, family: &str) -> Option<&TaskDefinition> {
        self.task_definitions
            .range((family.to_string(), 0)..=(family.to_string(), u32::MAX))
            .rev()
            .map(|(_, td)| td)
            .find(|td| td.status == model::ACTIVE)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Cluster(String),
    TaskDefinition(String, u32),
    Task(String),
    Instance(String),
    Tags(String),
}

#[derive(Debug, Clone)]
enum Record {
    Cluster(Cluster),
    TaskDefinition(TaskDefinition),
    Task(Box<Task>),
    Instance(ContainerInstance),
    Tags(Vec<Tag>),
}

impl State {
    fn get(&self, key: &Key) -> Option<Record> {
        match key {
            Key::Cluster(k) => self.clusters.get(k).cloned().map(Record::Cluster),
            Key::TaskDefinition(f, r) => self
                .task_definitions
                .get(&(f.clone(), *r))
                .cloned()
                .map(Record::TaskDefinition),
            Key::Task(k) => self
                .tasks
                .get(k)
                .cloned()
                .map(|t| Record::Task(Box::new(t))),
            Key::Instance(k) => self.instances.get(k).cloned().map(Record::Instance),
            Key::Tags(k) => self.tags.get(k).cloned().map(Record::Tags),
        }
    }

    fn restore(&mut self, key: Key, record: Option<Record>) {
        match (key, record) {
            (Key::Cluster(k), Some(Record::Cluster(v))) => {
                self.clusters.insert(k, v);
            }
            (Key::TaskDefinition(f, r), Some(Record::TaskDefinition(v))) => {
                self.task_definitions.insert((f, r), v);
            }
            (Key::Task(k), Some(Record::Task(v))) => {
                self.tasks.insert(k, *v);
            }
            (Key::Instance(k), Some(Record::Instance(v))) => {
                self.instances.insert(k, v);
            }
            (Key::Tags(k), Some(Record::Tags(v))) => {
                self.tags.insert(k, v);
            }
            (Key::Cluster(k), _) => {
                self.clusters.remove(&k);
            }
            (Key::TaskDefinition(f, r), _) => {
                self.task_definitions.remove(&(f, r));
            }
            (Key::Task(k), _) => {
                self.tasks.remove(&k);
            }
            (Key::Instance(k), _) => {
                self.instances.remove(&k);
            }
            (Key::Tags(k), _) => {
                self.tags.remove(&k);
            }
        }
    }
}

/// A mutation in progress: edits go to the live state and are undone if it fails.
pub struct Txn<'a> {
    state: &'a mut State,
    touched: HashSet<Key>,
    undo: Vec<(Key, Option<Record>)>,
    notices: Vec<WorkNotice>,
}

impl Txn<'_> {
    pub fn state(&self) -> &State {
        self.state
    }

    fn touch(&mut self, key: Key) {
        if self.touched.insert(key.clone()) {
            let old = self.state.get(&key);
            self.undo.push((key, old));
        }
    }

    pub fn put_cluster(&mut self, cluster: Cluster) {
        self.touch(Key::Cluster(cluster.name.clone()));
        self.state.clusters.insert(cluster.name.clone(), cluster);
    }

    pub fn put_task_definition(&mut self, td: TaskDefinition) {
        self.touch(Key::TaskDefinition(td.family.clone(), td.revision));
        self.state
            .task_definitions
            .insert((td.family.clone(), td.revision), td);
    }

    pub fn put_task(&mut self, task: Task) {
        self.touch(Key::Task(task.arn.clone()));
        self.state.tasks.insert(task.arn.clone(), task);
    }

    /// Forgets a task and its tags.
    pub fn remove_task(&mut self, arn: &str) {
        self.touch(Key::Task(arn.to_string()));
        self.state.tasks.remove(arn);
        self.set_tags(arn, Vec::new());
    }

    pub fn put_instance(&mut self, instance: ContainerInstance) {
        self.touch(Key::Instance(instance.arn.clone()));
        self.state.instances.insert(instance.arn.clone(), instance);
    }

    /// Replaces the tags of a resource; an empty list removes the entry.
    pub fn set_tags(&mut self, arn: &str, tags: Vec<Tag>) {
        self.touch(Key::Tags(arn.to_string()));
        if tags.is_empty() {
            self.state.tags.remove(arn);
        } else {
            self.state.tags.insert(arn.to_string(), tags);
        }
    }

    /// Queues a notice for the ACS side, sent only once the change is durable.
    pub fn notify(&mut self, container_instance_arn: &str, task_arn: &str) {
        self.notices.push(WorkNotice {
            container_instance_arn: container_instance_arn.to_string(),
            task_arn: task_arn.to_string(),
        });
    }
}

pub struct Store {
    db: Database,
    state: Mutex<State>,
    notices: broadcast::Sender<WorkNotice>,
    arns: Arns,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("arns", &self.arns).finish()
    }
}

/// Errors of a mutation: the caller's own, or the store's.
pub trait FromStoreError {
    fn from_store_error(error: StoreError) -> Self;
}

impl FromStoreError for StoreError {
    fn from_store_error(error: StoreError) -> Self {
        error
    }
}

impl Store {
    /// Opens (or creates) `ecs-local.redb` under `data_dir` and loads everything.
    pub fn open(data_dir: &Path, arns: Arns) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let db = db(Database::create(data_dir.join("ecs-local.redb")))?;
        let state = load(&db)?;
        let (notices, _) = broadcast::channel(1024);
        Ok(Self {
            db,
            state: Mutex::new(state),
            notices,
            arns,
        })
    }

    pub fn arns(&self) -> &Arns {
        &self.arns
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied edit behind (edits are
        // undone on every error path), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a query against a consistent view of the state.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock())
    }

    /// Runs a mutation; its changes are durable when this returns `Ok`.
    pub fn write<T, E: FromStoreError>(
        &self,
        f: impl FnOnce(&mut Txn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut guard = self.lock();
        let mut txn = Txn {
            state: &mut guard,
            touched: HashSet::new(),
            undo: Vec::new(),
            notices: Vec::new(),
        };
        let result = f(&mut txn);
        let Txn {
            state,
            undo,
            notices,
            ..
        } = txn;
        let outcome = match result {
            Ok(value) => match persist(&self.db, state, &undo) {
                Ok(()) => Ok(value),
                Err(e) => Err(E::from_store_error(e)),
            },
            Err(e) => Err(e),
        };
        if outcome.is_err() {
            for (key, old) in undo.into_iter().rev() {
                state.restore(key, old);
            }
        } else {
            for notice in notices {
                // No receiver (no ACS server running) is fine: the tasks are in the store.
                let _ = self.notices.send(notice);
            }
        }
        outcome
    }

    /// Notices of new work per instance, for the ACS server.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkNotice> {
        self.notices.subscribe()
    }

    /// Every task placed on an instance, in ARN order.
    pub fn tasks_on_instance(&self, container_instance_arn: &str) -> Vec<Task> {
        self.read(|s| s.tasks_on(container_instance_arn).cloned().collect())
    }

    pub fn task(&self, task_arn: &str) -> Option<Task> {
        self.read(|s| s.tasks.get(task_arn).cloned())
    }

    pub fn task_definition(&self, arn: &str) -> Option<TaskDefinition> {
        self.read(|s| {
            s.task_definitions
                .values()
                .find(|td| td.arn == arn)
                .cloned()
        })
    }

    pub fn container_instance(&self, arn: &str) -> Option<ContainerInstance> {
        self.read(|s| s.instances.get(arn).cloned())
    }

    /// Records whether an instance's agent is connected; unknown instances are ignored.
    pub fn set_agent_connected(
        &self,
        container_instance_arn: &str,
        connected: bool,
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            if let Some(mut instance) = txn.state().instances.get(container_instance_arn).cloned()
                && instance.agent_connected != connected
            {
                instance.agent_connected = connected;
                instance.agent_disconnected_at = (!connected).then(now_seconds);
                instance.version += 1;
                txn.put_instance(instance);
            }
            Ok(())
        })
    }
}

fn now_seconds() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

fn table_key(
    key: &Key,
) -> (
    TableDefinition<'static, &'static str, &'static [u8]>,
    String,
) {
    match key {
        Key::Cluster(k) => (CLUSTERS, k.clone()),
        Key::TaskDefinition(f, r) => (TASK_DEFINITIONS, format!("{f}:{r:010}")),
        Key::Task(k) => (TASKS, k.clone()),
        Key::Instance(k) => (INSTANCES, k.clone()),
        Key::Tags(k) => (TAGS, k.clone()),
    }
}

fn encode(record: &Record) -> Result<Vec<u8>, serde_json::Error> {
    match record {
        Record::Cluster(v) => serde_json::to_vec(v),
        Record::TaskDefinition(v) => serde_json::to_vec(v),
        Record::Task(v) => serde_json::to_vec(v),
        Record::Instance(v) => serde_json::to_vec(v),
        Record::Tags(v) => serde_json::to_vec(v),
    }
}

fn persist(
    db_: &Database,
    state: &State,
    touched: &[(Key, Option<Record>)],
) -> Result<(), StoreError> {
    if touched.is_empty() {
        return Ok(());
    }
    let txn = db(db_.begin_write())?;
    for (key, _) in touched {
        let (table, k) = table_key(key);
        let mut table = db(txn.open_table(table))?;
        match state.get(key) {
            Some(record) => {
                let bytes = encode(&record)?;
                db(table.insert(k.as_str(), bytes.as_slice()))?;
            }
            None => {
                db(table.remove(k.as_str()))?;
            }
        }
    }
    db(txn.commit())
}

fn load_table<T: DeserializeOwned>(
    db_: &Database,
    table: TableDefinition<&str, &[u8]>,
    name: &'static str,
) -> Result<Vec<T>, StoreError> {
    let txn = db(db_.begin_read())?;
    let table = match txn.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Db(e.into())),
    };
    let mut out = Vec::new();
    for entry in db(table.iter())? {
        let (k, v) = db(entry)?;
        let record = serde_json::from_slice(v.value()).map_err(|source| StoreError::Corrupt {
            table: name,
            key: k.value().to_string(),
            source,
        })?;
        out.push(record);
    }
    Ok(out)
}

fn load(db_: &Database) -> Result<State, StoreError> {
    let mut state = State::default();
    for c in load_table::<Cluster>(db_, CLUSTERS, "clusters")? {
        state.clusters.insert(c.name.clone(), c);
    }
    for td in load_table::<TaskDefinition>(db_, TASK_DEFINITIONS, "task_definitions")? {
        state
            .task_definitions
            .insert((td.family.clone(), td.revision), td);
    }
    for t in load_table::<Task>(db_, TASKS, "tasks")? {
        state.tasks.insert(t.arn.clone(), t);
    }
    for i in load_table::<ContainerInstance>(db_, INSTANCES, "container_instances")? {
        state.instances.insert(i.arn.clone(), i);
    }
    for (arn, tags) in load_pairs::<Vec<Tag>>(db_, TAGS, "tags")? {
        state.tags.insert(arn, tags);
    }
    // No agent is connected to a process that just started.
    for instance in state.instances.values_mut() {
        if instance.agent_connected {
            instance.agent_connected = false;
            instance.agent_disconnected_at = Some(now_seconds());
        }
    }
    Ok(state)
}

fn load_pairs<T: DeserializeOwned + Serialize>(
    db_: &Database,
    table: TableDefinition<&str, &[u8]>,
    name: &'static str,
) -> Result<Vec<(String, T)>, StoreError> {
    let txn = db(db_.begin_read())?;
    let table = match txn.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Db(e.into())),
    };
    let mut out = Vec::new();
    for entry in db(table.iter())? {
        let (k, v) = db(entry)?;
        let key = k.value().to_string();
        let record = serde_json::from_slice(v.value()).map_err(|source| StoreError::Corrupt {
            table: name,
            key: key.clone(),
            source,
        })?;
        out.push((key, record));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::samples;

    fn open(dir: &Path) -> Store {
        Store::open(dir, Arns::new("us-east-1", "111122223333")).unwrap()
    }

    #[test]
    fn writes_are_durable_and_failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let mut notices = store.subscribe();
        store
            .write(|txn| {
                txn.put_task(samples::task("t1", "i1"));
                txn.set_tags(
                    "t1",
                    vec![Tag {
                        key: "k".into(),
                        value: "v".into(),
                    }],
                );
                txn.notify("i1", "t1");
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(notices.try_recv().unwrap().task_arn, "t1");

        let failed: Result<(), StoreError> = store.write(|txn| {
            let mut changed = samples::task("t1", "i1");
            changed.last_status = "RUNNING".into();
            txn.put_task(changed);
            txn.put_task(samples::task("t2", "i1"));
            txn.remove_task("t1");
            txn.notify("i1", "t2");
            let refusal = serde_json::from_str::<serde_json::Value>("?").unwrap_err();
            Err(StoreError::Encode(refusal))
        });
        assert!(failed.is_err());
        assert!(notices.try_recv().is_err(), "no notice for a failed write");
        assert_eq!(store.task("t1").unwrap().last_status, "PENDING");
        assert!(store.task("t2").is_none());
        drop(store);

        let store = open(dir.path());
        assert_eq!(store.tasks_on_instance("i1").len(), 1);
        assert_eq!(store.read(|s| s.tags_of("t1").len()), 1);
        store
            .write(|txn| {
                txn.remove_task("t1");
                Ok::<_, StoreError>(())
            })
            .unwrap();
        drop(store);
        let store = open(dir.path());
        assert!(store.task("t1").is_none());
        assert!(store.read(|s| s.tags.is_empty()));
    }
}
