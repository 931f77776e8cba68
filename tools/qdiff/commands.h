// The qdiff subcommands. Each registers its options on the CLI11 app and runs from them; the
// returned Status maps to the exit code in main.cc (0 ran, 1 failed a stated goal, 2 bad input).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "support/status.h"

namespace qdiff::cli {

// Registers a subcommand; `run` is set to the function that executes it.
void add_inspect_command(CLI::App& app, std::function<Status()>& run);
void add_run_command(CLI::App& app, std::function<Status()>& run);
void add_calibrate_command(CLI::App& app, std::function<Status()>& run);
void add_export_command(CLI::App& app, std::function<Status()>& run);
void add_compare_command(CLI::App& app, std::function<Status()>& run);
void add_diagnose_command(CLI::App& app, std::function<Status()>& run);
void add_tune_command(CLI::App& app, std::function<Status()>& run);
void add_report_command(CLI::App& app, std::function<Status()>& run);

// "name=1,3,224,224" -> (name, shape); error on bad syntax.
Status parse_input_shape(const std::string& spec, std::string* name, std::vector<int64_t>* shape);

}  // namespace qdiff::cli
