//! The protobuf schema of the Kubernetes objects `protobuf::decode` understands, as data.
//!
//! One `Message` per protobuf message: its fields by number, with the JSON name, the kind of
//! value and how the field repeats. Numbers and names follow the upstream `generated.proto` and
//! the JSON tags of the Go types (`omitempty` on a plain scalar becomes `omit`: a zero value is
//! dropped, as Go's JSON encoding drops it). Fields left out on purpose (managed fields, the
//! deprecated in-tree volume plugins, ephemeral containers, pod status contents, alpha fields
//! of newer releases) are refused by the decoder as unsupported.

use Kind::{Bool, Bytes, I32, I64, Inline, IntOrStr, MicroTime, Msg, Quantity, Str, Time};

/// A protobuf message: its display name (`v1.PodSpec`) and its fields.
pub(super) struct Message {
    pub(super) name: &'static str,
    pub(super) fields: &'static [Field],
}

/// One field of a message.
pub(super) struct Field {
    pub(super) number: u32,
    /// The JSON name; empty for an inline (embedded) message.
    pub(super) json: &'static str,
    pub(super) kind: Kind,
    pub(super) card: Card,
}

/// The kind of a field's value (of each element, for `Rep`; of each value, for `Map`).
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Str,
    /// JSON: base64.
    Bytes,
    I32,
    I64,
    Bool,
    Msg(&'static Message),
    /// An embedded Go struct with `json:",inline"`: its fields join the parent object.
    Inline(&'static Message),
    /// `metav1.Time` {seconds=1, nanos=2}: RFC 3339 in seconds, `null` when zero.
    Time,
    /// `metav1.MicroTime` {seconds=1, nanos=2}: RFC 3339 in microseconds, `null` when zero.
    MicroTime,
    /// `resource.Quantity` {string=1}: the string.
    Quantity,
    /// `intstr.IntOrString` {type=1, intVal=2, strVal=3}: a number or a string.
    IntOrStr,
}

/// How a field occurs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Card {
    /// Once; emitted whenever present on the wire (pointers, fields without `omitempty`).
    Opt,
    /// Once; a zero scalar is dropped (`omitempty` on a plain Go scalar).
    Omit,
    /// Repeated: a JSON array.
    Rep,
    /// `map<string, kind>`: a JSON object.
    Map,
}

const fn field(number: u32, json: &'static str, kind: Kind, card: Card) -> Field {
    Field { number, json, kind, card }
}

const fn opt(number: u32, json: &'static str, kind: Kind) -> Field {
    field(number, json, kind, Card::Opt)
}

const fn omit(number: u32, json: &'static str, kind: Kind) -> Field {
    field(number, json, kind, Card::Omit)
}

const fn rep(number: u32, json: &'static str, kind: Kind) -> Field {
    field(number, json, kind, Card::Rep)
}

const fn map(number: u32, json: &'static str, kind: Kind) -> Field {
    field(number, json, kind, Card::Map)
}

const fn message(name: &'static str, fields: &'static [Field]) -> Message {
    Message { name, fields }
}

/// The message of a top-level object, by its `apiVersion` and `kind`.
pub(super) fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    Some(match (api_version, kind) {
        ("v1", "Namespace") => &NAMESPACE,
        ("v1", "ConfigMap") => &CONFIG_MAP,
        ("v1", "Secret") => &SECRET,
        ("v1", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("v1", "Service") => &SERVICE,
        ("v1", "Pod") => &POD,
        ("v1", "ResourceQuota") => &RESOURCE_QUOTA,
        ("v1", "Binding") => &BINDING,
        ("v1", "Event") => &EVENT,
        ("apps/v1", "Deployment") => &DEPLOYMENT,
        ("batch/v1", "Job") => &JOB,
        ("batch/v1", "CronJob") => &CRON_JOB,
        ("rbac.authorization.k8s.io/v1", "Role") => &ROLE,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => &CLUSTER_ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => &ROLE_BINDING,
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => &CLUSTER_ROLE_BINDING,
        ("networking.k8s.io/v1", "Ingress") => &INGRESS,
        ("policy/v1", "PodDisruptionBudget") => &POD_DISRUPTION_BUDGET,
        ("policy/v1", "Eviction") => &EVICTION,
        ("scheduling.k8s.io/v1", "PriorityClass") => &PRIORITY_CLASS,
        ("authentication.k8s.io/v1", "TokenRequest") => &TOKEN_REQUEST,
        ("coordination.k8s.io/v1", "Lease") => &LEASE,
        ("v1", "DeleteOptions") => &DELETE_OPTIONS,
        ("meta.k8s.io/v1", "DeleteOptions") => &DELETE_OPTIONS,
        _ => return None,
    })
}

static NAMESPACE: Message = message(
    "v1.Namespace",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&NAMESPACE_SPEC)),
        opt(3, "status", Msg(&NAMESPACE_STATUS)),
    ],
);

static OBJECT_META: Message = message(
    "meta.v1.ObjectMeta",
    &[
        omit(1, "name", Str),
        omit(2, "generateName", Str),
        omit(3, "namespace", Str),
        omit(4, "selfLink", Str),
        omit(5, "uid", Str),
        omit(6, "resourceVersion", Str),
        omit(7, "generation", I64),
        opt(8, "creationTimestamp", Time),
        opt(9, "deletionTimestamp", Time),
        opt(10, "deletionGracePeriodSeconds", I64),
        map(11, "labels", Str),
        map(12, "annotations", Str),
        rep(13, "ownerReferences", Msg(&OWNER_REFERENCE)),
        rep(14, "finalizers", Str),
    ],
);

static OWNER_REFERENCE: Message = message(
    "meta.v1.OwnerReference",
    &[
        opt(5, "apiVersion", Str),
        opt(1, "kind", Str),
        opt(3, "name", Str),
        opt(4, "uid", Str),
        opt(6, "controller", Bool),
        opt(7, "blockOwnerDeletion", Bool),
    ],
);

static NAMESPACE_SPEC: Message = message("v1.NamespaceSpec", &[rep(1, "finalizers", Str)]);

static NAMESPACE_STATUS: Message = message(
    "v1.NamespaceStatus",
    &[omit(1, "phase", Str), rep(2, "conditions", Msg(&NAMESPACE_CONDITION))],
);

static NAMESPACE_CONDITION: Message = message(
    "v1.NamespaceCondition",
    &[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(4, "lastTransitionTime", Time),
        omit(5, "reason", Str),
        omit(6, "message", Str),
    ],
);

static CONFIG_MAP: Message = message(
    "v1.ConfigMap",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(4, "immutable", Bool),
        map(2, "data", Str),
        map(3, "binaryData", Bytes),
    ],
);

static SECRET: Message = message(
    "v1.Secret",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(5, "immutable", Bool),
        map(2, "data", Bytes),
        map(4, "stringData", Str),
        omit(3, "type", Str),
    ],
);

static SERVICE_ACCOUNT: Message = message(
    "v1.ServiceAccount",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        rep(2, "secrets", Msg(&OBJECT_REFERENCE)),
        rep(3, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        opt(4, "automountServiceAccountToken", Bool),
    ],
);

static OBJECT_REFERENCE: Message = message(
    "v1.ObjectReference",
    &[
        omit(1, "kind", Str),
        omit(2, "namespace", Str),
        omit(3, "name", Str),
        omit(4, "uid", Str),
        omit(5, "apiVersion", Str),
        omit(6, "resourceVersion", Str),
        omit(7, "fieldPath", Str),
    ],
);

static LOCAL_OBJECT_REFERENCE: Message =
    message("v1.LocalObjectReference", &[omit(1, "name", Str)]);

static SERVICE: Message = message(
    "v1.Service",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&SERVICE_SPEC)),
        opt(3, "status", Msg(&SERVICE_STATUS)),
    ],
);

static SERVICE_SPEC: Message = message(
    "v1.ServiceSpec",
    &[
        rep(1, "ports", Msg(&SERVICE_PORT)),
        map(2, "selector", Str),
        omit(3, "clusterIP", Str),
        rep(18, "clusterIPs", Str),
        omit(4, "type", Str),
        rep(5, "externalIPs", Str),
        omit(7, "sessionAffinity", Str),
        omit(8, "loadBalancerIP", Str),
        rep(9, "loadBalancerSourceRanges", Str),
        omit(10, "externalName", Str),
        omit(11, "externalTrafficPolicy", Str),
        omit(12, "healthCheckNodePort", I32),
        omit(13, "publishNotReadyAddresses", Bool),
        opt(14, "sessionAffinityConfig", Msg(&SESSION_AFFINITY_CONFIG)),
        rep(19, "ipFamilies", Str),
        opt(17, "ipFamilyPolicy", Str),
        opt(20, "allocateLoadBalancerNodePorts", Bool),
        opt(21, "loadBalancerClass", Str),
        opt(22, "internalTrafficPolicy", Str),
        opt(23, "trafficDistribution", Str),
    ],
);

static SERVICE_PORT: Message = message(
    "v1.ServicePort",
    &[
        omit(1, "name", Str),
        omit(2, "protocol", Str),
        opt(6, "appProtocol", Str),
        opt(3, "port", I32),
        opt(4, "targetPort", IntOrStr),
        omit(5, "nodePort", I32),
    ],
);

static SESSION_AFFINITY_CONFIG: Message =
    message("v1.SessionAffinityConfig", &[opt(1, "clientIP", Msg(&CLIENT_IP_CONFIG))]);

static CLIENT_IP_CONFIG: Message = message("v1.ClientIPConfig", &[opt(1, "timeoutSeconds", I32)]);

static SERVICE_STATUS: Message = message(
    "v1.ServiceStatus",
    &[opt(1, "loadBalancer", Msg(&LOAD_BALANCER_STATUS)), rep(2, "conditions", Msg(&CONDITION))],
);

static LOAD_BALANCER_STATUS: Message =
    message("v1.LoadBalancerStatus", &[rep(1, "ingress", Msg(&LOAD_BALANCER_INGRESS))]);

static LOAD_BALANCER_INGRESS: Message = message(
    "v1.LoadBalancerIngress",
    &[
        omit(1, "ip", Str),
        omit(2, "hostname", Str),
        opt(3, "ipMode", Str),
        rep(4, "ports", Msg(&PORT_STATUS)),
    ],
);

static PORT_STATUS: Message =
    message("v1.PortStatus", &[opt(1, "port", I32), opt(2, "protocol", Str), opt(3, "error", Str)]);

static CONDITION: Message = message(
    "meta.v1.Condition",
    &[
        opt(1, "type", Str),
        opt(2, "status", Str),
        omit(3, "observedGeneration", I64),
        opt(4, "lastTransitionTime", Time),
        opt(5, "reason", Str),
        opt(6, "message", Str),
    ],
);

static POD: Message = message(
    "v1.Pod",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&POD_SPEC)),
        opt(3, "status", Msg(&POD_STATUS)),
    ],
);

static POD_SPEC: Message = message(
    "v1.PodSpec",
    &[
        rep(1, "volumes", Msg(&VOLUME)),
        rep(20, "initContainers", Msg(&CONTAINER)),
        rep(2, "containers", Msg(&CONTAINER)),
        omit(3, "restartPolicy", Str),
        opt(4, "terminationGracePeriodSeconds", I64),
        opt(5, "activeDeadlineSeconds", I64),
        omit(6, "dnsPolicy", Str),
        map(7, "nodeSelector", Str),
        omit(8, "serviceAccountName", Str),
        omit(9, "serviceAccount", Str),
        opt(21, "automountServiceAccountToken", Bool),
        omit(10, "nodeName", Str),
        omit(11, "hostNetwork", Bool),
        omit(12, "hostPID", Bool),
        omit(13, "hostIPC", Bool),
        opt(27, "shareProcessNamespace", Bool),
        opt(14, "securityContext", Msg(&POD_SECURITY_CONTEXT)),
        rep(15, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        omit(16, "hostname", Str),
        omit(17, "subdomain", Str),
        opt(18, "affinity", Msg(&AFFINITY)),
        omit(19, "schedulerName", Str),
        rep(22, "tolerations", Msg(&TOLERATION)),
        rep(23, "hostAliases", Msg(&HOST_ALIAS)),
        omit(24, "priorityClassName", Str),
        opt(25, "priority", I32),
        opt(26, "dnsConfig", Msg(&POD_DNS_CONFIG)),
        rep(28, "readinessGates", Msg(&POD_READINESS_GATE)),
        opt(29, "runtimeClassName", Str),
        opt(30, "enableServiceLinks", Bool),
        opt(31, "preemptionPolicy", Str),
        map(32, "overhead", Quantity),
        rep(33, "topologySpreadConstraints", Msg(&TOPOLOGY_SPREAD_CONSTRAINT)),
        opt(35, "setHostnameAsFQDN", Bool),
        opt(36, "os", Msg(&POD_OS)),
        opt(37, "hostUsers", Bool),
        rep(38, "schedulingGates", Msg(&POD_SCHEDULING_GATE)),
        rep(39, "resourceClaims", Msg(&POD_RESOURCE_CLAIM)),
        opt(40, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        opt(41, "hostnameOverride", Str),
        opt(43, "schedulingGroup", Msg(&POD_SCHEDULING_GROUP)),
        rep(44, "evictionResponders", Msg(&EVICTION_RESPONDER)),
    ],
);

static VOLUME: Message =
    message("v1.Volume", &[opt(1, "name", Str), opt(2, "", Inline(&VOLUME_SOURCE))]);

static VOLUME_SOURCE: Message = message(
    "v1.VolumeSource",
    &[
        opt(1, "hostPath", Msg(&HOST_PATH_VOLUME_SOURCE)),
        opt(2, "emptyDir", Msg(&EMPTY_DIR_VOLUME_SOURCE)),
        opt(6, "secret", Msg(&SECRET_VOLUME_SOURCE)),
        opt(7, "nfs", Msg(&NFS_VOLUME_SOURCE)),
        opt(10, "persistentVolumeClaim", Msg(&PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE)),
        opt(16, "downwardAPI", Msg(&DOWNWARD_API_VOLUME_SOURCE)),
        opt(19, "configMap", Msg(&CONFIG_MAP_VOLUME_SOURCE)),
        opt(26, "projected", Msg(&PROJECTED_VOLUME_SOURCE)),
        opt(28, "csi", Msg(&CSI_VOLUME_SOURCE)),
        opt(29, "ephemeral", Msg(&EPHEMERAL_VOLUME_SOURCE)),
        opt(30, "image", Msg(&IMAGE_VOLUME_SOURCE)),
    ],
);

static HOST_PATH_VOLUME_SOURCE: Message =
    message("v1.HostPathVolumeSource", &[opt(1, "path", Str), opt(2, "type", Str)]);

static EMPTY_DIR_VOLUME_SOURCE: Message = message(
    "v1.EmptyDirVolumeSource",
    &[omit(1, "medium", Str), opt(2, "sizeLimit", Quantity), opt(3, "mode", I32)],
);

static SECRET_VOLUME_SOURCE: Message = message(
    "v1.SecretVolumeSource",
    &[
        omit(1, "secretName", Str),
        rep(2, "items", Msg(&KEY_TO_PATH)),
        opt(3, "defaultMode", I32),
        opt(4, "optional", Bool),
        opt(5, "defaultUser", I64),
    ],
);

static KEY_TO_PATH: Message = message(
    "v1.KeyToPath",
    &[opt(1, "key", Str), opt(2, "path", Str), opt(3, "mode", I32), opt(4, "user", I64)],
);

static NFS_VOLUME_SOURCE: Message = message(
    "v1.NFSVolumeSource",
    &[opt(1, "server", Str), opt(2, "path", Str), omit(3, "readOnly", Bool)],
);

static PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: Message = message(
    "v1.PersistentVolumeClaimVolumeSource",
    &[opt(1, "claimName", Str), omit(2, "readOnly", Bool)],
);

static DOWNWARD_API_VOLUME_SOURCE: Message = message(
    "v1.DownwardAPIVolumeSource",
    &[
        rep(1, "items", Msg(&DOWNWARD_API_VOLUME_FILE)),
        opt(2, "defaultMode", I32),
        opt(3, "defaultUser", I64),
    ],
);

static DOWNWARD_API_VOLUME_FILE: Message = message(
    "v1.DownwardAPIVolumeFile",
    &[
        opt(1, "path", Str),
        opt(2, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
        opt(3, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
        opt(4, "mode", I32),
        opt(5, "user", I64),
    ],
);

static OBJECT_FIELD_SELECTOR: Message =
    message("v1.ObjectFieldSelector", &[omit(1, "apiVersion", Str), opt(2, "fieldPath", Str)]);

static RESOURCE_FIELD_SELECTOR: Message = message(
    "v1.ResourceFieldSelector",
    &[omit(1, "containerName", Str), opt(2, "resource", Str), opt(3, "divisor", Quantity)],
);

static CONFIG_MAP_VOLUME_SOURCE: Message = message(
    "v1.ConfigMapVolumeSource",
    &[
        opt(1, "", Inline(&LOCAL_OBJECT_REFERENCE)),
        rep(2, "items", Msg(&KEY_TO_PATH)),
        opt(3, "defaultMode", I32),
        opt(4, "optional", Bool),
        opt(5, "defaultUser", I64),
    ],
);

static PROJECTED_VOLUME_SOURCE: Message = message(
    "v1.ProjectedVolumeSource",
    &[
        rep(1, "sources", Msg(&VOLUME_PROJECTION)),
        opt(2, "defaultMode", I32),
        opt(3, "defaultUser", I64),
    ],
);

static VOLUME_PROJECTION: Message = message(
    "v1.VolumeProjection",
    &[
        opt(1, "secret", Msg(&SECRET_PROJECTION)),
        opt(2, "downwardAPI", Msg(&DOWNWARD_API_PROJECTION)),
        opt(3, "configMap", Msg(&CONFIG_MAP_PROJECTION)),
        opt(4, "serviceAccountToken", Msg(&SERVICE_ACCOUNT_TOKEN_PROJECTION)),
    ],
);

static SECRET_PROJECTION: Message = message(
    "v1.SecretProjection",
    &[
        opt(1, "", Inline(&LOCAL_OBJECT_REFERENCE)),
        rep(2, "items", Msg(&KEY_TO_PATH)),
        opt(4, "optional", Bool),
    ],
);

static DOWNWARD_API_PROJECTION: Message =
    message("v1.DownwardAPIProjection", &[rep(1, "items", Msg(&DOWNWARD_API_VOLUME_FILE))]);

static CONFIG_MAP_PROJECTION: Message = message(
    "v1.ConfigMapProjection",
    &[
        opt(1, "", Inline(&LOCAL_OBJECT_REFERENCE)),
        rep(2, "items", Msg(&KEY_TO_PATH)),
        opt(4, "optional", Bool),
    ],
);

static SERVICE_ACCOUNT_TOKEN_PROJECTION: Message = message(
    "v1.ServiceAccountTokenProjection",
    &[
        omit(1, "audience", Str),
        opt(2, "expirationSeconds", I64),
        opt(3, "path", Str),
        opt(4, "user", I64),
    ],
);

static CSI_VOLUME_SOURCE: Message = message(
    "v1.CSIVolumeSource",
    &[
        opt(1, "driver", Str),
        opt(2, "readOnly", Bool),
        opt(3, "fsType", Str),
        map(4, "volumeAttributes", Str),
        opt(5, "nodePublishSecretRef", Msg(&LOCAL_OBJECT_REFERENCE)),
    ],
);

static EPHEMERAL_VOLUME_SOURCE: Message = message(
    "v1.EphemeralVolumeSource",
    &[opt(1, "volumeClaimTemplate", Msg(&PERSISTENT_VOLUME_CLAIM_TEMPLATE))],
);

static PERSISTENT_VOLUME_CLAIM_TEMPLATE: Message = message(
    "v1.PersistentVolumeClaimTemplate",
    &[opt(1, "metadata", Msg(&OBJECT_META)), opt(2, "spec", Msg(&PERSISTENT_VOLUME_CLAIM_SPEC))],
);

static PERSISTENT_VOLUME_CLAIM_SPEC: Message = message(
    "v1.PersistentVolumeClaimSpec",
    &[
        rep(1, "accessModes", Str),
        opt(4, "selector", Msg(&LABEL_SELECTOR)),
        opt(2, "resources", Msg(&VOLUME_RESOURCE_REQUIREMENTS)),
        omit(3, "volumeName", Str),
        opt(5, "storageClassName", Str),
        opt(6, "volumeMode", Str),
        opt(7, "dataSource", Msg(&TYPED_LOCAL_OBJECT_REFERENCE)),
        opt(8, "dataSourceRef", Msg(&TYPED_OBJECT_REFERENCE)),
        opt(9, "volumeAttributesClassName", Str),
    ],
);

static LABEL_SELECTOR: Message = message(
    "meta.v1.LabelSelector",
    &[map(1, "matchLabels", Str), rep(2, "matchExpressions", Msg(&LABEL_SELECTOR_REQUIREMENT))],
);

static LABEL_SELECTOR_REQUIREMENT: Message = message(
    "meta.v1.LabelSelectorRequirement",
    &[opt(1, "key", Str), opt(2, "operator", Str), rep(3, "values", Str)],
);

static VOLUME_RESOURCE_REQUIREMENTS: Message = message(
    "v1.VolumeResourceRequirements",
    &[map(1, "limits", Quantity), map(2, "requests", Quantity)],
);

static TYPED_LOCAL_OBJECT_REFERENCE: Message = message(
    "v1.TypedLocalObjectReference",
    &[opt(1, "apiGroup", Str), opt(2, "kind", Str), opt(3, "name", Str)],
);

static TYPED_OBJECT_REFERENCE: Message = message(
    "v1.TypedObjectReference",
    &[opt(1, "apiGroup", Str), opt(2, "kind", Str), opt(3, "name", Str), opt(4, "namespace", Str)],
);

static IMAGE_VOLUME_SOURCE: Message =
    message("v1.ImageVolumeSource", &[omit(1, "reference", Str), omit(2, "pullPolicy", Str)]);

static CONTAINER: Message = message(
    "v1.Container",
    &[
        opt(1, "name", Str),
        omit(2, "image", Str),
        rep(3, "command", Str),
        rep(4, "args", Str),
        omit(5, "workingDir", Str),
        rep(6, "ports", Msg(&CONTAINER_PORT)),
        rep(19, "envFrom", Msg(&ENV_FROM_SOURCE)),
        rep(7, "env", Msg(&ENV_VAR)),
        opt(8, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        rep(23, "resizePolicy", Msg(&CONTAINER_RESIZE_POLICY)),
        opt(24, "restartPolicy", Str),
        rep(25, "restartPolicyRules", Msg(&CONTAINER_RESTART_RULE)),
        rep(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
        rep(21, "volumeDevices", Msg(&VOLUME_DEVICE)),
        opt(10, "livenessProbe", Msg(&PROBE)),
        opt(11, "readinessProbe", Msg(&PROBE)),
        opt(22, "startupProbe", Msg(&PROBE)),
        opt(12, "lifecycle", Msg(&LIFECYCLE)),
        omit(13, "terminationMessagePath", Str),
        omit(20, "terminationMessagePolicy", Str),
        omit(14, "imagePullPolicy", Str),
        opt(15, "securityContext", Msg(&SECURITY_CONTEXT)),
        omit(16, "stdin", Bool),
        omit(17, "stdinOnce", Bool),
        omit(18, "tty", Bool),
    ],
);

static CONTAINER_PORT: Message = message(
    "v1.ContainerPort",
    &[
        omit(1, "name", Str),
        omit(2, "hostPort", I32),
        opt(3, "containerPort", I32),
        omit(4, "protocol", Str),
        omit(5, "hostIP", Str),
    ],
);

static ENV_FROM_SOURCE: Message = message(
    "v1.EnvFromSource",
    &[
        omit(1, "prefix", Str),
        opt(2, "configMapRef", Msg(&CONFIG_MAP_ENV_SOURCE)),
        opt(3, "secretRef", Msg(&SECRET_ENV_SOURCE)),
    ],
);

static CONFIG_MAP_ENV_SOURCE: Message = message(
    "v1.ConfigMapEnvSource",
    &[opt(1, "", Inline(&LOCAL_OBJECT_REFERENCE)), opt(2, "optional", Bool)],
);

static SECRET_ENV_SOURCE: Message = message(
    "v1.SecretEnvSource",
    &[opt(1, "", Inline(&LOCAL_OBJECT_REFERENCE)), opt(2, "optional", Bool)],
);

static ENV_VAR: Message = message(
    "v1.EnvVar",
    &[opt(1, "name", Str), omit(2, "value", Str), opt(3, "valueFrom", Msg(&ENV_VAR_SOURCE))],
);

static ENV_VAR_SOURCE: Message = message(
    "v1.EnvVarSource",
    &[
        opt(1, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
        opt(2, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
        opt(3, "configMapKeyRef", Msg(&CONFIG_MAP_KEY_SELECTOR)),
        opt(4, "secretKeyRef", Msg(&SECRET_KEY_SELECTOR)),
        opt(5, "fileKeyRef", Msg(&FILE_KEY_SELECTOR)),
    ],
);

static CONFIG_MAP_KEY_SELECTOR: Message = message(
    "v1.ConfigMapKeySelector",
    &[opt(1, "", Inline(&LOCAL_OBJECT_REFERENCE)), opt(2, "key", Str), opt(3, "optional", Bool)],
);

static SECRET_KEY_SELECTOR: Message = message(
    "v1.SecretKeySelector",
    &[opt(1, "", Inline(&LOCAL_OBJECT_REFERENCE)), opt(2, "key", Str), opt(3, "optional", Bool)],
);

static FILE_KEY_SELECTOR: Message = message(
    "v1.FileKeySelector",
    &[opt(1, "volumeName", Str), opt(2, "path", Str), opt(3, "key", Str), opt(4, "optional", Bool)],
);

static RESOURCE_REQUIREMENTS: Message = message(
    "v1.ResourceRequirements",
    &[
        map(1, "limits", Quantity),
        map(2, "requests", Quantity),
        rep(3, "claims", Msg(&RESOURCE_CLAIM)),
    ],
);

static RESOURCE_CLAIM: Message =
    message("v1.ResourceClaim", &[opt(1, "name", Str), omit(2, "request", Str)]);

static CONTAINER_RESIZE_POLICY: Message = message(
    "v1.ContainerResizePolicy",
    &[opt(1, "resourceName", Str), opt(2, "restartPolicy", Str)],
);

static CONTAINER_RESTART_RULE: Message = message(
    "v1.ContainerRestartRule",
    &[omit(1, "action", Str), opt(2, "exitCodes", Msg(&CONTAINER_RESTART_RULE_ON_EXIT_CODES))],
);

static CONTAINER_RESTART_RULE_ON_EXIT_CODES: Message = message(
    "v1.ContainerRestartRuleOnExitCodes",
    &[omit(1, "operator", Str), rep(2, "values", I32)],
);

static VOLUME_MOUNT: Message = message(
    "v1.VolumeMount",
    &[
        opt(1, "name", Str),
        omit(2, "readOnly", Bool),
        opt(7, "recursiveReadOnly", Str),
        opt(3, "mountPath", Str),
        omit(4, "subPath", Str),
        opt(5, "mountPropagation", Str),
        omit(6, "subPathExpr", Str),
        rep(8, "bindMountOptions", Str),
    ],
);

static VOLUME_DEVICE: Message =
    message("v1.VolumeDevice", &[opt(1, "name", Str), opt(2, "devicePath", Str)]);

static PROBE: Message = message(
    "v1.Probe",
    &[
        opt(1, "", Inline(&PROBE_HANDLER)),
        omit(2, "initialDelaySeconds", I32),
        omit(3, "timeoutSeconds", I32),
        omit(4, "periodSeconds", I32),
        omit(5, "successThreshold", I32),
        omit(6, "failureThreshold", I32),
        opt(7, "terminationGracePeriodSeconds", I64),
    ],
);

static PROBE_HANDLER: Message = message(
    "v1.ProbeHandler",
    &[
        opt(1, "exec", Msg(&EXEC_ACTION)),
        opt(2, "httpGet", Msg(&HTTP_GET_ACTION)),
        opt(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
        opt(4, "grpc", Msg(&GRPC_ACTION)),
    ],
);

static EXEC_ACTION: Message = message("v1.ExecAction", &[rep(1, "command", Str)]);

static HTTP_GET_ACTION: Message = message(
    "v1.HTTPGetAction",
    &[
        omit(1, "path", Str),
        opt(2, "port", IntOrStr),
        omit(3, "host", Str),
        omit(4, "scheme", Str),
        rep(5, "httpHeaders", Msg(&HTTP_HEADER)),
        opt(6, "protocol", Str),
    ],
);

static HTTP_HEADER: Message =
    message("v1.HTTPHeader", &[opt(1, "name", Str), opt(2, "value", Str)]);

static TCP_SOCKET_ACTION: Message =
    message("v1.TCPSocketAction", &[opt(1, "port", IntOrStr), omit(2, "host", Str)]);

static GRPC_ACTION: Message =
    message("v1.GRPCAction", &[opt(1, "port", I32), opt(2, "service", Str), opt(3, "mode", Str)]);

static LIFECYCLE: Message = message(
    "v1.Lifecycle",
    &[
        opt(1, "postStart", Msg(&LIFECYCLE_HANDLER)),
        opt(2, "preStop", Msg(&LIFECYCLE_HANDLER)),
        opt(3, "stopSignal", Str),
    ],
);

static LIFECYCLE_HANDLER: Message = message(
    "v1.LifecycleHandler",
    &[
        opt(1, "exec", Msg(&EXEC_ACTION)),
        opt(2, "httpGet", Msg(&HTTP_GET_ACTION)),
        opt(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
        opt(4, "sleep", Msg(&SLEEP_ACTION)),
    ],
);

static SLEEP_ACTION: Message = message("v1.SleepAction", &[opt(1, "seconds", I64)]);

static SECURITY_CONTEXT: Message = message(
    "v1.SecurityContext",
    &[
        opt(1, "capabilities", Msg(&CAPABILITIES)),
        opt(2, "privileged", Bool),
        opt(3, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
        opt(10, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        opt(4, "runAsUser", I64),
        opt(8, "runAsGroup", I64),
        opt(5, "runAsNonRoot", Bool),
        opt(6, "readOnlyRootFilesystem", Bool),
        opt(7, "allowPrivilegeEscalation", Bool),
        opt(9, "procMount", Str),
        opt(11, "seccompProfile", Msg(&SECCOMP_PROFILE)),
        opt(12, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
    ],
);

static CAPABILITIES: Message =
    message("v1.Capabilities", &[rep(1, "add", Str), rep(2, "drop", Str)]);

static SE_LINUX_OPTIONS: Message = message(
    "v1.SELinuxOptions",
    &[omit(1, "user", Str), omit(2, "role", Str), omit(3, "type", Str), omit(4, "level", Str)],
);

static WINDOWS_SECURITY_CONTEXT_OPTIONS: Message = message(
    "v1.WindowsSecurityContextOptions",
    &[
        opt(1, "gmsaCredentialSpecName", Str),
        opt(2, "gmsaCredentialSpec", Str),
        opt(3, "runAsUserName", Str),
        opt(4, "hostProcess", Bool),
    ],
);

static SECCOMP_PROFILE: Message =
    message("v1.SeccompProfile", &[opt(1, "type", Str), opt(2, "localhostProfile", Str)]);

static APP_ARMOR_PROFILE: Message =
    message("v1.AppArmorProfile", &[opt(1, "type", Str), opt(2, "localhostProfile", Str)]);

static POD_SECURITY_CONTEXT: Message = message(
    "v1.PodSecurityContext",
    &[
        opt(1, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
        opt(8, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        opt(2, "runAsUser", I64),
        opt(6, "runAsGroup", I64),
        opt(3, "runAsNonRoot", Bool),
        rep(4, "supplementalGroups", I64),
        opt(12, "supplementalGroupsPolicy", Str),
        opt(5, "fsGroup", I64),
        rep(7, "sysctls", Msg(&SYSCTL)),
        opt(9, "fsGroupChangePolicy", Str),
        opt(10, "seccompProfile", Msg(&SECCOMP_PROFILE)),
        opt(11, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
        opt(13, "seLinuxChangePolicy", Str),
    ],
);

static SYSCTL: Message = message("v1.Sysctl", &[opt(1, "name", Str), opt(2, "value", Str)]);

static AFFINITY: Message = message(
    "v1.Affinity",
    &[
        opt(1, "nodeAffinity", Msg(&NODE_AFFINITY)),
        opt(2, "podAffinity", Msg(&POD_AFFINITY)),
        opt(3, "podAntiAffinity", Msg(&POD_ANTI_AFFINITY)),
    ],
);

static NODE_AFFINITY: Message = message(
    "v1.NodeAffinity",
    &[
        opt(1, "requiredDuringSchedulingIgnoredDuringExecution", Msg(&NODE_SELECTOR)),
        rep(2, "preferredDuringSchedulingIgnoredDuringExecution", Msg(&PREFERRED_SCHEDULING_TERM)),
    ],
);

static NODE_SELECTOR: Message =
    message("v1.NodeSelector", &[rep(1, "nodeSelectorTerms", Msg(&NODE_SELECTOR_TERM))]);

static NODE_SELECTOR_TERM: Message = message(
    "v1.NodeSelectorTerm",
    &[
        rep(1, "matchExpressions", Msg(&NODE_SELECTOR_REQUIREMENT)),
        rep(2, "matchFields", Msg(&NODE_SELECTOR_REQUIREMENT)),
    ],
);

static NODE_SELECTOR_REQUIREMENT: Message = message(
    "v1.NodeSelectorRequirement",
    &[opt(1, "key", Str), opt(2, "operator", Str), rep(3, "values", Str)],
);

static PREFERRED_SCHEDULING_TERM: Message = message(
    "v1.PreferredSchedulingTerm",
    &[opt(1, "weight", I32), opt(2, "preference", Msg(&NODE_SELECTOR_TERM))],
);

static POD_AFFINITY: Message = message(
    "v1.PodAffinity",
    &[
        rep(1, "requiredDuringSchedulingIgnoredDuringExecution", Msg(&POD_AFFINITY_TERM)),
        rep(2, "preferredDuringSchedulingIgnoredDuringExecution", Msg(&WEIGHTED_POD_AFFINITY_TERM)),
    ],
);

static POD_AFFINITY_TERM: Message = message(
    "v1.PodAffinityTerm",
    &[
        opt(1, "labelSelector", Msg(&LABEL_SELECTOR)),
        rep(2, "namespaces", Str),
        opt(3, "topologyKey", Str),
        opt(4, "namespaceSelector", Msg(&LABEL_SELECTOR)),
        rep(5, "matchLabelKeys", Str),
        rep(6, "mismatchLabelKeys", Str),
    ],
);

static WEIGHTED_POD_AFFINITY_TERM: Message = message(
    "v1.WeightedPodAffinityTerm",
    &[opt(1, "weight", I32), opt(2, "podAffinityTerm", Msg(&POD_AFFINITY_TERM))],
);

static POD_ANTI_AFFINITY: Message = message(
    "v1.PodAntiAffinity",
    &[
        rep(1, "requiredDuringSchedulingIgnoredDuringExecution", Msg(&POD_AFFINITY_TERM)),
        rep(2, "preferredDuringSchedulingIgnoredDuringExecution", Msg(&WEIGHTED_POD_AFFINITY_TERM)),
    ],
);

static TOLERATION: Message = message(
    "v1.Toleration",
    &[
        omit(1, "key", Str),
        omit(2, "operator", Str),
        omit(3, "value", Str),
        omit(4, "effect", Str),
        opt(5, "tolerationSeconds", I64),
    ],
);

static HOST_ALIAS: Message =
    message("v1.HostAlias", &[opt(1, "ip", Str), rep(2, "hostnames", Str)]);

static POD_DNS_CONFIG: Message = message(
    "v1.PodDNSConfig",
    &[
        rep(1, "nameservers", Str),
        rep(2, "searches", Str),
        rep(3, "options", Msg(&POD_DNS_CONFIG_OPTION)),
    ],
);

static POD_DNS_CONFIG_OPTION: Message =
    message("v1.PodDNSConfigOption", &[omit(1, "name", Str), opt(2, "value", Str)]);

static POD_READINESS_GATE: Message =
    message("v1.PodReadinessGate", &[opt(1, "conditionType", Str)]);

static TOPOLOGY_SPREAD_CONSTRAINT: Message = message(
    "v1.TopologySpreadConstraint",
    &[
        opt(1, "maxSkew", I32),
        opt(2, "topologyKey", Str),
        opt(3, "whenUnsatisfiable", Str),
        opt(4, "labelSelector", Msg(&LABEL_SELECTOR)),
        opt(5, "minDomains", I32),
        opt(6, "nodeAffinityPolicy", Str),
        opt(7, "nodeTaintsPolicy", Str),
        rep(8, "matchLabelKeys", Str),
    ],
);

static POD_OS: Message = message("v1.PodOS", &[opt(1, "name", Str)]);

static POD_SCHEDULING_GATE: Message = message("v1.PodSchedulingGate", &[opt(1, "name", Str)]);

static POD_RESOURCE_CLAIM: Message = message(
    "v1.PodResourceClaim",
    &[
        opt(1, "name", Str),
        opt(3, "resourceClaimName", Str),
        opt(4, "resourceClaimTemplateName", Str),
    ],
);

static POD_SCHEDULING_GROUP: Message =
    message("v1.PodSchedulingGroup", &[opt(1, "podGroupName", Str)]);

static EVICTION_RESPONDER: Message =
    message("v1.EvictionResponder", &[opt(1, "name", Str), opt(2, "priority", I32)]);

static POD_STATUS: Message = message("v1.PodStatus", &[]);

static RESOURCE_QUOTA: Message = message(
    "v1.ResourceQuota",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&RESOURCE_QUOTA_SPEC)),
        opt(3, "status", Msg(&RESOURCE_QUOTA_STATUS)),
    ],
);

static RESOURCE_QUOTA_SPEC: Message = message(
    "v1.ResourceQuotaSpec",
    &[
        map(1, "hard", Quantity),
        rep(2, "scopes", Str),
        opt(3, "scopeSelector", Msg(&SCOPE_SELECTOR)),
    ],
);

static SCOPE_SELECTOR: Message = message(
    "v1.ScopeSelector",
    &[rep(1, "matchExpressions", Msg(&SCOPED_RESOURCE_SELECTOR_REQUIREMENT))],
);

static SCOPED_RESOURCE_SELECTOR_REQUIREMENT: Message = message(
    "v1.ScopedResourceSelectorRequirement",
    &[opt(1, "scopeName", Str), opt(2, "operator", Str), rep(3, "values", Str)],
);

static RESOURCE_QUOTA_STATUS: Message =
    message("v1.ResourceQuotaStatus", &[map(1, "hard", Quantity), map(2, "used", Quantity)]);

static BINDING: Message = message(
    "v1.Binding",
    &[opt(1, "metadata", Msg(&OBJECT_META)), opt(2, "target", Msg(&OBJECT_REFERENCE))],
);

static EVENT: Message = message(
    "v1.Event",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "involvedObject", Msg(&OBJECT_REFERENCE)),
        omit(3, "reason", Str),
        omit(4, "message", Str),
        opt(5, "source", Msg(&EVENT_SOURCE)),
        opt(6, "firstTimestamp", Time),
        opt(7, "lastTimestamp", Time),
        omit(8, "count", I32),
        omit(9, "type", Str),
        opt(10, "eventTime", MicroTime),
        opt(11, "series", Msg(&EVENT_SERIES)),
        omit(12, "action", Str),
        opt(13, "related", Msg(&OBJECT_REFERENCE)),
        opt(14, "reportingComponent", Str),
        opt(15, "reportingInstance", Str),
    ],
);

static EVENT_SOURCE: Message =
    message("v1.EventSource", &[omit(1, "component", Str), omit(2, "host", Str)]);

static EVENT_SERIES: Message =
    message("v1.EventSeries", &[omit(1, "count", I32), opt(2, "lastObservedTime", MicroTime)]);

static DEPLOYMENT: Message = message(
    "apps.v1.Deployment",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&DEPLOYMENT_SPEC)),
        opt(3, "status", Msg(&DEPLOYMENT_STATUS)),
    ],
);

static DEPLOYMENT_SPEC: Message = message(
    "apps.v1.DeploymentSpec",
    &[
        opt(1, "replicas", I32),
        opt(2, "selector", Msg(&LABEL_SELECTOR)),
        opt(3, "template", Msg(&POD_TEMPLATE_SPEC)),
        opt(4, "strategy", Msg(&DEPLOYMENT_STRATEGY)),
        omit(5, "minReadySeconds", I32),
        opt(6, "revisionHistoryLimit", I32),
        omit(7, "paused", Bool),
        opt(9, "progressDeadlineSeconds", I32),
    ],
);

static POD_TEMPLATE_SPEC: Message = message(
    "v1.PodTemplateSpec",
    &[opt(1, "metadata", Msg(&OBJECT_META)), opt(2, "spec", Msg(&POD_SPEC))],
);

static DEPLOYMENT_STRATEGY: Message = message(
    "apps.v1.DeploymentStrategy",
    &[omit(1, "type", Str), opt(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT))],
);

static ROLLING_UPDATE_DEPLOYMENT: Message = message(
    "apps.v1.RollingUpdateDeployment",
    &[opt(1, "maxUnavailable", IntOrStr), opt(2, "maxSurge", IntOrStr)],
);

static DEPLOYMENT_STATUS: Message = message(
    "apps.v1.DeploymentStatus",
    &[
        omit(1, "observedGeneration", I64),
        omit(2, "replicas", I32),
        omit(3, "updatedReplicas", I32),
        omit(7, "readyReplicas", I32),
        omit(4, "availableReplicas", I32),
        omit(5, "unavailableReplicas", I32),
        opt(9, "terminatingReplicas", I32),
        rep(6, "conditions", Msg(&DEPLOYMENT_CONDITION)),
        opt(8, "collisionCount", I32),
    ],
);

static DEPLOYMENT_CONDITION: Message = message(
    "apps.v1.DeploymentCondition",
    &[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(6, "lastUpdateTime", Time),
        opt(7, "lastTransitionTime", Time),
        omit(4, "reason", Str),
        omit(5, "message", Str),
    ],
);

static JOB: Message = message(
    "batch.v1.Job",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&JOB_SPEC)),
        opt(3, "status", Msg(&JOB_STATUS)),
    ],
);

static JOB_SPEC: Message = message(
    "batch.v1.JobSpec",
    &[
        opt(1, "parallelism", I32),
        opt(2, "completions", I32),
        opt(3, "activeDeadlineSeconds", I64),
        opt(11, "podFailurePolicy", Msg(&POD_FAILURE_POLICY)),
        opt(16, "successPolicy", Msg(&SUCCESS_POLICY)),
        opt(7, "backoffLimit", I32),
        opt(12, "backoffLimitPerIndex", I32),
        opt(13, "maxFailedIndexes", I32),
        opt(4, "selector", Msg(&LABEL_SELECTOR)),
        opt(5, "manualSelector", Bool),
        opt(6, "template", Msg(&POD_TEMPLATE_SPEC)),
        opt(8, "ttlSecondsAfterFinished", I32),
        opt(9, "completionMode", Str),
        opt(10, "suspend", Bool),
        opt(14, "podReplacementPolicy", Str),
        opt(15, "managedBy", Str),
    ],
);

static POD_FAILURE_POLICY: Message =
    message("batch.v1.PodFailurePolicy", &[rep(1, "rules", Msg(&POD_FAILURE_POLICY_RULE))]);

static POD_FAILURE_POLICY_RULE: Message = message(
    "batch.v1.PodFailurePolicyRule",
    &[
        opt(1, "action", Str),
        opt(2, "onExitCodes", Msg(&POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT)),
        rep(3, "onPodConditions", Msg(&POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN)),
    ],
);

static POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT: Message = message(
    "batch.v1.PodFailurePolicyOnExitCodesRequirement",
    &[opt(1, "containerName", Str), opt(2, "operator", Str), rep(3, "values", I32)],
);

static POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN: Message = message(
    "batch.v1.PodFailurePolicyOnPodConditionsPattern",
    &[opt(1, "type", Str), opt(2, "status", Str)],
);

static SUCCESS_POLICY: Message =
    message("batch.v1.SuccessPolicy", &[rep(1, "rules", Msg(&SUCCESS_POLICY_RULE))]);

static SUCCESS_POLICY_RULE: Message = message(
    "batch.v1.SuccessPolicyRule",
    &[opt(1, "succeededIndexes", Str), opt(2, "succeededCount", I32)],
);

static JOB_STATUS: Message = message(
    "batch.v1.JobStatus",
    &[
        rep(1, "conditions", Msg(&JOB_CONDITION)),
        opt(2, "startTime", Time),
        opt(3, "completionTime", Time),
        omit(4, "active", I32),
        omit(5, "succeeded", I32),
        omit(6, "failed", I32),
        opt(11, "terminating", I32),
        omit(7, "completedIndexes", Str),
        opt(10, "failedIndexes", Str),
        opt(8, "uncountedTerminatedPods", Msg(&UNCOUNTED_TERMINATED_PODS)),
        opt(9, "ready", I32),
    ],
);

static JOB_CONDITION: Message = message(
    "batch.v1.JobCondition",
    &[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastProbeTime", Time),
        opt(4, "lastTransitionTime", Time),
        omit(5, "reason", Str),
        omit(6, "message", Str),
    ],
);

static UNCOUNTED_TERMINATED_PODS: Message =
    message("batch.v1.UncountedTerminatedPods", &[rep(1, "succeeded", Str), rep(2, "failed", Str)]);

static CRON_JOB: Message = message(
    "batch.v1.CronJob",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&CRON_JOB_SPEC)),
        opt(3, "status", Msg(&CRON_JOB_STATUS)),
    ],
);

static CRON_JOB_SPEC: Message = message(
    "batch.v1.CronJobSpec",
    &[
        opt(1, "schedule", Str),
        opt(8, "timeZone", Str),
        opt(2, "startingDeadlineSeconds", I64),
        omit(3, "concurrencyPolicy", Str),
        opt(4, "suspend", Bool),
        opt(5, "jobTemplate", Msg(&JOB_TEMPLATE_SPEC)),
        opt(6, "successfulJobsHistoryLimit", I32),
        opt(7, "failedJobsHistoryLimit", I32),
    ],
);

static JOB_TEMPLATE_SPEC: Message = message(
    "batch.v1.JobTemplateSpec",
    &[opt(1, "metadata", Msg(&OBJECT_META)), opt(2, "spec", Msg(&JOB_SPEC))],
);

static CRON_JOB_STATUS: Message = message(
    "batch.v1.CronJobStatus",
    &[
        rep(1, "active", Msg(&OBJECT_REFERENCE)),
        opt(4, "lastScheduleTime", Time),
        opt(5, "lastSuccessfulTime", Time),
    ],
);

static ROLE: Message = message(
    "rbac.v1.Role",
    &[opt(1, "metadata", Msg(&OBJECT_META)), rep(2, "rules", Msg(&POLICY_RULE))],
);

static POLICY_RULE: Message = message(
    "rbac.v1.PolicyRule",
    &[
        rep(1, "verbs", Str),
        rep(2, "apiGroups", Str),
        rep(3, "resources", Str),
        rep(4, "resourceNames", Str),
        rep(5, "nonResourceURLs", Str),
    ],
);

static CLUSTER_ROLE: Message = message(
    "rbac.v1.ClusterRole",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        rep(2, "rules", Msg(&POLICY_RULE)),
        opt(3, "aggregationRule", Msg(&AGGREGATION_RULE)),
    ],
);

static AGGREGATION_RULE: Message =
    message("rbac.v1.AggregationRule", &[rep(1, "clusterRoleSelectors", Msg(&LABEL_SELECTOR))]);

static ROLE_BINDING: Message = message(
    "rbac.v1.RoleBinding",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        rep(2, "subjects", Msg(&SUBJECT)),
        opt(3, "roleRef", Msg(&ROLE_REF)),
    ],
);

static SUBJECT: Message = message(
    "rbac.v1.Subject",
    &[
        opt(1, "kind", Str),
        omit(2, "apiGroup", Str),
        opt(3, "name", Str),
        omit(4, "namespace", Str),
    ],
);

static ROLE_REF: Message = message(
    "rbac.v1.RoleRef",
    &[opt(1, "apiGroup", Str), opt(2, "kind", Str), opt(3, "name", Str)],
);

static CLUSTER_ROLE_BINDING: Message = message(
    "rbac.v1.ClusterRoleBinding",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        rep(2, "subjects", Msg(&SUBJECT)),
        opt(3, "roleRef", Msg(&ROLE_REF)),
    ],
);

static INGRESS: Message = message(
    "networking.v1.Ingress",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&INGRESS_SPEC)),
        opt(3, "status", Msg(&INGRESS_STATUS)),
    ],
);

static INGRESS_SPEC: Message = message(
    "networking.v1.IngressSpec",
    &[
        opt(4, "ingressClassName", Str),
        opt(1, "defaultBackend", Msg(&INGRESS_BACKEND)),
        rep(2, "tls", Msg(&INGRESS_TLS)),
        rep(3, "rules", Msg(&INGRESS_RULE)),
    ],
);

static INGRESS_BACKEND: Message = message(
    "networking.v1.IngressBackend",
    &[
        opt(4, "service", Msg(&INGRESS_SERVICE_BACKEND)),
        opt(3, "resource", Msg(&TYPED_LOCAL_OBJECT_REFERENCE)),
    ],
);

static INGRESS_SERVICE_BACKEND: Message = message(
    "networking.v1.IngressServiceBackend",
    &[opt(1, "name", Str), opt(2, "port", Msg(&SERVICE_BACKEND_PORT))],
);

static SERVICE_BACKEND_PORT: Message =
    message("networking.v1.ServiceBackendPort", &[omit(1, "name", Str), omit(2, "number", I32)]);

static INGRESS_TLS: Message =
    message("networking.v1.IngressTLS", &[rep(1, "hosts", Str), omit(2, "secretName", Str)]);

static INGRESS_RULE: Message = message(
    "networking.v1.IngressRule",
    &[omit(1, "host", Str), opt(2, "", Inline(&INGRESS_RULE_VALUE))],
);

static INGRESS_RULE_VALUE: Message =
    message("networking.v1.IngressRuleValue", &[opt(1, "http", Msg(&HTTP_INGRESS_RULE_VALUE))]);

static HTTP_INGRESS_RULE_VALUE: Message =
    message("networking.v1.HTTPIngressRuleValue", &[rep(1, "paths", Msg(&HTTP_INGRESS_PATH))]);

static HTTP_INGRESS_PATH: Message = message(
    "networking.v1.HTTPIngressPath",
    &[omit(1, "path", Str), opt(3, "pathType", Str), opt(2, "backend", Msg(&INGRESS_BACKEND))],
);

static INGRESS_STATUS: Message = message(
    "networking.v1.IngressStatus",
    &[opt(1, "loadBalancer", Msg(&INGRESS_LOAD_BALANCER_STATUS))],
);

static INGRESS_LOAD_BALANCER_STATUS: Message = message(
    "networking.v1.IngressLoadBalancerStatus",
    &[rep(1, "ingress", Msg(&INGRESS_LOAD_BALANCER_INGRESS))],
);

static INGRESS_LOAD_BALANCER_INGRESS: Message = message(
    "networking.v1.IngressLoadBalancerIngress",
    &[omit(1, "ip", Str), omit(2, "hostname", Str), rep(4, "ports", Msg(&INGRESS_PORT_STATUS))],
);

static INGRESS_PORT_STATUS: Message = message(
    "networking.v1.IngressPortStatus",
    &[opt(1, "port", I32), opt(2, "protocol", Str), opt(3, "error", Str)],
);

static POD_DISRUPTION_BUDGET: Message = message(
    "policy.v1.PodDisruptionBudget",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&POD_DISRUPTION_BUDGET_SPEC)),
        opt(3, "status", Msg(&POD_DISRUPTION_BUDGET_STATUS)),
    ],
);

static POD_DISRUPTION_BUDGET_SPEC: Message = message(
    "policy.v1.PodDisruptionBudgetSpec",
    &[
        opt(1, "minAvailable", IntOrStr),
        opt(2, "selector", Msg(&LABEL_SELECTOR)),
        opt(3, "maxUnavailable", IntOrStr),
        opt(4, "unhealthyPodEvictionPolicy", Str),
    ],
);

static POD_DISRUPTION_BUDGET_STATUS: Message = message(
    "policy.v1.PodDisruptionBudgetStatus",
    &[
        omit(1, "observedGeneration", I64),
        map(2, "disruptedPods", Time),
        opt(3, "disruptionsAllowed", I32),
        opt(4, "currentHealthy", I32),
        opt(5, "desiredHealthy", I32),
        opt(6, "expectedPods", I32),
        rep(7, "conditions", Msg(&CONDITION)),
    ],
);

static EVICTION: Message = message(
    "policy.v1.Eviction",
    &[opt(1, "metadata", Msg(&OBJECT_META)), opt(2, "deleteOptions", Msg(&DELETE_OPTIONS))],
);

static DELETE_OPTIONS: Message = message(
    "meta.v1.DeleteOptions",
    &[
        opt(1, "gracePeriodSeconds", I64),
        opt(2, "preconditions", Msg(&PRECONDITIONS)),
        opt(3, "orphanDependents", Bool),
        opt(4, "propagationPolicy", Str),
        rep(5, "dryRun", Str),
        opt(6, "ignoreStoreReadErrorWithClusterBreakingPotential", Bool),
    ],
);

static PRECONDITIONS: Message =
    message("meta.v1.Preconditions", &[opt(1, "uid", Str), opt(2, "resourceVersion", Str)]);

static PRIORITY_CLASS: Message = message(
    "scheduling.v1.PriorityClass",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "value", I32),
        omit(3, "globalDefault", Bool),
        omit(4, "description", Str),
        opt(5, "preemptionPolicy", Str),
    ],
);

static TOKEN_REQUEST: Message = message(
    "authentication.v1.TokenRequest",
    &[
        opt(1, "metadata", Msg(&OBJECT_META)),
        opt(2, "spec", Msg(&TOKEN_REQUEST_SPEC)),
        opt(3, "status", Msg(&TOKEN_REQUEST_STATUS)),
    ],
);

static TOKEN_REQUEST_SPEC: Message = message(
    "authentication.v1.TokenRequestSpec",
    &[
        rep(1, "audiences", Str),
        opt(4, "expirationSeconds", I64),
        opt(3, "boundObjectRef", Msg(&BOUND_OBJECT_REFERENCE)),
    ],
);

static BOUND_OBJECT_REFERENCE: Message = message(
    "authentication.v1.BoundObjectReference",
    &[omit(1, "kind", Str), omit(2, "apiVersion", Str), omit(3, "name", Str), omit(4, "uid", Str)],
);

static TOKEN_REQUEST_STATUS: Message = message(
    "authentication.v1.TokenRequestStatus",
    &[opt(1, "token", Str), opt(2, "expirationTimestamp", Time)],
);

static LEASE: Message = message(
    "coordination.v1.Lease",
    &[opt(1, "metadata", Msg(&OBJECT_META)), opt(2, "spec", Msg(&LEASE_SPEC))],
);

static LEASE_SPEC: Message = message(
    "coordination.v1.LeaseSpec",
    &[
        opt(1, "holderIdentity", Str),
        opt(2, "leaseDurationSeconds", I32),
        opt(3, "acquireTime", MicroTime),
        opt(4, "renewTime", MicroTime),
        opt(5, "leaseTransitions", I32),
        opt(6, "strategy", Str),
        opt(7, "preferredHolder", Str),
    ],
);
