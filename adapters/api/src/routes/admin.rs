//! Administration of the caller's tenant, behind the admin key: the routes.

use crate::*;
use otelcontext_ports::{AdminRefusal, RetentionTarget};

/// Rows an admin purge deleted, per table.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PurgedRowsView {
    pub traces: u64,
    pub logs: u64,
    pub metric_points: u64,
    pub metric_buckets: u64,
    pub graph_snapshots: u64,
    pub investigations: u64,
    pub log_templates: u64,
}

/// What an admin purge did.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PurgeView {
    /// The tenant purged (the caller's).
    pub tenant: String,
    /// Rows older than this were deleted.
    pub cutoff: String,
    pub cutoff_unix_nano: i64,
    /// Rows deleted per table (spans went with their traces).
    pub deleted: PurgedRowsView,
    pub total_deleted: u64,
}

/// The outcome of a vacuum.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VacuumView {
    /// `vacuumed`.
    pub status: String,
}

macro_rules! admin_response {
    ($name:ident, $ok:ty, $doc:literal) => {
        #[derive(ApiResponse)]
        enum $name {
            #[doc = $doc]
            #[oai(status = 200)]
            Ok(Json<$ok>),
            /// A parameter is malformed (days, before, tenant).
            #[oai(status = 400)]
            BadRequest(Json<ErrorBody>),
            /// `X-Admin-Key` is missing or wrong.
            #[oai(status = 401)]
            Unauthorized(Json<ErrorBody>),
            /// The admin routes are off (no `ADMIN_API_KEY`), or the credential is bound to another
            /// tenant than `X-Tenant-ID` names.
            #[oai(status = 403)]
            Forbidden(Json<ErrorBody>),
            /// The database is unavailable; retry later.
            #[oai(status = 503)]
            Unavailable(Json<ErrorBody>),
            /// Unexpected failure.
            #[oai(status = 500)]
            Internal(Json<ErrorBody>),
        }
        failure_into!($name);
    };
}

admin_response!(PurgeResponse, PurgeView, "What was deleted.");
admin_response!(VacuumResponse, VacuumView, "Free space was reclaimed and statistics refreshed.");

/// Administration.
pub struct AdminRoutes(pub(crate) Arc<QueryApi>);

impl AdminRoutes {
    /// The admin service, when the presented key is the admin key.
    fn admin(&self, key: Option<&str>) -> Result<&Arc<dyn otelcontext_ports::Admin>, (u16, Json<ErrorBody>)> {
        let Some(admin) = self.0.admin.as_ref() else {
            return Err((403, ErrorBody::new("admin routes are disabled", Some("set ADMIN_API_KEY".into()))));
        };
        match admin.check_key(key) {
            Ok(()) => Ok(admin),
            Err(AdminRefusal::Disabled) => {
                Err((403, ErrorBody::new("admin routes are disabled", Some("set ADMIN_API_KEY".into()))))
            }
            Err(AdminRefusal::Missing) => {
                Err((401, ErrorBody::new("unauthorized", Some("admin routes need the X-Admin-Key header".into()))))
            }
            Err(AdminRefusal::Wrong) => {
                Err((401, ErrorBody::new("unauthorized", Some("X-Admin-Key is not the admin key".into()))))
            }
        }
    }
}

/// Days a purge keeps by default, and at most.
const DEFAULT_PURGE_DAYS: i64 = 7;
const MAX_PURGE_DAYS: i64 = 36_500;
const DAY_NS: i64 = 86_400_000_000_000;

#[OpenApi]
impl AdminRoutes {
    /// Purge the caller's tenant: delete its data older than a cutoff from every table.
    ///
    /// Traces with their spans, logs (and their full-text index), metric points and buckets,
    /// catalogued names, log templates, investigations and graph snapshots — of the caller's
    /// tenant only (the tenant of its credential or `X-Tenant-ID`), never another's. Rows are
    /// deleted in batches, so ingest goes on meanwhile. A cutoff of now (`days=0`) deletes all of
    /// the tenant's data and drops what the server holds of it in memory (templates, similar-log
    /// index, live graph). Needs the admin key in `X-Admin-Key` besides the usual credential.
    #[oai(path = "/admin/purge", method = "delete", tag = "ApiTags::Admin", operation_id = "purgeTenant")]
    async fn purge(
        &self,
        req: &Request,
        /// Delete what is older than this many days, 0 to 36500 (default 7). Not with `before`.
        #[oai(validator(minimum(value = "0"), maximum(value = "36500")))]
        days: Query<Option<i64>>,
        /// Delete what is older than this moment: RFC 3339 or unix nanoseconds. Not with `days`.
        before: Query<Option<String>>,
        /// The admin key (`ADMIN_API_KEY`).
        #[oai(name = "X-Admin-Key")]
        x_admin_key: Header<Option<String>>,
        /// Tenant to purge (default tenant when absent); a credential bound to a tenant may only
        /// name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> PurgeResponse {
        let tenant = or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let admin = match self.admin(x_admin_key.0.as_deref()) {
            Ok(a) => a,
            Err((403, body)) => return PurgeResponse::Forbidden(body),
            Err((_, body)) => return PurgeResponse::Unauthorized(body),
        };
        let now = now_ns();
        let cutoff_ns = match (days.0, before.0.filter(|b| !b.trim().is_empty())) {
            (Some(_), Some(_)) => return Failure::bad("invalid purge", "give days or before, not both").into(),
            (None, Some(b)) => or_return!(params::parse_time(b.trim()).map_err(|e| ("invalid before", e))),
            (Some(d), None) if !(0..=MAX_PURGE_DAYS).contains(&d) => {
                return Failure::bad("invalid days", format!("{d}: expected 0 to {MAX_PURGE_DAYS}")).into();
            }
            (d, None) => now - d.unwrap_or(DEFAULT_PURGE_DAYS) * DAY_NS,
        };
        match admin.purge(&tenant, cutoff_ns).await {
            Ok(report) => {
                let n = |t: RetentionTarget| report.deleted.iter().find(|(x, _)| *x == t).map_or(0, |(_, n)| *n);
                let deleted = PurgedRowsView {
                    traces: n(RetentionTarget::Traces),
                    logs: n(RetentionTarget::Logs),
                    metric_points: n(RetentionTarget::MetricPoints),
                    metric_buckets: n(RetentionTarget::MetricBuckets),
                    graph_snapshots: n(RetentionTarget::GraphSnapshots),
                    investigations: n(RetentionTarget::Investigations),
                    log_templates: n(RetentionTarget::Templates),
                };
                PurgeResponse::Ok(Json(PurgeView {
                    tenant: tenant.as_str().to_owned(),
                    cutoff: views::rfc3339(cutoff_ns),
                    cutoff_unix_nano: cutoff_ns,
                    total_deleted: report.deleted.iter().map(|(_, n)| n).sum(),
                    deleted,
                }))
            }
            Err(e) => Failure::from(e).into(),
        }
    }

    /// Reclaim free space and refresh the query planner's statistics.
    ///
    /// Acts on the whole database file (space is not per tenant); needs the admin key in
    /// `X-Admin-Key`.
    #[oai(path = "/admin/vacuum", method = "post", tag = "ApiTags::Admin", operation_id = "vacuum")]
    async fn vacuum(
        &self,
        req: &Request,
        /// The admin key (`ADMIN_API_KEY`).
        #[oai(name = "X-Admin-Key")]
        x_admin_key: Header<Option<String>>,
        /// Tenant of the request (default tenant when absent); a credential bound to a tenant may
        /// only name its own.
        #[oai(name = "X-Tenant-ID")]
        x_tenant_id: Header<Option<String>>,
    ) -> VacuumResponse {
        or_return!(self.0.tenant(req, x_tenant_id.0.as_deref()));
        let admin = match self.admin(x_admin_key.0.as_deref()) {
            Ok(a) => a,
            Err((403, body)) => return VacuumResponse::Forbidden(body),
            Err((_, body)) => return VacuumResponse::Unauthorized(body),
        };
        match admin.vacuum().await {
            Ok(()) => VacuumResponse::Ok(Json(VacuumView { status: "vacuumed".into() })),
            Err(e) => Failure::from(e).into(),
        }
    }
}
