#pragma once
// What the convolution-family tests (test_conv.cpp, test_pool.cpp,
// test_batchnorm2d.cpp) share: seeded tensors, an element-wise comparison,
// and an op call built from its parts.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "bnstep/op.hpp"
#include "bnstep/rng.hpp"
#include "bnstep/tensor.hpp"

namespace bnstep_conv_test {

using namespace bnstep;

inline Tensor random_tensor(const Shape& shape, std::uint64_t seed, double low = -1.0, double high = 1.0) {
    Rng rng(seed);
    Tensor t(shape);
    for (double& v : t.data()) v = rng.uniform(low, high);
    return t;
}

// |got - want| <= tol * max(1, |want|), element by element, shapes equal.
inline void check_same(const Tensor& got, const Tensor& want, double tol = 1e-12) {
    REQUIRE(got.shape() == want.shape());
    double worst = 0;
    std::size_t where = 0;
    for (std::size_t e = 0; e < want.size(); ++e) {
        const double err = std::fabs(got[e] - want[e]) / std::max(1.0, std::fabs(want[e]));
        if (!(err <= worst)) {  // also catches NaN
            worst = err;
            where = e;
        }
    }
    INFO("worst element " << index_str(want.unravel(where)) << ": got " << got[where] << ", want " << want[where]);
    CHECK(worst <= tol);
}

inline OpCall call_of(const std::vector<const Tensor*>& in, const Attrs& attrs, const Tensor* out = nullptr,
                      std::size_t slot = 0) {
    OpCall c;
    c.in = in;
    c.attrs = &attrs;
    c.out = out;
    c.slot = slot;
    return c;
}

}  // namespace bnstep_conv_test
