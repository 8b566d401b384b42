//! TLS on the listeners: connections are accepted and their handshakes run in tasks of their own
//! (bounded by [`HANDSHAKE_TIMEOUT`], so a client that never finishes one holds nothing up), and
//! the finished streams are handed to poem (HTTP) or tonic (gRPC). The certificate comes from
//! `otelcontext_tls`' reloading resolver; a task checks every `TLS_RELOAD_INTERVAL` whether it
//! changed.

use otelcontext_telemetry::{Counter, Gauge, KeyValue, Meter, counter, gauge};
use otelcontext_tls::Tls;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest a client may take to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes finished but not yet taken by the server.
const BACKLOG: usize = 256;

/// The TLS metrics.
pub struct TlsMetrics {
    expiry: Gauge<i64>,
    reloads: Counter<u64>,
    handshake_failures: Counter<u64>,
}

impl TlsMetrics {
    /// Registers the instruments.
    pub fn new(meter: &Meter) -> Self {
        let m = Self {
            expiry: gauge(
                meter,
                "otelcontext_tls_certificate_expiry_timestamp_seconds",
                "Unix seconds at which the served TLS certificate expires.",
            ),
            reloads: counter(
                meter,
                "otelcontext_tls_reloads_total",
                "Certificate reloads without a restart, by result (ok, error: the previous certificate stays).",
            ),
            handshake_failures: counter(
                meter,
                "otelcontext_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out, by listener.",
            ),
        };
        for result in ["ok", "error"] {
            m.reloads.add(0, &[KeyValue::new("result", result)]);
        }
        m
    }
}

/// A TLS connection, as both servers take it.
pub struct TlsConn {
    stream: TlsStream<TcpStream>,
    remote: SocketAddr,
    local: SocketAddr,
}

impl AsyncRead for TlsConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo { local_addr: Some(self.local), remote_addr: Some(self.remote) }
    }
}

/// Accepts TCP connections on `listener` and completes their handshakes concurrently; finished
/// connections arrive on the returned channel. Stops when the receiver is dropped.
pub fn accept_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    metrics: Arc<TlsMetrics>,
    name: &'static str,
) -> mpsc::Receiver<TlsConn> {
    let (tx, rx) = mpsc::channel(BACKLOG);
    let acceptor = TlsAcceptor::from(config);
    let local = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => return,
            };
            let (tcp, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(listener = name, error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx, metrics) = (acceptor.clone(), tx.clone(), metrics.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(TlsConn { stream, remote, local }).await;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(listener = name, %remote, error = %e, "TLS handshake failed");
                        metrics.handshake_failures.add(1, &[KeyValue::new("listener", name)]);
                    }
                    Err(_) => {
                        tracing::debug!(listener = name, %remote, "TLS handshake timed out");
                        metrics.handshake_failures.add(1, &[KeyValue::new("listener", name)]);
                    }
                }
            });
        }
    });
    rx
}

/// poem's side of [`accept_tls`].
pub struct PoemTlsAcceptor {
    incoming: mpsc::Receiver<TlsConn>,
    local: SocketAddr,
}

impl PoemTlsAcceptor {
    /// Serves the connections of `incoming`, accepted on `local`.
    pub fn new(incoming: mpsc::Receiver<TlsConn>, local: SocketAddr) -> Self {
        Self { incoming, local }
    }
}

impl poem::listener::Acceptor for PoemTlsAcceptor {
    type Io = TlsConn;

    fn local_addr(&self) -> Vec<poem::web::LocalAddr> {
        vec![poem::web::LocalAddr(self.local.into())]
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(Self::Io, poem::web::LocalAddr, poem::web::RemoteAddr, poem::http::uri::Scheme)> {
        match self.incoming.recv().await {
            Some(conn) => {
                let (local, remote) = (conn.local, conn.remote);
                Ok((
                    conn,
                    poem::web::LocalAddr(local.into()),
                    poem::web::RemoteAddr(remote.into()),
                    poem::http::uri::Scheme::HTTPS,
                ))
            }
            None => Err(io::Error::new(io::ErrorKind::BrokenPipe, "TLS listener stopped")),
        }
    }
}

/// Checks the certificate every `interval` and serves a new one when it changed; publishes the
/// expiry. Stops when `stop` fires.
pub fn spawn_reloader(
    tls: Arc<Tls>,
    interval: Duration,
    metrics: Arc<TlsMetrics>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    metrics.expiry.record(tls.info().not_after_unix, &[]);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
            let checked = {
                let tls = tls.clone();
                tokio::task::spawn_blocking(move || tls.check_reload(SystemTime::now())).await
            };
            match checked {
                Ok(Ok(true)) => {
                    let info = tls.info();
                    tracing::info!(sans = ?info.subject_alt_names, not_after = info.not_after_unix, "serving a new TLS certificate");
                    metrics.reloads.add(1, &[KeyValue::new("result", "ok")]);
                    metrics.expiry.record(info.not_after_unix, &[]);
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot reload the TLS certificate; still serving the previous one");
                    metrics.reloads.add(1, &[KeyValue::new("result", "error")]);
                }
                Err(e) => tracing::error!(error = %e, "TLS reload task failed"),
            }
        }
    })
}
