//! The composition root: builds adapters and services from the configuration, binds the
//! listeners, and runs until shutdown (stop intake, drain the pipeline, close the database).

use crate::config::Config;
use crate::http::{self, HttpParts};
use crate::services::{
    AnomalyService, AnomalySettings, DeadLetterService, GraphQueryService, GraphService, GraphSettings, IngestPolicy,
    IngestService, KeyRing, LogTailService, Pipeline, PipelineSettings, PipelineStages, QueryService, ReadinessService,
    RetentionService, RetentionSettings, SimilarLogService, SystemClock, TemplateService, TsdbService, tsdb_config,
};
use crate::storage::{self, RetryPolicy};
use crate::tls::{PoemTlsAcceptor, TlsMetrics, accept_tls};
use anyhow::Context;
use otelcontext_api::QueryApi;
use otelcontext_dlq_fs::FsDeadLetterQueue;
use otelcontext_domain::admission::{AdmissionPolicy, SOFT_THRESHOLD};
use otelcontext_domain::dlq::{Caps, ReplayPolicy};
use otelcontext_domain::drain::DrainConfig;
use otelcontext_domain::filter::{ServiceFilter, SeverityFilter};
use otelcontext_domain::graph::anomaly::Thresholds;
use otelcontext_domain::sampling::SamplingPolicy;
use otelcontext_memory::MemoryQueue;
use otelcontext_otlp::{GrpcLimits, HttpLimits, OtlpGrpc, OtlpHttp, OtlpMetrics, Receiver, TenantPolicy};
use otelcontext_ports::{Authenticator, Clock, CommitObserver, DeadLetterQueue, IngestQueue, Storage};
use otelcontext_telemetry::{Gauge, KeyValue, Meter, Telemetry, gauge};
use otelcontext_tls::{Tls, TlsSource};
use poem::listener::{AcceptorExt, BoxAcceptor};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The whole shutdown — in-flight requests, committing what is queued — takes at most this long
/// from the stop signal; what is still not stored then goes to the dead-letter queue.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);
/// The end of the grace kept for moving unstored records to the dead-letter queue.
const SPILL_RESERVE: Duration = Duration::from_secs(2);
/// How long in-flight HTTP requests may take to finish (within the grace).
const REQUEST_GRACE: Duration = Duration::from_secs(10);

/// Builds a [`Server`]; lets a caller plug in its own storage adapter.
pub struct ServerBuilder {
    config: Config,
    storage: Option<Arc<dyn Storage>>,
    telemetry: Option<Arc<Telemetry>>,
    dead_letters: Option<Arc<dyn DeadLetterQueue>>,
    retry: RetryPolicy,
}

impl ServerBuilder {
    /// Uses this storage (any implementation of the storage ports) instead of the one
    /// `DB_DRIVER` names. It is wrapped in the same retrying and instrumented decorators.
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Uses this retry policy for transient storage failures instead of the default.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Records metrics into this telemetry (to read them from a test, or to add push exporters).
    pub fn telemetry(mut self, telemetry: Arc<Telemetry>) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Uses this dead-letter queue instead of the one in `DLQ_PATH`.
    pub fn dead_letter_queue(mut self, dlq: Arc<dyn DeadLetterQueue>) -> Self {
        self.dead_letters = Some(dlq);
        self
    }

    /// Opens the storage (running migrations as configured) and the dead-letter queue, and
    /// assembles the services.
    pub async fn build(self) -> anyhow::Result<Server> {
        let config = self.config;
        let telemetry = self.telemetry.unwrap_or_else(|| Arc::new(Telemetry::new()));
        let dead_letters: Arc<dyn DeadLetterQueue> = match self.dead_letters {
            Some(d) => d,
            None => {
                let caps = Caps {
                    max_files: config.dlq_max_files,
                    max_bytes: config.dlq_max_disk_mb.saturating_mul(1024 * 1024),
                };
                let dir = config.dlq_path.clone();
                let dlq = tokio::task::spawn_blocking(move || FsDeadLetterQueue::open(dir, caps)).await?.with_context(
                    || format!("opening the dead-letter queue in DLQ_PATH {}", config.dlq_path.display()),
                )?;
                Arc::new(dlq)
            }
        };
        let adapter: Arc<dyn Storage> = match self.storage {
            Some(s) => s,
            None => storage::open_adapter(&config).await?,
        };
        let storage = storage::decorate(adapter, &telemetry.meter(), self.retry);
        Ok(Server { telemetry, config, storage, dead_letters })
    }
}

/// A configured server, not yet listening.
pub struct Server {
    config: Config,
    storage: Arc<dyn Storage>,
    telemetry: Arc<Telemetry>,
    dead_letters: Arc<dyn DeadLetterQueue>,
}

/// Live tails of log records open at once (`GET /api/logs/tail`).
pub const MAX_LOG_TAILS: usize = 256;

/// A listening server.
pub struct RunningServer {
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
    telemetry: Arc<Telemetry>,
    similar_logs: Arc<SimilarLogService>,
    templates: Arc<TemplateService>,
    graph: Arc<GraphService>,
    anomalies: Arc<AnomalyService>,
    graph_queries: Arc<GraphQueryService>,
}

impl Server {
    /// Starts building a server from a configuration.
    pub fn builder(config: Config) -> ServerBuilder {
        ServerBuilder { config, storage: None, telemetry: None, dead_letters: None, retry: RetryPolicy::default() }
    }

    /// The server's metrics.
    pub fn telemetry(&self) -> Arc<Telemetry> {
        self.telemetry.clone()
    }

    /// Binds the HTTP and gRPC ports and starts serving.
    pub async fn start(self) -> anyhow::Result<RunningServer> {
        let Server { config, storage, telemetry, dead_letters } = self;
        let meter = telemetry.meter();
        let http_listener = tokio::net::TcpListener::bind(("0.0.0.0", config.http_port))
            .await
            .with_context(|| format!("binding HTTP_PORT {}", config.http_port))?;
        let grpc_listener = tokio::net::TcpListener::bind(("0.0.0.0", config.grpc_port))
            .await
            .with_context(|| format!("binding GRPC_PORT {}", config.grpc_port))?;
        let http_addr = http_listener.local_addr()?;
        let grpc_addr = grpc_listener.local_addr()?;

        let tls = match &config.tls {
            Some(source) => {
                if config.tls_auto_selfsigned && matches!(source, TlsSource::Files { .. }) {
                    tracing::info!(
                        "TLS_CERT_FILE and TLS_KEY_FILE are set: serving them, not a self-signed certificate"
                    );
                }
                let source = source.clone();
                let loaded = tokio::task::spawn_blocking(move || Tls::load(source, std::time::SystemTime::now()))
                    .await?
                    .context("loading the TLS certificate")?;
                let info = loaded.info();
                tracing::info!(sans = ?info.subject_alt_names, not_after = info.not_after_unix, "TLS on: HTTP and gRPC serve TLS only");
                Some(Arc::new(loaded))
            }
            None => {
                tracing::warn!(
                    "TLS is off: HTTP and gRPC serve plaintext (set TLS_CERT_FILE/TLS_KEY_FILE or TLS_AUTO_SELFSIGNED)"
                );
                None
            }
        };
        if config.api_key.is_empty() {
            tracing::warn!("API_KEY is empty: OTLP ingest and the query API accept unauthenticated requests");
        }
        let queue: Arc<dyn IngestQueue> = Arc::new(MemoryQueue::new(AdmissionPolicy {
            capacity: config.pipeline_queue_size,
            soft_threshold: SOFT_THRESHOLD,
            soft_drop: config.ingest_async,
        }));
        let tsdb = Arc::new(TsdbService::new(
            storage.clone(),
            Arc::new(SystemClock),
            tsdb_config(config.metric_max_cardinality, config.metric_max_cardinality_per_tenant),
            &meter,
        ));
        let similar_logs =
            Arc::new(SimilarLogService::new(config.vector_index_max_entries, Arc::new(SystemClock), &meter));
        let graph = Arc::new(GraphService::new(
            GraphSettings {
                queue_spans: config.graphrag_event_queue_size,
                workers: config.graphrag_worker_count,
                ..GraphSettings::default()
            },
            Arc::new(SystemClock),
            &meter,
        ));
        let anomalies = Arc::new(AnomalyService::new(
            graph.clone(),
            storage.clone(),
            Arc::new(SystemClock),
            AnomalySettings {
                every: config.graphrag_anomaly_interval,
                recovery: config.graphrag_anomaly_recovery,
                thresholds: Thresholds {
                    min_calls: config.graphrag_anomaly_min_calls,
                    error_rate: config.graphrag_anomaly_error_rate,
                    latency_factor: config.graphrag_anomaly_latency_factor,
                    throughput_drop: config.graphrag_anomaly_throughput_drop,
                    metric_z: config.graphrag_anomaly_metric_zscore,
                    ..Thresholds::default()
                },
                ..AnomalySettings::default()
            },
            &meter,
        ));
        let log_tail = Arc::new(LogTailService::new(MAX_LOG_TAILS, &meter));
        let mut observers: Vec<Arc<dyn CommitObserver>> = vec![tsdb.clone(), similar_logs.clone(), log_tail.clone()];
        if config.graphrag_enabled {
            observers.push(graph.clone());
        }
        let dead_letters = Arc::new(
            DeadLetterService::new(
                dead_letters,
                storage.clone(),
                Arc::new(SystemClock),
                ReplayPolicy { interval: config.dlq_replay_interval, max_retries: config.dlq_max_retries },
                &meter,
            )
            .with_observers(observers.clone()),
        );
        let templates =
            Arc::new(TemplateService::new(storage.clone(), Arc::new(SystemClock), DrainConfig::default(), &meter));
        // Before any log is mined, so ids and counts continue where the last run left them.
        let restore_started = std::time::Instant::now();
        match storage.tenants().await {
            Ok(tenants) => {
                match templates.restore(&tenants).await {
                    Ok(n) => tracing::info!(templates = n, took = ?restore_started.elapsed(), "log templates restored"),
                    Err(e) => tracing::error!(error = %e, "restoring log templates failed; mining starts afresh"),
                }
                let started = std::time::Instant::now();
                match similar_logs.rebuild(&*storage, &tenants).await {
                    Ok(n) => tracing::info!(records = n, took = ?started.elapsed(), "similar-log index rebuilt"),
                    Err(e) => tracing::error!(error = %e, "rebuilding the similar-log index failed; it starts empty"),
                }
                let started = std::time::Instant::now();
                match graph.rebuild(&*storage, &*storage, &*storage, &tenants).await {
                    Ok(r) => tracing::info!(
                        spans = r.spans,
                        error_logs = r.error_logs,
                        metric_points = r.metric_points,
                        took = ?started.elapsed(),
                        "service graph rebuilt"
                    ),
                    Err(e) => tracing::error!(error = %e, "rebuilding the service graph failed; it starts empty"),
                }
                match anomalies.restore(&tenants).await {
                    Ok(n) => tracing::info!(open = n, "open investigations restored"),
                    Err(e) => {
                        tracing::error!(error = %e, "restoring open investigations failed; anomalies open new ones")
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "listing tenants failed; log templates and similar logs start afresh")
            }
        }
        let pipeline = Pipeline::start_with(
            queue.clone(),
            storage.clone(),
            storage.backend(),
            &meter,
            PipelineSettings { workers: config.pipeline_workers, commit_items: config.pipeline_commit_items },
            PipelineStages { dead_letters: Some(dead_letters.clone()), templates: Some(templates.clone()), observers },
        );
        let ingest = Arc::new(IngestService::new(
            queue.clone(),
            IngestPolicy {
                services: ServiceFilter::new(&config.ingest_allowed_services, &config.ingest_excluded_services),
                severity: SeverityFilter { min: config.ingest_min_severity },
                sampling: SamplingPolicy {
                    rate: config.sampling_rate,
                    always_on_errors: config.sampling_always_on_errors,
                    latency_threshold_ns: config.latency_threshold().map(|d| d.as_nanos() as i64),
                    ..SamplingPolicy::default()
                },
                durable: !config.ingest_async,
            },
            &meter,
        ));
        let keys = Arc::new(
            KeyRing::new(&config.api_key, config.api_keys_file.clone(), &meter).map_err(|e| anyhow::anyhow!(e))?,
        );
        let auth: Arc<dyn Authenticator> = keys.clone();
        let clock = Arc::new(SystemClock);
        let otlp_metrics = Arc::new(OtlpMetrics::new(&meter));
        let receiver = Receiver {
            ingest,
            auth: auth.clone(),
            metrics: otlp_metrics.clone(),
            tenants: TenantPolicy {
                default_tenant: config.default_tenant.clone(),
                trust_resource_attribute: config.trust_resource_tenant,
            },
            now_ns: Arc::new(move || clock.now_ns()),
        };
        let queries = Arc::new(QueryService::over(storage.clone()).with_similar_logs(similar_logs.clone()));
        let retention = Arc::new(RetentionService::new(
            storage.clone(),
            Arc::new(SystemClock),
            &meter,
            RetentionSettings {
                policy: config.retention,
                batch_size: config.retention_batch_size,
                batch_sleep: config.retention_batch_sleep,
                lookahead_days: config.db_partition_lookahead_days,
            },
        ));
        let readiness = Arc::new(
            ReadinessService::new(storage.clone(), queue.clone())
                .with_dead_letters(dead_letters.clone())
                .with_retention(retention.clone())
                .with_graph(graph.clone()),
        );
        let admin = {
            let (templates, similar, graph) = (templates.clone(), similar_logs.clone(), graph.clone());
            Arc::new(
                crate::services::AdminService::new(
                    config.admin_api_key.clone(),
                    storage.clone(),
                    Arc::new(SystemClock),
                    config.retention_batch_size,
                    config.retention_batch_sleep,
                    &meter,
                )
                .forgetting(Arc::new(move |t| templates.forget(t)))
                .forgetting(Arc::new(move |t| similar.forget(t)))
                .forgetting(Arc::new(move |t| graph.forget(t))),
            )
        };
        let graph_queries = Arc::new(GraphQueryService::new(
            graph.clone(),
            anomalies.clone(),
            storage.clone(),
            templates.clone(),
            storage.clone(),
            Arc::new(SystemClock),
        ));
        let endpoint = http::app(HttpParts {
            otlp: OtlpHttp::new(receiver.clone(), HttpLimits::default()),
            api: QueryApi::new(queries.clone(), graph_queries.clone(), config.default_tenant.clone())
                .with_cursor_key(if config.cursor_secret.is_empty() {
                    otelcontext_ports::CursorKey::random()
                } else {
                    otelcontext_ports::CursorKey::from_secret(&config.cursor_secret)
                })
                .with_log_tail(log_tail.clone())
                .with_admin(admin)
                .with_export(Arc::new(crate::services::ExportService::new(
                    storage.clone(),
                    storage.clone(),
                    storage.clone(),
                    Arc::new(otelcontext_otlp::OtlpJson),
                )))
                .with_readiness(readiness.clone()),
            readiness,
            auth,
            telemetry: telemetry.clone(),
            otlp_metrics,
            rate_limit: crate::services::RateLimiter::new(config.api_rate_limit_rps).map(Arc::new),
            mcp: config.mcp_enabled.then(|| {
                let server = otelcontext_mcp::McpServer::new(
                    queries.clone(),
                    graph_queries.clone(),
                    otelcontext_mcp::McpSettings {
                        default_tenant: config.default_tenant.clone(),
                        max_concurrent: config.mcp_max_concurrent,
                        call_timeout: config.mcp_call_timeout,
                        max_result_bytes: config.mcp_max_result_bytes,
                        cache_ttl: config.mcp_cache_ttl,
                        cursor_key: if config.cursor_secret.is_empty() {
                            otelcontext_ports::CursorKey::random()
                        } else {
                            otelcontext_ports::CursorKey::from_secret(&config.cursor_secret)
                        },
                    },
                    &meter,
                );
                let (service, sessions) = otelcontext_mcp::http_service(server);
                http::McpParts {
                    path: config.mcp_path.clone(),
                    service,
                    sessions,
                    max_sessions: config.mcp_max_sessions,
                }
            }),
            trust_proxy_headers: config.trust_proxy_headers,
        });
        let grpc = OtlpGrpc::new(receiver).into_router(&GrpcLimits {
            max_recv_bytes: config.grpc_max_recv_mb * 1024 * 1024,
            max_concurrent_streams: config.grpc_max_concurrent_streams,
        });

        let (stop, stop_rx) = watch::channel(false);
        let tls_metrics = Arc::new(TlsMetrics::new(&meter));
        let acceptor: BoxAcceptor = match &tls {
            Some(t) => {
                let incoming =
                    accept_tls(http_listener, t.server_config(&[b"h2", b"http/1.1"]), tls_metrics.clone(), "http");
                PoemTlsAcceptor::new(incoming, http_addr).boxed()
            }
            None => poem::listener::TcpAcceptor::from_tokio(http_listener)?.boxed(),
        };
        let http_task = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            endpoint,
            wait_stop(stop_rx.clone()),
            Some(REQUEST_GRACE),
        ));
        let grpc_task = match &tls {
            Some(t) => {
                let incoming = accept_tls(grpc_listener, t.server_config(&[b"h2"]), tls_metrics.clone(), "grpc");
                let incoming =
                    tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(incoming), |c| {
                        Ok::<_, std::io::Error>(c)
                    });
                tokio::spawn(grpc.serve_with_incoming_shutdown(incoming, wait_stop(stop_rx.clone())))
            }
            None => tokio::spawn(grpc.serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(grpc_listener),
                wait_stop(stop_rx.clone()),
            )),
        };
        let reload_task = tls
            .clone()
            .map(|t| crate::tls::spawn_reloader(t, config.tls_reload_interval, tls_metrics, stop_rx.clone()));
        let keys_task = config
            .api_keys_file
            .is_some()
            .then(|| keys.spawn_reloader(config.api_keys_reload_interval, stop_rx.clone()));
        let health = DbHealthMetrics::new(&meter);
        let health_task = tokio::spawn(db_health_loop(storage.clone(), health, stop_rx.clone()));
        let retention_task = retention.spawn(stop_rx.clone());
        let replay_task = dead_letters.clone().spawn(stop_rx.clone());
        let template_task = templates.clone().spawn(stop_rx.clone());
        let running_templates = templates.clone();
        let tsdb_task = tsdb.clone().spawn(stop_rx.clone());
        let mut graph_tasks = Vec::new();
        if config.graphrag_enabled {
            graph_tasks = graph.clone().spawn(stop_rx.clone());
            graph_tasks.push(graph.clone().spawn_snapshots(storage.clone(), stop_rx.clone()));
            graph_tasks.push(anomalies.clone().spawn(stop_rx.clone()));
        }

        tracing::info!(%http_addr, %grpc_addr, driver = storage.backend(), "otelcontext listening");
        let stop_seen = wait_stop(stop_rx.clone());
        let task = tokio::spawn(async move {
            stop_seen.await;
            // Live tails end now, or their connections would hold the HTTP shutdown to its grace.
            log_tail.close();
            let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
            let intake_deadline = deadline - SPILL_RESERVE;
            let http = finish(http_task, intake_deadline, "HTTP").await;
            let grpc = finish(grpc_task, intake_deadline, "gRPC").await;
            // Intake has stopped: commit whatever was accepted; what cannot be committed within
            // the grace goes to the dead-letter queue. Then close the database.
            queue.close();
            if !pipeline.drain_until(intake_deadline).await {
                tracing::warn!("records not stored within the shutdown grace were moved to the dead-letter queue");
            }
            // A replay in progress is repeated at the next start (idempotent writes); stopping it
            // first means nothing commits after the final flushes below.
            replay_task.abort();
            let _ = replay_task.await;
            template_task.abort();
            let _ = template_task.await;
            if let Err(e) = templates.flush().await {
                tracing::error!(error = %e, "writing log templates at shutdown failed; their counts restart from the last flush");
            }
            let _ = tsdb_task.await;
            tsdb.finish().await;
            for t in graph_tasks {
                let _ = t.await;
            }
            let _ = health_task.await;
            // A purge may be mid-way through a table; each batch is its own transaction, so
            // stopping between (or inside) batches loses nothing.
            retention_task.abort();
            for t in [reload_task, keys_task].into_iter().flatten() {
                t.abort();
            }
            let _ = retention_task.await;
            storage.close().await;
            tracing::info!("otelcontext stopped");
            http?;
            grpc?;
            Ok(())
        });
        Ok(RunningServer {
            http_addr,
            grpc_addr,
            stop,
            task,
            telemetry,
            similar_logs,
            templates: running_templates,
            graph,
            anomalies,
            graph_queries,
        })
    }
}

/// Waits for a listener task to finish its graceful shutdown, aborting it at `deadline`.
async fn finish<E>(
    mut task: JoinHandle<Result<(), E>>,
    deadline: tokio::time::Instant,
    what: &'static str,
) -> anyhow::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(joined) => {
            joined.with_context(|| format!("{what} server task"))?.with_context(|| format!("{what} server"))?;
        }
        Err(_) => {
            tracing::warn!("{what} requests still running at the end of the shutdown grace were cut off");
            task.abort();
        }
    }
    Ok(())
}

/// Resolves once `true` is sent (or the sender is gone).
async fn wait_stop(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// The database health gauges.
struct DbHealthMetrics {
    up: Gauge<i64>,
    pool_open: Gauge<i64>,
    pool_idle: Gauge<i64>,
    pool_in_use: Gauge<i64>,
    pool_max_open: Gauge<i64>,
    size_bytes: Gauge<i64>,
}

impl DbHealthMetrics {
    fn new(meter: &Meter) -> Self {
        Self {
            up: gauge(meter, "otelcontext_db_up", "1 when the database answers a ping, 0 otherwise."),
            pool_open: gauge(meter, "otelcontext_db_pool_open_connections", "Open connections of the storage pool."),
            pool_idle: gauge(meter, "otelcontext_db_pool_idle", "Idle connections of the storage pool."),
            pool_in_use: gauge(meter, "otelcontext_db_pool_in_use", "Connections of the storage pool in use."),
            pool_max_open: gauge(
                meter,
                "otelcontext_db_pool_max_open",
                "Most connections the storage pool opens (DB_MAX_OPEN_CONNS; the reader pool on SQLite).",
            ),
            size_bytes: gauge(
                meter,
                "otelcontext_hot_db_size_bytes",
                "Bytes the database takes on disk (SQLite file and WAL, or the Postgres database).",
            ),
        }
    }
}

/// Keeps `otelcontext_db_up`, the pool gauges and the database size current (every 5 s, 2 s
/// ping timeout).
async fn db_health_loop(storage: Arc<dyn Storage>, metrics: DbHealthMetrics, mut stop: watch::Receiver<bool>) {
    let driver = [KeyValue::new("driver", storage.backend())];
    loop {
        let up = matches!(tokio::time::timeout(Duration::from_secs(2), storage.ping()).await, Ok(Ok(())));
        metrics.up.record(i64::from(up), &driver);
        if let Some(p) = storage.pool_stats() {
            metrics.pool_open.record(i64::from(p.open), &[]);
            metrics.pool_idle.record(i64::from(p.idle), &[]);
            metrics.pool_in_use.record(i64::from(p.in_use), &[]);
            metrics.pool_max_open.record(i64::from(p.max_open), &[]);
        }
        if up
            && let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(2), storage.status()).await
            && let Some(bytes) = status.size_bytes
        {
            metrics.size_bytes.record(i64::try_from(bytes).unwrap_or(i64::MAX), &[]);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

impl RunningServer {
    /// Address of the HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Address of the gRPC listener.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The server's metrics.
    pub fn telemetry(&self) -> Arc<Telemetry> {
        self.telemetry.clone()
    }

    /// The similar-log index (read by the query API and MCP).
    pub fn similar_logs(&self) -> Arc<SimilarLogService> {
        self.similar_logs.clone()
    }

    /// The log template miner (its templates are stored every few seconds; `flush` stores them now).
    pub fn templates(&self) -> Arc<TemplateService> {
        self.templates.clone()
    }

    /// The anomaly loop and its investigations.
    pub fn anomalies(&self) -> Arc<AnomalyService> {
        self.anomalies.clone()
    }

    /// The live service graph.
    pub fn graph(&self) -> Arc<GraphService> {
        self.graph.clone()
    }

    /// The questions asked of the service graph (error chains, impact, paths, signals, …).
    pub fn graph_queries(&self) -> Arc<GraphQueryService> {
        self.graph_queries.clone()
    }

    /// A handle that triggers graceful shutdown.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }

    /// Stops accepting, finishes in-flight requests, drains the pipeline, closes the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("server task")?
    }

    /// Runs until a stopper fires, then shuts down like [`RunningServer::shutdown`].
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task")?
    }
}
