#!/bin/bash
# CUDA bench of a model folder on a GPU machine that has no network (the device
# machine of our sessions). Ship beforehand, as split zstd tar parts in .gpu/
# (each call carries at most 64 MiB):
#   lib0*:  precis (stripped) + libonnxruntime.so.1.31.1 + libonnxruntime_providers_{shared,cuda}.so
#           from the onnxruntime-gpu 1.31.1 wheel, under lib/
#   real0*: the model folder (e.g. `precis model convert GGUF --precision fp16 --layout optimum`)
#   zstd:   a zstd binary (the machine has none)
# The CUDA 13 / cuDNN 9 libraries come from the machine's own PyTorch environment.
set -u
mkdir -p /tmp/p /tmp/b /tmp/r
cp .gpu/lib0* .gpu/real0* /tmp/p/ 2>/dev/null
cat $(ls /tmp/p/lib0* | sort) | .gpu/zstd -d | tar -xf - -C /tmp/b || exit 1
cat $(ls /tmp/p/real0* | sort) | .gpu/zstd -d | tar -xf - -C /tmp/r || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
NV=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
export LD_LIBRARY_PATH=$(ls -d $NV/*/lib 2>/dev/null | tr '\n' ':')
export ORT_DYLIB_PATH=/tmp/b/lib/libonnxruntime.so.1.31.1 CI=1
M=$(ls -d /tmp/r/*/ | head -1)
timeout 60 /tmp/b/precis generate --device cuda --model "$M" --prompt "Summarize in one sentence: fn add(a: i32, b: i32) -> i32 { a + b }" --max-new-tokens 40
for c in 8 32 64; do
  timeout 150 /tmp/b/precis bench --device cuda --model "$M" --concurrency $c --json "$OUT/cuda-c$c.json" 2>&1 | tail -8
done
timeout 120 /tmp/b/precis bench --device cpu --threads 16 --model "$M" --concurrency 8 2>&1 | tail -8
