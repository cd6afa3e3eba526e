// Checks the Kubernetes manifests and the Grafana dashboard without a
// cluster (none is at hand here):
//   node validate.mjs [--shards N] [FILE.yaml ...]
// - every object against its API schema: Job and PersistentVolumeClaim
//   (kubernetes-models), PodMonitor (@kubernetes-models/prometheus-operator,
//   the Prometheus Operator's CRD schema);
// - what regstorm relies on: the shard Job is an Indexed Job with
//   parallelism = completions = the N of REGSTORM_SHARD=$(SHARD)/N (N when
//   --shards says it: check.sh builds with kustomize after changing N in one
//   place), SHARD is the completion index, a start time for every shard,
//   the pods run as non-root on a read-only root filesystem;
// - every query of grafana-dashboard.json parses as PromQL (the Prometheus
//   UI's own grammar, @prometheus-io/lezer-promql). That each metric it
//   names exists is checked against a real scrape by the integration test
//   (integration/k8s_test.go).
// Without FILEs: regstorm.yaml, merge/merge.yaml and podmonitor.yaml as
// written. Ends with "N passed, N failed".
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { Job } from "kubernetes-models/batch/v1/Job";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { parser as promql } from "@prometheus-io/lezer-promql";

const here = (p) => new URL(p, import.meta.url);
const kinds = { Job, PersistentVolumeClaim, PodMonitor };
let passed = 0, failed = 0;
const ok = (what) => { passed++; console.log(`ok ${what}`); };
const bad = (what, why) => { failed++; console.error(`FAIL ${what}: ${why}`); };

const argv = process.argv.slice(2);
let wantN = 0;
const si = argv.indexOf("--shards");
if (si >= 0) {
  wantN = Number(argv[si + 1]);
  argv.splice(si, 2);
}
const files = argv.length ? argv : [here("./regstorm.yaml"), here("./merge/merge.yaml"), here("./podmonitor.yaml")];

const objects = [];
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) { bad(String(file), doc.errors.join("; ")); continue; }
    const obj = doc.toJS();
    if (obj == null) continue;
    const name = `${obj.kind}/${obj.metadata?.name}`;
    const Kind = kinds[obj.kind];
    if (!Kind) { bad(name, `unexpected kind ${obj.kind} in ${file}`); continue; }
    try {
      new Kind(obj).validate();
      ok(`${name}: ${obj.apiVersion} schema`);
      objects.push(obj);
    } catch (e) {
      bad(name, e.message);
    }
  }
}

const container = (job, name) => job?.spec?.template?.spec?.containers?.find((c) => c.name === name);
const envOf = (c, name) => c?.env?.find((e) => e.name === name);
function secure(job, cname) {
  const pod = job.spec.template.spec, c = container(job, cname);
  const why = [];
  if (pod.securityContext?.runAsNonRoot !== true) why.push("pod securityContext.runAsNonRoot is not true");
  if (!(pod.securityContext?.runAsUser > 0)) why.push("pod securityContext.runAsUser is root or unset");
  if (c?.securityContext?.readOnlyRootFilesystem !== true) why.push("readOnlyRootFilesystem is not true");
  if (c?.securityContext?.allowPrivilegeEscalation !== false) why.push("allowPrivilegeEscalation is not false");
  return why;
}

const shards = objects.find((o) => o.kind === "Job" && o.metadata?.name === "regstorm-shards");
if (shards) {
  const s = shards.spec, c = container(shards, "regstorm");
  const n = s.completions;
  const why = [];
  if (s.completionMode !== "Indexed") why.push("completionMode is not Indexed");
  if (s.parallelism !== n) why.push(`parallelism ${s.parallelism} is not completions ${n}: the shards would not run together`);
  if (wantN && n !== wantN) why.push(`completions ${n}, want ${wantN}`);
  if (envOf(c, "REGSTORM_SHARD")?.value !== `$(SHARD)/${n}`) why.push(`REGSTORM_SHARD is ${JSON.stringify(envOf(c, "REGSTORM_SHARD")?.value)}, want "$(SHARD)/${n}"`);
  const idx = envOf(c, "SHARD")?.valueFrom?.fieldRef?.fieldPath;
  if (idx !== "metadata.annotations['batch.kubernetes.io/job-completion-index']") why.push(`SHARD is not the completion index (${idx})`);
  const at = envOf(c, "REGSTORM_START_AT")?.valueFrom?.configMapKeyRef;
  if (!at || at.optional) why.push("REGSTORM_START_AT is not taken from a ConfigMap that must exist");
  if (!c?.ports?.some((p) => p.name === "metrics")) why.push("no port named metrics (podmonitor.yaml scrapes it)");
  why.push(...secure(shards, "regstorm"));
  why.length ? bad("Job/regstorm-shards", why.join("; ")) : ok(`Job/regstorm-shards: Indexed, N = ${n} in completions, parallelism and REGSTORM_SHARD; one start time; non-root, read-only root`);
}
const merge = objects.find((o) => o.kind === "Job" && o.metadata?.name === "regstorm-merge");
if (merge) {
  const c = container(merge, "merge");
  const why = [];
  if (c?.args?.[0] !== "merge") why.push(`args ${JSON.stringify(c?.args)} do not run regstorm merge`);
  why.push(...secure(merge, "merge"));
  why.length ? bad("Job/regstorm-merge", why.join("; ")) : ok("Job/regstorm-merge: regstorm merge, non-root, read-only root");
}
const pm = objects.find((o) => o.kind === "PodMonitor");
if (pm && shards) {
  const labels = shards.spec.template.metadata?.labels ?? {};
  const sel = pm.spec.selector?.matchLabels ?? {};
  const port = pm.spec.podMetricsEndpoints?.[0]?.port;
  if (Object.entries(sel).some(([k, v]) => labels[k] !== v)) bad(`PodMonitor/${pm.metadata.name}`, `selector ${JSON.stringify(sel)} does not select the shard pods (${JSON.stringify(labels)})`);
  else if (!container(shards, "regstorm").ports?.some((p) => p.name === port)) bad(`PodMonitor/${pm.metadata.name}`, `port ${port} is not the shards'`);
  else ok(`PodMonitor/${pm.metadata.name}: selects the shard pods, port ${port}`);
}

// The dashboard's queries parse as PromQL (Grafana's $__rate_interval
// stands for a duration).
if (!argv.length) {
  const dash = JSON.parse(readFileSync(here("./grafana-dashboard.json"), "utf8"));
  let n = 0;
  for (const p of dash.panels ?? []) {
    for (const t of p.targets ?? []) {
      const expr = t.expr.replaceAll("$__rate_interval", "1m").replaceAll("$__interval", "1m");
      let at = -1;
      promql.parse(expr).iterate({ enter: (node) => { if (node.type.isError && at < 0) at = node.from; } });
      if (at >= 0) bad(`dashboard "${p.title}" ${t.refId}`, `not PromQL at ${at}: ${t.expr}`);
      n++;
    }
  }
  if (n === 0) bad("grafana-dashboard.json", "no query");
  else ok(`grafana-dashboard.json: ${n} queries parse as PromQL`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
