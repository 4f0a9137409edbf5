//! Group commit without a writer thread. A caller queues its batch, then takes the commit
//! lock; whoever holds it commits everything queued so far in one transaction and hands each
//! queued caller its result. Alone, a caller commits its own batch on its own thread (no
//! hand-off latency); under load, callers that queued while an fsync ran share the next one,
//! as the reference's bbolt batching does. Each batch stays atomic; if a group fails, its
//! batches are retried one by one so that each caller gets its own outcome.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Mutex, MutexGuard};

use redb::Database;

use super::apply;
use super::batch::Op;
use super::error::StoreError;

/// Upper bound of operations in one group transaction.
const MAX_GROUP_OPS: usize = 1000;

struct Job {
    ops: Vec<Op>,
    reply: SyncSender<Result<Vec<u64>, StoreError>>,
}

#[derive(Default)]
pub(crate) struct Writer {
    queue: Mutex<Vec<Job>>,
    commit_lock: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave their contents inconsistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Writer {
    /// Commits `ops` atomically and durably; returns the outbox sequences assigned.
    pub(crate) fn commit(&self, db: &Database, ops: Vec<Op>) -> Result<Vec<u64>, StoreError> {
        let (reply, answer) = sync_channel(1);
        lock(&self.queue).push(Job { ops, reply });
        let leader = lock(&self.commit_lock);
        // A previous leader may have committed our batch while we waited: it answers before it
        // releases the lock, so the answer is already here in that case.
        if let Ok(result) = answer.try_recv() {
            return result;
        }
        loop {
            let group = take_group(&mut lock(&self.queue));
            if group.is_empty() {
                break;
            }
            run_group(db, group);
            if let Ok(result) = answer.try_recv() {
                drop(leader);
                return result;
            }
        }
        drop(leader);
        answer.recv().map_err(|_| StoreError::WriterStopped)?
    }
}

fn take_group(queue: &mut Vec<Job>) -> Vec<Job> {
    let mut ops = 0;
    let mut n = 0;
    while n < queue.len() && (n == 0 || ops + queue[n].ops.len() <= MAX_GROUP_OPS) {
        ops += queue[n].ops.len();
        n += 1;
    }
    queue.drain(..n).collect()
}

fn run_group(db: &Database, group: Vec<Job>) {
    if group.len() > 1
        && let Ok(results) = commit_group(db, &group)
    {
        for (job, seqs) in group.into_iter().zip(results) {
            let _ = job.reply.send(Ok(seqs));
        }
        return;
    }
    for job in group {
        let result = commit_one(db, &job.ops);
        let _ = job.reply.send(result);
    }
}

fn commit_one(db: &Database, ops: &[Op]) -> Result<Vec<u64>, StoreError> {
    let tx = db.begin_write()?;
    let seqs = apply(&tx, ops)?;
    tx.commit()?;
    Ok(seqs)
}

fn commit_group(db: &Database, group: &[Job]) -> Result<Vec<Vec<u64>>, StoreError> {
    let tx = db.begin_write()?;
    let mut results = Vec::with_capacity(group.len());
    for job in group {
        results.push(apply(&tx, &job.ops)?);
    }
    tx.commit()?;
    Ok(results)
}
