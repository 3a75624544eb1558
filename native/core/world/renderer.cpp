#include "world/renderer.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/errors.h"

namespace spo::world {

namespace {

constexpr double kMargin = 0.04;      // keep every shape this far from the image edge
constexpr double kSizeJitter = 0.08;  // extent times U(1 - j, 1 + j)
constexpr double kObjectGap = 0.06;   // free space between two objects' boxes
constexpr int kSuper = 4;             // 4x4 samples a pixel for the anti-aliased edge

// splitmix64: a tiny generator whose stream is the same everywhere (std
// distributions are not specified bit-exactly across libraries).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  double uniform(double lo, double hi) {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * static_cast<double>(z >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t state_;
};

struct Placed {
  Object object;
  double cx, cy, half;  // bounding-box centre and half-side, image units
  std::array<float, 3> rgb;
};

// A uniform draw in [lo, hi], or lo when the range is empty.
double draw(Rng& rng, double lo, double hi) { return hi > lo ? rng.uniform(lo, hi) : lo; }

void place_one(Rng& rng, Position p, Placed& o) {
  const double lo = o.half + kMargin, hi = 1.0 - o.half - kMargin;
  const double near = kRegionEdge - 0.07;  // region centres well inside the judge's 0.4 line
  auto mid = [&](double spread) { return draw(rng, std::max(lo, 0.5 - spread), std::min(hi, 0.5 + spread)); };
  switch (p) {
    case Position::Left: o.cx = draw(rng, lo, near), o.cy = mid(0.12); break;
    case Position::Right: o.cx = draw(rng, 1.0 - near, hi), o.cy = mid(0.12); break;
    case Position::Top: o.cy = draw(rng, lo, near), o.cx = mid(0.12); break;
    case Position::Bottom: o.cy = draw(rng, 1.0 - near, hi), o.cx = mid(0.12); break;
    case Position::Centre: o.cx = mid(0.05), o.cy = mid(0.05); break;
    default: o.cx = draw(rng, lo, hi), o.cy = draw(rng, lo, hi);
  }
}

// `first` before `second` along one axis (above: y; left of: x), nearly aligned on the other.
void place_two(Rng& rng, Relation r, Placed& a, Placed& b) {
  Placed& lead = (r == Relation::Above || r == Relation::LeftOf) ? a : b;
  Placed& trail = (&lead == &a) ? b : a;
  const double dmin = lead.half + trail.half + kObjectGap, dmax = 1.0 - 2 * kMargin - lead.half - trail.half;
  const double d = draw(rng, dmin, dmax);
  const double along = draw(rng, lead.half + kMargin, 1.0 - kMargin - trail.half - d);
  const double big = std::max(a.half, b.half) + kMargin;
  const double base = draw(rng, big, 1.0 - big);
  auto across = [&](const Placed& o) {
    return std::clamp(base + rng.uniform(-0.05, 0.05), o.half + kMargin, 1.0 - o.half - kMargin);
  };
  const bool vertical = r == Relation::Above || r == Relation::Below;
  (vertical ? lead.cy : lead.cx) = along;
  (vertical ? trail.cy : trail.cx) = along + d;
  (vertical ? lead.cx : lead.cy) = across(lead);
  (vertical ? trail.cx : trail.cy) = across(trail);
}

}  // namespace

bool shape_contains(Shape s, double x, double y, double cx, double cy, double h) {
  const double dx = x - cx, dy = y - cy;
  switch (s) {
    case Shape::Circle: return dx * dx + dy * dy <= h * h;
    case Shape::Square: return std::abs(dx) <= h && std::abs(dy) <= h;
    case Shape::Triangle: return dy >= -h && dy <= h && std::abs(dx) <= (dy + h) / 2;  // apex up
    default: return std::abs(dx) + std::abs(dy) <= h;                                  // diamond
  }
}

std::array<float, 3> colour_rgb(Colour c) {
  static const std::array<float, 3> kPalette[kColourCount] = {
      {0.86f, 0.16f, 0.16f}, {0.15f, 0.65f, 0.25f}, {0.16f, 0.32f, 0.86f}, {0.92f, 0.80f, 0.10f},
      {0.55f, 0.22f, 0.70f}, {0.96f, 0.52f, 0.08f}, {0.10f, 0.74f, 0.80f}, {0.94f, 0.45f, 0.70f}};
  return kPalette[static_cast<int>(c)];
}

double shape_coverage(Shape s, double cx, double cy, double half, double x0, double y0, double pixel) {
  int hits = 0;
  for (int sy = 0; sy < kSuper; ++sy)
    for (int sx = 0; sx < kSuper; ++sx)
      hits += shape_contains(s, x0 + (sx + 0.5) / kSuper * pixel, y0 + (sy + 0.5) / kSuper * pixel, cx, cy, half);
  return static_cast<double>(hits) / (kSuper * kSuper);
}

double nominal_extent(Size s) {
  switch (s) {
    case Size::Small: return 0.18;
    case Size::Large: return 0.36;
    default: return 0.26;
  }
}

double shape_fill(Shape s) {
  switch (s) {
    case Shape::Circle: return M_PI / 4;
    case Shape::Square: return 1.0;
    default: return 0.5;
  }
}

at::Tensor render(const Scene& scene, int64_t size, uint64_t seed) {
  const size_t n = scene.objects.size();
  require(n == 1 || n == 2, "render: a scene has 1 or 2 objects, got " + std::to_string(n));
  require(n == 1 || scene.position == Position::Anywhere, "render: a two-object scene has no position");
  require(size >= 16 && size <= 4096, "render: size must be in [16, 4096], got " + std::to_string(size));
  Rng rng(seed);

  std::array<float, 3> bg;
  for (auto& v : bg) v = static_cast<float>(rng.uniform(0.86, 0.97));  // light, with a random tint

  std::vector<Placed> placed;
  for (const Object& o : scene.objects) {
    Placed p{o, 0.5, 0.5, nominal_extent(o.size) / 2 * rng.uniform(1 - kSizeJitter, 1 + kSizeJitter), colour_rgb(o.colour)};
    for (auto& v : p.rgb) v = std::clamp(v + static_cast<float>(rng.uniform(-0.02, 0.02)), 0.0f, 1.0f);
    placed.push_back(p);
  }
  if (n == 1) place_one(rng, scene.position, placed[0]);
  else place_two(rng, scene.relation, placed[0], placed[1]);

  at::Tensor image = at::empty({3, size, size}, at::kFloat);
  auto px = image.accessor<float, 3>();
  const double step = 1.0 / static_cast<double>(size);
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x) {
      std::array<float, 3> c = bg;
      for (const Placed& p : placed) {
        const float a = static_cast<float>(shape_coverage(p.object.shape, p.cx, p.cy, p.half, x * step, y * step, step));
        for (int k = 0; k < 3; ++k) c[k] = a * p.rgb[k] + (1 - a) * c[k];
      }
      for (int k = 0; k < 3; ++k) px[k][y][x] = 2 * c[k] - 1;
    }
  return image;
}

}  // namespace spo::world
