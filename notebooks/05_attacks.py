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
# # Beyond the paper: does the highest-rho key resist attacks?
#
# The field judges these scramblers by attacking them {cite:p}`sirichotedumrong2019security`. The
# paper's scheme scrambles a whole data set with one key, so an attacker who holds many scrambled
# images, or a few images with their scrambled copies, can study the key through them. For each
# method we draw N random keys, score each with $\rho$, and attack every one of them on real CIFAR-10
# (`pihlib.attacks`):
#
# 1. **known plaintext** {cite:p}`li2008permutation`: the fewest plain/scrambled training pairs that
#    determine the key's whole map
#    (each output unit, a byte or a 4-bit half, is one input unit, maybe inverted), checked by
#    decrypting held-out test images bit-exactly;
# 2. **ciphertext only**: from scrambled training images alone. Neighbouring pixels of natural images
#    correlate channel by channel, so each PE pixel's signed channel permutation is the one of the 48
#    that best fits its neighbours'; LE's high 4-bit halves correlate with their neighbours and its low
#    halves hardly at all, which finds them, their signs and their places; EtC's moved blocks are a
#    jigsaw puzzle whose edge costs are summed over all the images
#    {cite:p}`chuman2017jigsaw,gallagher2012jigsaw`; ELE's blocks each give their own LE statistics
#    (their high halves and levels), though placing them is harder.
#
# The question: is the key that Algorithm 1 selects, the highest $\rho$, any harder to recover?

# %% tags=["parameters"]
preset = "cpu"
data = None  # a CIFAR-10 source; None: $PIH_CIFAR10, else the official download
# each left at ... keeps the preset's value (pihlib/reproduction/presets.py)
methods = ...
keys = ...
n_score = ...
n_test = ...
max_pairs = ...
coa_images = ...
seed = ...

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from pihlib.reproduction import presets, provenance
from pihlib.reproduction.compute import attacks as experiment
from pihlib.reproduction.report import attacks as report
from pihlib.reproduction.report import downloads, evidence, figures

P = presets.params(experiment.NOTEBOOK, preset, methods=methods, keys=keys, n_score=n_score, n_test=n_test,
                   max_pairs=max_pairs, coa_images=coa_images, seed=seed)
display(Markdown(presets.markdown(P, preset)))
candidates = evidence.candidates(preset, "attacks", {"attacks": experiment.run(preset, P, data)})
shown, shown_preset = candidates[0][0]["attacks"], candidates[0][1]  # the strongest: shown, judged
for name, value in report.verdicts(candidates).items():  # the texts the book's pages read
    glue(name, value, display=False)
display(Markdown(evidence.where(shown_preset, preset)))
display(Markdown(provenance.markdown(shown)))

# %% [markdown]
# ## Known plaintext: how many pairs recover the key

# %% tags=["hide-input"]
display(pd.DataFrame(report.pairs_rows(shown)).T)
display(downloads.data_link(report.frame(shown), "attacks.csv", "attacks", shown_preset, P, preset))

# %% [markdown]
# ## Ciphertext only: what scrambled images alone give away
#
# LPIPS and SSIM of the reconstructed test images against the plain ones (LPIPS 0 and SSIM 1: the
# same image), beside the scrambled images' LPIPS, and what of the key each attack recovers (0 to 1).
# For LE the attack recovers each value's high 4-bit half: at best the image at 4-bit depth (the
# "4-bit ceiling"). EtC's blocks are counted right up to a mirror of the whole image, which no
# statistic settles.

# %% tags=["hide-input"]
display(pd.DataFrame(report.ciphertext_rows(shown)).T.rename_axis(["method", "scrambled images"]).fillna(""))
glue("attacks", figures.attacks(report.reconstructions(shown, data)), display=False)

# %% [markdown]
# ```{glue:figure} attacks
# :name: fig-attacks
# :alt: Test images plain, then each method's highest-rho key's scrambled images and what the attacks recover
#
# Test images plain (top), then each method's highest-rho key among the N drawn: its scrambled images
# and what the ciphertext-only attack reconstructs of them from the scrambled training images alone
# (10 for PE and LE, 100 for EtC and ELE; LE: the high 4-bit halves; ELE: each block's level, placed,
# in grey).
# ```

# %% [markdown]
# ## The claim, checked

# %% tags=["hide-input"]
display(pd.DataFrame(evidence.rows(report.judged_claims(candidates))).style.hide(axis="index"))
