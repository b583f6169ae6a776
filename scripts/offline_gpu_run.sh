#!/usr/bin/env bash
# The gpu preset's training runs (notebook 03, Tables 2 and 3) on a CUDA machine that has PyTorch but
# no internet, within a time budget; finished runs come back as results/gpu/classification-runs/*.json
# and a run that did not fit is left for the next call (every finished run is cached).
#
#   scripts/offline_gpu_run.sh bundle DIR                 here: what the machine needs, into DIR (~40 MB):
#                                                          CIFAR-10, the LPIPS AlexNet weights, the lpips
#                                                          and airbench wheels, the test data and the
#                                                          code's git commit
#   scripts/offline_gpu_run.sh run DIR OUT [BUDGET_S [-p classification.NAME VALUE ...]]
#                                                          there, from the repository root: the CUDA tests
#                                                          (a failure stops the script, exit code 1),
#                                                          then the runs (starting none that would end
#                                                          after BUDGET_S, default 420 s); writes
#                                                          OUT/results-gpu.tgz and OUT/log. Exit code 3:
#                                                          runs remain, run it again.
#   scripts/offline_gpu_run.sh bench DIR OUT [ARGS ...]   there: benchmarks/bench_train.py on the bundle's data
#                                                          (recipes side by side at equal training time)
#
# DIR is best a folder inside the repository that git ignores (.device/ is), sent along with the
# working tree.
#
# The data is the project's JPEG copy of all 60,000 images (LOSSY, as every result's provenance says)
# unless PIH_CIFAR10 names another source when bundling; a machine with internet needs none of this:
# `python -m pihlib.reproduction compute --preset gpu --only classification` does the same.
# PIH_DEVICE=cpu makes a dry run of `run` on a machine without a GPU (with a budget of 0 s, it stops
# before the first run).
set -euo pipefail

cmd=${1:?usage: $0 bundle DIR | run DIR OUT [BUDGET_S [-p classification.NAME VALUE ...]]}
dir=${2:?a bundle folder}

if [[ $cmd == bundle ]]; then
    here=$(cd "$(dirname "$0")/.." && pwd)
    shared=${PIH_SHARED:-$here/../shared}
    py=${PYTHON:-$here/.venv/bin/python}
    data=${PIH_CIFAR10:-$shared/data/cifar10-jpeg-60k.tar.gz}
    rm -rf "$dir" && mkdir -p "$dir/cache/assets" "$dir/shared/data"
    "$py" -m pihlib.assets fetch >/dev/null
    cache=$("$py" -c 'from pihlib.runtime import cache_root; print(cache_root())')
    cp "$cache/assets/alexnet.npz" "$cache/assets/alexnet.json" "$dir/cache/assets/"
    cp "$data" "$dir/"
    cp "$shared/data/cifar10-lossless-3k.npz" "$dir/shared/data/"  # the tests' data
    lpips=$("$py" -c 'from importlib.metadata import version; print(version("lpips"))')
    "$py" -m pip download --quiet --no-deps --only-binary=:all: -d "$dir" "lpips==$lpips"
    airbench=$("$py" -c 'from importlib.metadata import version; print(version("airbench"))')
    "$py" -m pip wheel --quiet --no-deps -w "$dir" "airbench==$airbench"  # an sdist on the index: built here
    "$py" -c 'from pihlib.reproduction.provenance import git_commit; print(git_commit())' > "$dir/git-commit"
    echo "$(basename "$data")" > "$dir/data-name"
    du -sh "$dir"
    exit 0
fi

[[ $cmd == run || $cmd == bench ]] || { echo "unknown command $cmd" >&2; exit 2; }
out=${3:?an output folder}
mkdir -p "$out"
exec > >(tee "$out/log") 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/pih-site \
    "$dir"/*.whl
export TQDM_MININTERVAL=5 PYTHONPATH=/tmp/pih-site:$PWD PYTHONUNBUFFERED=1 PIH_CACHE=$PWD/$dir/cache \
    PIH_SHARED=$PWD/$dir/shared
PIH_GIT_COMMIT="$(cat "$dir/git-commit") (copied)"
export PIH_GIT_COMMIT
data="$dir/$(cat "$dir/data-name")"
device=${PIH_DEVICE:-cuda}  # PIH_DEVICE=cpu: a dry run of this script without a GPU
python3 -c "import torch; print('torch', torch.__version__, 'on', torch.cuda.get_device_name() if '$device' == 'cuda' else '$device')"

if [[ $cmd == bench ]]; then
    python3 benchmarks/bench_train.py --data "$data" "${@:4}"
    exit
fi

budget=${4:-420}
# the CUDA tests first: a failure stops here, before any run (without a GPU they are skipped: exit 0)
tests=0
python3 -m pytest -q -p no:cacheprovider tests/test_train.py tests/test_scramblers.py -k "cuda or CUDA" \
    || tests=$?
if ((tests == 5)); then  # pytest's "no tests collected": the -k filter matched no test
    echo "offline_gpu_run.sh: no CUDA test matched -k 'cuda or CUDA' (pytest exit 5): nothing was checked on the GPU; going on with the runs"
elif ((tests != 0)); then
    echo "offline_gpu_run.sh: the CUDA tests failed (pytest exit $tests): no run started; see the test output above" >&2
    exit 1
fi
rc=0
python3 -m pihlib.reproduction compute --preset gpu --only classification --data "$data" --jpeg-data "" \
    --budget-s "$budget" --device "$device" "${@:5}" \
    || rc=$?
tar czf "$out/results-gpu.tgz" results/gpu 2>/dev/null || { rm -f "$out/results-gpu.tgz"; echo "no gpu results yet"; }
exit $rc
