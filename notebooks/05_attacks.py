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
# The field judges these scramblers by attacking them
# {cite:p}`sirichotedumrong2019security,sirichotedumrong2020visual`. The paper's scheme scrambles a
# whole data set with one key, so an attacker who holds many scrambled images, or a few images with
# their scrambled copies, can study the key through them. For each method we draw N random keys,
# score each with $\rho$, and attack every one of them on real CIFAR-10 (`pihlib.attacks`):
#
# 1. **known plaintext** {cite:p}`li2008permutation`: the fewest plain/scrambled training pairs that
#    determine the key's whole map (each output unit, a byte or a 4-bit half, is one input unit,
#    maybe inverted), checked by decrypting held-out test images bit-exactly;
# 2. **ciphertext only**: from scrambled training images alone. Neighbouring pixels of natural images
#    correlate channel by channel, so each PE pixel's signed channel permutation is the one of the 48
#    that best fits its neighbours'; LE's high 4-bit halves correlate with their neighbours and its low
#    halves hardly at all, which finds them, their signs and their places; EtC's moved blocks are a
#    jigsaw puzzle whose edge costs are summed over all the images
#    {cite:p}`chuman2017jigsaw,gallagher2012jigsaw`; ELE's blocks each give their own LE statistics
#    (their high halves and levels); from a thousand images, the partial correlations of each block's
#    high halves lay them out, and the laid-out blocks are an EtC jigsaw at 4-bit depth;
# 3. **FR-Attack** {cite:p}`sirichotedumrong2019security,sirichotedumrong2020visual`, the feature
#    reconstruction attack: no key and one image. The scramblers' inversions ($v \to 255 - v$) and
#    channel shuffles leave how far each value is from mid-grey unchanged, so each pixel's values folded
#    to their dark side and averaged over its channels rebuild a grey image of the plain one's shape
#    (for LE, each block's level; for EtC and ELE, blocks in the places the key moved them to);
# 4. **ITN-Attack** {cite:p}`sirichotedumrong2020visual`: the attacker scrambles plain images of its
#    own with many keys of its own and trains a small network (an inverse transformation network) to
#    map them back; the network learns what no key of the method changes, and is applied to images
#    scrambled with the target key, which it never saw. Ours is trained briefly (the parameters
#    below), far less than the source's.
#
# The question: is the key that Algorithm 1 selects, the highest $\rho$, any harder to recover? We
# compare the `group` highest-$\rho$ keys of N with the `group` lowest (Q1), ask whether $\rho$
# predicts the attacks' success at all over all N keys (Q2), and what a ciphertext-only attacker
# (Q3) and a known-plaintext attacker (Q4) recover of a key.

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
group = ...  # the highest- and the lowest-rho keys compared in Q1
itn_images = ...  # the ITN attacker's own plain training images (never the test images)
itn_keys = ...  # the keys of its own it scrambles them with
itn_steps = ...  # its training steps
n_classifier = ...  # plain training images of the classifier that reads the reconstructions
classifier_epochs = ...
classifier_batch_size = ...
n_classify = ...  # the test images it reads (its forward passes are the costliest step on a CPU)
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
                   max_pairs=max_pairs, coa_images=coa_images, group=group, itn_images=itn_images,
                   itn_keys=itn_keys, itn_steps=itn_steps, n_classifier=n_classifier, seed=seed,
                   classifier_epochs=classifier_epochs, classifier_batch_size=classifier_batch_size,
                   n_classify=n_classify)
display(Markdown(presets.markdown(P, preset)))
candidates = evidence.candidates(preset, "attacks", {"attacks": experiment.run(preset, P, data)})
shown, shown_preset = candidates[0][0]["attacks"], candidates[0][1]  # the strongest: shown, judged
for name, value in report.verdicts(candidates).items():  # the texts the book's pages read
    glue(name, value, display=False)
display(Markdown(evidence.where(shown_preset, preset)))
display(Markdown(provenance.markdown(shown)))
display(downloads.data_link(report.frame(shown), "attacks.csv", "attacks", shown_preset, P, preset))

# %% [markdown]
# ## Q1: what each attack reconstructs of the highest- and the lowest-rho keys
#
# Each attack's reconstruction of the held-out test images against the plain images: LPIPS (0: the
# same image), SSIM (1: the same), PSNR (an identical image is given 100 dB), and the accuracy of a
# classifier trained on plain images, on the first `n_classify` test images (its accuracy on the plain
# images is said below the table). "None" is the scrambled images themselves, every attack's
# starting point; known plaintext uses all `max_pairs` pairs and ciphertext only the largest number
# of scrambled images in `coa_images` (ELE's attack gives an image only from 1,000 on; the values of
# the parameters are in the table at the top). Each cell: the mean over the `group` highest- (or
# lowest-) $\rho$ keys and the test images, with its 95 % interval from resampling both keys and
# images; the difference is paired by image. A key that resists better leaves a higher LPIPS, and a
# lower SSIM, PSNR and accuracy.

# %% tags=["hide-input"]
q1 = report.group_frame(shown)
display(report.group_table(q1))
display(Markdown(f"The classifier's accuracy on the plain test images: "
                 f"{100 * shown['result'].get('plain_accuracy', float('nan')):.1f} %."))
glue("attacks_groups", figures.attack_groups(q1), display=False)

# %% [markdown]
# ```{glue:figure} attacks_groups
# :name: fig-attacks-groups
# :alt: Per method and attack, LPIPS and a plain classifier's accuracy, highest- and lowest-rho keys
#
# Per method (rows) and attack: the reconstruction's LPIPS against the plain test images (left) and the
# accuracy of the classifier trained on plain images on it (right), the highest-$\rho$ keys (red
# circles) beside the lowest (blue squares), with 95 % intervals over keys and images.
# ```

# %% [markdown]
# ## Q2: does rho predict how much an attack recovers?
#
# Over all N keys, Spearman's rank correlation of $\rho$ with the reconstruction's mean LPIPS, SSIM and
# PSNR, with its 95 % bootstrap interval over the keys. If higher-$\rho$ keys resisted better, the
# correlation would be positive with LPIPS and negative with SSIM and PSNR. "None": every key gives the
# same value (the attack recovers every key alike, or needs no key at all). The scrambled images' own
# correlation is $\rho$ measured again on other images, not an attack.

# %% tags=["hide-input"]
display(pd.DataFrame(report.correlation_rows(shown)).T.rename_axis(["method", "attack"]).fillna(""))

# %% [markdown]
# ## Q3: ciphertext only, what scrambled images alone give away
#
# LPIPS and SSIM of the reconstructed test images against the plain ones, beside the scrambled images'
# LPIPS, and what of the key each attack recovers (0 to 1), from each number of scrambled images.
# For LE the attack recovers each value's high 4-bit half: at best the image at 4-bit depth (the
# "4-bit ceiling"). EtC's blocks are counted right up to a mirror of the whole image, which no
# statistic settles. ELE's attack finds each block's high halves from the statistics alone ("blocks
# placed right by the statistics" is where those statistics alone put the blocks); from 1,000 images
# on it also lays out each block's halves and solves the blocks' places as EtC's jigsaw, and only
# then gives an image (its LPIPS and SSIM; a mirrored whole image counts as given back).

# %% tags=["hide-input"]
display(pd.DataFrame(report.ciphertext_rows(shown)).T.rename_axis(["method", "scrambled images"]).fillna(""))

# %% [markdown]
# ## Q4: known plaintext, how many pairs recover the key
#
# The fewest plain/scrambled training pairs whose map is the whole key, found for every key of N,
# and checked by decrypting the held-out test images bit-exactly.

# %% tags=["hide-input"]
display(pd.DataFrame(report.pairs_rows(shown)).T)
glue("attacks", figures.attacks(report.reconstructions(shown, data)), display=False)

# %% [markdown]
# ```{glue:figure} attacks
# :name: fig-attacks
# :alt: Test images plain, then each method's highest-rho key's scrambled images and what the attacks recover
#
# Test images plain (top), then each method's highest-$\rho$ key among the N drawn: its scrambled
# images, what the ciphertext-only attack reconstructs of them from the scrambled training images
# alone (10 for PE and LE, 100 for EtC, 1,000 for ELE; LE and ELE: the high 4-bit halves), what
# FR-Attack rebuilds without any key (grey), and the ITN-Attack's
# reconstruction. Known plaintext is left out: it gives the plain images back exactly.
# ```

# %% [markdown]
# ## The claim, checked
#
# The claim counts for a method where some comparison says, beyond its 95 % interval, that the
# higher-$\rho$ keys resist better (Q1: the difference in LPIPS or accuracy; Q2: the rank correlation
# with LPIPS, the known pairs needed, or what the ciphertext-only attack recovers) and none says they
# resist worse. There are several comparisons per method, each at 95 %: one alone beyond its interval
# is weak evidence.

# %% tags=["hide-input"]
display(pd.DataFrame(evidence.rows(report.judged_claims(candidates))).style.hide(axis="index"))
