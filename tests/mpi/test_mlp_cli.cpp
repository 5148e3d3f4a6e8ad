// deeprfm-mlp's command line: defaults of the paper's experiment, and one clear Error(input)
// per bad option (parsing is local and identical on every rank, so every rank agrees).
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <deeprfm/core/error.hpp>

#include "mlp_cli.hpp"
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
std::string input_error(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::input) return e.what();
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
      {{"--no-such-option"}, "no-such-option"},
      {{"--epochs", "ten"}, "epochs"},
  };
  for (const auto& [args, needle] : cases) {
    const std::string message = input_error(args);
    BOOST_TEST_INFO(args.front() << ": '" << message << "'");
    BOOST_CHECK(!message.empty() && message.find(needle) != std::string::npos);
  }
}
