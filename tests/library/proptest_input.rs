//! Property: no input panics. Arbitrary `.env` text goes through `parse_env`,
//! `components_from_env` and the component check; arbitrary YAML-like text goes through the
//! YAML parser, location discovery and the edit. Spans stay in bounds and on character
//! boundaries, and say what they claim to cover.

use proptest::prelude::*;
use qr_promote::checkout::{components_from_env, parse_env};
use qr_promote::discovery::locations::{find_in_text, read_file, Refs};
use qr_promote::promote::edit::{edit_file, new_token};
use qr_promote::util::is_commit_hex;
use qr_promote::yaml::{self, Node, NodeKind};

const ENV: &str = "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE_TAG=a1b2c3d\n";

fn in_text(text: &str, span: &std::ops::Range<usize>) -> bool {
    span.start <= span.end
        && span.end <= text.len()
        && text.is_char_boundary(span.start)
        && text.is_char_boundary(span.end)
}

/// One line of a `.env`-like file.
fn env_line() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,30}",
        "(export[ \t]+)?[A-Z]{1,4}_(REPO|IMAGE|IMAGE_TAG)=[\"']?[ -~é\u{feff}]{0,12}[\"']?( #.{0,5})?",
        Just("export RECONCILE_IMAGE_TAG=22e638éd".to_string()),
        Just("export RECONCILE_IMAGE_TAG=\"a1b2c3d".to_string()),
        Just("export RECONCILE_IMAGE_TAG=".to_string()),
        Just("export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile".to_string()),
        Just("export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile".to_string()),
        "export RECONCILE_IMAGE_TAG=[0-9a-fé]{0,42}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn env_text_never_panics_and_spans_are_exact(
        lines in prop::collection::vec(env_line(), 0..12),
        bom in any::<bool>(),
        crlf in any::<bool>(),
        to in "[0-9a-f]{40}",
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut text = if bom { "\u{feff}".to_string() } else { String::new() };
        text.push_str(&lines.join(nl));
        let vars = parse_env(&text);
        for v in &vars {
            prop_assert!(in_text(&text, &v.span), "{:?} in {:?}", v.span, text);
            prop_assert_eq!(&text[v.span.clone()], v.value.as_str());
            prop_assert!(v.line >= 1 && v.line <= lines.len().max(1));
        }
        for c in components_from_env(&vars) {
            prop_assert!(in_text(&text, &c.tag_span));
            prop_assert_eq!(&text[c.tag_span.clone()], c.tag.as_str());
            match c.check() {
                Ok(()) => {
                    prop_assert!(is_commit_hex(&c.tag), "{:?} passed the check", c.tag);
                    let t = new_token(&c.tag, &to);
                    prop_assert!(to.starts_with(&t.to_ascii_lowercase()));
                }
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(msg.starts_with(".env"), "{}", msg);
                    prop_assert!(!msg.contains('\n'), "one line: {:?}", msg);
                }
            }
        }
    }
}

/// A piece of YAML-like text: structure, aliases, anchors, quotes, locations, odd characters.
fn yaml_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("- ".to_string()),
        Just(": ".to_string()),
        Just("? ".to_string()),
        "[\\[\\]{},'\"#|>!%@`&*-]",
        "[*&][a-z]{1,3}",
        "[a-z0-9]{1,6}",
        Just("qontract_reconcile_image_tag: ".to_string()),
        Just("quay.io/app-sre/qontract-reconcile:a1b2c3d".to_string()),
        Just("a1b2c3d".to_string()),
        Just("$schema: /app-sre/saas-file-2.yml\n".to_string()),
        Just("resourceTemplates:\n- url: https://github.com/app-sre/qontract-reconcile\n  targets:\n  - ref: a1b2c3d\n".to_string()),
        Just("ref: ".to_string()),
        Just("{{ x }}".to_string()),
        Just("---\n".to_string()),
        Just("é".to_string()),
        Just("\u{feff}".to_string()),
        Just("\r\n".to_string()),
        Just("\t".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

fn check_nodes(text: &str, n: &Node) -> Result<(), TestCaseError> {
    prop_assert!(in_text(text, &n.span), "{:?} in {:?}", n.span, text);
    prop_assert!(n.line >= 1);
    match &n.kind {
        NodeKind::Map(pairs) => {
            for (k, v) in pairs {
                check_nodes(text, k)?;
                check_nodes(text, v)?;
            }
        }
        NodeKind::Seq(items) => {
            for i in items {
                check_nodes(text, i)?;
            }
        }
        NodeKind::Scalar(..) => {
            if let Some(r) = yaml::value_span(text, n) {
                prop_assert!(in_text(text, &r));
                prop_assert_eq!(Some(&text[r]), n.as_str());
            }
        }
        NodeKind::Alias => {}
    }
    Ok(())
}

fn yaml_goes_through_everything(text: &str, to: &str) -> Result<(), TestCaseError> {
    let c = components_from_env(&parse_env(ENV)).remove(0);
    let _ = yaml::top_fields(text, true);
    let _ = yaml::plain_is_not_string(text);
    if let Ok(docs) = yaml::parse(text) {
        for d in &docs {
            check_nodes(text, d)?;
        }
        let _ = yaml::duplicate_keys(&docs);
    }
    let Ok(reading) = read_file("data/x.yml", text) else {
        return Ok(());
    };
    let dir = tempfile::tempdir().unwrap();
    let refs = Refs::new(dir.path());
    let locs = find_in_text(
        "data/x.yml",
        text,
        &reading,
        &c,
        &refs,
        Some(c.tag.as_str()),
    );
    for l in &locs {
        prop_assert!(in_text(text, &l.span), "{:?} in {:?}", l.span, text);
        prop_assert_eq!(&text[l.span.clone()], l.value.as_str());
    }
    let all: Vec<_> = locs.iter().collect();
    // The edit may refuse, but it may not panic, and what it returns is valid UTF-8.
    if let Ok((after, _)) = edit_file("data/x.yml", text.as_bytes(), &all, to, &c, &refs) {
        prop_assert!(std::str::from_utf8(&after).is_ok());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn yaml_like_text_never_panics_and_spans_are_in_bounds(
        pieces in prop::collection::vec(yaml_piece(), 0..40),
        to in "[0-9a-f]{40}",
    ) {
        yaml_goes_through_everything(&pieces.concat(), &to)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        to in "[0-9a-f]{40}",
    ) {
        yaml_goes_through_everything(&String::from_utf8_lossy(&bytes), &to)?;
    }
}
