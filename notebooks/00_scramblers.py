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
# each left at ... keeps the preset's value (pihlib/reproduction/presets.py)
split = ...
n_show = ...
n_check = ...
seed = ...

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from pihlib.reproduction import presets, provenance, summary
from pihlib.reproduction.compute import scrambling as experiment
from pihlib.reproduction.report import downloads, figures
from pihlib.reproduction.report import scrambling as report

P = presets.params(experiment.NOTEBOOK, preset, split=split, n_show=n_show, n_check=n_check, seed=seed)
display(Markdown(presets.markdown(P, preset)))
glue("book_preset", preset, display=False)  # named on the introduction and the reproduction page
for name, value in summary.book_values().items():  # the presets' sizes and times, for Rerun and Deviations
    glue(name, value, display=False)
record = experiment.run(preset, P, data)
display(Markdown(provenance.markdown(record)))

# %% [markdown]
# Each key scrambles and unscrambles every image used here; the inverse is exact, bit for bit.

# %% tags=["hide-input"]
display(pd.DataFrame(report.table(record)).T)
display(downloads.data_link(downloads.scramblers_table(record), "scramblers.csv", "scrambling", preset, P))
display(pd.DataFrame(report.claims(record)).style.hide(axis="index"))

# %% tags=["hide-input"]
x = experiment.inputs(P, data, count=P["n_show"]).images
glue("scramblers", figures.scramblers(experiment.keys(P), x), display=False)
glue("n_show_text", figures.plural(P["n_show"], f"CIFAR-10 {P['split']} image"), display=False)

# %% [markdown]
# ```{glue:figure} scramblers
# :name: fig-scramblers
# :alt: CIFAR-10 test images: plain, then per method scrambled (unreadable) and unscrambled (identical)
#
# Top: {glue:text}`n_show_text`, plain; below them, for each method, the same images scrambled with
# its key (fingerprints in the table above) and unscrambled again with that key: identical to the
# plain images, bit for bit.
# ```

# %% tags=["hide-input"]
display(downloads.data_link(downloads.scramblers_figure(experiment.keys(P), x), "scramblers_figure.csv",
                            "scrambling", preset, P))
