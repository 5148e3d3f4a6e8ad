#pragma once
/// Where the run is: the layer (or epoch) and phase that error messages, fault injection and
/// the watchdog name. Set by the main thread; every function is local.
#include <cstddef>
#include <string>

namespace deeprfm {

/// Set the layer (0-based; -1 = not in a layer) and phase that errors will name. Local.
void set_run_context(int layer, const std::string& phase);
/// "layer 3, phase agop" (or "" outside layers). Local.
std::string run_context();

/// The layer of the context (-1 = none) and its phase. Local, main thread.
int run_layer();
const std::string& run_phase();
/// Copy the phase into `buffer` (truncated to size-1 characters); safe from any thread. Local.
void run_phase_copy(char* buffer, std::size_t size);

}  // namespace deeprfm
