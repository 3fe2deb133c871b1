#pragma once
// What batch normalization's ops (training and inference) share: which
// channel an element belongs to, the statistics of each channel, the sums its
// backward uses, and the rule of gamma and beta.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "bnstep/op.hpp"

namespace bnstep::ops {

// (N, D): channel j is column j; (N, C, H, W): channel c runs over n, h and w.
struct Layout {
    bool spatial = false;                            // (N, C, H, W) rather than (N, D)
    std::size_t channels = 0, count = 0, plane = 1;  // count: elements per channel (M)

    explicit Layout(const Shape& x) : spatial(x.size() == 4) {
        channels = x[1];
        plane = spatial ? x[2] * x[3] : 1;
        count = x[0] * plane;
    }
    std::size_t channel_of(std::size_t flat) const { return (flat / plane) % channels; }
    const char* batch_letters() const { return spatial ? "{n,h,w}" : "k"; }
    // x[k,j] or x[n,c,h,w] with the channel written out.
    std::string element(const std::string& name, std::size_t c) const {
        return spatial ? fmt::format("{}[n,{},h,w]", name, c) : fmt::format("{}[k,{}]", name, c);
    }
};

struct Stats {
    std::vector<double> mu, var, ivar;
    Tensor xhat;
};

// Per channel: mean, biased variance, 1/sqrt(var + eps), and xhat.
Stats stats_of(const Tensor& x, double eps);

// Per channel: sum of the upstream gradient, and of upstream * xhat.
std::pair<std::vector<double>, std::vector<double>> upstream_sums(const Layout& l, const Tensor& up,
                                                                  const Tensor& xhat);

// One value per channel as a (C,) tensor, for OpDef::intermediates.
inline Tensor per_channel(const std::vector<double>& v) {
    Tensor t(Shape{v.size()});
    for (std::size_t c = 0; c < v.size(); ++c) t[c] = v[c];
    return t;
}

// "over the batch, per column" or "over n, h and w, per channel".
inline std::string per_channel_words(const Layout& l) {
    return l.spatial ? "over n, h and w, per channel" : "over the batch, per column";
}

// The closed-form gradient of one element of x in training mode (docs/background.md#the-closed-form):
// (1/M) * gamma * ivar * (M * up - sum up - xhat * sum(up * xhat)), the sums over the element's channel.
inline double training_dx(std::size_t count, double gamma, double ivar, double up, double sum_up, double xhat,
                          double sum_up_xhat) {
    const double m = static_cast<double>(count);
    return (1.0 / m) * gamma * ivar * (m * up - sum_up - xhat * sum_up_xhat);
}

// What gamma or beta multiplies at each element of its channel: xhat for
// gamma, 1 for beta; `notes` say where the factor comes from.
struct ChannelFactor {
    std::function<Tensor(const OpCall& call)> local;  // in x's shape
    std::string name;                                 // "xhat", or "1"
    std::function<std::vector<std::string>(const OpCall& call, const Names& names, std::size_t c, const NumFmt& num)>
        notes;
};
ChannelFactor ones_factor();

// gamma or beta: one value per channel, used at every element of it, so its
// gradient is sum over the channel of upstream * factor.
InputRule channel_affine_rule(std::string name, std::string formula, bool spatial, ChannelFactor factor);

}  // namespace bnstep::ops
