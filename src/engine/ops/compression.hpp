#pragma once
// What the quantization and pruning ops share: sign and hardtanh, the
// straight-through estimators of the binarizing ops, 0/1 masks, choosing
// weights by magnitude, and gradient rules that multiply the upstream
// gradient by a local gradient element by element.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "bnstep/op.hpp"
#include "ops/rules.hpp"

namespace bnstep::ops {

// torch.sign: -1, 0 or +1 (sign(0) = 0).
inline double sign_of(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }
inline long long sign_piece(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

// hardtanh(x) = clip(x, -1, 1), and its pieces: -1 below -1, 0 for |x| <= 1, 1 above 1.
inline double unit_clip(double x) { return x < -1 ? -1.0 : x > 1 ? 1.0 : x; }
inline long long unit_region(double x) { return x < -1 ? -1 : x > 1 ? 1 : 0; }

// The straight-through estimator of sign in the backward pass: the
// derivative of s(x) = x (identity) or s(x) = hardtanh(x), the BNN rule
// 1 where |x| <= 1 (bounds included), else 0.
enum class Ste { Identity = 0, Hardtanh = 1 };
AttrSpec ste_attr(Ste fallback);
Ste ste_of(const Attrs& attrs);
std::string ste_name(const Attrs& attrs);
double ste_s(Ste ste, double x);
double ste_derivative(Ste ste, double x);
// The template of s' for a worked example, `{var}` the operand.
std::string ste_local_text(Ste ste, const std::string& var);

// Shape rule of ops taking W and an optional mask of W's shape.
Shape weights_and_mask(const std::vector<Shape>& in);
// The mask input as flags; a ValueError names the first element that is not 0 or 1.
std::vector<bool> read_mask(const Tensor& mask, const std::string& meaning_of_one);

// round(fraction * n), halves rounded up, for fraction in [0, 1].
std::size_t count_of(double fraction, std::size_t n);
void check_fraction(const Attrs& attrs, const std::string& name);
// For each element of w, the index of the nearest element of c; on a tie of
// distance the lower index (a scan of c in order keeping the first minimum),
// found by a binary search among the sorted values of c.
std::vector<std::size_t> nearest_indices(const Tensor& w, const Tensor& c);
// Flags for the `count` elements of largest (or smallest) |w|; on a tie of
// |w| the lower index is taken first.
std::vector<bool> by_magnitude(const Tensor& w, std::size_t count, bool largest);
// A tie of |W| at the boundary of the `count` smallest (or largest), where the
// order of the indices decides: "|W[1]| = |W[3]| = 0.2 at the boundary of the 2
// smallest", or "".
std::string magnitude_tie(const Tensor& w, std::size_t count, bool largest);
// A value within 1e-12 of its magnitude of a threshold: hit exactly in exact arithmetic.
inline bool hits(double x, double threshold) {
    return std::fabs(x - threshold) <= 1e-12 * std::max(std::fabs(x), std::fabs(threshold));
}
// 1 where flags[i] == when, else 0, in `shape`: a 0/1 local gradient from flags.
Tensor flags_as(const Shape& shape, const std::vector<bool>& flags, bool when);

// How a worked example writes one element's local gradient: the factor
// ("m[2]", "[|w[2]| <= 1]") and notes that say why it has its value.
struct LocalText {
    std::string symbolic;
    std::vector<std::string> notes;
};
using LocalTextFn =
    std::function<LocalText(const OpCall& call, const Names& names, const Index& at, const NumFmt& num)>;

// An input of the output's shape whose gradient is upstream * local, element
// by element.
InputRule local_rule(std::string name, std::string formula, LocalFn local, LocalTextFn text,
                     bool straight_through = false);

// The elements of a tensor, each with the given piece function applied.
std::vector<long long> pieces_by_element(const Tensor& t, const std::function<long long(double)>& piece);

}  // namespace bnstep::ops
