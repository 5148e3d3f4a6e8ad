#pragma once
// What the two command lines (deeprfm, deeprfm-mlp) share: the value of a Boost.Program_options
// option as text, as both executables store it in their results files and compare it on
// --resume (doubles with 17 digits: round trips exactly), and the --resume pre-scan.
#include <cstdint>
#include <iomanip>
#include <sstream>
#include <string>

#include <boost/any.hpp>

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

}  // namespace deeprfm::app
