"""The paper's own numbers and claims, typed in once (their only copy: the book's pages read them
through the notebooks' glue), for the book to set beside the reproduction.

Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual Information
Hiding" (IS&T Electronic Imaging). PIH values are rho computed with the authors' LPIPS input
convention ([0, 1] images fed as they are).
"""

from __future__ import annotations

# Table 2: accuracy (%) and PIH (rho), mean and SD over runs; "original" is one random key,
# "proposed" the best of N = 20 by rho.
TABLE2 = {
    "ELE": {"original": {"acc_mean": 69.49, "acc_sd": 1.6205, "pih_mean": 0.3000, "pih_sd": 0.0026},
            "proposed": {"acc_mean": 71.38, "acc_sd": 3.1268, "pih_mean": 0.2999, "pih_sd": 0.0030}},
    "EtC": {"original": {"acc_mean": 79.42, "acc_sd": 2.9198, "pih_mean": 0.1482, "pih_sd": 0.0033},
            "proposed": {"acc_mean": 78.47, "acc_sd": 3.3404, "pih_mean": 0.1513, "pih_sd": 0.0014}},
    "PE": {"original": {"acc_mean": 93.40, "acc_sd": 0.3114, "pih_mean": 0.3161, "pih_sd": 0.0038},
           "proposed": {"acc_mean": 93.58, "acc_sd": 0.1201, "pih_mean": 0.3420, "pih_sd": 0.0075}},
    "LE": {"original": {"acc_mean": 93.75, "acc_sd": 0.2620, "pih_mean": 0.2880, "pih_sd": 0.0091},
           "proposed": {"acc_mean": 93.05, "acc_sd": 0.8164, "pih_mean": 0.3016, "pih_sd": 0.0046}},
}

# Table 3: three test images; predicted class and probability on the plain image and on the images
# scrambled by PE and LE with the proposed keys, and LPIPS against the plain image.
TABLE3 = {
    "frog": {"plain": ("frog", 0.9902, 0.0), "PE": ("frog", 0.9993, 0.3701), "LE": ("frog", 0.9978, 0.2804)},
    "automobile": {"plain": ("automobile", 0.9971, 0.0), "PE": ("automobile", 0.9986, 0.3874),
                   "LE": ("automobile", 0.9999, 0.3553)},
    "horse": {"plain": ("horse", 0.9994, 0.0), "PE": ("horse", 0.9997, 0.4070),
              "LE": ("horse", 0.9992, 0.3130)},
}

# The shapes the paper reports for its figures (its text; the figures' data are not public).
CLAIMS = {
    "fig3_peak": "BRISQUE, FID and LPIPS have the highest value at 50 % inversion ratio and are lower "
                 "towards 0 % and 100 %.",
    "fig3_sharpest": "LPIPS has the sharpest shape compared with BRISQUE and FID.",
    "fig4_gain": "The mean PIH metric is improved by selecting among more trials (slightly).",
    "fig4_ele": "Except ELE, whose PIH is already high: selection improves ELE's the least.",
    "fig5_sd": "Selection decreases the standard deviation of the PIH metric; PE's PIH is the most unstable.",
    "accuracy": "The proposed keys keep the accuracy of the original keys (Table 2).",
    "table3": "The three test images (a frog, an automobile, a horse) keep their predicted class under PE "
              "and LE with the proposed keys.",
}
