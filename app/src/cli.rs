//! The `otelcontext` command line.

use crate::config::{Config, EnvSource, LogFormat};
use crate::self_telemetry::SelfTelemetry;
use crate::server::Server;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "otelcontext",
    version,
    about = "A single-binary OpenTelemetry backend: OTLP traces, logs and metrics in, queries out.",
    long_about = "A single-binary OpenTelemetry backend. Receives OTLP over gRPC (GRPC_PORT, 4317) and HTTP \
                  (HTTP_PORT, 8080), stores per tenant in SQLite, and serves the query API under /api.\n\n\
                  Configuration comes from environment variables, with .env in the working directory \
                  loaded underneath them; see .env.example for every variable."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the effective configuration (secrets redacted); exit 1 if it is invalid.
    CheckConfig,
    /// Apply database migrations and exit.
    Migrate,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let source = EnvSource::process_with_dotenv(std::path::Path::new(".env"));
    let config = Config::from_source(&source);
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => match config {
            Ok(c) => {
                print!("{}", c.render_effective(&source));
                println!("# configuration is valid");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Migrate => with_runtime(config, |c| async move {
            let version = crate::storage::migrate(&c).await?;
            println!("database schema is at version {version}");
            Ok(())
        }),
        Command::Serve => with_runtime(config, |c| async move {
            let own = SelfTelemetry::from_config(&c)?;
            init_logging(&c, &own);
            if own.exporting() {
                tracing::info!(endpoint = ?c.otel_endpoint, "exporting the server's own traces and metrics");
            }
            // Handlers first: a SIGTERM as soon as the server says it listens drains it, rather
            // than killing the process by the signal's default action.
            let signals = Signals::install()?;
            let running = Server::builder(c).telemetry(own.telemetry.clone()).build().await?.start().await?;
            let stopper = running.stopper();
            tokio::spawn(async move {
                signals.wait().await;
                tracing::info!("shutdown requested");
                let _ = stopper.send(true);
            });
            let result = running.wait().await;
            own.shutdown();
            result
        }),
    }
}

fn with_runtime<F, Fut>(config: Result<Config, crate::config::ConfigError>, f: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(f(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config, own: &SelfTelemetry) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},h2=warn,hyper=warn,tower=warn,sqlx=warn",
        level = config.log_level
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi);
    let fmt = match config.log_format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    use tracing_subscriber::Layer;
    let _ = tracing_subscriber::registry().with(fmt.with_filter(filter)).with(own.tracing_layer()).try_init();
}

/// SIGTERM and SIGINT, registered when installed (so none arriving later is missed).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self { term: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
