#include "world/v2_judge.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "runtime/errors.h"
#include "world/renderer.h"
#include "world/v2_renderer.h"

namespace spo::world::v2 {

namespace {

constexpr double kForeground = 0.15;    // |d| above this is foreground
constexpr double kStrong = 0.4;         // pixels with this share of the largest chroma vote for a component's colours
constexpr double kPresent = 0.05;       // a colour with this share of the votes (and >= the blob size) is present
constexpr double kCore = 0.8;           // core pixels: |d| >= this x the blob's largest
constexpr int kNone = -1, kSpeck = -2;  // blob labels besides a blob's index

using Rgb = std::array<double, 3>;

double unit(double v) { return std::clamp(v, 0.0, 1.0); }
double ramp(double x, double lo, double hi) { return unit((x - lo) / (hi - lo)); }
double down(double x, double lo, double hi) { return 1 - ramp(x, lo, hi); }
double mean3(const Rgb& v) { return (v[0] + v[1] + v[2]) / 3; }
Rgb chroma(const Rgb& v) {
  const double m = mean3(v);
  return {v[0] - m, v[1] - m, v[2] - m};
}
double dot(const Rgb& a, const Rgb& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
double norm(const Rgb& v) { return std::sqrt(dot(v, v)); }

struct Blob {
  int colour = 0;
  std::vector<int64_t> pixels;
  Rgb c_obs{};
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // the box grown by 2, clipped: the window a is read over
  std::vector<double> a;                   // coverage over the window, row-major
  std::vector<char> other;                 // window pixels on or next to another blob
  double area = 0;
  Shape shape = Shape::Circle;
  double sat_ratio = 1, border = 0, crossings = 0, jump = 0, core_noise = -1;
  double fit_error = INFINITY;  // least L1 between a and a crisp or 0.7 px-blurred template
  bool alone = true;            // touches no other blob
};

struct Reading {
  int64_t h = 0, w = 0;
  std::vector<Rgb> p;       // white-balanced, [0, 1] before the balance
  std::vector<Rgb> d;       // p - ref
  std::vector<double> mag;  // |d|
  std::vector<int> label;   // blob index, kNone (background) or kSpeck
  Rgb bg{};
  double ref = 0;
  std::vector<Blob> blobs;
};

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

int nearest_hue(const Rgb& d, const std::vector<int>& allowed) {
  static const std::array<Rgb, kColourCount> dirs = [] {
    std::array<Rgb, kColourCount> out;
    for (int c = 0; c < kColourCount; ++c) {
      const auto p = colour_rgb(static_cast<Colour>(c));
      Rgb ch = chroma({p[0], p[1], p[2]});
      const double n = norm(ch);
      for (auto& v : ch) v /= n;
      out[c] = ch;
    }
    return out;
  }();
  const Rgb ch = chroma(d);
  int best = allowed[0];
  double best_cos = -INFINITY;
  for (int c : allowed) {
    const double cs = dot(ch, dirs[c]);  // |ch| is the same for every c: the largest dot is the smallest angle
    if (cs > best_cos) best_cos = cs, best = c;
  }
  return best;
}

// Connected pieces (8-neighbour) of the pixels in `mask` (indices), over an image of width w, height h.
std::vector<std::vector<int64_t>> pieces(const std::vector<int64_t>& mask, int64_t h, int64_t w) {
  std::vector<char> in(h * w, 0), seen(h * w, 0);
  for (int64_t i : mask) in[i] = 1;
  std::vector<std::vector<int64_t>> out;
  for (int64_t start : mask) {
    if (seen[start]) continue;
    std::vector<int64_t> piece, stack{start};
    seen[start] = 1;
    while (!stack.empty()) {
      const int64_t i = stack.back();
      stack.pop_back();
      piece.push_back(i);
      const int64_t x = i % w, y = i / w;
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
          const int64_t j = ny * w + nx;
          if (in[j] && !seen[j]) seen[j] = 1, stack.push_back(j);
        }
    }
    out.push_back(std::move(piece));
  }
  return out;
}

Reading read(const at::Tensor& image) {
  at::Tensor img = image.detach().to(at::kCPU, at::kFloat).contiguous();
  auto acc = img.accessor<float, 3>();
  Reading r;
  r.h = img.size(1), r.w = img.size(2);
  const int64_t n = r.h * r.w;
  std::vector<Rgb> raw(n);
  for (int64_t y = 0; y < r.h; ++y)
    for (int64_t x = 0; x < r.w; ++x)
      for (int k = 0; k < 3; ++k) raw[y * r.w + x][k] = std::clamp((acc[k][y][x] + 1.0) / 2, 0.0, 1.0);
  for (int k = 0; k < 3; ++k) {
    std::vector<double> border;
    for (int64_t x = 0; x < r.w; ++x) border.push_back(raw[x][k]), border.push_back(raw[(r.h - 1) * r.w + x][k]);
    for (int64_t y = 1; y + 1 < r.h; ++y) border.push_back(raw[y * r.w][k]), border.push_back(raw[y * r.w + r.w - 1][k]);
    r.bg[k] = median(border);
  }
  r.ref = mean3(r.bg);
  r.p.resize(n), r.d.resize(n), r.mag.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) {
      r.p[i][k] = raw[i][k] * r.ref / std::max(r.bg[k], 1e-3);
      r.d[i][k] = r.p[i][k] - r.ref;
    }
    r.mag[i] = norm(r.d[i]);
  }

  // Components of the foreground, split by hue into blobs and specks.
  r.label.assign(n, kNone);
  std::vector<int64_t> fg;
  for (int64_t i = 0; i < n; ++i)
    if (r.mag[i] > kForeground) fg.push_back(i);
  const int64_t min_area = std::max<int64_t>(4, static_cast<int64_t>(0.004 * n));
  std::vector<int> all(kColourCount);
  for (int c = 0; c < kColourCount; ++c) all[c] = c;
  for (const auto& comp : pieces(fg, r.h, r.w)) {
    // Voters: the component's most chromatic pixels (blended edges and a
    // darker shade carry less chroma; every palette colour has >= 0.55 of the
    // largest palette chroma, so each object's inner pixels vote).
    double top = 0;
    for (int64_t i : comp) top = std::max(top, norm(chroma(r.d[i])));
    std::array<int, kColourCount> votes{};
    int strong = 0;
    for (int64_t i : comp)
      if (norm(chroma(r.d[i])) >= kStrong * top) ++votes[nearest_hue(r.d[i], all)], ++strong;
    std::vector<int> present;
    const int most = static_cast<int>(std::max_element(votes.begin(), votes.end()) - votes.begin());
    present.push_back(most);
    for (int c = 0; c < kColourCount; ++c)
      if (c != most && votes[c] >= std::max<double>(kPresent * strong, min_area)) present.push_back(c);
    std::vector<std::vector<int64_t>> by_colour(kColourCount);
    for (int64_t i : comp) by_colour[present.size() == 1 ? most : nearest_hue(r.d[i], present)].push_back(i);
    for (int c : present)
      for (auto& piece : pieces(by_colour[c], r.h, r.w)) {
        if (static_cast<int64_t>(piece.size()) < min_area) {
          for (int64_t i : piece) r.label[i] = kSpeck;
          continue;
        }
        Blob b;
        b.colour = c;
        b.pixels = std::move(piece);
        for (int64_t i : b.pixels) r.label[i] = static_cast<int>(r.blobs.size());
        r.blobs.push_back(std::move(b));
      }
  }
  return r;
}

// Separable Gaussian blur of a w x h window (edges clamped); sigma in pixels.
std::vector<double> blurred(const std::vector<double>& src, int64_t w, int64_t h, double sigma) {
  const int rad = static_cast<int>(std::ceil(3 * sigma));
  std::vector<double> k(2 * rad + 1);
  double sum = 0;
  for (int i = -rad; i <= rad; ++i) sum += k[i + rad] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : k) v /= sum;
  std::vector<double> tmp(src.size()), out(src.size());
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      double acc = 0;
      for (int i = -rad; i <= rad; ++i) acc += k[i + rad] * src[y * w + std::clamp<int64_t>(x + i, 0, w - 1)];
      tmp[y * w + x] = acc;
    }
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      double acc = 0;
      for (int i = -rad; i <= rad; ++i) acc += k[i + rad] * tmp[std::clamp<int64_t>(y + i, 0, h - 1) * w + x];
      out[y * w + x] = acc;
    }
  return out;
}

// A w x h mask with every pixel next to (8-neighbour) or on a set one set.
std::vector<char> grown_by_one(const std::vector<char>& mask, int64_t w, int64_t h) {
  std::vector<char> out = mask;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t nx = x + dx, ny = y + dy;
          if (nx >= 0 && ny >= 0 && nx < w && ny < h && mask[ny * w + nx]) out[y * w + x] = 1;
        }
  return out;
}

// A blob that touches another is partly hidden under it, so its visible area
// and centroid under-read it and a template sized from them misfits the edges it
// does show. For the fit residual only (not the class), templates up to twice
// the visible side, shifted towards the contact by up to 0.6 of it, are fitted
// to the pixels more than 2 px from the other blob: a coarse search (1 px in
// side, 0.5 px in shift, crisp) and then a fine one around its best (0.5 px,
// 0.25 px, sub-pixel offsets, crisp and 0.7 px-blurred); a single coarse grid
// left clean edges a pixel off their template (measured). Without this a
// touching blob could not be read, and leaving it out of smoothness rewarded
// merging objects (docs/SHAPES_WORLD.md, SPO in the scenes world).
void fit_hidden_part(Blob& b, double mx, double my, double area) {
  const int64_t ww = b.x1 - b.x0 + 1, wh = b.y1 - b.y0 + 1;
  double nx = 0, ny = 0, n = 0;
  for (int64_t y = b.y0; y <= b.y1; ++y)
    for (int64_t x = b.x0; x <= b.x1; ++x)
      if (b.other[(y - b.y0) * ww + (x - b.x0)]) nx += x + 0.5 - mx, ny += y + 0.5 - my, n += 1;
  const double len = std::hypot(nx, ny);
  if (n == 0 || len <= 0) return;
  nx /= len, ny /= len;
  // Pixels within 2 px of the other blob are blended with it: left out (b.other holds 1 px).
  const std::vector<char> near = grown_by_one(b.other, ww, wh);
  std::vector<double> tpl(ww * wh);
  auto residual = [&](Shape shape, double side, double shift, double ox, double oy, bool blur) {
    const double cx = mx + nx * shift + ox, cy = my + ny * shift + oy - (shape == Shape::Triangle ? side / 6 : 0.0);
    size_t j = 0;
    for (int64_t y = b.y0; y <= b.y1; ++y)
      for (int64_t x = b.x0; x <= b.x1; ++x) tpl[j++] = shape_coverage(shape, cx, cy, side / 2, x, y, 1.0);
    const std::vector<double> t = blur ? blurred(tpl, ww, wh, 0.7) : tpl;
    double shown = 0;
    for (size_t i = 0; i < t.size(); ++i) shown += near[i] ? 0.0 : std::abs(b.a[i] - t[i]);
    return shown;
  };
  for (int k = 0; k < kShapeCount; ++k) {
    const Shape shape = static_cast<Shape>(k);
    const double visible_side = std::sqrt(area / shape_fill(shape));
    double best = INFINITY, best_side = visible_side, best_shift = 0;
    for (double side = visible_side; side <= 2.0 * visible_side; side += 1.0)
      for (double shift = 0.0; shift <= 0.6 * side; shift += 0.5) {
        const double e = residual(shape, side, shift, 0, 0, false);
        if (e < best) best = e, best_side = side, best_shift = shift;
      }
    for (double side : {best_side - 0.5, best_side, best_side + 0.5})
      for (double shift : {best_shift - 0.5, best_shift - 0.25, best_shift, best_shift + 0.25, best_shift + 0.5})
        for (double ox : {-0.34, 0.0, 0.34})
          for (double oy : {-0.34, 0.0, 0.34})
            for (bool blur : {false, true}) b.fit_error = std::min(b.fit_error, residual(shape, side, shift, ox, oy, blur));
  }
}

// Which shape the coverage window shows: template matching on a. Each shape's
// template is sized to the blob's coverage area and centred on its coverage
// centroid (an apex-up triangle's box centre sits side/6 above its centroid),
// tried at 3x3 sub-pixel offsets, crisp and blurred (Gaussian, 0.7 px: more
// blur levels let a blurred template of the wrong shape fit, measured); the least L1
// difference wins. A blob on the image border may continue outside it: there
// the template may also be up to 1.8x larger and shifted outwards by up to 0.4
// of its side, and only the pixels inside the image are compared.
Shape classify(Blob& b, int64_t h, int64_t w) {
  const int64_t ww = b.x1 - b.x0 + 1, wh = b.y1 - b.y0 + 1;
  double area = 0, mx = 0, my = 0;
  for (int64_t y = b.y0; y <= b.y1; ++y)
    for (int64_t x = b.x0; x <= b.x1; ++x) {
      const double a = b.a[(y - b.y0) * ww + (x - b.x0)];
      area += a, mx += a * (x + 0.5), my += a * (y + 0.5);
    }
  if (area <= 0) return Shape::Circle;
  mx /= area, my /= area;
  double nx = 0, ny = 0;  // outward normal of the borders the blob touches
  for (int64_t i : b.pixels) {
    const int64_t x = i % w, y = i / w;
    if (x == 0) nx = -1;
    if (x == w - 1) nx = 1;
    if (y == 0) ny = -1;
    if (y == h - 1) ny = 1;
  }
  const bool touching = nx != 0 || ny != 0;
  const std::vector<double> scales = touching ? std::vector<double>{1.0, 1.2, 1.4, 1.6, 1.8} : std::vector<double>{1.0};
  const std::vector<double> shifts = touching ? std::vector<double>{0.0, 0.1, 0.2, 0.3, 0.4} : std::vector<double>{0.0};
  Shape best = Shape::Circle;
  double best_err = INFINITY;
  std::vector<double> tpl(ww * wh);
  const double smooth_sigma = fine_cell_pixels(w) / 2.0;
  const std::vector<double> smooth_a = blurred(b.a, ww, wh, smooth_sigma);
  // The smoothed comparison only for a blob that touches no other (blurring a
  // partly covered, merged shape lets a wrong template fit, measured).
  const bool alone = b.alone = std::none_of(b.other.begin(), b.other.end(), [](char c) { return c != 0; });
  for (int k = 0; k < kShapeCount; ++k) {
    const Shape shape = static_cast<Shape>(k);
    for (double scale : scales)
      for (double shift : shifts) {
        const double side = scale * std::sqrt(area / shape_fill(shape));
        const double cx = mx + nx * shift * side, cy = my + ny * shift * side - (shape == Shape::Triangle ? side / 6 : 0.0);
        for (double ox : {-0.34, 0.0, 0.34})
          for (double oy : {-0.34, 0.0, 0.34}) {
            size_t j = 0;
            for (int64_t y = b.y0; y <= b.y1; ++y)
              for (int64_t x = b.x0; x <= b.x1; ++x) tpl[j++] = shape_coverage(shape, cx + ox, cy + oy, side / 2, x, y, 1.0);
            for (int variant = 0; variant < (alone ? 3 : 2); ++variant) {
              // crisp, blurred by 0.7 px, or both sides blurred by half a fine cell (which smooths a jagged staircase away)
              const std::vector<double> t = variant == 0 ? tpl : blurred(tpl, ww, wh, variant == 1 ? 0.7 : smooth_sigma);
              const std::vector<double>& a = variant == 2 ? smooth_a : b.a;
              double err = 0;
              for (size_t i = 0; i < t.size(); ++i) err += std::abs(a[i] - t[i]);
              if (err < best_err) best_err = err, best = shape;
              if (variant < 2) {  // the fit where the blob shows: pixels of another blob (a merged neighbour) left out
                double shown = 0;
                for (size_t i = 0; i < t.size(); ++i) shown += b.other[i] ? 0.0 : std::abs(a[i] - t[i]);
                b.fit_error = std::min(b.fit_error, shown);
              }
            }
          }
      }
  }
  if (!alone && !touching) fit_hidden_part(b, mx, my, area);
  return best;
}

void measure(Reading& r, int index) {
  Blob& b = r.blobs[index];
  double top = 0;
  for (int64_t i : b.pixels) top = std::max(top, r.mag[i]);
  Rgb sum{0, 0, 0};
  int core = 0;
  for (int64_t i : b.pixels)
    if (r.mag[i] >= kCore * top) {
      for (int k = 0; k < 3; ++k) sum[k] += r.p[i][k];
      ++core;
    }
  for (int k = 0; k < 3; ++k) b.c_obs[k] = sum[k] / core;
  Rgb dir;
  for (int k = 0; k < 3; ++k) dir[k] = b.c_obs[k] - r.ref;
  const double dir2 = std::max(dot(dir, dir), 1e-9);

  b.x0 = r.w, b.y0 = r.h, b.x1 = 0, b.y1 = 0;
  for (int64_t i : b.pixels) {
    const int64_t x = i % r.w, y = i / r.w;
    b.x0 = std::min(b.x0, x), b.x1 = std::max(b.x1, x), b.y0 = std::min(b.y0, y), b.y1 = std::max(b.y1, y);
  }
  b.x0 = std::max<int64_t>(0, b.x0 - 2), b.y0 = std::max<int64_t>(0, b.y0 - 2);
  b.x1 = std::min(r.w - 1, b.x1 + 2), b.y1 = std::min(r.h - 1, b.y1 + 2);
  const int64_t ww = b.x1 - b.x0 + 1, wh = b.y1 - b.y0 + 1;
  b.a.assign(ww * wh, 0.0);
  std::vector<char> other(ww * wh, 0);
  for (int64_t y = b.y0; y <= b.y1; ++y)
    for (int64_t x = b.x0; x <= b.x1; ++x) {
      const int64_t i = y * r.w + x, j = (y - b.y0) * ww + (x - b.x0);
      if (r.label[i] >= 0 && r.label[i] != index) {
        other[j] = 1;
        continue;
      }
      b.a[j] = unit(dot(r.d[i], dir) / dir2);
      b.area += b.a[j];
      const bool on_border = x == 0 || y == 0 || x == r.w - 1 || y == r.h - 1;
      if (on_border && r.label[i] == index && b.a[j] >= 0.5) b.border += 1;
    }
  // Edge length: 4-neighbour pairs inside the window (neither on another blob) across a = 0.5.
  for (int64_t y = 0; y < wh; ++y)
    for (int64_t x = 0; x < ww; ++x) {
      const int64_t j = y * ww + x;
      if (other[j]) continue;
      if (x + 1 < ww && !other[j + 1] && (b.a[j] >= 0.5) != (b.a[j + 1] >= 0.5))
        b.crossings += 1, b.jump += std::abs(b.a[j] - b.a[j + 1]);
      if (y + 1 < wh && !other[j + ww] && (b.a[j] >= 0.5) != (b.a[j + ww] >= 0.5))
        b.crossings += 1, b.jump += std::abs(b.a[j] - b.a[j + ww]);
    }
  // Pixels on or next to another blob (blended with it): left out of the template fit's residual.
  b.other = grown_by_one(other, ww, wh);
  b.shape = classify(b, r.h, r.w);
  // Saturation: the mean chroma of the blob's core pixels against its palette
  // colour. Blur blends only the edges with the grey background (the core keeps
  // its chroma) and a texture shades half the cells by 0.7; desaturation scales
  // every pixel's chroma by 0.35. A mean over the core, not the few most
  // chromatic pixels, so that late-step noise on single pixels does not move it
  // (with the 3 most chromatic pixels, saturation stayed as open late as the
  // fine parts: docs/SHAPES_WORLD.md, check 3 with 48 x 4).
  double core_chroma = 0;
  for (int64_t i : b.pixels)
    if (r.mag[i] >= kCore * top) core_chroma += norm(chroma(r.p[i])) / core;
  const auto pal = colour_rgb(static_cast<Colour>(b.colour));
  b.sat_ratio = core_chroma / norm(chroma({pal[0], pal[1], pal[2]}));
  // Interior: pixels whose 8 neighbours (inside the image) all belong to the blob.
  Rgb mean{0, 0, 0};
  std::vector<int64_t> interior;
  for (int64_t i : b.pixels) {
    const int64_t x = i % r.w, y = i / r.w;
    bool in = true;
    for (int64_t dy = -1; dy <= 1 && in; ++dy)
      for (int64_t dx = -1; dx <= 1 && in; ++dx) {
        const int64_t nx = x + dx, ny = y + dy;
        if (nx >= 0 && ny >= 0 && nx < r.w && ny < r.h && r.label[ny * r.w + nx] != index) in = false;
      }
    if (in) interior.push_back(i);
  }
  if (interior.size() >= 4) {
    for (int64_t i : interior)
      for (int k = 0; k < 3; ++k) mean[k] += r.p[i][k] / interior.size();
    double var = 0;
    for (int64_t i : interior)
      for (int k = 0; k < 3; ++k) var += (r.p[i][k] - mean[k]) * (r.p[i][k] - mean[k]);
    b.core_noise = std::sqrt(var / (3.0 * interior.size()));
  }
}

double size_error(const Blob& b, const Object& o, int64_t h, int64_t w) {
  const double e = nominal_extent(o.size);
  const double expected = shape_fill(o.shape) * e * e * static_cast<double>(h * w);
  return std::abs(std::log(std::max(b.area, 1e-6) / expected));
}

}  // namespace

JudgeScore judge(const at::Tensor& image, const Scene& scene) {
  require(image.dim() == 3 && image.size(0) == 3 && image.size(1) >= 8 && image.size(2) >= 8,
          "judge v2: image must be [3, H, W] with H, W >= 8");
  require(image.is_floating_point(), "judge v2: image must be floating point in [-1, 1]");
  validate(scene);

  Reading r = read(image);
  for (size_t i = 0; i < r.blobs.size(); ++i) measure(r, static_cast<int>(i));
  JudgeScore s;
  s.blobs = static_cast<int64_t>(r.blobs.size());

  // Alignment: the assignment of blobs to the prompt's objects with the most
  // colours, then shapes, found, then the smallest total size error.
  const std::vector<Object> objects = scene.objects();
  const size_t n = objects.size();
  std::vector<std::vector<int>> cands(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t b = 0; b < r.blobs.size(); ++b)
      if (r.blobs[b].colour == static_cast<int>(objects[i].colour)) cands[i].push_back(static_cast<int>(b));
    std::stable_sort(cands[i].begin(), cands[i].end(), [&](int a, int b) { return r.blobs[a].area > r.blobs[b].area; });
    if (cands[i].size() > 4) cands[i].resize(4);
    cands[i].push_back(-1);
  }
  std::vector<int> pick(n, -1), best_pick(n, -1);
  double best_key[3] = {-1, -1, 0};
  auto search = [&](auto&& self, size_t i) -> void {
    if (i == n) {
      double found = 0, shapes = 0, err = 0;
      for (size_t j = 0; j < n; ++j)
        if (pick[j] >= 0) {
          found += 1;
          shapes += r.blobs[pick[j]].shape == objects[j].shape;
          err += size_error(r.blobs[pick[j]], objects[j], r.h, r.w);
        }
      if (found > best_key[0] || (found == best_key[0] && (shapes > best_key[1] || (shapes == best_key[1] && err < best_key[2]))))
        best_key[0] = found, best_key[1] = shapes, best_key[2] = err, best_pick = pick;
      return;
    }
    for (int c : cands[i]) {
      if (c >= 0 && std::find(pick.begin(), pick.begin() + i, c) != pick.begin() + i) continue;
      pick[i] = c;
      self(self, i + 1);
    }
  };
  search(search, 0);
  s.colour = best_key[0] / n;
  s.shape = best_key[1] / n;
  const int64_t diff = std::abs(s.blobs - static_cast<int64_t>(n));
  s.count = diff == 0 ? 1.0 : (diff == 1 ? 0.5 : 0.0);
  s.alignment = (s.colour + s.shape + s.count) / 3;

  // Coarse.
  s.bg_chroma = *std::max_element(r.bg.begin(), r.bg.end()) - *std::min_element(r.bg.begin(), r.bg.end());
  s.cast = down(s.bg_chroma, 0.10, 0.20);
  s.saturation_ratio = 1;
  for (const Blob& b : r.blobs) {
    s.saturation_ratio = std::min(s.saturation_ratio, b.sat_ratio);
    s.border_pixels = std::max(s.border_pixels, b.border);
  }
  s.saturation = ramp(s.saturation_ratio, 0.45, 0.60);
  s.frame = down(s.border_pixels, 0, 3);
  for (size_t j = 0; j < n; ++j)
    if (best_pick[j] >= 0) s.size_error = std::max(s.size_error, size_error(r.blobs[best_pick[j]], objects[j], r.h, r.w));
  s.size = down(s.size_error, 0.3, 0.7);
  for (int64_t y = 0; y < r.h; ++y)
    for (int64_t x = 0; x < r.w; ++x) {
      const int l = r.label[y * r.w + x];
      if (l < 0) continue;
      if (x + 1 < r.w && r.label[y * r.w + x + 1] >= 0 && r.label[y * r.w + x + 1] != l) s.contact += 1;
      if (y + 1 < r.h && r.label[(y + 1) * r.w + x] >= 0 && r.label[(y + 1) * r.w + x] != l) s.contact += 1;
    }
  s.spacing = down(s.contact, 0, 3);
  s.coarse = (s.cast + s.saturation + s.frame + s.size + s.spacing) / 5;

  // Fine.
  // Edges: the mean jump of a across the a = 0.5 crossings; over every blob for
  // blur, over the blobs that are not squares for jaggies (an axis-aligned
  // square's edge can be crisp in a clean render, and jaggies need slants).
  double crossings = 0, jump = 0, slant_crossings = 0, slant_jump = 0, fit = 0;
  s.core_noise = 0;
  for (const Blob& b : r.blobs) {
    crossings += b.crossings, jump += b.jump;
    if (b.shape != Shape::Square) {
      slant_crossings += b.crossings, slant_jump += b.jump;
      if (b.crossings > 0) fit = std::max(fit, b.fit_error / b.crossings);
    }
    s.core_noise = std::max(s.core_noise, b.core_noise);
  }
  s.edge_jump = crossings > 0 ? jump / crossings : 0.75;
  s.slant_jump = slant_crossings > 0 ? slant_jump / slant_crossings : 0.75;
  // The worst blob's fit residual per crossing and per fine cell (2 px at 32 px):
  // a staircase's misfit grows with its step, so this reads alike at any size.
  // Blobs that touch another count too, read on the edges they show
  // (fit_hidden_part): leaving them out made merging raise smoothness.
  s.edge_residual = fit / static_cast<double>(fine_cell_pixels(r.w));
  s.sharpness = ramp(s.edge_jump, kSharpLo, kSharpHi);
  s.smoothness = down(s.edge_residual, kJaggedLo, kJaggedHi);
  // Background noise, far (>= 3 px) from any foreground pixel.
  std::vector<char> near(r.h * r.w, 0);
  for (int64_t i = 0; i < r.h * r.w; ++i)
    if (r.mag[i] > kForeground) {
      const int64_t x = i % r.w, y = i / r.w;
      for (int64_t yy = std::max<int64_t>(0, y - 2); yy <= std::min(r.h - 1, y + 2); ++yy)
        for (int64_t xx = std::max<int64_t>(0, x - 2); xx <= std::min(r.w - 1, x + 2); ++xx) near[yy * r.w + xx] = 1;
    }
  double sq = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < r.h * r.w; ++i)
    if (!near[i]) sq += dot(r.d[i], r.d[i]), ++count;
  s.background_noise = count ? std::sqrt(sq / (3.0 * count)) : 0.0;
  s.grain = down(s.background_noise, kGrainLo, kGrainHi);
  s.texture = down(s.core_noise, kTextureLo, kTextureHi);
  s.fine = (s.sharpness + s.smoothness + s.grain + s.texture) / 4;

  s.total = kAlignmentWeight * s.alignment + kCoarseWeight * s.coarse + kFineWeight * s.fine;
  return s;
}

PairLabel label_pair(const JudgeScore& a, const JudgeScore& b, double tie_margin) {
  return label_totals(a.total, b.total, tie_margin);
}

}  // namespace spo::world::v2
