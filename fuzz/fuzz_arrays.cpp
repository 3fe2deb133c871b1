// libFuzzer target: any bytes as a student's file of arrays, through what
// `compare` does with it: read as .npz, .npy and JSON, then compared with the
// batch-norm and pruning lessons and diagnosed, and printed as text, JSON and
// CSV. A data error is the expected answer to a bad file; anything else
// escaping, or any sanitizer report, is a bug.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "array_io.hpp"
#include "bnstep/compare.hpp"
#include "bnstep/error.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/print.hpp"

namespace {

using namespace bnstep;

struct Run {
    Graph graph;
    Trace trace;
    explicit Run(const char* name) : graph(load_lesson(name)), trace(run(graph)) {}
};

void compare_with_lessons(const std::vector<NamedTensor>& arrays) {
    static const Run batchnorm("batchnorm");
    static const Run pruning("magnitude-pruning");
    for (const Run* lesson : {&batchnorm, &pruning}) {
        std::vector<CompareOutcome> outcomes(1);
        outcomes[0].file = "fuzz.npz";
        outcomes[0].report = compare_tensors(lesson->trace, arrays, "fuzz.npz");
        std::ostringstream sink;
        print_compare_text(sink, outcomes, PrintOptions{});
        sink << compare_json(outcomes).dump() << compare_csv(outcomes);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    ArrayLimits limits;
    limits.file_bytes = 1 << 20;
    limits.total_bytes = 4 << 20;
    limits.elements = 4096;
    limits.members = 64;
    std::vector<std::vector<NamedTensor>> read;
    try {
        read.push_back(read_npz_arrays(bytes, "fuzz.npz", limits));
    } catch (const DataError&) {
    }
    try {
        read.push_back({{"dx", parse_npy(bytes, "dx.npy", limits)}});
    } catch (const DataError&) {
    }
    try {
        read.push_back(read_json_arrays(bytes, "fuzz.json", limits));
    } catch (const DataError&) {
    }
    for (const auto& arrays : read) compare_with_lessons(arrays);
    return 0;
}
