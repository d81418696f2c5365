//! Image names as containerd and the kubelet normalise them: `nginx` is
//! `docker.io/library/nginx:latest`, `me/app:1` is `docker.io/me/app:1`, a name with a
//! registry host (a dot, a colon or `localhost` before the first slash) keeps it, and a digest
//! reference (`@sha256:...`) gets no tag.

/// The full name of `name`.
pub fn normalize(name: &str) -> String {
    let name = name.trim();
    let (first, rest) = name.split_once('/').map_or((None, name), |(a, b)| (Some(a), b));
    let has_host = first.is_some_and(|h| h.contains('.') || h.contains(':') || h == "localhost");
    let path = match (first, has_host) {
        (Some(h), true) => format!("{h}/{rest}"),
        (Some(org), false) => format!("docker.io/{org}/{rest}"),
        (None, _) => format!("docker.io/library/{rest}"),
    };
    let last = path.rsplit('/').next().unwrap_or("");
    if path.contains('@') || last.contains(':') { path } else { format!("{path}:latest") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_as_containerd_does() {
        assert_eq!(normalize("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(normalize("me/app:1"), "docker.io/me/app:1");
        assert_eq!(normalize("registry.local:5000/app"), "registry.local:5000/app:latest");
        assert_eq!(normalize("localhost/app:2"), "localhost/app:2");
        assert_eq!(
            normalize("rancher/mirrored-pause@sha256:ab"),
            "docker.io/rancher/mirrored-pause@sha256:ab"
        );
        assert_eq!(normalize("docker.io/library/busybox:1.36"), "docker.io/library/busybox:1.36");
    }
}
