// Validates regstorm.yaml against the Kubernetes API schemas
// (kubernetes-models), since no cluster is at hand: node validate.mjs
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { Job } from "kubernetes-models/batch/v1/Job";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";

const kinds = { Job, PersistentVolumeClaim };
const file = process.argv[2] ?? new URL("./regstorm.yaml", import.meta.url);
let failed = 0, n = 0;
for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
  if (doc.errors.length) { console.error(doc.errors.join("\n")); failed++; continue; }
  const obj = doc.toJS();
  const Kind = kinds[obj.kind];
  if (!Kind) { console.error(`unexpected kind ${obj.kind}`); failed++; continue; }
  try {
    new Kind(obj).validate();
    n++;
    console.log(`ok ${obj.kind}/${obj.metadata.name}`);
  } catch (e) {
    failed++;
    console.error(`invalid ${obj.kind}/${obj.metadata?.name}: ${e.message}`);
  }
}
// The shard Job must stay an Indexed Job feeding --shard.
const shards = parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS()).find((o) => o.metadata?.name === "regstorm-shards");
if (shards?.spec?.completionMode !== "Indexed" || !JSON.stringify(shards.spec.template).includes("--shard=$(SHARD)/" + shards.spec.completions)) {
  console.error("regstorm-shards must be an Indexed Job whose --shard N equals completions");
  failed++;
}
console.log(`${n} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
