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
# **Not yet computed.** Training the adaptation networks and classifiers on scrambled images is the
# next part of this project; until it lands, this page shows the paper's numbers only, labelled as
# the paper's. The PIH columns of Table 2 are computed in the key-search section.

# %% tags=["parameters"]
preset = "cpu"

# %%
import pandas as pd
from IPython.display import display

from pihlib import paper

rows = {(m, k): {"accuracy (%)": f"{v['acc_mean']:.2f} ± {v['acc_sd']:.4f}",
                 "PIH": f"{v['pih_mean']:.4f} ± {v['pih_sd']:.4f}"}
        for m, kinds in paper.TABLE2.items() for k, v in kinds.items()}
table2 = pd.DataFrame(rows).T.rename_axis(["method", "key"])
display(table2.style.set_caption("Paper's Table 2 (the paper's numbers)"))
table3 = pd.DataFrame({img: {col: f"{c} ({p:.4f}), LPIPS {lp:.4f}" for col, (c, p, lp) in cols.items()}
                       for img, cols in paper.TABLE3.items()}).T
display(table3.style.set_caption("Paper's Table 3 (the paper's numbers)"))
