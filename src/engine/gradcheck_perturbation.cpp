#include "gradcheck_perturbation.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

#include "bnstep/error.hpp"

namespace bnstep::gradcheck_detail {

Perturbation::Perturbation(const Graph& g, const Trace& t, std::size_t node, const std::vector<std::size_t>* consumers)
    : g_(g), t_(t), node_(node), local_(consumers != nullptr) {
    if (consumers) {
        for (std::size_t j : *consumers)
            if (t.nodes[j].grad) order_.push_back(j);
        std::sort(order_.begin(), order_.end());
        order_.erase(std::unique(order_.begin(), order_.end()), order_.end());
    } else {
        const std::vector<bool> downstream = g.downstream_of(node);
        for (std::size_t j = node + 1; j < g.nodes.size(); ++j)
            if (downstream[j] && !g.nodes[j].is_leaf()) order_.push_back(j);
    }
    changed_.resize(order_.size() + 1);
    for (std::size_t j : order_) {
        in_shapes_.emplace_back();
        for (std::size_t m : g.nodes[j].inputs) in_shapes_.back().push_back(base(m).shape());
        if (g.nodes[j].op->surrogate) surrogates_.push_back(j);
    }
}

std::optional<std::size_t> Perturbation::slot(std::size_t m) const {
    if (m == node_) return 0;
    const auto it = std::lower_bound(order_.begin(), order_.end(), m);
    if (it == order_.end() || *it != m) return std::nullopt;
    return static_cast<std::size_t>(it - order_.begin()) + 1;
}

const Perturbation::Changed* Perturbation::moved(std::size_t m) const {
    if (local_ && m != node_) return nullptr;
    const auto at = slot(m);
    return at && changed_[*at].active ? &changed_[*at] : nullptr;
}

std::size_t Perturbation::element_of(std::size_t k, std::size_t k_in_box) const {
    return offset_of(changed_[k + 1].box, k_in_box, base(order_[k]).shape());
}

double Perturbation::work() const {
    double w = 0.0;
    for (std::size_t j : order_) w += kFlopsPerElement * double(base(j).size());
    return w;
}

double Perturbation::loss_magnitude() const {
    const auto magnitude = [](const Tensor& value, const Tensor& weight) {
        double l = 0.0;
        for (std::size_t k = 0; k < value.size(); ++k) l += std::fabs(value[k] * weight[k]);
        return l;
    };
    double l = !local_ || node_ == g_.output ? magnitude(base(g_.output), g_.seed) : 0.0;
    if (local_)
        for (std::size_t j : order_) l += magnitude(base(j), *t_.nodes[j].grad);
    return l;
}

double Perturbation::loss_at(std::size_t e, double value, Mode mode, Pieces* pieces) {
    const Shape& shape = base(node_).shape();
    changed_[0] = {true, Box::element(shape, e), Tensor(Shape(shape.size(), 1), std::vector<double>{value})};
    return evaluate(mode, pieces);
}

double Perturbation::loss_along(const Tensor& direction, double t, Mode mode, Pieces* pieces) {
    Tensor moved = base(node_);
    for (std::size_t e = 0; e < moved.size(); ++e) moved[e] += t * direction[e];
    changed_[0] = {true, Box::whole(moved.shape()), std::move(moved)};
    return evaluate(mode, pieces);
}

double Perturbation::change_of(std::size_t at, std::size_t j, const Tensor& weight) const {
    const Changed& c = changed_[at];
    if (!c.active) return 0.0;
    double d = 0.0;
    const Tensor& old = base(j);
    for_each_in(c.box, old.shape(),
                [&](std::size_t offset, std::size_t k) { d += (c.value[k] - old[offset]) * weight[offset]; });
    return d;
}

double Perturbation::evaluate(Mode mode, Pieces* pieces) {
    if (pieces) pieces->assign(order_.size(), {});
    for (std::size_t k = 1; k < changed_.size(); ++k) changed_[k].active = false;
    for (std::size_t k = 0; k < order_.size(); ++k) evaluate_node(k, mode, pieces);
    if (!local_) {
        const auto at = slot(g_.output);
        return at ? change_of(*at, g_.output, g_.seed) : 0.0;
    }
    double l = node_ == g_.output ? change_of(0, node_, g_.seed) : 0.0;
    for (std::size_t k = 0; k < order_.size(); ++k) l += change_of(k + 1, order_[k], *t_.nodes[order_[k]].grad);
    return l;
}

// Node j's changed box: what its moved inputs reach; then its op on the
// slices of its inputs that box reads, each slice the trace's values with
// the moved elements written over them.
void Perturbation::evaluate_node(std::size_t k, Mode mode, Pieces* pieces) {
    const std::size_t j = order_[k];
    const Node& node = g_.nodes[j];
    const OpDef& op = *node.op;
    const Shape& out_shape = base(j).shape();
    const std::vector<Shape>& in_shapes = in_shapes_[k];
    std::optional<Box> out;
    for (std::size_t s = 0; s < node.inputs.size(); ++s) {
        const Changed* m = moved(node.inputs[s]);
        if (!m) continue;
        const Box reach =
            op.reach ? op.reach->affects(in_shapes, out_shape, node.attrs, s, m->box) : Box::whole(out_shape);
        if (reach.empty()) continue;
        out = out ? hull(*out, reach) : reach;
    }
    if (!out) return;
    // A box that is the whole output is evaluated as the forward pass does, on whole inputs.
    const bool sliced = op.reach && !out->is_whole(out_shape);
    const std::vector<Box> reads =
        sliced ? op.reach->reads(in_shapes, out_shape, node.attrs, *out) : std::vector<Box>{};
    std::vector<Tensor> slices;
    slices.reserve(node.inputs.size());
    OpCall call;
    for (std::size_t s = 0; s < node.inputs.size(); ++s) {
        const std::size_t m = node.inputs[s];
        const Changed* moved_m = moved(m);
        const Box read = sliced ? reads[s] : Box::whole(in_shapes[s]);
        const bool whole = read.is_whole(in_shapes[s]);
        if (!moved_m && whole) {
            call.in.push_back(&base(m));
            continue;
        }
        if (moved_m && moved_m->box == read) {
            call.in.push_back(&moved_m->value);
            continue;
        }
        slices.push_back(whole ? base(m) : slice(base(m), read, op.reach->pad));
        if (moved_m) {
            const Box part = intersect(moved_m->box, read);
            if (!part.empty()) copy_part(moved_m->value, moved_m->box, slices.back(), read, part);
        }
        call.in.push_back(&slices.back());
    }
    const bool own_attrs = sliced && op.reach->sliced_attrs;
    const Attrs attrs = own_attrs ? op.reach->sliced_attrs(node.attrs, in_shapes, *out) : Attrs{};
    call.attrs = own_attrs ? &attrs : &node.attrs;
    const bool surrogate = mode == Mode::Surrogate && op.surrogate;
    Tensor value = surrogate ? op.surrogate->forward(call, t_.call(j)) : op.forward(call);
    if (value.shape() != out->shape())
        throw InternalError(fmt::format("the reach of op '{}' at {}: its box {} evaluated to shape {}", op.name,
                                        node.label(), shape_str(out->shape()), shape_str(value.shape())));
    call.out = &value;
    if (pieces) {
        const PiecesFn& fn = surrogate ? op.surrogate->pieces : op.pieces;
        if (fn) (*pieces)[k] = fn(call);
    }
    changed_[k + 1] = {true, *out, std::move(value)};
}

std::optional<Box> Perturbation::reaching(std::size_t k, std::size_t e) const {
    std::vector<std::optional<Box>> need(changed_.size());  // per slot
    need[k + 1] = Box::element(base(order_[k]).shape(), e);
    const auto widen = [&](std::size_t m, const Box& b) {
        const auto at = slot(m);
        if (!at) return;
        const Box inside = clip(b, base(m).shape());
        if (!inside.empty()) need[*at] = need[*at] ? hull(*need[*at], inside) : inside;
    };
    for (std::size_t kk = k + 1; kk-- > 0;) {
        if (!need[kk + 1]) continue;
        const std::size_t j = order_[kk];
        const Node& node = g_.nodes[j];
        const std::vector<Shape>& in_shapes = in_shapes_[kk];
        const std::vector<Box> reads =
            node.op->reach ? node.op->reach->reads(in_shapes, base(j).shape(), node.attrs, *need[kk + 1])
                           : std::vector<Box>{};
        for (std::size_t s = 0; s < node.inputs.size(); ++s)
            widen(node.inputs[s], node.op->reach ? reads[s] : Box::whole(in_shapes[s]));
    }
    return need[0];
}

}  // namespace bnstep::gradcheck_detail
