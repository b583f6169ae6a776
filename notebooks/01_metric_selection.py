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
# recognise). Each point below is the mean over the images (FID: over the set) for one random key;
# the band is the spread (SD) over keys.

# %% tags=["parameters"]
preset = "cpu"
data = None  # a CIFAR-10 source; None: $PIH_CIFAR10, else the official download
n_images = None
n_images_slow = None
iterations = None
iterations_slow = None
seed = None
example_image = None

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

import pihlib
from pihlib import paper, presets, results, study

P = presets.params("01_metric_selection", preset, n_images=n_images, n_images_slow=n_images_slow,
                   iterations=iterations, iterations_slow=iterations_slow, seed=seed,
                   example_image=example_image)
images = pihlib.load_cifar10("train", data, count=P["n_images"])
FAST = [m for m in pihlib.metric_names() if m not in presets.SLOW_METRICS]


def compute() -> dict:
    fast = study.metric_study(images.images, presets.IIR_PERCENT, P["iterations"], FAST, seed=P["seed"])
    slow = study.metric_study(images.images[: P["n_images_slow"]], presets.IIR_PERCENT,
                              P["iterations_slow"], presets.SLOW_METRICS, seed=P["seed"])
    return {"percents": fast["percents"], "inverted": fast["inverted"],
            "values": {**fast["values"], **slow["values"]},
            "images": {m: P["n_images"] for m in FAST}
            | {m: P["n_images_slow"] for m in presets.SLOW_METRICS},
            "iterations": {m: P["iterations"] for m in FAST}
            | {m: P["iterations_slow"] for m in presets.SLOW_METRICS}}


record = results.cached(preset, "metric_study", P, compute, data=images.source.as_dict(),
                        assets=["alexnet", "vgg16", "brisque", "niqe", "inception"])
R = record["result"]
display(Markdown(results.provenance_markdown(record)))

# %% [markdown]
# ## Fig. 3: the nine metrics against the inversion ratio

# %%
pct = np.array(R["percents"])
fig, axes = plt.subplots(3, 3, figsize=(10, 8.5))
for ax, name in zip(axes.flat, pihlib.metric_names(), strict=True):
    v = np.array(R["values"][name], dtype=float)
    keep = np.isfinite(v).all(1)  # PSNR of an unchanged image (0 %) is infinite: not plotted
    pct_k, v = pct[keep], v[keep]
    mean, sd = v.mean(1), (v.std(1, ddof=1) if v.shape[1] > 1 else np.zeros(len(v)))
    ax.plot(pct_k, mean, "o-", ms=3, color="C3" if name == "lpips" else "C0")
    ax.fill_between(pct_k, mean - sd, mean + sd, alpha=0.25, color="C3" if name == "lpips" else "C0")
    ax.set_title(f"{name.upper()} ({R['images'][name]} images, {R['iterations'][name]} keys)", fontsize=9)
    ax.set_xlabel("intensity inversion ratio (%)", fontsize=8)
    ax.axvline(50, color="grey", lw=0.5, ls=":")
    ax.tick_params(labelsize=7)
fig.suptitle("Metric between plain and scrambled images (LPIPS: standard [-1, 1] inputs)", fontsize=10)
fig.tight_layout()
glue("fig3", fig, display=False)

# %% [markdown]
# ## The paper's claims about Fig. 3, checked
#
# For each metric: where its curve peaks, and how wide the peak is (the width, in % IIR, of the
# part of the curve above the midpoint between its lowest and highest value: smaller is sharper).

# %%
summary = {}
for name in pihlib.metric_names():
    v = np.array(R["values"][name], dtype=float)
    keep = np.isfinite(v).all(1)
    curve = v[keep].mean(1)
    if not pihlib.metric_info(name).higher_hides_more:
        curve = -curve  # PSNR and SSIM fall as hiding rises: look at their minimum
    summary[name] = study.peak_summary(pct[keep], curve)
peaks = pd.DataFrame(summary).T.rename(columns={"peak_percent": "extremum at IIR (%)",
                                                 "width_above_half": "width of the peak (% IIR)"})
display(peaks)

near_50 = {m: abs(summary[m]["peak_percent"] - 50) <= 10 for m in ("brisque", "fid", "lpips")}
sharpest = min(("brisque", "fid", "lpips"), key=lambda m: summary[m]["width_above_half"]) == "lpips"
claims = pd.DataFrame([
    {"paper's claim": paper.CLAIMS["fig3_peak"],
     "reproduced": "yes" if all(near_50.values()) else "no: " + ", ".join(
         f"{m} peaks at {summary[m]['peak_percent']:.0f} %" for m, ok in near_50.items() if not ok)},
    {"paper's claim": paper.CLAIMS["fig3_sharpest"],
     "reproduced": "yes" if sharpest else "no: " + ", ".join(
         f"{m} {summary[m]['width_above_half']:.0f} %" for m in ("brisque", "fid", "lpips"))},
])
display(claims.style.hide(axis="index"))
glue("fig3_peak_ok", claims.iloc[0]["reproduced"], display=False)
glue("fig3_sharpest_ok", claims.iloc[1]["reproduced"], display=False)
glue("lpips_peak", f"{summary['lpips']['peak_percent']:.0f} %", display=False)

# %% [markdown]
# ## SSIM on grey or on colour images
#
# pihlib's SSIM compares MATLAB-grey images by default (that reproduces the official values); the
# authors' SSIM averaged the colour channels. On the same images, at 50 % IIR:

# %%
def ssim_channels() -> dict:
    key = pihlib.keygen("PE-IIR", seed=P["seed"], inverted=study.inverted_count(50))
    y = pihlib.scramble(images.images, key)
    return {c: float(pihlib.metric("ssim", channels=c)(images.images, y).mean()) for c in ("grey", "rgb")}


ssim = results.cached(preset, "ssim_channels", P, ssim_channels, data=images.source.as_dict())["result"]
display(pd.DataFrame({"mean SSIM, plain vs. 50 % IIR": ssim}))
glue("ssim_channels", f"{ssim['grey']:.4f} (grey) vs. {ssim['rgb']:.4f} (RGB)", display=False)

# %% [markdown]
# ## Table 1: one image at several inversion ratios
#
# The LPIPS values here follow the authors' convention (images in [0, 1] fed to LPIPS as they are),
# as the paper's Table 1 did.

# %%
example = pihlib.load_cifar10("test", data, count=P["example_image"] + 1)
ex = results.cached(preset, "iir_examples", {**P, "percents": [0, 10, 30, 50, 70, 90, 100]},
                    lambda: study.lpips_examples(example.images[P["example_image"]],
                                                 [0, 10, 30, 50, 70, 90, 100], seed=P["seed"],
                                                 convention="authors"),
                    data=example.source.as_dict(), assets=["alexnet"])["result"]
fig, axes = plt.subplots(1, len(ex["percents"]), figsize=(10, 2))
for ax, p, img, s in zip(axes, ex["percents"], ex["images"], ex["lpips"], strict=True):
    ax.imshow(np.array(img, dtype=np.uint8))
    ax.set_title(f"IIR {p} %\nLPIPS {s:.3f}", fontsize=8)
    ax.axis("off")
fig.tight_layout()
