#pragma once
/// The 2D BLACS process grid: a BLACS context (RAII) plus the full, row and column
/// communicators, in row-major rank order (rank = row * cols + col).
#include <string>
#include <utility>

#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::la {

/// Grid shape (process rows x process columns).
struct GridShape {
  int rows = 1;
  int cols = 1;
  std::string str() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};

/// The most square shape for P ranks with rows <= cols (1x2 for 2, 2x2 for 4, 2x3 for 6).
/// Local.
GridShape most_square_shape(int ranks);

/// Parse "PrxPc" (e.g. "2x3"). Throws Error(input) on a malformed string. Local.
GridShape parse_grid_shape(const std::string& text);

/// A BLACS process grid over a communicator. Owns the BLACS context (Cblacs_gridexit on
/// destruction) and its row/column communicators. Non-copyable.
class ProcessGrid {
 public:
  /// Build a grid of the given shape over `comm`; rows*cols must equal comm.size() (checked on
  /// every rank, so every rank throws the same error). Collective over `comm`.
  ProcessGrid(const mpi::Communicator& comm, GridShape shape);
  ~ProcessGrid();
  ProcessGrid(const ProcessGrid&) = delete;
  ProcessGrid& operator=(const ProcessGrid&) = delete;

  int context() const { return context_; }
  GridShape shape() const { return shape_; }
  int rows() const { return shape_.rows; }
  int cols() const { return shape_.cols; }
  int my_row() const { return my_row_; }
  int my_col() const { return my_col_; }
  /// All ranks of the grid (a duplicate of the communicator it was built from).
  const mpi::Communicator& full() const { return full_; }
  /// The ranks of my process row (size cols(), rank = my_col()).
  const mpi::Communicator& row_comm() const { return row_comm_; }
  /// The ranks of my process column (size rows(), rank = my_row()).
  const mpi::Communicator& col_comm() const { return col_comm_; }

 private:
  GridShape shape_;
  int context_ = -1;
  int my_row_ = 0;
  int my_col_ = 0;
  mpi::Communicator full_;
  mpi::Communicator row_comm_;
  mpi::Communicator col_comm_;
};

}  // namespace deeprfm::la
