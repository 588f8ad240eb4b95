#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests: one binary, one module per area.

mod registry;
mod support;
