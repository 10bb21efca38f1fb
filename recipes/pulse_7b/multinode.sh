#!/usr/bin/env bash
# pulse_7b/multinode -- the paper's run on 4 nodes x 8 GPUs (32 GPUs, as the authors: ~10 h for 3 epochs on H100).
# Run this on every node with NODE_RANK=0..3 and the same MASTER_ADDR (the rank-0 node's address).
# Global batch stays 128: 32 GPUs x 2 per device x 2 accumulation.
# Other launchers work the same way:
#   deepspeed --hostfile hosts --module llava_ecg.train.run pulse_7b/full_zero2 ...   (adds --local_rank itself)
#   srun ... torchrun ... (set --nnodes/--node_rank from SLURM_NNODES/SLURM_NODEID)
set -euo pipefail
: "${MASTER_ADDR:?set MASTER_ADDR to the rank-0 node}" "${NODE_RANK:?set NODE_RANK (0..NNODES-1)}"
: "${DATA:?set DATA to ECGInstruct.json (or a mixture YAML)}" "${IMAGES:?set IMAGES to the image root}"
NNODES=${NNODES:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
OUT=${OUT:-checkpoints/pulse-7b}
torchrun --nnodes "$NNODES" --nproc_per_node "$GPUS_PER_NODE" --node_rank "$NODE_RANK" \
  --master_addr "$MASTER_ADDR" --master_port "${MASTER_PORT:-29500}" \
  -m llava_ecg.train.run pulse_7b/full_zero2 \
  data_path="$DATA" image_folder="$IMAGES" output_dir="$OUT" \
  gradient_accumulation_steps=$((128 / (NNODES * GPUS_PER_NODE * 2))) "$@"
