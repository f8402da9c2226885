"""Benchmark the int8 parity gate on barely trained models: how stable is its figure, and what it refuses.

    python -m bench.parity [--seeds 5]

For each seed: a tiny training run like the learning integration test's (14 triplets with 4
negatives, max length 64, 1 epoch: about 7 steps), its ONNX export, then
- the gate's figure: int8 relative error (mean |int8 - PyTorch| / std of PyTorch's scores) on the
  128 parity pairs, against its limit;
- the old gate's figure: Spearman of int8 against PyTorch on the first 10 pairs (the held-out
  pairs of such a run), against its old limit 0.95.
Then, on the first seed's model, int8 models broken on purpose: one MatMul's weights shuffled
(an early, a middle and the last layer), every scale 10% off, the last layer's scales off by half.
Prints markdown tables. About 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from services.trainer.export import ParityThresholds, measure_parity, pytorch_scores, spearman, write_onnx
from services.trainer.params import TrainParams
from services.trainer.training import train_cross_encoder
from shared.scoring import CrossEncoderScorer
from tests.unit.trainer.tiny_corpus import tiny_triplets

OLD_LIMIT = 0.95
OLD_PAIRS = 10
LENGTH = 64


def tiny_run(seed: int, work: Path) -> tuple[Path, Path, list[tuple[str, str]]]:
    params = TrainParams(
        max_length=LENGTH, batch_size=8, epochs=1, negatives_per_query=4, min_triplets=5, seed=seed
    )
    run = train_cross_encoder(tiny_triplets(14, negatives=4, seed=seed), work, params)
    out = work / "onnx"
    out.mkdir()
    write_onnx(run.hf_dir, out)
    return run.hf_dir, out, run.parity_pairs


def edit_int8(source: Path, target: Path, edit: Callable[[list], None]) -> Path:
    import onnx

    shutil.copytree(source, target)
    model = onnx.load(target / "model.int8.onnx")
    edit(list(model.graph.initializer))
    onnx.save(model, target / "model.int8.onnx")
    return target


def shuffle(layer: int) -> Callable[[list], None]:
    def edit(initializers: list) -> None:
        from onnx import numpy_helper

        weight = [i for i in initializers if i.name.endswith("_quantized")][layer]
        array = numpy_helper.to_array(weight)
        shuffled = np.random.default_rng(0).permutation(array.reshape(-1)).reshape(array.shape)
        weight.CopyFrom(numpy_helper.from_array(shuffled, weight.name))

    return edit


def scale(factor: float, layers: slice) -> Callable[[list], None]:
    def edit(initializers: list) -> None:
        from onnx import numpy_helper

        for tensor in [i for i in initializers if i.name.endswith("_scale")][layers]:
            array = numpy_helper.to_array(tensor) * factor
            tensor.CopyFrom(numpy_helper.from_array(array.astype(np.float32), tensor.name))

    return edit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    limit = ParityThresholds().int8_rel_error
    print(
        f"| seed | pairs | int8 relative error (limit {limit}) | gate | old: Spearman, 10 pairs | old gate |"
    )
    print("| ---: | ---: | ---: | --- | ---: | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        first = None
        for seed in range(args.seeds):
            hf_dir, out, pairs = tiny_run(seed, Path(tmp) / f"seed{seed}")
            first = first or (hf_dir, out, pairs)
            _, int8 = measure_parity(hf_dir, out, pairs, LENGTH)
            held = pairs[:OLD_PAIRS]
            reference = pytorch_scores(hf_dir, held, LENGTH)
            old = spearman(
                reference, CrossEncoderScorer(out, quantized=True, max_length=LENGTH).score_pairs(held)
            )
            gate = "pass" if int8.rel_error <= limit else "FAIL"
            old_gate = "pass" if old >= OLD_LIMIT else "FAIL"
            print(f"| {seed} | {len(pairs)} | {int8.rel_error:.3f} | {gate} | {old:.4f} | {old_gate} |")
        assert first is not None
        hf_dir, out, pairs = first
        print("\n| int8 model (seed 0) | relative error | Spearman (128 pairs) | gate |")
        print("| --- | ---: | ---: | --- |")
        variants = {
            "as quantized": None,
            "layer 0 weights shuffled": shuffle(0),
            "layer 10 weights shuffled": shuffle(10),
            "last layer weights shuffled": shuffle(-1),
            "every scale x1.1": scale(1.1, slice(None)),
            "last layer scales x1.5": scale(1.5, slice(-1, None)),
        }
        for name, edit in variants.items():
            model = out if edit is None else edit_int8(out, Path(tmp) / name.replace(" ", "-"), edit)
            _, int8 = measure_parity(hf_dir, model, pairs, LENGTH)
            verdict = "pass" if int8.rel_error <= limit else "refused"
            print(f"| {name} | {int8.rel_error:.3f} | {int8.spearman:.4f} | {verdict} |")


if __name__ == "__main__":
    main()
