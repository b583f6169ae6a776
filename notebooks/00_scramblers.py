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
import pandas as pd
from IPython.display import Markdown, display

from pihlib.reproduction import figures, presets, provenance
from pihlib.reproduction import scrambling as experiment

P = presets.params(experiment.NOTEBOOK, preset, split=split, n_show=n_show, n_check=n_check, seed=seed)
record = experiment.run(preset, P, data)
display(Markdown(provenance.markdown(record)))

# %% [markdown]
# Each key scrambles and unscrambles every image used here; the inverse is exact, bit for bit.

# %%
display(pd.DataFrame(experiment.table(record)).T)
display(pd.DataFrame(experiment.claims(record)).style.hide(axis="index"))

# %%
x = experiment.inputs(P, data, count=P["n_show"]).images
fig = figures.scramblers(experiment.keys(P), x, P["split"])
