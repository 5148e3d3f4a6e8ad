#include <deeprfm/base/run_context.hpp>

#include <cstdio>
#include <mutex>

namespace deeprfm {

namespace {
int g_layer = -1;
std::string g_phase;
// The phase name as another thread (the watchdog) reads it; the main thread owns g_phase.
std::mutex g_phase_mutex;
char g_phase_copy[64] = "";
}  // namespace

void set_run_context(int layer, const std::string& phase) {
  g_layer = layer;
  g_phase = phase;
  std::lock_guard<std::mutex> lock(g_phase_mutex);
  std::snprintf(g_phase_copy, sizeof(g_phase_copy), "%s", phase.c_str());
}

std::string run_context() {
  if (g_layer < 0) return g_phase.empty() ? "" : "phase " + g_phase;
  return "layer " + std::to_string(g_layer + 1) + (g_phase.empty() ? "" : ", phase " + g_phase);
}

int run_layer() { return g_layer; }

const std::string& run_phase() { return g_phase; }

void run_phase_copy(char* buffer, std::size_t size) {
  std::lock_guard<std::mutex> lock(g_phase_mutex);
  std::snprintf(buffer, size, "%s", g_phase_copy);
}

}  // namespace deeprfm
