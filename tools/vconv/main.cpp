// vconv: benchmark, plan and verify convolutions from the command line.
#include <iostream>

#include "commands.h"
#include "vconv/error.h"

int main(int argc, char** argv) {
  CLI::App app{"vconv: convolutions for video models"};
  app.require_subcommand(1);
  vconv::cli::add_bench(app);
  vconv::cli::add_plan(app);
  vconv::cli::add_verify(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const vconv::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
