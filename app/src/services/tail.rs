//! The live tail of log records: every commit's log records are handed to the open tails of
//! their tenant (`GET /api/logs/tail`), after they are stored, so a tail never shows a record
//! that a search would not find.
//!
//! Bounded: at most `max_tails` are open at once, and each tail can fall at most
//! [`BACKLOG`] commits behind before it skips (and is told how many it skipped) — a slow reader
//! never holds memory or slows ingest. With no tail open, a commit costs one atomic read.

use otelcontext_domain::{LogRecord, TenantId};
use otelcontext_ports::{CommitObserver, LogTail, QueryError, TailEvent, TailSubscription, TenantBatch};
use otelcontext_telemetry::{Counter, Gauge, KeyValue, Meter, counter, gauge};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::broadcast;

/// Commits a tail may fall behind before it skips.
pub const BACKLOG: usize = 1_024;

type Commit = Arc<(TenantId, Arc<Vec<LogRecord>>)>;

struct TailMetrics {
    open: Gauge<i64>,
    refused: Counter<u64>,
    skipped: Counter<u64>,
}

/// The feed and its open tails.
pub struct LogTailService {
    sender: Mutex<Option<broadcast::Sender<Commit>>>,
    open: Arc<AtomicUsize>,
    max_tails: usize,
    metrics: Arc<TailMetrics>,
}

impl LogTailService {
    pub fn new(max_tails: usize, meter: &Meter) -> Self {
        let metrics = TailMetrics {
            open: gauge(meter, "otelcontext_api_log_tails", "Live tails of log records open now (GET /api/logs/tail)."),
            refused: counter(
                meter,
                "otelcontext_api_log_tails_refused_total",
                "Live tails refused because the most allowed were open.",
            ),
            skipped: counter(
                meter,
                "otelcontext_api_log_tail_skipped_total",
                "Commits of log records a slow live tail skipped (the tail was told).",
            ),
        };
        metrics.refused.add(0, &[]);
        metrics.skipped.add(0, &[]);
        metrics.open.record(0, &[]);
        let (sender, _) = broadcast::channel(BACKLOG);
        Self {
            sender: Mutex::new(Some(sender)),
            open: Arc::new(AtomicUsize::new(0)),
            max_tails,
            metrics: Arc::new(metrics),
        }
    }

    /// Ends every tail (at shutdown): each is told the feed closed.
    pub fn close(&self) {
        self.sender.lock().take();
    }

    /// Tails open now.
    pub fn open_tails(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

impl CommitObserver for LogTailService {
    fn committed(&self, batches: &[TenantBatch]) {
        if self.open.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(sender) = self.sender.lock().clone() else { return };
        for b in batches.iter().filter(|b| !b.logs.is_empty()) {
            // No receiver left is fine: nobody is tailing.
            let _ = sender.send(Arc::new((b.tenant.clone(), Arc::new(b.logs.clone()))));
        }
    }
}

/// Counts an open tail while it lives.
struct Slot {
    open: Arc<AtomicUsize>,
    metrics: Arc<TailMetrics>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let now = self.open.fetch_sub(1, Ordering::SeqCst) - 1;
        self.metrics.open.record(now as i64, &[]);
    }
}

struct Subscription {
    tenant: TenantId,
    receiver: broadcast::Receiver<Commit>,
    metrics: Arc<TailMetrics>,
    _slot: Slot,
}

#[async_trait::async_trait]
impl TailSubscription for Subscription {
    async fn next(&mut self) -> TailEvent {
        loop {
            match self.receiver.recv().await {
                Ok(commit) if commit.0 == self.tenant => return TailEvent::Records(commit.1.clone()),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.metrics.skipped.add(n, &[KeyValue::new("reason", "slow_reader")]);
                    return TailEvent::Lagged(n);
                }
                Err(broadcast::error::RecvError::Closed) => return TailEvent::Closed,
            }
        }
    }
}

impl LogTail for LogTailService {
    fn subscribe(&self, tenant: &TenantId) -> Result<Box<dyn TailSubscription>, QueryError> {
        let Some(sender) = self.sender.lock().clone() else {
            return Err(QueryError::Unavailable("the server is stopping".into()));
        };
        let opened =
            self.open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < self.max_tails).then_some(n + 1));
        let Ok(before) = opened else {
            self.metrics.refused.add(1, &[]);
            return Err(QueryError::Unavailable(format!(
                "{} live tails are open, the most allowed; close one or retry later",
                self.max_tails
            )));
        };
        self.metrics.open.record(before as i64 + 1, &[]);
        let slot = Slot { open: self.open.clone(), metrics: self.metrics.clone() };
        Ok(Box::new(Subscription {
            tenant: tenant.clone(),
            receiver: sender.subscribe(),
            metrics: self.metrics.clone(),
            _slot: slot,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_domain::{AnyValue, Attributes, InstrumentationScope, Resource};

    fn record(body: &str) -> LogRecord {
        LogRecord {
            timestamp_ns: 1,
            observed_ns: 1,
            severity_number: 9,
            severity_text: String::new(),
            body: Some(AnyValue::String(body.into())),
            attributes: Attributes::new(),
            trace_id: None,
            span_id: None,
            flags: 0,
            event_name: String::new(),
            resource: Arc::new(Resource::for_service("api")),
            scope: Arc::new(InstrumentationScope::default()),
            template_id: None,
        }
    }

    fn batch(tenant: &str, bodies: &[&str]) -> TenantBatch {
        let mut b = TenantBatch::new(TenantId::parse(tenant).unwrap());
        b.logs = bodies.iter().map(|x| record(x)).collect();
        b
    }

    fn service(max: usize) -> LogTailService {
        LogTailService::new(max, &otelcontext_telemetry::Telemetry::new().meter())
    }

    fn bodies(e: TailEvent) -> Vec<String> {
        match e {
            TailEvent::Records(r) => r.iter().map(|l| l.body_text()).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_tail_sees_its_tenants_commits_from_when_it_opened() {
        let s = service(4);
        s.committed(&[batch("a", &["before anyone listened"])]);
        let mut a = s.subscribe(&TenantId::parse("a").unwrap()).unwrap();
        s.committed(&[batch("b", &["b's"]), batch("a", &["one", "two"])]);
        s.committed(&[batch("a", &["three"])]);
        assert_eq!(bodies(a.next().await), ["one", "two"]);
        assert_eq!(bodies(a.next().await), ["three"]);
        s.close();
        assert_eq!(a.next().await, TailEvent::Closed);
        assert!(s.subscribe(&TenantId::parse("a").unwrap()).is_err(), "no tails after close");
    }

    #[tokio::test]
    async fn tails_are_bounded_and_a_slow_one_is_told_what_it_skipped() {
        let s = service(1);
        let t = TenantId::parse("a").unwrap();
        let mut first = s.subscribe(&t).unwrap();
        assert!(matches!(s.subscribe(&t), Err(QueryError::Unavailable(_))), "the most allowed are open");
        for i in 0..BACKLOG + 5 {
            s.committed(&[batch("a", &[&i.to_string()])]);
        }
        assert_eq!(first.next().await, TailEvent::Lagged(5));
        assert_eq!(bodies(first.next().await), ["5"]);
        drop(first);
        assert_eq!(s.open_tails(), 0);
        assert!(s.subscribe(&t).is_ok(), "a closed tail frees its place");
    }
}
