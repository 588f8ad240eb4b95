//! Image references: `[host/]name` as users write it, the registry and API host it names,
//! the repository path, and tags.

/// The canonical reference `host/name:tag` of an image, e.g. `docker.io/library/alpine:3`.
/// An image that cannot be parsed is returned as given, followed by `:tag`.
pub fn image_ref(image: &str, tag: &str) -> String {
    match ImageName::parse(image) {
        Ok(name) => format!("{}/{}:{}", name.host, name.path, tag),
        Err(_) => format!("{}:{}", image.trim(), tag),
    }
}

/// A parsed image name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ImageName {
    /// The registry host as users write it (`docker.io`, `quay.io`, `localhost:5000`), lowercase.
    pub(super) host: String,
    /// The host the API is served on (`registry-1.docker.io` for `docker.io`).
    pub(super) api_host: String,
    /// The repository path, e.g. `app-sre/qontract-reconcile` or `library/alpine`.
    pub(super) path: String,
}

impl ImageName {
    pub(super) fn parse(image: &str) -> Result<ImageName, String> {
        let image = image.trim();
        if image.is_empty() {
            return Err("the image name is empty".into());
        }
        if image.contains("://") {
            return Err(format!(
                "`{image}` is a URL; give the image as host/name \
                 (use a registry override for the URL)"
            ));
        }
        if image.contains('@') {
            return Err(format!(
                "`{image}` includes a digest; give the image without it"
            ));
        }
        let (host, path) = match image.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_ascii_lowercase(), rest.to_string())
            }
            _ => ("docker.io".to_string(), image.to_string()),
        };
        if !host.chars().all(is_host_char) {
            return Err(format!("`{host}` is not a registry host"));
        }
        if path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            return Err(format!(
                "`{image}` already includes a tag; give the image without it"
            ));
        }
        let is_docker_hub = matches!(
            host.as_str(),
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        );
        let (host, api_host, path) = if is_docker_hub {
            let path = if path.contains('/') {
                path
            } else {
                format!("library/{path}")
            };
            (
                "docker.io".to_string(),
                "registry-1.docker.io".to_string(),
                path,
            )
        } else {
            (host.clone(), host, path)
        };
        check_repository(&path)?;
        Ok(ImageName {
            host,
            api_host,
            path,
        })
    }
}

pub(super) fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_')
}

/// A repository path: `/`-separated components of `[a-z0-9._-]`, each starting and ending
/// alphanumeric.
fn check_repository(path: &str) -> Result<(), String> {
    let ok = !path.is_empty()
        && path.len() <= 255
        && path.split('/').all(|c| {
            let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
            c.chars().next().is_some_and(alnum)
                && c.chars().last().is_some_and(alnum)
                && c.chars()
                    .all(|ch| alnum(ch) || matches!(ch, '.' | '_' | '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{path}` is not a valid repository name (lowercase letters, digits, `._-`, `/`)"
        ))
    }
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(super) fn check_tag(tag: &str) -> Result<(), String> {
    let ok = tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is not a valid tag (letters, digits, `_.-`, at most 128)"
        ))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A parsed image name (the tests of the registry modules use it).
    pub(in crate::registry) fn name(image: &str) -> ImageName {
        ImageName::parse(image).unwrap()
    }

    #[test]
    fn image_names() {
        let n = name("quay.io/app-sre/qontract-reconcile");
        assert_eq!(
            (n.host.as_str(), n.api_host.as_str(), n.path.as_str()),
            ("quay.io", "quay.io", "app-sre/qontract-reconcile")
        );
        let n = name("alpine");
        assert_eq!(
            (n.host.as_str(), n.api_host.as_str(), n.path.as_str()),
            ("docker.io", "registry-1.docker.io", "library/alpine")
        );
        let n = name("bitnami/redis");
        assert_eq!(
            (n.host.as_str(), n.path.as_str()),
            ("docker.io", "bitnami/redis")
        );
        let n = name("docker.io/alpine");
        assert_eq!(n.path, "library/alpine");
        let n = name("localhost/foo");
        assert_eq!((n.host.as_str(), n.path.as_str()), ("localhost", "foo"));
        let n = name("127.0.0.1:5000/a/b");
        assert_eq!(
            (n.host.as_str(), n.path.as_str()),
            ("127.0.0.1:5000", "a/b")
        );
        assert_eq!(
            image_ref("quay.io/app-sre/qontract-reconcile", "abc1234"),
            "quay.io/app-sre/qontract-reconcile:abc1234"
        );
        assert_eq!(image_ref("alpine", "3"), "docker.io/library/alpine:3");
    }

    #[test]
    fn bad_images_and_tags() {
        for bad in [
            "",
            "quay.io/app-sre/qr:tag",
            "quay.io/app-sre/qr@sha256:00",
            "https://quay.io/a",
            "quay.io/App-Sre/qr",
            "quay.io/a//b",
            "quay.io/a/b-",
        ] {
            assert!(ImageName::parse(bad).is_err(), "{bad}");
        }
        for bad in ["", "-x", "a/b", "a b", "a?x", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
        check_tag("abc1234").unwrap();
        check_tag("v1.2.3-rc_1").unwrap();
    }
}
