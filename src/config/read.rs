//! Reading `.qr-promote.yaml` strictly: every key known, every value checked, every error one
//! line naming its line.

use super::*;

/// An error: its line and message.
type Bad = (usize, String);

fn bad<T>(line: usize, msg: impl Into<String>) -> std::result::Result<T, Bad> {
    Err((line, msg.into()))
}

pub(super) fn parse(text: &str) -> std::result::Result<Config, Bad> {
    let docs =
        yaml::parse(text).map_err(|e| (e.line, format!("column {}: {}", e.col, e.message)))?;
    if let Some(second) = docs.get(1) {
        return bad(second.line, "a second document; the file holds one");
    }
    if let Some(d) = yaml::duplicate_keys(&docs).first() {
        return bad(
            d.line,
            format!(
                "{:?} is written twice (lines {} and {})",
                d.key, d.first_line, d.line
            ),
        );
    }
    let Some(root) = docs.first() else {
        return bad(1, format!("empty; write `version: {CONFIG_VERSION}` first"));
    };
    let pairs = mapping(root, "the file")?;
    let mut config = Config::default();
    let mut version = false;
    for (k, v) in pairs {
        match key_str(
            k,
            "the top level",
            &["version", "skip", "digests", "components", "clusters"],
        )? {
            "version" => {
                if v.style() != Some(Style::Plain) || v.as_str() != Some(CONFIG_VERSION) {
                    return bad(
                        v.line,
                        format!(
                            "version: {} is not a version this qr-promote reads (write `version: {CONFIG_VERSION}`)",
                            shown(v)
                        ),
                    );
                }
                version = true;
            }
            "skip" => {
                for (i, item) in sequence(v, "skip")?.iter().enumerate() {
                    config.skip.push(skip(item, &format!("skip[{i}]"))?);
                }
            }
            "digests" => {
                for (i, item) in sequence(v, "digests")?.iter().enumerate() {
                    let rule = digest_rule(item, &format!("digests[{i}]"))?;
                    if let Some(same) = config
                        .digests
                        .iter()
                        .find(|r| r.tag_key == rule.tag_key && r.path == rule.path)
                    {
                        return bad(
                            rule.line,
                            format!(
                                "digests[{i}]: tag_key {} {} is configured on line {} already",
                                rule.tag_key,
                                rule.path
                                    .as_deref()
                                    .map_or("for every file".to_string(), |p| format!("in {p}")),
                                same.line
                            ),
                        );
                    }
                    config.digests.push(rule);
                }
            }
            "clusters" => {
                for (name, context) in mapping(v, "clusters")? {
                    let cluster = string(name, "clusters: a cluster name")?;
                    let what = format!("clusters.{cluster}");
                    let ctx = string(context, &what)?;
                    if ctx.trim() != ctx {
                        return bad(
                            context.line,
                            format!("{what}: {ctx:?}: a context name holds no outer blanks"),
                        );
                    }
                    config.clusters.insert(cluster.to_string(), ctx.to_string());
                }
            }
            _ => {
                for (name, settings) in mapping(v, "components")? {
                    let n = string(name, "components: a component name")?;
                    config.components.push(component(n, name.line, settings)?);
                }
            }
        }
    }
    if !version {
        return bad(root.line, format!("`version: {CONFIG_VERSION}` is missing"));
    }
    Ok(config)
}

/// A value as the message shows it.
fn shown(n: &Node) -> String {
    match &n.kind {
        NodeKind::Scalar(s, _) => format!("{s:?}"),
        NodeKind::Map(_) => "a mapping".into(),
        NodeKind::Seq(_) => "a list".into(),
        NodeKind::Alias => "an alias".into(),
    }
}

fn no_alias(n: &Node, what: &str) -> std::result::Result<(), Bad> {
    if matches!(n.kind, NodeKind::Alias) {
        return bad(
            n.line,
            format!("{what}: aliases are not read here; write the value"),
        );
    }
    Ok(())
}

fn mapping<'a>(n: &'a Node, what: &str) -> std::result::Result<&'a [(Node, Node)], Bad> {
    no_alias(n, what)?;
    match &n.kind {
        NodeKind::Map(pairs) => Ok(pairs),
        _ => bad(
            n.line,
            format!("{what}: {} where a mapping is expected", shown(n)),
        ),
    }
}

fn sequence<'a>(n: &'a Node, what: &str) -> std::result::Result<&'a [Node], Bad> {
    no_alias(n, what)?;
    match &n.kind {
        NodeKind::Seq(items) => Ok(items),
        // `skip:` with nothing after it: an empty list.
        NodeKind::Scalar(s, Style::Plain) if s.is_empty() || s == "~" || s == "null" => Ok(&[]),
        _ => bad(
            n.line,
            format!("{what}: {} where a list is expected", shown(n)),
        ),
    }
}

/// A key of a mapping, one of `known`.
fn key_str<'a>(k: &'a Node, what: &str, known: &[&str]) -> std::result::Result<&'a str, Bad> {
    match k.as_str() {
        Some(s) if known.contains(&s) => Ok(s),
        _ => bad(
            k.line,
            format!(
                "{what}: unknown key {} (known: {})",
                shown(k),
                known.join(", ")
            ),
        ),
    }
}

/// A string value: any scalar but an empty one, a null or a boolean.
fn string<'a>(n: &'a Node, what: &str) -> std::result::Result<&'a str, Bad> {
    no_alias(n, what)?;
    match &n.kind {
        NodeKind::Scalar(s, style) => {
            let not_text = s.trim().is_empty()
                || (*style == Style::Plain && crate::yaml::quote::is_null_or_bool(s));
            if not_text {
                bad(n.line, format!("{what}: {} is not a value", shown(n)))
            } else if s.chars().any(char::is_control) {
                bad(
                    n.line,
                    format!("{what}: {} holds a control character", shown(n)),
                )
            } else {
                Ok(s)
            }
        }
        _ => bad(
            n.line,
            format!("{what}: {} where a string is expected", shown(n)),
        ),
    }
}

/// A repository-relative path of a file or folder (a trailing `/` is dropped).
fn repo_path(n: &Node, what: &str) -> std::result::Result<String, Bad> {
    let s = string(n, what)?;
    let p = s.strip_suffix('/').unwrap_or(s);
    let ok = !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if !ok {
        return bad(
            n.line,
            format!(
                "{what}: {s:?} is not a path inside the checkout (relative to its root, `/` \
                 between names, no `.` or `..`: data/services/x/saas.yml)"
            ),
        );
    }
    Ok(p.to_string())
}

/// A key path as `status` prints it: `a.b[name].c`.
fn key_path(n: &Node, what: &str) -> std::result::Result<String, Bad> {
    let s = string(n, what)?;
    let mut depth = 0usize;
    let mut balanced = true;
    for c in s.chars() {
        match c {
            '[' => {
                depth += 1;
                balanced &= depth == 1;
            }
            ']' => {
                balanced &= depth == 1;
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    let ok = balanced
        && depth == 0
        && s.trim() == s
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.starts_with('[')
        && !s.contains("..")
        && !s.contains("[]");
    if !ok {
        return bad(
            n.line,
            format!(
                "{what}: {s:?} is not a key path (keys joined by `.`, list items by `[name]`, \
                 as status prints it: resourceTemplates[qontract-api].parameters.OPA_IMAGE_TAG)"
            ),
        );
    }
    Ok(s.to_string())
}

fn skip(n: &Node, what: &str) -> std::result::Result<Skip, Bad> {
    let mut path = None;
    let mut key = None;
    let mut id = None;
    let mut reason = None;
    for (k, v) in mapping(n, what)? {
        match key_str(k, what, &["path", "key", "id", "reason"])? {
            "path" => path = Some(repo_path(v, &format!("{what}.path"))?),
            "key" => key = Some(key_path(v, &format!("{what}.key"))?),
            "id" => {
                let s = string(v, &format!("{what}.id"))?;
                if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return bad(
                        v.line,
                        format!(
                            "{what}.id: {s:?} is not a location id (8 hex digits, as status \
                             and plan print it)"
                        ),
                    );
                }
                id = Some(s.to_ascii_lowercase());
            }
            _ => reason = Some(string(v, &format!("{what}.reason"))?.to_string()),
        }
    }
    let target = match (path, key, id) {
        (path, Some(key), None) => SkipTarget::Key { key, path },
        (Some(p), None, None) => SkipTarget::Path(p),
        (None, None, Some(id)) => SkipTarget::Id(id),
        (None, None, None) => {
            return bad(n.line, format!("{what}: name a path, a key or an id"));
        }
        _ => {
            return bad(
                n.line,
                format!("{what}: an id names one location; give it alone (without path or key)"),
            );
        }
    };
    Ok(Skip {
        target,
        reason,
        line: n.line,
    })
}

fn digest_rule(n: &Node, what: &str) -> std::result::Result<DigestRule, Bad> {
    let mut tag_key = None;
    let mut digest_key = None;
    let mut image = None;
    let mut path = None;
    for (k, v) in mapping(n, what)? {
        match key_str(k, what, &["tag_key", "digest_key", "image", "path"])? {
            "tag_key" => tag_key = Some((string(v, &format!("{what}.tag_key"))?, v.line)),
            "digest_key" => digest_key = Some((string(v, &format!("{what}.digest_key"))?, v.line)),
            "image" => {
                let s = string(v, &format!("{what}.image"))?;
                if let Err(why) = crate::registry::check_image_name(s) {
                    return bad(v.line, format!("{what}.image: {why}"));
                }
                image = Some(s.trim().to_string());
            }
            _ => path = Some(repo_path(v, &format!("{what}.path"))?),
        }
    }
    let Some((tag_key, tag_line)) = tag_key else {
        return bad(
            n.line,
            format!("{what}: tag_key is missing (the key of the tag)"),
        );
    };
    let Some(image) = image else {
        return bad(
            n.line,
            format!("{what}: image is missing (the image whose digest follows {tag_key})"),
        );
    };
    let digest_key = match digest_key {
        Some((d, line)) if d == tag_key => {
            return bad(
                line,
                format!("{what}.digest_key: {d:?} is the tag key itself"),
            );
        }
        Some((d, _)) => d.to_string(),
        None => match default_digest_key(tag_key) {
            Some(d) => d,
            None => {
                return bad(
                    tag_line,
                    format!(
                        "{what}: {tag_key:?} does not end in _TAG; name its digest with digest_key"
                    ),
                );
            }
        },
    };
    Ok(DigestRule {
        tag_key: tag_key.to_string(),
        digest_key,
        image,
        path,
        line: n.line,
    })
}

fn component(name: &str, line: usize, n: &Node) -> std::result::Result<ComponentSettings, Bad> {
    let what = format!("components.{name}");
    let mut c = ComponentSettings {
        name: name.to_string(),
        line,
        ..ComponentSettings::default()
    };
    let known = [
        "labels",
        "target_branch",
        "remote",
        "wait_image",
        "notify",
        "hold_for",
        "upstream",
        "stage_soak",
    ];
    for (k, v) in mapping(n, &what)? {
        let key = key_str(k, &what, &known)?;
        let what = format!("{what}.{key}");
        match key {
            "labels" => {
                for item in sequence(v, &what)? {
                    let l = string(item, &what)?;
                    if l.contains(',') || l.trim() != l {
                        return bad(
                            item.line,
                            format!("{what}: {l:?}: a label holds no comma and no outer blanks"),
                        );
                    }
                    c.labels.push(l.to_string());
                }
            }
            "target_branch" => {
                let b = string(v, &what)?;
                if !is_branch_name(b) {
                    return bad(v.line, format!("{what}: {b:?} is not a branch name"));
                }
                c.target_branch = Some(b.to_string());
            }
            "remote" => {
                let r = string(v, &what)?;
                if r.starts_with('-') || r.chars().any(char::is_whitespace) {
                    return bad(v.line, format!("{what}: {r:?} is not a remote name"));
                }
                c.remote = Some(r.to_string());
            }
            "wait_image" => {
                let s = string(v, &what)?;
                let d = crate::util::parse_duration(s)
                    .map_err(|why| (v.line, format!("{what}: {why}")))?;
                if d.is_zero() || d > MAX_WAIT_IMAGE {
                    return bad(v.line, format!("{what}: {s:?}: more than 0, at most 24h"));
                }
                c.wait_image = Some(d);
            }
            "upstream" => {
                let u = string(v, &what)?;
                if u.is_empty() || u.starts_with('-') || u.chars().any(char::is_control) {
                    return bad(v.line, format!("{what}: {u:?} is not a git URL or a path"));
                }
                c.upstream = Some(u.to_string());
            }
            "stage_soak" => {
                let s = string(v, &what)?;
                let d = crate::util::parse_duration(s)
                    .map_err(|why| (v.line, format!("{what}: {why}")))?;
                if d > MAX_STAGE_SOAK {
                    return bad(v.line, format!("{what}: {s:?}: at most 7 days"));
                }
                c.stage_soak = Some(d);
            }
            "hold_for" => {
                for item in sequence(v, &what)? {
                    let h = string(item, &what)?;
                    if h == name {
                        return bad(item.line, format!("{what}: {h:?} cannot hold itself"));
                    }
                    if !c.hold_for.iter().any(|x| x == h) {
                        c.hold_for.push(h.to_string());
                    }
                }
            }
            _ => {
                c.notify = match (v.style(), v.as_str()) {
                    (Some(Style::Plain), Some("true")) => Some(true),
                    (Some(Style::Plain), Some("false")) => Some(false),
                    _ => return bad(v.line, format!("{what}: {} is not true or false", shown(v))),
                };
            }
        }
    }
    Ok(c)
}

/// A branch name git accepts (`git check-ref-format --branch`, in short).
pub(super) fn is_branch_name(b: &str) -> bool {
    !b.is_empty()
        && !b.starts_with('-')
        && !b.starts_with('/')
        && !b.ends_with('/')
        && !b.ends_with('.')
        && !b.ends_with(".lock")
        && !b.contains("..")
        && !b.contains("//")
        && !b.contains("@{")
        && b != "@"
        && !b
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
        && b.split('/').all(|c| !c.starts_with('.'))
}
