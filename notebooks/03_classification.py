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
# "Original" uses one random key per run, "proposed" the best of `trials` keys by $\rho$ (Algorithm 1, over
# the key-search images); the two come from independent random streams of the run's seed. The `paper`
# preset trains the paper's ShakeDrop PyramidNet-110 for 100 epochs; the other presets train
# airbench95's network with airbench's recipe (Keller Jordan's `airbench`), adapted to scrambled
# images: its whitened first layer is computed from what that layer sees, and its augmentation and
# test-time views are made of the plain image, then scrambled (`pihlib.train`). **At the `smoke` and
# `cpu` presets these are a few CPU epochs on a few thousand images: the accuracies show that the
# pipeline works, not the paper's accuracy level, which needs the `gpu` or `paper` preset on a GPU.**
# Every run is cached on its own (`results/<preset>/classification-runs/`), so the runs can also be
# computed apart from the book, in pieces:
# `python -m pihlib.reproduction compute --preset gpu --only classification --budget-s 600`.

# %% tags=["parameters"]
preset = "cpu"
data = None  # a CIFAR-10 source; None: $PIH_CIFAR10, else the official download
jpeg_data = None  # the JPEG copy of CIFAR-10, for its penalty; None: $PIH_CIFAR10_JPEG
# each left at ... keeps the preset's value (pihlib/reproduction/presets.py); a training
# parameter given as None takes the recipe's
methods = ...
seeds = ...
trials = ...
n_train = ...
n_test = ...
n_search = ...
recipe = ...
classifier = ...
epochs = ...
batch_size = ...
lr = ...
schedule = ...

# %% tags=["hide-input"]
import os

import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from pihlib.reproduction import presets, provenance
from pihlib.reproduction.compute import classification as experiment
from pihlib.reproduction.report import classification as report
from pihlib.reproduction.report import downloads, evidence, figures, table3, training_studies

P = presets.params(experiment.NOTEBOOK, preset, methods=methods, seeds=seeds, trials=trials, n_train=n_train,
                   n_test=n_test, n_search=n_search, recipe=recipe, classifier=classifier, epochs=epochs,
                   batch_size=batch_size, lr=lr, schedule=schedule)
display(Markdown(presets.markdown(P, preset, resolved=report.train_config(P, "plain", P["seeds"][0]))))
R = experiment.run(preset, P, data, jpeg_data or os.environ.get("PIH_CIFAR10_JPEG"))
for name, value in report.book_values(preset, P, R).items():  # the texts the book's pages read
    glue(name, value, display=False)
display(Markdown(report.describe(P, R)), Markdown(provenance.markdown(
    [R["plain"], *R["runs"]], title=f"the {1 + len(R['runs'])} training runs")))

frame = report.frame


# %% [markdown]
# ## Table 2: accuracy and PIH, original and proposed keys

# %% tags=["hide-input"]
S = report.summary(R["runs"])
display(frame(report.table2_rows(S)))
display(downloads.data_link(downloads.table2_accuracy(S), "table2_accuracy.csv", "classification", preset, P))

# %% tags=["hide-input"]
display(Markdown(report.timing_caption()), frame(report.timing_rows(S)))

# %% tags=["hide-input"]
glue("training", figures.training_curves(R["runs"], P["seeds"][0]), display=False)

# %% [markdown]
# ```{glue:figure} training
# :name: fig-training
# :alt: Test accuracy against epoch for each method's run, original key dashed, proposed solid
#
# Test accuracy (scrambled test images) after each epoch of every run of the first seed at this
# preset: one colour per method, proposed keys solid, original keys dashed.
# ```

# %% tags=["hide-input"]
downloads.data_link(downloads.training(R["runs"], P["seeds"][0]), "training.csv", "classification", preset, P)

# %% [markdown]
# ## Table 2 with first layers derived from the training statistics
#
# The server that trains knows the method but not the key, and each scrambler is a fixed map. What the
# scrambled training images give away of it (their statistics: the ciphertext-only attacks of
# notebook 05) sets a fixed first layer that undoes it, as airbench sets its whitening layer from the
# data: PE's signed channel permutation of every pixel, LE's 4-bit halves (the image at 4-bit depth),
# EtC's block places and transforms (a jigsaw puzzle solved over all the images), ELE's 4-bit halves
# laid out in each block by their correlations and the blocks then placed as EtC's. The classifier
# for plain images then trains on what the layer gives (`pihlib.derived`), with the plain run's
# settings. Each run uses the same key as the adaptation-network run of Table 2 ("points lost": the
# plain classifier's accuracy minus the run's). "Recovered" is the share of test images the layer
# gives back exactly as the plain image, or as its 4-bit version (LE's and ELE's best), either up to a
# left-right mirror. Where it gives them back exactly, the training is the plain run's and so is the
# accuracy. The attacks behind the layers: [Beyond the paper: does the highest-rho key resist
# attacks?](05_attacks.ipynb).

# %% tags=["hide-input"]
display(*report.derived_view(preset, P, R))

# %% [markdown]
# ## The `gpu` preset's runs, as far as they are committed
#
# The `gpu` preset trains on the whole training set and needs a GPU. Its runs are committed to
# `results/gpu/classification-runs/` as they are computed
# (`python -m pihlib.reproduction compute --preset gpu --only classification`, in pieces if need be),
# and shown here whatever preset this book was built at.

# %% tags=["hide-input"]
G = report.gpu_view(preset, R)
display(Markdown(G["note"]))
if G["summary"]:
    display(frame(report.table2_rows(G["summary"])), downloads.data_link(downloads.table2_accuracy(
        G["summary"]), "table2_accuracy_gpu.csv", "classification", "gpu", P, preset),
        frame(report.timing_rows(G["summary"])))

# %% [markdown]
# The `gpu` preset's targets (`classification.TARGETS_*`) beside what its runs reached: on the official
# data plain at airbench95's level and each method at the paper's mean, on the JPEG copy PE and LE, and
# the compute time of all runs, key searches included:

# %% tags=["hide-input"]
display(pd.DataFrame(report.target_check(G["runs"], G["plain"])).set_index("what"))

# %% [markdown]
# ## The first layer behind an adaptation network
#
# airbench freezes its first layer as a whitening of the images it sees. For PE that is the scrambled
# image. For LE, ELE and EtC it is the adaptation network's output, which moves as that network trains:
# the whitening is computed from its output at initialisation. The alternative is a first layer that
# trains. Both, at this preset's settings (original key of the first seed):

# %% tags=["hide-input"]
display(Markdown(provenance.markdown([R["first_layer"]], title="the first-layer comparison")))
display(pd.DataFrame(training_studies.first_layer_rows(R["first_layer"])).T.rename_axis(
    columns="first layer (accuracy %)"))

# %% [markdown]
# ## What the JPEG copy costs
#
# The project's copy of all 60,000 images is JPEG (quality 75); the lossless copy holds the first
# 2,000 training and 1,000 test images in the official order. The JPEG copy keeps each class's
# official order, so its k-th image of class c is the lossless set's k-th image of class c: the two
# are paired, and the same small training (this preset's recipe, original key of the first seed) runs
# on each; each model is tested on both versions of the test images.

# %% tags=["hide-input"]
display(Markdown(training_studies.jpeg_markdown(R["jpeg_penalty"])))
if rows := training_studies.jpeg_rows(R["jpeg_penalty"]):
    display(pd.DataFrame(rows).T.rename_axis(columns="trained on → tested on (accuracy %)"))

# %% [markdown]
# ## Table 3: three test images, plain and scrambled with the proposed keys
#
# The paper names the classes of its three images (a frog, an automobile and a horse) but not which
# test images they are, so they cannot be identified from its text: we take the first frog, the
# first automobile and the first horse of the test set. Each column is one model: the classifier
# trained on plain images, and those trained with the proposed keys of PE and LE (first seed). LPIPS
# against the plain image uses the authors' convention, as the paper's. Shown from the strongest
# committed runs (the `gpu` preset's where they are committed), as every page's verdict is.

# %% tags=["hide-input"]
E = report.evidence_runs(preset, R)
display(Markdown(evidence.where(E["preset"], preset, own_shown="above (Table 2)")))
glue("table3", figures.table3(E["table3"]), display=False)
display(pd.DataFrame(table3.rows(E["table3"])).T.rename_axis(["image", "column"]), downloads.data_link(
    downloads.table3(E["table3"]), "table3.csv", "classification", E["preset"], P, preset),
    pd.DataFrame(report.claims(E)).style.hide(axis="index"))

# %% [markdown]
# ```{glue:figure} table3
# :name: fig-table3
# :alt: A frog, an automobile and a horse: plain and scrambled by PE and LE, with class, probability, LPIPS
#
# The images of the paper's Table 3 (from the runs named above the figure): plain, and scrambled
# with the proposed keys of PE and LE; above each, the model's predicted class, its probability and
# the image's LPIPS against the plain image.
# ```
