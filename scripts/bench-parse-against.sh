#!/usr/bin/env bash
# The exposition parser against an earlier build of it (BASE_REV, default 15d18e5: the parser
# before the Prometheus-conformant text/OpenMetrics rewrite): both `benches/parse.rs` binaries
# run alternately, ROUNDS times each (criterion, 10 MB Envoy body), so a slow spell of the
# machine lands on both. Writes the "## Exposition parser against the previous one" section of
# BENCHMARKS.md. Takes about 8 minutes (most of it building the old revision once).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_REV=${BASE_REV:-15d18e5} ROUNDS=${ROUNDS:-3}
work=target/bench-parse-against
mkdir -p "$work"
rm -rf "$work/base"
git worktree add --detach "$work/base" "$BASE_REV" >/dev/null
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true' EXIT

bench_bin() { # manifest dir, target dir -> the parse bench executable
    (cd "$1" && CARGO_TARGET_DIR="$2" cargo bench -p mixerless-engine --bench parse --no-run \
        --message-format=json 2>/dev/null) |
        python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "parse"][-1])'
}
base_bin=$(bench_bin "$work/base" "$PWD/$work/base-target")
new_bin=$(bench_bin . "$PWD/target")

out=$work/runs.txt
: >"$out"
for r in $(seq "$ROUNDS"); do
    for build in base new; do
        bin=base_bin; [ "$build" = new ] && bin=new_bin
        filter=mixerless_parse_each
        echo "== round $r $build" | tee -a "$out"
        # Criterion keeps its reports under CRITERION_HOME, not in the source tree.
        (cd "$([ "$build" = base ] && echo "$work/base" || echo .)/adapter/engine" &&
            CRITERION_HOME="$OLDPWD/$work/criterion" "${!bin}" --bench "$filter" 2>&1) | tee -a "$out" >&2
    done
done

BASE_REV=$BASE_REV ROUNDS=$ROUNDS python3 - "$out" <<'PY'
import os, re, statistics, subprocess, sys
text = open(sys.argv[1]).read()
runs = {}  # (build, bench) -> [MiB/s]
for block in re.split(r"^== round \d+ ", text, flags=re.M)[1:]:
    build = block.split("\n", 1)[0].strip()
    for name, mid, unit in re.findall(r"^(\S+)\s+time:.*?\n\s+thrpt:\s+\[\S+ \S+ ([0-9.]+) (\S+)", block, flags=re.M):
        name = name.rsplit("/", 1)[-1]
        runs.setdefault((build, name), []).append(float(mid) * (1024 if unit == "GiB/s" else 1))
cpu = subprocess.run("lscpu | grep 'Model name' | sed 's/Model name: *//'", shell=True, capture_output=True, text=True).stdout.strip()
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
base = statistics.median(runs[("base", "mixerless_parse_each")])
lines = ["## Exposition parser against the previous one", "",
    f"Machine: {nproc} cores, {cpu}. Command: `scripts/bench-parse-against.sh` (BASE_REV={os.environ['BASE_REV']}, the parser before",
    "the Prometheus-conformant rewrite; ROUNDS=" + os.environ["ROUNDS"] + "): the two `benches/parse.rs` binaries run alternately on the",
    "10 MB Envoy body (criterion, 10 samples; each figure is a run's median throughput). Target: the new text path",
    "loses no more than 10 %.", "",
    "| build | bench | runs (MiB/s) | median | against the previous text path |", "| --- | --- | --- | --- | --- |"]
for (build, name), xs in sorted(runs.items()):
    if name not in ("mixerless_parse_each", "mixerless_parse_each_openmetrics"):
        continue
    m = statistics.median(xs)
    label = "previous" if build == "base" else "current"
    lines.append(f"| {label} | `{name}` | {', '.join(f'{x:.1f}' for x in xs)} | {m:.1f} | {m / base:.2f}× |")
new = statistics.median(runs[("new", "mixerless_parse_each")])
lines += ["", f"- Text path: **{new / base:.2f}×** the previous parser's throughput (target ≥ 0.90×: "
          f"**{'met' if new / base >= 0.9 else 'not met'}**). The OpenMetrics row is the same body served as OpenMetrics 1.0.", ""]
section = "\n".join(lines)
path = "BENCHMARKS.md"
doc = open(path).read()
m = re.search(r"^## Exposition parser against (the previous one|main \(issue 14\))\n.*?(?=^## |\Z)", doc, flags=re.S | re.M)
doc = doc[:m.start()] + section + "\n" + doc[m.end():] if m else doc.rstrip("\n") + "\n\n" + section
open(path, "w").write(doc)
print(section)
PY
