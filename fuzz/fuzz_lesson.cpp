// libFuzzer target: any bytes as a lesson. A lesson, usage or numeric error
// is the expected answer to bad input; anything else escaping (an internal
// error, another exception) or any sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "bnstep/error.hpp"
#include "bnstep/gradcheck.hpp"
#include "bnstep/lesson.hpp"
#include "bnstep/print.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace bnstep;
    LessonOptions options;
    options.limits.file_bytes = 1 << 20;
    options.limits.nodes = 200;
    options.limits.elements = 4096;
    options.limits.memory_bytes = 64 << 20;
    try {
        const Graph g = parse_lesson(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json",
                                     builtin_ops(), options);
        const Trace t = run(g);
        std::ostringstream sink;
        print_run_text(sink, t, PrintOptions{});
        sink << run_json(t).dump();
        for (std::size_t i = 0; i < g.nodes.size(); ++i)
            print_trace_text(sink, t, i, default_index(g.nodes[i].shape), PrintOptions{});
        std::size_t elements = 0;
        for (const Node& n : g.nodes) elements += element_count(n.shape);
        if (elements <= 256) check_gradients(g, t, GradcheckOptions{});
    } catch (const LessonError&) {
    } catch (const UsageError&) {
    } catch (const NumericError&) {
    }
    return 0;
}
