// mlxcel entry point: parses the command line and maps the error family onto exit codes
// (0 ok, 1 runtime failure, 2 bad input or usage, 3 refused by the memory preflight).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "mlxcel/errors.h"

int main(int argc, char** argv) {
  using namespace mlxcel;
  CLI::App app{
      "mlxcel: an LLM inference runtime that knows, before loading, how much memory a run takes"};
  app.set_version_flag("--version", "mlxcel 0.1.0");
  app.require_subcommand(1);
  cli::Action action;
  cli::add_inspect_command(app, action);
  cli::add_serve_command(app, action);
  cli::add_generate_command(app, action);
  cli::add_convert_command(app, action);
  cli::add_random_model_command(app, action);
  cli::add_calibrate_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : static_cast<int>(ExitCode::BadInput);
  }
  try {
    return action ? action() : 0;
  } catch (const MemoryLimitExceeded& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return static_cast<int>(ExitCode::RuntimeFailure);
  } catch (const FormatError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return static_cast<int>(ExitCode::BadInput);
  } catch (const ConfigError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return static_cast<int>(ExitCode::BadInput);
  } catch (const UnsupportedArchitecture& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return static_cast<int>(ExitCode::BadInput);
  } catch (const UsageError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return static_cast<int>(ExitCode::BadInput);
  } catch (const IoError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return static_cast<int>(ExitCode::BadInput);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return static_cast<int>(ExitCode::RuntimeFailure);
  }
}
