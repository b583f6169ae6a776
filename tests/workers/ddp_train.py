"""Run by tests/test_distributed.py under ``torchrun`` (gloo, CPU), and called by it in one process:
for each recipe, one small run trained whole, and the same run interrupted after its first epoch and
resumed; rank 0 saves the weights (after epoch 1 and at the end) and the histories to OUT. Under
torchrun it then runs the compute command on a tiny classification (records in $PIH_RESULTS).
Usage: ddp_train.py OUT CIFAR_NPZ"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from pihlib.data import load_cifar10
from pihlib.errors import PihError
from pihlib.reproduction.__main__ import main as reproduction
from pihlib.runtime import init_distributed
from pihlib.scramblers import keygen
from pihlib.train import TrainConfig, train

# the airbench recipe sums the loss over the batch, the classic one averages it: both scalings tested
TINY = {"methods": ["PE"], "trials": 3, "n_train": 64, "n_test": 32, "n_search": 32, "epochs": 1,
        "batch_size": 32}
# (airbench's whitening bias stops training after the first epoch: DDP is rebuilt for the new set)
RECIPES = {"airbench": {"whiten_bias_epochs": 1}, "classic": {"recipe": "classic", "warmup_epochs": 0.5}}


def main(out: Path, data: str) -> None:
    rank, world = init_distributed("cpu")
    # 3 steps an epoch: airbench's look-ahead average (every 5 steps, taken at the last) moves at step 5
    train_set, test_set = load_cifar10("train", data, count=192), load_cifar10("test", data, count=32)
    sets = (train_set.images, train_set.labels, test_set.images, test_set.labels)
    key = keygen("LE", seed=0)

    def save(name: str, r) -> None:
        if rank == 0:
            torch.save(r.model.state_dict(), out / f"{name}.pt")
            record = {"history": r.history, "resumed": r.resumed_from_epoch}
            (out / f"{name}.json").write_text(json.dumps(record))

    for recipe, options in RECIPES.items():
        config = TrainConfig("LE", epochs=2, batch_size=64, seed=0, **options)
        save(f"{recipe}-whole", train(config, *sets, key=key, device="cpu", progress=False))
        checkpoint = out / f"{recipe}-checkpoint.pt"
        save(f"{recipe}-epoch1", train(config, *sets, key=key, device="cpu", checkpoint=checkpoint,
                                       stop_after_epochs=1, progress=False))
        save(f"{recipe}-resumed", train(config, *sets, key=key, device="cpu", checkpoint=checkpoint,
                                        progress=False))
    if world > 1:  # 192 images in batches of 191: a last batch of one image, which two cannot share
        try:
            train(TrainConfig("LE", epochs=1, batch_size=191), *sets, key=key, device="cpu", progress=False)
        except PihError as e:
            (out / f"refused-{rank}.txt").write_text(str(e))


if __name__ == "__main__":
    torch.set_num_threads(1)  # one core a process
    main(Path(sys.argv[1]), sys.argv[2])
    tiny = [a for k, v in TINY.items() for a in ("-p", f"classification.{k}", json.dumps(v))]
    sys.exit(reproduction(["compute", "--preset", "smoke", "--only", "classification", "--data", sys.argv[2],
                           "--device", "cpu", "--jpeg-data", "", *tiny]))
