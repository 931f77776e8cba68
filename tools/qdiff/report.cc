// qdiff report DIAGNOSE.json -o OUT.html: re-renders a saved qdiff.diagnose/1 JSON report as
// one self-contained HTML page (src/report/html.h, docs/report.md).
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "report/html.h"

namespace qdiff::cli {
namespace {

struct ReportCommandOptions {
  std::string input;
  std::string output;
};

Status run_report(const ReportCommandOptions& o) {
  std::ifstream in(o.input, std::ios::binary);
  if (!in) return io_error(o.input + ": cannot open");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return io_error(o.input + ": cannot read");
  nlohmann::ordered_json report;
  try {
    report = nlohmann::ordered_json::parse(bytes);
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(o.input + ": not valid JSON (" + e.what() + ")");
  }
  Result<std::string> html = report::diagnose_html(report);
  if (!html.ok()) return html.status().with_context(o.input);

  std::ofstream out(o.output, std::ios::binary | std::ios::trunc);
  if (!out) return io_error(o.output + ": cannot write");
  out << *html;
  out.close();
  if (!out) return io_error(o.output + ": write failed");
  std::printf("  html: %s\n", o.output.c_str());
  return Status::ok_status();
}

}  // namespace

void add_report_command(CLI::App& app, std::function<Status()>& run) {
  auto o = std::make_shared<ReportCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Render a saved qdiff diagnose JSON report (schema qdiff.diagnose/1) as one "
      "self-contained HTML page: verdict, ranked findings, output metrics, first divergences, "
      "per-layer table.");
  cmd->add_option("diagnose_json", o->input, "JSON report written by qdiff diagnose --json")
      ->required();
  cmd->add_option("-o,--output", o->output, "HTML file to write")->required();
  cmd->callback([o, &run] { run = [o] { return run_report(*o); }; });
}

}  // namespace qdiff::cli
