// mlxcel entry point: parses the command line and maps the error family onto exit codes
// (0 ok, 1 runtime failure, 2 bad input or usage, 3 refused by the memory preflight).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "cli/commands.h"
#include "mlxcel/errors.h"

namespace {

bool limited(int resource) {
  struct rlimit r {};
  return getrlimit(resource, &r) == 0 && r.rlim_cur != RLIM_INFINITY;
}

// OpenBLAS (linked for f32 prefill GEMM) starts a pool of worker threads in its shared-library
// constructor, before main, each of which allocates a 128 MiB buffer as it starts and retries
// forever when that fails. Under an address-space or data limit (prlimit --as, ulimit -v) the
// workers therefore spin from the start, and exit hangs joining them. The kernels never use that
// pool (they run OpenBLAS single-threaded inside their own pool), and OpenBLAS reads
// OPENBLAS_NUM_THREADS only in that constructor, too early for setenv in main. So when such a
// limit is set, the process restarts itself once with OPENBLAS_NUM_THREADS=1: the restarted image
// never creates the workers. Without a limit the allocations succeed and the idle pool is left
// alone, which keeps tools such as valgrind on the original process.
void restart_without_openblas_pool(char** argv) {
  const char* v = std::getenv("OPENBLAS_NUM_THREADS");
  if (v != nullptr && std::strcmp(v, "1") == 0) return;
  if (!limited(RLIMIT_AS) && !limited(RLIMIT_DATA)) return;
  if (setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // No /proc (or the binary is gone): carry on as before rather than fail.
}

int fail(const std::exception& e, mlxcel::ExitCode code) {
  fmt::print(stderr, "error: {}\n", e.what());
  return static_cast<int>(code);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mlxcel;
  restart_without_openblas_pool(argv);
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
