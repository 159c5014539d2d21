//! Cluster audit and PodSecurityPolicy → Pod Security Standards migration, over snapshots read
//! as streams, with reports people can read and machines can ingest.

pub mod audit;
pub mod check;
pub mod constraints;
pub mod exceptions;
pub mod html;
mod json_stream;
pub mod migrate;
pub mod network;
pub mod reports;
pub mod snapshot;
mod yaml_stream;

pub use audit::{AuditOptions, AuditReport, Auditor, WhatIf};
pub use migrate::{plural, MigrationReport, Migrator};
pub use snapshot::{read_json, read_objects, read_yaml, Decoded, SnapshotError, SnapshotObject};
