//! Where the integrations run, and whether the cluster runs what the checkout says.
//!
//! - [`model`]: namespaces, integrations, their shards and the objects they run (with
//!   [`sharding`] and [`loader`]; the Cloudflare DNS zones in `zones`).
//! - [`pin`]: shard overrides written into an integration's file (and removed).
//! - [`verify`]: the desired objects against the live ones, one verdict each.
//! - [`access`]: the kubeconfig context each cluster is reached with.
//! - [`kube`]: the live objects, from the Kubernetes API or from `oc get -o json` output.

pub mod access;
pub mod kube;
pub mod loader;
pub mod model;
pub mod pin;
pub mod sharding;
pub mod verify;
mod zones;
