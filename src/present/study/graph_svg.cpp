// `bnstep graph --format svg` and the picture of `bnstep html`: the DOT of
// graph_dot laid out and drawn by Graphviz's library (cgraph and gvc), so that
// the SVG is what `bnstep graph | dot -Tsvg` gives. The library is loaded on
// first use (bnstep/shared_library.hpp); a bnstep built without its headers
// says what to install.
#include <fmt/format.h>

#include "bnstep/error.hpp"
#include "bnstep/study.hpp"

#ifdef BNSTEP_LIBGVC_SONAME
#include <graphviz/gvc.h>

#include <memory>

#include "bnstep/shared_library.hpp"
#include "bnstep/visible.hpp"
#endif

namespace bnstep {

#ifdef BNSTEP_LIBGVC_SONAME
namespace {

struct GraphvizLibrary {
    decltype(&gvContextPlugins) context;
    decltype(&agmemread) memread;
    decltype(&agseterr) seterr;
    decltype(&gvLayout) layout;
    decltype(&gvRenderData) render_data;
    decltype(&gvFreeRenderData) free_render_data;
    decltype(&gvFreeLayout) free_layout;
    decltype(&agclose) close;
    GVC_t* gvc = nullptr;  // one context for the process: it reads the plugin configuration once
};

// The two plugins the picture needs, given to Graphviz directly: the dot layout and the SVG
// renderer. Not the plugins of its configuration file: its text layout plugin (pango) starts
// threads, which a library loaded into the static bnstep cannot. Text widths are then
// Graphviz's own estimates, as `dot -Tsvg` gives them with those two plugins alone.
lt_symlist_t builtin_plugins[3] = {};

void load_plugins() {
    void* core = open_shared_library(BNSTEP_GRAPHVIZ_PLUGIN_DIR "/libgvplugin_core.so." BNSTEP_GRAPHVIZ_PLUGIN_VERSION);
    void* dot =
        open_shared_library(BNSTEP_GRAPHVIZ_PLUGIN_DIR "/libgvplugin_dot_layout.so." BNSTEP_GRAPHVIZ_PLUGIN_VERSION);
    resolve_symbol(core, builtin_plugins[0].address, "gvplugin_core_LTX_library");
    resolve_symbol(dot, builtin_plugins[1].address, "gvplugin_dot_layout_LTX_library");
    builtin_plugins[0].name = "gvplugin_core_LTX_library";
    builtin_plugins[1].name = "gvplugin_dot_layout_LTX_library";
}

GraphvizLibrary load_graphviz() {
    void* handle = open_shared_library(BNSTEP_LIBGVC_SONAME);
    GraphvizLibrary gv{};
    resolve_symbol(handle, gv.context, "gvContextPlugins");
    resolve_symbol(handle, gv.memread, "agmemread");  // cgraph's, found through libgvc's dependencies
    resolve_symbol(handle, gv.seterr, "agseterr");
    resolve_symbol(handle, gv.layout, "gvLayout");
    resolve_symbol(handle, gv.render_data, "gvRenderData");
    resolve_symbol(handle, gv.free_render_data, "gvFreeRenderData");
    resolve_symbol(handle, gv.free_layout, "gvFreeLayout");
    resolve_symbol(handle, gv.close, "agclose");
    gv.seterr(AGMAX);  // no warnings on standard error: every failure is checked below
    load_plugins();
    gv.gvc = gv.context(builtin_plugins, 0);
    if (gv.gvc == nullptr) throw SharedLibraryMissing("gvContext() failed");
    return gv;
}

const GraphvizLibrary& graphviz() {
    try {
        static const GraphvizLibrary library = load_graphviz();
        return library;
    } catch (const SharedLibraryMissing& e) {
        throw DataError(
            fmt::format("an SVG picture needs Graphviz's library (Debian package libgvc6): {}", visible(e.what())));
    }
}

}  // namespace

std::string layout_svg(const std::string& dot) {
    const GraphvizLibrary& gv = graphviz();
    std::unique_ptr<Agraph_t, decltype(gv.close)> graph(gv.memread(dot.c_str()), gv.close);
    if (!graph) throw InternalError("Graphviz could not read the graph's DOT");
    if (gv.layout(gv.gvc, graph.get(), "dot") != 0) throw DataError("Graphviz's dot layout failed on the graph");
    char* data = nullptr;
    unsigned int length = 0;
    const int rendered = gv.render_data(gv.gvc, graph.get(), "svg", &data, &length);
    std::string svg = rendered == 0 && data != nullptr ? std::string(data, length) : std::string();
    if (data != nullptr) gv.free_render_data(data);
    gv.free_layout(gv.gvc, graph.get());
    if (svg.empty()) throw DataError("Graphviz's library drew no SVG (Debian package libgvc6)");
    return svg;
}

bool graphviz_built_in() { return true; }

#else

std::string layout_svg(const std::string&) {
    throw UsageError(
        "this bnstep was built without Graphviz's library, which lays out SVG pictures: install "
        "libgraphviz-dev (Debian) and build again (./quickstart.sh does both)");
}

bool graphviz_built_in() { return false; }

#endif

std::string graph_svg(const Trace& trace, const PictureOptions& options) {
    return layout_svg(graph_dot(trace, options));
}

}  // namespace bnstep
