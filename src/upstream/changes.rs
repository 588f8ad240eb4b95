//! The change report of a promotion: the upstream commits, their authors and whom to notify, as text or Markdown.

use std::fmt::Write as _;

use crate::checkout::normalize_repo_url;
use crate::upstream::people::{Directory, People, Person};
use crate::upstream::CommitInfo;
use crate::util::short_id;

pub use crate::upstream::markdown::render_markdown;

/// Where the upstream is hosted, for links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Forge {
    /// github.com.
    GitHub,
    /// A GitLab instance (a host whose name contains `gitlab`).
    GitLab,
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
    /// The people who wrote them (bots apart), in the order of their newest commit.
    pub authors: Vec<Person>,
    /// The bots that wrote some of them; never notified.
    pub bots: Vec<Person>,
    /// The authors other than the person promoting.
    pub notify: Vec<Person>,
    /// For each commit, its author: in `authors`, or in `bots`.
    #[serde(skip)]
    by: Vec<By>,
}

/// Where a commit's author is in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Author(usize),
    Bot(usize),
}

impl ChangeReport {
    /// Builds the report for `commits` (of `from..to`) of the upstream `repo`: authors are
    /// grouped into persons through the checkout's users (`dir`), and `me` (an address or a
    /// handle; every address of that person counts) is not notified.
    pub fn new(
        repo: &str,
        from: &str,
        to: &str,
        commits: Vec<CommitInfo>,
        dir: &Directory,
        me: Option<&str>,
    ) -> ChangeReport {
        let web = web_url(repo);
        let people = People::group(&commits, dir);
        let me = me.and_then(|m| people.find(m, dir));
        let (mut authors, mut bots) = (Vec::new(), Vec::new());
        let mut place = Vec::with_capacity(people.persons.len());
        let mut notify = Vec::new();
        for (i, p) in people.persons.into_iter().enumerate() {
            if p.bot {
                place.push(By::Bot(bots.len()));
                bots.push(p);
            } else {
                if me != Some(i) {
                    notify.push(p.clone());
                }
                place.push(By::Author(authors.len()));
                authors.push(p);
            }
        }
        let by = people.of_commit.iter().map(|&p| place[p]).collect();
        ChangeReport {
            compare_url: compare_url(repo, from, to),
            forge: web.as_ref().map(|(f, _)| *f),
            web_url: web.map(|(_, u)| u),
            from: from.to_string(),
            to: to.to_string(),
            commits,
            authors,
            bots,
            notify,
            by,
        }
    }

    /// The author of the `i`th commit, as the report knows them.
    pub fn author_of(&self, i: usize) -> Option<&Person> {
        match self.by.get(i)? {
            By::Author(a) => self.authors.get(*a),
            By::Bot(b) => self.bots.get(*b),
        }
    }

    pub(super) fn pr_url(&self, n: u64) -> Option<String> {
        let web = self.web_url.as_deref()?;
        Some(match self.forge? {
            Forge::GitHub => format!("{web}/pull/{n}"),
            Forge::GitLab => format!("{web}/-/merge_requests/{n}"),
        })
    }

    pub(super) fn commit_url(&self, id: &str) -> Option<String> {
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

pub(super) fn commits_phrase(n: usize) -> String {
    match n {
        0 => "no commits".to_string(),
        1 => "1 commit".to_string(),
        n => format!("{n} commits"),
    }
}

/// The report as plain text: compare link, commit count, one line per commit, authors, bots,
/// whom to notify.
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
    for (i, c) in r.commits.iter().enumerate() {
        let who = r
            .author_of(i)
            .map_or_else(|| c.author_name.clone(), Person::short_display);
        let _ = writeln!(s, "  {} {} ({who})", c.short, c.subject);
    }
    let list = |v: &[Person]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().map(Person::display).collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(s, "Authors: {}", list(&r.authors));
    if !r.bots.is_empty() {
        let names: Vec<&str> = r.bots.iter().map(|b| b.name.as_str()).collect();
        let _ = writeln!(s, "Bots: {}", names.join(", "));
    }
    let _ = writeln!(s, "Authors to notify: {}", list(&r.notify));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::people::User;

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

    fn dir() -> Directory {
        let user = |path: &str, name: &str, org: &str, gh: Option<&str>| User {
            path: path.into(),
            name: name.into(),
            org_username: org.into(),
            github_username: gh.map(str::to_string),
        };
        Directory::new(
            vec![
                user("data/u/octo.yml", "Octo Cat", "ocat", Some("OCTO")),
                user("data/u/jane.yml", "Jane Doe", "jdoe", None),
                user("data/u/me.yml", "Me Myself", "me", None),
            ],
            Some("example.com"),
        )
    }

    #[test]
    fn authors_are_persons_bots_apart_and_me_is_not_notified() {
        let commits = vec![
            commit("1111111aaaa", "One (#1)", "Jane Doe", "jane@gmail.com"),
            commit(
                "2222222aaaa",
                "Two | pipes <b>",
                "Octo",
                "9+octo@users.noreply.github.com",
            ),
            commit("3333333aaaa", "Three (#3)", "Jane D.", "JANE@gmail.com"),
            commit("4444444aaaa", "Four", "Me Myself", "me@home.net"),
            commit("5555555aaaa", "Five", "Me Myself", "me2@home.net"),
            commit(
                "6666666aaaa",
                "Bump",
                "renovate[bot]",
                "29139614+renovate[bot]@users.noreply.github.com",
            ),
            commit("7777777aaaa", "Seven", "Rita Stranger", "rita@x.org"),
        ];
        // The promoter gives their org address: both their addresses leave the list.
        let r = ChangeReport::new(
            "https://github.com/o/r",
            "0000000aaaa",
            "7777777aaaa",
            commits,
            &dir(),
            Some("ME@example.com"),
        );
        let handles: Vec<Option<&str>> = r.authors.iter().map(|a| a.handle.as_deref()).collect();
        assert_eq!(handles, [Some("jdoe"), Some("ocat"), Some("me"), None]);
        assert_eq!(r.bots.len(), 1);
        let notify: Vec<String> = r.notify.iter().map(Person::short_display).collect();
        assert_eq!(notify, ["@jdoe", "@ocat", "Rita Stranger"]);
        assert_eq!(
            render_text(&r),
            "Changes 0000000..7777777: 7 commits\n\
             Compare: https://github.com/o/r/compare/0000000aaaa...7777777aaaa\n  \
             1111111 One (#1) (@jdoe)\n  \
             2222222 Two | pipes <b> (@ocat)\n  \
             3333333 Three (#3) (@jdoe)\n  \
             4444444 Four (@me)\n  \
             5555555 Five (@me)\n  \
             6666666 Bump (renovate[bot])\n  \
             7777777 Seven (Rita Stranger)\n\
             Authors: @jdoe, @ocat, @me, Rita Stranger <rita@x.org>\n\
             Bots: renovate[bot]\n\
             Authors to notify: @jdoe, @ocat, Rita Stranger <rita@x.org>\n"
        );
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
    fn an_empty_report() {
        let r = ChangeReport::new(
            "https://gitlab.com/a/b",
            "aaaaaaa",
            "aaaaaaa",
            vec![],
            &Directory::default(),
            None,
        );
        assert_eq!(
            render_text(&r),
            "Changes aaaaaaa..aaaaaaa: no commits\nCompare: https://gitlab.com/a/b/-/compare/aaaaaaa...aaaaaaa\nAuthors: none\nAuthors to notify: none\n"
        );
        assert!(render_markdown(&r).contains("No commits.\n\nNo authors to notify.\n"));
    }
}
