#pragma once
/// The kernel functions of Deep RFM (docs/numerics.md §3) as functions of the distance
/// r = ||x - z||: the value k(r), and the gradient weight w(r) with
///   d k(x, z) / dx = t * w(r) * (z - x),  t = 1/s (Laplace) or 1/s^2 (Gaussian).
/// All functions are local and pure.
#include <cmath>
#include <string>

namespace deeprfm::model {

enum class KernelKind { laplace, gaussian };

/// Below this distance a Laplace pair's gradient is undefined and the pair is dropped from the
/// AGOP (the authors' code drops it too).
inline constexpr double kLaplaceGradientCutoff = 1e-10;

/// Parse "laplace" / "gaussian"; throws Error(input) otherwise. Local.
KernelKind parse_kernel_kind(const std::string& text);
/// "laplace" / "gaussian". Local.
std::string to_string(KernelKind kind);

/// A kernel with its bandwidth s > 0.
struct Kernel {
  KernelKind kind = KernelKind::laplace;
  double bandwidth = 2.0;

  /// k from the squared distance r2 (and the distance r = sqrt(r2)).
  double value(double r2) const {
    return kind == KernelKind::laplace ? std::exp(-std::sqrt(r2) / bandwidth)
                                       : std::exp(-r2 / (2.0 * bandwidth * bandwidth));
  }
  /// The gradient weight w = k / r (Laplace; 0 below the cutoff) or w = k (Gaussian), from the
  /// kernel value and the squared distance.
  double gradient_weight(double k, double r2) const {
    if (kind == KernelKind::gaussian) return k;
    const double r = std::sqrt(r2);
    return r < kLaplaceGradientCutoff ? 0.0 : k / r;
  }
  /// The scalar t of the gradient: 1/s (Laplace), 1/s^2 (Gaussian).
  double gradient_scale() const {
    return kind == KernelKind::laplace ? 1.0 / bandwidth : 1.0 / (bandwidth * bandwidth);
  }
  /// Recover the squared distance from a kernel value (used to turn K into the AGOP weight
  /// matrix in place without keeping distances): r = -s log k (Laplace), r2 = -2 s^2 log k.
  /// Absolute error of r is about s * eps, so the relative error stays small for every pair
  /// above the gradient cutoff.
  double squared_distance_from_value(double k) const {
    if (k >= 1.0) return 0.0;
    const double lg = -std::log(k);
    if (kind == KernelKind::laplace) {
      const double r = bandwidth * lg;
      return r * r;
    }
    return 2.0 * bandwidth * bandwidth * lg;
  }
};

}  // namespace deeprfm::model
