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
# # Choosing the PIH metric (paper Fig. 3 and Table 1)
#
# The paper scrambles CIFAR-10 training images with the metric-study variant of PE, which inverts a
# chosen fraction of the 3,072 values (the *intensity inversion ratio*, IIR) and nothing else, and
# plots nine metrics against the IIR. Its expectation: a metric of perceptual information hiding
# should be highest at 50 % and lower towards 0 % and 100 % (a fully inverted image is still easy to
# recognise). For each random key, a metric's value is its mean over the images (FID: over the set);
# each point below is the mean of those values over the keys, and the band its 95 % confidence interval
# (bootstrap, resampling the keys).

# %% tags=["parameters"]
preset = "cpu"
data = None  # a CIFAR-10 source; None: $PIH_CIFAR10, else the official download
# each left at ... keeps the preset's value (pihlib/reproduction/presets.py)
n_images = ...
n_images_slow = ...
iterations = ...
iterations_slow = ...
seed = ...
example_image = ...

# %% tags=["hide-input"]
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from pihlib.reproduction import presets, provenance
from pihlib.reproduction.compute import metric_study as experiment
from pihlib.reproduction.report import downloads, evidence, figures
from pihlib.reproduction.report import metric_study as report

P = presets.params(experiment.NOTEBOOK, preset, n_images=n_images, n_images_slow=n_images_slow,
                   iterations=iterations, iterations_slow=iterations_slow, seed=seed,
                   example_image=example_image)
display(Markdown(presets.markdown(P, preset)))
own = experiment.run(preset, P, data)
candidates = evidence.candidates(preset, "metric_study", {k: own[k] for k in ("curves", "ssim_channels")})
shown, shown_preset = candidates[0]  # the strongest committed evidence: shown below, and the verdicts' basis
records = {**own, **shown}  # Fig. 3 and the SSIM check from the strongest records; Table 1 this build's
display(Markdown(evidence.where(shown_preset, preset)))
display(Markdown(provenance.markdown(records["curves"])))
for name, value in report.book_values(candidates, own).items():  # the texts the book's pages read
    glue(name, value, display=False)

# %% [markdown]
# ## Fig. 3: the nine metrics against the inversion ratio

# %% tags=["hide-input"]
glue("fig3", figures.fig3(records["curves"]), display=False)

# %% [markdown]
# ```{glue:figure} fig3
# :name: fig-fig3
# :alt: Nine line charts, one per metric, against the inversion ratio 0-100 %, a dotted line at 50 %
#
# The paper's Fig. 3: each metric between plain CIFAR-10 training images and the same images with a
# given share of their 3,072 values inverted (the intensity inversion ratio), mean over the images
# (FID: over the set) for each key; lines join the means over keys, bands are their 95 % confidence
# intervals (bootstrap, resampling the keys; none where one key was drawn: the panel titles give the
# images and keys of each metric). The dotted line marks 50 %, where the paper expects a metric of
# hiding to peak. PSNR and SSIM fall as hiding rises. LPIPS is shown with its standard inputs (red)
# and the authors' (orange, dashed).
# ```

# %% tags=["hide-input"]
display(downloads.data_link(downloads.fig3(records["curves"]), "fig3.csv", "metric_study", shown_preset, P,
                            preset))

# %% [markdown]
# ## The paper's claims about Fig. 3, checked
#
# For each metric: where its curve is most hiding (its maximum; PSNR's and SSIM's minimum), and how
# wide that peak is (the width, in % IIR, of the part of the curve above the midpoint between its
# lowest and highest value: smaller is sharper), each with a 95 % interval from resampling the keys.
# A verdict of "not distinguishable" means the interval is too wide to say.

# %% tags=["hide-input"]
display(pd.DataFrame(report.peak_rows(records["curves"])).T)
display(downloads.data_link(downloads.fig3_peaks(records["curves"]), "fig3_peaks.csv", "metric_study",
                            shown_preset, P, preset))
display(pd.DataFrame(evidence.rows(report.judged_claims(candidates))).style.hide(axis="index"))

# %% [markdown]
# ## SSIM on grey or on colour images
#
# pihlib's SSIM compares MATLAB-grey images by default (that reproduces the official values); the
# authors' SSIM averaged the colour channels. On the same images, at 50 % IIR:

# %% tags=["hide-input"]
display(pd.DataFrame({"mean SSIM, plain vs. 50 % IIR": records["ssim_channels"]["result"]}))
display(downloads.data_link(downloads.ssim_channels(records["ssim_channels"]), "ssim_channels.csv",
                            "metric_study", preset, P))

# %% [markdown]
# ## Table 1: one image at several inversion ratios
#
# The LPIPS values here follow the authors' convention (images in [0, 1] fed to LPIPS as they are),
# as the paper's Table 1 did.

# %% tags=["hide-input"]
glue("table1", figures.table1(records["examples"]["result"]), display=False)
glue("example_image", str(P["example_image"]), display=False)

# %% [markdown]
# ```{glue:figure} table1
# :name: fig-table1
# :alt: One test image with 0 to 100 % of its values inverted, each titled with its ratio and LPIPS
#
# The paper's Table 1: one CIFAR-10 test image at seven inversion ratios, with its LPIPS against
# the plain image (authors' convention). The paper does not identify its image; ours is test image
# {glue:text}`example_image`.
# ```

# %% tags=["hide-input"]
display(downloads.data_link(downloads.table1(records["examples"]), "table1.csv", "metric_study", preset, P))
