//! Property: a location planted anywhere in generated YAML is found, and the edit changes only
//! the bytes of the version token.

use proptest::prelude::*;
use qr_promote::checkout::{components_from_env, parse_env};
use qr_promote::discovery::locations::{find_in_text, read_file, Refs};
use qr_promote::promote::edit::edit_file;

const ENV: &str = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE_TAG=a1b2c3d\n";

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_-]{0,12}",
        "[0-9]{1,6}",
        "'[a-z ]{0,10}'",
        "\"[a-z:/ ]{0,10}\"",
        Just("true".to_string()),
        Just("~".to_string()),
        Just("'{{ x }}'".to_string()),
    ]
}

/// Entries (shape, key, value), where to plant, quote style, CRLF, final newline, indent.
type DocParts = (Vec<(u8, String, String)>, usize, u8, bool, bool, usize);

fn doc() -> impl Strategy<Value = DocParts> {
    (
        prop::collection::vec((0u8..4, "[a-z][a-zA-Z_]{0,10}", scalar()), 1..25),
        0usize..25,
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(2usize), Just(4usize)],
    )
}

fn render(
    items: &[(u8, String, String)],
    at: usize,
    style: u8,
    crlf: bool,
    final_nl: bool,
    indent: usize,
    old: &str,
) -> (String, String) {
    let nl = if crlf { "\r\n" } else { "\n" };
    let pad = " ".repeat(indent);
    let mut out = String::from("---");
    out.push_str(nl);
    out.push_str("# generated");
    out.push_str(nl);
    let planted = match style {
        0 => old.to_string(),
        1 => format!("'{old}'"),
        _ => format!("\"{old}\""),
    };
    let at = at.min(items.len());
    let mut used = std::collections::HashSet::new();
    for (i, (kind, key, value)) in items.iter().enumerate() {
        if i == at {
            out.push_str(&format!(
                "qontract_reconcile_image_tag: {planted}  # the tag{nl}"
            ));
        }
        if !used.insert(key.clone()) || key == "qontract_reconcile_image_tag" {
            continue;
        }
        match kind {
            0 => out.push_str(&format!("{key}: {value}{nl}")),
            1 => out.push_str(&format!(
                "{key}:{nl}{pad}nested: {value}{nl}{pad}list:{nl}{pad}- {value}{nl}"
            )),
            2 => out.push_str(&format!("# {value}{nl}{nl}{key}: [{value}, x]{nl}")),
            _ => out.push_str(&format!("{key}: {{a: {value}}}{nl}")),
        }
    }
    if at >= items.len() {
        out.push_str(&format!(
            "qontract_reconcile_image_tag: {planted}  # the tag{nl}"
        ));
    }
    if !final_nl {
        out.truncate(out.len() - nl.len());
    }
    (out, planted)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn the_diff_touches_only_the_version_token(
        (items, at, style, crlf, final_nl, indent) in doc(),
        to in "[0-9a-f]{40}",
    ) {
        let c = components_from_env(&parse_env(ENV)).remove(0);
        let (text, planted) = render(&items, at, style, crlf, final_nl, indent, "a1b2c3d");
        let reading = read_file("data/x.yml", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let dir = tempfile::tempdir().unwrap();
        let refs = Refs::new(dir.path());
        let locs = find_in_text("data/x.yml", &text, &reading, &c, &refs, None);
        prop_assert_eq!(locs.len(), 1, "one planted location in:\n{}", text);
        let loc_refs: Vec<_> = locs.iter().collect();
        let (after, edits) = edit_file("data/x.yml", text.as_bytes(), &loc_refs, &to, &c, &refs)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let new7 = &to[..7];
        let numeric = qr_promote::yaml::plain_is_not_string(new7);
        let replacement = match (style, numeric) {
            (0, false) => new7.to_string(),
            (0, true) => format!("{}{new7}{}", edits[0].quoted.unwrap(), edits[0].quoted.unwrap()),
            (1, _) => format!("'{new7}'"),
            _ => format!("\"{new7}\""),
        };
        let expected = text.replacen(&format!("qontract_reconcile_image_tag: {planted}"), &format!("qontract_reconcile_image_tag: {replacement}"), 1);
        prop_assert_eq!(String::from_utf8(after).unwrap(), expected);
    }
}
