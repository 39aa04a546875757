// mlxcel entry point: parses the command line and maps the error family onto exit codes
// (0 ok, 1 runtime failure, 2 bad input or usage, 3 refused by the memory preflight).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "mlxcel/errors.h"

namespace {

int fail(const std::exception& e, mlxcel::ExitCode code) {
  fmt::print(stderr, "error: {}\n", e.what());
  return static_cast<int>(code);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mlxcel;
  // Logs go to stderr: stdout carries only generated text, tables or the --json document.
  spdlog::set_default_logger(spdlog::stderr_color_mt("mlxcel"));
  CLI::App app{
      "mlxcel: an LLM inference runtime that knows, before loading, how much memory a run takes"};
  app.set_version_flag("--version", "mlxcel 0.1.0");
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 success, 1 runtime failure, 2 bad input or usage, 3 refused by the memory "
      "preflight.\nSizes: 16GiB, 16G (binary), 16GB (decimal), 512MiB, or a byte count.\n"
      "Run 'mlxcel SUBCOMMAND --help' for a subcommand's options.");
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
    return fail(e, ExitCode::RuntimeFailure);
  } catch (const FormatError& e) {
    return fail(e, ExitCode::BadInput);
  } catch (const ConfigError& e) {
    return fail(e, ExitCode::BadInput);
  } catch (const UnsupportedArchitecture& e) {
    return fail(e, ExitCode::BadInput);
  } catch (const UsageError& e) {
    return fail(e, ExitCode::BadInput);
  } catch (const IoError& e) {
    return fail(e, ExitCode::BadInput);
  } catch (const std::exception& e) {
    return fail(e, ExitCode::RuntimeFailure);
  }
}
