//! The routes, one module per tag; each group shares the [`crate::QueryApi`] context.

pub mod admin;
pub mod export;
pub mod graph;
pub mod logs;
pub mod metadata;
pub mod metrics;
pub mod patterns;
pub mod stats;
pub mod traces;
