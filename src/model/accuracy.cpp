// accuracy() of include/deeprfm/model/neural_collapse.hpp: argmax by a max-loc reduction over
// each process row, so the n x C prediction matrix is never replicated.
#include <mpi.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <deeprfm/mpi/communicator.hpp>
#include <deeprfm/base/error.hpp>
#include <deeprfm/model/neural_collapse.hpp>

namespace deeprfm::model {

double accuracy(const la::DistMatrix<double>& predictions, const std::vector<int>& labels) {
  const int n = predictions.rows();
  const int classes = predictions.cols();
  // Labels are replicated and the sizes global: every rank reaches the same verdict, so a local
  // check throws the same error everywhere before any collective call.
  DEEPRFM_CHECK(static_cast<std::int64_t>(labels.size()) == n, input,
                "accuracy: " << labels.size() << " labels for " << n << " predictions");
  for (std::size_t i = 0; i < labels.size(); ++i)
    DEEPRFM_CHECK(labels[i] >= 0 && labels[i] < classes, input,
                  "accuracy: label " << labels[i] << " of sample " << i << " is outside [0, "
                                     << classes << ")");
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();

  // Local argmax of each local row over my columns. Local columns run in increasing global
  // order, so a strict '>' keeps the first maximum; NaN never compares greater. A rank without
  // columns (or a row of NaNs) offers (-inf, INT_MAX), which loses to every real candidate.
  struct ValueIndex {
    double value;
    int index;
  };
  const int lr = predictions.local_rows();
  const int lc = predictions.local_cols();
  std::vector<ValueIndex> best(static_cast<std::size_t>(lr),
                               ValueIndex{-std::numeric_limits<double>::infinity(), INT_MAX});
  for (int lj = 0; lj < lc; ++lj) {
    const int gj = predictions.global_col(lj);
    for (int li = 0; li < lr; ++li) {
      const double x = predictions.local(li, lj);
      ValueIndex& b = best[static_cast<std::size_t>(li)];
      if (x > b.value || (x == b.value && gj < b.index)) b = ValueIndex{x, gj};
    }
  }
  // MPI_MAXLOC resolves equal values to the smaller index: exactly "first max on ties" across
  // process columns. Column 0 of each process row receives the row's complete argmax.
  const auto& grid = predictions.grid();
  std::vector<ValueIndex> reduced(static_cast<std::size_t>(lr));
  const int rc = MPI_Reduce(best.data(), reduced.data(), lr, MPI_DOUBLE_INT, MPI_MAXLOC, 0,
                            grid.row_comm().get());
  mpi::check(rc, "MPI_Reduce (accuracy)");

  std::int64_t correct = 0;
  if (grid.my_col() == 0)
    for (int li = 0; li < lr; ++li)
      if (reduced[static_cast<std::size_t>(li)].index ==
          labels[static_cast<std::size_t>(predictions.global_row(li))])
        ++correct;
  correct = grid.full().sum(correct);  // integer sum: the same on every rank
  return static_cast<double>(correct) / n;
}

}  // namespace deeprfm::model
