#pragma once
/// A dense matrix distributed block-cyclically over a ProcessGrid: the local column-major
/// array, its Distribution and its ScaLAPACK descriptor.
#include <array>
#include <cstdint>
#include <vector>

#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/la/distribution.hpp>

namespace deeprfm::la {

/// Default block size (see docs/performance.md for why).
inline constexpr int kDefaultBlockSize = 256;

/// A distributed dense matrix of T (double or float). Owns its local storage. The grid must
/// outlive the matrix. Construction and destruction are local (no communication).
template <class T>
class DistMatrix {
 public:
  DistMatrix() = default;
  /// A zero-filled global_rows x global_cols matrix in blocks of block x block. Local.
  DistMatrix(const la::ProcessGrid& grid, int global_rows, int global_cols,
             int block = kDefaultBlockSize);
  /// Same, with separate row and column block sizes. Local.
  DistMatrix(const la::ProcessGrid& grid, int global_rows, int global_cols, int row_block,
             int col_block);

  const la::ProcessGrid& grid() const { return *grid_; }
  const Distribution& dist() const { return dist_; }
  int rows() const { return dist_.global_rows(); }
  int cols() const { return dist_.global_cols(); }
  int local_rows() const { return dist_.local_rows(); }
  int local_cols() const { return dist_.local_cols(); }
  int ld() const { return dist_.local_ld(); }
  const int* desc() const { return desc_.data(); }

  T* data() { return local_.data(); }
  const T* data() const { return local_.data(); }
  /// Element at local indices (column-major). Local.
  T& local(int li, int lj) { return local_[static_cast<std::size_t>(lj) * ld() + li]; }
  const T& local(int li, int lj) const { return local_[static_cast<std::size_t>(lj) * ld() + li]; }
  /// Global row/column index of a local one. Local.
  int global_row(int li) const { return dist_.rows().to_global(LocalIndex(li)).value; }
  int global_col(int lj) const { return dist_.cols().to_global(LocalIndex(lj)).value; }

  /// Set every local element. Local.
  void fill(T value);
  /// Visit every local element as f(global_row, global_col, T& value). Local.
  template <class F>
  void for_each_local(F&& f) {
    for (int lj = 0; lj < local_cols(); ++lj) {
      const int gj = global_col(lj);
      for (int li = 0; li < local_rows(); ++li) f(global_row(li), gj, local(li, lj));
    }
  }
  template <class F>
  void for_each_local(F&& f) const {
    for (int lj = 0; lj < local_cols(); ++lj) {
      const int gj = global_col(lj);
      for (int li = 0; li < local_rows(); ++li) f(global_row(li), gj, local(li, lj));
    }
  }

  /// Release the storage (rows()/cols() become 0). Local.
  void reset();

 private:
  const la::ProcessGrid* grid_ = nullptr;
  Distribution dist_;
  std::array<int, 9> desc_{};
  std::vector<T> local_;
};

/// Every element of `a` on every rank, as a row-major rows() x cols() array. Only for small
/// matrices (n x C, d x d): it allocates the whole matrix on every rank. Collective.
std::vector<double> replicate(const DistMatrix<double>& a);

/// Fill a distributed matrix from a row-major array that every rank holds whole. Local.
void assign_from_replicated(DistMatrix<double>& a, const double* row_major);

extern template class DistMatrix<double>;
extern template class DistMatrix<float>;

}  // namespace deeprfm::la
