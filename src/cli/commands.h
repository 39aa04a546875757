// Each subcommand lives in its own file and registers itself on the root CLI11 app. The callback
// it stores runs after parsing and returns the process exit code.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace mlxcel::cli {

using Action = std::function<int()>;

void add_inspect_command(CLI::App& app, Action& action);
void add_serve_command(CLI::App& app, Action& action);
void add_generate_command(CLI::App& app, Action& action);
void add_convert_command(CLI::App& app, Action& action);
void add_random_model_command(CLI::App& app, Action& action);
void add_calibrate_command(CLI::App& app, Action& action);

}  // namespace mlxcel::cli
