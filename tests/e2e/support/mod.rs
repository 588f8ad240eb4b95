//! Test helpers shared by the end-to-end test modules.
// Helpers are shared: a module may use only some of them.
#![allow(dead_code)]

pub mod fake_registry;
pub mod registry_server;
