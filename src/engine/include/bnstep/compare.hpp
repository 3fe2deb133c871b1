#pragma once
// A student's own backward pass against the lesson's: every tensor of a run
// under the name the lesson and the docs give it (x, dout, xhat, dxhat,
// dxmu1, dx ...), and the comparison of a student's tensors with those,
// saying which is wrong, why, and where the error starts.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "bnstep/array_file.hpp"
#include "bnstep/executor.hpp"

namespace bnstep {

struct ReferenceTensor {
    enum class Kind {
        Leaf,          // a leaf's value, given by the lesson
        Upstream,      // the upstream gradient of the output (dout), given by the lesson
        Value,         // an op node's forward value
        Gradient,      // a node's whole gradient (dxmu = dxmu1 + dxmu2)
        Contribution,  // one consumer's part of it (dxmu1), when there are several
    };
    std::string name;
    Kind kind = Kind::Leaf;
    std::size_t node = 0;      // the node it belongs to (a contribution: the node receiving it)
    std::size_t consumer = 0;  // a contribution: the node sending it
    std::size_t slot = 0;      // ... through this input of the consumer
    const Tensor* tensor = nullptr;
};

// The leaves and the upstream gradient in the order of the lesson; with
// `answers`, every op node's value, then every gradient and contribution in
// the order the backward pass computes them. Points into `t`.
std::vector<ReferenceTensor> reference_tensors(const Trace& t, bool answers);
std::string_view kind_name(ReferenceTensor::Kind kind);  // "leaf", "upstream", "value", "gradient", "contribution"

// One element of a reference tensor worked by hand, as `trace` works it:
// none for what the lesson gives (a leaf, the upstream gradient).
std::optional<Worked> explain_element(const Trace& t, const ReferenceTensor& r, const Index& at, const NumFmt& num);

struct CompareOptions {
    double tolerance = 1e-6;  // the largest relative error that passes
    // The smallest denominator of the relative error, times the tensor's
    // largest reference magnitude when that is over 1: round-off (1e-17 where
    // the answer is 0) compares as 0.
    double floor = 1e-8;
};

enum class Verdict { Ok, Wrong, WrongShape, Unknown };
std::string_view verdict_name(Verdict v);  // "ok", "wrong", "wrong-shape", "unknown"

// What a wrong tensor's numbers say about the mistake. Codes are stable (CSV and JSON).
struct Diagnosis {
    std::string code;     // see docs/check-your-backward.md: "keepdims", "factor", "one-contribution" ...
    std::string message;  // one or two sentences, in the lesson's names
};

struct TensorComparison {
    std::string name;
    Verdict verdict = Verdict::Ok;
    std::optional<std::size_t> reference;  // index into CompareReport::references
    Shape given_shape;
    // The element with the largest relative error (same shape only).
    double max_error = 0.0;
    Index where;
    double given = 0.0, expected = 0.0;
    std::optional<Diagnosis> cause;   // what the numbers show (wrong tensors whose error starts here)
    std::optional<Diagnosis> origin;  // "local", "inherited" or "unlocated"
    std::string hint;                 // an unknown name: the nearest name of the lesson
};

struct CompareReport {
    const Trace* trace = nullptr;
    std::string file;
    std::vector<ReferenceTensor> references;  // every tensor of the run, answers included
    std::vector<TensorComparison> tensors;    // the given ones, in the order they are computed; unknown names last
    std::optional<std::size_t> first_wrong;   // index into tensors
    bool passed() const;
};

// One file of a comparison: its report, or why it could not be read.
struct CompareOutcome {
    std::string file;
    std::optional<CompareReport> report;
    std::string error;
    std::string note;  // "the file was exported for variant 5: run compare with --variant 5", or ""
};

CompareReport compare_tensors(const Trace& t, const std::vector<NamedTensor>& given, const std::string& file,
                              const CompareOptions& options = {});

}  // namespace bnstep
