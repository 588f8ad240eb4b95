//! qr-promote: find every place of an app-interface checkout that pins a component's version,
//! and move them all to one upstream commit, safely.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod checkout;
pub mod error;
pub mod registry;
pub mod scan;
pub mod util;

pub use error::{Error, Result};
