//! Readiness checks behind `/ready`.

use super::{DeadLetterService, GraphService, RetentionService};
use async_trait::async_trait;
use otelcontext_ports::{CheckStatus, IngestQueue, Maintenance, Readiness, ReadinessReport, Signal};
use std::sync::Arc;
use std::time::Duration;

/// Fraction of the ingest queue above which the server reports itself not ready.
pub const PIPELINE_NOT_READY_FULLNESS: f64 = 0.95;
/// Fraction of the dead-letter queue's caps above which the server reports itself not ready.
pub const DLQ_NOT_READY_FULLNESS: f64 = 0.95;

/// Database answers within 2 s; ingest queue and dead-letter queue below 95 % full; retention
/// purging on schedule; the service graph advancing with room in its queue.
pub struct ReadinessService {
    storage: Arc<dyn Maintenance>,
    queue: Arc<dyn IngestQueue>,
    dead_letters: Option<Arc<DeadLetterService>>,
    retention: Option<Arc<RetentionService>>,
    graph: Option<Arc<GraphService>>,
}

impl ReadinessService {
    /// Checks over these ports.
    pub fn new(storage: Arc<dyn Maintenance>, queue: Arc<dyn IngestQueue>) -> Self {
        Self { storage, queue, dead_letters: None, retention: None, graph: None }
    }

    /// Also checks how full the dead-letter queue is.
    pub fn with_dead_letters(mut self, dl: Arc<DeadLetterService>) -> Self {
        self.dead_letters = Some(dl);
        self
    }

    /// Also checks that the service graph keeps up.
    pub fn with_graph(mut self, g: Arc<GraphService>) -> Self {
        self.graph = Some(g);
        self
    }

    /// Also checks that retention keeps up.
    pub fn with_retention(mut self, r: Arc<RetentionService>) -> Self {
        self.retention = Some(r);
        self
    }
}

#[async_trait]
impl Readiness for ReadinessService {
    async fn check(&self) -> ReadinessReport {
        let database = match tokio::time::timeout(Duration::from_secs(2), self.storage.ping()).await {
            Ok(Ok(())) => CheckStatus::Ok,
            Ok(Err(e)) => CheckStatus::Failed(e.to_string()),
            Err(_) => CheckStatus::Failed("ping timed out after 2s".into()),
        };
        let depth: usize = Signal::ALL.iter().map(|s| self.queue.depth(*s)).sum();
        let fullness = depth as f64 / self.queue.capacity().max(1) as f64;
        let pipeline = if fullness >= PIPELINE_NOT_READY_FULLNESS {
            CheckStatus::Failed(format!("ingest queue {:.0}% full", fullness * 100.0))
        } else {
            CheckStatus::Ok
        };
        let mut checks = vec![("database".into(), database), ("pipeline".into(), pipeline)];
        if let Some(dl) = &self.dead_letters {
            let fullness = dl.fullness();
            let status = if fullness >= DLQ_NOT_READY_FULLNESS {
                CheckStatus::Failed(format!(
                    "dead-letter queue {:.0}% full: replays are failing (see otelcontext_dlq_replay_failure_total)",
                    fullness * 100.0
                ))
            } else {
                CheckStatus::Ok
            };
            checks.push(("dead_letter_queue".into(), status));
        }
        if let Some(r) = &self.retention {
            checks.push(("retention".into(), r.freshness().map_or_else(CheckStatus::Failed, |()| CheckStatus::Ok)));
        }
        if let Some(g) = &self.graph {
            checks.push(("service_graph".into(), g.health().map_or_else(CheckStatus::Failed, |()| CheckStatus::Ok)));
        }
        ReadinessReport { checks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelcontext_ports::{MockIngestQueue, MockMaintenance, StorageError};

    fn queue(depth: usize) -> MockIngestQueue {
        let mut q = MockIngestQueue::new();
        q.expect_depth().returning(move |s| if s == Signal::Traces { depth } else { 0 });
        q.expect_capacity().returning(|| 100);
        q
    }

    #[tokio::test]
    async fn ready_when_the_database_answers_and_the_queue_has_room() {
        let mut s = MockMaintenance::new();
        s.expect_ping().returning(|| Ok(()));
        let r = ReadinessService::new(Arc::new(s), Arc::new(queue(10))).check().await;
        assert!(r.is_ready());
    }

    #[tokio::test]
    async fn not_ready_names_the_failing_check() {
        let mut s = MockMaintenance::new();
        s.expect_ping().returning(|| Err(StorageError::Unavailable("disk gone".into())));
        let r = ReadinessService::new(Arc::new(s), Arc::new(queue(96))).check().await;
        assert!(!r.is_ready());
        assert!(matches!(&r.checks[0], (n, CheckStatus::Failed(m)) if n == "database" && m.contains("disk gone")));
        assert!(matches!(&r.checks[1], (n, CheckStatus::Failed(m)) if n == "pipeline" && m.contains("96%")));
    }
}
