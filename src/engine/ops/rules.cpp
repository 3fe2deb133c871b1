#include "ops/rules.hpp"

namespace bnstep::ops {

Surrogate anchored_surrogate(std::function<std::string(const Attrs&)> name, ForwardFn forward,
                             std::function<double(double, const Attrs&)> s, PiecesFn pieces) {
    Surrogate sur;
    sur.name = std::move(name);
    sur.forward = [forward = std::move(forward), s = std::move(s)](const OpCall& call, const OpCall& base) {
        OpCall at_base = base;
        at_base.out = nullptr;
        Tensor y = forward(at_base);
        const Tensor& x = call.input(0);
        const Tensor& x0 = base.input(0);
        for (std::size_t i = 0; i < y.size(); ++i) y[i] += s(x[i], *call.attrs) - s(x0[i], *call.attrs);
        return y;
    };
    sur.pieces = std::move(pieces);
    return sur;
}

VjpFn upstream_times(LocalFn local) {
    return [local = std::move(local)](const OpCall& call, const Tensor& upstream) {
        Tensor g = local(call);
        for (std::size_t i = 0; i < g.size(); ++i) g[i] *= upstream[i];
        return g;
    };
}

}  // namespace bnstep::ops
