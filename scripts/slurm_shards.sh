#!/usr/bin/env bash
#SBATCH --job-name=pihlib
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --output=pihlib-%A_%a.log
# One shard of a preset's results per Slurm array task (python -m pihlib.reproduction compute
# --shard K/N), run from the project checkout that every node sees:
#
#   sbatch --array=0-7 scripts/slurm_shards.sh gpu [COMPUTE ARGS ...]   8 shards of the gpu preset
#   scripts/slurm_shards.sh --dry-run 8 gpu [COMPUTE ARGS ...]         print each array task's command
#                                                                      (PIH_GPUS=G: as if a task had G GPUs)
#
# Each array task K of N computes shard K/N; its runs use every GPU the task was given (one run over
# G GPUs with torchrun when G > 1: sbatch --gres=gpu:4 ...). The shards write disjoint records into
# the shared results/<preset>/, so there is nothing to merge: once all are done,
#   sbatch --dependency=afterok:JOBID --gres=gpu:1 --wrap "make book PRESET=gpu"
# renders the book (it finds every result cached). A failed or cancelled task is resubmitted with
# --array=K; it resumes from its cached runs and checkpoints.
# PIH_PYTHON: the Python with pihlib installed (default .venv/bin/python, as make sets it up).
set -euo pipefail

usage="usage: sbatch --array=0-(N-1) $0 PRESET [ARGS ...] | $0 --dry-run N PRESET [ARGS ...]"

command_of() {  # the command of array task $1 of $2, for preset $3 and the compute arguments after it
    local k=$1 n=$2 preset=$3 gpus=$4
    shift 4
    local py=${PIH_PYTHON:-.venv/bin/python}
    local launch=("$py")
    if ((gpus > 1)); then
        launch=("$py" -m torch.distributed.run --standalone --nproc_per_node "$gpus")
    fi
    printf '%q ' "${launch[@]}" -m pihlib.reproduction compute --preset "$preset" --shard "$k/$n" "$@"
    echo
}

if [[ ${1:-} == --dry-run ]]; then
    n=${2:?$usage}
    preset=${3:?$usage}
    shift 3
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "--dry-run takes the number of array tasks, got '$n'" >&2; exit 2; }
    [[ ${PIH_GPUS:-1} =~ ^[1-9][0-9]*$ ]] || { echo "PIH_GPUS must be a number of GPUs, got '$PIH_GPUS'" >&2; exit 2; }
    for ((k = 0; k < n; k++)); do
        echo "array task $k: $(command_of "$k" "$n" "$preset" "${PIH_GPUS:-1}" "$@")"
    done
    exit 0
fi

preset=${1:?$usage}
shift
if [[ -z ${SLURM_ARRAY_TASK_ID:-} ]]; then
    echo "not a Slurm array task: submit with sbatch --array=0-(N-1) $0 $preset, or try --dry-run N" >&2
    exit 2
fi
if [[ ${SLURM_ARRAY_TASK_MIN:-0} != 0 ]]; then
    echo "the array must start at 0 (--array=0-(N-1)), got ${SLURM_ARRAY_TASK_MIN}" >&2
    exit 2
fi
n=${SLURM_ARRAY_TASK_COUNT:-$((SLURM_ARRAY_TASK_MAX + 1))}
gpus=$(nvidia-smi -L 2>/dev/null | wc -l || true)
cd "${SLURM_SUBMIT_DIR:-.}"
cmd=$(command_of "$SLURM_ARRAY_TASK_ID" "$n" "$preset" "${gpus:-0}" "$@")
echo "array task $SLURM_ARRAY_TASK_ID of $n on $(hostname): $cmd"
eval "$cmd"
