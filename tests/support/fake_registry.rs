//! A scripted server shaped like a registry (and its token endpoint) for what a real registry
//! cannot easily do in a test: Bearer tokens, 429, 5xx. The handler sees each request and the
//! server's base URL and returns the answer; requests are recorded for assertions.

pub use super::http_server::{serve, Response as FakeResponse, Server as FakeServer};
