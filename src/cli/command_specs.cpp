#include "command_specs.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>

#include "common.hpp"

namespace bnstep::cli {

namespace {

// "TEXT:{text,json}" -> {"text", "json"}: CLI11 shows an IsMember check's set so.
std::vector<std::string> choices_in(const std::string& type) {
    std::vector<std::string> choices;
    const auto open = type.find(":{");
    const auto close = type.rfind('}');
    if (open == std::string::npos || close == std::string::npos || close < open) return choices;
    std::string item;
    for (const char c : type.substr(open + 2, close - open - 2)) {
        if (c == ',') {
            choices.push_back(item);
            item.clear();
        } else {
            item += c;
        }
    }
    choices.push_back(item);
    return choices;
}

ValueKind kind_of(const std::string& type, bool takes_value, bool has_choices) {
    if (!takes_value) return ValueKind::None;
    if (has_choices) return ValueKind::Choice;
    const std::string base = type.substr(0, type.find(':'));
    if (base == kLessonType) return ValueKind::Lesson;
    if (base == kNodeType) return ValueKind::Node;
    if (base == kLeafType) return ValueKind::Leaf;
    if (base == kFileType) return ValueKind::File;
    if (base == kNetworkType) return ValueKind::Network;
    return ValueKind::Other;
}

OptionSpec option_spec(const CLI::Option& o) {
    OptionSpec s;
    s.positional = o.get_positional() && !o.nonpositional();
    if (s.positional) {
        s.names.push_back(o.get_name(true));
    } else {
        for (const auto& n : o.get_snames()) s.names.push_back("-" + n);
        for (const auto& n : o.get_lnames()) s.names.push_back("--" + n);
    }
    const std::string type = o.get_type_name();
    s.choices = choices_in(type);
    const bool takes_value = o.get_items_expected_max() > 0;
    s.value = kind_of(type, takes_value, !s.choices.empty());
    if (!s.choices.empty()) {
        for (const auto& c : s.choices) s.type += (s.type.empty() ? "" : "|") + c;
    } else if (takes_value) {
        s.type = type.substr(0, type.find(':'));
    }
    s.help = o.get_description();
    s.default_value = o.get_default_str();
    s.required = o.get_required();
    s.repeatable = o.get_expected_max() > 1 || o.get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
    return s;
}

bool is_help(const CLI::Option* o) {
    const auto& l = o->get_lnames();
    return std::find(l.begin(), l.end(), "help") != l.end();
}

}  // namespace

const OptionSpec* CommandSpec::find(const std::string& name) const {
    for (const auto& o : options)
        if (!o.positional && std::find(o.names.begin(), o.names.end(), name) != o.names.end()) return &o;
    return nullptr;
}

const OptionSpec* CommandSpec::positional() const {
    for (const auto& o : options)
        if (o.positional) return &o;
    return nullptr;
}

const CommandSpec* AppSpec::find(const std::string& name) const {
    for (const auto& c : commands)
        if (c.name == name) return &c;
    return nullptr;
}

AppSpec app_spec() {
    const std::unique_ptr<CLI::App> app = make_app();
    AppSpec spec;
    spec.description = app->get_description();
    spec.footer = app->get_footer();
    for (const CLI::Option* o : app->get_options()) spec.options.push_back(option_spec(*o));
    for (const Command& c : all_commands()) {
        if (c.hidden) continue;
        CLI::App* sub = app->add_subcommand(c.name, c.help);
        c.setup(*sub);
        CommandSpec cs{c.name, c.help, sub->get_footer(), {}};
        for (const CLI::Option* o : sub->get_options())
            if (!is_help(o)) cs.options.push_back(option_spec(*o));
        spec.commands.push_back(std::move(cs));
    }
    return spec;
}

}  // namespace bnstep::cli
