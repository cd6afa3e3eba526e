#!/usr/bin/env bash
# What can be checked of deploy/k8s without a cluster (.ci/run runs it;
# README.md here says what is not checked, and why):
# - the manifests against the Kubernetes API schemas and the Prometheus
#   Operator's PodMonitor schema, what regstorm relies on in them, and the
#   dashboard's queries as PromQL (validate.mjs, and its own test);
# - `kubectl apply -k` as kubectl 1.27 would build it (its kustomize,
#   v5.0.1, from the Go module proxy): the built objects validate, and N
#   changed in its one place (README.md's step 2 commands, run on a copy)
#   reaches parallelism and REGSTORM_SHARD, the image both Jobs.
# The manifests themselves run, as Kubernetes would start their containers,
# in integration/k8s_test.go.
set -euo pipefail
cd "$(dirname "$0")"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

npm ci --no-audit --no-fund --silent
# validate.mjs fails on each thing it checks, broken in a copy.
node --test validate.test.mjs > "$out/test.log" 2>&1 || { cat "$out/test.log"; exit 1; }
grep -E '^# (tests|pass|fail) ' "$out/test.log"
node validate.mjs

KUSTOMIZE_VERSION=v5.0.1
tools="${REGSTORM_TOOLS:-${HOME:-/root}/.cache/regstorm-tools}/kustomize-$KUSTOMIZE_VERSION"
if [ ! -x "$tools/kustomize" ]; then
  # GOFLAGS cleared: CI's -count=1 is for go test.
  GOFLAGS= GOBIN="$tools" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
kustomize="$tools/kustomize"

"$kustomize" build . > "$out/shards.yaml"
"$kustomize" build merge > "$out/merge.yaml"
node validate.mjs --shards "$(awk '/^  completions:/ {print $2}' regstorm.yaml)" "$out/shards.yaml" "$out/merge.yaml"

# N and the image in their one place each, with the commands of README.md's
# step 2 as written there (on a copy).
mkdir "$out/copy"
cp -r kustomization.yaml regstorm.yaml image merge "$out/copy/"
step2=$(sed -n '/<!-- step 2 -->/,/<!-- \/step 2 -->/p' README.md | sed -n 's/^ *\(sed -i .*\)/\1/p')
[ "$(printf '%s\n' "$step2" | grep -c .)" = 2 ] || { echo "README.md's step 2: want its two sed commands between the step 2 markers"; exit 1; }
(cd "$out/copy" && mkdir -p deploy && ln -s .. deploy/k8s && eval "$step2")
"$kustomize" build "$out/copy" > "$out/shards8.yaml"
"$kustomize" build "$out/copy/merge" > "$out/merge8.yaml"
node validate.mjs --shards 8 "$out/shards8.yaml" "$out/merge8.yaml"
for f in shards8 merge8; do
  grep -q 'image: registry.example.com/regstorm:1.0' "$out/$f.yaml" || { echo "$f: the image of step 2 did not reach it"; grep 'image:' "$out/$f.yaml"; exit 1; }
done
echo "kustomize $KUSTOMIZE_VERSION: N = 8 from completions alone reached parallelism and REGSTORM_SHARD; the image reached the shards and the merge"
