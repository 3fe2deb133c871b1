#!/usr/bin/env python3
"""The batch-norm backward pass, staged, written by hand in NumPy.

    bnstep export batchnorm -o batchnorm.npz
    python3 examples/batchnorm_backward.py batchnorm.npz mine.npz
    bnstep compare batchnorm mine.npz

It loads the lesson's data (x, gamma, beta, eps and the upstream gradient
dout), runs the forward pass in steps 1-9 and the backward pass in steps 9-0,
and saves every gradient under the name bnstep gives it, so that bnstep can
say which step is wrong. The steps are those of docs/background.md.
"""
import sys

import numpy as np


def main(data_path, out_path):
    data = np.load(data_path)
    x, gamma, beta, eps, dout = (data[k] for k in ("x", "gamma", "beta", "eps", "dout"))
    N = x.shape[0]

    # Forward, steps 1-9.
    mu = x.mean(axis=0)                # 1
    xmu = x - mu                       # 2
    sq = xmu ** 2                      # 3
    var = sq.mean(axis=0)              # 4
    sqrtvar = np.sqrt(var + eps)       # 5
    ivar = 1.0 / sqrtvar               # 6
    xhat = xmu * ivar                  # 7
    gammax = gamma * xhat              # 8
    out = gammax + beta                # 9

    # Backward, steps 9-0: each local gradient times the gradient from above.
    dbeta = dout.sum(axis=0)                   # 9: beta was broadcast over the rows
    dgammax = dout
    dgamma = (dgammax * xhat).sum(axis=0)      # 8
    dxhat = dgammax * gamma
    divar = (dxhat * xmu).sum(axis=0)          # 7
    dxmu1 = dxhat * ivar
    dsqrtvar = -1.0 / sqrtvar ** 2 * divar     # 6
    dvar = 0.5 / np.sqrt(var + eps) * dsqrtvar  # 5
    dsq = np.ones_like(sq) / N * dvar          # 4: the mean spreads dvar over N rows
    dxmu2 = 2 * xmu * dsq                      # 3
    dxmu = dxmu1 + dxmu2                       # xmu feeds steps 3 and 7
    dx1 = dxmu                                 # 2
    dmu = -dxmu.sum(axis=0)
    dx2 = np.ones_like(x) / N * dmu            # 1
    dx = dx1 + dx2                             # x feeds steps 1 and 2

    np.savez(out_path, out=out, dbeta=dbeta, dgammax=dgammax, dgamma=dgamma, dxhat=dxhat, divar=divar,
             dxmu1=dxmu1, dsqrtvar=dsqrtvar, dvar=dvar, dsq=dsq, dxmu2=dxmu2, dxmu=dxmu, dx1=dx1, dmu=dmu,
             dx2=dx2, dx=dx)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: batchnorm_backward.py LESSON_DATA.npz MINE.npz")
    main(sys.argv[1], sys.argv[2])
