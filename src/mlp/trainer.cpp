#include <deeprfm/mlp/trainer.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <deeprfm/base/error.hpp>
#include <deeprfm/mpi/timer.hpp>
#include <deeprfm/mlp/row_shards.hpp>
#include <deeprfm/la/matrix_sqrt.hpp>

namespace deeprfm::mlp {

namespace {

const MlpConfig& validated(const MlpConfig& config) {
  config.validate();
  return config;
}

std::unique_ptr<la::ProcessGrid> column_grid_for(const data::TrainTest& data) {
  const mpi::Communicator& comm = data.train.x.grid().full();
  return std::make_unique<la::ProcessGrid>(comm, la::GridShape{comm.size(), 1});
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

Trainer::Trainer(const MlpConfig& config, const data::TrainTest& data)
    : config_(validated(config)),
      n_(data.train.n()),
      n_test_(data.test.n()),
      classes_(data.train.classes),
      column_grid_(column_grid_for(data)),
      x_(to_row_shards(data.train.x, *column_grid_)),
      x_test_(n_test_ > 0 ? to_row_shards(data.test.x, *column_grid_)
                          : make_row_sharded(*column_grid_, 0, data.train.dim())),
      labels_(data.train.labels),
      test_labels_(data.test.labels),
      net_(make_network(data.train.dim(), config.hidden_width, config.hidden_layers,
                        data.train.classes, config.init_gain, config.seed)),
      optimizer_(config, net_.parameter_count()) {
  DEEPRFM_CHECK(n_ >= 1, input, "the training set is empty");
}

Trainer::~Trainer() = default;

void Trainer::set_parameters(const std::vector<double>& params) {
  DEEPRFM_CHECK(params.size() == net_.parameter_count(), input,
                "set_parameters: " << params.size() << " values for " << net_.parameter_count()
                                   << " parameters");
  net_.parameters() = params;
}

void Trainer::restore(const std::vector<double>& params, const std::vector<double>& first_moment,
                      const std::vector<double>& second_moment, long steps) {
  set_parameters(params);
  optimizer_.set_state(first_moment, second_moment, steps);
}

EpochRecord Trainer::train_epoch(int epoch, bool evaluate_after) {
  const double start = wall_seconds();
  const mpi::Communicator& comm = column_grid_->full();
  const int d = net_.input_dim(), batch = config_.batch_size;
  const int block = x_.dist().rows().block();
  const int me = column_grid_->my_row(), first = me * block;
  const int ld = x_.ld();
  const std::size_t count = net_.parameter_count();
  const std::vector<int> perm = epoch_permutation(n_, config_.seed, epoch);
  std::vector<int> local_rows;
  double sse_total = 0;
  for (int begin = 0; begin < n_; begin += batch) {
    const int size = std::min(batch, n_ - begin);
    // The global minibatch is perm[begin, begin + size); this rank takes the rows it holds.
    local_rows.clear();
    batch_labels_.clear();
    for (int k = begin; k < begin + size; ++k) {
      const int g = perm[static_cast<std::size_t>(k)];
      if (g / block != me) continue;
      local_rows.push_back(g - first);
      batch_labels_.push_back(labels_[static_cast<std::size_t>(g)]);
    }
    const int rows = static_cast<int>(local_rows.size());
    batch_x_.resize(static_cast<std::size_t>(rows) * d);
    for (int j = 0; j < d; ++j) {
      const double* src = x_.data() + static_cast<std::size_t>(j) * ld;
      double* dst = batch_x_.data() + static_cast<std::size_t>(j) * rows;
      for (int i = 0; i < rows; ++i) dst[i] = src[local_rows[static_cast<std::size_t>(i)]];
    }
    grad_.assign(count + 1, 0.0);
    grad_[count] = accumulate_mse_gradient(net_, batch_x_.data(), rows, std::max(rows, 1),
                                           batch_labels_.data(), size, grad_.data(), ws_);
    // The one reduction of the step: every layer's gradient and the loss, packed.
    comm.sum_in_place(grad_.data(), grad_.size());
    sse_total += grad_[count];
    optimizer_.step(net_.parameters(), grad_.data());
  }
  EpochRecord record;
  record.epoch = epoch;
  record.running_loss = sse_total / (static_cast<double>(n_) * classes_);
  // Agreed: every rank takes the same branch and throws the same (agreed) error, so main
  // prints one line and every rank exits with code 3 (no MPI_Abort).
  if (!comm.all_of(std::isfinite(record.running_loss))) {
    std::ostringstream os;
    os << "the training loss became " << record.running_loss << " in epoch " << epoch
       << "; lower the learning rate or the initialisation gain";
    throw Error(ErrorKind::numerical, os.str(), __FILE__, __LINE__, /*agreed=*/true,
                "lr,init-gain");
  }
  record.seconds = wall_seconds() - start;
  if (evaluate_after) {
    record.evaluated = true;
    record.eval = evaluate();
  }
  return record;
}

void Trainer::score_outputs(const double* output, int rows, int ld, int first_row,
                            const std::vector<int>& labels, double& sse, double& correct) const {
  const int C = classes_;
  for (int i = 0; i < rows; ++i) {
    const int label = labels[static_cast<std::size_t>(first_row + i)];
    int best = -1;
    double best_value = -std::numeric_limits<double>::infinity();
    for (int c = 0; c < C; ++c) {
      const double f = output[static_cast<std::size_t>(c) * ld + i];
      const double r = f - (label == c ? 1.0 : -1.0);
      sse += r * r;
      if (f > best_value) {  // NaN never wins; ties go to the first class
        best_value = f;
        best = c;
      }
    }
    if (best == label) correct += 1;
  }
}

void Trainer::score_local(const la::DistMatrix<double>& x, const std::vector<int>& labels,
                          double& sse, double& correct) const {
  const int local = x.local_rows(), chunk = config_.agop_chunk_rows;
  const int first = local > 0 ? x.global_row(0) : 0;
  for (int begin = 0; begin < local; begin += chunk) {
    const int rows = std::min(chunk, local - begin);
    forward(net_, x.data() + begin, rows, x.ld(), ws_.act);
    score_outputs(ws_.act.output.data(), rows, rows, first + begin, labels, sse, correct);
  }
}

Evaluation Trainer::evaluate() const {
  double sums[4] = {0, 0, 0, 0};
  score_local(x_, labels_, sums[0], sums[1]);
  if (n_test_ > 0) score_local(x_test_, test_labels_, sums[2], sums[3]);
  column_grid_->full().sum_in_place(sums, 4);
  Evaluation e;
  e.train_loss = sums[0] / (static_cast<double>(n_) * classes_);
  e.train_accuracy = sums[1] / n_;
  e.test_loss = n_test_ > 0 ? sums[2] / (static_cast<double>(n_test_) * classes_) : kNaN;
  e.test_accuracy = n_test_ > 0 ? sums[3] / n_test_ : kNaN;
  return e;
}

Measurement Trainer::measure(int epoch) const {
  const double start = wall_seconds();
  const mpi::Communicator& comm = column_grid_->full();
  const int L = net_.hidden_layers(), h = net_.width(), C = classes_;
  Measurement m;
  m.epoch = epoch;

  // Features of the whole training set at every layer, in the row-sharded layout (a P x 1
  // block-cyclic matrix, which is what the metrics take): H_{l+1} = ReLU(H_l W_l^T).
  std::vector<la::DistMatrix<double>> hidden;
  hidden.reserve(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l) {
    hidden.push_back(make_row_sharded(*column_grid_, n_, h));
    const la::DistMatrix<double>& in = l == 0 ? x_ : hidden[static_cast<std::size_t>(l - 1)];
    multiply_rows_local(in, net_.weight(l), h, net_.in_dim(l), true, hidden.back());
  }
  {
    la::DistMatrix<double> output = make_row_sharded(*column_grid_, n_, C);
    multiply_rows_local(hidden.back(), net_.weight(L), C, h, false, output);
    double sums[4] = {0, 0, 0, 0};
    if (output.local_rows() > 0)
      score_outputs(output.data(), output.local_rows(), output.ld(), output.global_row(0), labels_,
                    sums[0], sums[1]);
    if (n_test_ > 0) score_local(x_test_, test_labels_, sums[2], sums[3]);
    comm.sum_in_place(sums, 4);
    m.eval.train_loss = sums[0] / (static_cast<double>(n_) * C);
    m.eval.train_accuracy = sums[1] / n_;
    m.eval.test_loss = n_test_ > 0 ? sums[2] / (static_cast<double>(n_test_) * C) : kNaN;
    m.eval.test_accuracy = n_test_ > 0 ? sums[3] / n_test_ : kNaN;
  }

  // AGOP of the network output with respect to every hidden layer's input: C batched
  // backward passes per chunk of local rows, then one reduction of all layers at once.
  std::vector<std::vector<double>> agop(static_cast<std::size_t>(L));
  std::vector<std::size_t> offsets{0};
  for (int l = 0; l < L; ++l) {
    const std::size_t size = static_cast<std::size_t>(net_.in_dim(l)) * net_.in_dim(l);
    agop[static_cast<std::size_t>(l)].assign(size, 0.0);
    offsets.push_back(offsets.back() + size);
  }
  const int local = x_.local_rows(), chunk = config_.agop_chunk_rows;
  for (int begin = 0; begin < local; begin += chunk)
    accumulate_agop(net_, x_.data() + begin, std::min(chunk, local - begin), x_.ld(), agop, ws_);
  std::vector<double> packed(offsets.back());
  for (int l = 0; l < L; ++l)
    std::copy(agop[static_cast<std::size_t>(l)].begin(), agop[static_cast<std::size_t>(l)].end(),
              packed.begin() + static_cast<std::ptrdiff_t>(offsets[static_cast<std::size_t>(l)]));
  comm.sum_in_place(packed.data(), packed.size());
  // Rank 0's sums for everyone, so that every derived number is bitwise the same everywhere.
  comm.broadcast(packed.data(), packed.size(), 0);

  for (int l = 0; l < L; ++l) {
    LayerMeasurement lm;
    lm.layer = l;
    lm.dim_in = net_.in_dim(l);
    lm.dim_out = net_.out_dim(l);
    const std::size_t size = static_cast<std::size_t>(lm.dim_in) * lm.dim_in;
    lm.agop.assign(
        packed.begin() + static_cast<std::ptrdiff_t>(offsets[static_cast<std::size_t>(l)]),
        packed.begin() + static_cast<std::ptrdiff_t>(offsets[static_cast<std::size_t>(l)] + size));
    for (auto& v : lm.agop) v /= n_;
    const std::vector<double> w(net_.weight(l),
                                net_.weight(l) + static_cast<std::size_t>(lm.dim_out) * lm.dim_in);
    const la::DistMatrix<double>& in = l == 0 ? x_ : hidden[static_cast<std::size_t>(l - 1)];
    lm.collapse = layer_collapse(in, w, lm.dim_out, lm.dim_in, labels_, C,
                                 &hidden[static_cast<std::size_t>(l)]);
    const std::vector<double> gram = weight_gram(net_, l);
    const la::MatrixSqrt root = la::symmetric_sqrt(lm.agop, lm.dim_in, comm);
    double nfa[4] = {pearson(gram, lm.agop), pearson(gram, root.sqrt), cosine(gram, lm.agop),
                     cosine(gram, root.sqrt)};
    comm.broadcast(nfa, 4, 0);
    lm.nfa_corr = nfa[0];
    lm.nfa_corr_sqrt = nfa[1];
    lm.nfa_cos = nfa[2];
    lm.nfa_cos_sqrt = nfa[3];
    m.layers.push_back(std::move(lm));
  }
  double seconds = wall_seconds() - start;
  comm.broadcast(&seconds, 1, 0);
  m.seconds = seconds;
  return m;
}

}  // namespace deeprfm::mlp
