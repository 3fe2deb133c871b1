#pragma once
// What the shells complete, worked out here once for bash, zsh and fish: the
// scripts `bnstep completions SHELL` prints pass the words on the line to
// `bnstep __complete line WORD...` and offer what it prints.
#include <string>
#include <vector>

#include "command_specs.hpp"

namespace bnstep::cli {

struct Candidate {
    std::string word;
    std::string description;  // may be empty
};

struct Completion {
    std::vector<Candidate> candidates;  // only those starting with the word being completed
    bool files = false;                 // the shell should offer file names too
    bool lesson_files = false;          // ... .json files and directories
};

// words: the line after "bnstep", the last one the word under the cursor (""
// at a space). bash splits "--format=js" into "--format", "=", "js"; a lone
// "=" is joined back to its neighbours.
Completion complete_line(const AppSpec& spec, std::vector<std::string> words);

// Which of a lesson's nodes an option takes.
enum class NodeSet {
    All,             // trace --node, graph --highlight
    WithQuestions,   // quiz --node: the nodes quiz has a question for
    GradientLeaves,  // saliency --param: input and param leaves that get a gradient
    NetTrimWeights,  // net-trim --param: params W of a layer relu(matmul(X, W))
};

// The steps and names of those nodes, or nothing when the lesson does not load.
std::vector<Candidate> node_candidates(const std::string& lesson, NodeSet set = NodeSet::All);
std::vector<Candidate> lesson_candidates();

// One "word<TAB>description" per line, then ":files" or ":json" when the
// shell should add file names.
std::string completion_lines(const Completion& c);

}  // namespace bnstep::cli
