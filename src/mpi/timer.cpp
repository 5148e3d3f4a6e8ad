#include <deeprfm/mpi/timer.hpp>

namespace deeprfm {

void PhaseTimers::add(const std::string& phase, double seconds, double flops, double bytes,
                      double off_node_bytes) {
  auto it = records_.find(phase);
  if (it == records_.end()) {
    order_.push_back(phase);
    it = records_.emplace(phase, PhaseRecord{}).first;
  }
  it->second.seconds += seconds;
  it->second.flops += flops;
  it->second.bytes += bytes;
  it->second.off_node_bytes += off_node_bytes;
  it->second.calls += 1;
}

void PhaseTimers::clear() {
  order_.clear();
  records_.clear();
}

}  // namespace deeprfm
