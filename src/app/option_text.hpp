#pragma once
// The value of a Boost.Program_options option as text, as both executables store it in their
// results files and compare it on --resume (doubles with 17 digits: round trips exactly).
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

}  // namespace deeprfm::app
