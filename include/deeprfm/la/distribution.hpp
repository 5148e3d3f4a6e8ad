#pragma once
/// The 2D block-cyclic distribution of one matrix over a process grid (ScaLAPACK's layout,
/// source process (0,0)). All indices here are 0-based. Global and local indices are separate
/// types so that one cannot be passed where the other is expected.
#include <cstdint>

namespace deeprfm::la {

/// A row or column index into the global matrix.
struct GlobalIndex {
  int value;
  explicit constexpr GlobalIndex(int v) : value(v) {}
};
/// A row or column index into the calling rank's local array.
struct LocalIndex {
  int value;
  explicit constexpr LocalIndex(int v) : value(v) {}
};

/// Block-cyclic map along one dimension: `size` global indices in blocks of `block`, dealt
/// round-robin to `procs` processes; `me` is this process's coordinate. Local (pure).
class CyclicMap {
 public:
  CyclicMap() = default;
  CyclicMap(int size, int block, int procs, int me);
  int size() const { return size_; }
  int block() const { return block_; }
  int procs() const { return procs_; }
  int me() const { return me_; }
  /// Number of indices this process holds (ScaLAPACK's numroc).
  int local_size() const { return local_size_; }
  /// Number of indices process `p` holds.
  int local_size_of(int p) const;
  /// The process that holds global index g.
  int owner(GlobalIndex g) const { return (g.value / block_) % procs_; }
  /// The local index of global index g on its owner.
  LocalIndex to_local(GlobalIndex g) const {
    return LocalIndex((g.value / (block_ * procs_)) * block_ + g.value % block_);
  }
  /// The global index of this process's local index l.
  GlobalIndex to_global(LocalIndex l) const { return to_global_on(l, me_); }
  /// The global index of local index l on process p.
  GlobalIndex to_global_on(LocalIndex l, int p) const {
    return GlobalIndex(((l.value / block_) * procs_ + p) * block_ + l.value % block_);
  }
  bool is_mine(GlobalIndex g) const { return owner(g) == me_; }

 private:
  int size_ = 0;
  int block_ = 1;
  int procs_ = 1;
  int me_ = 0;
  int local_size_ = 0;
};

/// Rows and columns of one distributed matrix. Local (pure).
class Distribution {
 public:
  Distribution() = default;
  Distribution(int global_rows, int global_cols, int row_block, int col_block, int grid_rows,
               int grid_cols, int my_row, int my_col)
      : rows_(global_rows, row_block, grid_rows, my_row),
        cols_(global_cols, col_block, grid_cols, my_col) {}
  const CyclicMap& rows() const { return rows_; }
  const CyclicMap& cols() const { return cols_; }
  int global_rows() const { return rows_.size(); }
  int global_cols() const { return cols_.size(); }
  int local_rows() const { return rows_.local_size(); }
  int local_cols() const { return cols_.local_size(); }
  /// Leading dimension of the local column-major array (at least 1, as ScaLAPACK wants).
  int local_ld() const { return local_rows() > 0 ? local_rows() : 1; }
  std::int64_t local_elements() const {
    return static_cast<std::int64_t>(local_rows()) * local_cols();
  }

 private:
  CyclicMap rows_;
  CyclicMap cols_;
};

}  // namespace deeprfm::la
