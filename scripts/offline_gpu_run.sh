#!/usr/bin/env bash
# Every result of a preset (default gpu: scrambling, the metric study, the key search, the
# classification's runs with its first-layer and JPEG studies, the hiding study) on a CUDA machine
# that has PyTorch but no internet, within a time budget: the CUDA tests first, then every task that
# fits (`python -m pihlib.reproduction compute --preset gpu --budget-s BUDGET_S`); a task that would not
# fit is not started and is left for the next call (exit code 3), and everything finished is cached,
# so the next call goes on where this one stopped.
#
#   scripts/offline_gpu_run.sh bundle DIR        here: what the machine needs, into DIR (its sizes printed):
#       DIR/core     (~45 MB) CIFAR-10, the tests' data, the pretrained assets but the two largest
#                    (AlexNet for LPIPS and rho, BRISQUE's and NIQE's models), the wheels of airbench,
#                    lpips and piq (always installed) and of pillow and tqdm (installed only where
#                    missing), the code's git commit
#       DIR/extra-K  (~140 MB in 3 pieces of PIH_BUNDLE_PART_MIB, default 56 MiB, each of which can
#                    travel alone): the metric study's VGG16 and FID Inception weights
#       DIR/scipy    (~35 MB) scipy's wheel, installed only where missing (lpips imports it; the H200
#                    image has it, so it need not travel there)
#   scripts/offline_gpu_run.sh run DIR OUT [BUDGET_S [COMPUTE ARGS ...]]
#                                                there, from the repository root: the CUDA tests (a failure
#                                                stops the script, exit code 1), then the tasks that fit in
#                                                BUDGET_S (default 420 s; a hard stop at BUDGET_S + 60 s
#                                                interrupts a task that overruns its estimate); writes
#                                                OUT/results-PRESET.tgz (results/PRESET/...) and OUT/log.
#                                                Exit code 3: tasks remain, run it again. COMPUTE ARGS go
#                                                to the compute command (--only scrambling, -p
#                                                classification.seeds '[0]', ...)
#   scripts/offline_gpu_run.sh bench DIR OUT [ARGS ...]   there: benchmarks/bench_train.py on the bundle's data
#                                                (recipes side by side at equal training time)
#
# DIR is best a folder inside the repository that git ignores (.device/ is), sent along with the
# working tree. The device tool carries at most 64 MiB a call: DIR/core travels in one call; the
# pieces DIR/extra-K only matter for the metric study and need one call each on a machine kept warm
# in between (files carried earlier stay). Without them `run` leaves the metric study out, says so
# and exits 3.
#
# Expected time on one H100/H200 with 16 CPU cores, gpu preset, nothing cached (the compute command
# prints its estimate per experiment, and each task's expected and measured time): about 10 s for
# the scrambling check and 30 s for the hiding study, 6-7 min for the classification's 25 runs and
# 1-1.5 min for its first-layer study (measured there), about 3 min more for the 24 runs with derived
# first layers (estimated: each trains the plain classifier, after a fit of 1-15 s on the CPU), the
# attacks (not measured there: their statistics and ELE's layouts run on the CPU), 3-4 min for the key search (estimated: it runs
# on the machine's CPU), plus a few seconds of data loading per experiment. So two calls of the
# default budget compute everything but the metric study. The JPEG study needs the lossless 50,000
# training images (the bundle's data is the JPEG copy): it says it was not measured. The metric study
# is expected to take over an hour (estimated: VGG, FID's Inception and NIQE on 2,000 images x 33 keys,
# on the CPU, as its compute code keeps the images there): no 10-minute call starts it.
#
# The data is the project's JPEG copy of all 60,000 images (LOSSY, as every result's provenance says)
# unless PIH_CIFAR10 names another source when bundling (PIH_CIFAR10_JPEG the JPEG copy, "" for none;
# PIH_BUNDLE_WHEELS=0 bundles no wheels; PIH_BUNDLE_PART_MIB=0 keeps everything in DIR/core). A
# machine with internet needs none of this: `python -m pihlib.reproduction compute --preset gpu
# --budget-s 420` does the same. PIH_PRESET names another preset for `run` (smoke for a quick check)
# and PIH_DEVICE=cpu makes a dry run without a GPU (the CUDA tests are then skipped).
set -euo pipefail

cmd=${1:?usage: $0 bundle DIR | run DIR OUT [BUDGET_S [COMPUTE ARGS ...]] | bench DIR OUT [ARGS ...]}
dir=${2:?a bundle folder}

if [[ $cmd == bundle ]]; then
    here=$(cd "$(dirname "$0")/.." && pwd)
    shared=${PIH_SHARED:-$here/../shared}
    py=${PYTHON:-$here/.venv/bin/python}
    data=${PIH_CIFAR10:-$shared/data/cifar10-jpeg-60k.tar.gz}
    jpeg=${PIH_CIFAR10_JPEG-$shared/data/cifar10-jpeg-60k.tar.gz}
    part_mib=${PIH_BUNDLE_PART_MIB:-56}
    core=$dir/core
    rm -rf "$dir" && mkdir -p "$core/cache/assets" "$core/shared/data" "$core/wheels" "$core/wheels-if-missing"
    extra=$(mktemp -d)
    trap 'rm -rf "$extra"' EXIT
    mkdir -p "$extra/assets" "$dir/scipy"
    "$py" -m pihlib.assets fetch >/dev/null  # every pretrained asset, checked, into the cache
    cache=$("$py" -c 'from pihlib.assets import asset_dir; print(asset_dir())')
    for name in alexnet brisque niqe; do cp "$cache/$name.npz" "$cache/$name.json" "$core/cache/assets/"; done
    cp "$cache/vgg16.npz" "$cache/vgg16.json" "$cache/inception.pt" "$cache/inception.json" "$extra/assets/"
    cp "$data" "$core/"
    basename "$data" > "$core/data-name"
    if [[ -n $jpeg ]]; then
        [[ $(basename "$jpeg") == $(basename "$data") ]] || cp "$jpeg" "$core/"
        basename "$jpeg" > "$core/jpeg-name"
    fi
    cp "$shared/data/cifar10-lossless-3k.npz" "$core/shared/data/"  # the tests' data
    if [[ ${PIH_BUNDLE_WHEELS:-1} != 0 ]]; then
        v() { "$py" -c "from importlib.metadata import version; print(version('$1'))"; }
        get=("$py" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12
             --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
             --platform manylinux2014_x86_64)
        "${get[@]}" -d "$core/wheels" "lpips==$(v lpips)" "piq==$(v piq)"
        "$py" -m pip wheel --quiet --no-deps -w "$core/wheels" "airbench==$(v airbench)"  # an sdist: built here
        "${get[@]}" -d "$core/wheels-if-missing" "pillow==$(v pillow)" "tqdm==$(v tqdm)"
        "${get[@]}" -d "$dir/scipy" "scipy==$(v scipy)"
    fi
    "$py" -c 'from pihlib.reproduction.provenance import git_commit; print(git_commit())' > "$core/git-commit"
    if [[ $part_mib == 0 ]]; then  # no pieces: everything in core
        cp "$extra"/assets/* "$core/cache/assets/"
    else
        tar cf "$extra/extra.tar" -C "$extra" assets
        sha256sum "$extra/extra.tar" | cut -d' ' -f1 > "$core/extra.sha256"
        split -b "${part_mib}M" -d -a 2 "$extra/extra.tar" "$extra/piece-"
        k=0
        for piece in "$extra"/piece-*; do
            k=$((k + 1))
            mkdir -p "$dir/extra-$k"
            mv "$piece" "$dir/extra-$k/extra.tar.$k"
        done
        echo "$k" > "$core/extra-parts"
    fi
    du -sh "$dir"/*
    du -sh "$dir"
    size=$(du -sm "$core" | cut -f1)
    if ((part_mib > 0 && size > part_mib)); then
        echo "offline_gpu_run.sh: warning: $core is $size MiB, over the $part_mib MiB a part should hold" >&2
    fi
    exit 0
fi

[[ $cmd == run || $cmd == bench ]] || { echo "unknown command $cmd" >&2; exit 2; }
out=${3:?an output folder}
mkdir -p "$out"
exec > >(tee "$out/log") 2>&1
dir=$(cd "$dir" && pwd)
core=$dir/core
[[ -f $core/git-commit ]] || { echo "offline_gpu_run.sh: $core holds no bundle (make one with: bundle DIR)" >&2; exit 2; }
device=${PIH_DEVICE:-cuda}  # PIH_DEVICE=cpu: a dry run of this script without a GPU
preset=${PIH_PRESET:-gpu}

# the metric study's weights, joined again from their pieces where all travelled
metric_weights=yes
if [[ -f $core/extra-parts ]]; then
    parts=$(cat "$core/extra-parts")
    pieces=()
    for ((k = 1; k <= parts; k++)); do
        [[ -f $dir/extra-$k/extra.tar.$k ]] && pieces+=("$dir/extra-$k/extra.tar.$k")
    done
    if ((${#pieces[@]} == parts)); then
        joined=$(mktemp -d)
        cat "${pieces[@]}" > "$joined/extra.tar"
        if [[ $(sha256sum "$joined/extra.tar" | cut -d' ' -f1) != $(cat "$core/extra.sha256") ]]; then
            echo "offline_gpu_run.sh: the pieces $dir/extra-* do not join into the bundled file (sha256): bundle again" >&2
            exit 2
        fi
        tar xf "$joined/extra.tar" -C "$joined"
        cp "$joined"/assets/* "$core/cache/assets/"
        rm -rf "$joined"
        echo "joined the $parts pieces of $dir/extra-*: the metric study's weights are here"
    else
        metric_weights=no
        echo "only ${#pieces[@]} of the $parts pieces $dir/extra-1..$parts are here: the metric study (its VGG16 and" \
             "FID Inception weights) is left out of this call"
    fi
fi

site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
shopt -s nullglob
always=("$core"/wheels/*.whl)
missing=()
for wheel in "$core"/wheels-if-missing/*.whl "$dir"/scipy/*.whl; do
    name=$(basename "$wheel"); name=${name%%-*}; name=${name,,}
    [[ $name == pillow ]] && module=PIL || module=$name
    python3 -c "import $module" 2>/dev/null || missing+=("$wheel")
done
shopt -u nullglob
if ((${#always[@]} + ${#missing[@]})); then
    echo "installing $(printf '%s ' "${always[@]##*/}" "${missing[@]##*/}")into $site"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
        "${always[@]}" "${missing[@]}"
fi
export TQDM_MININTERVAL=5 PYTHONPATH=$site:$PWD PYTHONUNBUFFERED=1 PIH_CACHE=$core/cache \
    PIH_SHARED=$core/shared PIH_OFFLINE=1
PIH_GIT_COMMIT="$(cat "$core/git-commit") (copied)"
export PIH_GIT_COMMIT
data="$core/$(cat "$core/data-name")"
jpeg=""
[[ -s $core/jpeg-name ]] && jpeg="$core/$(cat "$core/jpeg-name")"
python3 -c "import torch; print('torch', torch.__version__, 'on', torch.cuda.get_device_name() if '$device' == 'cuda' else '$device')"

if [[ $cmd == bench ]]; then
    python3 benchmarks/bench_train.py --data "$data" "${@:4}"
    exit
fi

budget=${4:-420}
stop=${PIH_STOP_S:-$(awk -v b="$budget" 'BEGIN { printf "%d", b + 60 }')}
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
only=()
if [[ $metric_weights == no ]]; then
    read -r -a only < <(python3 -c 'from pihlib.reproduction import EXPERIMENTS
print(*[e for e in EXPERIMENTS if e != "metric_study"])')
    only=(--only "${only[@]}")
fi
echo "computing preset $preset on $device: every task that fits in $budget s (hard stop at $stop s)"
rc=0
timeout -s INT -k 30 "$stop" python3 -m pihlib.reproduction compute --preset "$preset" "${only[@]}" \
    --data "$data" --jpeg-data "$jpeg" --budget-s "$budget" --device "$device" "${@:5}" \
    || rc=$?
if ((rc == 124 || rc == 137)); then
    echo "offline_gpu_run.sh: stopped at the hard limit of $stop s: the task in progress took longer than expected and is lost; finished ones are cached" >&2
    rc=3
elif ((rc == 0)) && [[ $metric_weights == no ]]; then
    echo "offline_gpu_run.sh: the metric study was left out (its weights' pieces did not all travel): exit code 3"
    rc=3
fi
results=${PIH_RESULTS:-$PWD/results}
archive="$out/results-$preset.tgz"
if [[ -d $results/$preset ]]; then
    tar czf "$archive" -C "$(dirname "$results")" "$(basename "$results")/$preset"
    echo "$archive: $(tar tzf "$archive" | grep -c '\.json$') records of results/$preset"
else
    echo "no $preset results yet"
fi
echo "offline_gpu_run.sh: done in ${SECONDS} s, exit code $rc"
exit $rc
