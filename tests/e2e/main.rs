//! End-to-end tests of the binary: the real `qr-promote`, real git, real files, a real registry,
//! in a sealed environment; the tests of the library alone are `tests/library/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod atomicity;
mod bad_input;
mod bot;
mod cli_model;
mod cli_upstream;
mod cli_verify;
mod clusters;
mod day;
mod docs;
mod edits;
mod eras;
mod forms;
mod habits;
mod history;
mod hostile_state;
mod offline;
mod outputs;
mod people;
mod pr_check;
mod promote;
mod revisions;
mod stage;
mod stage_gate;
mod verbose;
mod walk_paths;
