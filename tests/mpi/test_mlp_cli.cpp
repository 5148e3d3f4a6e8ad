// deeprfm-mlp's command line: defaults of the paper's experiment, and one clear Error(input)
// per bad option (parsing is local and identical on every rank, so every rank agrees).
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <deeprfm/base/error.hpp>

#include "mlp_cli.hpp"
#include "option_text.hpp"
#include "test_helpers.hpp"

using namespace deeprfm;

namespace {

app::MlpParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "deeprfm-mlp");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return app::parse_mlp_command_line(static_cast<int>(argv.size()), argv.data());
}

/// The message of the Error(input) that parsing throws ("" if it does not throw one).
/// The input error's message as deeprfm-mlp prints it: the library's text plus the flag of its
/// subject (guarded_main).
std::string input_error(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::input)
      return e.what() + app::flag_suffix(e.subject(), app::mlp_flag_for_subject);
    return "wrong kind";
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(defaults_follow_the_issue) {
  const auto r = parse({});
  BOOST_REQUIRE(r.run);
  const auto& m = r.options.model;
  BOOST_CHECK_EQUAL(m.hidden_layers, 5);
  BOOST_CHECK_EQUAL(m.hidden_width, 512);
  BOOST_CHECK_EQUAL(m.epochs, 250);
  BOOST_CHECK_EQUAL(m.batch_size, 128);
  BOOST_CHECK_EQUAL(m.measure_every, 10);
  BOOST_CHECK(m.optimizer == mlp::OptimizerKind::adam);
  BOOST_CHECK_EQUAL(r.options.data.kind, "fashion-mnist");
  BOOST_CHECK(r.options.data.selection == data::Selection::balanced);
  BOOST_CHECK(r.options.data.test_selection == data::Selection::first);
  const auto first = parse({"--selection", "first", "--test-selection", "balanced"});
  BOOST_CHECK(first.options.data.selection == data::Selection::first);
  BOOST_CHECK(first.options.data.test_selection == data::Selection::balanced);
  const auto s = parse({"--optimizer", "sgd", "--momentum", "0.5", "--seed", "9", "--n", "100",
                        "--hidden-width", "64"});
  BOOST_CHECK(s.options.model.optimizer == mlp::OptimizerKind::sgd);
  BOOST_CHECK_EQUAL(s.options.model.momentum, 0.5);
  BOOST_CHECK_EQUAL(s.options.model.seed, 9u);
  BOOST_CHECK_EQUAL(s.options.data.seed, 9u);
  BOOST_CHECK_EQUAL(s.options.data.n, 100);
  BOOST_CHECK_EQUAL(s.options.model.hidden_width, 64);
  BOOST_CHECK(!parse({"--help"}).run);
}

BOOST_AUTO_TEST_CASE(bad_options_are_input_errors_naming_the_option) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--hidden-width", "0"}, "--hidden-width"},
      {{"--hidden-layers", "-1"}, "--hidden-layers"},
      {{"--epochs", "0"}, "--epochs"},
      {{"--batch-size", "0"}, "--batch-size"},
      {{"--lr", "0"}, "--lr"},
      {{"--lr", "-1e-3"}, "--lr"},
      {{"--lr", "nan"}, "--lr"},
      {{"--init-gain", "0"}, "--init-gain"},
      {{"--optimizer", "rmsprop"}, "--optimizer"},
      {{"--beta2", "1"}, "--beta2"},
      {{"--momentum", "1.5"}, "--momentum"},
      {{"--measure-every", "-2"}, "--measure-every"},
      {{"--save-agops", "some"}, "--save-agops"},
      {{"--n", "-3"}, "--n"},
      {{"--selection", "foo"}, "'foo' is not one of: balanced, first (option --selection)"},
      {{"--test-selection", "all"}, "(option --test-selection)"},
      {{"--no-such-option"}, "no-such-option"},
      {{"--epochs", "ten"}, "epochs"},
      {{"--checkpoint-every", "-1"}, "--checkpoint-every"},
  };
  for (const auto& [args, needle] : cases) {
    const std::string message = input_error(args);
    BOOST_TEST_INFO(args.front() << ": '" << message << "'");
    BOOST_CHECK(!message.empty() && message.find(needle) != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(library_errors_name_the_setting_and_the_cli_adds_its_flag) {
  // The library's message names the quantity only; the subject maps to deeprfm-mlp's flag.
  try {
    parse({"--lr", "0"});
    BOOST_ERROR("--lr 0 was accepted");
  } catch (const Error& e) {
    BOOST_CHECK_EQUAL(e.subject(), "lr");
    BOOST_CHECK_MESSAGE(std::string(e.what()).find("--") == std::string::npos, e.what());
    BOOST_CHECK(std::string(e.what()).find("learning rate") != std::string::npos);
  }
  BOOST_CHECK_EQUAL(app::mlp_flag_for_subject("resume"), "--resume");
  BOOST_CHECK_EQUAL(app::mlp_flag_for_subject("ridge"), "");  // deeprfm-mlp has no ridge
  BOOST_CHECK_EQUAL(app::flag_suffix("lr,init-gain", app::mlp_flag_for_subject),
                    " (options --lr, --init-gain)");
  BOOST_CHECK_EQUAL(app::flag_suffix("ridge", app::mlp_flag_for_subject), "");
  BOOST_CHECK_EQUAL(app::flag_suffix("", app::mlp_flag_for_subject), "");
}

BOOST_AUTO_TEST_CASE(resume_takes_the_stored_options_and_refuses_contradictions) {
  // What a run stores in /config: every option as text (parse a run, take its `effective`).
  const auto original = parse({"--data", "synthetic", "--n", "120", "--hidden-width", "32", "--lr",
                               "0.001", "--epochs", "20", "-o", "run.h5"});
  BOOST_REQUIRE(original.run);
  const auto& stored = original.options.effective;
  for (const auto& [name, value] : stored) BOOST_CHECK(name != "resume");
  std::vector<std::string> args = {"deeprfm-mlp", "--resume",           "run.h5", "--epochs",
                                   "30",          "--checkpoint-every", "5"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  const auto r = app::parse_mlp_command_line(static_cast<int>(argv.size()), argv.data(), &stored);
  BOOST_REQUIRE(r.run);
  BOOST_CHECK_EQUAL(r.options.model.hidden_width, 32);
  BOOST_CHECK_EQUAL(r.options.model.lr, 0.001);
  BOOST_CHECK_EQUAL(r.options.data.n, 120);
  BOOST_CHECK_EQUAL(r.options.data.kind, "synthetic");
  BOOST_CHECK_EQUAL(r.options.model.epochs, 30);
  BOOST_CHECK_EQUAL(r.options.checkpoint_every, 5);
  BOOST_CHECK_EQUAL(r.options.resume, "run.h5");
  BOOST_CHECK_EQUAL(r.options.output, "run.h5");

  args = {"deeprfm-mlp", "--resume", "run.h5", "--init-gain", "0.2"};
  argv.clear();
  for (auto& a : args) argv.push_back(a.data());
  std::string message;
  try {
    app::parse_mlp_command_line(static_cast<int>(argv.size()), argv.data(), &stored);
  } catch (const Error& e) {
    message = e.kind() == ErrorKind::input ? e.what() : "wrong kind";
  }
  BOOST_TEST_INFO(message);
  BOOST_CHECK(message.find("--resume: --init-gain 0.20000000000000001 contradicts the stored "
                           "run (1)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(resume_of_a_file_without_the_selections_keeps_them_balanced) {
  // A file written before --selection/--test-selection existed stored neither; its run chose
  // both sets class-balanced, and a resume continues it so (app::with_implied_options).
  const auto original = parse({"--data", "synthetic", "--n", "120", "-o", "old.h5"});
  BOOST_REQUIRE(original.run);
  std::vector<std::pair<std::string, std::string>> old;
  for (const auto& option : original.options.effective)
    if (option.first != "selection" && option.first != "test-selection") old.push_back(option);
  BOOST_REQUIRE_EQUAL(old.size() + 2, original.options.effective.size());
  std::vector<std::string> args = {"deeprfm-mlp", "--resume", "old.h5"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  const auto r = app::parse_mlp_command_line(static_cast<int>(argv.size()), argv.data(), &old);
  BOOST_REQUIRE(r.run);
  BOOST_CHECK(r.options.data.selection == data::Selection::balanced);
  BOOST_CHECK(r.options.data.test_selection == data::Selection::balanced);
  // A new file keeps what it stored.
  const auto& stored = original.options.effective;
  const auto s = app::parse_mlp_command_line(static_cast<int>(argv.size()), argv.data(), &stored);
  BOOST_CHECK(s.options.data.test_selection == data::Selection::first);
  // Only missing options are implied.
  const auto completed = app::with_implied_options(stored);
  BOOST_CHECK(completed == stored);
}
