#pragma once
/// The row-sharded layout of data-parallel training: a P x 1 process grid whose rank p holds
/// the contiguous rows [p * b, min(n, (p + 1) * b)), b = ceil(n / P), with every column.
#include <memory>

#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/la/dist_matrix.hpp>

namespace deeprfm::mlp {

/// Row block ceil(n / P) (at least 1): the block size of the row-sharded layout. Local.
int shard_block(int n, int ranks);

/// A zero n x cols matrix in the row-sharded layout on `column_grid` (a P x 1 grid). Local.
la::DistMatrix<double> make_row_sharded(const la::ProcessGrid& column_grid, int n, int cols);

/// Copy a block-cyclic matrix (any grid over the same ranks) into the row-sharded layout on
/// `column_grid` with ScaLAPACK pdgemr2d (the context of a's grid covers every rank). One
/// redistribution; global row order is kept. Collective over both grids' ranks.
la::DistMatrix<double> to_row_shards(const la::DistMatrix<double>& a,
                                     const la::ProcessGrid& column_grid);

}  // namespace deeprfm::mlp
