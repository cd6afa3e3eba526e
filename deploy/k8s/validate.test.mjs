// The validator catches what it is for: each case breaks one thing in a
// copy of the manifests, and validate.mjs must fail on it (node --test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const here = (p) => new URL(p, import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "regstorm-k8s-"));

function validate(file, text, ...args) {
  const path = join(dir, file);
  writeFileSync(path, text);
  try {
    execFileSync("node", [here("./validate.mjs").pathname, ...args, path], { stdio: "pipe" });
    return { code: 0, out: "" };
  } catch (e) {
    return { code: e.status, out: String(e.stderr) };
  }
}

const shards = readFileSync(here("./regstorm.yaml"), "utf8");
const monitor = readFileSync(here("./podmonitor.yaml"), "utf8");

test("the manifests as written pass", () => {
  assert.equal(validate("shards.yaml", shards).code, 0);
  assert.equal(validate("monitor.yaml", shards + "---\n" + monitor).code, 0);
});

for (const [what, from, to, want] of [
  ["N in parallelism differs", "parallelism: 4", "parallelism: 3", "parallelism 3 is not completions 4"],
  ["N in REGSTORM_SHARD differs", 'value: "$(SHARD)/4"', 'value: "$(SHARD)/5"', "REGSTORM_SHARD"],
  ["not Indexed", "completionMode: Indexed", "completionMode: NonIndexed", "not Indexed"],
  ["no start time", "key: REGSTORM_START_AT", "key: REGSTORM_START_AT\n                  optional: true", "REGSTORM_START_AT"],
  ["writable root", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"],
  ["root user", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot"],
  ["not the Job schema", "backoffLimit: 0", "backoffLimit: none", "regstorm-shards"],
]) {
  test(`shards: ${what}`, () => {
    assert.ok(shards.includes(from), from);
    const r = validate("shards.yaml", shards.replace(from, to));
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(want.replace(/[$()]/g, "\\$&")));
  });
}

for (const [what, from, to, want] of [
  ["a field the CRD lacks", "podMetricsEndpoints:", "podMetricEndpoints:", "PodMonitor/regstorm"],
  ["a bad interval", "interval: 5s", "interval: 5 seconds", "interval"],
  ["selects nothing", "app.kubernetes.io/component: shard", "app.kubernetes.io/component: shards", "does not select"],
  ["another port", "port: metrics", "port: prom", "port prom"],
]) {
  test(`PodMonitor: ${what}`, () => {
    assert.ok(monitor.includes(from), from);
    const r = validate("monitor.yaml", shards + "---\n" + monitor.replace(from, to));
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(want));
  });
}

test("--shards N: the build must carry N", () => {
  const r = validate("shards.yaml", shards, "--shards", "7");
  assert.equal(r.code, 1);
  assert.match(r.out, /completions 4, want 7/);
});
