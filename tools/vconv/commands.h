#pragma once
// The subcommands of the vconv command-line tool.
#include <CLI/CLI.hpp>

namespace vconv::cli {

void add_bench(CLI::App& app);
void add_plan(CLI::App& app);
void add_verify(CLI::App& app);

}  // namespace vconv::cli
