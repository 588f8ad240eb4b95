//! qr-promote: find every place of an app-interface checkout that pins a component's version,
//! and move them all to one upstream commit, safely.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod checkout;
pub mod cli;
pub mod cluster;
pub mod discovery;
pub mod error;
pub mod http;
pub mod mr;
pub mod promote;
pub mod redact;
pub mod registry;
pub mod transaction;
pub mod upstream;
pub mod util;
pub mod yaml;

pub use error::{Error, Result};
