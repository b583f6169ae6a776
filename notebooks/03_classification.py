# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Classification (paper Tables 2 and 3)
#
# For each method, a classifier with its adaptation network is trained on scrambled training images
# (augmented in the plain domain, then scrambled, every batch) and tested on scrambled test images.
# "Original" uses one random key per run, "proposed" the best of 20 keys by $\rho$ (Algorithm 1, over
# the key-search images); the two come from independent random streams of the run's seed. The `paper`
# preset trains the paper's ShakeDrop PyramidNet-110 for 100 epochs; the other presets train
# airbench95's network with airbench's recipe (Keller Jordan's `airbench`), adapted to scrambled
# images: its whitened first layer is computed from what that layer sees, and its augmentation and
# test-time views are made of the plain image, then scrambled (`pihlib.train`). **At the `smoke` and
# `cpu` presets these are a few CPU epochs on a few thousand images: the accuracies show that the
# pipeline works, not the paper's accuracy level, which needs the `gpu` or `paper` preset on a GPU.**
# Every run is cached on its own (`results/<preset>/classification-runs/`), so the runs can also be
# computed apart from the book, in pieces: `python -m pihlib.classification --preset gpu --budget-s 600`.

# %% tags=["parameters"]
preset = "cpu"
data = None  # a CIFAR-10 source; None: $PIH_CIFAR10, else the official download
jpeg_data = None  # the JPEG copy of CIFAR-10, for its penalty; None: $PIH_CIFAR10_JPEG
methods = None
seeds = None
trials = None
n_train = None
n_test = None
n_search = None
recipe = None
classifier = None
epochs = None
batch_size = None
lr = None
schedule = None

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from pihlib import classification, paper, presets, results

P = presets.params("03_classification", preset, methods=methods, seeds=seeds, trials=trials, n_train=n_train,
                   n_test=n_test, n_search=n_search, recipe=recipe, classifier=classifier, epochs=epochs,
                   batch_size=batch_size, lr=lr, schedule=schedule)
train_set, test_set, search_images = classification.load_inputs(P, data)
# every run is cached on its own in results/<preset>/classification-runs/: only missing runs train
R = classification.experiment(P, train_set, test_set, search_images, preset)
config = classification.train_config(P, "plain", P["seeds"][0])
glue("train_size", f"{P['n_train']} training and {P['n_test']} test images, {config.epochs} epoch(s)",
     display=False)
display(Markdown(f"Training: the `{config.recipe}` recipe, classifier `{config.classifier}`, "
                 f"{config.epochs} epochs, batch {config.batch_size}, learning rate {config.lr:g} "
                 f"({'per 1024 examples, ' if config.recipe == 'airbench' else ''}{config.schedule} "
                 f"schedule), test-time augmentation level {config.tta}."))
display(Markdown(results.provenance_markdown([R["plain"], *R["runs"]],
                                             title=f"the {1 + len(R['runs'])} training runs")))

# %% [markdown]
# ## Table 2: accuracy and PIH, original and proposed keys

# %%
S = classification.summary(R["runs"])


def pm(mean: float, sd: float, digits: int) -> str:
    return f"{mean:.{digits}f}" + ("" if np.isnan(sd) else f" ± {sd:.{digits}f}")


def table2_frame(summary: dict) -> pd.DataFrame:
    rows = {}
    for m, kinds in summary.items():
        for kind, v in kinds.items():
            p = paper.TABLE2[m][kind]
            rows[(m, kind)] = {"accuracy % (ours)": pm(v["acc_mean"], v["acc_sd"], 2),
                               "accuracy % (paper)": pm(p["acc_mean"], p["acc_sd"], 2),
                               "PIH (ours)": pm(v["rho_mean"], v["rho_sd"], 4),
                               "PIH (paper)": pm(p["pih_mean"], p["pih_sd"], 4)}
    return pd.DataFrame(rows).T.rename_axis(["method", "key"])


def seconds(t: float | None) -> str:
    return "-" if t is None else f"{t:.1f}"


def timing_frame(summary: dict, target: float) -> pd.DataFrame:
    return pd.DataFrame({
        (m, kind): {"training time a run (s)": seconds(v["time_mean"]),
                    f"runs reaching {target:.0f} %": v["reached_target"],
                    f"time to {target:.0f} % (s)": seconds(v["to_target_mean"])}
        for m, kinds in summary.items() for kind, v in kinds.items()}).T.rename_axis(["method", "key"])


table2 = table2_frame(S)
for m in presets.METHODS:  # every key the reproduction page asks for, also for methods not run here
    for kind in ("original", "proposed"):
        v = S.get(m, {}).get(kind)
        glue(f"acc_{m}_{kind}", "not run at this preset" if v is None else pm(v["acc_mean"], v["acc_sd"], 2),
             display=False)
display(table2)
plain_accuracy = 100 * R["plain"]["accuracy"]
glue("plain_accuracy", f"{plain_accuracy:.2f}", display=False)
devices = "; ".join(dict.fromkeys(r["device"] for r in R["runs"]))
display(Markdown(f"A classifier trained on the plain images under the same settings: "
                 f"{plain_accuracy:.2f} % test accuracy. Runs: {len(R['runs'])} "
                 f"({len(P['seeds'])} seed(s) each), {config.epochs} epoch(s) of {P['n_train']} images, "
                 f"tested on {P['n_test']}; per-run training speed "
                 f"{np.mean([r['images_per_s'] for r in R['runs']]):.0f} images/s on {devices}."))

# %%
target = 100 * classification.TARGET_ACCURACY
display(Markdown(f"Training time per run (evaluation left out) and the time to the `gpu` preset's target, "
                 f"{target:.0f} % test accuracy, over the runs that reached it:"))
timing = timing_frame(S, target)
display(timing)

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
for r in R["runs"]:
    if r["seed"] == P["seeds"][0]:
        epochs_seen = [h["epoch"] for h in r["history"]]
        ax.plot(epochs_seen, [100 * h["test_accuracy"] for h in r["history"]], marker="o", ms=3,
                ls="-" if r["kind"] == "proposed" else "--", label=f"{r['method']} {r['kind']}")
ax.set_xlabel("epoch")
ax.set_ylabel("test accuracy (%)")
ax.legend(fontsize=7, ncol=2)
fig.tight_layout()

# %% [markdown]
# ## The `gpu` preset's runs, as far as they are committed
#
# The `gpu` preset trains on all 50,000 training images and needs a GPU. Its runs are committed to
# `results/gpu/classification-runs/` as they are computed (`python -m pihlib.classification --preset
# gpu`, in pieces if need be), and shown here whatever preset this book was built at.

# %%
G = classification.stored_runs("gpu", presets.params("03_classification", "gpu"))
if preset == "gpu":
    display(Markdown("This book is built at the `gpu` preset: its runs are the tables above."))
elif not G["runs"]:
    display(Markdown(f"**No `gpu`-preset runs are committed yet** (0 of {G['total']}): the paper-level "
                     "accuracies are still to be computed on a GPU."))
else:
    done = len(G["runs"]) + (G["plain"] is not None)
    display(Markdown(results.provenance_markdown(G["runs"] + ([G["plain"]] if G["plain"] else []),
                                                 title=f"{done} of the {G['total']} `gpu`-preset runs")))
    GS = classification.summary(G["runs"])
    display(table2_frame(GS))
    if G["plain"]:
        display(Markdown(f"Plain images, same settings: {100 * G['plain']['accuracy']:.2f} % test accuracy."))
    display(timing_frame(GS, target))
runs_g, plain_g = (R["runs"], R["plain"]) if preset == "gpu" else (G["runs"], G["plain"])
display(Markdown("The `gpu` preset's targets (`classification.TARGETS_*`) beside what its runs reached: on "
                 "the official data plain at airbench95's level and each method at the paper's mean, on the "
                 "JPEG copy PE and LE, and the compute time of all runs, key searches included:"))
display(pd.DataFrame(classification.target_check(runs_g, plain_g)).set_index("what"))

# %% [markdown]
# ## The first layer behind an adaptation network
#
# airbench freezes its first layer as a whitening of the images it sees. For PE that is the scrambled
# image. For LE, ELE and EtC it is the adaptation network's output, which moves as that network trains:
# the whitening is computed from its output at initialisation. The alternative is a first layer that
# trains. Both, at this preset's settings (original key of the first seed):

# %%
F1 = classification.first_layer_study(P, train_set, test_set, preset)
display(Markdown(results.provenance_markdown([F1], title="the first-layer comparison")))
first_layer = {m: {v: f"{100 * r['accuracy']:.2f}" for v, r in variants.items()}
               for m, variants in F1["result"].items()}
display(pd.DataFrame(first_layer).T.rename_axis(columns="first layer (accuracy %)"))
glue("first_layer", "; ".join(f"{m} {v['whitened']} % whitened, {v['trainable']} % trainable"
                              for m, v in first_layer.items()), display=False)

# %% [markdown]
# ## What the JPEG copy costs
#
# The project's copy of all 60,000 images is JPEG (quality 75); the lossless copy holds the first
# 2,000 training and 1,000 test images in the official order. The JPEG copy keeps each class's
# official order, so its k-th image of class c is the lossless set's k-th image of class c: the two
# are paired, and the same small training (this preset's recipe, original key of the first seed) runs
# on each; each model is tested on both versions of the test images.

# %%
import os

jpeg_source = jpeg_data or os.environ.get("PIH_CIFAR10_JPEG")
missing = ("no JPEG copy is named (`jpeg_data` / `PIH_CIFAR10_JPEG`)" if not jpeg_source
           else f"the JPEG copy `{jpeg_source}` does not exist" if not os.path.exists(jpeg_source)
           else None if train_set.source.lossless and train_set.source.order == "official"
           else "the training data is not lossless in the official order (`data` / `PIH_CIFAR10`)")
if missing:
    J = None
    display(Markdown(f"**Not measured here**: {missing}."))
else:
    record = classification.cached_jpeg_penalty(preset, P, train_set, test_set, jpeg_source)
    J = record["result"]
    display(Markdown(results.provenance_markdown([record], title="the JPEG penalty")))
    psnr_train, psnr_test = J["psnr"]["train"], J["psnr"]["test"]
    display(Markdown(f"PSNR of the JPEG copies against the originals: {psnr_train['mean']:.2f} dB on "
                     f"{psnr_train['count']} training images (range {psnr_train['min']:.1f}-"
                     f"{psnr_train['max']:.1f}), {psnr_test['mean']:.2f} dB on {psnr_test['count']} "
                     "test images."))
    penalty = pd.DataFrame({m: {k.replace("->", " → "): f"{100 * v:.2f}" for k, v in accs.items()}
                            for m, accs in J["accuracy"].items()}).T
    penalty.columns.name = "trained on → tested on (accuracy %)"
    display(penalty)
    drop = {m: 100 * (a["lossless->lossless"] - a["jpeg->jpeg"]) for m, a in J["accuracy"].items()}
    glue("jpeg_psnr", f"{psnr_test['mean']:.1f} dB", display=False)
    glue("jpeg_drop", ", ".join(f"{m} {d:+.1f}" for m, d in drop.items()), display=False)
if J is None:
    for name in ("jpeg_psnr", "jpeg_drop"):
        glue(name, "not measured in this build", display=False)

# %% [markdown]
# ## Table 3: three test images, plain and scrambled with the proposed keys
#
# The first frog, automobile and horse of the test set. LPIPS against the plain image uses the
# authors' convention, as the paper's.

# %%
T3 = R["table3"]
cols = [c for c in next(iter(T3.values())) if c != "test_index"]
fig, axes = plt.subplots(len(T3), len(cols), figsize=(2.2 * len(cols), 2.4 * len(T3)), squeeze=False)
for row, entry in zip(axes, T3.values(), strict=True):
    for ax, c in zip(row, cols, strict=True):
        v = entry[c]
        ax.imshow(classification.decode_png(v["image_png"]))
        ax.set_title(f"{c}\n{v['class']} {v['probability']:.3f}, LPIPS {v['lpips']:.3f}", fontsize=7)
        ax.axis("off")
fig.tight_layout()
ours = {(n, c): f"{e[c]['class']} ({e[c]['probability']:.4f}), LPIPS {e[c]['lpips']:.4f}"
        for n, e in T3.items() for c in cols}
theirs = {(n, c): None for n, c in ours}
for n, e in paper.TABLE3.items():
    for col, (cls, prob, lp) in e.items():
        key = (n, "plain" if col == "plain" else f"{col} (proposed)")
        if key in theirs:
            theirs[key] = f"{cls} ({prob:.4f}), LPIPS {lp:.4f}"
display(pd.DataFrame({"ours": ours, "paper": theirs}).rename_axis(["image", "column"]))
