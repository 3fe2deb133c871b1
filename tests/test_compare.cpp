// compare: a student's tensors against the lesson's, with the classic
// mistakes planted by hand and diagnosed as what they are.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "bnstep/compare.hpp"
#include "bnstep/lesson.hpp"

using namespace bnstep;

namespace {

struct Lesson {
    Graph graph;
    Trace trace;
    explicit Lesson(const std::string& name) : graph(load_lesson(name)), trace(run(graph)) {}
    Lesson(const Lesson&) = delete;

    const Tensor& ref(const std::string& name) const {
        for (const auto& r : references())
            if (r.name == name) return *r.tensor;
        FAIL("no reference tensor " << name);
        static Tensor none;
        return none;
    }
    std::vector<ReferenceTensor> references() const { return reference_tensors(trace, true); }
    // Every reference gradient the student would save, right.
    std::vector<NamedTensor> all_right(bool values = false) const {
        std::vector<NamedTensor> out;
        for (const auto& r : references())
            if (values || r.kind == ReferenceTensor::Kind::Gradient || r.kind == ReferenceTensor::Kind::Contribution)
                out.push_back({r.name, *r.tensor});
        return out;
    }
};

Tensor elementwise(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
    return zip(a, b, f);
}
Tensor times(const Tensor& a, double c) {
    return map(a, [c](double v) { return c * v; });
}

// Summed over every axis but 1: a convolution's bias gradient from its output's.
Tensor summed(const Tensor& t) { return sum_axis(sum_axis(sum_axis(t, 3, false), 2, false), 0, false); }

void replace(std::vector<NamedTensor>& given, const std::string& name, Tensor t) {
    auto it = std::find_if(given.begin(), given.end(), [&](const NamedTensor& n) { return n.name == name; });
    REQUIRE(it != given.end());
    it->tensor = std::move(t);
}

const TensorComparison& tensor_named(const CompareReport& r, const std::string& name) {
    auto it =
        std::find_if(r.tensors.begin(), r.tensors.end(), [&](const TensorComparison& c) { return c.name == name; });
    REQUIRE(it != r.tensors.end());
    return *it;
}

// The first wrong tensor's name, cause code and origin code.
struct FirstWrong {
    std::string name, cause, origin, message;
};
FirstWrong first_wrong(const CompareReport& r) {
    REQUIRE(r.first_wrong);
    const TensorComparison& c = r.tensors[*r.first_wrong];
    return {c.name, c.cause ? c.cause->code : "", c.origin ? c.origin->code : "", c.cause ? c.cause->message : ""};
}

}  // namespace

TEST_CASE("compare: the reference tensors are named as the docs name them, in the order they are computed") {
    const Lesson bn("batchnorm");
    std::vector<std::string> given;
    for (const auto& r : reference_tensors(bn.trace, false)) given.push_back(r.name);
    CHECK(given == std::vector<std::string>{"x", "gamma", "beta", "eps", "dout"});
    std::map<std::string, std::string> kinds;
    std::vector<std::string> backward;
    for (const auto& r : bn.references()) {
        kinds[r.name] = std::string(kind_name(r.kind));
        if (r.kind == ReferenceTensor::Kind::Gradient || r.kind == ReferenceTensor::Kind::Contribution)
            backward.push_back(r.name);
    }
    // docs/background.md's staged backward, steps 9 to 0.
    std::string listed;
    for (const auto& b : backward) listed += b + " ";
    CAPTURE(listed);
    CHECK(backward == std::vector<std::string>{"dgammax", "dbeta", "dgamma", "dxhat", "dxmu1", "divar", "dsqrtvar",
                                               "dvar", "dsq", "dxmu2", "dxmu", "dx1", "dmu", "dx2", "dx"});
    CHECK(kinds["xhat"] == "value");
    CHECK(kinds["dxmu"] == "gradient");
    CHECK(kinds["dxmu1"] == "contribution");
    CHECK(kinds["dx2"] == "contribution");
    CHECK(kinds["dout"] == "upstream");
    // dx2 = (1/N) * dmu on every row, N = 4 (the table of docs/background.md).
    const Tensor& dx2 = bn.ref("dx2");
    const Tensor& dmu = bn.ref("dmu");
    for (std::size_t n = 0; n < 4; ++n)
        for (std::size_t d = 0; d < 3; ++d) CHECK(dx2.at({n, d}) == doctest::Approx(dmu.at({d}) / 4).epsilon(1e-14));
}

TEST_CASE("compare: a right answer passes, round-off included, whatever order the file lists it in") {
    const Lesson bn("batchnorm");
    std::vector<NamedTensor> given = bn.all_right(true);
    std::reverse(given.begin(), given.end());
    for (auto& n : given)
        for (double& v : n.tensor.data()) v *= 1 + 3e-16;
    // Where the exact answer is 0 the run has round-off (dmu[1] near 1e-17): a pencil's 0 is right.
    Tensor dmu = bn.ref("dmu");
    std::size_t zeros = 0;
    for (double& v : dmu.data())
        if (std::fabs(v) < 1e-15) {
            v = 0;
            ++zeros;
        }
    CHECK(zeros >= 1);
    replace(given, "dmu", dmu);
    const CompareReport r = compare_tensors(bn.trace, given, "mine.npz");
    const std::string wrong = r.first_wrong ? r.tensors[*r.first_wrong].name : "";
    CAPTURE(wrong);
    CHECK(r.passed());
    CHECK_FALSE(r.first_wrong);
    CHECK(r.tensors.front().name == "x");  // forward values first, then backward in order
    CHECK(r.tensors.back().name == "dx");
}

TEST_CASE("compare: a wrong element is found, with the largest relative error and where") {
    const Lesson bn("batchnorm");
    std::vector<NamedTensor> given = bn.all_right();
    Tensor dgamma = bn.ref("dgamma");
    dgamma.at({2}) += 0.5;
    replace(given, "dgamma", dgamma);
    const CompareReport r = compare_tensors(bn.trace, given, "mine.npz");
    const TensorComparison& c = tensor_named(r, "dgamma");
    CHECK(c.verdict == Verdict::Wrong);
    CHECK(c.where == Index{2});
    CHECK(c.given == dgamma.at({2}));
    CHECK(c.expected == bn.ref("dgamma").at({2}));
    const double a = dgamma.at({2}), b = bn.ref("dgamma").at({2});
    CHECK(c.max_error == doctest::Approx(std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b))));
    CHECK(first_wrong(r).origin == "local");
}

TEST_CASE("compare: each classic batch-norm mistake is diagnosed as that mistake") {
    const Lesson bn("batchnorm");
    const Tensor& xmu = bn.ref("xmu");
    const Tensor& ivar = bn.ref("ivar");
    struct Planted {
        std::string tensor;
        std::function<Tensor()> make;
        std::string cause, words;
    };
    const std::vector<Planted> planted = {
        {"dvar",
         [&] {
             return Tensor(Shape{1, 3}, bn.ref("dvar").data());
         },
         "keepdims", "keepdims=True"},
        {"dbeta", [&] { return bn.ref("dout"); }, "not-summed", "along axis 0"},
        {"dsq", [&] { return times(bn.ref("dsq"), 4); }, "factor", "a 1/4 missing"},
        {"dvar", [&] { return times(bn.ref("dvar"), 2); }, "factor", "twice"},
        {"dxmu2", [&] { return times(bn.ref("dxmu2"), 0.5); }, "factor", "2v"},
        {"dx", [&] { return bn.ref("dx1"); }, "one-contribution", "dx2 (from step 1 (mu)) missing"},
        {"dxmu1", [&] { return elementwise(bn.ref("dxhat"), xmu, std::multiplies<>()); }, "wrong-local", "xmu"},
        {"dxmu1", [&] { return elementwise(bn.ref("dout"), ivar, std::multiplies<>()); }, "wrong-upstream",
         "times dout"},
        {"dsqrtvar", [&] { return times(bn.ref("dsqrtvar"), -1); }, "factor", "sign is flipped"},
        {"dxmu", [&] { return Tensor(bn.ref("dxmu").shape(), 0.0); }, "zero", "every element is 0"},
        {"dx",
         [&] {
             // dx1 right, dx2 = dmu without the 1/N of the mean.
             return elementwise(bn.ref("dx1"), broadcast_to(bn.ref("dmu"), Shape{4, 3}), std::plus<>());
         },
         "no-local", "in dx2"},
    };
    for (const Planted& p : planted) {
        CAPTURE(p.tensor);
        CAPTURE(p.cause);
        std::vector<NamedTensor> given = bn.all_right();
        replace(given, p.tensor, p.make());
        const CompareReport r = compare_tensors(bn.trace, given, "mine.npz");
        const FirstWrong w = first_wrong(r);
        CHECK(w.name == p.tensor);
        CHECK(w.cause == p.cause);
        CHECK(w.message.find(p.words) != std::string::npos);
        CHECK(w.origin == "local");
    }
}

TEST_CASE("compare: a mistake carried down the chain is inherited, its first tensor is where it starts") {
    const Lesson bn("batchnorm");
    std::vector<NamedTensor> given = bn.all_right();
    const Tensor wrong_dxhat = bn.ref("dout");  // gamma forgotten
    replace(given, "dxhat", wrong_dxhat);
    replace(given, "dxmu1", elementwise(wrong_dxhat, bn.ref("ivar"), std::multiplies<>()));
    const CompareReport r = compare_tensors(bn.trace, given, "mine.npz");
    const FirstWrong w = first_wrong(r);
    CHECK(w.name == "dxhat");
    CHECK(w.origin == "local");
    CHECK(w.cause == "no-local");  // dgammax passed on, without the local gradient gamma
    const TensorComparison& later = tensor_named(r, "dxmu1");
    CHECK(later.verdict == Verdict::Wrong);
    REQUIRE(later.origin);
    CHECK(later.origin->code == "inherited");
    CHECK(later.origin->message.find("dxhat") != std::string::npos);
    CHECK_FALSE(later.cause);
}

TEST_CASE("compare: a tensor given alone cannot be located, and says which to add") {
    const Lesson bn("batchnorm");
    const CompareReport r = compare_tensors(bn.trace, {{"dx", bn.ref("dx1")}}, "mine.npz");
    const FirstWrong w = first_wrong(r);
    CHECK(w.cause == "one-contribution");
    CHECK(w.origin == "unlocated");
    // The step next to the output reads only the lesson's dout: its mistakes are local.
    const CompareReport first = compare_tensors(bn.trace, {{"dbeta", times(bn.ref("dbeta"), 4)}}, "mine.npz");
    CHECK(first_wrong(first).origin == "local");
}

TEST_CASE("compare: unknown names get the nearest name, NaN is wrong, shapes that cannot be explained say so") {
    const Lesson bn("batchnorm");
    Tensor nan_dx = bn.ref("dx");
    nan_dx.at({1, 1}) = NAN;
    const CompareReport r =
        compare_tensors(bn.trace, {{"dxmu3", bn.ref("dxmu1")}, {"dx", nan_dx}, {"dgamma", Tensor(Shape{5})}}, "m.npz");
    CHECK_FALSE(r.passed());
    const TensorComparison& unknown = tensor_named(r, "dxmu3");
    CHECK(unknown.verdict == Verdict::Unknown);
    CHECK((unknown.hint == "dxmu1" || unknown.hint == "dxmu2" || unknown.hint == "dxmu"));
    CHECK(r.tensors.back().name == "dxmu3");
    const TensorComparison& dx = tensor_named(r, "dx");
    CHECK(dx.verdict == Verdict::Wrong);
    CHECK(dx.where == Index{1, 1});
    const TensorComparison& dgamma = tensor_named(r, "dgamma");
    CHECK(dgamma.verdict == Verdict::WrongShape);
    REQUIRE(dgamma.cause);
    CHECK(dgamma.cause->code == "shape");
}

TEST_CASE("compare: the pruned layer's transposed product and forgotten mask") {
    const Lesson p("magnitude-pruning");
    const Tensor& dWp = p.ref("dWp");
    Tensor transposed(Shape{dWp.shape()[1], dWp.shape()[0]});
    for (std::size_t i = 0; i < dWp.shape()[0]; ++i)
        for (std::size_t j = 0; j < dWp.shape()[1]; ++j) transposed.at({j, i}) = dWp.at({i, j});
    std::vector<NamedTensor> given = p.all_right();
    replace(given, "dWp", transposed);
    FirstWrong w = first_wrong(compare_tensors(p.trace, given, "mine.npz"));
    CHECK(w.name == "dWp");
    CHECK(w.cause == "transposed");
    CHECK(w.message.find("transpose of the right answer") != std::string::npos);

    given = p.all_right();
    replace(given, "dW", dWp);
    w = first_wrong(compare_tensors(p.trace, given, "mine.npz"));
    CHECK(w.name == "dW");
    CHECK(w.cause == "no-local");
}

TEST_CASE("compare: the worked element of a contribution is the op's own arithmetic") {
    const Lesson bn("batchnorm");
    const auto refs = bn.references();
    const auto dxmu1 =
        std::find_if(refs.begin(), refs.end(), [](const ReferenceTensor& r) { return r.name == "dxmu1"; });
    REQUIRE(dxmu1 != refs.end());
    const auto w = explain_element(bn.trace, *dxmu1, Index{0, 1}, NumFmt{4});
    REQUIRE(w);
    CHECK(w->lhs == "dxmu1[0,1]");
    CHECK(w->result == doctest::Approx(bn.ref("dxhat").at({0, 1}) * bn.ref("ivar").at({1})).epsilon(1e-14));
    const auto dx = std::find_if(refs.begin(), refs.end(), [](const ReferenceTensor& r) { return r.name == "dx"; });
    const auto sum = explain_element(bn.trace, *dx, Index{2, 0}, NumFmt{4});
    REQUIRE(sum);
    CHECK(sum->symbolic == "dx1[2,0] + dx2[2,0]");
    CHECK_FALSE(explain_element(bn.trace, refs.front(), Index{0, 0}, NumFmt{4}));
}

TEST_CASE("compare: on every built-in lesson the answer key passes, and any gradient doubled is found and named") {
    for (const auto& lesson : builtin_lessons()) {
        const Lesson l{std::string(lesson.name)};
        CAPTURE(lesson.name);
        const std::vector<NamedTensor> key = l.all_right(true);
        const std::vector<ReferenceTensor> refs = l.references();
        REQUIRE(compare_tensors(l.trace, key, "key.npz").passed());
        for (std::size_t k = 0; k < key.size(); ++k) {
            const ReferenceTensor& r = refs[k];
            if (r.kind != ReferenceTensor::Kind::Gradient && r.kind != ReferenceTensor::Kind::Contribution) continue;
            double largest = 0;
            for (double v : key[k].tensor.data()) largest = std::max(largest, std::fabs(v));
            if (largest < 1e-6) continue;  // zero, or round-off: doubling it is still right
            CAPTURE(key[k].name);
            std::vector<NamedTensor> given = key;
            given[k].tensor = times(given[k].tensor, 2);
            const FirstWrong w = first_wrong(compare_tensors(l.trace, given, "mine.npz"));
            CHECK(w.name == key[k].name);
            CHECK(w.cause == "factor");
            CHECK(w.origin == "local");
        }
    }
}

TEST_CASE("compare: the convolution's bias not summed, its filters' axes swapped, its ReLU forgotten") {
    const Lesson c("conv2d");
    const Tensor& dconv = c.ref("dconv");  // (N, K, H, W) = (2, 2, 5, 5)
    REQUIRE(dconv.shape() == Shape{2, 2, 5, 5});
    // db summed over the batch only: (K, H, W).
    std::vector<NamedTensor> given = c.all_right();
    replace(given, "db", sum_axis(dconv, 0, false));
    FirstWrong w = first_wrong(compare_tensors(c.trace, given, "mine.npz"));
    CHECK(w.name == "db");
    CHECK(w.cause == "not-summed");
    CHECK(w.message.find("axes 1 and 2") != std::string::npos);
    // db as the upstream itself, summed over nothing.
    given = c.all_right();
    replace(given, "db", dconv);
    w = first_wrong(compare_tensors(c.trace, given, "mine.npz"));
    CHECK(w.cause == "not-summed");
    CHECK(w.message.find("axes 0, 2 and 3") != std::string::npos);
    // dw with its first two axes swapped: (C, K, R, S).
    const Tensor& dw = c.ref("dw");
    Tensor swapped(Shape{dw.shape()[1], dw.shape()[0], dw.shape()[2], dw.shape()[3]});
    for (std::size_t flat = 0; flat < dw.size(); ++flat) {
        const Index at = dw.unravel(flat);
        swapped.at({at[1], at[0], at[2], at[3]}) = dw[flat];
    }
    given = c.all_right();
    replace(given, "dw", swapped);
    w = first_wrong(compare_tensors(c.trace, given, "mine.npz"));
    CHECK(w.name == "dw");
    CHECK(w.cause == "transposed");
    // db from dout: the ReLU's mask forgotten.
    given = c.all_right();
    replace(given, "db", summed(c.ref("dout")));
    w = first_wrong(compare_tensors(c.trace, given, "mine.npz"));
    CHECK(w.name == "db");
    CHECK(w.cause == "wrong-upstream");
    CHECK(w.message.find("times dout, where the upstream gradient is dconv") != std::string::npos);
}
