// Validates prometheus-operator objects (ServiceMonitor, PrometheusRule, PodMonitor) against
// the models of @kubernetes-models/prometheus-operator, generated from the operator's CRDs.
// Called by scripts/deploy-checks/checks.py: node crds.mjs <objects.json> <node_modules dir>,
// where the file holds a JSON array of objects. Prints one line per problem; exits 1 if any.
// The models check types, enums and required fields; unknown fields are not reported (the API
// server prunes them), so the Python side checks the fields the chart relies on.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// The models live in the tools directory, not beside this file: import them by path.
const models = join(process.argv[3], "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/index.js");
const v1 = await import(pathToFileURL(models).href);

const objects = JSON.parse(readFileSync(process.argv[2], "utf8"));
let failed = 0;
for (const obj of objects) {
  const Model = v1[obj.kind];
  const where = `${obj.kind}/${obj.metadata?.name}`;
  if (obj.apiVersion !== "monitoring.coreos.com/v1" || typeof Model !== "function") {
    console.log(`${where}: no model for ${obj.apiVersion} ${obj.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    console.log(`${where}: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
