// Judge v2: scores any image against a main-track scene with three additive,
// continuous parts and no gating (docs/SHAPES_WORLD.md, "World v2", has the
// measurements behind every threshold):
//
//   total = 0.4 alignment + 0.3 coarse + 0.3 fine
//
// Reading the image. bg = per-channel median of the border pixels. The image is
// white-balanced by it (p_k = raw_k * ref / bg_k, ref = mean(bg)), so the
// background reads grey and a colour cast does not change which colour an
// object reads as. d = p - ref; a pixel is foreground when |d| > 0.15. Each
// 8-connected foreground component is split by hue: its pixels with at least
// 0.4 of its largest chroma |d - mean(d)| vote for the palette colour whose
// chroma direction is nearest in angle; the top colour and any other with
// >= max(5% of the votes, the blob size) are present; every pixel takes the
// nearest present colour, and each colour's 8-connected pieces of >=
// max(4, 0.004 H W) pixels are blobs (smaller: specks). A blob's colour c_obs
// is the mean p of its core (|d| >= 0.8 of its largest); coverage a =
// clamp(d . (c_obs - ref) / |c_obs - ref|^2, 0, 1) over the blob's box grown by
// 2 pixels (0 on other blobs). Shape: template matching on a (renderer.h's
// shapes sized to the coverage area at the coverage centroid, 3x3 sub-pixel
// offsets, crisp or blurred by 0.7 px, or both a and the template blurred by
// half a fine cell (1 px at 32 px: a jagged staircase smoothed away); a blob on
// the image border also tries templates up to 1.8x larger shifted outwards by
// up to 0.4 side, compared on the pixels inside the image); least L1 wins. The prompt's objects (each copy)
// are matched to distinct blobs of their colour (the 4 largest) by the
// assignment with the most colours, then shapes, found, then the least size error.
//
// Parts and sub-scores (each in [0, 1]; ramp(x, lo, hi) = clamp((x - lo) / (hi - lo), 0, 1),
// down(x, lo, hi) = 1 - ramp(x, lo, hi)):
//   alignment = (colour + shape + count) / 3, read against the prompt
//     colour: fraction of the prompt's objects matched to a blob of their colour
//     shape:  fraction whose matched blob has their shape
//     count:  1 when #blobs == #objects, 0.5 when off by one, else 0
//   coarse = (cast + saturation + frame + size + spacing) / 5: settled early
//     cast:       down(max(bg) - min(bg), 0.10, 0.20)       (clean backgrounds are within 0.09 of grey)
//     saturation: ramp(min over blobs of chroma_core / |chroma(palette colour)|, 0.45, 0.60),
//                 chroma_core = mean chroma |chroma(p)| over the blob's core pixels
//                 (blur leaves the core at full chroma, texture shades half of it
//                 by 0.7, desaturation all of it by 0.35)
//     frame:      down(n, 0, 3), n = the most pixels (a >= 0.5) any blob has on the image border
//     size:       down(e, 0.3, 0.7), e = the largest |ln(area / expected)| over
//                 matched objects; area = sum of a, expected = shape_fill x nominal extent^2 x H W
//     spacing:    down(n, 0, 3), n = 4-neighbour pixel pairs that belong to two different blobs
//   fine = (sharpness + smoothness + grain + texture) / 4: settled late
//     edge jump j = mean |a_i - a_j| over 4-neighbour pairs across a = 0.5 inside
//     the blobs' boxes: 0.5-0.92 for 4x4-anti-aliased edges, lower when blurred
//     (0.75 when there is no edge)
//     sharpness:  ramp(j over all blobs, 0.45, 0.53)
//     smoothness: down(e, 0.05, 0.09), e = the edge residual over blobs that are
//                 not squares: the least L1 between a and a crisp or 0.7 px-blurred
//                 template of any shape (pixels on or next to another blob left
//                 out), summed, per a = 0.5 crossing and per fine cell (2 px at
//                 32 px): a 2 px staircase does not fit a smooth outline (an
//                 axis-aligned square's edge is a staircase of no steps, so squares are left out);
//                 a blob touching another is fitted on the pixels more than 2 px from it,
//                 with templates up to twice its visible side shifted towards the contact
//                 (it is partly hidden), so merging cannot hide a jagged edge
//     grain:      down(r, 0.008, 0.018), r = RMS of d (per channel) over pixels at
//                 least 3 pixels (Chebyshev) from any foreground pixel
//     texture:    down(q, 0.025, 0.045), q = the largest over blobs of the RMS of p
//                 about its mean over the blob's interior (pixels whose 8 neighbours
//                 are in the blob; blobs with >= 4 such pixels)
//   The fine thresholds sit between the readings of clean renders and of
//   renders with the defect both as drawn and after the scenes VAE's round
//   trip (docs/SHAPES_WORLD.md), so a VAE-decoded image is judged like a render.
// A sub-score with nothing to read (no blobs, no matched object) is 1: a missing
// object is alignment's to count, not the aesthetic parts' as well.
#pragma once
#include <ATen/ATen.h>

#include "world/judge.h"
#include "world/v2_prompts.h"

namespace spo::world::v2 {

inline constexpr double kAlignmentWeight = 0.4, kCoarseWeight = 0.3, kFineWeight = 0.3;
inline constexpr double kSharpLo = 0.45, kSharpHi = 0.53;      // on the edge jump
inline constexpr double kJaggedLo = 0.05, kJaggedHi = 0.09;    // on the edge residual
inline constexpr double kGrainLo = 0.008, kGrainHi = 0.018;    // on the background RMS
inline constexpr double kTextureLo = 0.025, kTextureHi = 0.045;  // on the interior RMS

struct JudgeScore {
  double colour = 0, shape = 0, count = 0;                            // alignment
  double cast = 1, saturation = 1, frame = 1, size = 1, spacing = 1;  // coarse
  double sharpness = 1, smoothness = 1, grain = 1, texture = 1;       // fine
  double alignment = 0, coarse = 0, fine = 0, total = 0;
  int64_t blobs = 0;
  // What the sub-scores read (for reports and calibration).
  double bg_chroma = 0, saturation_ratio = 1, border_pixels = 0, size_error = 0, contact = 0;
  double edge_jump = 0, slant_jump = 0, edge_residual = 0, background_noise = 0, core_noise = 0;
};

// image: float [3, H, W] in [-1, 1] (any device; read on the CPU), H, W >= 8.
// Deterministic. Throws InvalidArgument for another shape or an invalid scene.
JudgeScore judge(const at::Tensor& image, const Scene& scene);

// The pair rule of today's judge on the totals (label_totals: a tie within
// tie_margin; label(a, b) mirrors label(b, a)).
PairLabel label_pair(const JudgeScore& a, const JudgeScore& b, double tie_margin);

}  // namespace spo::world::v2
