//! The pin checks of the procedure: every override run pulled its pinned image and ran only its
//! shards, the normal run left them out, and the integrations-manager's plan applies each
//! pinned shard's object and, for a promotion, every object whose image moves.

use serde::Serialize;

use super::reports::Reports;
use super::{split_override, Versions};
use crate::cluster::model::Model;
use crate::util::same_commit;

/// The run of the integrations-manager's own plan.
pub const MANAGER_RUN: &str = "integrations-manager";

/// How many names a failing check lists.
const LISTED: usize = 5;

/// One check and whether it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinCheck {
    /// The run it is about.
    pub run: String,
    /// What is checked, in a few words.
    pub check: String,
    pub holds: bool,
    /// What the report shows.
    pub detail: String,
}

fn listed(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        s.push_str(&format!(" and {} more", names.len() - LISTED));
    }
    s
}

/// Every pin check of this checkout's pinned shards against the reports.
pub fn check(model: &Model, versions: &Versions, reports: &Reports) -> Vec<PinCheck> {
    let mut out = Vec::new();
    let runs = model.pr_check(None, &versions.new);
    let manager = reports.runs.get(MANAGER_RUN);
    for r in &runs {
        let Some(run) = model
            .integrations
            .iter()
            .find(|i| i.name == r.integration)
            .and_then(|i| i.check_run.clone())
        else {
            continue;
        };
        if r.shards.is_empty() {
            continue;
        }
        let (_, pin) = split_override(&r.name);
        let Some(pin) = pin else {
            // The normal run: it must leave every pinned shard out.
            let report = reports.runs.get(&run);
            let (holds, detail) = match report {
                None => (false, "no report".to_string()),
                Some(rep) => {
                    let on: Vec<String> = rep
                        .parsed
                        .counts
                        .iter()
                        .filter(|a| r.shards.contains(&a.target))
                        .map(|a| format!("{} on {}", a.kind, a.target))
                        .collect();
                    if on.is_empty() {
                        (true, format!("left out {}", r.shards.join(", ")))
                    } else {
                        (false, format!("acted on pinned shards: {}", listed(&on)))
                    }
                }
            };
            out.push(PinCheck {
                run: run.clone(),
                check: "leaves the pinned shards out".into(),
                holds,
                detail,
            });
            continue;
        };
        let name = format!("{run}_override_{pin}");
        let image = format!("{}:{pin}", model.image);
        match reports.runs.get(&name) {
            None => out.push(PinCheck {
                run: name.clone(),
                check: format!("pulled {image}"),
                holds: false,
                detail: "no report".into(),
            }),
            Some(rep) => {
                let tags: Vec<&str> = rep
                    .parsed
                    .pulled
                    .iter()
                    .filter_map(|i| i.rsplit_once(':').map(|(_, t)| t))
                    .collect();
                let (holds, detail) = if tags.iter().any(|t| same_commit(t, pin)) {
                    (true, format!("its pull lines name {image}"))
                } else if tags.is_empty() {
                    (false, "no pull line names the image it ran".to_string())
                } else {
                    let other: Vec<String> = rep.parsed.pulled.clone();
                    (false, format!("pulled {} instead", listed(&other)))
                };
                out.push(PinCheck {
                    run: name.clone(),
                    check: format!("pulled {image}"),
                    holds,
                    detail,
                });
                let outside: Vec<String> = rep
                    .parsed
                    .targets()
                    .map(str::to_string)
                    .chain(rep.parsed.shards.iter().cloned())
                    .filter(|t| !r.shards.contains(t))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                out.push(PinCheck {
                    run: name.clone(),
                    check: format!("ran only {}", r.shards.join(", ")),
                    holds: outside.is_empty(),
                    detail: if outside.is_empty() {
                        format!(
                            "{}, none outside its shards",
                            crate::util::count(rep.parsed.actions, "action", "actions")
                        )
                    } else {
                        format!("acted on {}", listed(&outside))
                    },
                });
            }
        }
        // The manager applies the pinned shards' objects.
        let objects: Vec<_> = model
            .deployments(Some(&r.integration), None)
            .into_iter()
            .filter(|d| d.pin_ref.as_deref().is_some_and(|p| same_commit(p, pin)))
            .collect();
        for d in objects {
            let (holds, detail) = match manager {
                None => (false, "no integrations-manager report".to_string()),
                Some(m) => {
                    if applies(m, &d) {
                        (
                            true,
                            format!("['apply', …, '{}', '{}']", d.kind.as_str(), d.name),
                        )
                    } else {
                        (false, format!("no apply of {} {}", d.kind.as_str(), d.name))
                    }
                }
            };
            out.push(PinCheck {
                run: MANAGER_RUN.into(),
                check: format!("applies {} {}", d.kind.as_str(), d.name),
                holds,
                detail,
            });
        }
    }
    if versions.is_promotion() {
        out.extend(moving_objects(model, versions, manager));
    }
    out
}

/// The manager's report applies the object: an `apply` naming it and its namespace.
fn applies(manager: &super::reports::Report, d: &crate::cluster::model::Deployment) -> bool {
    manager
        .parsed
        .kept
        .iter()
        .any(|a| a.kind == "apply" && a.fields.contains(&d.name) && a.fields.contains(&d.namespace))
}

/// The objects the manager's plan is expected to apply: the pinned shards' objects, and for a
/// promotion every object whose image moves.
fn expected_objects(model: &Model, versions: &Versions) -> Vec<crate::cluster::model::Deployment> {
    model
        .deployments(None, None)
        .into_iter()
        .filter(|d| {
            d.pin_ref.is_some()
                || (versions.is_promotion()
                    && !d.pinned
                    && d.image
                        .rsplit_once(':')
                        .is_some_and(|(_, t)| same_commit(t, &versions.new)))
        })
        .collect()
}

/// The integrations-manager's changes are explained when every action it prints is the
/// apply of an object it is expected to apply (see [`expected_objects`]).
pub fn explain_manager(
    runs: &mut [super::Run],
    model: &Model,
    versions: &Versions,
    reports: &Reports,
) {
    let Some(run) = runs
        .iter_mut()
        .find(|r| r.name == MANAGER_RUN && r.verdict == super::Verdict::Changes)
    else {
        return;
    };
    let Some(report) = reports.runs.get(MANAGER_RUN) else {
        return;
    };
    let objects = expected_objects(model, versions);
    let other: Vec<String> = report
        .parsed
        .kept
        .iter()
        .filter(|a| {
            a.kind != "apply"
                || !objects
                    .iter()
                    .any(|d| a.fields.contains(&d.name) && a.fields.contains(&d.namespace))
        })
        .map(|a| format!("{} {}", a.kind, a.fields.last().map_or("", String::as_str)))
        .collect();
    if other.is_empty() && report.parsed.messages == 0 {
        run.explained = Some(true);
        run.explained_by = vec![format!(
            "the promotion: applies {} it is expected to",
            crate::util::count(report.parsed.actions, "object", "objects")
        )];
        run.unexplained_because = None;
    } else if !other.is_empty() {
        run.unexplained_because = Some(format!(
            "actions beyond the objects whose image moves: {}",
            listed(&other)
        ));
    }
}

/// For a promotion: the manager's plan applies every object whose image moves.
fn moving_objects(
    model: &Model,
    versions: &Versions,
    manager: Option<&super::reports::Report>,
) -> Option<PinCheck> {
    let moving: Vec<_> = model
        .deployments(None, None)
        .into_iter()
        .filter(|d| !d.pinned)
        .filter(|d| {
            d.image
                .rsplit_once(':')
                .is_some_and(|(_, t)| same_commit(t, &versions.new))
        })
        .collect();
    if moving.is_empty() {
        return None;
    }
    let check = format!(
        "applies the {} whose image moves",
        crate::util::count(moving.len(), "object", "objects")
    );
    let Some(m) = manager else {
        return Some(PinCheck {
            run: MANAGER_RUN.into(),
            check,
            holds: false,
            detail: "no integrations-manager report".into(),
        });
    };
    let missing: Vec<String> = moving
        .iter()
        .filter(|d| !applies(m, d))
        .map(|d| d.name.clone())
        .collect();
    Some(PinCheck {
        run: MANAGER_RUN.into(),
        check,
        holds: missing.is_empty(),
        detail: if missing.is_empty() {
            format!("all {} applied", moving.len())
        } else {
            format!(
                "{} of {} not applied: {}",
                missing.len(),
                moving.len(),
                listed(&missing)
            )
        },
    })
}
