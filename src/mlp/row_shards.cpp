#include <deeprfm/mlp/row_shards.hpp>

#include <algorithm>

#include <deeprfm/base/error.hpp>
#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::mlp {

int shard_block(int n, int ranks) { return std::max(1, (n + ranks - 1) / std::max(ranks, 1)); }

la::DistMatrix<double> make_row_sharded(const la::ProcessGrid& column_grid, int n, int cols) {
  DEEPRFM_ASSERT(column_grid.cols() == 1);
  return la::DistMatrix<double>(column_grid, n, cols, shard_block(n, column_grid.rows()),
                                std::max(cols, 1));
}

la::DistMatrix<double> to_row_shards(const la::DistMatrix<double>& a,
                                     const la::ProcessGrid& column_grid) {
  DEEPRFM_ASSERT(a.grid().full().size() == column_grid.full().size());
  la::DistMatrix<double> out = make_row_sharded(column_grid, a.rows(), a.cols());
  la::scalapack::gemr2d(a, out, a.grid().context());
  return out;
}

}  // namespace deeprfm::mlp
