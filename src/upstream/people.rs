//! The people behind upstream commits: the checkout's user files, which user an author is, and
//! the grouping of a range's addresses and names into persons (bots apart).
//!
//! An author is matched to a user file (`/access/user-1.yml`) by, in this order:
//! 1. a GitHub no-reply address (`<id>+<login>@users.noreply.github.com`) whose login is the
//!    user's `github_username` (case-insensitive);
//! 2. the organization's address `<org_username>@<smtp.mailAddress>`, the mail domain read from
//!    the app-interface settings file (`/app-interface/app-interface-settings-1.yml`);
//! 3. the author name equal to the user's `name` (when no other user has that name) or to their
//!    `github_username`.
//!
//! Every commit whose address or name leads to the same user is that one person; an address seen
//! once with a matching name makes all its commits that person's; authors without a user file
//! are one person per address, and addresses that share a name are one person too. An author
//! whose name or GitHub login ends in `[bot]` is a bot, matched to nobody.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Result;
use crate::upstream::CommitInfo;

/// The app-interface schema of user files.
pub const USER_SCHEMA: &str = "/access/user-1.yml";
/// The schema of the app-interface settings file (it holds the mail domain, `smtp.mailAddress`).
pub const SETTINGS_SCHEMA: &str = "/app-interface/app-interface-settings-1.yml";

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

/// The users of a checkout, indexed for matching authors.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    users: Vec<User>,
    /// The organization's mail domain (`smtp.mailAddress` of the settings file), lowercase.
    mail_domain: Option<String>,
    by_github: HashMap<String, usize>,
    by_org: HashMap<String, usize>,
    /// Lowercase name to user; `None` when two users share the name.
    by_name: HashMap<String, Option<usize>>,
}

impl Directory {
    /// Indexes `users`; `mail_domain` is the domain of the organization's addresses.
    pub fn new(users: Vec<User>, mail_domain: Option<&str>) -> Directory {
        let mut d = Directory {
            mail_domain: mail_domain
                .map(|m| m.trim().trim_start_matches('@').to_ascii_lowercase())
                .filter(|m| !m.is_empty()),
            ..Directory::default()
        };
        for (i, u) in users.iter().enumerate() {
            if let Some(g) = &u.github_username {
                d.by_github.entry(g.to_lowercase()).or_insert(i);
            }
            d.by_org.entry(u.org_username.to_lowercase()).or_insert(i);
            let name = u.name.trim().to_lowercase();
            if !name.is_empty() {
                d.by_name
                    .entry(name)
                    .and_modify(|v| *v = None)
                    .or_insert(Some(i));
            }
        }
        d.users = users;
        d
    }

    /// The user files of the checkout at `root` and its mail domain. With `cache_dir`, the scan
    /// cache there spares reading the files that are neither.
    pub fn load(root: &Path, cache_dir: Option<&Path>) -> Result<Directory> {
        let needles = vec![USER_SCHEMA.to_string(), SETTINGS_SCHEMA.to_string()];
        let cache = cache_dir.map(|d| {
            crate::discovery::session::cache_file(
                d,
                root,
                &crate::discovery::walk::Needles {
                    shared: needles.clone(),
                    alone: Vec::new(),
                },
            )
        });
        // User files and the settings are under `data/`: `resources/` is not walked.
        let found = crate::discovery::walk::scan_in(root, &["data"], &needles, cache.as_deref())?;
        let files: Vec<_> = found
            .files
            .into_iter()
            .filter(|f| f.rel.starts_with("data/"))
            .collect();
        let read = crate::util::on_all_cores(&files, |chunk| {
            chunk
                .iter()
                .filter_map(|f| read_file(&f.rel, &String::from_utf8_lossy(&f.bytes)))
                .collect()
        });
        let mut users = Vec::new();
        let mut domain = None;
        for r in read {
            match r {
                Read::User(u) => users.push(u),
                Read::MailDomain(m) => domain = domain.or(Some(m)),
            }
        }
        users.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Directory::new(users, domain.as_deref()))
    }

    /// The users, sorted by path.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The organization's mail domain, when the settings file names it.
    pub fn mail_domain(&self) -> Option<&str> {
        self.mail_domain.as_deref()
    }

    /// The user an author (`name`, `email`) is, by the rules of the module.
    pub fn user_of(&self, name: &str, email: &str) -> Option<&User> {
        self.index_of(name, email).map(|i| &self.users[i])
    }

    fn index_of(&self, name: &str, email: &str) -> Option<usize> {
        if let Some(login) = github_login(email) {
            if let Some(&i) = self.by_github.get(&login.to_lowercase()) {
                return Some(i);
            }
        }
        if let (Some(domain), Some((local, at))) =
            (&self.mail_domain, email.trim().rsplit_once('@'))
        {
            if at.eq_ignore_ascii_case(domain) {
                if let Some(&i) = self.by_org.get(&local.to_lowercase()) {
                    return Some(i);
                }
            }
        }
        let name = name.trim().to_lowercase();
        if name.is_empty() {
            return None;
        }
        if let Some(Some(i)) = self.by_name.get(&name) {
            return Some(*i);
        }
        self.by_github.get(&name).copied()
    }

    /// The `org_username` of the user `who` names (see [`Directory::user_named`]).
    pub fn handle_of(&self, who: &str) -> Option<&str> {
        self.user_named(who)
            .map(|i| self.users[i].org_username.as_str())
    }

    /// The user `who` names: an address (as [`Directory::user_of`] matches it), an
    /// `org_username` or a `github_username`, with or without `@`.
    pub fn user_named(&self, who: &str) -> Option<usize> {
        let who = who.trim();
        if who.contains('@') && !who.starts_with('@') {
            return self.index_of("", who);
        }
        let bare = who.trim_start_matches('@').to_lowercase();
        self.by_org
            .get(&bare)
            .or_else(|| self.by_github.get(&bare))
            .copied()
    }
}

enum Read {
    User(User),
    MailDomain(String),
}

/// A user file's `name`, `org_username` and `github_username`, or the settings file's mail
/// domain; nothing for any other file (or one that does not parse).
fn read_file(rel: &str, text: &str) -> Option<Read> {
    let docs = crate::yaml::parse(text).ok()?;
    let doc = docs.first()?;
    match doc.str_at("$schema")? {
        USER_SCHEMA => {
            let org_username = doc.str_at("org_username")?.trim();
            if org_username.is_empty() {
                return None;
            }
            Some(Read::User(User {
                path: rel.to_string(),
                name: doc.str_at("name").unwrap_or_default().trim().to_string(),
                org_username: org_username.to_string(),
                github_username: doc
                    .str_at("github_username")
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string),
            }))
        }
        SETTINGS_SCHEMA => {
            let domain = doc.get("smtp")?.str_at("mailAddress")?.trim();
            (!domain.is_empty()).then(|| Read::MailDomain(domain.to_string()))
        }
        _ => None,
    }
}

/// The GitHub login of a `<id>+<login>@users.noreply.github.com` or `<login>@users.noreply.github.com` address.
pub fn github_login(email: &str) -> Option<&str> {
    const DOMAIN: &str = "@users.noreply.github.com";
    let email = email.trim();
    let cut = email.len().checked_sub(DOMAIN.len())?;
    if !email.get(cut..)?.eq_ignore_ascii_case(DOMAIN) {
        return None;
    }
    let local = &email[..cut];
    let login = local.split_once('+').map_or(local, |(_, l)| l);
    (!login.is_empty()).then_some(login)
}

/// An author that is a program: a name or GitHub login ending in `[bot]`.
pub fn is_bot(name: &str, email: &str) -> bool {
    let bot = |s: &str| s.trim().to_ascii_lowercase().ends_with("[bot]");
    bot(name) || github_login(email).is_some_and(bot)
}

/// One person (or one bot) among the authors of a range.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Person {
    /// The user file's `name`, else the name they committed with most often.
    pub name: String,
    /// Their `org_username`, when a user file matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// The user file, when one matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_file: Option<String>,
    /// Every address they committed with, first seen first.
    pub emails: Vec<String>,
    /// Every name they committed with, first seen first.
    pub names: Vec<String>,
    /// Their commits in the range.
    pub commits: usize,
    /// A program, never notified.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bot: bool,
}

impl Person {
    /// `@handle`, else `Name <first email>`: for terminals, never for Markdown.
    pub fn display(&self) -> String {
        match &self.handle {
            Some(h) => format!("@{h}"),
            None => match self.emails.first() {
                Some(e) => format!("{} <{e}>", self.name),
                None => self.name.clone(),
            },
        }
    }

    /// `@handle`, else the name: for terminals.
    pub fn short_display(&self) -> String {
        match &self.handle {
            Some(h) => format!("@{h}"),
            None => self.name.clone(),
        }
    }

    /// Whether `who` (an address, or a handle with or without `@`) is this person, or names the
    /// same user file (`user`, from [`Directory::user_named`]).
    fn is(&self, who: &str, user: Option<&User>) -> bool {
        let who = who.trim();
        if self.emails.iter().any(|e| e.eq_ignore_ascii_case(who)) {
            return true;
        }
        if let (Some(u), Some(f)) = (user, &self.user_file) {
            return &u.path == f;
        }
        self.handle
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(who.trim_start_matches('@')))
    }
}

/// The authors of a range, grouped into persons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct People {
    /// Persons and bots, in the order of their first commit in the list (newest first).
    pub persons: Vec<Person>,
    /// For each commit, the index of its author in `persons`.
    pub of_commit: Vec<usize>,
}

impl People {
    /// Groups the authors of `commits` (see the module's rules).
    pub fn group(commits: &[CommitInfo], dir: &Directory) -> People {
        let n = commits.len();
        // Union-find over the commits, joined by user, by address, and (for commits with no
        // user) by name.
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        fn join(p: &mut [usize], a: usize, b: usize) {
            let (ra, rb) = (find(p, a), find(p, b));
            if ra != rb {
                p[ra.max(rb)] = ra.min(rb);
            }
        }
        let bots: Vec<bool> = commits
            .iter()
            .map(|c| is_bot(&c.author_name, &c.author_email))
            .collect();
        let mut users: Vec<Option<usize>> = commits
            .iter()
            .zip(&bots)
            .map(|(c, bot)| {
                (!bot)
                    .then(|| dir.index_of(&c.author_name, &c.author_email))
                    .flatten()
            })
            .collect();
        // A name that commits of exactly one user carry makes the other commits of that name
        // theirs too.
        let mut name_users: HashMap<String, Option<usize>> = HashMap::new();
        for (c, u) in commits.iter().zip(&users) {
            if let Some(u) = *u {
                name_users
                    .entry(c.author_name.trim().to_lowercase())
                    .and_modify(|v| {
                        if *v != Some(u) {
                            *v = None;
                        }
                    })
                    .or_insert(Some(u));
            }
        }
        for (i, c) in commits.iter().enumerate() {
            if users[i].is_none() && !bots[i] {
                users[i] = name_users
                    .get(&c.author_name.trim().to_lowercase())
                    .copied()
                    .flatten();
            }
        }
        let mut first_by: HashMap<(u8, String), usize> = HashMap::new();
        for (i, c) in commits.iter().enumerate() {
            let mut keys = vec![(u8::from(bots[i]), c.author_email.trim().to_lowercase())];
            match users[i] {
                Some(u) => keys.push((2, u.to_string())),
                None => keys.push((3 + u8::from(bots[i]), c.author_name.trim().to_lowercase())),
            }
            for key in keys {
                if key.1.is_empty() {
                    continue;
                }
                match first_by.get(&key) {
                    Some(&j) => join(&mut parent, i, j),
                    None => {
                        first_by.insert(key, i);
                    }
                }
            }
        }
        let mut index_of_root: HashMap<usize, usize> = HashMap::new();
        let mut persons: Vec<Person> = Vec::new();
        let mut names: Vec<HashMap<String, usize>> = Vec::new();
        let mut user_of: Vec<Option<usize>> = Vec::new();
        let mut of_commit = Vec::with_capacity(n);
        for (i, c) in commits.iter().enumerate() {
            let root = find(&mut parent, i);
            let p = *index_of_root.entry(root).or_insert_with(|| {
                persons.push(Person {
                    name: String::new(),
                    handle: None,
                    user_file: None,
                    emails: Vec::new(),
                    names: Vec::new(),
                    commits: 0,
                    bot: bots[i],
                });
                names.push(HashMap::new());
                user_of.push(None);
                persons.len() - 1
            });
            of_commit.push(p);
            let person = &mut persons[p];
            person.commits += 1;
            let email = c.author_email.trim();
            if !email.is_empty() && !person.emails.iter().any(|e| e.eq_ignore_ascii_case(email)) {
                person.emails.push(email.to_string());
            }
            let name = c.author_name.trim();
            if !name.is_empty() && !person.names.iter().any(|x| x == name) {
                person.names.push(name.to_string());
            }
            *names[p].entry(name.to_string()).or_default() += 1;
            if user_of[p].is_none() {
                user_of[p] = users[i];
            }
        }
        for (p, person) in persons.iter_mut().enumerate() {
            match user_of[p].map(|u| &dir.users[u]) {
                Some(u) => {
                    person.handle = Some(u.org_username.clone());
                    person.user_file = Some(u.path.clone());
                    person.name = if u.name.is_empty() {
                        u.org_username.clone()
                    } else {
                        u.name.clone()
                    };
                }
                None => {
                    // The name used most often; on a tie, the one seen first (the newest).
                    let mut best: Option<(&String, usize)> = None;
                    for n in &person.names {
                        let count = names[p].get(n).copied().unwrap_or(0);
                        if best.is_none_or(|(_, c)| count > c) {
                            best = Some((n, count));
                        }
                    }
                    person.name = best.map_or_else(
                        || person.emails.first().cloned().unwrap_or_default(),
                        |(n, _)| n.clone(),
                    );
                }
            }
        }
        People { persons, of_commit }
    }

    /// The index of the person `who` (an address or a handle) names, if they are in the range.
    pub fn find(&self, who: &str, dir: &Directory) -> Option<usize> {
        let who = who.trim();
        if who.is_empty() {
            return None;
        }
        let user = dir.user_named(who).map(|i| &dir.users[i]);
        self.persons.iter().position(|p| !p.bot && p.is(who, user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::short_id;

    fn commit(id: &str, name: &str, email: &str) -> CommitInfo {
        CommitInfo {
            id: id.to_string(),
            short: short_id(id).to_string(),
            subject: "s".to_string(),
            author_name: name.to_string(),
            author_email: email.to_string(),
            pr: None,
        }
    }

    fn user(path: &str, name: &str, org: &str, gh: Option<&str>) -> User {
        User {
            path: path.into(),
            name: name.into(),
            org_username: org.into(),
            github_username: gh.map(str::to_string),
        }
    }

    fn dir() -> Directory {
        Directory::new(
            vec![
                user(
                    "data/u/pp.yml",
                    "Pratik Panda",
                    "ppanda",
                    Some("devppratik"),
                ),
                user("data/u/oc.yml", "Octo Cat", "ocat", Some("OCTO")),
                user("data/u/j1.yml", "John Smith", "jsmith", None),
                user("data/u/j2.yml", "John Smith", "jsmith2", None),
                user("data/u/nn.yml", "", "noname", Some("nn-gh")),
            ],
            Some("@Example.COM"),
        )
    }

    #[test]
    fn authors_are_matched_by_login_org_address_name_and_login_name() {
        let d = dir();
        let who = |n: &str, e: &str| d.user_of(n, e).map(|u| u.org_username.as_str());
        assert_eq!(who("x", "1+octo@users.noreply.github.com"), Some("ocat"));
        assert_eq!(who("x", "OCAT@example.com"), Some("ocat"));
        assert_eq!(who("x", "ocat@elsewhere.com"), None);
        assert_eq!(who("pratik panda", "p@gmail.com"), Some("ppanda"));
        assert_eq!(who("devppratik", "p2@gmail.com"), Some("ppanda"));
        assert_eq!(who("NN-GH", "n@gmail.com"), Some("noname"));
        // Two users share the name: no match by name.
        assert_eq!(who("John Smith", "js@gmail.com"), None);
        assert_eq!(who("", ""), None);
    }

    #[test]
    fn one_person_with_two_addresses_and_two_names() {
        let commits = vec![
            commit("a1", "devppratik", "pratik@gmail.com"),
            commit("a2", "Pratik Panda", "ppanda@redhat.com"),
            commit("a3", "Pratik Panda", "ppanda@redhat.com"),
            commit("a4", "P. Panda", "pratik@gmail.com"),
            commit("a5", "Jane Roe", "jane@a.com"),
            commit("a6", "Jane Roe", "jane@b.com"),
            commit(
                "a7",
                "dependabot[bot]",
                "49699333+dependabot[bot]@users.noreply.github.com",
            ),
            commit("a8", "Octo", "9+octo@users.noreply.github.com"),
            commit("a9", "O. Cat", "OCAT@example.com"),
            commit("b1", "O. Cat", "oc@home.net"),
        ];
        let p = People::group(&commits, &dir());
        let summary: Vec<(&str, Option<&str>, usize, bool)> = p
            .persons
            .iter()
            .map(|x| (x.name.as_str(), x.handle.as_deref(), x.commits, x.bot))
            .collect();
        assert_eq!(
            summary,
            [
                ("Pratik Panda", Some("ppanda"), 4, false),
                ("Jane Roe", None, 2, false),
                ("dependabot[bot]", None, 1, true),
                ("Octo Cat", Some("ocat"), 3, false),
            ]
        );
        assert_eq!(p.of_commit, [0, 0, 0, 0, 1, 1, 2, 3, 3, 3]);
        assert_eq!(
            p.persons[0].emails,
            ["pratik@gmail.com", "ppanda@redhat.com"]
        );
        assert_eq!(p.persons[1].emails, ["jane@a.com", "jane@b.com"]);
        let d = dir();
        // By any address, by the org address, by handle.
        assert_eq!(p.find("PRATIK@gmail.com", &d), Some(0));
        assert_eq!(p.find("ppanda@example.com", &d), Some(0));
        assert_eq!(p.find("@ppanda", &d), Some(0));
        assert_eq!(p.find("devppratik", &d), Some(0));
        assert_eq!(p.find("jane@b.com", &d), Some(1));
        assert_eq!(p.find("nobody@x.com", &d), None);
        assert_eq!(p.find("", &d), None);
    }

    #[test]
    fn unmapped_name_is_the_most_used() {
        let commits = vec![
            commit("a1", "jr", "jane@a.com"),
            commit("a2", "Jane Roe", "jane@a.com"),
            commit("a3", "Jane Roe", "jane@a.com"),
        ];
        let p = People::group(&commits, &Directory::default());
        assert_eq!(p.persons.len(), 1);
        assert_eq!(p.persons[0].name, "Jane Roe");
        assert_eq!(p.persons[0].names, ["jr", "Jane Roe"]);
    }

    #[test]
    fn bots() {
        assert!(is_bot("red-hat-konflux[bot]", "x@y.z"));
        assert!(is_bot(
            "Konflux",
            "1+red-hat-konflux[bot]@users.noreply.github.com"
        ));
        assert!(!is_bot("Bot Tom", "tom@x.com"));
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
    fn user_and_settings_files_are_read_with_the_yaml_parser() {
        let u = read_file(
            "data/u.yml",
            "---\n$schema: /access/user-1.yml\nname: \"A: B\"\nroles:\n  name: nested\norg_username: x # c\ngithub_username: 'gh'\n",
        );
        assert!(
            matches!(u, Some(Read::User(User { ref name, ref org_username, ref github_username, .. }))
            if name == "A: B" && org_username == "x" && github_username.as_deref() == Some("gh"))
        );
        let s = read_file(
            "data/s.yml",
            "$schema: /app-interface/app-interface-settings-1.yml\nsmtp:\n  mailAddress: redhat.com\n",
        );
        assert!(matches!(s, Some(Read::MailDomain(ref m)) if m == "redhat.com"));
        assert!(read_file("data/x.yml", "$schema: /access/user-1.yml\nname: x\n").is_none());
        assert!(read_file("data/x.yml", "{ unclosed").is_none());
    }
}
