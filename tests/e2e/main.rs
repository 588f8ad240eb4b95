//! End-to-end tests: the real binary, real git, real files, a real registry, in a sealed environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod atomicity;
mod bad_input;
mod cli_model;
mod cli_upstream;
mod cli_verify;
mod edits;
mod model;
mod mr;
mod outputs;
mod promote;
mod proptest_edit;
mod proptest_input;
mod registry;
mod upstream;
mod verify;
