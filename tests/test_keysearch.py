"""Algorithm 1, its resumable score cache, the best-of-N estimators and the key-space cost."""

from __future__ import annotations

import itertools
import json
import math
import os
import stat

import numpy as np
import pytest

import pihlib
from pihlib import bestofn, keysearch, keyspace, scorecache
from pihlib.cli import main


@pytest.fixture(scope="module")
def images(cifar_npz):
    return pihlib.load_cifar10("train", cifar_npz, count=100).images


def test_search_keeps_the_best_candidate(images, tmp_path):
    r = keysearch.search(images, "LE", trials=8, seed=4, cache=tmp_path, progress=False)
    scores = [s for _, s in r.candidates]
    assert len(r.candidates) == 8 and len({f for f, _ in r.candidates}) == 8
    assert r.score == max(scores) and pihlib.fingerprint(r.key) == r.candidates[int(np.argmax(scores))][0]
    assert r.score == pytest.approx(pihlib.rho(images, r.key).item(), abs=1e-9)
    assert r.evaluations == 8
    again = keysearch.search(images, "LE", trials=8, seed=4, cache=tmp_path, progress=False)
    assert again.key == r.key and again.evaluations == 0  # served from the cache
    assert "perm" not in json.dumps(r.as_dict())  # no key material in the record


def test_interrupted_search_resumes_without_rescoring(images, tmp_path, monkeypatch):
    scorer = scorecache.CachedScorer(images, cache=tmp_path)
    real = scorer.scorer.score
    calls = []

    def flaky(key):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return real(key)

    monkeypatch.setattr(scorer.scorer, "score", flaky)
    with pytest.raises(KeyboardInterrupt):
        keysearch.search(images, "ELE", trials=6, seed=9, scorer=scorer, progress=False)
    assert len(json.loads(next(tmp_path.glob("*.json")).read_text())["scores"]) == 3
    resumed = scorecache.CachedScorer(images, cache=tmp_path)
    r = keysearch.search(images, "ELE", trials=6, seed=9, scorer=resumed, progress=False)
    assert resumed.evaluations == 3
    fresh = keysearch.search(images, "ELE", trials=6, seed=9, cache=False, progress=False)
    assert [f for f, _ in r.candidates] == [f for f, _ in fresh.candidates]
    assert [s for _, s in r.candidates] == pytest.approx([s for _, s in fresh.candidates], abs=1e-9)


def test_damaged_score_cache_is_ignored(images, tmp_path):
    scorer = scorecache.CachedScorer(images, cache=tmp_path)
    scorer.cache.path.parent.mkdir(parents=True, exist_ok=True)
    scorer.cache.path.write_text("{not json")
    again = scorecache.CachedScorer(images, cache=tmp_path)
    assert again.cache.scores == {}
    keysearch.search(images, "PE", trials=2, seed=0, scorer=again, progress=False)
    assert again.evaluations == 2


def test_the_image_set_is_part_of_the_cache_key(images, tmp_path):
    a = scorecache.CachedScorer(images[:50], cache=tmp_path)
    b = scorecache.CachedScorer(images[50:], cache=tmp_path)
    assert a.cache.path != b.cache.path
    c = scorecache.CachedScorer(images[:50], convention="lpips", cache=tmp_path)
    assert c.cache.path != a.cache.path


@pytest.mark.parametrize("method", ["PE", "EtC"])
def test_reshuffled_candidates_keep_the_key_values(method):
    keys = list(keysearch.candidate_keys(method, 4, seed=1, scheme="reshuffle"))
    base = keys[0]
    assert len({pihlib.fingerprint(k) for k in keys}) == 4
    for k in keys[1:]:
        for name, a in base.arrays.items():
            if name != "block_order":
                assert sorted(a.ravel().tolist()) == sorted(k.arrays[name].ravel().tolist())
                assert not np.array_equal(a, k.arrays[name])
    with pytest.raises(pihlib.PihError, match="PE and EtC, not LE"):
        list(keysearch.candidate_keys("LE", 3, seed=1, scheme="reshuffle"))


def test_order_statistics_are_exact():
    pool = np.array([0.1, 0.4, 0.2, 0.4])
    mean, sd = bestofn.max_of_n_moments(pool, [1, 2, 3])
    for i, n in enumerate([1, 2, 3]):
        maxima = [max(t) for t in itertools.product(pool, repeat=n)]  # every equally likely draw
        assert mean[i] == pytest.approx(np.mean(maxima))
        assert sd[i] == pytest.approx(np.std(maxima))


def test_pool_and_repeats_agree_on_real_cifar(images, tmp_path):
    scorer = scorecache.CachedScorer(images, cache=tmp_path)
    pool = bestofn.pool_estimate(bestofn.score_pool(scorer, "LE", 200, seed=1, progress=False))
    repeats = bestofn.repeats_estimate(scorer, "LE", repeats=5, seed=2, progress=False)
    assert repeats.evaluations == 5 * 210 and pool.evaluations == 200
    assert repeats.evaluations / pool.evaluations > 5  # several times fewer key evaluations
    # (a)'s standard error from the better estimate of the spread, (b)'s from its bootstrap
    se = np.sqrt((pool.sd / np.sqrt(5)) ** 2 + pool.mean_se**2)
    assert (np.abs(repeats.mean - pool.mean) < 3 * se).all()
    assert (np.diff(pool.mean) > 0).all() and (np.diff(pool.sd) < 0).all()  # more trials: higher, tighter
    assert (pool.band[0] <= pool.mean).all() and (pool.mean <= pool.band[1]).all()


def test_key_space_and_selection_cost():
    assert keyspace.key_space_bits("LE")["nominal"] == pytest.approx(math.lgamma(97) / math.log(2))
    assert keyspace.key_space_bits("PE")["nominal"] == pytest.approx(3072 + 1024 * math.log2(6))
    etc = keyspace.key_space_bits("EtC")
    assert etc["effective"] == pytest.approx(etc["nominal"] - 64 * math.log2(72 / 48))
    assert keyspace.key_space_bits("ELE")["nominal"] > 64 * keyspace.key_space_bits("LE")["nominal"]
    assert keyspace.selection_cost_bits(20) == pytest.approx(4.3219, abs=1e-4)
    assert keyspace.selection_cost_bits(1) == 0


def test_keysearch_command(tmp_path, cifar_npz, capsys, monkeypatch):
    monkeypatch.setenv("PIH_CACHE", str(tmp_path / "cache"))
    key = tmp_path / "best.key"
    code = main(["keysearch", "EtC", "--images", str(cifar_npz), "--count", "60", "--trials", "4",
                 "--seed", "3", "-o", str(key)])
    out = capsys.readouterr().out
    assert code == 0 and stat.S_IMODE(os.stat(key).st_mode) == 0o600
    fp = pihlib.fingerprint(pihlib.load_key(key))
    assert fp in out and "rho 0.1" in out
    code = main(["keysearch", "EtC", "--images", str(cifar_npz), "--count", "60", "--trials", "4",
                 "--seed", "3", "--json", "-o", str(key)])
    assert code == 2 and "exists; add --force" in capsys.readouterr().err  # the key is kept
    code = main(["keysearch", "EtC", "--images", str(cifar_npz), "--count", "60", "--trials", "4",
                 "--seed", "3", "--json", "-o", str(key), "--force"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["fingerprint"] == fp and len(doc["candidates"]) == 4 and doc["evaluations"] == 0
    assert doc["rho"] == max(c["rho"] for c in doc["candidates"])
    assert doc["images"]["sha256"] and doc["images"]["count"] == 60


def test_bad_keysearch_commands(tmp_path, cifar_npz, capsys):
    assert main(["keysearch", "PE-IIR", "--images", str(cifar_npz), "-o", str(tmp_path / "k")]) == 2
    assert main(["keysearch", "LE", "--images", str(tmp_path / "none.npz"), "-o", str(tmp_path / "k")]) == 2
    assert "PIH_CIFAR10" in capsys.readouterr().err
    assert main(["keysearch", "LE", "--scheme", "reshuffle", "--images", str(cifar_npz), "--count", "10",
                 "-o", str(tmp_path / "k")]) == 2
    assert "PE and EtC" in capsys.readouterr().err
    assert not (tmp_path / "k").exists()


def test_an_edited_score_is_not_trusted(images, tmp_path):
    first = keysearch.search(images, "LE", trials=3, seed=4, cache=tmp_path, progress=False)
    path = next(tmp_path.glob("*.json"))
    doc = json.loads(path.read_text())
    worst = min(first.candidates, key=lambda c: c[1])[0]
    doc["scores"][worst]["rho"] = 9.0  # promote the worst key
    other = dict(doc["scores"])
    path.write_text(json.dumps(doc))
    scorer = scorecache.CachedScorer(images, cache=tmp_path)
    assert worst not in scorer.cache.scores and len(scorer.cache.scores) == len(other) - 1
    again = keysearch.search(images, "LE", trials=3, seed=4, scorer=scorer, progress=False)
    assert scorer.evaluations == 1 and pihlib.fingerprint(again.key) == pihlib.fingerprint(first.key)
    assert dict(again.candidates)[worst] == pytest.approx(dict(first.candidates)[worst], abs=1e-9)
    # an entry copied from another image set does not match either
    moved = scorecache.CachedScorer(images[:10], cache=tmp_path)
    moved.cache.path.write_text(path.read_text())
    assert scorecache.CachedScorer(images[:10], cache=tmp_path).cache.scores == {}


@pytest.mark.parametrize("trials", [True, False, 0, 2.0])
def test_trials_is_a_positive_integer_not_a_bool(images, tmp_path, trials):
    with pytest.raises(pihlib.PihError, match="trials must be a positive integer"):
        keysearch.search(images, "LE", trials=trials, seed=0, cache=tmp_path, progress=False)


def _put_scores(folder: str, images_sha256: str, start: int) -> None:
    """A worker of the test below: 30 scores, written one by one into the shared cache."""
    cache = scorecache.ScoreCache(images_sha256, "alex", "authors", folder)
    for i in range(start, start + 30):
        cache.put(f"fp{i:03d}", i / 100)


def test_two_writers_sharing_a_score_cache_lose_nothing(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_put_scores, args=(str(tmp_path), "ab" * 32, s)) for s in (0, 100, 200)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    scores = scorecache.ScoreCache("ab" * 32, "alex", "authors", tmp_path).scores
    assert len(scores) == 90 and scores["fp229"] == pytest.approx(2.29)


def test_a_folder_in_place_of_the_score_cache_is_named(tmp_path):
    path = scorecache.ScoreCache("cd" * 32, "alex", "authors", tmp_path).path
    path.mkdir()
    with pytest.raises(pihlib.PihError, match=f"the score cache {path} is not a file"):
        scorecache.ScoreCache("cd" * 32, "alex", "authors", tmp_path)
