//! `dreamlens process` end to end: real photos, a video the test makes with ffmpeg, the demo
//! scene, and the errors a user can run into.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use common::*;
use dreamlens::{
    inference::{ModelSession, SegmentationPasses, SessionOptions, analysis::run_segmentation},
    store::manifest::DEFAULT_SEGMENTATION_MODEL,
};

fn dreamlens(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .env("DREAMLENS_CACHE_DIR", cache)
        .args(args)
        .output()
        .expect("runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn pngs_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files
}

#[test]
fn wall_paint_on_real_photos_repaints_walls_and_leaves_the_rest() {
    let cache = tempfile::tempdir().expect("temp");
    let out = tempfile::tempdir().expect("temp");
    let images = images_dir();
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            images.to_str().expect("utf8"),
            "--output",
            out.path().to_str().expect("utf8"),
            "--preset",
            "wall-paint",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let files = pngs_in(out.path());
    assert_eq!(files.len(), 4, "{files:?}");
    // Each result is named as the photo it comes from.
    assert!(files[0].ends_with("ADE_val_00000001.png"), "{files:?}");

    // Photo 3: a stone wall behind booths. Where the model sees wall the picture changes a lot;
    // elsewhere (away from the wall's border) it stays as it was.
    let original = photo("ADE_val_00000003");
    let edited = image::open(&files[2]).expect("png").to_rgb8();
    assert_eq!(edited.dimensions(), original.dimensions());
    let model = mirror_store(cache.path()).locate(DEFAULT_SEGMENTATION_MODEL).expect("model");
    let mut session = ModelSession::open(&model, &SessionOptions::default()).expect("session");
    let classes =
        run_segmentation(&mut session, &original, SegmentationPasses::default()).expect("runs");
    let (w, h) = original.dimensions();
    let wall_at =
        |x: u32, y: u32| classes.class_at(x * classes.width / w, y * classes.height / h) == 1;
    let near_border = |x: u32, y: u32| {
        let r = 8i32;
        [(-r, 0), (r, 0), (0, -r), (0, r)].iter().any(|(dx, dy)| {
            let (nx, ny) = (
                (x as i32 + dx).clamp(0, w as i32 - 1) as u32,
                (y as i32 + dy).clamp(0, h as i32 - 1) as u32,
            );
            wall_at(nx, ny) != wall_at(x, y)
        })
    };
    let (mut wall_change, mut wall_n, mut other_change, mut other_n) = (0f64, 0u32, 0f64, 0u32);
    for (x, y, p) in original.enumerate_pixels() {
        if near_border(x, y) {
            continue;
        }
        let q = edited.get_pixel(x, y);
        let change: f64 = (0..3).map(|c| f64::from(p.0[c].abs_diff(q.0[c]))).sum::<f64>() / 3.0;
        if wall_at(x, y) {
            wall_change += change;
            wall_n += 1;
        } else {
            other_change += change;
            other_n += 1;
        }
    }
    let (wall_change, other_change) =
        (wall_change / f64::from(wall_n), other_change / f64::from(other_n.max(1)));
    assert!(wall_n > 50_000, "photo 3 should be mostly wall");
    assert!(wall_change > 20.0, "walls barely changed: {wall_change}");
    assert!(other_change < 1.0, "non-wall pixels changed: {other_change}");
}

#[test]
fn a_video_made_with_ffmpeg_is_processed_frame_by_frame_and_deterministically() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let clip = test_clip(work.path());
    let mut outputs = Vec::new();
    for jobs in ["1", "2"] {
        let out = work.path().join(format!("out{jobs}"));
        let output = dreamlens(
            cache.path(),
            &[
                "process",
                "--input",
                clip.to_str().expect("utf8"),
                "--output",
                out.to_str().expect("utf8"),
                "--preset",
                "portrait-blur",
                "--jobs",
                jobs,
            ],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let files = pngs_in(&out);
        assert_eq!(files.len(), 12, "every frame written: {files:?}");
        outputs.push(files);
    }
    for (a, b) in outputs[0].iter().zip(&outputs[1]) {
        assert_eq!(
            std::fs::read(a).expect("png"),
            std::fs::read(b).expect("png"),
            "{} differs between 1 and 2 workers",
            a.display()
        );
    }
    // The effect really ran: the pattern's sharp edges are blurred (no person in the clip).
    let first = image::open(&outputs[0][0]).expect("png").to_rgb8();
    assert_eq!(first.dimensions(), (320, 240));
    let sharpness = |img: &image::RgbImage| -> f64 {
        img.enumerate_pixels()
            .filter(|(x, _, _)| *x + 1 < img.width())
            .map(|(x, y, p)| f64::from(p.0[1].abs_diff(img.get_pixel(x + 1, y).0[1])))
            .sum::<f64>()
    };
    let plain = work.path().join("plain.png");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&clip)
        .args(["-frames:v", "1"])
        .arg(&plain)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let plain = image::open(&plain).expect("png").to_rgb8();
    assert!(sharpness(&first) < sharpness(&plain) * 0.7, "not blurred");
}

#[test]
fn the_demo_runs_with_no_input_files() {
    let cache = tempfile::tempdir().expect("temp");
    let out = tempfile::tempdir().expect("temp");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            "demo",
            "--output",
            out.path().to_str().expect("utf8"),
            "--max-frames",
            "3",
            "--demo-size",
            "320x180",
            "--preset",
            "toon",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let files = pngs_in(out.path());
    assert_eq!(files.len(), 3);
    let frame = image::open(&files[2]).expect("png").to_rgb8();
    assert_eq!(frame.dimensions(), (320, 180));
}

/// `--segment-every 3` on a moving clip (a real room panned by 8 pixels a frame): the frames
/// between analysed ones get the regions carried by the measured motion, and the repaint agrees
/// with analysing every frame on at least 98% of pixels. A pixel disagrees where the two
/// pictures differ by more than 40 levels in a channel: a repaint moves a wall pixel by far more,
/// edge blending by a few levels. Both runs use this machine's kernels, so only the carrying
/// differs between them.
#[test]
fn regions_carried_between_analysed_frames_agree_with_analysing_every_frame() {
    let cache = tempfile::tempdir().expect("temp");
    let out = tempfile::tempdir().expect("temp");
    let clip = out.path().join("pan.mp4");
    let photo = images_dir().join("ADE_val_00000001.jpg");
    ffmpeg(&[
        "-loop",
        "1",
        "-i",
        photo.to_str().expect("utf8"),
        "-vf",
        "scale=960:540,crop=640:360:x='8*n':y=90",
        "-frames:v",
        "24",
        "-r",
        "12",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().expect("utf8"),
    ]);
    let run = |every: &str| {
        let folder = out.path().join(every);
        let output = dreamlens(
            cache.path(),
            &[
                "process",
                "--input",
                clip.to_str().expect("utf8"),
                "--output",
                folder.to_str().expect("utf8"),
                "--preset",
                "wall-paint",
                "--segment-every",
                every,
            ],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        pngs_in(&folder)
    };
    let (each, carried) = (run("1"), run("3"));
    assert_eq!((each.len(), carried.len()), (24, 24));
    let mut agreements = Vec::new();
    for (a, b) in each.iter().zip(&carried) {
        let a = image::open(a).expect("png").to_rgb8();
        let b = image::open(b).expect("png").to_rgb8();
        let differing = a
            .pixels()
            .zip(b.pixels())
            .filter(|(p, q)| p.0.iter().zip(q.0).any(|(x, y)| x.abs_diff(y) > 40))
            .count();
        agreements.push(1.0 - differing as f64 / f64::from(a.width() * a.height()));
    }
    let mean = agreements.iter().sum::<f64>() / agreements.len() as f64;
    let worst = agreements.iter().copied().fold(1.0, f64::min);
    eprintln!(
        "carried regions agree on {:.2}% of pixels (worst frame {:.2}%)",
        mean * 100.0,
        worst * 100.0
    );
    assert!(mean >= 0.98, "carried regions agree on only {:.2}% of pixels", mean * 100.0);
    // Regions left where the analysed frame had them, not moved with the picture, agree on
    // 98.2% here and on 93.1% in the worst frame: the motion is what keeps each frame right.
    // Carried, the worst frame (96.3% here) is one where the model reads the armchair's arm as
    // wall on the analysed frame and not on the next two: analysing every frame leaves the arm
    // alone there, the carried map still paints it.
    assert!(worst >= 0.95, "a carried frame agrees on only {:.2}% of pixels", worst * 100.0);
}

#[test]
fn one_photo_goes_to_one_file() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let photo_path = images_dir().join("ADE_val_00000002.jpg");
    let single = work.path().join("nested/edited.png");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            photo_path.to_str().expect("utf8"),
            "--output",
            single.to_str().expect("utf8"),
            "--preset",
            "film",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(image::image_dimensions(&single).expect("png"), (512, 512));
}

#[test]
fn bad_inputs_and_presets_get_clear_errors_naming_them() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    let images = images_dir();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--input".into(),
                images.display().to_string(),
                "--output".into(),
                work.path().join("x.png").display().to_string(),
            ],
            "give a folder instead",
        ),
        (
            vec![
                "--input".into(),
                "/no/such/clip.mp4".into(),
                "--output".into(),
                work.path().join("o").display().to_string(),
            ],
            "/no/such/clip.mp4: does not exist",
        ),
        (
            vec![
                "--input".into(),
                "demo".into(),
                "--output".into(),
                work.path().join("o").display().to_string(),
                "--preset".into(),
                "sparkles".into(),
            ],
            "built-in presets",
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["process"];
        full.extend(args.iter().map(String::as_str));
        let output = dreamlens(cache.path(), &full);
        assert!(!output.status.success());
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
        assert!(!stderr(&output).contains("panicked"));
    }

    // A preset with a mistake names its file and line.
    let preset = work.path().join("mine.toml");
    std::fs::write(&preset, "description = \"mine\"\n\n[[layer]]\neffect = \"repaint\"\nregion = [\"wall\"]\ncolour = \"green\"\n").expect("write");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            "demo",
            "--max-frames",
            "1",
            "--output",
            work.path().join("p").to_str().expect("utf8"),
            "--preset",
            preset.to_str().expect("utf8"),
        ],
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains(&format!("{}:3:", preset.display())), "{}", stderr(&output));

    // A file that is not a video is refused by name.
    let fake = work.path().join("fake.mp4");
    std::fs::write(&fake, b"not a video at all").expect("write");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            fake.to_str().expect("utf8"),
            "--output",
            work.path().join("f").to_str().expect("utf8"),
            "--preset",
            "toon",
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("fake.mp4") && stderr(&output).contains("not a readable video"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn any_picture_can_be_the_style_of_the_walls() {
    let cache = tempfile::tempdir().expect("temp");
    let work = tempfile::tempdir().expect("temp");
    // The style image sits next to the preset and is named relative to it.
    std::fs::copy(images_dir().join("ADE_val_00000002.jpg"), work.path().join("leaves.jpg"))
        .expect("copy");
    let preset = work.path().join("leafy-walls.toml");
    std::fs::write(&preset, "description = \"walls in the style of a photo\"\n[[layer]]\neffect = \"style\"\nregion = [\"wall\"]\nimage = \"leaves.jpg\"\n").expect("write");
    let out = work.path().join("out.png");
    let input = images_dir().join("ADE_val_00000003.jpg");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            input.to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
            "--preset",
            preset.to_str().expect("utf8"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("arbitrary-style-transform"),
        "the arbitrary-style model ran: {}",
        stderr(&output)
    );
    let original = photo("ADE_val_00000003");
    let edited = image::open(&out).expect("png").to_rgb8();
    // The top of the photo is stone wall: restyled. The bottom rows are pavement: untouched.
    let band_change = |rows: std::ops::Range<u32>| -> f64 {
        let mut sum = 0f64;
        for y in rows.clone() {
            for x in 0..original.width() {
                let (a, b) = (original.get_pixel(x, y), edited.get_pixel(x, y));
                sum += (0..3).map(|c| f64::from(a.0[c].abs_diff(b.0[c]))).sum::<f64>() / 3.0;
            }
        }
        sum / f64::from(original.width() * rows.len() as u32)
    };
    assert!(band_change(10..100) > 25.0, "wall not restyled: {}", band_change(10..100));
    assert!(band_change(490..510) < 2.0, "pavement changed: {}", band_change(490..510));
}

#[test]
fn presets_are_listed() {
    let cache = tempfile::tempdir().expect("temp");
    let output = dreamlens(cache.path(), &["presets", "list"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    for name in ["wall-paint", "wallpaper", "portrait-blur", "bokeh", "painting", "toon", "film"] {
        assert!(stdout.lines().any(|l| l.starts_with(name)), "{name} missing: {stdout}");
    }
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg is installed");
    assert!(status.success(), "ffmpeg {args:?}");
}

fn mean_difference(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    sum as f64 / a.as_raw().len() as f64
}

/// A phone video stores the sensor's picture plus a display rotation; it must come out the way
/// players show it (FFmpeg's own autorotation is the reference), not sideways.
#[test]
fn a_video_with_rotation_metadata_is_processed_upright() {
    let cache = tempfile::tempdir().expect("temp");
    let dir = tempfile::tempdir().expect("temp");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf8").to_owned();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=12",
        "-frames:v",
        "3",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        "-pix_fmt",
        "yuv444p",
        &path("flat.mp4"),
    ]);
    ffmpeg(&[
        "-i",
        &path("flat.mp4"),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        &path("phone.mp4"),
    ]);
    ffmpeg(&["-i", &path("phone.mp4"), "-frames:v", "1", &path("upright.png")]);
    let output = dreamlens(
        cache.path(),
        &["process", "--input", &path("phone.mp4"), "--output", &path("out"), "--preset", "film"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let ours = image::open(dir.path().join("out/frame_000000.png")).expect("written").to_rgb8();
    let upright = image::open(path("upright.png")).expect("ffmpeg's frame").to_rgb8();
    assert_eq!(ours.dimensions(), (240, 320), "turned a quarter");
    let same_way = mean_difference(&ours, &upright);
    let other_way = mean_difference(&ours, &image::imageops::rotate180(&upright));
    // The film grade moves colours by some levels; the wrong turn moves every pattern.
    assert!(same_way * 2.0 < other_way, "{same_way:.1} vs {other_way:.1} turned the other way");
}

#[test]
fn broken_videos_are_named_in_clear_errors() {
    let cache = tempfile::tempdir().expect("temp");
    let dir = tempfile::tempdir().expect("temp");
    let fake = dir.path().join("notes.mp4");
    std::fs::write(&fake, b"these are not the frames you are looking for").expect("write");
    let output = dreamlens(
        cache.path(),
        &["process", "--input", fake.to_str().expect("utf8"), "--output", "/tmp/unused-out"],
    );
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("notes.mp4") && !text.contains("panicked"), "{text}");

    // A clip cut in the middle of its data: what decodes is processed; nothing panics.
    let clip = test_clip(dir.path());
    let bytes = std::fs::read(&clip).expect("read");
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    let out = dir.path().join("cut-out");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            cut.to_str().expect("utf8"),
            "--output",
            out.to_str().expect("utf8"),
            "--preset",
            "film",
        ],
    );
    let text = stderr(&output);
    assert!(!text.contains("panicked"), "{text}");
    if output.status.success() {
        assert!(!pngs_in(&out).is_empty(), "a cut clip that succeeds wrote its frames");
    } else {
        assert!(text.contains("cut.mp4"), "{text}");
    }
}

/// Photos of different sizes into one MP4: every adapter scales them to the first photo's size
/// and says so once.
#[test]
fn photos_of_other_sizes_are_scaled_into_one_recording() {
    let cache = tempfile::tempdir().expect("temp");
    let dir = tempfile::tempdir().expect("temp");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).expect("mkdir");
    for (name, (w, h)) in [("a.png", (320, 240)), ("b.png", (200, 300)), ("c.png", (640, 480))] {
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]))
            .save(photos.join(name))
            .expect("write");
    }
    let clip = dir.path().join("photos.mp4");
    let output = dreamlens(
        cache.path(),
        &[
            "process",
            "--input",
            photos.to_str().expect("utf8"),
            "--output",
            clip.to_str().expect("utf8"),
            "--preset",
            "film",
        ],
    );
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert_eq!(log.matches("scaled to the first frame's 320x240").count(), 1, "{log}");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0"])
        .arg(&clip)
        .output()
        .expect("ffprobe");
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "320,240,3");
}

#[test]
fn a_missing_model_stops_the_run_unless_the_user_allows_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("no-models");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let run = |out: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dreamlens"))
            .env("DREAMLENS_MODEL_DIRS", &empty)
            .env("DREAMLENS_CACHE_DIR", dir.path().join("cache"))
            .args(["process", "--input", "demo", "--demo-size", "320x180", "--max-frames", "2"])
            .args(["--preset", "wall-paint", "--output"])
            .arg(dir.path().join(out))
            .args(extra)
            .output()
            .expect("runs")
    };
    let refused = run("refused", &[]);
    let message = stderr(&refused);
    assert!(!refused.status.success(), "wrote unedited frames and exited 0: {message}");
    assert!(message.contains(DEFAULT_SEGMENTATION_MODEL), "the model is not named: {message}");
    assert!(message.contains("--allow-missing-models"), "no way forward: {message}");
    assert!(
        !dir.path().join("refused").exists() || pngs_in(&dir.path().join("refused")).is_empty()
    );

    let allowed = run("allowed", &["--allow-missing-models"]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert_eq!(pngs_in(&dir.path().join("allowed")).len(), 2);
    assert!(stderr(&allowed).contains("layer is off"), "{}", stderr(&allowed));
}

/// Both spellings of a folder (`out` and `out/`, as the README writes it) name the file.
#[test]
fn an_output_folder_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("out");
    std::fs::write(&file, b"not a folder").expect("write");
    for output_arg in [file.display().to_string(), format!("{}/", file.display())] {
        let output = dreamlens(
            &dir.path().join("cache"),
            &["process", "--input", "demo", "--max-frames", "1", "--output", &output_arg],
        );
        assert!(!output.status.success());
        let message = stderr(&output);
        assert!(message.contains("is a file, not a folder"), "{output_arg}: {message}");
        assert!(!message.contains("os error"), "{output_arg}: {message}");
        assert_eq!(std::fs::read(&file).expect("kept"), b"not a folder", "the file was touched");
    }
}

#[test]
fn a_folder_of_photos_is_never_written_over_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).expect("folder");
    let original = photos.join("room.png");
    photo("ADE_val_00000001").save(&original).expect("write");
    let before = std::fs::read(&original).expect("read");
    let output = dreamlens(
        &dir.path().join("cache"),
        &[
            "process",
            "--input",
            photos.to_str().expect("utf-8"),
            "--output",
            photos.to_str().expect("utf-8"),
            "--preset",
            "film",
        ],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("is the input folder"), "{message}");
    assert_eq!(std::fs::read(&original).expect("kept"), before, "the photo was replaced");
}

/// The largest resident memory `process` reached on `frames` frames of `clip` with `preset`,
/// read from the kernel's high-water mark while it runs, in kB.
fn peak_memory_kb(cache: &Path, clip: &Path, preset: &Path, frames: u32, output: &Path) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .env("DREAMLENS_CACHE_DIR", cache)
        .args(["process", "--preset"])
        .arg(preset)
        .arg("--input")
        .arg(clip)
        .arg("--output")
        .arg(output)
        .args(["--max-frames", &frames.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().expect("waits").is_none() {
        let high_water = std::fs::read_to_string(&status).ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        peak = peak.max(high_water.unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().expect("waits").success(), "process failed on {}", clip.display());
    peak
}

/// Effect shaders must not branch on their uniforms. Mesa's lavapipe (22.3, the software
/// adapter here) compiles a shader again whenever the uniforms it branches on are written, and
/// keeps every copy: `toon` and `grain` grew `process` by about 340 KB a frame, and the live
/// window grew by 17 MB/s with `wall-paint`. 600 more frames would then add about 200 MB; the
/// decoder, compositor and encoder allocate once, so without the fault the peaks stay within
/// a few MB of each other.
#[test]
fn memory_stays_flat_while_effects_run_for_hundreds_of_frames() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = dir.path().join("clip.mp4");
    let clip_arg = clip.to_str().expect("a UTF-8 temp path");
    let source = "testsrc=size=320x240:rate=30";
    ffmpeg(&["-f", "lavfi", "-i", source, "-t", "25", "-pix_fmt", "yuv420p", clip_arg]);
    let preset = dir.path().join("toon-grain.toml");
    std::fs::write(
        &preset,
        "description = \"toon and grain\"\n[[layer]]\neffect = \"toon\"\nlevels = 5.0\n\
         edges = 0.9\n[[layer]]\neffect = \"grain\"\namount = 0.06\n",
    )
    .expect("write the preset");
    let cache = dir.path().join("cache");
    let short = peak_memory_kb(&cache, &clip, &preset, 100, &dir.path().join("short.mp4"));
    let long = peak_memory_kb(&cache, &clip, &preset, 700, &dir.path().join("long.mp4"));
    eprintln!("peak memory: {short} kB after 100 frames, {long} kB after 700");
    assert!(
        long < short + 40_000,
        "600 more frames took {} MB more memory ({short} kB -> {long} kB)",
        (long.saturating_sub(short)) / 1000
    );
}
