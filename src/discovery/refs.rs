//! `$ref` resolution for the context of a location: a referenced file's `name`, `cluster` and
//! `environment`, each file read once, never through a link that leaves the checkout.

use std::collections::HashMap;

use crate::yaml;

/// Resolves `$ref` paths (relative to `data/`) to what a location's context needs of the file:
/// its `name` and the `$ref`s of its `cluster` and `environment`. Each file is read once, and
/// the cache is shared by the threads of discovery and of the plan.
#[derive(Debug, Default)]
pub struct Refs {
    cache: std::sync::Mutex<HashMap<String, (Option<RefInfo>, bool)>>,
    root: std::path::PathBuf,
    /// How files are named (made when first needed).
    names: std::sync::OnceLock<Option<crate::checkout::RealNames>>,
}

/// What [`Refs`] keeps of a file's first document.
type RefInfo = yaml::TopFields;

impl Refs {
    pub fn new(root: &std::path::Path) -> Refs {
        Refs {
            cache: std::sync::Mutex::new(HashMap::new()),
            root: std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
            names: std::sync::OnceLock::new(),
        }
    }

    /// The path that names the file `r` names (under `data/`): its real path (see
    /// [`crate::checkout::RealNames`]), as the walk names it; `data/<r>` when it cannot be told.
    pub fn path_of(&self, r: &str) -> String {
        let rel = format!("data/{}", r.trim_start_matches('/'));
        let names = self
            .names
            .get_or_init(|| crate::checkout::RealNames::new(&self.root).ok());
        let real = crate::checkout::real_path_inside(&self.root, &rel).ok();
        match (names, real) {
            (Some(n), Some(real)) => match n.name(&real) {
                Some((name, true)) => name,
                _ => rel,
            },
            _ => rel,
        }
    }

    /// The file that `r` names, if it exists and reads as YAML; with `refs`, also its
    /// `cluster` and `environment` references.
    fn get(&self, r: &str, refs: bool) -> Option<RefInfo> {
        let key = r.trim_start_matches('/').to_string();
        let cached = self.cache.lock().ok().and_then(|c| c.get(&key).cloned());
        if let Some((info, with_refs)) = cached {
            if with_refs || !refs {
                return info;
            }
        }
        // Read outside the lock, so that threads do not wait for each other's files.
        let info = self
            .file(&key)
            .and_then(|text| yaml::top_fields(&text, refs));
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, (info.clone(), refs));
        }
        info
    }

    /// The text of the file that `r` names (under `data/`), never through a link out of the
    /// checkout.
    pub fn file(&self, r: &str) -> Option<String> {
        let rel = format!("data/{}", r.trim_start_matches('/'));
        crate::checkout::real_path_inside(&self.root, &rel)
            .ok()
            .and_then(|p| std::fs::read_to_string(p).ok())
    }

    /// Namespace name, cluster name and environment name of a namespace `$ref`.
    pub fn namespace(&self, r: &str) -> (Option<String>, Option<String>, Option<String>) {
        let Some(ns) = self.get(r, true) else {
            return (None, None, None);
        };
        let name_of = |x: Option<String>| x.and_then(|x| self.get(&x, false)).and_then(|i| i.name);
        (ns.name, name_of(ns.cluster), name_of(ns.environment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ref_is_read_inside_the_checkout_only() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data/ns")).unwrap();
        std::fs::write(dir.path().join("data/ns/in.yml"), "name: inside\n").unwrap();
        std::fs::write(outside.path().join("out.yml"), "name: outside\n").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("out.yml"),
            dir.path().join("data/ns/out.yml"),
        )
        .unwrap();
        let refs = Refs::new(dir.path());
        assert_eq!(refs.namespace("/ns/in.yml").0.as_deref(), Some("inside"));
        assert_eq!(refs.namespace("/ns/out.yml").0, None);
    }
}
