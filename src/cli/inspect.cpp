#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace mlxcel::cli {

// Placeholder registration replaced by the estimator work (issue 2).
void add_inspect_command(CLI::App& app, Action& action) {
  app.add_subcommand("inspect", "Plan the memory a model needs, without loading it");
}

}  // namespace mlxcel::cli
