#include <deeprfm/base/fault_injection.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include <deeprfm/base/error.hpp>
#include <deeprfm/base/run_context.hpp>

namespace deeprfm {

namespace {
struct FaultSpec {
  bool active = false;
  std::string kind;
  int rank = 0;
  int layer = -1;     // 1-based; -1 = any
  std::string phase;  // "" = any
};

FaultSpec parse_fault() {
  FaultSpec spec;
  const char* env = std::getenv("DEEPRFM_FAULT");
  if (env == nullptr || *env == '\0') return spec;
  // KIND@RANK:LAYER:PHASE
  std::string text(env);
  const auto at = text.find('@');
  const auto c1 = text.find(':', at == std::string::npos ? 0 : at);
  const auto c2 = c1 == std::string::npos ? std::string::npos : text.find(':', c1 + 1);
  DEEPRFM_CHECK(at != std::string::npos && c1 != std::string::npos && c2 != std::string::npos,
                input, "DEEPRFM_FAULT='" << text << "' is not KIND@RANK:LAYER:PHASE");
  spec.kind = text.substr(0, at);
  spec.rank = std::stoi(text.substr(at + 1, c1 - at - 1));
  const std::string layer = text.substr(c1 + 1, c2 - c1 - 1);
  spec.layer = layer == "*" ? -1 : std::stoi(layer);
  spec.phase = text.substr(c2 + 1);
  if (spec.phase == "*") spec.phase.clear();
  spec.active = true;
  return spec;
}

const FaultSpec& fault_spec() {
  static const FaultSpec spec = parse_fault();
  return spec;
}
}  // namespace

bool fault_requested(const char* kind, int layer, const char* phase, int rank) {
  const FaultSpec& f = fault_spec();
  if (!f.active || f.kind != kind || f.rank != rank) return false;
  if (f.layer >= 0 && f.layer != layer + 1) return false;
  if (!f.phase.empty() && f.phase != phase) return false;
  return true;
}

bool fault_requested_in_context(const char* kind, int rank) {
  return fault_requested(kind, run_layer(), run_phase().c_str(), rank);
}

void inject_fault_point(int layer, const char* phase, int rank) {
  if (fault_requested("input", layer, phase, rank))
    DEEPRFM_THROW(input, "injected input failure (DEEPRFM_FAULT)");
  if (fault_requested("alloc", layer, phase, rank)) throw std::bad_alloc();
  if (fault_requested("hdf5", layer, phase, rank))
    DEEPRFM_THROW(resource, "HDF5 write failed (injected by DEEPRFM_FAULT)");
  if (fault_requested("sleep", layer, phase, rank)) {
    // Test-only: hold this rank here so that a test can kill the job inside this phase.
    // Like a long ScaLAPACK call, a signal does not end it early: the full 60 s (or
    // DEEPRFM_FAULT_SLEEP seconds).
    std::fprintf(stderr, "deeprfm: DEEPRFM_FAULT sleep in layer %d, phase %s\n", layer + 1, phase);
    std::fflush(stderr);
    double seconds = 60;
    if (const char* env = std::getenv("DEEPRFM_FAULT_SLEEP")) seconds = std::atof(env);
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(static_cast<long long>(1000 * seconds));
    while (std::chrono::steady_clock::now() < until) std::this_thread::sleep_until(until);
  }
  if (fault_requested("crash", layer, phase, rank))
    throw std::runtime_error("injected crash outside any agreement point (DEEPRFM_FAULT)");
}

}  // namespace deeprfm
