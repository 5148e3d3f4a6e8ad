// Built against an installed deeprfm (tests/install/test_install.sh): a 7 x 5 matrix in 2 x 2
// blocks, block-cyclic on a BLACS grid over every rank, filled locally from global indices, then
// replicated on every rank (collective) and checked element by element everywhere.
#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/mpi/environment.hpp>

#include <cstdint>
#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  deeprfm::mpi::Environment env(&argc, &argv);
  const deeprfm::mpi::Communicator world = deeprfm::mpi::Communicator::world();
  const deeprfm::la::GridShape shape = deeprfm::la::most_square_shape(world.size());
  const deeprfm::la::ProcessGrid grid(world, shape);

  constexpr int kRows = 7, kCols = 5, kBlock = 2;
  deeprfm::la::DistMatrix<double> a(grid, kRows, kCols, kBlock);
  a.for_each_local([](int i, int j, double& value) { value = 100.0 * i + j; });
  const std::vector<double> all = deeprfm::la::replicate(a);

  bool ok = all.size() == static_cast<std::size_t>(kRows) * kCols;
  for (int i = 0; ok && i < kRows; ++i)
    for (int j = 0; j < kCols; ++j)
      ok = ok && all[static_cast<std::size_t>(i) * kCols + j] == 100.0 * i + j;
  const std::int64_t local = static_cast<std::int64_t>(a.local_rows()) * a.local_cols();
  const bool all_ok = world.all_of(ok) && world.sum(local) == std::int64_t{kRows} * kCols;

  if (world.rank() == 0) {
    std::printf("deeprfm-consumer: %d ranks, grid %s, %dx%d matrix in %dx%d blocks: %s\n",
                world.size(), shape.str().c_str(), kRows, kCols, kBlock, kBlock,
                all_ok ? "every element in place on every rank" : "WRONG");
  }
  return all_ok ? 0 : 1;
}
