//! A memo of tool results keyed by (tenant, tool, canonical arguments), for the tools whose
//! answers are costly and change slowly. Entries live `ttl`; concurrent misses of one key compute
//! once (single flight); at most `max_entries` are held (past it, expired ones go first, and a
//! call that still finds no room runs uncached).

use otelcontext_domain::TenantId;
use parking_lot::Mutex;
use rmcp::model::CallToolResult;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The tools whose results are memoised.
pub const CACHED_TOOLS: [&str; 5] =
    ["get_service_map", "impact_analysis", "root_cause_analysis", "get_anomaly_timeline", "get_service_health"];

type Key = (TenantId, String, String);
type Cell<E> = Arc<OnceCell<(Instant, Result<CallToolResult, E>)>>;

/// Whether an answer came from the memo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
    /// No room: computed without the memo.
    Bypass,
}

pub struct ResultCache<E> {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<Key, Cell<E>>>,
}

impl<E: Clone> ResultCache<E> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self { ttl, max_entries, entries: Mutex::new(HashMap::new()) }
    }

    fn fresh(&self, cell: &Cell<E>, now: Instant) -> bool {
        cell.get().is_none_or(|(at, _)| now.duration_since(*at) < self.ttl)
    }

    /// The result of `tool` with `args` (canonical JSON) for `tenant`: memoised, or computed by
    /// `compute` (once, however many callers miss together). Failures are not kept.
    pub async fn get_or_compute<F, Fut>(
        &self,
        tenant: &TenantId,
        tool: &str,
        args: String,
        compute: F,
    ) -> (Result<CallToolResult, E>, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CallToolResult, E>>,
    {
        let key = (tenant.clone(), tool.to_owned(), args);
        let now = Instant::now();
        let cell = {
            let mut entries = self.entries.lock();
            match entries.get(&key) {
                Some(c) if self.fresh(c, now) => Some(c.clone()),
                _ => {
                    if entries.len() >= self.max_entries {
                        entries.retain(|_, c| self.fresh(c, now));
                    }
                    if entries.len() >= self.max_entries && !entries.contains_key(&key) {
                        None
                    } else {
                        let c: Cell<E> = Arc::new(OnceCell::new());
                        entries.insert(key.clone(), c.clone());
                        Some(c)
                    }
                }
            }
        };
        let Some(cell) = cell else { return (compute().await, Lookup::Bypass) };
        let mut computed = false;
        let (_, result) = cell
            .get_or_init(|| {
                computed = true;
                async { (Instant::now(), compute().await) }
            })
            .await;
        let result = result.clone();
        if result.as_ref().is_err() || result.as_ref().is_ok_and(|r| r.is_error == Some(true)) {
            // Not kept: the next call computes again.
            let mut entries = self.entries.lock();
            if entries.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                entries.remove(&key);
            }
        }
        (result, if computed { Lookup::Miss } else { Lookup::Hit })
    }

    /// Entries held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ok(n: usize) -> Result<CallToolResult, ()> {
        Ok(CallToolResult::success(vec![ContentBlock::text(n.to_string())]))
    }

    fn text(r: &Result<CallToolResult, ()>) -> String {
        r.as_ref().unwrap().content[0].as_text().unwrap().text.clone()
    }

    #[tokio::test]
    async fn hits_within_the_ttl_per_tenant_tool_and_arguments() {
        let cache = ResultCache::new(Duration::from_secs(60), 10);
        let (a, b) = (TenantId::parse("a").unwrap(), TenantId::parse("b").unwrap());
        let runs = AtomicUsize::new(0);
        let run = || async {
            let n = runs.fetch_add(1, Ordering::SeqCst);
            ok(n)
        };
        let (r, l) = cache.get_or_compute(&a, "get_service_map", "{}".into(), run).await;
        assert_eq!((text(&r), l), ("0".into(), Lookup::Miss));
        let (r, l) = cache.get_or_compute(&a, "get_service_map", "{}".into(), run).await;
        assert_eq!((text(&r), l), ("0".into(), Lookup::Hit));
        let (_, l) = cache.get_or_compute(&b, "get_service_map", "{}".into(), run).await;
        assert_eq!(l, Lookup::Miss, "another tenant never sees a's answer");
        let (_, l) = cache.get_or_compute(&a, "get_service_map", "{\"depth\":2}".into(), run).await;
        assert_eq!(l, Lookup::Miss, "other arguments, another entry");
        let (_, l) = cache.get_or_compute(&a, "impact_analysis", "{}".into(), run).await;
        assert_eq!(l, Lookup::Miss);
        assert_eq!(runs.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn expired_entries_compute_again_failures_are_not_kept_and_size_is_bounded() {
        let cache = ResultCache::new(Duration::from_millis(20), 2);
        let a = TenantId::parse("a").unwrap();
        let (_, l) = cache.get_or_compute(&a, "t", "1".into(), || async { ok(1) }).await;
        assert_eq!(l, Lookup::Miss);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (_, l) = cache.get_or_compute(&a, "t", "1".into(), || async { ok(1) }).await;
        assert_eq!(l, Lookup::Miss, "expired");
        let (r, _) = cache.get_or_compute(&a, "t", "2".into(), || async { Err(()) }).await;
        assert!(r.is_err());
        let (_, l) = cache.get_or_compute(&a, "t", "2".into(), || async { ok(2) }).await;
        assert_eq!(l, Lookup::Miss, "a failure is not kept");
        let (_, l) = cache.get_or_compute(&a, "t", "3".into(), || async { ok(3) }).await;
        assert_eq!(l, Lookup::Bypass, "two fresh entries fill it");
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test]
    async fn concurrent_misses_compute_once() {
        let cache = Arc::new(ResultCache::new(Duration::from_secs(60), 10));
        let runs = Arc::new(AtomicUsize::new(0));
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (cache, runs) = (cache.clone(), runs.clone());
                tokio::spawn(async move {
                    let t = TenantId::parse("a").unwrap();
                    cache
                        .get_or_compute(&t, "root_cause_analysis", "{}".into(), || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            ok(7)
                        })
                        .await
                        .1
                })
            })
            .collect();
        let mut lookups = Vec::new();
        for c in calls {
            lookups.push(c.await.unwrap());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "single flight");
        assert_eq!(lookups.iter().filter(|l| **l == Lookup::Miss).count(), 1);
    }
}
