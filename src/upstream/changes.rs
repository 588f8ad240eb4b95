//! The change report of a promotion: the upstream commits, their authors and whom to notify, as text or Markdown.

use std::fmt::Write as _;
use std::path::Path;

use crate::checkout::normalize_repo_url;
use crate::error::Result;
use crate::upstream::CommitInfo;
use crate::util::short_id;

/// The app-interface schema of user files.
pub const USER_SCHEMA: &str = "/access/user-1.yml";

/// Where the upstream is hosted, for links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    /// github.com.
    GitHub,
    /// A GitLab instance (a host whose name contains `gitlab`).
    GitLab,
}

/// A commit author.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Author {
    /// Name as in the commit.
    pub name: String,
    /// Email as in the commit (first spelling seen).
    pub email: String,
    /// The app-interface `org_username` (without `@`) when a user file matches.
    pub handle: Option<String>,
}

impl Author {
    /// `@handle`, else `Name <email>`.
    pub fn display(&self) -> String {
        match &self.handle {
            Some(h) => format!("@{h}"),
            None => format!("{} <{}>", self.name, self.email),
        }
    }

    /// `@handle`, else the name.
    pub fn short_display(&self) -> String {
        match &self.handle {
            Some(h) => format!("@{h}"),
            None => self.name.clone(),
        }
    }
}

/// An app-interface user (a `/access/user-1.yml` file under `data/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Repository-relative path of the file.
    pub path: String,
    /// `name`.
    pub name: String,
    /// `org_username`.
    pub org_username: String,
    /// `github_username`, if set.
    pub github_username: Option<String>,
}

/// What changes between two versions of a component.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangeReport {
    /// The upstream's web address (https), when it is on GitHub or GitLab.
    pub web_url: Option<String>,
    /// Where the upstream is hosted, when known.
    pub forge: Option<Forge>,
    /// The compare page `<repo>/compare/<from>...<to>` (GitLab: `/-/compare/`).
    pub compare_url: Option<String>,
    /// The version promoted from.
    pub from: String,
    /// The version promoted to.
    pub to: String,
    /// The commits of `from..to`, newest first.
    pub commits: Vec<CommitInfo>,
    /// Distinct authors (by email, case-insensitive), in order of first appearance.
    pub authors: Vec<Author>,
    /// The authors other than the person promoting.
    pub notify: Vec<Author>,
}

impl ChangeReport {
    /// Builds the report for `commits` (of `from..to`) of the upstream `repo`; authors are
    /// matched to `users`, and `me` (an email, compared case-insensitively) is not notified.
    pub fn new(
        repo: &str,
        from: &str,
        to: &str,
        commits: Vec<CommitInfo>,
        users: &[User],
        me: Option<&str>,
    ) -> ChangeReport {
        let web = web_url(repo);
        let mut authors: Vec<Author> = Vec::new();
        for c in &commits {
            if authors
                .iter()
                .any(|a| a.email.eq_ignore_ascii_case(&c.author_email))
            {
                continue;
            }
            authors.push(Author {
                name: c.author_name.clone(),
                email: c.author_email.clone(),
                handle: handle_for(&c.author_name, &c.author_email, users),
            });
        }
        let me = me.map(str::trim).filter(|m| !m.is_empty());
        let notify = authors
            .iter()
            .filter(|a| !me.is_some_and(|m| m.eq_ignore_ascii_case(&a.email)))
            .cloned()
            .collect();
        ChangeReport {
            compare_url: compare_url(repo, from, to),
            forge: web.as_ref().map(|(f, _)| *f),
            web_url: web.map(|(_, u)| u),
            from: from.to_string(),
            to: to.to_string(),
            commits,
            authors,
            notify,
        }
    }

    /// The author of a commit, as the report knows them.
    pub fn author_of(&self, c: &CommitInfo) -> Option<&Author> {
        self.authors
            .iter()
            .find(|a| a.email.eq_ignore_ascii_case(&c.author_email))
    }

    fn pr_url(&self, n: u64) -> Option<String> {
        let web = self.web_url.as_deref()?;
        Some(match self.forge? {
            Forge::GitHub => format!("{web}/pull/{n}"),
            Forge::GitLab => format!("{web}/-/merge_requests/{n}"),
        })
    }

    fn commit_url(&self, id: &str) -> Option<String> {
        let web = self.web_url.as_deref()?;
        Some(match self.forge? {
            Forge::GitHub => format!("{web}/commit/{id}"),
            Forge::GitLab => format!("{web}/-/commit/{id}"),
        })
    }
}

/// The https address and forge of a GitHub or GitLab repository URL (https, ssh or
/// `git@host:org/repo(.git)`); credentials and ssh ports are dropped.
pub fn web_url(repo: &str) -> Option<(Forge, String)> {
    let r = normalize_repo_url(repo);
    let (host, path) = if let Some(rest) = ["https://", "http://", "ssh://", "git://"]
        .iter()
        .find_map(|p| r.strip_prefix(p))
    {
        let ssh = !r.starts_with("http");
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if ssh {
            host.split_once(':').map_or(host, |(h, _)| h)
        } else {
            host
        };
        (host, path)
    } else {
        let (authority, path) = r.split_once(':')?;
        if authority.contains('/') {
            return None;
        }
        (
            authority.rsplit_once('@').map_or(authority, |(_, h)| h),
            path,
        )
    };
    let path = path.trim_matches('/');
    if host.is_empty() || !path.contains('/') {
        return None;
    }
    let bare_host = host
        .split_once(':')
        .map_or(host, |(h, _)| h)
        .to_ascii_lowercase();
    let forge = if bare_host == "github.com" || bare_host == "www.github.com" {
        Forge::GitHub
    } else if bare_host.contains("gitlab") {
        Forge::GitLab
    } else {
        return None;
    };
    Some((
        forge,
        format!("https://{}/{path}", host.to_ascii_lowercase()),
    ))
}

/// The compare page between two versions, for GitHub and GitLab upstreams.
pub fn compare_url(repo: &str, from: &str, to: &str) -> Option<String> {
    let (forge, web) = web_url(repo)?;
    Some(match forge {
        Forge::GitHub => format!("{web}/compare/{from}...{to}"),
        Forge::GitLab => format!("{web}/-/compare/{from}...{to}"),
    })
}

/// The GitHub login of a `<id>+<login>@users.noreply.github.com` or `<login>@users.noreply.github.com` address.
pub fn github_login(email: &str) -> Option<&str> {
    const DOMAIN: &str = "@users.noreply.github.com";
    let cut = email.len().checked_sub(DOMAIN.len())?;
    if !email.get(cut..)?.eq_ignore_ascii_case(DOMAIN) {
        return None;
    }
    let local = &email[..cut];
    let login = local.split_once('+').map_or(local, |(_, l)| l);
    (!login.is_empty()).then_some(login)
}

/// The `org_username` of the user an author is: by GitHub login in a noreply address, else by exact name.
fn handle_for(name: &str, email: &str, users: &[User]) -> Option<String> {
    if let Some(login) = github_login(email) {
        if let Some(u) = users.iter().find(|u| {
            u.github_username
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(login))
        }) {
            return Some(u.org_username.clone());
        }
    }
    users
        .iter()
        .find(|u| !u.name.is_empty() && u.name == name)
        .map(|u| u.org_username.clone())
}

/// The users of an app-interface checkout: files under `data/` with `$schema: /access/user-1.yml`
/// and an `org_username`, sorted by path.
pub fn load_users(root: &Path) -> Result<Vec<User>> {
    let found = crate::discovery::walk::scan(root, &[USER_SCHEMA.to_string()], None)?;
    let mut users = Vec::new();
    for f in found.files {
        if !f.rel.starts_with("data/") {
            continue;
        }
        let text = String::from_utf8_lossy(&f.bytes);
        let keys = top_level_values(
            &text,
            &["$schema", "name", "org_username", "github_username"],
        );
        if keys[0].as_deref() != Some(USER_SCHEMA) {
            continue;
        }
        let Some(org_username) = keys[2].clone().filter(|s| !s.is_empty()) else {
            continue;
        };
        users.push(User {
            path: f.rel,
            name: keys[1].clone().unwrap_or_default(),
            org_username,
            github_username: keys[3].clone().filter(|s| !s.is_empty()),
        });
    }
    Ok(users)
}

/// The values of top-level `key: value` lines (first occurrence), quotes and comments removed.
fn top_level_values(text: &str, keys: &[&str]) -> Vec<Option<String>> {
    let mut out = vec![None; keys.len()];
    for line in text.lines() {
        if line.starts_with([' ', '\t', '#', '-']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let Some(i) = keys.iter().position(|k| *k == key.trim()) else {
            continue;
        };
        if out[i].is_some() {
            continue;
        }
        out[i] = Some(scalar(value.trim()));
    }
    out
}

/// A one-line YAML scalar: quoted (the quotes removed), or plain (a ` #` comment removed).
fn scalar(v: &str) -> String {
    for q in ['"', '\''] {
        if let Some(rest) = v.strip_prefix(q) {
            return rest.find(q).map_or(rest, |end| &rest[..end]).to_string();
        }
    }
    v.find(" #").map_or(v, |i| &v[..i]).trim().to_string()
}

fn commits_phrase(n: usize) -> String {
    match n {
        0 => "no commits".to_string(),
        1 => "1 commit".to_string(),
        n => format!("{n} commits"),
    }
}

/// The report as plain text: compare link, commit count, one line per commit, authors, whom to notify.
pub fn render_text(r: &ChangeReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Changes {}..{}: {}",
        short_id(&r.from),
        short_id(&r.to),
        commits_phrase(r.commits.len())
    );
    if let Some(url) = &r.compare_url {
        let _ = writeln!(s, "Compare: {url}");
    }
    for c in &r.commits {
        let who = r
            .author_of(c)
            .map_or_else(|| c.author_name.clone(), Author::short_display);
        let _ = writeln!(s, "  {} {} ({who})", c.short, c.subject);
    }
    let list = |v: &[Author]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().map(Author::display).collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(s, "Authors: {}", list(&r.authors));
    let _ = writeln!(s, "Authors to notify: {}", list(&r.notify));
    s
}

/// Text made safe for a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The report as a merge-request description in Markdown.
pub fn render_markdown(r: &ChangeReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Changes from `{}` to `{}`\n",
        short_id(&r.from),
        short_id(&r.to)
    );
    if let Some(url) = &r.compare_url {
        let _ = writeln!(
            s,
            "[Compare `{}...{}`]({url})\n",
            short_id(&r.from),
            short_id(&r.to)
        );
    }
    if r.commits.is_empty() {
        let _ = writeln!(s, "No commits.\n");
    } else {
        let _ = writeln!(s, "{}:\n", capitalized(&commits_phrase(r.commits.len())));
        let _ = writeln!(s, "| Commit | Subject | Author | PR |");
        let _ = writeln!(s, "| --- | --- | --- | --- |");
        for c in &r.commits {
            let commit = match r.commit_url(&c.id) {
                Some(u) => format!("[`{}`]({u})", c.short),
                None => format!("`{}`", c.short),
            };
            let who = r
                .author_of(c)
                .map_or_else(|| c.author_name.clone(), Author::short_display);
            let pr = match c.pr {
                Some(n) => match r.pr_url(n) {
                    Some(u) => format!("[#{n}]({u})"),
                    None => format!("#{n}"),
                },
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "| {commit} | {} | {} | {pr} |",
                md_cell(&c.subject),
                md_cell(&who)
            );
        }
        s.push('\n');
    }
    let names = |v: &[Author]| {
        v.iter()
            .map(|a| md_cell(&a.short_display()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !r.authors.is_empty() {
        let _ = writeln!(s, "**Authors:** {}\n", names(&r.authors));
    }
    if r.notify.is_empty() {
        let _ = writeln!(s, "No authors to notify.");
    } else {
        let _ = writeln!(s, "Authors to notify: {}", names(&r.notify));
    }
    s
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, subject: &str, name: &str, email: &str) -> CommitInfo {
        CommitInfo {
            id: id.to_string(),
            short: short_id(id).to_string(),
            subject: subject.to_string(),
            author_name: name.to_string(),
            author_email: email.to_string(),
            pr: crate::upstream::pr_number(subject),
        }
    }

    fn users() -> Vec<User> {
        vec![
            User {
                path: "data/u/octo.yml".into(),
                name: "Octo Cat".into(),
                org_username: "ocat".into(),
                github_username: Some("OCTO".into()),
            },
            User {
                path: "data/u/jane.yml".into(),
                name: "Jane Doe".into(),
                org_username: "jdoe".into(),
                github_username: None,
            },
        ]
    }

    #[test]
    fn compare_urls_for_github_and_gitlab() {
        let c = |r: &str| compare_url(r, "aaaaaaa", "bbbbbbb");
        let gh = Some("https://github.com/app-sre/qr/compare/aaaaaaa...bbbbbbb".to_string());
        assert_eq!(c("https://github.com/app-sre/qr"), gh);
        assert_eq!(c("https://github.com/app-sre/qr.git/"), gh);
        assert_eq!(c("git@github.com:app-sre/qr.git"), gh);
        assert_eq!(c("ssh://git@github.com/app-sre/qr.git"), gh);
        assert_eq!(c("https://user:token@github.com/app-sre/qr"), gh);
        assert_eq!(
            c("git@gitlab.cee.redhat.com:service/app-interface.git"),
            Some(
                "https://gitlab.cee.redhat.com/service/app-interface/-/compare/aaaaaaa...bbbbbbb"
                    .to_string()
            )
        );
        assert_eq!(
            c("ssh://git@gitlab.com:2222/a/b/c.git"),
            Some("https://gitlab.com/a/b/c/-/compare/aaaaaaa...bbbbbbb".to_string())
        );
        assert_eq!(c("https://example.com/a/b"), None);
        assert_eq!(c("/srv/git/qr"), None);
        assert_eq!(c("https://github.com/onlyorg"), None);
    }

    #[test]
    fn github_logins() {
        assert_eq!(
            github_login("12345+octo@users.noreply.github.com"),
            Some("octo")
        );
        assert_eq!(github_login("octo@Users.NoReply.GitHub.com"), Some("octo"));
        assert_eq!(github_login("octo@example.com"), None);
        assert_eq!(github_login("@users.noreply.github.com"), None);
    }

    #[test]
    fn authors_are_distinct_matched_and_me_is_not_notified() {
        let commits = vec![
            commit("1111111aaaa", "One (#1)", "Jane Doe", "jane@example.com"),
            commit(
                "2222222aaaa",
                "Two | pipes <b>",
                "Octo",
                "9+octo@users.noreply.github.com",
            ),
            commit("3333333aaaa", "Three (#3)", "Jane D.", "JANE@example.com"),
            commit("4444444aaaa", "Four", "Me Myself", "me@example.com"),
        ];
        let r = ChangeReport::new(
            "https://github.com/o/r",
            "0000000aaaa",
            "4444444aaaa",
            commits,
            &users(),
            Some("ME@example.com"),
        );
        let handles: Vec<Option<&str>> = r.authors.iter().map(|a| a.handle.as_deref()).collect();
        assert_eq!(handles, [Some("jdoe"), Some("ocat"), None]);
        assert_eq!(r.notify.len(), 2);
        let text = render_text(&r);
        assert_eq!(
            text,
            "Changes 0000000..4444444: 4 commits\n\
             Compare: https://github.com/o/r/compare/0000000aaaa...4444444aaaa\n  \
             1111111 One (#1) (@jdoe)\n  \
             2222222 Two | pipes <b> (@ocat)\n  \
             3333333 Three (#3) (@jdoe)\n  \
             4444444 Four (Me Myself)\n\
             Authors: @jdoe, @ocat, Me Myself <me@example.com>\n\
             Authors to notify: @jdoe, @ocat\n"
        );
        let md = render_markdown(&r);
        assert!(md.starts_with("### Changes from `0000000` to `4444444`\n\n[Compare `0000000...4444444`](https://github.com/o/r/compare/0000000aaaa...4444444aaaa)\n"), "{md}");
        assert!(md.contains("| [`1111111`](https://github.com/o/r/commit/1111111aaaa) | One (#1) | @jdoe | [#1](https://github.com/o/r/pull/1) |"), "{md}");
        assert!(
            md.contains("| Two \\| pipes &lt;b&gt; | @ocat |  |"),
            "{md}"
        );
        assert!(
            md.ends_with(
                "**Authors:** @jdoe, @ocat, Me Myself\n\nAuthors to notify: @jdoe, @ocat\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn an_empty_report() {
        let r = ChangeReport::new(
            "https://gitlab.com/a/b",
            "aaaaaaa",
            "aaaaaaa",
            vec![],
            &[],
            None,
        );
        assert_eq!(
            render_text(&r),
            "Changes aaaaaaa..aaaaaaa: no commits\nCompare: https://gitlab.com/a/b/-/compare/aaaaaaa...aaaaaaa\nAuthors: none\nAuthors to notify: none\n"
        );
        assert!(render_markdown(&r).contains("No commits.\n\nNo authors to notify.\n"));
    }

    #[test]
    fn top_level_keys() {
        let v = top_level_values(
            "---\n$schema: /access/user-1.yml\nname: \"A: B\"\nroles:\n  name: nested\norg_username: x # c\ngithub_username: 'gh'\nname: later\n",
            &["$schema", "name", "org_username", "github_username", "missing"],
        );
        assert_eq!(
            v,
            [
                Some("/access/user-1.yml".into()),
                Some("A: B".into()),
                Some("x".into()),
                Some("gh".into()),
                None
            ]
        );
    }
}
