"""Notebook 03's reading of the two training studies' records (first layer, JPEG penalty)."""

from __future__ import annotations

from ..provenance import markdown


def first_layer_rows(record: dict) -> dict[str, dict]:
    """Accuracy (%) per method and first-layer variant."""
    return {m: {v: f"{100 * r['accuracy']:.2f}" for v, r in variants.items()}
            for m, variants in record["result"].items()}


def jpeg_markdown(record: dict | str) -> str:
    """The JPEG penalty's provenance and PSNR, or why it was not measured."""
    if isinstance(record, str):
        return f"**Not measured here**: {record}."
    psnr = record["result"]["psnr"]
    return (markdown([record], title="the JPEG penalty") + "\n\n"
            f"PSNR of the JPEG copies against the originals: {psnr['train']['mean']:.2f} dB on "
            f"{psnr['train']['count']} training images (range {psnr['train']['min']:.1f}-"
            f"{psnr['train']['max']:.1f}), {psnr['test']['mean']:.2f} dB on {psnr['test']['count']} "
            "test images.")


def jpeg_rows(record: dict | str) -> dict[str, dict]:
    """Accuracy (%) per method, trained on -> tested on; empty where not measured."""
    if isinstance(record, str):
        return {}
    return {m: {k.replace("->", " → "): f"{100 * v:.2f}" for k, v in a.items()}
            for m, a in record["result"]["accuracy"].items()}


def jpeg_values(record: dict | str) -> dict[str, str]:
    """The Deviations page's two values: the test PSNR and each method's drop from lossless to JPEG."""
    if isinstance(record, str):
        return {"jpeg_psnr": "not measured in this build", "jpeg_drop": "not measured in this build"}
    r = record["result"]
    return {"jpeg_psnr": f"{r['psnr']['test']['mean']:.1f} dB",
            "jpeg_drop": ", ".join(f"{m} {100 * (a['lossless->lossless'] - a['jpeg->jpeg']):+.1f}"
                                   for m, a in r["accuracy"].items())}
