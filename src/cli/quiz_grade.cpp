#include "quiz_grade.hpp"

#include <charconv>
#include <fmt/format.h>
#include <iostream>
#include <map>
#include <optional>

#include "bnstep/error.hpp"
#include "bnstep/output_file.hpp"
#include "bnstep/variant.hpp"
#include "bnstep/visible.hpp"
#include "csv_file.hpp"
#include "guard.hpp"
#include "variant_options.hpp"

namespace bnstep::cli {
namespace {

// One student's row: who, and the questions of their variant.
struct GradedRow {
    std::string student;
    std::uint64_t variant = 0;
    std::vector<int> scores;
};

std::uint64_t variant_number(const std::string& text, const std::string& where) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
        throw UsageError(
            fmt::format("{}: variant '{}': expected a whole number from 0 to {}", where, visible(text), UINT64_MAX));
    return v;
}

// The roster's variants by the key a class row names a student with: the id
// when the roster has that column, else the name.
struct RosterIndex {
    std::map<std::string, VariantPick> by_key;
    std::string column = "name";
};

RosterIndex roster_index(const std::string& path) {
    RosterIndex index;
    for (VariantPick& p : read_roster(path)) {
        if (!p.id.empty()) index.column = "id";
        std::string key = p.id.empty() ? p.student : p.id;
        index.by_key.emplace(std::move(key), std::move(p));
    }
    return index;
}

}  // namespace

int grade_class(const GradeRequest& request, const QuizOptions& options, const Common& common) {
    const std::string& answers = request.answers;
    const std::optional<RosterIndex> roster =
        request.students.empty() ? std::nullopt : std::optional(roster_index(request.students));
    const auto rows = read_csv(answers, "a class's answers (--grade)");
    const std::string file = visible(answers);
    if (rows.empty() || rows.front().empty())
        throw UsageError(fmt::format("{}: empty; expected a header row like name,q1,q2 then a row per student", file));
    const std::string first = rows.front().front();
    const bool by_number = first == "variant";
    if (!by_number && first != "name" && first != "student" && first != "id")
        throw UsageError(
            fmt::format("{}: the first column is '{}'; name it 'name' (a student's name or ID, as "
                        "--student takes it) or 'variant' (a variant number)",
                        file, visible(first)));
    if (rows.size() == 1) throw UsageError(fmt::format("{}: a header row and no student", file));
    const PrintOptions opt = common.print();
    std::vector<GradedRow> graded;
    std::size_t most = 0;
    std::map<std::string, std::size_t> seen_students;
    std::map<std::uint64_t, std::size_t> seen_variants;
    for (std::size_t r = 1; r < rows.size(); ++r) {
        const auto& row = rows[r];
        const std::string where = fmt::format("{}: row {}", file, r + 1);
        GradedRow g;
        if (row.size() > rows.front().size())
            throw UsageError(fmt::format("{}: {} fields, the header has {}; name every column in the header row", where,
                                         row.size(), rows.front().size()));
        if (by_number) {
            if (row.front().empty()) throw UsageError(where + ": the variant is empty");
            g.variant = variant_number(row.front(), where);
        } else {
            const std::string name = student_name(row.front(), where + ", " + first);
            if (roster) {
                const auto found = roster->by_key.find(name);
                if (found == roster->by_key.end())
                    throw UsageError(fmt::format("{}: '{}' is not in the roster {} (its {} column)", where,
                                                 visible(name), visible(request.students), roster->column));
                g.student = found->second.student;
                g.variant = found->second.variant;
            } else {
                g.student = name;
                g.variant = student_variant(name);
            }
            if (const auto [at, fresh] = seen_students.emplace(g.student, r + 1); !fresh)
                throw UsageError(
                    fmt::format("{}: the student '{}' is already on row {}", where, visible(g.student), at->second));
        }
        if (const auto [at, fresh] = seen_variants.emplace(g.variant, r + 1); by_number && !fresh)
            throw UsageError(fmt::format("{}: variant {} is already on row {}", where, g.variant, at->second));
        const Graph graph = common.load(request.lesson, g.variant, g.student);
        const Trace t = run_for_display(graph);
        QuizOptions q = options;
        if (!request.node.empty()) q.node = find_node(graph, request.node);
        const std::vector<Question> questions = make_quiz(t, q, opt.num);
        for (std::size_t c = 1; c < row.size(); ++c) {
            const std::string& text = row[c];
            if (c > questions.size()) {
                if (text.empty()) continue;
                throw UsageError(fmt::format("{}, column {}: too many answers: the quiz asks {} {} question{}", where,
                                             c + 1, variant_label(g.variant, g.student), questions.size(),
                                             questions.size() == 1 ? "" : "s"));
            }
        }
        for (std::size_t k = 0; k < questions.size(); ++k) {
            const std::string text = k + 1 < row.size() ? row[k + 1] : "";
            if (text.empty()) {
                g.scores.push_back(0);
                continue;
            }
            const auto given = parse_answer(text);
            if (!given)
                throw UsageError(
                    fmt::format("{}, column {}: '{}' is not a number; write one like -0.25 or 1/4, or "
                                "leave the field empty",
                                where, k + 2, visible(text)));
            g.scores.push_back(answer_matches(*given, questions[k].answer, q.tolerance, questions[k].scale) ? 1 : 0);
        }
        most = std::max(most, questions.size());
        graded.push_back(std::move(g));
    }
    std::vector<std::string> header{"student", "variant"};
    for (std::size_t k = 0; k < most; ++k) header.push_back(fmt::format("q{}", k + 1));
    header.emplace_back("total");
    std::string csv = csv_line(header);
    for (const GradedRow& g : graded) {
        std::vector<std::string> fields{g.student, std::to_string(g.variant)};
        int total = 0;
        for (std::size_t k = 0; k < most; ++k) {
            fields.push_back(k < g.scores.size() ? std::to_string(g.scores[k]) : "");
            total += k < g.scores.size() ? g.scores[k] : 0;
        }
        fields.push_back(std::to_string(total));
        csv += csv_line(fields);
    }
    if (request.out.empty() || request.out == "-")
        std::cout << csv;
    else
        write_file_atomically(request.out, csv);
    return kOk;
}

}  // namespace bnstep::cli
