#include <deeprfm/model/kernel.hpp>

#include <deeprfm/base/error.hpp>

namespace deeprfm::model {

KernelKind parse_kernel_kind(const std::string& text) {
  if (text == "laplace") return KernelKind::laplace;
  if (text == "gaussian") return KernelKind::gaussian;
  DEEPRFM_THROW_ABOUT(input, "kernel", "kernel '" << text << "' is not one of: laplace, gaussian");
}

std::string to_string(KernelKind kind) {
  return kind == KernelKind::laplace ? "laplace" : "gaussian";
}

}  // namespace deeprfm::model
