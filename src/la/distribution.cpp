#include <deeprfm/la/distribution.hpp>

#include <deeprfm/base/error.hpp>

namespace deeprfm::la {

CyclicMap::CyclicMap(int size, int block, int procs, int me)
    : size_(size), block_(block), procs_(procs), me_(me) {
  DEEPRFM_CHECK(size >= 0, internal, "negative matrix dimension " << size);
  DEEPRFM_CHECK(block >= 1, input, "block size must be positive, got " << block);
  DEEPRFM_ASSERT(procs >= 1 && me >= 0 && me < procs);
  local_size_ = local_size_of(me);
}

int CyclicMap::local_size_of(int p) const {
  // numroc with source process 0.
  const int full_blocks = size_ / block_;
  int count = (full_blocks / procs_) * block_;
  const int extra = full_blocks % procs_;
  if (p < extra) {
    count += block_;
  } else if (p == extra) {
    count += size_ % block_;
  }
  return count;
}

}  // namespace deeprfm::la
