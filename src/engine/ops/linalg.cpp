// Matrix product of two matrices: out = A @ B.
#include <fmt/format.h>

#include "ops/explain.hpp"
#include "ops/families.hpp"

namespace bnstep::ops {
namespace {

// C = op(A) @ op(B) where op transposes when asked; all rank 2.
Tensor matmul(const Tensor& a, bool ta, const Tensor& b, bool tb) {
    const std::size_t n = ta ? a.shape()[1] : a.shape()[0];
    const std::size_t k = ta ? a.shape()[0] : a.shape()[1];
    const std::size_t m = tb ? b.shape()[0] : b.shape()[1];
    Tensor c(Shape{n, m});
    // Row-major flat offsets: A is (n, k), or (k, n) read transposed; B likewise.
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t p = 0; p < k; ++p) {
            const double av = ta ? a[p * n + i] : a[i * k + p];
            for (std::size_t j = 0; j < m; ++j) c[i * m + j] += av * (tb ? b[j * k + p] : b[p * m + j]);
        }
    return c;
}

Shape matmul_shape(const std::vector<Shape>& in, const Attrs&) {
    if (in[0].size() != 2 || in[1].size() != 2)
        throw ShapeError(
            fmt::format("matmul needs two matrices (rank 2), got {} and {}", shape_str(in[0]), shape_str(in[1])));
    if (in[0][1] != in[1][0])
        throw ShapeError(fmt::format("inner dimensions differ: {} @ {} (expected A (n, k) and B (k, m))",
                                     shape_str(in[0]), shape_str(in[1])));
    return Shape{in[0][0], in[1][1]};
}

Cost matmul_cost(const std::vector<Shape>& in, const Shape&, const Attrs&) {
    return Cost{double(in[0][0]) * double(in[0][1]) * double(in[1][1]),
                fmt::format("n*k*m = {}*{}*{}", in[0][0], in[0][1], in[1][1]), ""};
}

Worked matmul_explain(const OpCall& call, const Names& names, const Index& at, const NumFmt& num) {
    const Tensor& a = call.input(0);
    const Tensor& b = call.input(1);
    const std::size_t i = at[0], j = at[1];
    return sum_of_products(
        fmt::format("{}[{},{}]", names.out, i, j),
        fmt::format("sum_k {}[{},k] * {}[k,{}]", names.in[0], i, names.in[1], j), a.shape()[1],
        [&](std::size_t k) {
            return std::pair{a.at({i, k}), b.at({k, j})};
        },
        num);
}

Worked explain_grad_a(const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
    const Tensor& b = call.input(1);
    const std::size_t i = at[0], k = at[1];
    return sum_of_products(
        fmt::format("{}[{},{}]", names.downstream, i, k),
        fmt::format("sum_j {}[{},j] * {}[{},j]", names.upstream, i, names.in[1], k), b.shape()[1],
        [&](std::size_t j) {
            return std::pair{up.at({i, j}), b.at({k, j})};
        },
        num);
}

Worked explain_grad_b(const OpCall& call, const Tensor& up, const Names& names, const Index& at, const NumFmt& num) {
    const Tensor& a = call.input(0);
    const std::size_t k = at[0], j = at[1];
    return sum_of_products(
        fmt::format("{}[{},{}]", names.downstream, k, j),
        fmt::format("sum_i {}[i,{}] * {}[i,{}]", names.in[0], k, names.upstream, j), a.shape()[0],
        [&](std::size_t i) {
            return std::pair{a.at({i, k}), up.at({i, j})};
        },
        num);
}

// A changed A[i,k] reaches row i of the output, a changed B[k,j] column j;
// out[i,j] reads row i of A and column j of B.
ReachRule matmul_reach() {
    return {.affects =
                [](const std::vector<Shape>&, const Shape& out, const Attrs&, std::size_t slot, const Box& changed) {
                    Box b = Box::whole(out);
                    const std::size_t axis = slot == 0 ? 0 : 1;
                    b.lo[axis] = changed.lo[axis];
                    b.hi[axis] = changed.hi[axis];
                    return b;
                },
            .reads =
                [](const std::vector<Shape>& in, const Shape&, const Attrs&, const Box& out_box) {
                    Box a = Box::whole(in[0]), b = Box::whole(in[1]);
                    a.lo[0] = out_box.lo[0];
                    a.hi[0] = out_box.hi[0];
                    b.lo[1] = out_box.lo[1];
                    b.hi[1] = out_box.hi[1];
                    return std::vector<Box>{a, b};
                }};
}

}  // namespace

void add_linalg_ops(OpTable& t) {
    t.add(
        {.name = "matmul",
         .family = "linalg",
         .summary = "matrix product A @ B of an (n, k) and a (k, m) matrix",
         .forward_formula = "{A} @ {B}",
         .inputs = {{.name = "A",
                     .formula = "∂({A} @ {B})/∂{A}: d{A} = d{out} @ {B}^T, i.e. d{A}[i,k] = sum_j d{out}[i,j] * "
                                "{B}[k,j]",
                     .vjp = [](const OpCall& call, const Tensor& up) { return matmul(up, false, call.input(1), true); },
                     .explain = explain_grad_a},
                    {.name = "B",
                     .formula = "∂({A} @ {B})/∂{B}: d{B} = {A}^T @ d{out}, i.e. d{B}[k,j] = sum_i {A}[i,k] * "
                                "d{out}[i,j]",
                     .vjp = [](const OpCall& call, const Tensor& up) { return matmul(call.input(0), true, up, false); },
                     .explain = explain_grad_b}},
         .shape = matmul_shape,
         .forward = [](const OpCall& call) { return matmul(call.input(0), false, call.input(1), false); },
         .explain = matmul_explain,
         .cost = matmul_cost,
         .reach = matmul_reach()});
}

}  // namespace bnstep::ops
