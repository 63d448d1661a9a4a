#!/usr/bin/env bash
# Byte-identity capture for speed work: every `recpim map/simulate --json` (and two small sweeps) for the zoo
# models and the example subnets on every preset. Run it on the tree before a change and after, then compare
# the two folders with `cmp`/`diff -r`: a speed change must leave every file byte-identical.
# Usage: benchmarks/golden_cli.sh REPO OUTDIR
set -u
REPO=$(cd "$1" && pwd); OUT=$(mkdir -p "$2" && cd "$2" && pwd); cd "$REPO"
R=.venv/bin/recpim
MODELS="dlrm deepfm autoint mlp3 vgg8 examples/subnet_full_seed0.json examples/subnet_full_seed1.json examples/subnet_small_seed0.json"
PRESETS="isaac puma neurosim-rram-22nm default"
for m in $MODELS; do
  n=$(basename "$m" .json)
  for p in $PRESETS; do
    $R map "$m" --chip $p --json > "$OUT/map_${n}_$p.json" 2>&1
    $R simulate "$m" --chip $p --engine analytic --json > "$OUT/simA_${n}_$p.json" 2>&1
    [ "$m" != vgg8 ] && $R simulate "$m" --chip $p --engine des --json > "$OUT/simD_${n}_$p.json" 2>&1
  done
done
# sweeps: serial and the default backend (both must agree byte for byte with the old tree)
$R sweep mlp3 --chip isaac --set crossbar.rows=64,128 --set adc.bits=4,6 --backend serial --no-cache --no-report \
  --out /tmp/recpim-golden-sweep --json > "$OUT/sweep_mlp3.json" 2>&1
$R sweep vgg8 --chip isaac --set crossbar.rows=64,128 --set adc.bits=4,8 --no-cache --no-report \
  --out /tmp/recpim-golden-sweep --json > "$OUT/sweep_vgg8.json" 2>&1
$R sweep examples/subnet_small_seed0.json --chip default --set adc.bits=5,8 --no-cache --no-report \
  --out /tmp/recpim-golden-sweep --json > "$OUT/sweep_sub.json" 2>&1
echo done
