// Edge-aware upsampling of the low-resolution analysis to frame size (joint bilateral
// upsampling, Kopf et al. 2007), with temporal smoothing for video.
//
// Each output pixel blends the TAPS x TAPS nearest low-resolution samples, weighted by distance
// and by how close the frame's average colour over each sample is to the pixel's own colour, so
// masks and depth follow the picture's edges. Region membership (one channel per region set the
// layers use, made from the class map on upload) is blended the same way: a weighted vote.

struct AnalysisUniform {
    // width, height, 1/width, 1/height of the frame
    size: vec4f,
    // x: spatial sigma (low-res pixels), z: temporal base weight of the new frame; y..w: the
    // person mask's range over which people leave the regions behind them (SPARED_PERSON)
    params: vec4f,
    // x: range sigma (0..1 colour) for class votes, y: for soft maps, z: the membership a
    // pixel needs to belong to a region
    range: vec4f,
    // 1 for each region set people stay out of (where the person mask says someone is)
    spare: vec4f,
    // Per region set painted one colour (region_colour.rs): its mean colour, and the columns
    // of its colour covariance's inverse (zero without a colour model: every pixel is kept).
    colour_mean: array<vec4f, 4>,
    colour_inverse: array<vec4f, 12>,
    // x, y: the squared distances from the set's colour over which a pixel leaves it
    colour_outlier: vec4f,
    // x: 1 when the person mask and depth map were made on this frame, 0 when carried; y: the
    // share of the last frame's remembered motion that still counts on this one
    temporal: vec4f,
}

// Which inputs this pipeline variant reads. Pipeline constants rather than uniforms, so unused
// work is compiled out (software rasterisers run both sides of a uniform branch).
override HAS_REGIONS: bool = true;
override HAS_PERSON: bool = true;
override HAS_DEPTH: bool = true;
// Blend with the previous frame's result.
override TEMPORAL: bool = false;
// One bit per region set painted one colour, whose colour model applies.
override PAINTED_SETS: u32 = 15u;

const TAPS: i32 = 2;

@group(0) @binding(0) var<uniform> analysis: AnalysisUniform;
@group(0) @binding(1) var frame: texture_2d<f32>;
@group(0) @binding(2) var frame_sampler: sampler;
// Region membership per class-map texel: channel k is 1 where the class is in region set k.
@group(0) @binding(3) var regions: texture_2d<f32>;
@group(0) @binding(4) var person: texture_2d<f32>;
@group(0) @binding(5) var depth: texture_2d<f32>;
@group(0) @binding(6) var previous_masks: texture_2d<f32>;
@group(0) @binding(7) var previous_person_depth: texture_2d<f32>;
// Quarter size; alpha: how much the picture moved since the last frame within a texel around
// (motion.wgsl, motion_near.wgsl).
@group(0) @binding(8) var motion: texture_2d<f32>;
// The frame averaged over each texel of the class, person and depth maps.
@group(0) @binding(9) var class_guide: texture_2d<f32>;
@group(0) @binding(10) var person_guide: texture_2d<f32>;
@group(0) @binding(11) var depth_guide: texture_2d<f32>;
// Per region set (channel k of the masks): the guided filter's averaged coefficients, a in rgb
// and b in alpha (guided.wgsl).
@group(0) @binding(12) var guided0: texture_2d<f32>;
@group(0) @binding(13) var guided1: texture_2d<f32>;
@group(0) @binding(14) var guided2: texture_2d<f32>;
@group(0) @binding(15) var guided3: texture_2d<f32>;
// How the picture moved since the last frame (motion_field.wgsl): the history is read where each
// pixel's content was, so a panning camera does not drag the old masks across the picture.
@group(0) @binding(16) var history_flow: texture_2d<f32>;


struct Outputs {
    // One region set per channel.
    @location(0) masks: vec4f,
    // r: the person mask, g: depth, b: the temporal filter's memory of motion.
    @location(1) person_depth: vec4f,
}

// The share of its membership in region set `k` a pixel of `colour` keeps: all of it within
// the set's colour, none far outside it.
fn colour_keep(k: i32, colour: vec3f) -> f32 {
    let d = colour - analysis.colour_mean[k].rgb;
    let inverse = mat3x3f(
        analysis.colour_inverse[k * 3].xyz,
        analysis.colour_inverse[k * 3 + 1].xyz,
        analysis.colour_inverse[k * 3 + 2].xyz,
    );
    let outlier = analysis.colour_outlier;
    return 1.0 - smoothstep(outlier.x, outlier.y, dot(d, inverse * d));
}

// Position of this pixel in a low-resolution map, in that map's texel units.
fn low_position(uv: vec2f, low_size: vec2u) -> vec2f {
    return uv * vec2f(low_size) - 0.5;
}

fn tap_weight(colour: vec3f, fx: vec2f, tap: vec2i, guide: texture_2d<f32>, sr: f32) -> f32 {
    let d = vec2f(tap) - fx;
    let dc = textureLoad(guide, tap, 0).rgb - colour;
    let ss = analysis.params.x;
    return exp(-dot(d, d) / (2.0 * ss * ss) - dot(dc, dc) / (2.0 * sr * sr)) + 1e-6;
}

fn upsample(map: texture_2d<f32>, guide: texture_2d<f32>, uv: vec2f, colour: vec3f, sr: f32) -> vec4f {
    let size = textureDimensions(map);
    let fx = low_position(uv, size);
    let base = vec2i(floor(fx - 0.5 * f32(TAPS - 2)));
    var sum = vec4f(0.0);
    var total = 0.0;
    for (var j = 0; j < TAPS; j++) {
        for (var i = 0; i < TAPS; i++) {
            let tap = clamp(base + vec2i(i, j), vec2i(0), vec2i(size) - 1);
            let w = tap_weight(colour, fx, tap, guide, sr);
            sum += textureLoad(map, tap, 0) * w;
            total += w;
        }
    }
    return sum / total;
}

@fragment
fn fs_main(in: VertexOut) -> Outputs {
    let pixel = vec2i(in.position.xy);
    let colour = textureLoad(frame, pixel, 0).rgb;
    var masks = vec4f(0.0);
    var person_depth = vec4f(0.0, 0.5, 0.0, 1.0);
    if HAS_REGIONS {
        // Membership is each region's share of the model's probability, refined by the
        // picture (a . colour + b, the guided filter's coefficients at this pixel); a region
        // takes the pixels where it reaches the threshold, with a short anti-aliased
        // transition around it.
        let g0 = textureSampleLevel(guided0, frame_sampler, in.uv, 0.0);
        let g1 = textureSampleLevel(guided1, frame_sampler, in.uv, 0.0);
        let g2 = textureSampleLevel(guided2, frame_sampler, in.uv, 0.0);
        let g3 = textureSampleLevel(guided3, frame_sampler, in.uv, 0.0);
        let votes = vec4f(
            dot(g0.rgb, colour) + g0.a,
            dot(g1.rgb, colour) + g1.a,
            dot(g2.rgb, colour) + g2.a,
            dot(g3.rgb, colour) + g3.a,
        );
        // Walls and ceilings keep only the pixels of their own colour: what the model's coarse
        // scores reached over in front of them (a sofa's side, a shirt) leaves.
        var keep = vec4f(1.0);
        if (PAINTED_SETS & 1u) != 0u {
            keep.x = colour_keep(0, colour);
        }
        if (PAINTED_SETS & 2u) != 0u {
            keep.y = colour_keep(1, colour);
        }
        if (PAINTED_SETS & 4u) != 0u {
            keep.z = colour_keep(2, colour);
        }
        if (PAINTED_SETS & 8u) != 0u {
            keep.w = colour_keep(3, colour);
        }
        let threshold = vec4f(analysis.range.z);
        masks = smoothstep(threshold - 0.05, threshold + 0.05, votes * keep);
    }
    if HAS_PERSON {
        person_depth.r = upsample(person, person_guide, in.uv, colour, analysis.range.y).r;
    }
    if HAS_DEPTH {
        person_depth.g = upsample(depth, depth_guide, in.uv, colour, analysis.range.y).r;
    }
    if TEMPORAL {
        // Take the new value fast where the picture moved, slowly where it is still; uncertain
        // new mask values (near 0.5) lean on the history more (MediaPipe-style smoothing).
        // "Moved" reaches a few pixels past where the picture changed and lasts a few frames
        // (person_depth.b): the maps' soft edges reach past the pixels that changed colour,
        // and the maps lag the picture (coarse, fused over frames). Held by the slow path,
        // each frame's lagging edge of a person walking past a plain wall left an arc on it.
        // The person mask and depth only when made on this frame: carried from an older one,
        // they still show a walking person where they were, and taken fast wherever the
        // picture moved they left the person's trail on the wall. Region maps keep the fast
        // path: it is what makes a carried map follow a panning camera where the history is
        // not moved (`process`).
        let was = in.uv + displacement(history_flow, in.uv);
        let old_pd = textureSampleLevel(previous_person_depth, frame_sampler, was, 0.0);
        let moved_now = textureSampleLevel(motion, frame_sampler, in.uv, 0.0).a;
        let moved = max(moved_now, old_pd.b * analysis.temporal.y);
        person_depth.b = moved;
        let alpha = max(analysis.params.z, moved);
        let alpha_pd = max(analysis.params.z, moved * analysis.temporal.x);
        if HAS_REGIONS {
            let old_masks = textureSampleLevel(previous_masks, frame_sampler, was, 0.0);
            let certainty_masks = abs(masks * 2.0 - 1.0);
            masks = mix(old_masks, masks, alpha * mix(vec4f(0.5), vec4f(1.0), certainty_masks));
        }
        if HAS_PERSON || HAS_DEPTH {
            let certainty_person = abs(person_depth.r * 2.0 - 1.0);
            person_depth.r = mix(old_pd.r, person_depth.r, alpha_pd * mix(0.5, 1.0, certainty_person));
            person_depth.g = mix(old_pd.g, person_depth.g, alpha_pd);
        }
    }
    if HAS_REGIONS && HAS_PERSON {
        // A person in front of a wall keeps their own pixels, whatever the segmentation model
        // reads there: the person model is the one that knows people.
        masks *= 1.0 - analysis.spare * smoothstep(analysis.params.y, analysis.params.w, person_depth.r);
    }
    var out: Outputs;
    out.masks = masks;
    out.person_depth = person_depth;
    return out;
}
