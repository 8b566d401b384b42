//! Helpers shared by the services' unit tests.

use otelcontext_domain::TenantId;
use otelcontext_ports::{Clock, MockClock};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub(crate) fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// A clock reading `now`, which the test moves.
pub(crate) fn clock_at(now: Arc<AtomicI64>) -> Arc<dyn Clock> {
    let mut c = MockClock::new();
    c.expect_now_ns().returning(move || now.load(Ordering::Relaxed));
    Arc::new(c)
}
