#include "manual.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>

#include "bnstep/version.hpp"
#include "build_info.hpp"
#include "completion.hpp"

namespace bnstep::cli {

namespace {

constexpr const char* kDescription = R"(.SH DESCRIPTION
bnstep loads a lesson, a small computational graph in JSON such as batch
normalization split into its steps, a convolution layer or a layer of a
compressed network, and prints node by node the forward value, the local
gradient, the upstream gradient and the downstream gradient, with the
arithmetic shown, so that every number on the screen can be redone with pencil
and paper.
It checks every analytic gradient against finite differences, quizzes the
student, writes worksheets and draws the graph.
.PP
A \fILESSON\fR is the name of a built-in lesson (listed below and by
\fBbnstep lessons\fR) or the path of a lesson file; the lesson format is
described in \fIdocs/lesson\-format.md\fR of the documentation and checked by
the JSON Schema \fIlesson.schema.json\fR (see \fBFILES\fR for both).
Commands that take a lesson default to \fBbatchnorm\fR.
A \fINODE\fR is a node's step number or its name.
.PP
A \fINETWORK\fR (\fBcost\fR) is a network described by the shapes of its
layers only, no values: a built-in one (\fBalexnet\fR, \fBalexnet\-two\-tower\fR,
\fBvgg16\fR, \fBsqueezenet1_0\fR, \fBmobilenet\-v1\fR, \fBmobilenet\-v1\-conv\fR)
or the path of a network file, whose format is described in
\fIdocs/compression\-storage.md\fR.
.PP
Options may be written \fB\-\-name value\fR or \fB\-\-name=value\fR.
Every command prints its own options with \fB\-\-help\fR.
)";

constexpr const char* kClosing = R"(.SH EXAMPLES
.TP
.B bnstep run batchnorm
The forward pass in step order, then the backward pass in reverse, every node
explained, with one element of every backward edge worked out by hand.
.TP
.B bnstep run depthwise\-separable \-\-brief \-\-only backward \-\-nodes 3..
A shorter run: each tensor as one line, no worked elements, the backward pass
of step 3 and after only.
.TP
.B bnstep run batchnorm \-\-step
One node at a time on a terminal: Enter for the next (or the rest of a node
taller than the terminal), b to draw the previous one again, q to stop and be
told the command that goes on from there.
.TP
.B bnstep trace batchnorm \-\-node 7
One node in depth, with one element worked out by hand.
.TP
.B bnstep check\-gradients
Every gradient of every built-in lesson against centred differences; exit
status 1 when one disagrees.
.TP
.B bnstep quiz conv2d \-\-node 2
Predict each gradient of one node: a wrong answer gets the classic mistake it matches named (or a hint),
a second try, then the arithmetic.
.TP
.B bnstep quiz batchnorm \-\-export gift \-\-variants 1\-40 \-o batchnorm.gift
The quiz of 40 variants as numerical questions for Moodle (\fBmoodle\-xml\fR: Moodle XML; \fBqti\fR: a
QTI .zip for Canvas), one category per variant, accepting exactly what the quiz accepts.
.TP
.B bnstep worksheet \-\-format latex \-\-answers > key.tex
The answer key of the batch-norm worksheet, for pdflatex.
.TP
.B bnstep worksheet \-\-students roster.csv \-\-format latex \-\-out homework
A sheet and an answer key with numbers of their own for each student of a
roster (a CSV with a \fBname\fR column), a PDF of each when \fBpdflatex\fR is
installed, and \fIhomework/answers.csv\fR with every blank's answer.
.TP
.B bnstep quiz batchnorm \-\-grade answers.csv \-o scores.csv
A class's answers scored, a row per student, each answer judged as the quiz
judges it.
.TP
.B bnstep graph \-\-backward | dot \-Tsvg > batchnorm.svg
The computational graph with its backward edges, drawn by Graphviz.
.TP
.B bnstep export batchnorm \-o batchnorm.npz
The lesson's leaves and upstream gradient for NumPy, to write the backward
pass by hand; \fBnp.savez("mine.npz", dx=dx, dgamma=dgamma, ...)\fR saves its
gradients under the same names.
.TP
.B bnstep compare batchnorm mine.npz
Which of those gradients is wrong, why, and where the error starts, with one
element worked out; \fBbnstep compare batchnorm subs/*.npz \-\-format csv\fR
grades a class, one row per file.
.TP
.B bnstep saliency obd\-saliency
Optimal Brain Damage (the default \fB\-\-method obd\fR): every weight's saliency
0.5 h_kk w^2 from the Hessian's diagonal, ranked beside magnitude, with the loss
after pruning a quarter of the weights (\fB\-\-prune\fR \fIK\fR) by each.
.TP
.B bnstep saliency fisher\-pruning \-\-method fisher
The empirical Fisher diagonal F_kk = (1/N) sum_n (dL_n/dw_k)^2 from each
example's own backward pass (the batch is the first axis of the lesson's
\fBinput\fR leaves; \fB\-\-example\fR \fIn\fR picks the example whose gradient is
shown), ranked beside the Hessian's diagonal and magnitude; at this lesson's
minimum the two diagonals agree.
.TP
.B bnstep saliency layerwise\-obs \-\-method obs \-\-param W \-\-prune 3
Layer-wise Optimal Brain Surgeon on the matmul y = x @ W: H = x^T x / n and
its inverse, each weight's saliency w_q^2 / (2 [H^\-1]_qq), the re-fit of the
rest of its column, and the layer's error after removing 3 weights by OBS, OBD
and magnitude; \fB\-\-damping\fR \fIlambda\fR inverts H + lambda I when H is
singular.
.TP
.B bnstep net\-trim \-\-epsilon 0,0.1,0.3 \-\-unit 1
Net-Trim on the lesson's ReLU layer: for each epsilon, the weights of smallest
l1 norm whose outputs stay within epsilon of the layer's, found by ADMM (the
iterations of unit 1 shown), then the sparsity against the output error.
.TP
.B bnstep compress deep\-compression \-\-bits 2 \-\-index\-bits 3
Deep Compression's storage of the lesson's pruned weights: sparse entries with
3-bit relative indices and filler zeros, a codebook of 4 shared weights found
by k-means, both index streams Huffman coded, the bits and the compression
ratio after each stage.
.TP
.B bnstep cost vgg16
VGG-16's parameters and multiply-adds layer by layer from its shapes, each
with its formula, the total in megabytes at 32 bits, and what pruning,
quantization and Huffman coding would leave of it beside the paper's figure;
\fBbnstep cost\fR alone compares every built-in network.
.TP
.B bnstep run my\-lesson.json \-\-set x.shape=8,16
A lesson file of one's own, with the leaf x resized.
.TP
.B bnstep version \-\-format json
The version, commit, build and machine, to attach to a bug report.
.SH "EXIT STATUS"
.TP
.B 0
Success.
.TP
.B 1
A gradient check failed, or a NaN or an infinity appeared in a run; for
\fBquiz\fR, the answers ran out or \fBq\fR was typed before the last question;
for \fBcompare\fR, a tensor given was wrong (or not a tensor of the lesson).
.TP
.B 2
A usage error (an unknown command or option, a bad value), a bad lesson
or network file or a data file that cannot be read or written (\fBexport\fR,
\fBcompare\fR, \fBquiz \-\-export\fR): a one-line message names the file, the place in it and what is
expected.
.SH ENVIRONMENT
.TP
.B NO_COLOR
When set to anything but the empty string, no colour is printed, even with
\fB\-\-color always\fR.
.TP
.BR LC_ALL ", " LC_CTYPE ", " LANG
The first of them set to a non-empty value is the locale. In a UTF-8 locale
(one whose name says UTF\-8 or utf8) text output writes a partial derivative as
\(pdout/\(pdgamma; in any other, or with none of them set, as d(out)/d(gamma).
JSON, Markdown and LaTeX output are the same in every locale.
.TP
.B BNSTEP_THREADS
The number of threads the convolution kernels and gradient checks may use, a
whole number from 1 to 1024 (anything else is an error, exit status 2); by
default, one per hardware thread.
.TP
.B PAGER
The pager of \fBrun\fR and \fBtrace\fR, as for git: when standard output is
a terminal and the text is longer than the terminal has rows, it goes to this
command (run by \fI/bin/sh\fR), or to \fBless \-R\fR when \fBPAGER\fR is
unset. Empty or \fBcat\fR, \fB\-\-no\-pager\fR, a pipe, and a pager that
cannot be started print directly.
.TP
.B LESS
Set to \fBFRX\fR for the pager when unset (quit when the text fits one
screen, pass the colours through, leave the text on the screen).
.TP
.B LINES
The terminal's rows, for the pager and \fBrun \-\-step\fR, when the
terminal does not say (default 24).
.SH FILES
The built-in lessons and networks are compiled into the binary: bnstep reads
no file but the lesson and network files it is given, the answers file of \fBquiz \-\-answers\fR,
the CSV files of \fBquiz \-\-grade\fR and \fBworksheet \-\-students\fR, and it writes no file but those
it is asked to (\fB\-o\fR, \fB\-\-out\fR).
Installed beside it, under the installation prefix (\fI/usr\fR for the Debian
package, \fI/usr/local\fR by default for \fBcmake \-\-install\fR):
.TP
.I share/bnstep/lessons/
The built-in lessons as files, to copy and change, and beside them
\fIlesson.schema.json\fR, the JSON Schema they name, for an editor to check a
lesson as it is typed (also printed by \fBbnstep ops \-\-format schema\fR).
.TP
.I share/doc/bnstep/
The documentation: \fIREADME.md\fR and \fIdocs/\fR: the mathematics of each
lesson, the lesson format, the JSON output, studying with quizzes and
worksheets.
.TP
.I share/bash\-completion/completions/bnstep
.TQ
.I share/zsh/vendor\-completions/_bnstep \fR(\fIshare/zsh/site\-functions/_bnstep\fR outside \fI/usr\fR)
.TQ
.I share/fish/vendor_completions.d/bnstep.fish
Completion of commands, options, their values, lesson names and the nodes of
the lesson on the line, for bash, zsh and fish (also printed by
\fBbnstep completions\fR \fISHELL\fR).
.SH "SEE ALSO"
.BR dot (1),
.BR pdflatex (1),
.BR less (1).
.PP
The documentation in \fIshare/doc/bnstep/\fR; \fBbnstep ops\fR for every op
and its local-gradient formulas.
.SH BUGS
Please attach the output of \fBbnstep version \-\-format json\fR and the lesson
file to a bug report.
)";

// Text for roff: no escape or request can come from it; '-' is a minus sign
// so that options copied from the page work.
std::string roff(const std::string& text) {
    std::string out;
    bool line_start = true;
    for (const char c : text) {
        if (line_start && (c == '.' || c == '\'')) out += "\\&";
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
        line_start = c == '\n';
    }
    return out;
}

std::string bold(const std::string& text) { return "\\fB" + roff(text) + "\\fR"; }
std::string italic(const std::string& text) { return "\\fI" + roff(text) + "\\fR"; }

// The value's name as --help shows it, or the choices: "text|json".
std::string value_name(const OptionSpec& o) {
    if (o.choices.empty()) return italic(o.type);
    std::string out;
    for (const auto& c : o.choices) out += (out.empty() ? "" : "|") + bold(c);
    return out;
}

// "list the built-in lessons" -> "list the built-in lessons."
std::string sentence(std::string text) {
    if (!text.empty() && text.back() != '.') text += '.';
    return text;
}

// A positional argument as the synopsis names it: LESSON, SHELL.
std::string argument_name(const OptionSpec& o) {
    std::string name = o.value == ValueKind::Lesson || o.value == ValueKind::Network ? o.type : o.names.front();
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return italic(name) + (o.repeatable ? " ..." : "");
}

std::string option_heading(const OptionSpec& o) {
    if (o.positional) return argument_name(o) + (o.choices.empty() ? "" : ": " + value_name(o));
    std::string names;
    for (const auto& n : o.names) names += (names.empty() ? "" : ", ") + bold(n);
    if (o.value != ValueKind::None) names += " " + value_name(o);
    return names;
}

std::string option_text(const OptionSpec& o) {
    std::string text = o.help;
    const bool says_default = text.find("default") != std::string::npos;
    if (o.required) text += " (required)";
    if (!o.default_value.empty() && o.value != ValueKind::None && !says_default)
        text += " (default: " + o.default_value + ")";
    text = sentence(text);
    if (o.repeatable && !o.positional && text.find("repeatable") == std::string::npos)
        text += " May be given more than once.";
    return roff(text);
}

std::string synopsis(const CommandSpec& c) {
    std::string s = bold("bnstep") + " " + bold(c.name);
    for (const auto& o : c.options)
        if (o.required && !o.positional) s += " " + bold(o.names.front()) + " " + value_name(o);
    s += " [" + italic("OPTIONS") + "]";
    for (const auto& o : c.options) {
        if (!o.positional) continue;
        const std::string arg = argument_name(o);
        s += " " + (o.required ? arg : "[" + arg + "]");
    }
    return s;
}

bool same_option(const OptionSpec& a, const OptionSpec& b) {
    return a.names == b.names && a.help == b.help && a.type == b.type && a.default_value == b.default_value;
}

// Options that several commands take alike (--precision, --set, the limits)
// are described once, under SHARED OPTIONS.
std::vector<OptionSpec> shared_options(const AppSpec& spec) {
    std::vector<OptionSpec> shared;
    for (const auto& c : spec.commands)
        for (const auto& o : c.options) {
            if (o.positional) continue;
            const auto seen = [&](const OptionSpec& s) { return same_option(s, o); };
            if (std::any_of(shared.begin(), shared.end(), seen)) continue;
            const auto takes = [&](const CommandSpec& other) {
                return std::any_of(other.options.begin(), other.options.end(), seen);
            };
            if (std::count_if(spec.commands.begin(), spec.commands.end(), takes) >= 3) shared.push_back(o);
        }
    return shared;
}

std::string command_section(const CommandSpec& c, const std::string& app_footer,
                            const std::vector<OptionSpec>& shared) {
    std::string out = fmt::format(".SS {}\n{}\n.PP\n{}\n", roff(c.name), synopsis(c), roff(sentence(c.help)));
    std::vector<std::string> also;
    for (const auto& o : c.options) {
        const auto same = [&](const OptionSpec& s) { return same_option(s, o); };
        if (std::any_of(shared.begin(), shared.end(), same))
            also.push_back(bold(o.names.back()));
        else
            out += fmt::format(".TP\n{}\n{}\n", option_heading(o), option_text(o));
    }
    if (!also.empty())
        out += fmt::format(".PP\nAnd the shared options {}.\n", fmt::format("{}", fmt::join(also, ", ")));
    // CLI11 gives a command bnstep's footer unless it has one of its own.
    if (!c.footer.empty() && c.footer != app_footer) out += fmt::format(".PP\n{}\n", roff(c.footer));
    return out;
}

}  // namespace

std::string manual_page(const AppSpec& spec) {
    std::string page = fmt::format(
        ".\\\" The manual page of bnstep, generated by `bnstep man` from its command table. Do not edit.\n"
        ".TH BNSTEP 1 \"{}\" \"bnstep {}\" \"User Commands\"\n.nh\n"
        ".SH NAME\nbnstep \\- backpropagation by hand, one node at a time\n"
        ".SH SYNOPSIS\n{} {} [{}] [{}]\n.br\n{} [{}|{}]\n",
        commit_date(), kVersion, bold("bnstep"), italic("COMMAND"), italic("OPTIONS"), italic("LESSON"), bold("bnstep"),
        bold("--help"), bold("--version"));
    page += kDescription;
    page += ".SH OPTIONS\n";
    for (const auto& o : spec.options) page += fmt::format(".TP\n{}\n{}\n", option_heading(o), roff(sentence(o.help)));
    page +=
        ".SH COMMANDS\nEach command also takes " + bold("-h") + ", " + bold("--help") + ", which prints its options.\n";
    const std::vector<OptionSpec> shared = shared_options(spec);
    for (const auto& c : spec.commands) page += command_section(c, spec.footer, shared);
    page += ".SH \"SHARED OPTIONS\"\nThese options mean the same in every command that takes them.\n";
    for (const auto& o : shared) page += fmt::format(".TP\n{}\n{}\n", option_heading(o), option_text(o));
    page += ".SH \"BUILT-IN LESSONS\"\n";
    for (const auto& l : lesson_candidates()) page += fmt::format(".TP\n{}\n{}\n", bold(l.word), roff(l.description));
    page += kClosing;
    return page;
}

}  // namespace bnstep::cli
