#include "completion_scripts.hpp"

#include <stdexcept>

namespace bnstep::cli {

namespace {

// COMP_WORDS splits "--format=js" and "x:y.json" at '=' and ':' (bash's
// COMP_WORDBREAKS); the word is joined again for bnstep, and the part before
// bash's own word is cut off the replies.
constexpr const char* kBash = R"(# bash completion for bnstep: `bnstep completions bash` wrote this script.
# Install it as PREFIX/share/bash-completion/completions/bnstep, or source it.
# It asks bnstep itself (`bnstep __complete line WORD...`) what to offer.
_bnstep() {
    local word=${COMP_WORDS[COMP_CWORD]} i=$COMP_CWORD line IFS=$'\n'
    local cur=$word
    [[ $cur == [=:] ]] && cur=""
    while (( i > 1 )) && [[ ${COMP_WORDS[i]} == [=:] || ${COMP_WORDS[i-1]} == [=:] ]]; do
        (( i-- ))
        word=${COMP_WORDS[i]}$word
    done
    # The file name in the word (after --answers=), and what bash's own word leaves off it.
    local prefix=${word%"$cur"} path=$word
    [[ $path == --*=* ]] && path=${path#*=}
    local path_prefix=${path%"$cur"}
    COMPREPLY=()
    for line in $("${COMP_WORDS[0]}" __complete line "${COMP_WORDS[@]:1:i-1}" "$word" 2>/dev/null); do
        case $line in
            :files)
                compopt -o filenames 2>/dev/null
                for line in $(compgen -f -- "$path"); do COMPREPLY+=("${line#"$path_prefix"}"); done ;;
            :json)
                compopt -o filenames 2>/dev/null
                for line in $(compgen -d -- "$path") $(compgen -f -X '!*.json' -- "$path"); do
                    COMPREPLY+=("${line#"$path_prefix"}")
                done ;;
            *)
                line=${line%%$'\t'*}
                COMPREPLY+=("${line#"$prefix"}") ;;
        esac
    done
    return 0
}
complete -F _bnstep bnstep
)";

constexpr const char* kZsh = R"(#compdef bnstep
# zsh completion for bnstep: `bnstep completions zsh` wrote this script.
# Install it as _bnstep in a directory of $fpath (PREFIX/share/zsh/site-functions,
# or /usr/share/zsh/vendor-completions for a package), or source it.
# It asks bnstep itself (`bnstep __complete line WORD...`) what to offer.
_bnstep() {
    local -a lines candidates
    local line word files=0 json=0
    lines=("${(@f)$(${(Q)words[1]} __complete line "${(@Q)words[2,CURRENT]}" 2>/dev/null)}")
    for line in $lines; do
        case $line in
            (:files) files=1 ;;
            (:json) json=1 ;;
            ('') ;;
            (*)
                word=${line%%$'\t'*}
                if [[ $line == *$'\t'* ]]; then
                    candidates+=("${word//:/\\:}:${line#*$'\t'}")
                else
                    candidates+=("${word//:/\\:}")
                fi ;;
        esac
    done
    (( $#candidates )) && _describe -t bnstep 'bnstep' candidates
    # --answers=FILE: the file name after the '='.
    (( json || files )) && [[ $PREFIX == --*=* ]] && compset -P '*='
    (( json )) && _files -g '*.json(-.)'
    (( files )) && _files
    return 0
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _bnstep "$@"
else
    compdef _bnstep bnstep
fi
)";

constexpr const char* kFish = R"(# fish completion for bnstep: `bnstep completions fish` wrote this script.
# Install it as PREFIX/share/fish/vendor_completions.d/bnstep.fish, or source it.
# It asks bnstep itself (`bnstep __complete line WORD...`) what to offer.
function __bnstep_complete
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    # --answers=FILE: the file name after the '='.
    set -l prefix (string match -r -- '^--[^=]*=' $current)
    set -l path (string replace -r -- '^--[^=]*=' '' $current)
    for line in ($tokens[1] __complete line $tokens[2..-1] "$current" 2>/dev/null)
        switch $line
            case :files
                for p in (__fish_complete_path $path)
                    echo "$prefix$p"
                end
            case :json
                for p in (__fish_complete_path $path)
                    string match -q -r -- '(/|\.json)(\t.*)?$' $p; and echo "$prefix$p"
                end
            case '*'
                echo $line
        end
    end
end
complete -c bnstep -f -a '(__bnstep_complete)'
)";

}  // namespace

const std::vector<std::string>& completion_shells() {
    static const std::vector<std::string> shells{"bash", "zsh", "fish"};
    return shells;
}

std::string completion_script(const std::string& shell) {
    if (shell == "bash") return kBash;
    if (shell == "zsh") return kZsh;
    if (shell == "fish") return kFish;
    throw std::invalid_argument("no completion script for the shell " + shell);
}

}  // namespace bnstep::cli
