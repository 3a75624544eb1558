#include "world/judge.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "runtime/errors.h"
#include "world/renderer.h"

namespace spo::world {

namespace {

constexpr float kMaxResidual = 0.15f;  // a pixel further than this from every bg->colour blend is unexplained
constexpr int kBackground = kColourCount, kUnexplained = -1;

using Rgb = std::array<float, 3>;

struct Blob {
  int colour = 0;
  int64_t area = 0;
  int64_t x0 = 0, x1 = 0, y0 = 0, y1 = 0;  // inclusive pixel bbox
  Shape shape = Shape::Circle;  // what it looks like (classify)
  double core_noise = 0;
  double cx = 0, cy = 0;  // bbox centre, image units
};

// The per-pixel reading of the image: which colour explains it and how strongly.
struct Segmentation {
  int64_t h = 0, w = 0;
  std::vector<Rgb> rgb;       // [0, 1]
  std::vector<int> label;     // palette index, kBackground or kUnexplained
  std::vector<float> alpha;   // blend weight of the winning palette colour
  std::vector<int> nearest;   // the winning palette colour, even where the pixel reads as background
  Rgb bg{};
};

float median(std::vector<float> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

Segmentation segment(const at::Tensor& image) {
  at::Tensor img = image.detach().to(at::kCPU, at::kFloat).contiguous();
  auto a = img.accessor<float, 3>();
  Segmentation s;
  s.h = img.size(1), s.w = img.size(2);
  s.rgb.resize(s.h * s.w);
  for (int64_t y = 0; y < s.h; ++y)
    for (int64_t x = 0; x < s.w; ++x)
      for (int k = 0; k < 3; ++k) s.rgb[y * s.w + x][k] = std::clamp((a[k][y][x] + 1) / 2, 0.0f, 1.0f);

  // The border is background in every scene the renderer draws (objects keep a margin).
  for (int k = 0; k < 3; ++k) {
    std::vector<float> border;
    for (int64_t x = 0; x < s.w; ++x) border.push_back(s.rgb[x][k]), border.push_back(s.rgb[(s.h - 1) * s.w + x][k]);
    for (int64_t y = 1; y + 1 < s.h; ++y) border.push_back(s.rgb[y * s.w][k]), border.push_back(s.rgb[y * s.w + s.w - 1][k]);
    s.bg[k] = median(border);
  }

  std::array<Rgb, kColourCount> dir;
  std::array<float, kColourCount> dir2;
  for (int c = 0; c < kColourCount; ++c) {
    const Rgb p = colour_rgb(static_cast<Colour>(c));
    dir2[c] = 0;
    for (int k = 0; k < 3; ++k) dir[c][k] = p[k] - s.bg[k], dir2[c] += dir[c][k] * dir[c][k];
    dir2[c] = std::max(dir2[c], 1e-6f);
  }
  s.label.resize(s.rgb.size());
  s.alpha.resize(s.rgb.size());
  s.nearest.resize(s.rgb.size());
  for (size_t i = 0; i < s.rgb.size(); ++i) {
    Rgb d;
    for (int k = 0; k < 3; ++k) d[k] = s.rgb[i][k] - s.bg[k];
    float best = INFINITY, best_a = 0;
    int best_c = 0;
    for (int c = 0; c < kColourCount; ++c) {
      float t = (d[0] * dir[c][0] + d[1] * dir[c][1] + d[2] * dir[c][2]) / dir2[c];
      t = std::clamp(t, 0.0f, 1.0f);
      float r2 = 0;
      for (int k = 0; k < 3; ++k) r2 += (d[k] - t * dir[c][k]) * (d[k] - t * dir[c][k]);
      if (r2 < best) best = r2, best_a = t, best_c = c;
    }
    s.alpha[i] = best_a;
    s.nearest[i] = best_c;
    s.label[i] = std::sqrt(best) > kMaxResidual ? kUnexplained : (best_a >= 0.5f ? best_c : kBackground);
  }
  return s;
}

// Which shape a blob is, by template matching on edge coverage (robust down to
// shapes ~6 pixels wide, where whole-pixel fill ratios blur together): each
// shape's template is sized to the blob's coverage area, centred on its coverage
// centroid (an apex-up triangle's box centre sits side/6 above its centroid) and
// tried at 3x3 sub-pixel offsets; the smallest L1 difference from the observed
// coverage over the bbox grown by 2 pixels wins.
Shape classify(const Segmentation& s, const Blob& b) {
  const int64_t x0 = std::max<int64_t>(0, b.x0 - 2), x1 = std::min(s.w - 1, b.x1 + 2);
  const int64_t y0 = std::max<int64_t>(0, b.y0 - 2), y1 = std::min(s.h - 1, b.y1 + 2);
  std::vector<double> seen;
  double area = 0, mx = 0, my = 0;
  for (int64_t y = y0; y <= y1; ++y)
    for (int64_t x = x0; x <= x1; ++x) {
      const int64_t i = y * s.w + x;
      const bool ours = s.label[i] == b.colour || (s.label[i] == kBackground && s.nearest[i] == b.colour);
      const double a = ours ? s.alpha[i] : 0.0;
      seen.push_back(a);
      area += a, mx += a * (x + 0.5), my += a * (y + 0.5);
    }
  mx /= area, my /= area;
  Shape best = Shape::Circle;
  double best_err = INFINITY;
  for (int k = 0; k < kShapeCount; ++k) {
    const Shape shape = static_cast<Shape>(k);
    const double side = std::sqrt(area / shape_fill(shape));
    const double cy = my - (shape == Shape::Triangle ? side / 6 : 0.0);
    for (double ox : {-0.34, 0.0, 0.34})
      for (double oy : {-0.34, 0.0, 0.34}) {
        double err = 0;
        size_t j = 0;
        for (int64_t y = y0; y <= y1; ++y)
          for (int64_t x = x0; x <= x1; ++x)
            err += std::abs(seen[j++] - shape_coverage(shape, mx + ox, cy + oy, side / 2, x, y, 1.0));
        if (err < best_err) best_err = err, best = shape;
      }
  }
  return best;
}

// 8-connected components of each palette label; fills `blobs` and returns the speck pixel count.
int64_t find_blobs(const Segmentation& s, std::vector<Blob>& blobs) {
  const int64_t min_area = std::max<int64_t>(4, static_cast<int64_t>(0.004 * s.h * s.w));
  std::vector<char> seen(s.label.size(), 0);
  std::vector<int64_t> stack, pixels;
  int64_t specks = 0;
  for (int64_t start = 0; start < static_cast<int64_t>(s.label.size()); ++start) {
    const int colour = s.label[start];
    if (seen[start] || colour < 0 || colour >= kColourCount) continue;
    Blob b;
    b.colour = colour;
    b.x0 = b.x1 = start % s.w, b.y0 = b.y1 = start / s.w;
    pixels.clear();
    stack.assign(1, start);
    seen[start] = 1;
    while (!stack.empty()) {
      const int64_t i = stack.back();
      stack.pop_back();
      pixels.push_back(i);
      const int64_t x = i % s.w, y = i / s.w;
      b.x0 = std::min(b.x0, x), b.x1 = std::max(b.x1, x), b.y0 = std::min(b.y0, y), b.y1 = std::max(b.y1, y);
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= s.w || ny >= s.h) continue;
          const int64_t j = ny * s.w + nx;
          if (!seen[j] && s.label[j] == colour) seen[j] = 1, stack.push_back(j);
        }
    }
    b.area = static_cast<int64_t>(pixels.size());
    if (b.area < min_area) {
      specks += b.area;
      continue;
    }
    // Colour noise: RMS spread of the core (fully covered) pixels around their mean.
    std::vector<int64_t> core;
    for (int64_t i : pixels)
      if (s.alpha[i] >= 0.9f) core.push_back(i);
    if (core.empty()) core = pixels;
    Rgb mean{0, 0, 0};
    for (int64_t i : core)
      for (int k = 0; k < 3; ++k) mean[k] += s.rgb[i][k] / core.size();
    double var = 0;
    for (int64_t i : core)
      for (int k = 0; k < 3; ++k) var += (s.rgb[i][k] - mean[k]) * (s.rgb[i][k] - mean[k]);
    b.core_noise = std::sqrt(var / (3.0 * core.size()));
    b.shape = classify(s, b);
    b.cx = (b.x0 + b.x1 + 1) / 2.0 / s.w;
    b.cy = (b.y0 + b.y1 + 1) / 2.0 / s.h;
    blobs.push_back(b);
  }
  return specks;
}

double colour_part(const Blob* b, const Object& o, int64_t h, int64_t w) {
  if (!b) return 0.0;
  const double e = nominal_extent(o.size);
  const double ratio = b->area / (shape_fill(o.shape) * e * e * static_cast<double>(h * w));
  return ratio >= 0.6 && ratio <= 1.65 ? 1.0 : 0.5;
}

bool position_holds(const Blob& b, Position p) {
  switch (p) {
    case Position::Left: return b.cx < kRegionEdge;
    case Position::Right: return b.cx > 1 - kRegionEdge;
    case Position::Top: return b.cy < kRegionEdge;
    case Position::Bottom: return b.cy > 1 - kRegionEdge;
    case Position::Centre: return std::abs(b.cx - 0.5) < kCentreTolerance && std::abs(b.cy - 0.5) < kCentreTolerance;
    default: return true;
  }
}

bool relation_holds(const Blob& a, const Blob& b, Relation r) {
  const double dx = b.cx - a.cx, dy = b.cy - a.cy;  // from the first object to the second
  switch (r) {
    case Relation::Above: return dy > kRelationGap && std::abs(dy) > std::abs(dx);
    case Relation::Below: return -dy > kRelationGap && std::abs(dy) > std::abs(dx);
    case Relation::LeftOf: return dx > kRelationGap && std::abs(dx) > std::abs(dy);
    default: return -dx > kRelationGap && std::abs(dx) > std::abs(dy);
  }
}

// The alignment parts for one assignment of blobs (nullptr = not found) to the objects.
void score_assignment(const Scene& scene, const std::vector<const Blob*>& match, int64_t h, int64_t w, JudgeScore& s) {
  const size_t n = scene.objects.size();
  s.colour = s.shape = 0;
  for (size_t i = 0; i < n; ++i) {
    s.colour += colour_part(match[i], scene.objects[i], h, w) / n;
    s.shape += (match[i] && match[i]->shape == scene.objects[i].shape) ? 1.0 / n : 0.0;
  }
  if (n == 1) s.place = scene.position == Position::Anywhere || (match[0] && position_holds(*match[0], scene.position));
  else s.place = match[0] && match[1] && relation_holds(*match[0], *match[1], scene.relation);
  s.alignment = s.colour * s.shape * s.count * s.place;
}

}  // namespace

JudgeScore judge(const at::Tensor& image, const Scene& scene) {
  require(image.dim() == 3 && image.size(0) == 3 && image.size(1) >= 8 && image.size(2) >= 8,
          "judge: image must be [3, H, W] with H, W >= 8");
  require(image.is_floating_point(), "judge: image must be floating point in [-1, 1]");
  const size_t n = scene.objects.size();
  require(n == 1 || n == 2, "judge: a scene has 1 or 2 objects, got " + std::to_string(n));

  const Segmentation seg = segment(image);
  std::vector<Blob> blobs;
  const int64_t specks = find_blobs(seg, blobs);
  const double pixels = static_cast<double>(seg.h * seg.w);

  JudgeScore best;
  best.blobs = static_cast<int64_t>(blobs.size());
  const int64_t diff = std::abs(best.blobs - static_cast<int64_t>(n));
  best.count = diff == 0 ? 1.0 : (diff == 1 ? 0.5 : 0.0);

  // Candidates per object: the 4 largest blobs of its colour, then "not found".
  std::vector<std::vector<const Blob*>> cands(n);
  for (size_t i = 0; i < n; ++i) {
    for (const Blob& b : blobs)
      if (b.colour == static_cast<int>(scene.objects[i].colour)) cands[i].push_back(&b);
    std::stable_sort(cands[i].begin(), cands[i].end(), [](const Blob* a, const Blob* b) { return a->area > b->area; });
    if (cands[i].size() > 4) cands[i].resize(4);
    cands[i].push_back(nullptr);
  }
  bool first = true;
  JudgeScore trial = best;
  for (const Blob* a : cands[0])
    for (const Blob* b : (n == 2 ? cands[1] : std::vector<const Blob*>{nullptr})) {
      if (n == 2 && a && a == b) continue;
      std::vector<const Blob*> match{a};
      if (n == 2) match.push_back(b);
      score_assignment(scene, match, seg.h, seg.w, trial);
      if (first || trial.alignment > best.alignment) best = trial, first = false;
    }

  // Quality: stray pixels and background noise, and colour noise inside blobs.
  int64_t unexplained = 0, bg_count = 0;
  double bg_sq = 0;
  for (size_t i = 0; i < seg.label.size(); ++i) {
    if (seg.label[i] == kUnexplained) ++unexplained;
    if (seg.label[i] == kBackground && seg.alpha[i] < 0.1f) {
      ++bg_count;
      for (int k = 0; k < 3; ++k) bg_sq += (seg.rgb[i][k] - seg.bg[k]) * (seg.rgb[i][k] - seg.bg[k]);
    }
  }
  const double stray = (unexplained + specks) / pixels;
  const double bg_std = bg_count ? std::sqrt(bg_sq / (3.0 * bg_count)) : 1.0;
  auto unit = [](double v) { return std::clamp(v, 0.0, 1.0); };
  best.background = unit(1 - stray / 0.05) * unit(1 - bg_std / 0.08);
  double noise = 0;
  for (const Blob& b : blobs) noise += b.core_noise / blobs.size();
  best.edges = blobs.empty() ? 0.0 : unit(1 - noise / 0.08);
  best.quality = (best.background + best.edges) / 2;
  best.total = 0.7 * best.alignment + 0.3 * best.quality;
  return best;
}

PairLabel label_pair(const JudgeScore& a, const JudgeScore& b, double tie_margin) {
  return label_totals(a.total, b.total, tie_margin);
}

PairLabel label_totals(double a, double b, double tie_margin) {
  require(std::isfinite(tie_margin) && tie_margin >= 0, "label_pair: tie_margin must be finite and >= 0");
  if (a == b || std::abs(a - b) < tie_margin) return PairLabel::Tie;
  return a > b ? PairLabel::First : PairLabel::Second;
}

double label_probability(PairLabel label) {
  switch (label) {
    case PairLabel::First: return 1.0;
    case PairLabel::Second: return 0.0;
    case PairLabel::Tie: break;
  }
  return 0.5;
}

}  // namespace spo::world
