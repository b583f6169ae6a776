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
# # The four scramblers
#
# PE, EtC, LE and ELE on real CIFAR-10 images: plain, scrambled, and unscrambled again. Every method is
# an exact, keyed rearrangement of values with inversions (see `pihlib/scramblers.py`); the keys are
# shown only as fingerprints.

# %% tags=["parameters"]
preset = "cpu"
data = None  # a CIFAR-10 source; None: $PIH_CIFAR10, else the official download
split = None
n_show = None
n_check = None
seed = None

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

import pihlib
from pihlib import keysearch, presets, results

P = presets.params("00_scramblers", preset, split=split, n_show=n_show, n_check=n_check, seed=seed)
images = pihlib.load_cifar10(P["split"], data, count=P["n_check"])
keys = {m: pihlib.keygen(m, seed=P["seed"]) for m in presets.METHODS}


def check() -> dict:
    out = {}
    for method, key in keys.items():
        y = pihlib.scramble(images.images, key)
        out[method] = {"fingerprint": pihlib.fingerprint(key),
                       "exact_inverse": bool(torch.equal(pihlib.unscramble(y, key), images.images)),
                       "values_changed": float((y != images.images).float().mean()),
                       "key_space_bits": keysearch.key_space_bits(method)}
    return out


record = results.cached(preset, "scramblers", P, check, data=images.source.as_dict())
display(Markdown(results.provenance_markdown(record)))

# %% [markdown]
# Each key scrambles and unscrambles every image used here; the inverse is exact, bit for bit.

# %%
table = pd.DataFrame({m: {"key fingerprint": r["fingerprint"],
                          "exact inverse on all images": "yes" if r["exact_inverse"] else "NO",
                          "values changed": f"{100 * r['values_changed']:.1f} %",
                          "key space (bits)": f"{r['key_space_bits']['effective']:,.0f}"}
                      for m, r in record["result"].items()}).T
display(table)
assert all(r["exact_inverse"] for r in record["result"].values())

# %%
x = images.images[: P["n_show"]]
fig, axes = plt.subplots(len(keys), 3, figsize=(7, 2.3 * len(keys)))
for row, (method, key) in zip(axes, keys.items(), strict=True):
    y = pihlib.scramble(x, key)
    z = pihlib.unscramble(y, key)
    for ax, batch, title in zip(row, (x, y, z), ("plain", f"{method} scrambled", "unscrambled"), strict=True):
        ax.imshow(np.concatenate(list(batch.permute(0, 2, 3, 1).numpy()), axis=1))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
fig.suptitle(f"{P['n_show']} CIFAR-10 {P['split']} images, key fingerprints as in the table", fontsize=10)
fig.tight_layout()
