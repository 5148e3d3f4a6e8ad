#pragma once
// What the two command lines (deeprfm, deeprfm-mlp) share: the value of a Boost.Program_options
// option as text, as both executables store it in their results files and compare it on
// --resume (doubles with 17 digits: round trips exactly), the --resume pre-scan, and the flags
// an error message is completed with.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/any.hpp>
#include <boost/program_options/options_description.hpp>
#include <boost/program_options/parsers.hpp>
#include <boost/program_options/variables_map.hpp>

#include <deeprfm/base/error.hpp>

namespace deeprfm::app {

inline std::string option_to_text(const boost::any& value) {
  if (value.type() == typeid(std::string)) return boost::any_cast<std::string>(value);
  if (value.type() == typeid(int)) return std::to_string(boost::any_cast<int>(value));
  if (value.type() == typeid(long)) return std::to_string(boost::any_cast<long>(value));
  if (value.type() == typeid(long long)) return std::to_string(boost::any_cast<long long>(value));
  if (value.type() == typeid(unsigned long))
    return std::to_string(boost::any_cast<unsigned long>(value));
  if (value.type() == typeid(unsigned long long))
    return std::to_string(boost::any_cast<unsigned long long>(value));
  if (value.type() == typeid(bool)) return boost::any_cast<bool>(value) ? "true" : "false";
  if (value.type() == typeid(double)) {
    std::ostringstream os;
    os << std::setprecision(17) << boost::any_cast<double>(value);
    return os.str();
  }
  return "?";
}

/// The allowed values of one numeric option: `lowest <= value <= highest` and a number (not NaN,
/// and finite when `finite`); `rule` says it in words for the message ("an integer in [0,
/// 2147483647] (0 = all)").
struct OptionRange {
  const char* name;
  long double lowest;
  long double highest;
  const char* rule;
};

/// The largest value an option that becomes a matrix dimension (a ScaLAPACK int) may take.
constexpr long double kMaxDimension = 2147483647.0L;
/// The largest value of an option that must be a finite number.
constexpr long double kMaxFinite = 1.7976931348623157e308L;
/// The largest seed: 2^63 - 1, so that a negative seed (which the unsigned parse wraps to
/// 2^64 - k) is refused instead of used.
constexpr long double kMaxSeed = 9223372036854775807.0L;

/// Refuse (Error input, exit 2) every option of `vm` named in `ranges` whose value lies outside
/// its range, before anything is allocated from it. Local (pure: the same answer on every rank).
inline void check_option_ranges(const boost::program_options::variables_map& vm,
                                const std::vector<OptionRange>& ranges) {
  for (const auto& range : ranges) {
    if (!vm.count(range.name)) continue;
    const boost::any& value = vm[range.name].value();
    long double v = 0;
    if (value.type() == typeid(int))
      v = boost::any_cast<int>(value);
    else if (value.type() == typeid(long))
      v = boost::any_cast<long>(value);
    else if (value.type() == typeid(long long))
      v = boost::any_cast<long long>(value);
    else if (value.type() == typeid(unsigned long))
      v = boost::any_cast<unsigned long>(value);
    else if (value.type() == typeid(unsigned long long))
      v = boost::any_cast<unsigned long long>(value);
    else if (value.type() == typeid(double))
      v = boost::any_cast<double>(value);
    else
      continue;
    DEEPRFM_CHECK(!std::isnan(v) && v >= range.lowest && v <= range.highest, input,
                  "--" << range.name << " " << option_to_text(value)
                       << " is out of range: it must be " << range.rule);
  }
}

/// Read the options of a --config file, refusing (Error input) a path that is a folder or cannot
/// be read, and the options in `command_only` (e.g. resume: they steer one invocation and are
/// given on the command line only). Local.
inline boost::program_options::parsed_options parse_config_checked(
    const std::string& path, const boost::program_options::options_description& all,
    const std::set<std::string>& command_only) {
  std::error_code ec;
  DEEPRFM_CHECK(!std::filesystem::is_directory(path, ec), input,
                "--config " << path << " is a folder, not a config file");
  std::ifstream in(path);
  DEEPRFM_CHECK(in.good(), input, "cannot read config file '" << path << "'");
  boost::program_options::parsed_options parsed =
      boost::program_options::parse_config_file(in, all);
  DEEPRFM_CHECK(!in.bad(), input, "cannot read config file '" << path << "' (read error)");
  for (const auto& option : parsed.options)
    DEEPRFM_CHECK(!command_only.count(option.string_key), input,
                  "config file '" << path << "' sets '" << option.string_key
                                  << "', which only the command line may give (--"
                                  << option.string_key << ")");
  return parsed;
}

/// The --resume FILE of argv, or "" (a light pre-scan, so that the stored options can be read
/// before the full parse). Local.
inline std::string resume_path(int argc, char** argv) {
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--resume" && i + 1 < argc) path = argv[i + 1];
    if (a.rfind("--resume=", 0) == 0) path = a.substr(9);
  }
  return path;
}

/// A map from a setting name to the flag of the option of that name in `options` ("n" ->
/// "--n"), "" when there is none; it keeps its own copy of the names. Local.
inline std::function<std::string(const std::string&)> flag_lookup(
    const boost::program_options::options_description& options) {
  std::set<std::string> names;
  for (const auto& option : options.options()) names.insert(option->long_name());
  return [names](const std::string& subject) {
    return names.count(subject) ? "--" + subject : std::string();
  };
}

/// The flags of the settings an error is about, to append to its message: " (option --n)",
/// " (options --ridge, --residual-tolerance)", or "" when it is about none the program has.
/// `subject` is Error::subject (setting names, comma-separated); `flag_for` is the program's
/// map from a setting name to its flag ("" if it has none). Local.
inline std::string flag_suffix(const std::string& subject,
                               const std::function<std::string(const std::string&)>& flag_for) {
  if (subject.empty() || !flag_for) return "";
  std::string flags;
  int count = 0;
  std::size_t begin = 0;
  while (begin <= subject.size()) {
    const std::size_t end = std::min(subject.find(',', begin), subject.size());
    const std::string flag = flag_for(subject.substr(begin, end - begin));
    if (!flag.empty()) {
      flags += (count++ > 0 ? ", " : "") + flag;
    }
    begin = end + 1;
  }
  if (count == 0) return "";
  return (count == 1 ? " (option " : " (options ") + flags + ")";
}

/// The stored options of a results file, completed with the options added after such files
/// were first written, at the value the file's run used: files written before --selection and
/// --test-selection existed selected both sets class-balanced. So --resume continues such a run
/// as it was, and --continue compares against what it did. Local (pure).
inline std::vector<std::pair<std::string, std::string>> with_implied_options(
    std::vector<std::pair<std::string, std::string>> stored) {
  static const std::pair<const char*, const char*> implied[] = {{"selection", "balanced"},
                                                                {"test-selection", "balanced"}};
  for (const auto& [name, value] : implied) {
    const bool present = std::any_of(stored.begin(), stored.end(),
                                     [&](const auto& option) { return option.first == name; });
    if (!present) stored.emplace_back(name, value);
  }
  return stored;
}

}  // namespace deeprfm::app
