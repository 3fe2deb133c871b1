#!/usr/bin/python3
"""bnstep side by side with what a student would use instead, in one run.

  bench/compare.py                  everything (includes PyTorch's full-mode
                                    gradcheck of batch norm 64x256: minutes)
  bench/compare.py --quick          skips the full checks of batch norm 64x256
                                    (bnstep's and PyTorch's: minutes each)
  bench/compare.py --build DIR      bnstep and bnstep_bench from DIR (default build-bench;
                                    configured as a Release build when it has no CMakeCache.txt)

Run it with the Python that has Debian's python3-numpy and python3-torch
(/usr/bin/python3, the shebang), not a virtualenv's or pyenv's.

Peers, each skipped with a note when its module is missing: NumPy
(python3-numpy) and PyTorch (python3-torch). The conv throughput row needs
bnstep_bench (libbenchmark-dev); the script builds it.

Whole-process figures (a bnstep command, a python3 script) are the median wall
time of --runs runs; in-process figures (a gradcheck or a convolution inside a
running Python; bnstep's check_gradients and convolution in bnstep_bench, the
rows marked [in process]) the median of repeated calls. Ratios are
peer time / bnstep time (or bnstep rate / peer rate): above 1, bnstep is faster.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LESSONS = os.path.join(ROOT, "bench", "lessons")

try:
    import numpy as np
except ImportError:
    np = None
try:
    import torch
except ImportError:
    torch = None


def median_wall(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def whole_process(argv, runs):
    def once():
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if runs > 1:
        once()  # warm the file cache
    return median_wall(once, runs)


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def row(what, bnstep_s, peer, peer_s):
    ratio = f"{peer_s / bnstep_s:8.1f}x" if peer_s is not None else "       -"
    peer_text = fmt_time(peer_s) if peer_s is not None else "skipped"
    print(f"  {what:<44} bnstep {fmt_time(bnstep_s):>9}   {peer:<30} {peer_text:>9}   {ratio}")


# ---------------------------------------------------------------- peers

NUMPY_BATCHNORM = """
import numpy as np
x = np.array([[1.0, 2.0, 0.5], [3.0, -1.0, 1.5], [-2.0, 0.0, 2.5], [2.0, 1.0, -0.5]])
gamma = np.array([1.5, 0.5, 2.0]); beta = np.array([0.1, -0.2, 0.3]); eps = 1e-5
dout = np.array([[0.1, -0.3, 0.2], [0.4, 0.1, -0.5], [-0.2, 0.3, 0.1], [0.3, -0.1, 0.4]])
mu = x.mean(axis=0); xmu = x - mu; var = (xmu ** 2).mean(axis=0)
sqrtvar = np.sqrt(var + eps); ivar = 1.0 / sqrtvar; xhat = xmu * ivar; out = gamma * xhat + beta
dbeta = dout.sum(axis=0); dgamma = (dout * xhat).sum(axis=0); dxhat = dout * gamma
divar = (dxhat * xmu).sum(axis=0); dxmu1 = dxhat * ivar; dsqrtvar = -divar / sqrtvar ** 2
dvar = 0.5 * dsqrtvar / sqrtvar; dsq = dvar * np.ones_like(x) / x.shape[0]; dxmu2 = 2 * xmu * dsq
dx1 = dxmu1 + dxmu2; dmu = -dx1.sum(axis=0); dx = dx1 + dmu * np.ones_like(x) / x.shape[0]
print(out, dx, dgamma, dbeta, sep="\\n")
"""


def bn_forward_numpy(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0)
    xmu = x - mu
    var = (xmu ** 2).mean(axis=0)
    return gamma * xmu / np.sqrt(var + eps) + beta


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """CS231n's gradient_check.eval_numerical_gradient_array."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = f(x).copy()
        x[ix] = old - h
        neg = f(x).copy()
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def numpy_batchnorm_check(n, d):
    rng = np.random.default_rng(0)
    x, gamma, beta = rng.uniform(-1, 1, (n, d)), rng.uniform(-1, 1, d), rng.uniform(-1, 1, d)
    dout = rng.uniform(-1, 1, (n, d))
    eval_numerical_gradient_array(lambda v: bn_forward_numpy(v, gamma, beta), x, dout)
    eval_numerical_gradient_array(lambda v: bn_forward_numpy(x, v, beta), gamma, dout)
    eval_numerical_gradient_array(lambda v: bn_forward_numpy(x, gamma, v), beta, dout)


def torch_batchnorm(x, gamma, beta):
    mu = x.mean(dim=0)
    xmu = x - mu
    var = (xmu * xmu).mean(dim=0)
    return gamma * xmu / torch.sqrt(var + 1e-5) + beta


def torch_gradcheck_time(fn, shapes, fast_mode, runs):
    gen = torch.Generator().manual_seed(0)
    inputs = tuple(torch.rand(s, dtype=torch.float64, generator=gen).mul(2).sub(1).requires_grad_() for s in shapes)

    def once():
        assert torch.autograd.gradcheck(fn, inputs, fast_mode=fast_mode)
    return median_wall(once, runs)


def conv_layers():
    # name, x shape, w shape, padding, groups
    return [("standard", (8, 32, 56, 56), (64, 32, 3, 3), 1, 1),
            ("depthwise", (8, 32, 56, 56), (32, 1, 3, 3), 1, 32),
            ("pointwise", (8, 32, 56, 56), (64, 32, 1, 1), 0, 1)]


def conv_flops(x, w, padding, groups):
    n, _, h, wd = x
    k, cg, r, s = w
    ho, wo = h + 2 * padding - r + 1, wd + 2 * padding - s + 1
    return 2.0 * n * k * cg * r * s * ho * wo


def torch_conv_rate(x_shape, w_shape, padding, groups, runs):
    x = torch.rand(x_shape, dtype=torch.float64, requires_grad=True)
    w = torch.rand(w_shape, dtype=torch.float64, requires_grad=True)
    b = torch.rand(w_shape[0], dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.conv2d(x, w, b, padding=padding, groups=groups)
    dout = torch.rand_like(out)

    def once():
        y = torch.nn.functional.conv2d(x, w, b, padding=padding, groups=groups)
        y.backward(dout)
    once()
    return 3 * conv_flops(x_shape, w_shape, padding, groups) / median_wall(once, runs) / 1e9


# ---------------------------------------------------------------- bnstep

def bnstep_supports_mode(bnstep):
    help_text = subprocess.run([bnstep, "check-gradients", "--help"], capture_output=True, text=True).stdout
    return "--mode" in help_text


def bnstep_bench_medians(build, pattern, repetitions):
    """The median of each bnstep_bench benchmark matching `pattern`, built first (Google Benchmark's JSON)."""
    subprocess.run(["cmake", "--build", build, "--target", "bnstep_bench", "--", "--no-print-directory"],
                   check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run([os.path.join(build, "bench", "bnstep_bench"), f"--benchmark_filter={pattern}",
                          f"--benchmark_repetitions={repetitions}", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True).stdout
    return [b for b in json.loads(out)["benchmarks"] if b.get("aggregate_name") == "median"]


def bnstep_conv_rates(build):
    """GFLOP/s of conv_forward_backward per layer from bnstep_bench (wall time, median of 5)."""
    return {b["run_name"].split("/")[1]: b["FLOPS"] / 1e9  # conv_forward_backward/<layer>/real_time
            for b in bnstep_bench_medians(build, "conv_forward_backward", 5)}


def bnstep_gradcheck_times(build):
    """Seconds of check_gradients in process, per (case, mode), from bnstep_bench (median of 3)."""
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times = {}
    for b in bnstep_bench_medians(build, "^gradcheck/", 3):
        parts = b["run_name"].split("/")  # gradcheck/<case>/<mode>[/real_time]
        times[(parts[1], parts[2])] = b["real_time"] * unit[b["time_unit"]]
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--runs", type=int, default=20, help="runs of each whole-process command")
    ap.add_argument("--quick", action="store_true", help="skip the full checks of batch norm 64x256")
    args = ap.parse_args()

    build = os.path.abspath(args.build)
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DBNSTEP_BUILD_TESTS=OFF"],
                       check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build, "--target", "bnstep", "--", "--no-print-directory"], check=True,
                   stdout=subprocess.DEVNULL)
    bnstep = os.path.join(build, "bnstep")
    full = ["--mode", "full"] if bnstep_supports_mode(bnstep) else []
    print(f"NumPy {np.__version__ if np else 'not installed'}, "
          f"PyTorch {torch.__version__ + f' ({torch.get_num_threads()} threads)' if torch else 'not installed'}, "
          f"{os.cpu_count()} CPUs")

    print("\nWhole process, batch norm forward + backward (the batchnorm lesson, 4x3)")
    t_run = whole_process([bnstep, "run", "batchnorm"], args.runs)
    t_np = whole_process([sys.executable, "-c", NUMPY_BATCHNORM], args.runs) if np else None
    row("bnstep run batchnorm", t_run, "python3 NumPy script", t_np)

    print("\nGradient checks: bnstep check-gradients (whole process, every node, every element), and")
    print("check_gradients in process [in process] (bnstep_bench: the lesson loaded and run outside the timing),")
    print("vs peers inside a running Python (PyTorch: the leaves only)")
    try:
        in_process = bnstep_gradcheck_times(build)
    except (subprocess.CalledProcessError, FileNotFoundError, KeyError, ValueError) as e:
        in_process = {}
        print(f"  bnstep_bench unavailable ({type(e).__name__}); install libbenchmark-dev")
    bn_random = os.path.join(LESSONS, "batchnorm-random.json")
    bn_big = ["--set", "x.shape=64,256", "--set", "gamma.shape=256", "--set", "beta.shape=256"]
    cases = [
        ("batch norm 4x3", "batchnorm_4x3", [bnstep, "check-gradients", "batchnorm"] + full,
         torch_batchnorm, [(4, 3), (3,), (3,)], 20, None),
        ("batch norm 64x256", "batchnorm_64x256", [bnstep, "check-gradients", bn_random] + bn_big + full,
         torch_batchnorm, [(64, 256), (256,), (256,)], 1, (64, 256)),
        ("conv2d x 2x3x8x8, w 4x3x3x3 (+bias, relu)", "conv2d_2x3x8x8",
         [bnstep, "check-gradients", "conv2d", "--set", "x.shape=2,3,8,8", "--set", "w.shape=4,3,3,3",
          "--set", "b.shape=4"] + full,
         (lambda x, w, b: torch.relu(torch.nn.functional.conv2d(x, w, b, padding=1))) if torch else None,
         [(2, 3, 8, 8), (4, 3, 3, 3), (4,)], 3, None),
        ("depthwise conv x 2x8x8x8, w 8x1x3x3", "depthwise_2x8x8x8",
         [bnstep, "check-gradients", os.path.join(LESSONS, "depthwise-conv.json")] + full,
         (lambda x, w: torch.nn.functional.conv2d(x, w, padding=1, groups=8)) if torch else None,
         [(2, 8, 8, 8), (8, 1, 3, 3)], 3, None),
    ]
    for what, key, argv, fn, shapes, torch_runs, numpy_shape in cases:
        slow = numpy_shape is not None and args.quick
        t_full = None
        if not slow:
            t_b = whole_process(argv, 1 if numpy_shape else max(3, args.runs // 4))
            if numpy_shape:
                t_n = median_wall(lambda: numpy_batchnorm_check(*numpy_shape), 1) if np else None
                row(what, t_b, "NumPy CS231n check", t_n)
            t_full = torch_gradcheck_time(fn, shapes, False, torch_runs) if torch else None
            row(what, t_b, "torch gradcheck (full)", t_full)
        if (key, "full") in in_process:
            row(what + " [in process]", in_process[(key, "full")], "torch gradcheck (full)", t_full)
        if full:  # bnstep's directional mode: two evaluations per node, like PyTorch's fast mode
            t_d = whole_process([a for a in argv if a != "full"][:-1] + ["--mode", "directional"],
                                max(3, args.runs // 4))
            t_fast = torch_gradcheck_time(fn, shapes, True, max(3, torch_runs)) if torch else None
            row(what + " [directional]", t_d, "torch gradcheck (fast_mode)", t_fast)
            if (key, "directional") in in_process:
                row(what + " [directional, in process]", in_process[(key, "directional")],
                    "torch gradcheck (fast_mode)", t_fast)

    print("\nConvolution forward + backward, float64, x 8x32x56x56 (GFLOP/s, wall time; higher is better)")
    try:
        rates = bnstep_conv_rates(build)
    except (subprocess.CalledProcessError, FileNotFoundError, KeyError, ValueError) as e:
        rates = {}
        print(f"  bnstep_bench unavailable ({type(e).__name__}); install libbenchmark-dev")
    for name, xs, ws, pad, groups in conv_layers():
        ours = rates.get(name)
        theirs = torch_conv_rate(xs, ws, pad, groups, 5) if torch else None
        ratio = f"{ours / theirs:8.1f}x" if ours and theirs else "       -"
        ours_text = f"{ours:.2f}" if ours else "-"
        theirs_text = f"{theirs:.2f}" if theirs else "skipped"
        print(f"  {name:<10} w {'x'.join(map(str, ws)):<10} bnstep {ours_text:>7}   torch {theirs_text:>7}   {ratio}")


if __name__ == "__main__":
    main()
