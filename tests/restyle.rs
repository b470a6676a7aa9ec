//! `dreamlens restyle` and `process --restyle` end to end: the tiny diffusion pipeline, the
//! style-transfer fallback, keyframes projected along a clip, and the errors a user can meet.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use common::*;

fn dreamlens(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .env("DREAMLENS_CACHE_DIR", cache)
        .env_remove("DREAMLENS_DIFFUSION_MODEL")
        .args(args)
        .output()
        .expect("runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn tiny_model() -> PathBuf {
    root().join("tests/data/tiny-sd")
}

fn photo_path() -> PathBuf {
    images_dir().join("ADE_val_00000001.jpg")
}

fn mean_level_difference(a: &image::RgbImage, b: &image::RgbImage) -> f32 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    sum as f32 / a.as_raw().len() as f32
}

fn restyle(cache: &Path, out: &Path, extra: &[&str]) -> Output {
    let photo = photo_path();
    let mut args = vec![
        "restyle",
        "--input",
        photo.to_str().expect("utf8"),
        "--prompt",
        "mid-century modern living room, teal walls",
        "--output",
        out.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    dreamlens(cache, &args)
}

#[test]
fn the_tiny_diffusion_pipeline_restyles_a_photo_end_to_end_and_reproducibly() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let model = tiny_model();
    let model = model.to_str().expect("utf8");
    let run = |name: &str, seed: &str| {
        let out = work.path().join(name);
        let output = restyle(cache.path(), &out, &["--diffusion-model", model, "--seed", seed]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stderr(&output).contains("engine: diffusion"), "{}", stderr(&output));
        image::open(&out).expect("restyled picture").to_rgb8()
    };
    let first = run("a.png", "7");
    let again = run("b.png", "7");
    let other = run("c.png", "8");
    let photo = image::open(photo_path()).expect("photo").to_rgb8();
    assert_eq!(first.dimensions(), photo.dimensions(), "the result has the photo's size");
    assert_eq!(first, again, "the same seed gives the same picture");
    assert!(mean_level_difference(&first, &other) > 1.0, "another seed gives another picture");
}

#[test]
fn without_a_diffusion_model_restyle_uses_style_transfer_and_says_so() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let photo = image::open(photo_path()).expect("photo").to_rgb8();
    let out = work.path().join("styled.png");
    let output = restyle(cache.path(), &out, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    assert!(log.contains("style transfer") && log.contains("prompt only chooses"), "{log}");
    // "... teal walls" names the default style's colours.
    assert!(log.contains("built-in style 13 (cubist)"), "{log}");
    let styled = image::open(&out).expect("png").to_rgb8();
    // Visibly restyled: style 13 repaints the photo in flat bright colours (measured: 57 levels
    // from the photo on average; a mild colour filter stays under 15).
    let difference = mean_level_difference(&styled, &photo);
    assert!(difference > 30.0, "barely changed: {difference}");

    // Any picture as the style: photo 2's look.
    let style_image = images_dir().join("ADE_val_00000002.jpg");
    let out2 = work.path().join("styled2.png");
    let output =
        restyle(cache.path(), &out2, &["--style-image", style_image.to_str().expect("utf8")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("ADE_val_00000002.jpg"), "{}", stderr(&output));
    let styled2 = image::open(&out2).expect("png").to_rgb8();
    assert!(mean_level_difference(&styled2, &styled) > 10.0, "the style image made no difference");
}

#[test]
fn without_a_diffusion_model_the_prompt_picks_the_built_in_style_it_names() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let run = |prompt: &str, name: &str| {
        let out = work.path().join(name);
        let photo = photo_path();
        let output = dreamlens(
            cache.path(),
            &[
                "restyle",
                "--input",
                photo.to_str().expect("utf8"),
                "--prompt",
                prompt,
                "--output",
                out.to_str().expect("utf8"),
            ],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        (stderr(&output), image::open(&out).expect("png").to_rgb8())
    };
    let (log, starry) = run("the room as Van Gogh's Starry Night", "starry.png");
    assert!(log.contains("built-in style 19 (swirling night)"), "{log}");
    let (log, unnamed) = run("a cyberpunk city at dawn", "default.png");
    assert!(log.contains("built-in style 13 (cubist)"), "{log}");
    let difference = mean_level_difference(&starry, &unnamed);
    eprintln!("style 19 against style 13: {difference:.1} levels");
    assert!(difference > 15.0, "the named style looks like the default: {difference:.1}");
}

#[test]
fn restyle_errors_name_the_input_and_the_fix() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let missing = work.path().join("nope.jpg");
    let output = dreamlens(
        cache.path(),
        &[
            "restyle",
            "--input",
            missing.to_str().expect("utf8"),
            "--prompt",
            "x",
            "--output",
            work.path().join("o.png").to_str().expect("utf8"),
        ],
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("nope.jpg"), "{}", stderr(&output));

    let output = restyle(cache.path(), &work.path().join("out.txt"), &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains(".png or .jpg"), "{}", stderr(&output));

    // A named diffusion model that is not there is an error, not a quiet fallback.
    let empty = tempfile::tempdir().expect("temp");
    let output = restyle(
        cache.path(),
        &work.path().join("o.png"),
        &["--diffusion-model", empty.path().to_str().expect("utf8")],
    );
    assert!(!output.status.success());
    let log = stderr(&output);
    assert!(
        log.contains("not a diffusion pipeline folder") && log.contains("optimum-cli"),
        "{log}"
    );

    let output = restyle(
        cache.path(),
        &work.path().join("o.png"),
        &["--diffusion-model", tiny_model().to_str().expect("utf8"), "--strength", "0.1"],
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("no denoising step"), "{}", stderr(&output));
}

#[test]
fn process_restyles_keyframes_and_carries_them_between() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let clip = test_clip(work.path());
    let out = work.path().join("out");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            clip.to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
            "--restyle",
            "a watercolour painting",
            "--restyle-every",
            "4",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("restyle engine: style transfer"), "{}", stderr(&output));
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&out).expect("out").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert_eq!(files.len(), 12);
    let frames_dir = work.path().join("frames");
    std::fs::create_dir_all(&frames_dir).expect("mkdir");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&clip)
        .arg(frames_dir.join("%02d.png"))
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    for (index, file) in files.iter().enumerate() {
        let restyled = image::open(file).expect("png").to_rgb8();
        let original =
            image::open(frames_dir.join(format!("{:02}.png", index + 1))).expect("png").to_rgb8();
        let difference = mean_level_difference(&restyled, &original);
        // Keyframes (0, 4, 8) and the frames between are all restyled, not passed through.
        assert!(difference > 20.0, "frame {index} is not restyled ({difference})");
    }
}

/// Mean level difference between `frame` and `keyframe` moved left by `shift` pixels, over the
/// part both show.
fn shifted_difference(frame: &image::RgbImage, keyframe: &image::RgbImage, shift: u32) -> f32 {
    let (w, h) = frame.dimensions();
    let (mut sum, mut count) = (0u64, 0u64);
    for y in 8..h - 8 {
        for x in 8..w - shift - 8 {
            let (a, b) = (frame.get_pixel(x, y), keyframe.get_pixel(x + shift, y));
            sum += (0..3).map(|c| u64::from(a.0[c].abs_diff(b.0[c]))).sum::<u64>();
            count += 3;
        }
    }
    sum as f32 / count as f32
}

/// A camera panning right over a photo by 6 pixels a frame: frames between keyframes must show
/// the keyframe's restyle moved with the scene, not left where it was.
#[test]
fn frames_between_keyframes_carry_the_restyle_with_the_motion() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let clip = work.path().join("pan.mp4");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-loop", "1", "-framerate", "12", "-i"])
        .arg(photo_path())
        .args(["-vf", "crop=320:240:6*n:120", "-frames:v", "4", "-c:v", "libx264"])
        .args(["-qp", "0", "-pix_fmt", "yuv444p"])
        .arg(&clip)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let out = work.path().join("out");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            clip.to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
            "--restyle",
            "a watercolour painting",
            "--restyle-every",
            "4",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let frame = |i: u32| {
        image::open(out.join(format!("frame_{i:06}.png"))).expect("frame written").to_rgb8()
    };
    let keyframe = frame(0);
    for index in 1..4u32 {
        let carried = shifted_difference(&frame(index), &keyframe, 6 * index);
        let left_in_place = shifted_difference(&frame(index), &keyframe, 0);
        assert!(
            carried * 2.0 < left_in_place,
            "frame {index}: {carried:.1} levels from the moved keyframe, {left_in_place:.1} from the unmoved one"
        );
    }
}

#[test]
fn process_restyles_with_the_tiny_diffusion_pipeline_in_a_region() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let out = work.path().join("walls.png");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            photo_path().to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
            "--preset",
            "restyle-walls",
            "--restyle",
            "teal walls",
            "--diffusion-model",
            tiny_model().to_str().expect("utf8"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    assert!(log.contains("restyle engine: diffusion"), "{log}");
    let result = image::open(&out).expect("png").to_rgb8();
    let photo = image::open(photo_path()).expect("photo").to_rgb8();
    // Only the walls change: the armchair in the middle of photo 1 keeps its pixels, a wall
    // patch at the top left does not.
    let patch = |img: &image::RgbImage, x0: u32, y0: u32| -> Vec<u8> {
        (y0..y0 + 20).flat_map(|y| (x0..x0 + 20).flat_map(move |x| img.get_pixel(x, y).0)).collect()
    };
    let diff = |a: &[u8], b: &[u8]| {
        a.iter().zip(b).map(|(x, y)| f32::from(x.abs_diff(*y))).sum::<f32>() / a.len() as f32
    };
    let (w, h) = photo.dimensions();
    let chair = diff(&patch(&result, w / 2, h * 3 / 5), &patch(&photo, w / 2, h * 3 / 5));
    assert!(chair < 3.0, "the armchair changed by {chair} levels");
    let changed =
        result.as_raw().iter().zip(photo.as_raw()).filter(|(a, b)| a.abs_diff(**b) > 8).count();
    assert!(changed > result.as_raw().len() / 20, "too little restyled: {changed} values");
}
