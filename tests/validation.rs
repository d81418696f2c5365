//! End to end: field validation as kubectl drives it (`--validate=strict` is kubectl's default,
//! `warn`, `false`): unknown fields are refused, warned about or dropped, never stored; full
//! realistic manifests of the common kinds pass, also when re-applied with a change; custom
//! resources are checked against their CRD's schema.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, require_tool};

const MANIFESTS: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  revisionHistoryLimit: 5
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: {note: "x"}
    spec:
      serviceAccountName: default
      securityContext: {runAsNonRoot: true, runAsUser: 1000, fsGroup: 2000, seccompProfile: {type: RuntimeDefault}}
      nodeSelector: {kubernetes.io/os: linux}
      tolerations: [{key: dedicated, operator: Equal, value: web, effect: NoSchedule}]
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {matchLabels: {app: web}}
      initContainers:
      - name: init
        image: busybox:1.36
        command: [sh, -c, "echo hi > /work/index.html"]
        volumeMounts: [{name: work, mountPath: /work}]
      containers:
      - name: nginx
        image: nginx:1.25
        imagePullPolicy: IfNotPresent
        args: ["-g", "daemon off;"]
        ports: [{name: http, containerPort: 80, protocol: TCP}]
        env:
        - {name: MODE, value: prod}
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: KEY
          valueFrom: {secretKeyRef: {name: creds, key: key, optional: true}}
        envFrom: [{configMapRef: {name: settings}}]
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {cpu: "1", memory: 128Mi}
        readinessProbe:
          httpGet: {path: /, port: http}
          initialDelaySeconds: 2
          periodSeconds: 5
        livenessProbe:
          tcpSocket: {port: 80}
          failureThreshold: 3
        startupProbe:
          exec: {command: [cat, /etc/hostname]}
        lifecycle:
          preStop: {exec: {command: [sleep, "1"]}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts:
        - {name: work, mountPath: /usr/share/nginx/html, readOnly: true}
        - {name: settings, mountPath: /etc/settings}
      volumes:
      - {name: work, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
      - name: settings
        configMap: {name: settings, items: [{key: a, path: a.conf}]}
      - name: all
        projected:
          sources:
          - secret: {name: creds}
          - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080, protocol: TCP}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
type: Opaque
stringData: {key: value}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  backoffLimit: 2
  ttlSecondsAfterFinished: 60
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:1.36, command: [true]}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox:1.36}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: default, namespace: default}]
"#;

fn write(server: &Server, name: &str, content: &str) -> String {
    let path = server.dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn unknown_fields_are_refused_warned_or_dropped_and_never_stored() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let typo = common::deployment(1).replace("  replicas: 1\n", "  replicas: 1\n  replicaz: 2\n");
    let file = write(&server, "typo.yaml", &typo);
    let (code, out) = k(&["apply", "-f", &file]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz""#),
        "{out}"
    );
    assert_eq!(k(&["get", "deploy", "-o", "name"]).1, "", "nothing stored");

    let (code, out) = k(&["apply", "--validate=warn", "-f", &file]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(r#"Warning: unknown field "spec.replicaz""#), "{out}");
    let (_, spec) = k(&["get", "deploy", "web", "-o", "jsonpath={.spec}"]);
    assert!(!spec.contains("replicaz"), "dropped: {spec}");

    // An unknown fieldValidation value is refused as upstream refuses it.
    let cm = write(
        &server,
        "cm.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
    );
    let raw = "/api/v1/namespaces/default/configmaps?fieldValidation=Sloppy";
    let (code, out) = k(&["create", "--raw", raw, "-f", &cm]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("fieldValidation: Unsupported value"), "{out}");
    assert!(out.contains("Sloppy"), "{out}");

    let nested =
        common::deployment(1).replace("image: nginx:1.25", "image: nginx:1.25\n        imagez: x");
    let file = write(&server, "nested.yaml", &nested);
    let (code, out) = k(&["apply", "-f", &file]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(r#"unknown field "spec.template.spec.containers[0].imagez""#), "{out}");
    assert_eq!(k(&["apply", "--validate=false", "-f", &file]).0, Some(0));
}

#[test]
fn realistic_manifests_pass_strict_validation_also_when_changed() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let file = write(&server, "all.yaml", MANIFESTS);
    let (code, out) = k(&["apply", "-f", &file]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("Warning"), "{out}");
    let (_, secret) = k(&["get", "secret", "creds", "-o", "jsonpath={.data.key}/{.stringData}"]);
    assert_eq!(secret, "dmFsdWU=/", "stringData is written into data and not kept");
    // Re-applied with changes: strategic merge patches over the stored (defaulted) objects.
    let changed = MANIFESTS
        .replace("replicas: 2", "replicas: 3")
        .replace("data: {a: \"1\"}", "data: {a: \"2\"}");
    let file = write(&server, "all2.yaml", &changed);
    let (code, out) = k(&["apply", "-f", &file]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    for what in [
        "deploy/web",
        "svc/web",
        "cm/settings",
        "secret/creds",
        "job/once",
        "cronjob/nightly",
        "role/reader",
        "rolebinding/reader",
    ] {
        let (code, out) = k(&["label", what, "checked=yes"]);
        assert_eq!(code, Some(0), "{what}: {out}");
        assert!(!out.contains("Warning"), "{what}: {out}");
    }
}

#[test]
fn custom_resources_are_checked_against_their_schema() {
    if !require_tool("kubectl") {
        return;
    }
    let server = Server::start(&[]);
    let k = |args: &[&str]| server.k(args);
    let crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
";
    assert_eq!(k(&["apply", "-f", &write(&server, "crd.yaml", crd)]).0, Some(0));
    let established =
        ["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"];
    assert_eq!(k(&established).0, Some(0));
    let cr = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3, colour: red}\n";
    let file = write(&server, "cr.yaml", cr);
    let (code, out) = k(&["apply", "-f", &file]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(r#"strict decoding error: unknown field "spec.colour""#), "{out}");
    assert_eq!(k(&["apply", "--validate=false", "-f", &file]).0, Some(0));
    let (_, spec) = k(&["get", "widget", "w", "-o", "jsonpath={.spec}"]);
    assert_eq!(spec, r#"{"size":3}"#, "pruned");
}
