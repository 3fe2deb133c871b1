#pragma once
// What a wrong tensor's numbers say about the mistake behind it: a wrong
// shape and its likely cause, a constant factor, a missing contribution, the
// right local gradient times the wrong upstream or the reverse.
#include <optional>
#include <vector>

#include "bnstep/compare.hpp"

namespace bnstep {

// How many wrong tensors whose error starts with them get a cause.
inline constexpr std::size_t kMaxDiagnosed = 8;

struct ElementError {
    double error = 0.0;  // relative, as CompareOptions defines it; infinite for a NaN
    std::size_t flat = 0;
};

struct Closeness {
    CompareOptions options;
    ElementError largest_error(const Tensor& given, const Tensor& expected) const;  // same shapes
    bool close(const Tensor& given, const Tensor& expected) const;  // same shape, every element within tolerance
};

// The cause of the mistake in `given` (the student's `r`), when the numbers show one.
std::optional<Diagnosis> diagnose(const Trace& t, const ReferenceTensor& r, const Tensor& given,
                                  const Closeness& close);

}  // namespace bnstep
