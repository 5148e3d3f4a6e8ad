#include <deeprfm/mlp/network.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include <deeprfm/base/error.hpp>
#include <deeprfm/la/scalapack.hpp>

namespace deeprfm::mlp {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr std::uint64_t kWeightTag = 0x6d6c702d77656967ULL;       // "mlp-weig"
constexpr std::uint64_t kPermutationTag = 0x6d6c702d7065726dULL;  // "mlp-perm"

/// Uniform on [0, 1) with 53 random bits: the same on every platform (unlike
/// std::uniform_real_distribution, whose algorithm the standard leaves open).
double unit_uniform(std::mt19937_64& engine) {
  return static_cast<double>(engine() >> 11) * 0x1.0p-53;
}

void gemm(char ta, char tb, int m, int n, int k, double alpha, const double* a, int lda,
          const double* b, int ldb, double beta, double* c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // C = beta C (BLAS would do this too; spelt out to avoid passing ld 0).
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) c[static_cast<std::size_t>(j) * ldc + i] *= beta;
    return;
  }
  dgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc);
}

/// Copy the lower triangle of a column-major symmetric n x n matrix to the upper one.
void symmetrise_from_lower(double* a, int n) {
  for (int j = 0; j < n; ++j)
    for (int i = j + 1; i < n; ++i)
      a[static_cast<std::size_t>(i) * n + j] = a[static_cast<std::size_t>(j) * n + i];
}

/// Backward pass from d_output (rows x C) = dL/df. With `grad`, adds dL/dW_l to it for every
/// matrix; with `on_input_grad`, calls on_input_grad(l, dL/dH_l, ld) for every hidden layer l
/// (l = L-1 down to 0; dL/dH_0 is with respect to the network input).
template <class OnInputGrad>
void backward(const Network& net, const double* x, int ldx, Workspace& ws, double* grad,
              bool want_input_grads, OnInputGrad&& on_input_grad) {
  const Activations& act = ws.act;
  const int rows = act.rows, L = net.hidden_layers(), h = net.width(), C = net.classes();
  if (rows == 0) return;
  const std::size_t rh = static_cast<std::size_t>(rows) * h;
  ws.grad_a.resize(rh);
  ws.grad_b.resize(rh);
  double* dh = ws.grad_a.data();     // dL/dH_{l+1}, becomes dL/dZ_l in place
  double* dh_in = ws.grad_b.data();  // dL/dH_l
  // Readout: dH_L = dOut W_L; dW_L += H_L^T dOut.
  gemm('N', 'T', rows, h, C, 1.0, ws.grad_out.data(), rows, net.weight(L), h, 0.0, dh, rows);
  if (grad != nullptr)
    gemm('T', 'N', h, C, rows, 1.0, act.hidden[L - 1].data(), rows, ws.grad_out.data(), rows, 1.0,
         grad + net.offset(L), h);
  for (int l = L - 1; l >= 0; --l) {
    // dZ_l = dH_{l+1} * 1[Z_l > 0]  (H_{l+1} = ReLU(Z_l) > 0 exactly where Z_l > 0).
    const double* hl1 = act.hidden[static_cast<std::size_t>(l)].data();
    for (std::size_t i = 0; i < rh; ++i)
      if (!(hl1[i] > 0)) dh[i] = 0.0;
    const int in = net.in_dim(l);
    const double* input = l == 0 ? x : act.hidden[static_cast<std::size_t>(l - 1)].data();
    const int ld_input = l == 0 ? ldx : rows;
    if (grad != nullptr)
      gemm('T', 'N', in, h, rows, 1.0, input, ld_input, dh, rows, 1.0, grad + net.offset(l), in);
    if (l == 0 && !want_input_grads) break;
    double* target = dh_in;
    if (l == 0) {
      ws.input_grad.resize(static_cast<std::size_t>(rows) * in);
      target = ws.input_grad.data();
    }
    // dH_l = dZ_l W_l.
    gemm('N', 'T', rows, in, h, 1.0, dh, rows, net.weight(l), in, 0.0, target, rows);
    if (want_input_grads) on_input_grad(l, static_cast<const double*>(target), rows);
    std::swap(dh, dh_in);
  }
}

}  // namespace

Network::Network(int input_dim, int width, int hidden_layers, int classes)
    : input_dim_(input_dim), width_(width), hidden_layers_(hidden_layers), classes_(classes) {
  DEEPRFM_CHECK(input_dim >= 1 && width >= 1 && hidden_layers >= 1 && classes >= 1, input,
                "network shape must be positive (input " << input_dim << ", width " << width
                                                         << ", layers " << hidden_layers
                                                         << ", classes " << classes << ")");
  for (int l = 0; l < matrices(); ++l)
    offsets_.push_back(offsets_.back() + static_cast<std::size_t>(out_dim(l)) * in_dim(l));
  parameters_.assign(offsets_.back(), 0.0);
}

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t tag, std::uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ tag) ^ index);
}

Network make_network(int input_dim, int width, int hidden_layers, int classes, double gain,
                     std::uint64_t seed) {
  Network net(input_dim, width, hidden_layers, classes);
  for (int l = 0; l < net.matrices(); ++l) {
    const int in = net.in_dim(l), out = net.out_dim(l);
    const double bound = l < hidden_layers ? gain * std::sqrt(6.0 / (in + out))
                                           : 1.0 / std::sqrt(static_cast<double>(in));
    std::mt19937_64 engine(mix_seed(seed, kWeightTag, static_cast<std::uint64_t>(l)));
    double* w = net.weight(l);
    const std::size_t count = static_cast<std::size_t>(in) * out;
    for (std::size_t i = 0; i < count; ++i) w[i] = bound * (2.0 * unit_uniform(engine) - 1.0);
  }
  return net;
}

std::vector<int> epoch_permutation(int n, std::uint64_t seed, int epoch) {
  std::vector<int> perm(static_cast<std::size_t>(std::max(n, 0)));
  for (int i = 0; i < n; ++i) perm[static_cast<std::size_t>(i)] = i;
  std::mt19937_64 engine(mix_seed(seed, kPermutationTag, static_cast<std::uint64_t>(epoch)));
  for (int i = n - 1; i > 0; --i) {
    // Modulo of 64 random bits: the bias (< n / 2^64) is far below anything measurable.
    const auto j = static_cast<int>(engine() % static_cast<std::uint64_t>(i + 1));
    std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
  }
  return perm;
}

void forward(const Network& net, const double* x, int rows, int ldx, Activations& act) {
  const int L = net.hidden_layers(), h = net.width(), C = net.classes();
  act.rows = rows;
  act.hidden.resize(static_cast<std::size_t>(L));
  const double* in = x;
  int ld = ldx;
  for (int l = 0; l < L; ++l) {
    auto& out = act.hidden[static_cast<std::size_t>(l)];
    out.resize(static_cast<std::size_t>(rows) * h);
    gemm('N', 'N', rows, h, net.in_dim(l), 1.0, in, ld, net.weight(l), net.in_dim(l), 0.0,
         out.data(), std::max(rows, 1));
    for (auto& v : out) v = v > 0 ? v : 0.0;
    in = out.data();
    ld = std::max(rows, 1);
  }
  act.output.resize(static_cast<std::size_t>(rows) * C);
  gemm('N', 'N', rows, C, h, 1.0, in, ld, net.weight(L), h, 0.0, act.output.data(),
       std::max(rows, 1));
}

double accumulate_mse_gradient(const Network& net, const double* x, int rows, int ldx,
                               const int* labels, int batch_rows, double* grad, Workspace& ws) {
  if (rows == 0) return 0.0;
  const int C = net.classes();
  forward(net, x, rows, ldx, ws.act);
  ws.grad_out.resize(static_cast<std::size_t>(rows) * C);
  const double scale = 2.0 / (static_cast<double>(batch_rows) * C);
  double sse = 0;
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < rows; ++i) {
      const std::size_t k = static_cast<std::size_t>(c) * rows + i;
      const double r = ws.act.output[k] - (labels[i] == c ? 1.0 : -1.0);
      sse += r * r;
      ws.grad_out[k] = scale * r;
    }
  backward(net, x, ldx, ws, grad, false, [](int, const double*, int) {});
  return sse;
}

void accumulate_agop(const Network& net, const double* x, int rows, int ldx,
                     std::vector<std::vector<double>>& agop, Workspace& ws) {
  const int L = net.hidden_layers(), C = net.classes();
  agop.resize(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l)
    agop[static_cast<std::size_t>(l)].resize(static_cast<std::size_t>(net.in_dim(l)) *
                                             net.in_dim(l));
  if (rows == 0) return;
  forward(net, x, rows, ldx, ws.act);
  ws.grad_out.resize(static_cast<std::size_t>(rows) * C);
  const char uplo = 'L', trans = 'T';
  const double one = 1.0;
  for (int c = 0; c < C; ++c) {
    // Backpropagate the unit vector e_c from every sample at once: row i of dH_l is then
    // row c of J_{i,l}, and dH_l^T dH_l adds that row's outer products for all i.
    std::fill(ws.grad_out.begin(), ws.grad_out.end(), 0.0);
    std::fill(ws.grad_out.begin() + static_cast<std::ptrdiff_t>(c) * rows,
              ws.grad_out.begin() + static_cast<std::ptrdiff_t>(c + 1) * rows, 1.0);
    backward(net, x, ldx, ws, nullptr, true, [&](int l, const double* dh, int ld) {
      int in = net.in_dim(l);
      dsyrk_(&uplo, &trans, &in, &rows, &one, dh, &ld, &one,
             agop[static_cast<std::size_t>(l)].data(), &in);
    });
  }
  for (int l = 0; l < L; ++l)
    symmetrise_from_lower(agop[static_cast<std::size_t>(l)].data(), net.in_dim(l));
}

std::vector<double> weight_gram(const Network& net, int l) {
  int in = net.in_dim(l), out = net.out_dim(l);
  std::vector<double> g(static_cast<std::size_t>(in) * in, 0.0);
  const char uplo = 'L', trans = 'N';
  const double one = 1.0, zero = 0.0;
  dsyrk_(&uplo, &trans, &in, &out, &one, net.weight(l), &in, &zero, g.data(), &in);
  symmetrise_from_lower(g.data(), in);
  return g;
}

}  // namespace deeprfm::mlp
