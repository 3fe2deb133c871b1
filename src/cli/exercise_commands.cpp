// The commands for checking a backward pass written by hand: export (the
// lesson's data for NumPy) and compare (the student's gradients against it).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <iostream>

#include "bnstep/array_file.hpp"
#include "bnstep/compare.hpp"
#include "bnstep/error.hpp"
#include "bnstep/print.hpp"
#include "bnstep/variant.hpp"
#include "common.hpp"
#include "guard.hpp"

namespace bnstep::cli {
namespace {

std::string format_name(ArrayFormat f) {
    return f == ArrayFormat::Npz ? "npz" : f == ArrayFormat::Npy ? "npy" : "json";
}

struct ExportArgs {
    std::string lesson = "batchnorm";
    std::string output, format;
    bool answers = false;
    Common common;
};

// The format asked for: --format, or the output file's extension; JSON on standard output.
ArrayFormat export_format(const ExportArgs& a) {
    const ArrayFormat asked = a.format == "npz" ? ArrayFormat::Npz : ArrayFormat::Json;
    if (a.output.empty() || a.output == "-") {
        if (a.format == "npz")
            throw UsageError("an .npz file is binary: name it with -o FILE.npz (standard output takes --format json)");
        return ArrayFormat::Json;
    }
    ArrayFormat by_name = asked;
    try {
        by_name = array_format_of(a.output);
    } catch (const DataError&) {
        if (!a.format.empty()) return asked;
        throw UsageError(fmt::format("-o {}: name a .npz or .json file, or give --format npz|json", a.output));
    }
    if (by_name == ArrayFormat::Npy)
        throw UsageError(
            fmt::format("-o {}: a .npy file holds one array; export writes several: name a .npz file", a.output));
    if (!a.format.empty() && asked != by_name)
        throw UsageError(
            fmt::format("-o {} names a .{} file, but --format asks for {}", a.output, format_name(by_name), a.format));
    return by_name;
}

int export_lesson(ExportArgs& a) {
    const ArrayFormat format = export_format(a);
    a.common.memory_per_element(a.answers ? 224 : 96, "the run and the arrays written");
    const Graph g = a.common.load(a.lesson);
    const Trace t = run(g);
    std::vector<NamedTensor> arrays;
    std::vector<std::string> listed;
    for (const ReferenceTensor& r : reference_tensors(t, a.answers)) {
        arrays.push_back({r.name, *r.tensor});
        listed.push_back(fmt::format("{} {}", r.name, shape_str(r.tensor->shape())));
    }
    ArrayFileVariant label;
    if (g.variant != 0 || !g.student.empty()) label = {g.variant, g.student};
    if (a.output.empty() || a.output == "-") {
        std::cout << arrays_json(arrays, label);
        return kOk;
    }
    write_arrays(a.output, format, arrays, label);
    std::cout << wrap(fmt::format("wrote {} arrays of lesson {}{} to {}: {}", arrays.size(), g.name, variant_suffix(g),
                                  a.output, fmt::join(listed, ", ")),
                      80, "", "    ");
    return kOk;
}

std::function<int()> export_command(CLI::App& cmd) {
    auto a = std::make_shared<ExportArgs>();
    add_lesson_argument(cmd, a->lesson);
    cmd.add_option("--output,-o", a->output,
                   "the file to write: NAME.npz (for numpy.load) or NAME.json (default: JSON on standard output)")
        ->type_name(kFileType);
    cmd.add_option("--format", a->format, "npz or json (default: from the -o file's extension)")
        ->check(CLI::IsMember({"npz", "json"}));
    cmd.add_flag("--with-answers", a->answers,
                 "add every node's value and every gradient, under the names run and trace print (dxhat, dxmu1, "
                 "dx ...): the answer key");
    add_lesson_options(cmd, a->common, false);
    return [a] { return export_lesson(*a); };
}

// When most compared tensors are wrong and the file was exported for another variant: the one line that says so.
std::string variant_mismatch(const Graph& g, const CompareReport& r, const ArrayFileVariant& recorded) {
    const std::uint64_t file_variant = recorded.variant.value_or(0);
    if (!recorded.variant || (file_variant == g.variant && recorded.student == g.student)) return "";
    std::size_t wrong = 0, compared = 0;
    for (const TensorComparison& c : r.tensors) {
        if (c.verdict == Verdict::Unknown) continue;
        ++compared;
        wrong += c.verdict != Verdict::Ok;
    }
    if (file_variant == g.variant || 2 * wrong <= compared) return "";
    const std::string label = variant_label(file_variant, recorded.student);
    const std::string args = variant_arguments(file_variant, recorded.student);
    return fmt::format("the file was exported for {}: run compare with {}",
                       label.empty() ? "the lesson as written" : label,
                       args.empty() ? "no --variant or --student" : args.substr(1));
}

struct CompareArgs {
    std::string lesson;
    std::vector<std::string> files;
    CompareOptions options;
    Common common;
};

int compare_files(CompareArgs& a) {
    a.common.memory_per_element(kBytesPerElement + 64, "the run, the file's arrays and the comparison");
    const Graph g = a.common.load(a.lesson);
    const Trace t = run(g);
    ArrayLimits limits;
    limits.elements = a.common.limits.elements;
    std::vector<CompareOutcome> outcomes;
    bool unreadable = false;
    for (const std::string& file : a.files) {
        CompareOutcome o;
        o.file = file;
        try {
            ArrayFileVariant recorded;
            const std::vector<NamedTensor> arrays = read_arrays(file, limits, &recorded);
            if (arrays.empty())
                throw DataError(
                    fmt::format("{}: the file holds no arrays: save your gradients in it under the "
                                "lesson's names (see bnstep export --with-answers)",
                                file));
            o.report = compare_tensors(t, arrays, file, a.options);
            o.note = variant_mismatch(g, *o.report, recorded);
        } catch (const DataError& e) {
            if (a.files.size() == 1) throw;
            report_error("error", e.what());
            o.error = e.what();
            unreadable = true;
        }
        outcomes.push_back(std::move(o));
    }
    if (a.common.format == "json")
        print_json(compare_json(outcomes));
    else if (a.common.format == "csv")
        std::cout << compare_csv(outcomes);
    else
        print_compare_text(std::cout, outcomes, a.common.print());
    if (unreadable) return kUsage;
    for (const auto& o : outcomes)
        if (!o.report->passed()) return kCheckFailed;
    return kOk;
}

std::function<int()> compare_command(CLI::App& cmd) {
    auto a = std::make_shared<CompareArgs>();
    cmd.add_option("lesson", a->lesson, kLessonHelp)->type_name(kLessonType)->required();
    cmd.add_option("files", a->files,
                   "your gradients: an .npz (np.savez), an .npy (one array, named by the file) or a .json file, "
                   "under the names export uses (dx, dgamma, dxhat, dxmu1 ...); several files: one line each")
        ->type_name(kFileType)
        ->required();
    cmd.add_option("--tolerance", a->options.tolerance, "the largest relative error that passes")
        ->check(positive)
        ->capture_default_str();
    cmd.add_option("--floor", a->options.floor,
                   "the smallest denominator of the relative error (times the tensor's largest magnitude when over "
                   "1), so round-off near 0 compares as 0")
        ->check(positive)
        ->capture_default_str();
    add_common(cmd, a->common, {"text", "json", "csv"});
    add_lesson_options(cmd, a->common, false);
    return [a] { return compare_files(*a); };
}

}  // namespace

std::vector<Command> exercise_commands() {
    return {
        {"export", "the lesson's data (and with --with-answers every value and gradient) for NumPy: .npz or JSON",
         export_command},
        {"compare",
         "your own gradients (.npz, .npy, JSON) against the lesson's: which is wrong, why, and where it "
         "starts",
         compare_command},
    };
}

}  // namespace bnstep::cli
