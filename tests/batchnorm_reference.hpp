#pragma once
// Batch normalization computed by hand with plain loops, for the tests to
// check bnstep against: independent of the library, from docs/background.md
// section 1 only. Fill x, gamma, beta, eps and dout, then call compute().
#include <cmath>
#include <cstddef>
#include <vector>

namespace bnstep_test {

// Batch normalization, forward and backward, staged exactly as docs/background.md
// section 1 lists the steps, plus the closed-form dx.
struct BatchNorm {
    using Vec = std::vector<double>;
    using Mat = std::vector<Vec>;

    std::size_t N = 0, D = 0;
    Mat x, dout;
    Vec gamma, beta;
    double eps = 0;
    // forward
    Vec mu, var, sqrtvar, ivar;
    Mat xmu, sq, xhat, gammax, out;
    // backward, staged
    Vec dbeta, dgamma, divar, dsqrtvar, dvar, dmu;
    Mat dgammax, dxhat, dxmu1, dsq, dxmu2, dxmu, dx1, dx2, dx;
    // backward, closed form
    Mat dx_closed;

    Mat zeros() const { return Mat(N, Vec(D, 0.0)); }

    void compute() {
        N = x.size();
        D = x.at(0).size();
        const double n = static_cast<double>(N);
        // step 1
        mu.assign(D, 0.0);
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) mu[j] += x[i][j] / n;
        // steps 2, 3
        xmu = zeros();
        sq = zeros();
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) {
                xmu[i][j] = x[i][j] - mu[j];
                sq[i][j] = xmu[i][j] * xmu[i][j];
            }
        // steps 4, 5, 6
        var.assign(D, 0.0);
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) var[j] += sq[i][j] / n;
        sqrtvar.assign(D, 0.0);
        ivar.assign(D, 0.0);
        for (std::size_t j = 0; j < D; ++j) {
            sqrtvar[j] = std::sqrt(var[j] + eps);
            ivar[j] = 1.0 / sqrtvar[j];
        }
        // steps 7, 8, 9
        xhat = zeros();
        gammax = zeros();
        out = zeros();
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) {
                xhat[i][j] = xmu[i][j] * ivar[j];
                gammax[i][j] = gamma[j] * xhat[i][j];
                out[i][j] = gammax[i][j] + beta[j];
            }

        // backward step 9
        dbeta.assign(D, 0.0);
        dgammax = dout;
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) dbeta[j] += dout[i][j];
        // step 8
        dgamma.assign(D, 0.0);
        dxhat = zeros();
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) {
                dgamma[j] += dgammax[i][j] * xhat[i][j];
                dxhat[i][j] = dgammax[i][j] * gamma[j];
            }
        // step 7
        divar.assign(D, 0.0);
        dxmu1 = zeros();
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) {
                divar[j] += dxhat[i][j] * xmu[i][j];
                dxmu1[i][j] = dxhat[i][j] * ivar[j];
            }
        // steps 6, 5
        dsqrtvar.assign(D, 0.0);
        dvar.assign(D, 0.0);
        for (std::size_t j = 0; j < D; ++j) {
            dsqrtvar[j] = -1.0 / (sqrtvar[j] * sqrtvar[j]) * divar[j];
            dvar[j] = 0.5 / std::sqrt(var[j] + eps) * dsqrtvar[j];
        }
        // steps 4, 3
        dsq = zeros();
        dxmu2 = zeros();
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) {
                dsq[i][j] = 1.0 / n * dvar[j];
                dxmu2[i][j] = 2.0 * xmu[i][j] * dsq[i][j];
            }
        // step 2
        dxmu = zeros();
        dmu.assign(D, 0.0);
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) {
                dxmu[i][j] = dxmu1[i][j] + dxmu2[i][j];
                dmu[j] -= dxmu[i][j];
            }
        dx1 = dxmu;
        // step 1, step 0
        dx2 = zeros();
        dx = zeros();
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) {
                dx2[i][j] = 1.0 / n * dmu[j];
                dx[i][j] = dx1[i][j] + dx2[i][j];
            }

        // closed form
        Vec sum_dout(D, 0.0), sum_dout_xhat(D, 0.0);
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) {
                sum_dout[j] += dout[i][j];
                sum_dout_xhat[j] += dout[i][j] * xhat[i][j];
            }
        dx_closed = zeros();
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t j = 0; j < D; ++j) {
                const double inv = std::pow(var[j] + eps, -0.5);
                dx_closed[i][j] =
                    (1.0 / n) * gamma[j] * inv * (n * dout[i][j] - sum_dout[j] - xhat[i][j] * sum_dout_xhat[j]);
            }
    }
};

}  // namespace bnstep_test
