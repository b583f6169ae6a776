"""Notebook 05's experiment (``pihlib.reproduction.compute.attacks``) and its reading
(``pihlib.reproduction.report.attacks``): the record's new fields at a tiny size on real CIFAR-10, the
per-image codes, the groups, the hierarchical intervals and the claim's verdict on crafted records."""

from __future__ import annotations

import numpy as np
import pytest

import pihlib
from pihlib.errors import PihError
from pihlib.reproduction import presets
from pihlib.reproduction.compute import attacks as compute
from pihlib.reproduction.report import attacks as report

# The record's codes and groups ----------------------------------------------------------------------


def test_per_image_codes_keep_four_decimals_and_the_outcomes():
    values = {"lpips": [0.0, 0.12345, 1.2], "ssim": [-0.5, 0.0, 0.99995], "psnr": [8.123, 42.0, 100.0]}
    for name, v in values.items():
        got = compute.decode(compute.encode(v, name), name, len(v))
        step = 0.005 if name == "psnr" else 0.00005
        assert np.allclose(got, v, atol=step + 1e-9), name
    hits = [1, 0, 0, 1, 1, 1, 0, 1, 1]
    assert compute.decode(compute.encode(hits, "correct"), "correct", len(hits)).tolist() == hits


def test_groups_are_the_highest_and_the_lowest_rho_keys():
    best, worst = compute.groups([0.3, 0.1, 0.5, 0.2, 0.4, 0.0], 2)
    assert best == [2, 4] and worst == [5, 1]


def test_the_presets_check_the_new_parameters():
    assert presets.params("05_attacks", "cpu")["group"] == 5
    for name in ("group", "itn_images", "itn_keys", "itn_steps", "n_classifier", "classifier_epochs",
                 "classifier_batch_size", "n_classify"):
        with pytest.raises(PihError, match=name):
            presets.params("05_attacks", "smoke", **{name: 0})
    with pytest.raises(PihError, match="at most half"):
        compute.run("smoke", presets.params("05_attacks", "smoke", group=3))


# The hierarchical intervals -----------------------------------------------------------------------


def test_hierarchical_interval_of_constant_and_shifted_groups():
    rng = np.random.default_rng(0)
    worst = np.repeat(rng.random((1, 50)), 4, 0)  # the keys alike: the images make the spread
    got = report.hierarchical(worst + 0.1, worst)  # paired by image: exactly 0.1 apart in every draw
    point, lo, hi = got["highest - lowest"]
    assert point == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    assert got["lowest rho"][0] == pytest.approx(worst.mean())
    assert got["lowest rho"][1] < got["lowest rho"][0] < got["lowest rho"][2]
    flat = report.hierarchical(np.full((3, 20), 0.5), np.full((3, 20), 0.5))
    assert flat["highest rho"] == pytest.approx((0.5, 0.5, 0.5))
    assert flat["highest - lowest"] == pytest.approx((0.0, 0.0, 0.0))


def test_hierarchical_interval_widens_with_the_keys_spread():
    rng = np.random.default_rng(1)
    images = rng.normal(0, 0.05, (1, 200))
    same = np.repeat(images, 5, 0)
    spread = same + np.linspace(-0.2, 0.2, 5)[:, None]  # the keys differ, by 0.4 at most
    narrow = report.hierarchical(same, same)["highest rho"]
    wide = report.hierarchical(spread, same)["highest rho"]
    assert narrow[1] < narrow[0] < narrow[2] and wide[1] < wide[0] < wide[2]
    assert (wide[2] - wide[1]) > 3 * (narrow[2] - narrow[1])


# The claim on crafted records ----------------------------------------------------------------------

N_TEST = 40


def _recon(lpips: np.ndarray, hits: np.ndarray, grouped: bool) -> dict:
    out = {"mse": 100.0, "psnr": 20.0, "ssim": 0.5, "lpips": float(lpips.mean())}
    if grouped:
        out["accuracy"] = float(hits.mean())
        out["per_image"] = {"lpips": compute.encode(lpips, "lpips"),
                            "ssim": compute.encode(np.full(N_TEST, 0.5), "ssim"),
                            "psnr": compute.encode(np.full(N_TEST, 20.0), "psnr"),
                            "correct": compute.encode(hits, "correct")}
    return out


def _record(itn_shift: float, pairs: list[int | None] | None = None, methods=("PE", "LE")) -> dict:
    """10 keys per method, rho rising with the index; groups of 3. ITN's LPIPS rises by ``itn_shift``
    per key; every other reconstruction is the same for every key; known pairs as given (default 3)."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, N_TEST)
    hits = (rng.random(N_TEST) < 0.5).astype(float)
    n = 10
    pairs = pairs or [3] * n
    best_k, worst_k = [9, 8, 7], [0, 1, 2]
    out = {"n_test": N_TEST, "four_bit_ceiling": {"lpips": 0.001}, "plain_accuracy": 0.5, "methods": {}}
    for m in methods:
        keys = []
        for i in range(n):
            grouped = i in best_k or i in worst_k
            recon = {a: _recon(base, hits, grouped) for a in compute.RECONSTRUCTIONS}
            recon["ITN"] = _recon(np.clip(base + itn_shift * i, 0, 2), hits, grouped)
            kpa = {"pairs": pairs[i], "decrypts_test": pairs[i] is not None, "same_key": True}
            keys.append({"fingerprint": f"{m}{i}", "kpa": kpa,
                         "scrambled": {"mse": 9e3, "psnr": 8.0, "ssim": 0.0, "lpips": 0.4},
                         "reconstructions": recon})
        out["methods"][m] = {"rho": [0.2 + 0.01 * i for i in range(n)], "keys": keys, "best": n - 1,
                             "worst": 0, "best_k": best_k, "worst_k": worst_k}
    return {"result": out, "params": {}}


def test_q1_and_q2_read_the_groups_and_all_keys():
    record = _record(0.01)
    frame = report.group_frame(record)
    assert set(frame["attack"]) == set(report.ATTACKS.values())
    itn = frame[(frame.method == "PE") & (frame.attack == "ITN-Attack") & (frame.measure == "lpips")]
    diff = itn[itn.group == "highest - lowest"].iloc[0]
    assert diff["mean"] == pytest.approx(0.01 * (8 - 1), abs=1e-3) and diff["low"] > 0  # 9,8,7 vs 0,1,2
    acc = frame[(frame.measure == "accuracy") & (frame.group == "highest rho")]
    key = record["result"]["methods"]["PE"]["keys"][9]
    assert np.allclose(acc["mean"], key["reconstructions"]["FR"]["accuracy"])  # the same outcomes everywhere
    table = report.group_table(frame)
    assert table.loc[("PE", "ITN-Attack"), ("LPIPS", "highest - lowest")].startswith("+0.070 [+0.0")
    rows = report.correlation_rows(record)
    assert rows["PE", "ITN-Attack"]["LPIPS: rank correlation with rho [95 %]"].startswith("+1.00")
    assert rows["PE", "FR-Attack"]["LPIPS: rank correlation with rho [95 %]"] == \
        "none (the same for every key)"
    csv = report.frame(record)
    assert {"known plaintext", "FR-Attack", "ITN-Attack"} <= set(csv["attack"])
    assert {"PSNR (dB)", "plain classifier's accuracy", "among the highest-rho group"} <= set(csv.columns)


def test_the_claim_follows_the_intervals():
    resists = report.claims(_record(0.01))[0]["verdict"]
    assert resists.word == "reproduced" and "PE (ITN-Attack, LPIPS, highest - lowest)" in resists.reason
    only_pe = _record(0.01)
    for k in only_pe["result"]["methods"]["LE"]["keys"]:
        k["reconstructions"]["ITN"] = k["reconstructions"]["FR"]
    assert report.claims(only_pe)[0]["verdict"].word == "partly"
    same = report.claims(_record(0.0))[0]["verdict"]
    assert same.word == "not reproduced" and "known pairs recover every key exactly" in same.reason
    weaker = report.claims(_record(-0.01, pairs=[None] + [3] * 9))[0]["verdict"]
    assert weaker.word == "not reproduced"
    assert weaker.reason.startswith("more is recovered of higher-rho keys for PE (known pairs)")
    undecided = report.claims(_record(0.0, pairs=[3] * 5 + [None] + [3] * 4))[0]["verdict"]
    assert undecided.word == "not distinguishable"


# The experiment itself, tiny, on real CIFAR-10 ------------------------------------------------------


def test_the_record_holds_every_attacks_reconstruction(cifar_npz):
    from pihlib.data import load_cifar10

    params = {**presets.params("05_attacks", "smoke"), "methods": ["PE"], "keys": 2, "group": 1,
              "n_test": 16, "n_score": 16, "max_pairs": 4, "coa_images": [10], "itn_images": 32,
              "itn_keys": 2, "itn_steps": 2, "n_classifier": 64, "classifier_batch_size": 32}
    train_set = load_cifar10("train", cifar_npz, count=64)
    test_set = load_cifar10("test", cifar_npz, count=16)
    r = compute.compute(params, train_set, test_set, train_set.images[:16])
    pe = r["methods"]["PE"]
    assert r["n_classify"] == 16  # the smoke preset's 32, at most the test images
    assert sorted(pe["best_k"] + pe["worst_k"]) == [0, 1] and len(pe["itn_png"]) == compute.N_SHOWN
    for k in pe["keys"]:
        made = k["reconstructions"]
        assert list(made) == list(compute.RECONSTRUCTIONS)
        assert made["known plaintext"]["psnr"] == compute.PSNR_CAP and made["known plaintext"]["lpips"] < 1e-4
        # exact images: the plain images' outcome; the scrambled images are far from the plain ones
        assert made["known plaintext"]["accuracy"] == r["plain_accuracy"]
        assert made["scrambled"]["lpips"] > 0.2 and made["scrambled"]["psnr"] < 15
        for name in ("lpips", "ssim", "psnr", "correct"):
            got = compute.decode(made["ITN"]["per_image"][name], name, 16)
            assert len(got) == 16
        assert compute.decode(made["ITN"]["per_image"]["lpips"], "lpips", 16).mean() == \
            pytest.approx(made["ITN"]["lpips"], abs=1e-4)
    # FR-Attack needs no key: PE's is the same image whatever the key
    assert pe["keys"][0]["reconstructions"]["FR"] == pe["keys"][1]["reconstructions"]["FR"]


def test_eles_ciphertext_only_attack_gives_the_4_bit_image_from_enough_images(cifar_npz, monkeypatch):
    monkeypatch.setattr(compute, "ELE_IMAGE_FROM", 300)
    train = pihlib.load_cifar10("train", cifar_npz, count=300).images
    test = pihlib.load_cifar10("test", cifar_npz, count=20).images
    key = pihlib.keygen("ELE", seed=0)
    few, kept = compute.ciphertext_only("ELE", key, train, test, 100, {}, {}), {}
    assert "at_four_bits" not in few and few["halves_right"] == 1.0  # below ELE_IMAGE_FROM: statistics only
    full = compute.ciphertext_only("ELE", key, train, test, 300, {}, kept)
    # measured (ele_high_halves): every block laid out right from 300 images for 3 of 4 keys, seed 0's too
    assert full["layouts_right"] == 1.0 and full["at_four_bits"] == 1.0
    assert kept["images"].shape == test.shape
