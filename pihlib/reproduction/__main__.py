"""``python -m pihlib.reproduction``: compute a preset's results without a notebook kernel, or build
the book.

    compute --preset P [--only EXPERIMENT ...] [--data PATH] [--jpeg-data PATH] [--device D]
            [--budget-s S] [--shard K/N] [--plan] [-p EXPERIMENT.NAME VALUE ...]
    torchrun --nproc_per_node G -m pihlib.reproduction compute ...   (each run over G processes)
    build --preset P [--dest DIR] [-p NOTEBOOK.NAME VALUE ...]
    mathjax
    summary [--preset P ...] [--write-readme]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .._cli import Parser, run_command
from ..errors import PihError
from ..runtime import default_device, init_distributed
from . import experiment, presets, shards


def overrides(pairs: list[list[str]], preset: str | None = None) -> dict[str, dict]:
    """``-p TARGET.NAME VALUE`` pairs by notebook; TARGET is an experiment or its notebook. VALUE is
    a Python literal (``None`` too: the training parameters' None takes the recipe's value); with
    ``preset``, each is checked against its parameter (``presets.check_overrides``) and a wrong one
    refused in one line, before anything runs."""
    by_experiment = {name: experiment(name).NOTEBOOK for name in shards.COMPUTABLE}
    out: dict[str, dict] = {}
    for target, value in pairs:
        group, _, name = target.partition(".")
        notebook = by_experiment.get(group, group)
        if notebook not in presets.NOTEBOOKS or not name:
            raise PihError(f"-p takes TARGET.NAME VALUE with TARGET one of "
                           f"{', '.join([*shards.COMPUTABLE, *presets.NOTEBOOKS])}")
        out.setdefault(notebook, {})[name] = presets.parse_value(value)
    if preset is not None:
        presets.check_overrides(preset, out)
    return out


def compute(preset: str, only: list[str], data: str | None, jpeg_data: str | None, device: str | None,
            budget_s: float | None, changes: dict[str, dict], shard: str = "0/1",
            show_plan: bool = False) -> None:
    """Every result of ``preset`` (or of the experiments ``only`` names) that is not cached yet; with
    ``shard`` "K/N", only shard K's share (``shards``); with ``budget_s``, no task (a classification
    run, a training study, a smaller experiment) that would end after it is started, and the call
    ends with exit status 3 if any was left (``shards.Budget``). Under ``torchrun`` each run is shared
    by the processes and rank 0 writes the records."""
    k, n = shards.parse(shard)
    default_device(device)  # a device this machine lacks is refused before any work (--plan too)
    plan = shards.plan(shards.tasks(preset, only or list(shards.COMPUTABLE), changes), n)
    if show_plan:
        print(shards.describe(plan))
        return
    rank, world = init_distributed(device)
    if world > 1 and budget_s is not None:  # each process would read its own clock and could stop alone
        raise PihError("--budget-s works in one process only, not under torchrun: give each shard a "
                       "time limit from the scheduler instead (a stopped run resumes from its checkpoint)")
    say = print if rank == 0 else (lambda *a, **kw: None)
    mine = plan[k]
    say(f"preset {preset}, shard {k}/{n}: {len(mine)} tasks"
        + (f", each run over {world} processes" if world > 1 else ""), flush=True)
    try:
        out = shards.run(preset, mine, changes, data, jpeg_data, device, budget_s, progress=rank == 0)
    except shards.BudgetLeft as e:  # what was finished is reported before the budget's one line
        _report(e.report, say)
        raise
    _report(out, say)


def _report(out: dict | None, say) -> None:
    """The classification's summary, when the call returned its runs."""
    if out is not None:
        from .report import classification

        say(f"plain: {100 * out['plain']['accuracy']:.2f} %")
        for method, kinds in classification.summary(out["runs"]).items():
            for kind, v in kinds.items():
                to = "-" if v["to_target_mean"] is None else f"{v['to_target_mean']:.1f} s"
                say(f"{method:4} {kind:9} accuracy {v['acc_mean']:6.2f} % (SD {v['acc_sd']:.2f})  "
                    f"rho {v['rho_mean']:.4f}  {v['time_mean']:.1f} s a run  "
                    f"{100 * classification.TARGET_ACCURACY:.0f} % reached "
                    f"{v['reached_target']}, after {to}")
        for r in out.get("derived", []):
            say(f"{r['method']:4} {r['kind']:9} accuracy {100 * r['accuracy']:6.2f} % with the first layer "
                f"derived from the training statistics (seed {r['seed']})")


def main(argv: list[str] | None = None) -> int:
    from . import book

    ap = Parser(prog="python -m pihlib.reproduction", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True, parser_class=Parser)
    c = sub.add_parser("compute", help="compute a preset's results (no notebooks, no Jupyter needed)")
    c.add_argument("--preset", default="cpu", choices=list(presets.PRESETS))
    c.add_argument("--only", nargs="+", choices=shards.COMPUTABLE, default=[], metavar="EXPERIMENT",
                   help=" | ".join(shards.COMPUTABLE))
    c.add_argument("--data", default=None, help="a CIFAR-10 source (default: $PIH_CIFAR10, else official)")
    c.add_argument("--jpeg-data", default=os.environ.get("PIH_CIFAR10_JPEG"),
                   help="the JPEG copy, for its penalty (default: $PIH_CIFAR10_JPEG)")
    c.add_argument("--device", default=None, help="cuda or cpu (default: cuda when there is one)")
    c.add_argument("--budget-s", type=float, default=None,
                   help="start no task (a classification run, a training study, a smaller experiment) "
                        "that would end after this many seconds; exit status 3 if any is left")
    c.add_argument("--shard", default="0/1", metavar="K/N",
                   help="compute only shard K (from 0) of N, a disjoint share balanced by expected cost")
    c.add_argument("--plan", action="store_true", help="print what each shard computes, compute nothing")
    b = sub.add_parser("build", help="execute the notebooks at a preset and build the HTML book")
    b.add_argument("--preset", default="cpu", choices=list(presets.PRESETS))
    b.add_argument("--dest", type=Path, default=book.CHECKOUT / "_build",
                   help="build folder (default: _build)")
    for p in (c, b):
        p.add_argument("-p", nargs=2, action="append", default=[], metavar=("TARGET.NAME", "VALUE"),
                       help="override one parameter, e.g. -p key_search.trials 50 (or 02_key_search.trials)")
    sub.add_parser("mathjax", help="install MathJax 3 for offline math")
    s = sub.add_parser("summary", help="print what the committed results say (Markdown), or write it into "
                                       "the README's block")
    s.add_argument("--preset", nargs="+", choices=list(presets.PRESETS), default=None,
                   help="the presets to summarise (default: those whose results git tracks)")
    s.add_argument("--write-readme", action="store_true",
                   help="rewrite only the README's summary block (the committed presets), print nothing else")

    def body() -> None:
        args = ap.parse_args(argv)
        if args.command == "mathjax":
            print(book.mathjax())
        elif args.command == "summary":
            from . import summary

            if args.write_readme:
                changed = summary.write_readme(which=args.preset)
                print(f"{summary.README}: {'rewritten' if changed else 'already up to date'}")
            else:
                print(summary.markdown(args.preset))
        elif args.command == "build":
            book.build(args.preset, args.dest.resolve(), overrides(args.p, args.preset))
        else:
            if args.jpeg_data and not Path(args.jpeg_data).exists():
                raise PihError(f"the JPEG copy {args.jpeg_data} does not exist "
                               "(--jpeg-data / PIH_CIFAR10_JPEG)")
            if args.budget_s is not None and args.budget_s < 0:
                raise PihError(f"--budget-s must not be negative, got {args.budget_s:g}")
            compute(args.preset, args.only, args.data, args.jpeg_data, args.device, args.budget_s,
                    overrides(args.p, args.preset), args.shard, args.plan)

    return run_command("pihlib.reproduction", body)


if __name__ == "__main__":
    sys.exit(main())
