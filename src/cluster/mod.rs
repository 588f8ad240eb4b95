//! Where the integrations run, and whether the cluster runs what the checkout says: the model of
//! namespaces, integrations and shards, and the check of the live objects against it.

pub mod model;
pub mod verify;
