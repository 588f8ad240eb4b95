//! Tests of the library through its public API: the model and pins, the upstream cache, the
//! registry client against a real registry, the push and GitLab clients, verify, and property
//! tests of the parsers and edits. Real git, real files; the binary's tests are `tests/e2e/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod ancestry;
mod ci_examples;
mod install;
mod model;
mod mr;
mod proptest_edit;
mod proptest_input;
mod registry;
mod sharding_upstream;
mod upstream;
mod verify;
