//! The composition root: builds adapters and services from the configuration, binds the
//! listeners, and runs until shutdown (stop intake, drain the pipeline, close the database).

use crate::config::Config;
use crate::http::{self, HttpParts};
use crate::services::{
    IngestPolicy, IngestService, Pipeline, PipelineSettings, QueryService, ReadinessService, RetentionService,
    RetentionSettings, StaticKeyAuthenticator, SystemClock,
};
use crate::storage::{self, RetryPolicy};
use anyhow::Context;
use otelcontext_api::QueryApi;
use otelcontext_domain::admission::{AdmissionPolicy, SOFT_THRESHOLD};
use otelcontext_domain::filter::{ServiceFilter, SeverityFilter};
use otelcontext_domain::sampling::SamplingPolicy;
use otelcontext_memory::MemoryQueue;
use otelcontext_otlp::{GrpcLimits, HttpLimits, OtlpGrpc, OtlpHttp, Receiver, TenantPolicy};
use otelcontext_ports::{Authenticator, Clock, IngestQueue, Storage};
use otelcontext_telemetry::Metrics;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long in-flight requests may take to finish at shutdown.
pub const REQUEST_GRACE: Duration = Duration::from_secs(10);
/// How long the pipeline may take to commit what is queued at shutdown.
pub const DRAIN_GRACE: Duration = Duration::from_secs(15);

/// Builds a [`Server`]; lets a caller plug in its own storage adapter.
pub struct ServerBuilder {
    config: Config,
    storage: Option<Arc<dyn Storage>>,
    metrics: Option<Arc<Metrics>>,
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

    /// Uses this metrics registry (to read metrics from a test).
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Opens the storage (running migrations as configured) and assembles the services.
    pub async fn build(self) -> anyhow::Result<Server> {
        let config = self.config;
        let metrics = self.metrics.unwrap_or_else(|| Arc::new(Metrics::new()));
        let adapter: Arc<dyn Storage> = match self.storage {
            Some(s) => s,
            None => storage::open_adapter(&config).await?,
        };
        let storage = storage::decorate(adapter, metrics.clone(), self.retry);
        Ok(Server { metrics, config, storage })
    }
}

/// A configured server, not yet listening.
pub struct Server {
    config: Config,
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
}

/// A listening server.
pub struct RunningServer {
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
    metrics: Arc<Metrics>,
}

impl Server {
    /// Starts building a server from a configuration.
    pub fn builder(config: Config) -> ServerBuilder {
        ServerBuilder { config, storage: None, metrics: None, retry: RetryPolicy::default() }
    }

    /// The metrics registry.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Binds the HTTP and gRPC ports and starts serving.
    pub async fn start(self) -> anyhow::Result<RunningServer> {
        let Server { config, storage, metrics } = self;
        let http_listener = tokio::net::TcpListener::bind(("0.0.0.0", config.http_port))
            .await
            .with_context(|| format!("binding HTTP_PORT {}", config.http_port))?;
        let grpc_listener = tokio::net::TcpListener::bind(("0.0.0.0", config.grpc_port))
            .await
            .with_context(|| format!("binding GRPC_PORT {}", config.grpc_port))?;
        let http_addr = http_listener.local_addr()?;
        let grpc_addr = grpc_listener.local_addr()?;

        if config.api_key.is_empty() {
            tracing::warn!("API_KEY is empty: OTLP ingest and the query API accept unauthenticated requests");
        }
        let queue: Arc<dyn IngestQueue> = Arc::new(MemoryQueue::new(AdmissionPolicy {
            capacity: config.pipeline_queue_size,
            soft_threshold: SOFT_THRESHOLD,
            soft_drop: config.ingest_async,
        }));
        let pipeline = Pipeline::start(
            queue.clone(),
            storage.clone(),
            storage.backend(),
            metrics.clone(),
            PipelineSettings { workers: config.pipeline_workers, commit_items: config.pipeline_commit_items },
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
            metrics.clone(),
        ));
        let auth: Arc<dyn Authenticator> = Arc::new(StaticKeyAuthenticator::new(&config.api_key));
        let clock = Arc::new(SystemClock);
        let receiver = Receiver {
            ingest,
            auth: auth.clone(),
            metrics: metrics.clone(),
            tenants: TenantPolicy {
                default_tenant: config.default_tenant.clone(),
                trust_resource_attribute: config.trust_resource_tenant,
            },
            now_ns: Arc::new(move || clock.now_ns()),
        };
        let queries = Arc::new(QueryService::over(storage.clone()));
        let readiness = Arc::new(ReadinessService::new(storage.clone(), queue.clone()));
        let endpoint = http::app(HttpParts {
            otlp: OtlpHttp::new(receiver.clone(), HttpLimits::default()),
            api: QueryApi::new(queries, config.default_tenant.clone()),
            readiness,
            auth,
            metrics: metrics.clone(),
        });
        let grpc = OtlpGrpc::new(receiver).into_router(&GrpcLimits {
            max_recv_bytes: config.grpc_max_recv_mb * 1024 * 1024,
            max_concurrent_streams: config.grpc_max_concurrent_streams,
        });

        let (stop, stop_rx) = watch::channel(false);
        let wait_stop = |mut rx: watch::Receiver<bool>| async move {
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        let acceptor = poem::listener::TcpAcceptor::from_tokio(http_listener)?;
        let http_task = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            endpoint,
            wait_stop(stop_rx.clone()),
            Some(REQUEST_GRACE),
        ));
        let grpc_task = tokio::spawn(grpc.serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(grpc_listener),
            wait_stop(stop_rx.clone()),
        ));
        let health_task = tokio::spawn(db_health_loop(storage.clone(), metrics.clone(), stop_rx.clone()));
        let retention = Arc::new(RetentionService::new(
            storage.clone(),
            Arc::new(SystemClock),
            metrics.clone(),
            RetentionSettings {
                policy: config.retention,
                batch_size: config.retention_batch_size,
                batch_sleep: config.retention_batch_sleep,
                lookahead_days: config.db_partition_lookahead_days,
            },
        ));
        let retention_task = retention.spawn(stop_rx.clone());

        tracing::info!(%http_addr, %grpc_addr, driver = storage.backend(), "otelcontext listening");
        let task = tokio::spawn(async move {
            let http = http_task.await;
            let grpc = grpc_task.await;
            // Intake has stopped: commit whatever was accepted, then close the database.
            queue.close();
            if tokio::time::timeout(DRAIN_GRACE, pipeline.drain()).await.is_err() {
                let left: usize = otelcontext_ports::Signal::ALL.iter().map(|s| queue.depth(*s)).sum();
                tracing::error!(
                    queued = left,
                    "pipeline did not drain within {DRAIN_GRACE:?}; queued records are lost"
                );
            }
            let _ = health_task.await;
            // A purge may be mid-way through a table; each batch is its own transaction, so
            // stopping between (or inside) batches loses nothing.
            retention_task.abort();
            let _ = retention_task.await;
            storage.close().await;
            tracing::info!("otelcontext stopped");
            http.context("HTTP server task")?.context("HTTP server")?;
            grpc.context("gRPC server task")?.context("gRPC server")?;
            Ok(())
        });
        Ok(RunningServer { http_addr, grpc_addr, stop, task, metrics })
    }
}

/// Keeps `otelcontext_db_up`, the pool gauges and the database size current (every 5 s, 2 s
/// ping timeout).
async fn db_health_loop(storage: Arc<dyn Storage>, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    let gauge = metrics.db_up.with_label_values(&[storage.backend()]);
    loop {
        let up = matches!(tokio::time::timeout(Duration::from_secs(2), storage.ping()).await, Ok(Ok(())));
        gauge.set(i64::from(up));
        if let Some(p) = storage.pool_stats() {
            metrics.db_pool_open.set(i64::from(p.open));
            metrics.db_pool_idle.set(i64::from(p.idle));
            metrics.db_pool_in_use.set(i64::from(p.in_use));
            metrics.db_pool_max_open.set(i64::from(p.max_open));
        }
        if up
            && let Ok(Ok(status)) = tokio::time::timeout(Duration::from_secs(2), storage.status()).await
            && let Some(bytes) = status.size_bytes
        {
            metrics.db_size_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
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

    /// The metrics registry.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
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
