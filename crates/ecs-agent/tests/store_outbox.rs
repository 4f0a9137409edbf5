//! The outbox: ordered, durable, removable once acknowledged.

use ecs_agent::store::{Batch, Store};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Change {
    task_arn: String,
    status: String,
}

fn change(n: u32, status: &str) -> Change {
    Change {
        task_arn: format!("arn:aws:ecs:us-east-1:123456789012:task/c1/{n}"),
        status: status.to_string(),
    }
}

#[test]
fn order_survives_reopen_and_acknowledged_entries_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seqs = Vec::new();
    {
        let store = Store::open_in(dir.path()).expect("open");
        for n in 0..5 {
            seqs.push(store.append_outbox(&change(n, "RUNNING")).expect("append"));
        }
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    let store = Store::open_in(dir.path()).expect("reopen");
    let pending: Vec<(u64, Change)> = store.outbox_pending().expect("pending");
    assert_eq!(pending.iter().map(|(s, _)| *s).collect::<Vec<_>>(), seqs);
    assert_eq!(
        pending.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
        (0..5).map(|n| change(n, "RUNNING")).collect::<Vec<_>>()
    );

    // Acknowledge out of order: the middle one, then the first.
    assert!(store.remove_outbox(seqs[2]).expect("remove"));
    assert!(store.remove_outbox(seqs[0]).expect("remove"));
    assert!(!store.remove_outbox(seqs[0]).expect("remove twice"));
    drop(store);

    let store = Store::open_in(dir.path()).expect("reopen");
    let left: Vec<u64> = store
        .outbox_pending::<Change>()
        .expect("pending")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(left, vec![seqs[1], seqs[3], seqs[4]]);
}

#[test]
fn sequence_numbers_never_repeat_after_draining() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let first = store.append_outbox(&change(1, "RUNNING")).expect("append");
    store.remove_outbox(first).expect("ack");
    assert_eq!(store.outbox_len().expect("len"), 0);
    drop(store);
    let store = Store::open_in(dir.path()).expect("reopen");
    let second = store.append_outbox(&change(1, "STOPPED")).expect("append");
    assert!(second > first, "{second} after {first}");
}

#[test]
fn state_and_its_change_commit_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let c = change(9, "STOPPED");
    let mut batch = Batch::new();
    batch
        .put_task(&c.task_arn, &c)
        .expect("task")
        .append_outbox(&c)
        .expect("first change")
        .append_outbox(&change(10, "STOPPED"))
        .expect("second change");
    let seqs = store.commit(&batch).expect("commit");
    assert_eq!(seqs.len(), 2);
    assert!(seqs[0] < seqs[1]);
    let pending: Vec<(u64, Change)> = store.outbox_pending().expect("pending");
    assert_eq!(pending[0], (seqs[0], c));

    let mut ack = Batch::new();
    ack.remove_outbox(seqs[0]).remove_outbox(seqs[1]);
    store.commit(&ack).expect("ack both");
    assert_eq!(store.outbox_len().expect("len"), 0);
}
