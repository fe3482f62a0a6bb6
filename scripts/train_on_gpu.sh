#!/usr/bin/env bash
# Train the shipped models (and the dncnn2017 reproduction's network) on a lent GPU, in one call.
#
# The GPU machine has no ../shared/data, pydicom-data or nilearn: the training images travel as a bundle
# made here first (`scripts/train_pretrained.py --save-bundle .gpu/bundle.npz`), Train400/Set12 as copies in
# .gpu/data, missing Python packages as wheels in .gpu/whl. The weights come back in $OUT as a split tarball
# (the tool returns files of at most 16 MB); the model cards' quality is measured afterwards where the data
# are: `scripts/train_pretrained.py --cards-only`.
#
#   GENERAL_S / MODALITY_S  training seconds of the general model / of each modality model (side by side)
#   DNCNN_EPOCHS / DNCNN_PPI  the dncnn2017 run (Train400 patches per image per epoch)
#   DEVICE  cuda (default) or cpu (a dry run of this script on a CPU, with a small ARCH and DNCNN_CHANNELS)
#   DEADLINE  seconds after which a still-running dncnn2017 training is stopped (its last epoch is kept)
#   MODE  scratch (default: general from nothing, then ct / mri / xray from it, ARCH) or finetune: each model
#         of FINETUNE (default "general xray ct", those under issue 12's +0.3 dB) from its own shipped
#         weights with its card's recipe (architecture, level weighting, ct's noise kinds), FINETUNE_S
#         training seconds each, side by side, WORKERS data workers each
#   DNCNN  1 (default) also runs the dncnn2017 reproduction in the background; 0 skips it
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
WORK=${WORK:-/tmp/gpu-work}
DEVICE=${DEVICE:-cuda}
GENERAL_S=${GENERAL_S:-150}
MODALITY_S=${MODALITY_S:-200}
DNCNN_EPOCHS=${DNCNN_EPOCHS:-40}
DNCNN_PPI=${DNCNN_PPI:-64}
DEADLINE=${DEADLINE:-480}
PY=${PY:-python3}
ARCH=${ARCH:-'{"channels": [32, 64, 128, 256], "blocks": 1}'}
DNCNN_CHANNELS=${DNCNN_CHANNELS:-32,64,128,256}
MODE=${MODE:-scratch}
FINETUNE=${FINETUNE:-general xray ct}
FINETUNE_S=${FINETUNE_S:-300}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-6}
WORKERS=${WORKERS:-4}
DNCNN=${DNCNN:-1}
COMMON=(--device "$DEVICE" --patch 64 --batch 64 --grad-clip 1
        --bundle .gpu/bundle.npz --threads 2 --out "$WORK/weights" --runs-dir "$WORK/runs")
# each shipped model's recipe, as its card's command has it (finetune mode)
recipe() {
  local two='{"channels": [32, 64, 128, 256], "blocks": 2}' one='{"channels": [32, 64, 128, 256], "blocks": 1}'
  case $1 in
    general) RECIPE=(--architecture-params "$two" --level-weight-power 1.2 --finetune-lr 1e-4 --weights-storage int4) ;;
    xray) RECIPE=(--architecture-params "$two" --level-weight-power 1.5 --finetune-lr 5e-5 --weights-storage int4) ;;
    ct) RECIPE=(--architecture-params "$one" --level-weight-power 1.0 --finetune-lr 1e-4 --ct-white-fraction 0.7
                --ct-mixed-fraction 0.15 --ct-correlation) ;;
    mri) RECIPE=(--architecture-params "$one" --finetune-lr 1e-4) ;;
    *) echo "no recipe for $1"; return 1 ;;
  esac
}
mkdir -p "$OUT" "$WORK/weights" "$WORK/logs"
start=$SECONDS
if [ -d .gpu/whl ] && ls .gpu/whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
    || { echo "wheel install failed"; exit 3; }
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
# smoke: a few steps of the real trainer on the device, so a broken environment stops in seconds
$PY - "$DEVICE" <<'EOF' || { echo "smoke test failed"; exit 4; }
import sys, tempfile, numpy as np, torch
from meddenoise.training import TrainConfig, train
print("torch", torch.__version__, "cuda", torch.cuda.is_available())
cfg = TrainConfig(model="ffdunet", model_params={"channels": [8, 16], "blocks": 1}, noise=None,
                  objective={"kind": "conditioned", "sigma_low": 0.0, "sigma_high": 0.1}, epochs=1,
                  batch_size=8, device=sys.argv[1], data={"patch_size": 32})
r = train(cfg, np.random.default_rng(0).random((16, 48, 48), dtype=np.float32),
          out_dir=tempfile.mkdtemp() + "/run", progress=False)
print("smoke ok:", r.config.device, r.config.precision, round(r.history[-1]["train_loss"], 5))
EOF

dncnn=
if [ "$DNCNN" = 1 ]; then
  echo "[$((SECONDS - start)) s] dncnn2017 ($DNCNN_EPOCHS epochs x $DNCNN_PPI patches per image) in the background"
  $PY -m meddenoise reproduce dncnn2017 --data-dir .gpu/data --out "$WORK/dncnn" --threads 2 \
    --set device="$DEVICE" --set channels="$DNCNN_CHANNELS" --set blocks=2 --set batch_size=64 --set precision=auto --set baselines= \
    --set epochs="$DNCNN_EPOCHS" --set patches_per_image="$DNCNN_PPI" > "$WORK/logs/dncnn.log" 2>&1 &
  dncnn=$!
fi

if [ "$MODE" = finetune ]; then
  echo "[$((SECONDS - start)) s] $FINETUNE from their shipped weights side by side, ${FINETUNE_S} s each"
  pids=()
  for m in $FINETUNE; do
    recipe "$m" || exit 2
    $PY scripts/train_pretrained.py --models "$m" --init-shipped --finetune-epochs "$FINETUNE_EPOCHS" \
      --time-budget "$FINETUNE_S" --workers "$WORKERS" "${RECIPE[@]}" "${COMMON[@]}" > "$WORK/logs/$m.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || echo "a fine-tune failed (pid $p)"; done
  for m in $FINETUNE; do grep -v "batch/s" "$WORK/logs/$m.log" | tail -3; done
else
  echo "[$((SECONDS - start)) s] general model, ${GENERAL_S} s"
  $PY scripts/train_pretrained.py --models general --epochs 6 --time-budget "$GENERAL_S" \
    --architecture-params "$ARCH" "${COMMON[@]}" \
    > "$WORK/logs/general.log" 2>&1 || { echo "general failed"; tail -20 "$WORK/logs/general.log"; }
  grep -v "batch/s" "$WORK/logs/general.log" | tail -4

  echo "[$((SECONDS - start)) s] ct, mri, xray side by side, ${MODALITY_S} s each"
  pids=()
  for m in ct mri xray; do
    $PY scripts/train_pretrained.py --models $m --finetune-epochs 6 --time-budget "$MODALITY_S" --workers 8 \
      --init-general "$WORK/runs/general" --architecture-params "$ARCH" "${COMMON[@]}" > "$WORK/logs/$m.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || echo "a modality run failed (pid $p)"; done
  for m in ct mri xray; do grep -v "batch/s" "$WORK/logs/$m.log" | tail -3; done
fi

left=$((DEADLINE - (SECONDS - start)))
if [ -n "$dncnn" ] && kill -0 $dncnn 2>/dev/null; then
  echo "[$((SECONDS - start)) s] waiting up to ${left} s for dncnn2017"
  for _ in $(seq 1 $((left > 0 ? left : 0))); do kill -0 $dncnn 2>/dev/null || break; sleep 1; done
  kill -0 $dncnn 2>/dev/null && { echo "dncnn2017 stopped at the deadline"; kill $dncnn; }
fi
if [ -n "$dncnn" ]; then
  wait $dncnn 2>/dev/null
  tr '\r' '\n' < "$WORK/logs/dncnn.log" | grep -v "batch/s" | tail -25
fi

echo "[$((SECONDS - start)) s] packing"
for m in general ct mri xray; do cp "$WORK/runs/$m/history.json" "$WORK/weights/$m.history.json" 2>/dev/null; done
for f in "$WORK"/logs/*.log; do tr '\r' '\n' < "$f" | grep -v "batch/s" > "$f.txt"; done
tar -C "$WORK" -cf "$WORK/all.tar" weights \
  $(cd "$WORK" && ls logs/*.txt dncnn/training/last.json dncnn/training/last.safetensors dncnn/training/config.json \
    dncnn/training/history.json dncnn/results.json 2>/dev/null)
split -b 15M -d "$WORK/all.tar" "$OUT/part"
ls -la "$OUT"
echo "[$((SECONDS - start)) s] done"
