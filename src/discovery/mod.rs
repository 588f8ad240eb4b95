//! Discovery: from a checkout to the locations of a component.
//!
//! - [`walk`]: the parallel walk of `data/` and `resources/`, which keeps the YAML files that
//!   mention a needle (a component's repository, image or key), with links resolved inside the
//!   checkout; `folder` lists one folder and follows its links, [`read`] reads one file, [`cache`] remembers by stamp what need not be read again.
//! - [`locations`]: the rules that find a component's locations in those files.
//! - [`session`]: one walk for a command, shared by the components it discovers.

pub mod cache;
mod copies;
mod folder;
pub mod locations;
mod read;
pub mod refs;
mod rules;
pub mod session;
pub mod walk;

pub use locations::{Discovery, Kind, Location};
pub use session::Session;
pub use walk::{scan, scan_with, Needles, ScanOutcome, ScannedFile, MAX_YAML_BYTES};
