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
# the key-search images). The `paper` preset trains the paper's ShakeDrop PyramidNet-110 for 100
# epochs; the other presets train a fast airbench-style network. **At the `smoke` and `cpu` presets
# these are a few CPU epochs on a few thousand images: the accuracies show that the pipeline works, not
# the paper's accuracy level, which needs the `gpu` or `paper` preset on a GPU.** Every run is cached
# on its own (`results/<preset>/classification-runs/`), so the runs can also be computed apart from
# the book, in pieces: `python -m pihlib.classification --preset gpu --budget-s 600`.

# %% tags=["parameters"]
preset = "cpu"
data = None  # a CIFAR-10 source; None: $PIH_CIFAR10, else the official download
methods = None
seeds = None
trials = None
n_train = None
n_test = None
n_search = None
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
                   n_test=n_test, n_search=n_search, classifier=classifier, epochs=epochs,
                   batch_size=batch_size, lr=lr, schedule=schedule)
train_set, test_set, search_images = classification.load_inputs(P, data)
# every run is cached on its own in results/<preset>/classification-runs/: only missing runs train
R = classification.experiment(P, train_set, test_set, search_images, preset)
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
                 f"({len(P['seeds'])} seed(s) each), {P['epochs']} epoch(s) of {P['n_train']} images, "
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
