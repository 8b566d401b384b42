//! otelcontext: a single-binary OpenTelemetry backend.
//!
//! This crate is the composition root: configuration ([`config`]), the use-case services
//! ([`services`]), the HTTP app ([`http`]), the server lifecycle ([`server`]) and the command
//! line ([`cli`]). Start one in-process with
//! `Server::builder(config).storage(my_storage).build().await?.start().await?`.

pub mod cli;
pub mod config;
pub mod http;
pub mod self_telemetry;
pub mod server;
pub mod services;
pub mod storage;
pub mod tls;

pub use config::Config;
pub use server::{RunningServer, Server, ServerBuilder};
