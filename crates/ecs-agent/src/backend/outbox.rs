//! Where state changes wait until the backend accepted them: the store's durable outbox
//! (`ECS_CHECKPOINT` on) or memory. Entries are the engine's [`StateChange`]s.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::engine::state::StateChange;
use crate::store::{Batch, Store, StoreError};

#[derive(Debug)]
pub enum Outbox {
    Durable(Store),
    Memory(Mutex<MemoryOutbox>),
}

#[derive(Debug, Default)]
pub struct MemoryOutbox {
    next: u64,
    entries: BTreeMap<u64, StateChange>,
}

impl Outbox {
    pub fn durable(store: Store) -> Self {
        Outbox::Durable(store)
    }

    pub fn memory() -> Self {
        Outbox::Memory(Mutex::new(MemoryOutbox {
            next: 1,
            entries: BTreeMap::new(),
        }))
    }

    /// Appends; durable before it returns (blocks on the fsync).
    pub fn append(&self, change: &StateChange) -> Result<u64, StoreError> {
        match self {
            Outbox::Durable(store) => store.append_outbox(change),
            Outbox::Memory(m) => {
                let mut m = lock(m);
                let seq = m.next;
                m.next += 1;
                m.entries.insert(seq, change.clone());
                Ok(seq)
            }
        }
    }

    /// Pending entries, oldest first.
    pub fn pending(&self) -> Result<Vec<(u64, StateChange)>, StoreError> {
        match self {
            Outbox::Durable(store) => store.outbox_pending(),
            Outbox::Memory(m) => Ok(lock(m)
                .entries
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect()),
        }
    }

    /// Removes accepted entries, all in one transaction.
    pub fn remove(&self, seqs: &[u64]) -> Result<(), StoreError> {
        match self {
            Outbox::Durable(store) => {
                let mut batch = Batch::new();
                for seq in seqs {
                    batch.remove_outbox(*seq);
                }
                store.commit(&batch).map(drop)
            }
            Outbox::Memory(m) => {
                let mut m = lock(m);
                for seq in seqs {
                    m.entries.remove(seq);
                }
                Ok(())
            }
        }
    }
}

fn lock(m: &Mutex<MemoryOutbox>) -> std::sync::MutexGuard<'_, MemoryOutbox> {
    // A panic while holding this lock cannot leave the map half-updated.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
