#include <deeprfm/la/dist_matrix.hpp>

#include <algorithm>

#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::la {

template <class T>
DistMatrix<T>::DistMatrix(const la::ProcessGrid& grid, int global_rows, int global_cols, int block)
    : DistMatrix(grid, global_rows, global_cols, block, block) {}

template <class T>
DistMatrix<T>::DistMatrix(const la::ProcessGrid& grid, int global_rows, int global_cols,
                          int row_block, int col_block)
    : grid_(&grid),
      dist_(global_rows, global_cols, row_block, col_block, grid.rows(), grid.cols(), grid.my_row(),
            grid.my_col()) {
  // Fill the descriptor directly: descinit_ rejects m = 0 or n = 0 matrices, which we allow.
  desc_ = {1, grid.context(),  global_rows, global_cols, row_block, col_block, 0,
           0, dist_.local_ld()};
  local_.assign(static_cast<std::size_t>(dist_.local_ld()) * std::max(dist_.local_cols(), 0), T(0));
}

template <class T>
void DistMatrix<T>::fill(T value) {
  std::fill(local_.begin(), local_.end(), value);
}

template <class T>
void DistMatrix<T>::reset() {
  std::vector<T>().swap(local_);
  dist_ = Distribution(0, 0, 1, 1, 1, 1, 0, 0);
  desc_[2] = desc_[3] = 0;
}

template class DistMatrix<double>;
template class DistMatrix<float>;

std::vector<double> replicate(const DistMatrix<double>& a) {
  std::vector<double> out(static_cast<std::size_t>(a.rows()) * a.cols(), 0.0);
  a.for_each_local([&](int gi, int gj, const double& v) {
    out[static_cast<std::size_t>(gi) * a.cols() + gj] = v;
  });
  a.grid().full().sum_in_place(out.data(), out.size());
  return out;
}

void assign_from_replicated(DistMatrix<double>& a, const double* row_major) {
  const int cols = a.cols();
  a.for_each_local(
      [&](int gi, int gj, double& v) { v = row_major[static_cast<std::size_t>(gi) * cols + gj]; });
}

}  // namespace deeprfm::la
