#include <deeprfm/la/process_grid.hpp>

#include <cmath>
#include <regex>

#include <deeprfm/mpi/communicator.hpp>
#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::la {

GridShape most_square_shape(int ranks) {
  DEEPRFM_CHECK(ranks >= 1, input, "the number of ranks must be positive");
  int rows = static_cast<int>(std::sqrt(static_cast<double>(ranks)));
  while (rows > 1 && ranks % rows != 0) --rows;
  return GridShape{rows, ranks / rows};
}

GridShape parse_grid_shape(const std::string& text) {
  static const std::regex pattern(R"(^\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*$)");
  std::smatch m;
  DEEPRFM_CHECK_ABOUT(std::regex_match(text, m, pattern), input, "grid",
                      "process grid '" << text << "' is not of the form PrxPc (e.g. 2x2)");
  GridShape shape{std::stoi(m[1]), std::stoi(m[2])};
  DEEPRFM_CHECK_ABOUT(shape.rows >= 1 && shape.cols >= 1, input, "grid",
                      "process grid '" << text << "' needs at least one process row and column");
  return shape;
}

ProcessGrid::ProcessGrid(const mpi::Communicator& comm, GridShape shape) : shape_(shape) {
  DEEPRFM_CHECK_ABOUT(shape.rows * shape.cols == comm.size(), input, "grid",
                      "process grid " << shape.str() << " has " << shape.rows * shape.cols
                                      << " processes but the job has " << comm.size()
                                      << " MPI ranks");
  MPI_Comm dup = MPI_COMM_NULL;
  mpi::check(MPI_Comm_dup(comm.get(), &dup), "MPI_Comm_dup");
  full_ = mpi::Communicator(dup, true);
  const int system_handle = Csys2blacs_handle(full_.get());
  context_ = system_handle;
  char order[] = "Row";
  Cblacs_gridinit(&context_, order, shape.rows, shape.cols);
  Cfree_blacs_system_handle(system_handle);  // the grid keeps its own copy
  int nprow = 0, npcol = 0;
  Cblacs_gridinfo(context_, &nprow, &npcol, &my_row_, &my_col_);
  DEEPRFM_ASSERT(nprow == shape.rows && npcol == shape.cols);
  DEEPRFM_ASSERT(my_row_ * shape.cols + my_col_ == full_.rank());
  row_comm_ = full_.split(my_row_, my_col_);
  col_comm_ = full_.split(my_col_, my_row_);
}

ProcessGrid::~ProcessGrid() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (context_ >= 0 && !finalized) Cblacs_gridexit(context_);
}

}  // namespace deeprfm::la
