//! Bounded in-process ingest queue, sized in items.

use async_trait::async_trait;
use otelcontext_domain::admission::{Admission, AdmissionPolicy};
use otelcontext_ports::{IngestQueue, QueueItem, Signal, SubmitOutcome};
use parking_lot::Mutex;
use std::collections::VecDeque;
use tokio::sync::Notify;

#[derive(Default)]
struct State {
    items: VecDeque<QueueItem>,
    /// Items accepted and not yet completed: waiting in `items` or taken by a consumer.
    depth: usize,
    depth_by_signal: [usize; 3],
    closed: bool,
}

fn slot(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Logs => 1,
        Signal::Metrics => 2,
    }
}

/// A bounded FIFO shared by the receivers (producers) and the storage writers (consumers).
/// Admission (soft drop, full) follows [`AdmissionPolicy`].
pub struct MemoryQueue {
    policy: AdmissionPolicy,
    state: Mutex<State>,
    notify: Notify,
}

impl MemoryQueue {
    /// A queue applying `policy`.
    pub fn new(policy: AdmissionPolicy) -> Self {
        Self { policy, state: Mutex::new(State::default()), notify: Notify::new() }
    }

    fn take_group(state: &mut State, max_items: usize) -> Vec<QueueItem> {
        let mut group = Vec::new();
        let mut taken = 0usize;
        while let Some(front) = state.items.front() {
            if !group.is_empty() && taken + front.items > max_items {
                break;
            }
            let item = state.items.pop_front().expect("front exists");
            taken += item.items;
            group.push(item);
        }
        group
    }
}

#[async_trait]
impl IngestQueue for MemoryQueue {
    fn try_submit(&self, item: QueueItem) -> SubmitOutcome {
        let mut state = self.state.lock();
        if state.closed {
            return SubmitOutcome::Closed(item);
        }
        match self.policy.decide(state.depth, item.items, item.class) {
            Admission::SoftDrop => SubmitOutcome::SoftDropped(item),
            Admission::Full => SubmitOutcome::Full(item),
            Admission::Accept => {
                state.depth += item.items;
                state.depth_by_signal[slot(item.signal)] += item.items;
                state.items.push_back(item);
                drop(state);
                self.notify.notify_one();
                SubmitOutcome::Accepted
            }
        }
    }

    async fn next_group(&self, max_items: usize) -> Vec<QueueItem> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state.lock();
                if !state.items.is_empty() {
                    let group = Self::take_group(&mut state, max_items);
                    let more = !state.items.is_empty();
                    drop(state);
                    if more {
                        self.notify.notify_one();
                    }
                    return group;
                }
                if state.closed {
                    return Vec::new();
                }
            }
            notified.await;
        }
    }

    fn complete(&self, signal: Signal, items: usize) {
        let mut state = self.state.lock();
        let items = items.min(state.depth_by_signal[slot(signal)]);
        state.depth -= items;
        state.depth_by_signal[slot(signal)] -= items;
    }

    fn close(&self) {
        self.state.lock().closed = true;
        self.notify.notify_waiters();
    }

    fn depth(&self, signal: Signal) -> usize {
        self.state.lock().depth_by_signal[slot(signal)]
    }

    fn is_full(&self) -> bool {
        self.policy.is_full(self.state.lock().depth)
    }

    fn capacity(&self) -> usize {
        self.policy.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_domain::admission::BatchClass;
    use std::sync::Arc;
    use std::time::Duration;

    fn item(signal: Signal, items: usize, class: BatchClass) -> QueueItem {
        QueueItem { signal, batches: vec![], items, class, on_commit: None }
    }

    fn queue(capacity: usize) -> MemoryQueue {
        MemoryQueue::new(AdmissionPolicy { capacity, soft_threshold: 0.9, soft_drop: true })
    }

    #[tokio::test]
    async fn healthy_batches_are_shed_at_ninety_percent_and_priority_ones_refused_when_full() {
        let q = queue(10);
        for _ in 0..9 {
            assert!(matches!(q.try_submit(item(Signal::Traces, 1, BatchClass::Healthy)), SubmitOutcome::Accepted));
        }
        assert!(matches!(q.try_submit(item(Signal::Traces, 1, BatchClass::Healthy)), SubmitOutcome::SoftDropped(_)));
        assert!(matches!(q.try_submit(item(Signal::Logs, 1, BatchClass::Priority)), SubmitOutcome::Accepted));
        assert!(matches!(q.try_submit(item(Signal::Logs, 1, BatchClass::Priority)), SubmitOutcome::Full(_)));
        assert_eq!((q.depth(Signal::Traces), q.depth(Signal::Logs), q.depth(Signal::Metrics)), (9, 1, 0));
    }

    #[tokio::test]
    async fn groups_take_whole_items_up_to_the_limit_in_order() {
        let q = queue(100);
        for n in [3, 4, 5, 6] {
            q.try_submit(item(Signal::Traces, n, BatchClass::Priority));
        }
        let sizes = |g: Vec<QueueItem>| g.iter().map(|i| i.items).collect::<Vec<_>>();
        assert_eq!(sizes(q.next_group(8).await), vec![3, 4]);
        assert_eq!(sizes(q.next_group(2).await), vec![5], "at least one item even if larger than the limit");
        assert_eq!(sizes(q.next_group(100).await), vec![6]);
        assert_eq!(q.depth(Signal::Traces), 18, "taken items hold their place until completed");
        q.complete(Signal::Traces, 18);
        assert_eq!(q.depth(Signal::Traces), 0);
    }

    #[tokio::test]
    async fn capacity_is_freed_only_when_taken_items_are_completed() {
        let q = queue(4);
        assert!(matches!(q.try_submit(item(Signal::Logs, 4, BatchClass::Priority)), SubmitOutcome::Accepted));
        let group = q.next_group(10).await;
        assert!(matches!(q.try_submit(item(Signal::Logs, 1, BatchClass::Priority)), SubmitOutcome::Full(_)));
        q.complete(Signal::Logs, group[0].items);
        assert!(matches!(q.try_submit(item(Signal::Logs, 1, BatchClass::Priority)), SubmitOutcome::Accepted));
    }

    #[tokio::test]
    async fn consumers_wait_for_items_and_stop_after_close_and_drain() {
        let q = Arc::new(queue(100));
        let consumer = {
            let q = q.clone();
            tokio::spawn(async move {
                let mut seen = 0;
                loop {
                    let g = q.next_group(10).await;
                    if g.is_empty() {
                        return seen;
                    }
                    seen += g.iter().map(|i| i.items).sum::<usize>();
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        for _ in 0..5 {
            q.try_submit(item(Signal::Metrics, 2, BatchClass::Priority));
        }
        q.close();
        assert!(matches!(q.try_submit(item(Signal::Metrics, 1, BatchClass::Priority)), SubmitOutcome::Closed(_)));
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), consumer).await.unwrap().unwrap(), 10);
    }

    #[tokio::test]
    async fn many_producers_and_consumers_account_for_every_item() {
        let q = Arc::new(queue(1_000_000));
        let mut producers = Vec::new();
        for _ in 0..8 {
            let q = q.clone();
            producers.push(tokio::spawn(async move {
                for _ in 0..500 {
                    assert!(matches!(
                        q.try_submit(item(Signal::Traces, 1, BatchClass::Healthy)),
                        SubmitOutcome::Accepted
                    ));
                    tokio::task::yield_now().await;
                }
            }));
        }
        let mut consumers = Vec::new();
        for _ in 0..3 {
            let q = q.clone();
            consumers.push(tokio::spawn(async move {
                let mut n = 0;
                loop {
                    let g = q.next_group(64).await;
                    if g.is_empty() {
                        return n;
                    }
                    n += g.len();
                }
            }));
        }
        for p in producers {
            p.await.unwrap();
        }
        q.close();
        let mut total = 0;
        for c in consumers {
            total += c.await.unwrap();
        }
        assert_eq!(total, 4_000);
    }
}
