//! The resource registry: every resource the API serves, described once (group, version, kind,
//! names, scope, verbs, subresources). Discovery, routing and storage keys all read it. Built-in
//! resources are listed here; custom resources are added at run time from CRDs (`crd.rs`), by
//! replacing the `SharedRegistry`'s snapshot.

use std::sync::{Arc, RwLock};

/// A subresource such as `pods/status` or `deployments/scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subresource {
    pub name: String,
    /// The kind the subresource speaks, with its group and version (`autoscaling/v1 Scale`).
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

/// One resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub verbs: Vec<String>,
    pub subresources: Vec<Subresource>,
    /// A custom resource's `additionalPrinterColumns` (empty for built-ins).
    pub printer_columns: Vec<serde_json::Value>,
    /// Defined by a CRD (no strategic merge metadata; served as the CRD says).
    pub custom: bool,
    /// A custom resource's `openAPIV3Schema` (fields it knows; unknown ones are pruned).
    pub schema: Option<serde_json::Value>,
}

impl ResourceDef {
    /// `v1` for the core group, `apps/v1` otherwise.
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// All resources the server knows.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    resources: Vec<ResourceDef>,
}

const ALL_VERBS: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const NAMESPACE_VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// A built-in resource: `(group, version, kind, plural, short names, namespaced)`.
fn def(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    namespaced: bool,
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        short_names: strings(short),
        categories: Vec::new(),
        namespaced,
        verbs: strings(ALL_VERBS),
        subresources: Vec::new(),
        printer_columns: Vec::new(),
        custom: false,
        schema: None,
    }
}

impl ResourceDef {
    /// A resource defined at run time (a CRD's version).
    pub fn custom(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        singular: &str,
        namespaced: bool,
    ) -> Self {
        ResourceDef {
            singular: singular.into(),
            custom: true,
            ..def(group, version, kind, plural, &[], namespaced)
        }
    }

    pub fn with_names(mut self, short_names: Vec<String>, categories: Vec<String>) -> Self {
        self.short_names = short_names;
        self.categories = categories;
        self
    }

    /// Add the `status` subresource.
    pub fn with_status(self) -> Self {
        self.status()
    }

    /// Add the `scale` subresource.
    pub fn with_scale(self) -> Self {
        self.scale()
    }

    fn in_all(mut self) -> Self {
        self.categories = strings(&["all"]);
        self
    }

    fn verbs(mut self, verbs: &[&str]) -> Self {
        self.verbs = strings(verbs);
        self
    }

    /// Add a subresource speaking the resource's own kind (`status`).
    fn status(self) -> Self {
        let (g, v, k) = (self.group.clone(), self.version.clone(), self.kind.clone());
        self.sub("status", &g, &v, &k, &["get", "patch", "update"])
    }

    fn scale(self) -> Self {
        self.sub("scale", "autoscaling", "v1", "Scale", &["get", "patch", "update"])
    }

    fn sub(mut self, name: &str, group: &str, version: &str, kind: &str, verbs: &[&str]) -> Self {
        self.subresources.push(Subresource {
            name: name.into(),
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            verbs: strings(verbs),
        });
        self
    }
}

impl Registry {
    /// The built-in resources of Kubernetes that k3rs serves.
    pub fn builtin() -> Self {
        let rbac = "rbac.authorization.k8s.io";
        let resources = vec![
            def("", "v1", "Namespace", "namespaces", &["ns"], false)
                .verbs(NAMESPACE_VERBS)
                .status(),
            def("", "v1", "Node", "nodes", &["no"], false).status(),
            def("", "v1", "Pod", "pods", &["po"], true)
                .in_all()
                .status()
                .sub("log", "", "v1", "Pod", &["get"])
                .sub("exec", "", "v1", "PodExecOptions", &["create", "get"])
                .sub("attach", "", "v1", "PodAttachOptions", &["create", "get"])
                .sub("portforward", "", "v1", "PodPortForwardOptions", &["create", "get"])
                .sub("binding", "", "v1", "Binding", &["create"])
                .sub("eviction", "policy", "v1", "Eviction", &["create"]),
            def("", "v1", "Service", "services", &["svc"], true).in_all().status(),
            def("", "v1", "Endpoints", "endpoints", &["ep"], true),
            def("", "v1", "ConfigMap", "configmaps", &["cm"], true),
            def("", "v1", "Secret", "secrets", &[], true),
            def("", "v1", "ServiceAccount", "serviceaccounts", &["sa"], true).sub(
                "token",
                "authentication.k8s.io",
                "v1",
                "TokenRequest",
                &["create"],
            ),
            def("", "v1", "Event", "events", &["ev"], true),
            def("coordination.k8s.io", "v1", "Lease", "leases", &[], true),
            def("apps", "v1", "Deployment", "deployments", &["deploy"], true)
                .in_all()
                .status()
                .scale(),
            def("apps", "v1", "ReplicaSet", "replicasets", &["rs"], true).in_all().status().scale(),
            def("apps", "v1", "DaemonSet", "daemonsets", &["ds"], true).in_all().status(),
            def("apps", "v1", "StatefulSet", "statefulsets", &["sts"], true)
                .in_all()
                .status()
                .scale(),
            def("batch", "v1", "Job", "jobs", &[], true).in_all().status(),
            def("batch", "v1", "CronJob", "cronjobs", &["cj"], true).in_all().status(),
            def("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", &[], true),
            def("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", &["netpol"], true),
            def(rbac, "v1", "Role", "roles", &[], true),
            def(rbac, "v1", "RoleBinding", "rolebindings", &[], true),
            def(rbac, "v1", "ClusterRole", "clusterroles", &[], false),
            def(rbac, "v1", "ClusterRoleBinding", "clusterrolebindings", &[], false),
            def(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                &["crd", "crds"],
                false,
            )
            .status(),
            // Served from the nodes' kubelet stats, never stored.
            def("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", &[], false)
                .verbs(&["get", "list"]),
            def("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", &[], true)
                .verbs(&["get", "list"]),
        ];
        Registry { resources }
    }

    /// This registry plus `extra` resources, skipping any that would take a group, version and
    /// plural already served.
    pub fn with(&self, extra: Vec<ResourceDef>) -> Self {
        let mut resources = self.resources.clone();
        for d in extra {
            if self.get(&d.group, &d.version, &d.plural).is_none() {
                resources.push(d);
            }
        }
        Registry { resources }
    }

    pub fn resources(&self) -> &[ResourceDef] {
        &self.resources
    }

    /// The API groups other than the core group, in first-registered order.
    pub fn groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = Vec::new();
        for r in &self.resources {
            if !r.group.is_empty() && !groups.contains(&r.group.as_str()) {
                groups.push(&r.group);
            }
        }
        groups
    }

    /// Versions served for `group`, preferred first.
    pub fn versions(&self, group: &str) -> Vec<&str> {
        let mut versions: Vec<&str> = Vec::new();
        for r in self.resources.iter().filter(|r| r.group == group) {
            if !versions.contains(&r.version.as_str()) {
                versions.push(&r.version);
            }
        }
        versions
    }

    /// Resources of one group-version.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceDef> {
        self.resources.iter().filter(move |r| r.group == group && r.version == version)
    }

    /// The resource of an object's `apiVersion` and `kind` (`apps/v1`, `Deployment`).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceDef> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.resources.iter().find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// The resource with this plural name in a group-version.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_builtins_the_issue_names_are_registered() {
        let r = Registry::builtin();
        for (g, p) in [
            ("", "namespaces"),
            ("", "pods"),
            ("", "events"),
            ("coordination.k8s.io", "leases"),
            ("apps", "deployments"),
            ("batch", "cronjobs"),
            ("discovery.k8s.io", "endpointslices"),
            ("rbac.authorization.k8s.io", "clusterrolebindings"),
            ("apiextensions.k8s.io", "customresourcedefinitions"),
        ] {
            assert!(r.get(g, "v1", p).is_some(), "{g}/{p}");
        }
        let deploy = r.get("apps", "v1", "deployments").unwrap();
        assert_eq!(deploy.group_version(), "apps/v1");
        let scale = deploy.subresources.iter().find(|s| s.name == "scale").unwrap();
        assert_eq!((scale.group.as_str(), scale.kind.as_str()), ("autoscaling", "Scale"));
        assert!(!r.get("", "v1", "namespaces").unwrap().namespaced);
        assert!(r.groups().starts_with(&["coordination.k8s.io", "apps"]));
        assert_eq!(r.versions(""), ["v1"]);
    }
}

/// The registry every part of the server reads, replaced as a whole when CRDs change. Readers
/// take a snapshot per request, so a request sees one consistent registry.
#[derive(Debug, Clone)]
pub struct SharedRegistry(Arc<RwLock<Arc<Registry>>>);

impl SharedRegistry {
    pub fn new(registry: Registry) -> Self {
        SharedRegistry(Arc::new(RwLock::new(Arc::new(registry))))
    }

    /// The registry as it is now.
    pub fn snapshot(&self) -> Arc<Registry> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Serve `registry` from now on.
    pub fn replace(&self, registry: Registry) {
        let mut g = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Arc::new(registry);
    }
}
