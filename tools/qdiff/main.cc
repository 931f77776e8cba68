// qdiff: find where and why a quantized network stops agreeing with its float original.
#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "qdiff: compare a neural network's float, quantized and device worlds tensor by "
      "tensor.\nExit codes: 0 ran, 1 ran and failed a stated goal, 2 bad input."};
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("qdiff: error: ") + e.what() + " (see --help)\n";
  });
  app.set_version_flag("--version", "qdiff 0.1.0");
  std::function<qdiff::Status()> run;
  qdiff::cli::add_inspect_command(app, run);
  qdiff::cli::add_run_command(app, run);
  qdiff::cli::add_calibrate_command(app, run);
  qdiff::cli::add_export_command(app, run);
  qdiff::cli::add_compare_command(app, run);
  qdiff::cli::add_diagnose_command(app, run);
  qdiff::cli::add_tune_command(app, run);
  qdiff::cli::add_report_command(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  const qdiff::Status s = run();
  if (s.code() == qdiff::ErrorCode::kGoalFailed) {
    std::fprintf(stderr, "qdiff: %s\n", s.message().c_str());
    return 1;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "qdiff: error: %s\n", s.message().c_str());
    return s.code() == qdiff::ErrorCode::kInternal ? 3 : 2;
  }
  return 0;
}
