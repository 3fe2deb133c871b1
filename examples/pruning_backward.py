#!/usr/bin/env python3
"""The backward pass of a pruned layer, written by hand in NumPy.

    bnstep export magnitude-pruning -o pruning.npz
    python3 examples/pruning_backward.py pruning.npz mine.npz
    bnstep compare magnitude-pruning mine.npz

y = x @ Wp, where Wp = W * m and the mask m removes the half of the weights
of smallest magnitude. The local gradient of the pruning step is the mask
itself: a pruned weight gets no gradient.
"""
import sys

import numpy as np


def main(data_path, out_path):
    data = np.load(data_path)
    x, W, dy = data["x"], data["W"], data["dy"]

    m = np.ones_like(W)                                   # 1: the mask
    m.flat[np.argsort(np.abs(W), axis=None)[: W.size // 2]] = 0
    Wp = W * m
    y = x @ Wp                                            # 2

    dx = dy @ Wp.T                                        # 2: one input's gradient per slot
    dWp = x.T @ dy
    dW = dWp * m                                          # 1: the local gradient is the mask

    np.savez(out_path, y=y, dx=dx, dWp=dWp, dW=dW)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: pruning_backward.py LESSON_DATA.npz MINE.npz")
    main(sys.argv[1], sys.argv[2])
