"""Core against a bare NumPy loop and against PyTorch, plus core's peak memory.

One run reports three measurements side by side (bench/README.md says more):

1. The seed experiment (784-40-20-10 net, sigmoid hidden layers, weights
   N(0, 0.01^2), minibatches of 100 drawn with replacement, learning rate
   0.01, test accuracy on the whole test set every 10 steps and at the last)
   through core's `TrainingRun` and through a bare NumPy loop written out
   below with the same arithmetic. Both must produce the same losses and
   accuracies bit for bit; the figure is the ratio of their median times.
2. Microseconds per training step (forward, backward and Adam update of a
   batch that is already sampled and scaled) of core's `MLP` against a
   `torch.nn.Sequential` with `torch.optim.Adam`, in float32 and float64.
3. Peak resident memory of the seed experiment with Adam through core, read
   inside a fresh process.

Everything runs on one BLAS/OpenMP thread. The thread variables only take
effect before NumPy loads, so `main` re-executes the process once with them
set. Timed contenders take turns within every repeat, so that drift in the
machine's speed hits all of them. Times are CPU time of this process
(`time.process_time`): with one thread that equals wall time on an idle
machine, and on a shared one it leaves out the time other processes hold
the core. Part 1 prints wall-time medians alongside.

Shapes in the bare loop: N batch rows, D inputs, H1 and H2 hidden units,
C classes.

Usage:
    python -m bench.core_vs_bare [--repeats 5] [--dataset fashion-mnist]
        [--iterations 1000] [--steps 2000]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.datasets import Dataset, default_cache_dir, load_dataset
from core.network import MLP, param_key
from core.optimizers import make_optimizer
from core.spec import JobSpec
from core.training import TrainingRun

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULE = "bench.core_vs_bare"
THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)

# The seed experiment. The bare loop writes its numbers out here instead of
# reading core's defaults; the bit-for-bit check catches any drift.
SEED = 0
HIDDEN_SIZES = (40, 20)
NUM_CLASSES = 10
WEIGHT_STD = 0.01
BATCH_SIZE = 100
LEARNING_RATE = 0.01
EVAL_INTERVAL = 10
EVAL_CHUNK = 1000  # test rows per forward pass, as MLP.count_correct
PIXEL_SCALE = 1.0 / 255.0
MAX_LOSS = 1e4  # a larger loss ends the run as diverged, as in TrainingSpec
MOMENTUM = 0.9
ADAGRAD_EPS = 1e-7
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-7
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8
SEED_OPTIMIZERS = ("momentum", "adagrad", "rmsprop", "adam")
# The core/bare target is judged on this one; the others are shown alongside.
JUDGED_OPTIMIZER = "adam"

# Per-step timing: batches cycled through, and steps before timing starts.
BATCH_POOL = 32
WARMUP_STEPS = 200
TIMING_BLOCKS = 10

TARGET_CORE_VS_BARE = 1.05
TARGET_CORE_VS_TORCH = 0.5
TARGET_PEAK_MB = 250.0

Labels = NDArray[np.uint8]


# -- results -------------------------------------------------------------------


@dataclass(frozen=True)
class Trajectory:
    """What one run of the seed experiment measured, step by step."""

    losses: list[float]
    train_accuracies: list[float]
    test_accuracies: list[tuple[int, float]]  # (step, accuracy)

    @property
    def final_test_accuracy(self) -> float:
        return self.test_accuracies[-1][1]


@dataclass(frozen=True)
class Figure:
    """One line of the summary; `passed` is None when the part was skipped."""

    name: str
    value: str
    target: str
    passed: bool | None


def check_same(name: str, expected: Trajectory, actual: Trajectory) -> None:
    """Raise unless two runs produced exactly the same numbers."""
    for field in ("losses", "train_accuracies", "test_accuracies"):
        want, got = getattr(expected, field), getattr(actual, field)
        if want != got:
            first = next(
                (i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
                min(len(want), len(got)),
            )
            raise AssertionError(
                f"{name}: {field} differ first at index {first} "
                f"(lengths {len(want)} and {len(got)})"
            )


# -- 1. the seed experiment: core and a bare loop --------------------------------


def seed_spec(dataset: str, optimizer: str, iterations: int) -> JobSpec:
    """The seed experiment as a job spec for core, float64 like the default."""
    return JobSpec.model_validate(
        {
            "dataset": dataset,
            "model": {
                "hidden_sizes": list(HIDDEN_SIZES),
                "activation": "sigmoid",
                "weight_init": WEIGHT_STD,
            },
            "optimizer": {"name": optimizer, "learning_rate": LEARNING_RATE},
            "training": {
                "iterations": iterations,
                "batch_size": BATCH_SIZE,
                "eval_interval": EVAL_INTERVAL,
                "seed": SEED,
                "dtype": "float64",
            },
        }
    )


def run_core(spec: JobSpec, dataset: Dataset) -> Trajectory:
    """The seed experiment through core's training loop."""
    losses: list[float] = []
    train_accuracies: list[float] = []
    test_accuracies: list[tuple[int, float]] = []
    for record in TrainingRun(spec, dataset).records():
        losses.append(record.loss)
        train_accuracies.append(record.train_accuracy)
        if record.test_accuracy is not None:
            test_accuracies.append((record.step, record.test_accuracy))
    return Trajectory(losses, train_accuracies, test_accuracies)


def run_bare(
    dataset: Dataset, optimizer: str, iterations: int, seed: int = SEED
) -> Trajectory:
    """The seed experiment in plain NumPy, float64, with core's arithmetic.

    Nothing from core but the dataset. The weights and batches come from the
    streams core uses (`SeedSequence(seed).spawn(3)`: init, batches, dropout)
    and every expression is evaluated in core's order, so the numbers equal
    core's bit for bit. The test set stays uint8 and is scaled a chunk of
    rows at a time, as in core, so memory stays flat.

    Raises:
        ValueError: for an optimizer the loop does not implement.
    """
    if optimizer not in SEED_OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {SEED_OPTIMIZERS}, got {optimizer!r}"
        )

    # 1. streams, initial weights, optimizer state
    init_seq, batch_seq, _ = np.random.SeedSequence(seed).spawn(3)
    init_rng = np.random.default_rng(init_seq)
    batch_rng = np.random.default_rng(batch_seq)
    train_images = np.asarray(dataset.train_images)
    train_labels = np.asarray(dataset.train_labels)
    d, (h1_size, h2_size), c = train_images.shape[1], HIDDEN_SIZES, NUM_CLASSES

    W1 = WEIGHT_STD * init_rng.standard_normal((d, h1_size))
    W2 = WEIGHT_STD * init_rng.standard_normal((h1_size, h2_size))
    W3 = WEIGHT_STD * init_rng.standard_normal((h2_size, c))
    b1, b2, b3 = np.zeros(h1_size), np.zeros(h2_size), np.zeros(c)
    params = [W1, b1, W2, b2, W3, b3]
    grads = [np.zeros_like(p) for p in params]
    dW1, db1, dW2, db2, dW3, db3 = grads
    # velocity, sum of squares, mean square or first moment; second moment
    state1 = [np.zeros_like(p) for p in params]
    state2 = [np.zeros_like(p) for p in params]

    # 2. the test set, scaled per chunk of rows
    test_images = np.asarray(dataset.test_images)
    test_y = np.asarray(dataset.test_labels)

    def count_correct() -> int:
        correct = 0
        for start in range(0, len(test_y), EVAL_CHUNK):
            x = test_images[start : start + EVAL_CHUNK].astype(np.float64)  # (n, D)
            x *= PIXEL_SCALE
            h1 = np.tanh(0.5 * (x @ W1 + b1))
            h1 += 1.0
            h1 *= 0.5
            h2 = np.tanh(0.5 * (h1 @ W2 + b2))
            h2 += 1.0
            h2 *= 0.5
            predicted = (h2 @ W3 + b3).argmax(axis=1)
            correct += int(
                np.count_nonzero(predicted == test_y[start : start + EVAL_CHUNK])
            )
        return correct

    # 3. train
    n = BATCH_SIZE
    batch_rows = np.arange(n)
    losses: list[float] = []
    train_accuracies: list[float] = []
    test_accuracies: list[tuple[int, float]] = []
    for step in range(1, iterations + 1):
        rows = batch_rng.integers(0, len(train_labels), n)
        x = train_images[rows].astype(np.float64)  # (N, D)
        x *= PIXEL_SCALE
        y = train_labels[rows]

        # forward: sigmoid(a) = (tanh(a / 2) + 1) / 2
        h1 = np.tanh(0.5 * (x @ W1 + b1))  # (N, D) @ (D, H1) -> (N, H1)
        h1 += 1.0
        h1 *= 0.5
        h2 = np.tanh(0.5 * (h1 @ W2 + b2))  # (N, H1) @ (H1, H2) -> (N, H2)
        h2 += 1.0
        h2 *= 0.5
        logits = h2 @ W3 + b3  # (N, H2) @ (H2, C) -> (N, C)

        # softmax cross-entropy, its gradient and the batch accuracy
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1)
        loss = float(np.mean(np.log(sum_exp) - shifted[batch_rows, y]))
        accuracy = float(np.mean(logits.argmax(axis=1) == y))
        dlogits = exp / sum_exp[:, None]
        dlogits[batch_rows, y] -= 1.0
        dlogits /= n

        # backward; sigmoid'(a) = h (1 - h)
        np.matmul(h2.T, dlogits, out=dW3)  # (H2, N) @ (N, C) -> (H2, C)
        np.sum(dlogits, axis=0, out=db3)
        da2 = (dlogits @ W3.T) * h2 * (1.0 - h2)  # (N, H2)
        np.matmul(h1.T, da2, out=dW2)
        np.sum(da2, axis=0, out=db2)
        da1 = (da2 @ W2.T) * h1 * (1.0 - h1)  # (N, H1)
        np.matmul(x.T, da1, out=dW1)  # (D, N) @ (N, H1) -> (D, H1)
        np.sum(da1, axis=0, out=db1)

        # update, in torch.optim's arrangement as core has it
        if optimizer == "adam":
            step_size = LEARNING_RATE / (1.0 - ADAM_BETA1**step)
            sqrt_correction2 = math.sqrt(1.0 - ADAM_BETA2**step)
        for p, g, s1, s2 in zip(params, grads, state1, state2, strict=True):
            if optimizer == "momentum":
                s1 *= MOMENTUM
                s1 -= LEARNING_RATE * g
                p += s1
            elif optimizer == "adagrad":
                s1 += g * g
                u = np.sqrt(s1)
                u += ADAGRAD_EPS
                np.divide(g, u, out=u)
                u *= LEARNING_RATE
                p -= u
            elif optimizer == "rmsprop":
                u = g * g
                u *= 1.0 - RMSPROP_ALPHA
                s1 *= RMSPROP_ALPHA
                s1 += u
                np.sqrt(s1, out=u)
                u += RMSPROP_EPS
                np.divide(g, u, out=u)
                u *= LEARNING_RATE
                p -= u
            else:
                u = g - s1
                u *= 1.0 - ADAM_BETA1
                s1 += u
                np.multiply(g, g, out=u)
                u *= 1.0 - ADAM_BETA2
                s2 *= ADAM_BETA2
                s2 += u
                np.sqrt(s2, out=u)
                u /= sqrt_correction2
                u += ADAM_EPS
                np.divide(s1, u, out=u)
                u *= step_size
                p -= u

        losses.append(loss)
        train_accuracies.append(accuracy)
        if not math.isfinite(loss) or loss > MAX_LOSS:
            break
        if step % EVAL_INTERVAL == 0 or step == iterations:
            test_accuracies.append((step, count_correct() / len(test_y)))

    return Trajectory(losses, train_accuracies, test_accuracies)


def compare_seed_experiment(
    dataset: Dataset, iterations: int, repeats: int
) -> dict[str, tuple[float, float]]:
    """Median CPU seconds of core and of the bare loop, per optimizer.

    Raises:
        AssertionError: when any run's numbers differ from core's first run.
    """
    print(
        f"\n1. seed experiment, core vs bare NumPy: {dataset.name} "
        f"({dataset.train_size:,}/{dataset.test_size:,}), {iterations} iterations, "
        f"float64, median of {repeats}"
    )
    print(
        f"   {'optimizer':<10} {'core s':>7} {'bare s':>7} {'core/bare':>9}"
        f"   {'wall: core s':>12} {'bare s':>7}   {'final test acc':>14}  numbers"
    )
    medians: dict[str, tuple[float, float]] = {}
    for optimizer in SEED_OPTIMIZERS:
        contenders: dict[str, Callable[[], Trajectory]] = {
            "core": functools.partial(
                run_core, seed_spec(dataset.name, optimizer, iterations), dataset
            ),
            "bare": functools.partial(run_bare, dataset, optimizer, iterations),
        }
        cpu: dict[str, list[float]] = {name: [] for name in contenders}
        wall: dict[str, list[float]] = {name: [] for name in contenders}
        reference: Trajectory | None = None
        for repeat in range(repeats):
            order = ("core", "bare") if repeat % 2 == 0 else ("bare", "core")
            for name in order:
                cpu_started, wall_started = time.process_time(), time.perf_counter()
                trajectory = contenders[name]()
                cpu[name].append(time.process_time() - cpu_started)
                wall[name].append(time.perf_counter() - wall_started)
                if reference is None:
                    reference = trajectory
                check_same(
                    f"{optimizer}, {name}, run {repeat + 1}", reference, trajectory
                )

        assert reference is not None
        core_s, bare_s = statistics.median(cpu["core"]), statistics.median(cpu["bare"])
        medians[optimizer] = (core_s, bare_s)
        print(
            f"   {optimizer:<10} {core_s:>7.3f} {bare_s:>7.3f} {core_s / bare_s:>9.3f}"
            f"   {statistics.median(wall['core']):>12.3f} "
            f"{statistics.median(wall['bare']):>7.3f}   "
            f"{reference.final_test_accuracy:>14.4f}  identical"
        )
    return medians


# -- 2. per-step time: core against PyTorch ------------------------------------


def compare_per_step(
    dataset: Dataset, steps: int
) -> dict[str, tuple[float, float, float]] | None:
    """Median CPU µs per step of core, torch, and torch without batch metrics.

    Returns None when torch cannot be imported.
    """
    print(
        f"\n2. per training step, core vs torch: 784-40-20-10 sigmoid, batch "
        f"{BATCH_SIZE}, Adam lr {LEARNING_RATE}, one thread, median of {steps} "
        f"steps after {WARMUP_STEPS} warm-up"
    )
    try:
        import torch
    except ImportError as exc:
        print(f"   skipped: torch is not importable ({exc})")
        return None
    torch.set_num_threads(1)

    rng = np.random.default_rng(SEED)
    pool = [rng.integers(0, dataset.train_size, BATCH_SIZE) for _ in range(BATCH_POOL)]
    print(
        f"   {'dtype':<8} {'core µs':>8} {'torch µs':>9} {'core/torch':>10}"
        f"   {'torch µs without loss/accuracy readout':>38}"
    )
    medians: dict[str, tuple[float, float, float]] = {}
    for dtype in ("float32", "float64"):
        contenders = step_contenders(torch, dataset, pool, np.dtype(dtype))
        timings = time_interleaved(contenders, steps)
        core_us, torch_us, plain_us = (timings[name] for name in contenders)
        medians[dtype] = (core_us, torch_us, plain_us)
        print(
            f"   {dtype:<8} {core_us:>8.1f} {torch_us:>9.1f} "
            f"{core_us / torch_us:>10.3f}   {plain_us:>38.1f}"
        )
    return medians


def step_contenders(
    torch: ModuleType,
    dataset: Dataset,
    pool: Sequence[NDArray[np.integer]],
    dtype: np.dtype[Any],
) -> dict[str, Callable[[int], None]]:
    """Step functions of core, torch, and torch without readout, by name.

    Each takes a step number and trains on the batch it picks from `pool`.

    Raises:
        AssertionError: when core and torch disagree on the initial loss.
    """
    train_images = np.asarray(dataset.train_images)
    train_labels = np.asarray(dataset.train_labels)
    batches: list[tuple[NDArray[Any], Labels]] = []
    for rows in pool:
        x = train_images[rows].astype(dtype)  # (N, D)
        x *= PIXEL_SCALE
        batches.append((x, train_labels[rows]))

    # core: the seed experiment's network and core's Adam
    net = MLP(
        [dataset.features, *HIDDEN_SIZES, NUM_CLASSES],
        activation="sigmoid",
        weight_init=WEIGHT_STD,
        init_rng=np.random.default_rng(SEED),
        dtype=dtype.type,
    )
    optimizer = make_optimizer("adam", LEARNING_RATE)

    # torch: the same layers from core's initial weights; Adam's betas and
    # eps default to the values core uses
    torch_dtype = getattr(torch, dtype.name)
    model = torch.nn.Sequential(
        torch.nn.Linear(dataset.features, HIDDEN_SIZES[0]),
        torch.nn.Sigmoid(),
        torch.nn.Linear(HIDDEN_SIZES[0], HIDDEN_SIZES[1]),
        torch.nn.Sigmoid(),
        torch.nn.Linear(HIDDEN_SIZES[1], NUM_CLASSES),
    ).to(torch_dtype)
    with torch.no_grad():
        for layer, linear in enumerate((model[0], model[2], model[4]), start=1):
            linear.weight.copy_(torch.from_numpy(net.params[param_key("W", layer)].T))
            linear.bias.copy_(torch.from_numpy(net.params[param_key("b", layer)]))
    loss_fn = torch.nn.CrossEntropyLoss()
    torch_optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    torch_batches = [
        (torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))) for x, y in batches
    ]

    # The same start must give the same loss, or they compute different things.
    core_loss = net.loss(*batches[0], training=True)
    with torch.no_grad():
        torch_loss = loss_fn(model(torch_batches[0][0]), torch_batches[0][1]).item()
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    if not math.isclose(core_loss, torch_loss, rel_tol=tolerance):
        raise AssertionError(
            f"{dtype}: initial loss of core {core_loss!r} != torch's {torch_loss!r}"
        )

    # As in core's training loop: the optimizer steps the flat buffer that
    # every parameter is a view of.
    flat_params, flat_grads = {"all": net.flat_params}, {"all": net.flat_grads}

    def core_step(i: int) -> None:
        x, y = batches[i % BATCH_POOL]
        net.train_batch(x, y)
        optimizer.step(flat_params, flat_grads)

    def torch_step(i: int) -> None:
        # Reads out what core's train_batch returns: the loss and accuracy.
        x, y = torch_batches[i % BATCH_POOL]
        torch_optimizer.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        torch_optimizer.step()
        loss.item()
        (logits.argmax(dim=1) == y).float().mean().item()

    def torch_plain_step(i: int) -> None:
        x, y = torch_batches[i % BATCH_POOL]
        torch_optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        torch_optimizer.step()

    return {"core": core_step, "torch": torch_step, "torch plain": torch_plain_step}


def time_interleaved(
    contenders: dict[str, Callable[[int], None]], steps: int
) -> dict[str, float]:
    """Median CPU µs per call of each contender, after warm-up.

    The steps run in blocks, the contenders taking turns block by block, in
    an order that rotates so that none always runs first.
    """
    for step in contenders.values():
        for i in range(WARMUP_STEPS):
            step(i)

    names = list(contenders)
    timings: dict[str, list[float]] = {name: [] for name in names}
    per_block = max(1, steps // TIMING_BLOCKS)
    for block in range(TIMING_BLOCKS):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            step, record = contenders[name], timings[name].append
            for i in range(block * per_block, (block + 1) * per_block):
                started = time.process_time()
                step(i)
                record(time.process_time() - started)
    return {name: statistics.median(timings[name]) * 1e6 for name in names}


# -- 3. peak memory of a run through core ----------------------------------------


def vm_hwm_kb() -> int:
    """This process's peak resident set in KiB, from VmHWM.

    Not `getrusage(RUSAGE_CHILDREN)` in the parent: Linux folds the parent's
    resident set at the moment of the fork into the child's maximum when the
    child calls exec, so that figure reports the (larger) benchmark process.
    VmHWM belongs to the address space exec created.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    # Elsewhere ru_maxrss is the best there is (KiB on Linux, bytes on macOS).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(dataset_name: str, iterations: int) -> None:
    """Run the seed experiment with Adam; print peak memory as one JSON line."""
    after_imports = vm_hwm_kb()
    dataset = load_dataset(dataset_name)
    after_load = vm_hwm_kb()

    run = TrainingRun(seed_spec(dataset_name, JUDGED_OPTIMIZER, iterations), dataset)
    last = None
    for record in run.records():
        last = record
    assert last is not None, "a run has at least one step"
    print(
        json.dumps(
            {
                "after_imports_kb": after_imports,
                "after_load_kb": after_load,
                "peak_kb": vm_hwm_kb(),
                "final_test_accuracy": last.test_accuracy,
            }
        )
    )


def measure_peak_memory(dataset_name: str, iterations: int) -> dict[str, float]:
    """Peak RSS in MB (10^6 bytes) of a fresh process running the experiment.

    Raises:
        RuntimeError: when the child process fails.
    """
    print(
        f"\n3. peak memory of the seed experiment (adam, {iterations} iterations) "
        f"on {dataset_name} through core, in a fresh process"
    )
    command = [sys.executable, "-m", MODULE, "--memory-child"]
    command += ["--dataset", dataset_name, "--iterations", str(iterations)]
    child = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if child.returncode != 0:
        raise RuntimeError(
            f"memory child exited with {child.returncode}:\n{child.stderr.strip()}"
        )
    report = json.loads(child.stdout.strip().splitlines()[-1])

    figures = {
        stage: report[f"{stage}_kb"] * 1024 / 1e6
        for stage in ("after_imports", "after_load", "peak")
    }
    print(
        f"   peak RSS {figures['peak']:.1f} MB (VmHWM of the child; "
        f"{figures['after_imports']:.1f} MB after imports, "
        f"{figures['after_load']:.1f} MB after opening the dataset); "
        f"final test accuracy {report['final_test_accuracy']:.4f}"
    )
    return figures


# -- driver ----------------------------------------------------------------------


def pin_threads() -> None:
    """Re-execute once with one BLAS/OpenMP thread unless that is already set.

    The variables are read when NumPy (and torch) load, which has happened by
    the time `main` runs, so setting them now needs a fresh process.
    """
    if all(os.environ.get(name) == "1" for name in THREAD_VARIABLES):
        return
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", MODULE, *sys.argv[1:]], env)


def print_summary(figures: list[Figure], argv: Sequence[str]) -> None:
    home = os.environ.get("TRAINJOBS_HOME")
    command = shlex.join([sys.executable, "-m", MODULE, *argv])
    if home:
        command = f"TRAINJOBS_HOME={shlex.quote(home)} {command}"

    print("\nsummary")
    width = max(len(figure.name) for figure in figures)
    for figure in figures:
        result = {True: "PASS", False: "MISS", None: "SKIP"}[figure.passed]
        row = f"{figure.name:<{width}}  {figure.value:>10}  {figure.target:<8}"
        print(f"  {row}  {result}")
    print(f"  command: cd {shlex.quote(str(REPO_ROOT))} && {command}")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="Core against a bare NumPy loop and PyTorch, and its peak memory.",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs per contender (default 5)"
    )
    parser.add_argument(
        "--dataset",
        default="fashion-mnist",
        help="dataset name (default fashion-mnist)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=1000,
        help="training steps of the seed experiment (default 1000)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=2000,
        help="timed training steps per contender and dtype in part 2 (default 2000)",
    )
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("repeats", "iterations", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    pin_threads()
    if args.memory_child:
        memory_child(args.dataset, args.iterations)
        return 0

    # Decode (or open) the dataset once here, so that every timed run and the
    # memory child find the cache warm.
    dataset = load_dataset(args.dataset)
    print(
        f"core_vs_bare: numpy {np.__version__}, one BLAS thread, dataset cache "
        f"{default_cache_dir()}"
    )

    seed = compare_seed_experiment(dataset, args.iterations, args.repeats)
    per_step = compare_per_step(dataset, args.steps)
    memory = measure_peak_memory(args.dataset, args.iterations)

    core_s, bare_s = seed[JUDGED_OPTIMIZER]
    figures = [
        Figure(
            f"seed experiment core/bare ({JUDGED_OPTIMIZER}, "
            f"{core_s:.2f} s / {bare_s:.2f} s)",
            f"{core_s / bare_s:.3f}",
            f"<= {TARGET_CORE_VS_BARE}",
            core_s / bare_s <= TARGET_CORE_VS_BARE,
        )
    ]
    for dtype_name in ("float32", "float64"):
        if per_step is None:
            figures.append(
                Figure(
                    f"per-step core/torch {dtype_name}",
                    "-",
                    f"<= {TARGET_CORE_VS_TORCH}",
                    None,
                )
            )
            continue
        core_us, torch_us, _ = per_step[dtype_name]
        figures.append(
            Figure(
                f"per-step core/torch {dtype_name} "
                f"({core_us:.0f} µs / {torch_us:.0f} µs)",
                f"{core_us / torch_us:.3f}",
                f"<= {TARGET_CORE_VS_TORCH}",
                core_us / torch_us <= TARGET_CORE_VS_TORCH,
            )
        )
    figures.append(
        Figure(
            f"peak RSS of a {args.dataset} run (adam)",
            f"{memory['peak']:.1f} MB",
            f"< {TARGET_PEAK_MB:.0f} MB",
            memory["peak"] < TARGET_PEAK_MB,
        )
    )
    print_summary(figures, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
