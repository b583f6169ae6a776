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
# # Beyond the paper: does a higher rho hide more?
#
# The paper keeps the key with the highest $\rho$, the mean LPIPS between plain and scrambled images.
# A reader wants to know whether that key hides more from someone who tries to see, or only scores
# higher on LPIPS. For each method we draw N random keys, keep the best and the worst by $\rho$, and
# set them against two such observers on real test images:
#
# 1. a classifier trained on plain images, which never saw any key, shown the scrambled test images:
#    above chance (10 %) means information leaks to a model that does not know the key;
# 2. a view an attacker can compute without the key: the per-pixel distance from mid-grey,
#    $|x - 127.5|$ averaged over the colour channels. PE's negative-positive flip ($x \to 255 - x$) and
#    its channel shuffle leave it unchanged, which is why the silhouettes in PE's Table 3 images show;
#    we report its correlation with the same view of the plain image.
#
# And the images themselves, side by side, at a size where a person can judge.

# %% tags=["parameters"]
preset = "cpu"
data = None  # a CIFAR-10 source; None: $PIH_CIFAR10, else the official download
# each left at ... keeps the preset's value (pihlib/reproduction/presets.py); a training
# parameter given as None takes the recipe's
methods = ...
keys = ...
n_train = ...
n_test = ...
n_search = ...
epochs = ...
batch_size = ...
seed = ...
n_show = ...

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from pihlib.reproduction import presets, provenance
from pihlib.reproduction.compute import hiding as experiment
from pihlib.reproduction.report import downloads, evidence, figures
from pihlib.reproduction.report import hiding as report

P = presets.params(experiment.NOTEBOOK, preset, methods=methods, keys=keys, n_train=n_train, n_test=n_test,
                   n_search=n_search, epochs=epochs, batch_size=batch_size, seed=seed, n_show=n_show)
display(Markdown(presets.markdown(P, preset)))
record = experiment.run(preset, P, data)
candidates = evidence.candidates(preset, "hiding", {"hiding": record})
shown, shown_preset = candidates[0][0]["hiding"], candidates[0][1]  # the strongest: shown, judged
for name, value in report.verdicts(candidates).items():  # the texts the book's pages read
    glue(name, value, display=False)
display(Markdown(evidence.where(shown_preset, preset, own_shown="at the end of this page")))
display(Markdown(provenance.markdown(shown)))
display(Markdown(report.observer(shown)))

# %% [markdown]
# ## What each observer sees, best key against worst

# %% tags=["hide-input"]
display(pd.DataFrame(report.accuracy_rows(shown)).T)
display(downloads.data_link(downloads.hiding_accuracy(shown), "hiding_accuracy.csv", "hiding", shown_preset,
                            P, preset))
display(pd.DataFrame(report.view_rows(shown)).T)
display(downloads.data_link(downloads.hiding_view(shown), "hiding_view.csv", "hiding", shown_preset, P,
                            preset))
display(pd.DataFrame(evidence.rows(report.judged_claims(candidates))).style.hide(axis="index"))
glue("hiding", figures.hiding(shown["result"]), display=False)

# %% [markdown]
# ```{glue:figure} hiding
# :name: fig-hiding
# :alt: Test images plain, then each method's best and worst key's images, and PE's key-free view
#
# Test images plain (top), then scrambled with each method's best and worst key by rho among the
# keys drawn; at the bottom, the attacker's key-independent view |x - 127.5| of PE's images, which is
# the same for every PE key.
# ```

# %% tags=["hide-input"]
display(downloads.data_link(downloads.hiding_figure(shown), "hiding_figure.csv", "hiding", shown_preset, P,
                            preset))

# %% [markdown]
# ## This build's own run
#
# Where the verdicts above rest on a stronger preset's committed results, this build's own, smaller
# run follows (its observer may not read scrambled images at all: then it cannot support a verdict).

# %% tags=["hide-input"]
if shown_preset != preset:
    display(Markdown(provenance.markdown(record)), pd.DataFrame(report.accuracy_rows(record)).T,
            downloads.data_link(downloads.hiding_accuracy(record), "hiding_accuracy_this_build.csv", "hiding",
                                preset, P),
            pd.DataFrame(report.claims(record)).style.hide(axis="index"))
else:
    display(Markdown("This build's run is the one shown above."))
