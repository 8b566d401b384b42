//! The storage conformance suite: one behavioural specification that every storage adapter
//! (memory, SQLite, Postgres, or a user's own) must pass.
//!
//! Use it from an adapter's tests with [`crate::storage_conformance_tests!`], giving an async
//! factory that returns a fresh, empty [`TestStorage`] per test. Cases are grouped by port:
//! [`traces`], [`logs`], [`metrics`], [`intelligence`], [`maintenance`]; [`fixtures`] builds the
//! records they write.

pub mod fixtures;
pub mod intelligence;
pub mod logs;
pub mod maintenance;
pub mod metrics;
pub mod traces;

use crate::storage::Storage;
use std::any::Any;
use std::sync::Arc;

pub use intelligence::*;
pub use logs::*;
pub use maintenance::*;
pub use metrics::*;
pub use traces::*;

/// A storage under test plus whatever must live as long as it (a temp dir, a schema guard).
pub struct TestStorage {
    pub storage: Arc<dyn Storage>,
    pub guard: Box<dyn Any + Send>,
}

/// Generates one `#[tokio::test]` per conformance case. `$factory` is an expression evaluating
/// to an async closure/fn returning [`TestStorage`]; with `optional`, it returns
/// `Option<TestStorage>` and a case whose storage is `None` (an external database that is not
/// configured) passes after the factory printed why it skipped.
#[macro_export]
macro_rules! storage_conformance_tests {
    (optional $factory:expr) => {
        $crate::storage_conformance_tests!(@all (|| async { ($factory)().await }));
    };
    ($factory:expr) => {
        $crate::storage_conformance_tests!(@all (|| async { Some(($factory)().await) }));
    };
    (@all $factory:expr) => {
        $crate::storage_conformance_tests!(@cases $factory;
            // traces
            written_trace_reads_back_field_by_field,
            absent_trace_is_none,
            resent_spans_are_stored_once,
            trace_row_is_the_same_whatever_the_arrival_order,
            trace_status_upgrades_to_error_and_never_back,
            same_trace_id_in_two_tenants_is_two_traces,
            trace_includes_its_logs,
            trace_search_filters_by_span_service_operation_and_attributes,
            trace_search_filters_by_status_duration_and_time,
            trace_search_pages_in_every_order_without_gaps,
            trace_pages_neither_skip_nor_repeat_while_writes_continue,
            span_search_filters_and_pages,
            services_operations_and_metric_names_are_catalogued,
            trace_aggregates_are_exact,
            dashboard_follows_late_spans_resends_and_purges,
            awkward_strings_survive,
            batches_of_fifty_thousand_records_are_written_whole,
            // logs
            logs_of_every_body_type_read_back,
            resent_logs_are_stored_once,
            log_search_filters_by_service_severity_trace_template_and_attributes,
            log_search_orders_newest_or_oldest_first,
            log_pages_neither_skip_nor_repeat_while_writes_continue,
            full_text_finds_word_prefixes_and_requires_every_term,
            full_text_input_with_quotes_and_operators_never_fails,
            full_text_relevance_pages_cover_every_match_once,
            full_text_combines_with_filters,
            log_by_id_round_trips_within_its_tenant,
            // metrics
            metric_points_of_every_kind_read_back,
            resent_metric_points_are_stored_once,
            metric_point_search_filters_orders_and_pages,
            non_finite_floats_round_trip,
            buckets_round_trip_and_merge_when_written_again,
            bucket_search_filters_and_pages,
            // intelligence
            templates_are_upserted_merged_and_listed,
            template_pattern_fields_round_trip_and_merge,
            template_search_filters_orders_and_pages,
            investigations_round_trip_filter_and_page,
            snapshots_round_trip_and_page,
            // maintenance and tenancy
            tenants_never_see_each_others_data,
            counts_are_per_tenant,
            tenants_lists_every_tenant_with_data,
            retention_purges_only_older_records_in_batches,
            tenant_purge_empties_every_table_of_one_tenant_only,
            invalid_queries_are_invalid_arguments,
            optimize_and_status_answer,
            empty_write_is_a_no_op,
            ping_answers
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let ts: Option<$crate::conformance::TestStorage> = ($factory)().await;
                let Some(ts) = ts else { return };
                $crate::conformance::$case(&*ts.storage).await;
                drop(ts);
            }
        )*
    };
}
