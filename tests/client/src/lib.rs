//! The query API client, generated at build time from `openapi/openapi.yaml` by progenitor.
//! `Client::new("http://host:8080/api")`; every operation is a method named after its
//! `operationId` in snake case, with `X-Tenant-ID` as its last argument.

#![allow(clippy::all, clippy::pedantic, missing_docs, unused_imports, dead_code, elided_lifetimes_in_paths)]

include!(concat!(env!("OUT_DIR"), "/client.rs"));
