//! The agent's durable checkpoint (redb): tasks, containers, image states, the instance
//! identity, and an ordered outbox of state changes awaiting acknowledgement.
//!
//! Every write (a single put, or a [`Batch`] of them) is applied atomically inside a redb
//! transaction committed with `Durability::Immediate` (fsync before the call returns), so a
//! crash at any instant leaves either the old or the new records, never a torn write. Batches
//! committed concurrently share one transaction and one fsync (group commit). Calls block for
//! the fsync: async callers on a hot path should use `tokio::task::spawn_blocking`.
//!
//! The file is `<ECS_DATADIR>/agent.redb`. The reference keeps a bbolt file named `agent.db` in
//! the same directory; a different name keeps that file intact (so the Go agent can be swapped
//! back, and its state imported later as the spec's quirk 11 suggests) instead of failing to
//! open it.

mod batch;
mod error;
mod identity;
mod tables;
mod writer;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use batch::Batch;
pub use error::StoreError;
pub use identity::{DEFAULT_CLUSTER, InstanceIdentity, SavedState};

use batch::Op;
use tables::*;

/// File name of the store inside `ECS_DATADIR`.
pub const STORE_FILE_NAME: &str = "agent.redb";

/// How long [`Store::open_in_waiting`] is meant to wait by default for a previous agent.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Pause between attempts to take a store another process still holds.
const LOCK_RETRY: Duration = Duration::from_millis(100);

/// File name of the reference agent's bbolt state DB (not opened by this store).
pub const REFERENCE_DB_FILE_NAME: &str = "agent.db";

/// A handle to the open store; clones share it. Dropping the last clone closes the file.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    writer: writer::Writer,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

fn decode<T: DeserializeOwned>(
    table: &'static str,
    key: impl ToString,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(table, key, e))
}

impl Store {
    /// Opens `<data_dir>/agent.redb`, creating the file (mode 0600) if needed. The directory
    /// itself must exist, as in the reference.
    pub fn open_in(data_dir: &Path) -> Result<Store, StoreError> {
        match std::fs::metadata(data_dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(StoreError::DataDir {
                    path: data_dir.to_path_buf(),
                    reason: "not a directory".to_string(),
                });
            }
            Err(e) => {
                return Err(StoreError::DataDir {
                    path: data_dir.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        }
        Store::open(&data_dir.join(STORE_FILE_NAME))
    }

    /// As [`Store::open_in`], but while another agent still holds the file (e.g. the previous
    /// process is finishing its shutdown) retries until `max_wait` has passed, then fails with
    /// [`StoreError::Locked`]: the spec's fix (quirk 7) of the reference, which waits forever.
    pub fn open_in_waiting(data_dir: &Path, max_wait: Duration) -> Result<Store, StoreError> {
        let deadline = Instant::now() + max_wait;
        loop {
            match Store::open_in(data_dir) {
                Err(StoreError::Locked { path }) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(StoreError::Locked { path });
                    }
                    std::thread::sleep(LOCK_RETRY.min(deadline - now));
                }
                other => return other,
            }
        }
    }

    /// Opens (or creates) the store at `path`. A second open of the same file, from this or
    /// another process, fails at once with [`StoreError::Locked`] rather than blocking.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        // Create it ourselves so that the mode is 0600 from the first byte on.
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| open_err(e.to_string()))?;
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.to_path_buf(),
            },
            other => open_err(other.to_string()),
        })?;
        let store = Store {
            inner: Arc::new(Inner {
                db,
                writer: writer::Writer::default(),
                path: path.to_path_buf(),
            }),
        };
        store.init()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Creates every table and records (or checks) the layout version.
    fn init(&self) -> Result<(), StoreError> {
        let tx = self.inner.db.begin_write()?;
        {
            tx.open_table(TASKS)?;
            tx.open_table(TASK_EXTRAS)?;
            tx.open_table(CONTAINERS)?;
            tx.open_table(IMAGES)?;
            tx.open_table(OUTBOX)?;
            tx.open_table(COUNTERS)?;
            let mut meta = tx.open_table(METADATA)?;
            let found = meta.get(KEY_SCHEMA_VERSION)?.map(|v| v.value().to_string());
            match found {
                None => {
                    meta.insert(KEY_SCHEMA_VERSION, SCHEMA_VERSION.to_string().as_str())?;
                }
                Some(found) => {
                    let ok = found.parse::<u32>().is_ok_and(|v| v <= SCHEMA_VERSION);
                    if !ok {
                        return Err(StoreError::UnsupportedSchema {
                            found,
                            supported: SCHEMA_VERSION,
                        });
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    // ---- writes -------------------------------------------------------------------------

    /// Applies `batch` in one durable transaction; returns the outbox sequence numbers it
    /// assigned, in the order the entries were appended.
    ///
    /// Concurrent commits from several threads are grouped into one transaction (one fsync);
    /// each batch is still all-or-nothing.
    pub fn commit(&self, batch: &Batch) -> Result<Vec<u64>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.inner.writer.commit(&self.inner.db, batch.ops.clone())
    }

    pub fn put_task(&self, arn: &str, task: &impl Serialize) -> Result<(), StoreError> {
        self.commit(Batch::new().put_task(arn, task)?).map(drop)
    }

    pub fn put_task_extras(&self, arn: &str, extras: &impl Serialize) -> Result<(), StoreError> {
        self.commit(Batch::new().put_task_extras(arn, extras)?)
            .map(drop)
    }

    /// Deletes the task, its extras and all its containers; false if the task was not
    /// stored.
    pub fn delete_task(&self, arn: &str) -> Result<bool, StoreError> {
        let existed = self.get_raw_task(arn)?.is_some();
        self.commit(Batch::new().delete_task(arn))?;
        Ok(existed)
    }

    pub fn put_container(
        &self,
        task_arn: &str,
        name: &str,
        container: &impl Serialize,
    ) -> Result<(), StoreError> {
        self.commit(Batch::new().put_container(task_arn, name, container)?)
            .map(drop)
    }

    pub fn delete_container(&self, task_arn: &str, name: &str) -> Result<(), StoreError> {
        self.commit(Batch::new().delete_container(task_arn, name))
            .map(drop)
    }

    pub fn put_image(&self, key: &str, image: &impl Serialize) -> Result<(), StoreError> {
        self.commit(Batch::new().put_image(key, image)?).map(drop)
    }

    pub fn delete_image(&self, key: &str) -> Result<(), StoreError> {
        self.commit(Batch::new().delete_image(key)).map(drop)
    }

    /// Appends a state change to the outbox; the returned sequence number is larger than any
    /// handed out before by this store, even across reopen and after removals.
    pub fn append_outbox(&self, entry: &impl Serialize) -> Result<u64, StoreError> {
        let seqs = self.commit(Batch::new().append_outbox(entry)?)?;
        seqs.first()
            .copied()
            .ok_or_else(|| StoreError::corrupt("outbox", "-", "append assigned no sequence"))
    }

    /// Removes an acknowledged entry; false if it was not pending.
    pub fn remove_outbox(&self, seq: u64) -> Result<bool, StoreError> {
        let tx = self.inner.db.begin_write()?;
        let removed = {
            let mut outbox = tx.open_table(OUTBOX)?;
            outbox.remove(seq)?.is_some()
        };
        tx.commit()?;
        Ok(removed)
    }

    // ---- reads --------------------------------------------------------------------------

    fn get_raw_task(&self, arn: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(TASKS)?;
        Ok(table.get(arn)?.map(|v| v.value().to_vec()))
    }

    pub fn get_task<T: DeserializeOwned>(&self, arn: &str) -> Result<Option<T>, StoreError> {
        self.get_raw_task(arn)?
            .map(|bytes| decode("tasks", arn, &bytes))
            .transpose()
    }

    /// The extras of every stored task, ordered by ARN. Extras whose task record is gone
    /// (the engine refused the task after they were written) are deleted on the way.
    pub fn list_task_extras<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        let mut orphans = Vec::new();
        {
            let tx = self.inner.db.begin_read()?;
            let extras = tx.open_table(TASK_EXTRAS)?;
            let tasks = tx.open_table(TASKS)?;
            for entry in extras.iter()? {
                let (k, v) = entry?;
                let arn = k.value().to_string();
                if tasks.get(arn.as_str())?.is_none() {
                    orphans.push(arn);
                    continue;
                }
                out.push((arn.clone(), decode("task-extras", &arn, v.value())?));
            }
        }
        if !orphans.is_empty() {
            let mut batch = Batch::new();
            for arn in &orphans {
                batch.delete_task(arn);
            }
            self.commit(&batch)?;
        }
        Ok(out)
    }

    /// Every stored task, ordered by ARN. One undecodable record fails the listing (the
    /// reference refuses to start on a load error rather than silently drop a task).
    pub fn list_tasks<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(TASKS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            let arn = k.value().to_string();
            let task = decode("tasks", &arn, v.value())?;
            out.push((arn, task));
        }
        Ok(out)
    }

    pub fn get_container<T: DeserializeOwned>(
        &self,
        task_arn: &str,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(CONTAINERS)?;
        let value = table.get((task_arn, name))?;
        value
            .map(|v| decode("containers", format!("{task_arn}/{name}"), v.value()))
            .transpose()
    }

    /// The containers of one task, ordered by name.
    pub fn list_containers<T: DeserializeOwned>(
        &self,
        task_arn: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(CONTAINERS)?;
        let mut out = Vec::new();
        for entry in table.range((task_arn, "")..)? {
            let (k, v) = entry?;
            let (arn, name) = k.value();
            if arn != task_arn {
                break;
            }
            let container = decode("containers", format!("{arn}/{name}"), v.value())?;
            out.push((name.to_string(), container));
        }
        Ok(out)
    }

    /// Every stored container as (task ARN, container name, record).
    pub fn list_all_containers<T: DeserializeOwned>(
        &self,
    ) -> Result<Vec<(String, String, T)>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(CONTAINERS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            let (arn, name) = k.value();
            let container = decode("containers", format!("{arn}/{name}"), v.value())?;
            out.push((arn.to_string(), name.to_string(), container));
        }
        Ok(out)
    }

    pub fn get_image<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(IMAGES)?;
        let value = table.get(key)?;
        value.map(|v| decode("images", key, v.value())).transpose()
    }

    pub fn list_images<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(IMAGES)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            let key = k.value().to_string();
            let image = decode("images", &key, v.value())?;
            out.push((key, image));
        }
        Ok(out)
    }

    /// Pending outbox entries, oldest first.
    pub fn outbox_pending<T: DeserializeOwned>(&self) -> Result<Vec<(u64, T)>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let table = tx.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            let seq = k.value();
            out.push((seq, decode("outbox", seq, v.value())?));
        }
        Ok(out)
    }

    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        let tx = self.inner.db.begin_read()?;
        Ok(tx.open_table(OUTBOX)?.len()?)
    }

    // ---- identity and metadata ----------------------------------------------------------

    /// Saves the identity after a successful registration, all keys in one transaction.
    pub fn save_identity(&self, identity: &InstanceIdentity) -> Result<(), StoreError> {
        let tx = self.inner.db.begin_write()?;
        {
            let mut meta = tx.open_table(METADATA)?;
            meta.insert(KEY_CLUSTER, identity.cluster.as_str())?;
            meta.insert(
                KEY_CONTAINER_INSTANCE_ARN,
                identity.container_instance_arn.as_str(),
            )?;
            meta.insert(KEY_EC2_INSTANCE_ID, identity.ec2_instance_id.as_str())?;
            meta.insert(KEY_AVAILABILITY_ZONE, identity.availability_zone.as_str())?;
            meta.insert(KEY_AGENT_VERSION, identity.agent_version.as_str())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The saved identity; `None` until a registration was saved (`agent-version` marks it).
    pub fn load_identity(&self) -> Result<Option<InstanceIdentity>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let meta = tx.open_table(METADATA)?;
        let get = |key: &str| -> Result<Option<String>, StoreError> {
            Ok(meta.get(key)?.map(|v| v.value().to_string()))
        };
        let Some(agent_version) = get(KEY_AGENT_VERSION)? else {
            return Ok(None);
        };
        Ok(Some(InstanceIdentity {
            cluster: get(KEY_CLUSTER)?.unwrap_or_default(),
            container_instance_arn: get(KEY_CONTAINER_INSTANCE_ARN)?.unwrap_or_default(),
            ec2_instance_id: get(KEY_EC2_INSTANCE_ID)?.unwrap_or_default(),
            agent_version,
            availability_zone: get(KEY_AVAILABILITY_ZONE)?.unwrap_or_default(),
        }))
    }

    /// Records the sequence number of the last accepted ACS task manifest.
    pub fn set_manifest_seq_num(&self, seq: i64) -> Result<(), StoreError> {
        let tx = self.inner.db.begin_write()?;
        tx.open_table(METADATA)?
            .insert(KEY_MANIFEST_SEQ_NUM, seq.to_string().as_str())?;
        tx.commit()?;
        Ok(())
    }

    /// A stored value that is not an int64 is an error (the reference exits 5 on it).
    pub fn manifest_seq_num(&self) -> Result<Option<i64>, StoreError> {
        let tx = self.inner.db.begin_read()?;
        let meta = tx.open_table(METADATA)?;
        let Some(text) = meta
            .get(KEY_MANIFEST_SEQ_NUM)?
            .map(|v| v.value().to_string())
        else {
            return Ok(None);
        };
        text.parse()
            .map(Some)
            .map_err(|e| StoreError::corrupt("metadata", KEY_MANIFEST_SEQ_NUM, e))
    }

    /// Start-up rule of config-and-lifecycle.md §4.4 steps 4-6. `current_instance_id` is the
    /// EC2 instance ID from IMDS (`None` when IMDS is unavailable or on external hosts, in
    /// which case the saved one is trusted); `configured_cluster` is `ECS_CLUSTER` (empty means
    /// `default`).
    ///
    /// * nothing saved => [`SavedState::Fresh`];
    /// * saved instance ID differs from the current one => warning, saved tasks, containers,
    ///   images, outbox and identity are purged (the spec's recommended fix of the reference,
    ///   which left them in the DB) => [`SavedState::Discarded`]; the cluster is not compared;
    /// * saved cluster differs from the configured one => [`StoreError::ClusterMismatch`]
    ///   (fatal, exit 5 in the reference);
    /// * else => [`SavedState::Restore`].
    pub fn check_saved_identity(
        &self,
        current_instance_id: Option<&str>,
        configured_cluster: &str,
    ) -> Result<SavedState, StoreError> {
        let Some(saved) = self.load_identity()? else {
            return Ok(SavedState::Fresh);
        };
        if let Some(current) = current_instance_id.filter(|id| !id.is_empty())
            && !saved.ec2_instance_id.is_empty()
            && saved.ec2_instance_id != current
        {
            tracing::warn!(
                "Data mismatch; saved InstanceID '{}' does not match current InstanceID '{}'. Overwriting old datafile",
                saved.ec2_instance_id,
                current
            );
            self.purge()?;
            return Ok(SavedState::Discarded {
                saved_instance_id: saved.ec2_instance_id,
                current_instance_id: current.to_string(),
            });
        }
        let configured = if configured_cluster.is_empty() {
            DEFAULT_CLUSTER
        } else {
            configured_cluster
        };
        if !saved.cluster.is_empty() && saved.cluster != configured {
            return Err(StoreError::ClusterMismatch {
                saved: saved.cluster,
                configured: configured.to_string(),
            });
        }
        Ok(SavedState::Restore(saved))
    }

    /// Drops everything that belongs to a previous container instance, in one transaction.
    /// The outbox counter is kept so sequence numbers stay monotonic.
    fn purge(&self) -> Result<(), StoreError> {
        let tx = self.inner.db.begin_write()?;
        tx.open_table(TASKS)?.retain(|_, _| false)?;
        tx.open_table(CONTAINERS)?.retain(|_, _| false)?;
        tx.open_table(IMAGES)?.retain(|_, _| false)?;
        tx.open_table(OUTBOX)?.retain(|_, _| false)?;
        {
            let mut meta = tx.open_table(METADATA)?;
            for key in [
                KEY_AGENT_VERSION,
                KEY_AVAILABILITY_ZONE,
                KEY_CLUSTER,
                KEY_CONTAINER_INSTANCE_ARN,
                KEY_EC2_INSTANCE_ID,
                KEY_MANIFEST_SEQ_NUM,
            ] {
                meta.remove(key)?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

pub(crate) fn apply(tx: &WriteTransaction, ops: &[Op]) -> Result<Vec<u64>, StoreError> {
    let mut tasks = tx.open_table(TASKS)?;
    let mut extras = tx.open_table(TASK_EXTRAS)?;
    let mut containers = tx.open_table(CONTAINERS)?;
    let mut images = tx.open_table(IMAGES)?;
    let mut outbox = tx.open_table(OUTBOX)?;
    let mut counters = tx.open_table(COUNTERS)?;
    let mut seqs = Vec::new();
    for op in ops {
        match op {
            Op::PutTask(arn, bytes) => {
                tasks.insert(arn.as_str(), bytes.as_slice())?;
            }
            Op::PutTaskExtras(arn, bytes) => {
                extras.insert(arn.as_str(), bytes.as_slice())?;
            }
            Op::DeleteTask(arn) => {
                tasks.remove(arn.as_str())?;
                extras.remove(arn.as_str())?;
                let mut names = Vec::new();
                for entry in containers.range((arn.as_str(), "")..)? {
                    let (k, _) = entry?;
                    let (task, name) = k.value();
                    if task != arn.as_str() {
                        break;
                    }
                    names.push(name.to_string());
                }
                for name in names {
                    containers.remove((arn.as_str(), name.as_str()))?;
                }
            }
            Op::PutContainer(arn, name, bytes) => {
                containers.insert((arn.as_str(), name.as_str()), bytes.as_slice())?;
            }
            Op::DeleteContainer(arn, name) => {
                containers.remove((arn.as_str(), name.as_str()))?;
            }
            Op::PutImage(key, bytes) => {
                images.insert(key.as_str(), bytes.as_slice())?;
            }
            Op::DeleteImage(key) => {
                images.remove(key.as_str())?;
            }
            Op::AppendOutbox(bytes) => {
                let seq = counters.get(NEXT_OUTBOX_SEQ)?.map_or(1, |v| v.value());
                outbox.insert(seq, bytes.as_slice())?;
                counters.insert(NEXT_OUTBOX_SEQ, seq + 1)?;
                seqs.push(seq);
            }
            Op::RemoveOutbox(seq) => {
                outbox.remove(*seq)?;
            }
        }
    }
    Ok(seqs)
}
