//! The change report's people and its Markdown, through the binary, against a real upstream:
//! one person with two addresses and two names, a no-reply address, an organization address, a
//! bot, an author whose name is their GitHub login, an author with no user file, and subjects
//! that GitLab would read as mentions and references.

use std::path::PathBuf;

use crate::support::{commit_checkout, git, pin_example, Run, Sandbox, Upstream};

struct World {
    sb: Sandbox,
    upstream: PathBuf,
    ids: Vec<String>,
}

/// The upstream's commits after the base, oldest first: author name, address, subject.
const COMMITS: &[(&str, &str, &str)] = &[
    (
        "devppratik",
        "pratik@gmail.com",
        "Retry with the @retry decorator (#12)",
    ),
    (
        "Pratik Panda",
        "ppanda@example.org",
        "Cache with @lru_cache, see #12 and !3",
    ),
    (
        "Pratik Panda",
        "pratik@gmail.com",
        "Label ~x for %v1 & $snip, *not* _emphasis_",
    ),
    (
        "Octo",
        "1234+octocat@users.noreply.github.com",
        "Fix | pipes <b> and `code` [link](x) (#15)",
    ),
    (
        "red-hat-konflux[bot]",
        "126015336+red-hat-konflux[bot]@users.noreply.github.com",
        "chore(deps): update konflux references",
    ),
    ("memyself", "me@home.net", "My own change"),
    ("Me Myself", "mme@example.org", "Another of mine (#20)"),
    ("Rita Stranger", "rita@x.org", "Thank @someone in the docs"),
    ("Jane Roe", "jroe@example.org", "Jane's change (#21)"),
];

const USERS: &[(&str, &str, &str, Option<&str>)] = &[
    ("pratik", "Pratik Panda", "ppanda", Some("devppratik")),
    ("me", "Me Myself", "mme", Some("memyself")),
    ("jane", "Jane Roe", "jroe", None),
];

impl World {
    fn new() -> World {
        let sb = Sandbox::example();
        let mut up = Upstream::new(&sb);
        let base = [("Base Author", "base@example.net", "Base")];
        for (name, email, subject) in base.iter().chain(COMMITS) {
            up.commit(name, email, subject);
        }
        pin_example(&sb, &up.ids[0]);
        for (file, name, org, gh) in USERS {
            let gh = gh.map_or(String::new(), |g| format!("github_username: {g}\n"));
            std::fs::write(
                sb.path(&format!("data/access/users/{file}.yml")),
                format!("---\n$schema: /access/user-1.yml\n\nlabels: {{}}\n\nname: {name}\norg_username: {org}\n{gh}"),
            )
            .unwrap();
        }
        std::fs::create_dir_all(sb.path("data/app-interface")).unwrap();
        std::fs::write(
            sb.path("data/app-interface/app-interface-settings.yml"),
            "---\n$schema: /app-interface/app-interface-settings-1.yml\n\nsmtp:\n  mailAddress: example.org\n  timeout: 30\n",
        )
        .unwrap();
        commit_checkout(&sb, "Me Myself", "mme@example.org");
        World {
            sb,
            upstream: up.path,
            ids: up.ids,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.sb.run_against(&self.upstream, args)
    }

    /// `text` with the upstream's ids replaced by `<id N>` (full) and `<short N>`.
    fn ids_named(&self, text: &str) -> String {
        let mut t = text.to_string();
        for (i, id) in self.ids.iter().enumerate() {
            t = t
                .replace(id.as_str(), &format!("<id {i}>"))
                .replace(&id[..7], &format!("<short {i}>"));
        }
        t
    }
}

/// The `@` signs of a Markdown text that GitLab reads as mentions: not escaped, not in code.
fn mentions(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in md.lines() {
        let mut code = false;
        let mut prev = ' ';
        let chars: Vec<char> = line.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c == '`' {
                code = !code;
            } else if c == '@' && !code && prev != '\\' && !prev.is_alphanumeric() {
                let word: String = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
                    .collect();
                if !word.is_empty() {
                    out.push(word);
                }
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
        }
    }
    out
}

#[test]
fn the_markdown_names_each_person_once_and_mentions_nobody() {
    let w = World::new();
    let new = w.ids.last().unwrap().clone();
    // The promoter is named by one of their addresses; the other leaves the list too.
    let r = w
        .run(&[
            "plan",
            "--to",
            &new,
            "--skip-image-check",
            "--format",
            "markdown",
            "--me",
            "me@home.net",
        ])
        .ok();
    insta::assert_snapshot!(w.ids_named(&r.stdout));
    assert_eq!(mentions(&r.stdout), Vec::<String>::new(), "{}", r.stdout);
}

#[test]
fn the_text_report_groups_persons_and_leaves_out_bots_and_the_promoter() {
    let w = World::new();
    let new = w.ids.last().unwrap().clone();
    // Without --me, git's user.email (the org address) names the promoter.
    let r = w.run(&["plan", "--to", &new, "--skip-image-check"]).ok();
    let text = w.ids_named(&r.stdout);
    let report: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Changes "))
        .take_while(|l| !l.starts_with("image ") && !l.is_empty())
        .collect();
    insta::assert_snapshot!(report.join("\n"));
    let v = w
        .run(&["--json", "plan", "--to", &new, "--skip-image-check"])
        .ok()
        .json();
    let changes = &v["changes"];
    let handles: Vec<&str> = changes["notify"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["handle"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(handles, ["jroe", "-", "ocat", "ppanda"]);
    assert_eq!(changes["bots"][0]["name"], "red-hat-konflux[bot]");
    assert_eq!(
        changes["authors"][4]["emails"],
        serde_json::json!(["pratik@gmail.com", "ppanda@example.org"])
    );
}

#[test]
fn the_merge_request_mentions_only_the_people_of_the_notify_sentence() {
    let w = World::new();
    let home = w.sb.home();
    let remote = crate::support::push_options_remote(&w.sb);
    let record = w.sb.dir.path().join("options.txt");
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/usr/bin/env bash\nfor i in $(seq 0 $((GIT_PUSH_OPTION_COUNT - 1))); do v=GIT_PUSH_OPTION_$i; printf '%s\\n' \"${{!v}}\" >> '{}'; done\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let root = w.sb.root();
    git(
        &root,
        &home,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&root, &home, &["push", "-q", "origin", "master"]);
    let new = w.ids.last().unwrap().clone();
    w.run(&[
        "apply",
        "--to",
        &new,
        "--skip-image-check",
        "--commit",
        "--push",
        "--notify",
    ])
    .ok();
    let options = std::fs::read_to_string(&record).unwrap();
    let description = options
        .lines()
        .find_map(|l| l.strip_prefix("merge_request.description="))
        .unwrap();
    // Push options are one line each: the description's line breaks travel as they are given.
    let sentence = "@jroe @ocat @ppanda: this promotion ships your changes; please take a look.";
    assert!(options.contains(sentence), "{options}");
    assert!(description.contains("Rita Stranger"), "{options}");
    let mut all = mentions(&options);
    all.sort();
    assert_eq!(all, ["jroe", "ocat", "ppanda"], "{options}");
}
