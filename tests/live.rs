//! The live window under Xvfb: it opens, shows the effect and the controls, writes a screenshot
//! of what it really drew, and exits; with no display it explains what to do instead.

mod common;

use std::{path::Path, process::Command, time::Duration};

use common::*;

/// Mean channel difference between the window's picture, drawn into `rect` (window pixels),
/// and `picture` scaled to that size, where neither the panel nor the HUD covers it.
fn mean_difference_in_rect(
    shot: &image::RgbImage,
    picture: &image::RgbImage,
    rect: [f64; 4],
) -> f64 {
    let [x0, y0, x1, y1] = rect.map(|v| v.round() as u32);
    let scaled =
        image::imageops::resize(picture, x1 - x0, y1 - y0, image::imageops::FilterType::Triangle);
    let (mut sum, mut count) = (0f64, 0u32);
    // The HUD floats over the top right of the window.
    for y in (y0 + 8).max(170)..y1 - 8 {
        for x in x0 + 8..(x1 - 8).min(560) {
            let (a, b) = (shot.get_pixel(x, y), scaled.get_pixel(x - x0, y - y0));
            sum += (0..3).map(|c| f64::from(a.0[c].abs_diff(b.0[c]))).sum::<f64>() / 3.0;
            count += 1;
        }
    }
    sum / f64::from(count.max(1))
}

/// The app on the virtual display `screen`, with the real models and its settings in `config`
/// (never the user's).
fn window_command(screen: &Xvfb, config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dreamlens"));
    command
        .env("DISPLAY", &screen.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .env("XDG_CONFIG_HOME", config);
    command
}

#[test]
fn the_window_shows_the_effect_and_the_controls() {
    let screen = xvfb();
    let dir = tempfile::tempdir().expect("temp");
    let shot = dir.path().join("shot.png");
    let photo_path = images_dir().join("ADE_val_00000002.jpg");
    let output = window_command(&screen, dir.path())
        .args([
            "--preset",
            "toon",
            "--window-size",
            "800x512",
            "--quit-after-frames",
            "15",
            "--input",
        ])
        .arg(&photo_path)
        .arg("--screenshot-to")
        .arg(&shot)
        .arg("--summary-json")
        .arg(dir.path().join("summary.json"))
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = read_summary(&dir.path().join("summary.json"));
    assert_eq!(summary["frames"], 15, "{summary}");
    for key in ["seconds", "display_fps", "max_frame_gap_ms", "window_thread_cpu_ms_per_frame"] {
        assert!(summary[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {summary}");
    }
    assert!(summary["stages"].as_object().is_some_and(|s| s.is_empty()), "toon runs no model");
    let shot = image::open(&shot).expect("screenshot").to_rgb8();
    assert_eq!(shot.dimensions(), (800, 512));

    // The control panel: egui's dark panel down the left side.
    let panel: Vec<_> =
        (40..500).step_by(4).flat_map(|y| (4..180).step_by(4).map(move |x| (x, y))).collect();
    let dark =
        panel.iter().filter(|&&(x, y)| shot.get_pixel(x, y).0.iter().all(|&c| c < 60)).count();
    assert!(dark * 10 > panel.len() * 7, "no control panel: {dark} of {} dark", panel.len());
    // Some text is drawn on it (light pixels).
    let light =
        panel.iter().filter(|&&(x, y)| shot.get_pixel(x, y).0.iter().all(|&c| c > 150)).count();
    assert!(light > 5, "no text in the panel");

    // The picture is laid out in the area the controls leave: right of the panel, below the
    // banner, its aspect kept (the photo is 512x512).
    let rect = picture_rect(&summary);
    assert!(rect[0] >= 180.0 && rect[1] > 0.0, "the picture is under the controls: {rect:?}");
    assert!(rect[2] <= 800.0 && rect[3] <= 512.0, "the picture leaves the window: {rect:?}");
    let aspect = (rect[2] - rect[0]) / (rect[3] - rect[1]);
    assert!((aspect - 1.0).abs() < 0.01, "the picture lost its aspect: {rect:?}");

    // The picture: the same photo through `process` with the same preset, scaled as the window
    // scales it, compared pixel for pixel away from the panels.
    let reference_path = dir.path().join("reference.png");
    let status = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .args(["process", "--preset", "toon", "--input"])
        .arg(&photo_path)
        .arg("--output")
        .arg(&reference_path)
        .status()
        .expect("runs");
    assert!(status.success());
    let reference = image::open(&reference_path).expect("png").to_rgb8();
    let mean = mean_difference_in_rect(&shot, &reference, rect);
    let untouched = mean_difference_in_rect(&shot, &photo("ADE_val_00000002"), rect);
    eprintln!("window vs process: {mean:.2} levels; vs the photo: {untouched:.1}");
    // Measured 0.61 levels: the window scales the picture bilinearly and the reference is
    // scaled by a triangle filter; an ink line one pixel off, a missing layer or a stale frame
    // moves it by several levels.
    assert!(mean < 2.0, "window picture differs from `process` by {mean:.2} levels");
    assert!(untouched > 20.0, "the effect is not visible: {untouched:.1}");
}

#[test]
fn without_a_display_the_app_points_to_process() {
    let output = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no display") && stderr.contains("dreamlens process"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn recording_from_the_window_gives_a_clip_ffprobe_accepts() {
    let screen = xvfb();
    let dir = tempfile::tempdir().expect("temp");
    let clip = dir.path().join("live.mp4");
    let output = window_command(&screen, dir.path())
        // No ALSA configuration and no sound card: the recording is video-only.
        .env("HOME", dir.path())
        .args([
            "--preset",
            "film",
            "--window-size",
            "640x400",
            "--quit-after-frames",
            "20",
            "--record-to",
        ])
        .arg(&clip)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&clip)
        .output()
        .expect("ffprobe");
    assert!(probe.status.success(), "{}", String::from_utf8_lossy(&probe.stderr));
    let text = String::from_utf8_lossy(&probe.stdout);
    let fields: Vec<&str> = text.trim().split(',').collect();
    assert_eq!(fields[0], "h264");
    let frames: u32 = fields[1].parse().expect("count");
    assert!(frames >= 5, "only {frames} frames recorded");
    assert_eq!(stream_codecs(&clip), ["h264"], "no audio device, no audio track");
}

/// Photos of two shapes played as the camera: the picture turns between 320x240 and 240x320 as
/// a phone's does when it turns. The clip keeps its first shape and goes on: a turned picture is
/// fitted into it, letterboxed, so the clip holds frames with black bars beside the picture as
/// well as frames filled to the edge, all at 320x240.
#[test]
fn a_recording_goes_on_letterboxed_when_the_picture_turns() {
    let screen = xvfb();
    let dir = tempfile::tempdir().expect("temp");
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).expect("photos folder");
    let room = image::imageops::resize(
        &photo("ADE_val_00000001"),
        320,
        240,
        image::imageops::FilterType::Triangle,
    );
    // Five of each shape in a row (the source shows 30 a second), so however fast the window
    // draws, it shows both shapes in turn.
    let turned = image::imageops::rotate90(&room);
    for i in 0..5 {
        room.save(photos.join(format!("a-landscape-{i}.png"))).expect("landscape photo");
        turned.save(photos.join(format!("b-portrait-{i}.png"))).expect("portrait photo");
    }
    let clip = dir.path().join("turned.mp4");
    let output = window_command(&screen, dir.path())
        .env("HOME", dir.path())
        // The notices the window shows are logged at info.
        .env("RUST_LOG", "info")
        .args(["--preset", "film", "--window-size", "640x400", "--quit-after-frames", "20"])
        .arg("--input")
        .arg(&photos)
        .arg("--record-to")
        .arg(&clip)
        .output()
        .expect("runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    // The clip takes the shape of the picture shown when it starts, either photo.
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height"])
        .args(["-of", "csv=p=0"])
        .arg(&clip)
        .output()
        .expect("ffprobe");
    let shape = String::from_utf8_lossy(&probe.stdout).trim().replace(',', "x");
    assert!(shape == "320x240" || shape == "240x320", "the clip is {shape}");
    let landscape = shape == "320x240";
    assert!(
        log.contains(&format!("The picture turned: the clip keeps its {shape}, letterboxed")),
        "{log}"
    );
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&clip)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg");
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let frame_bytes = 320 * 240 * 3;
    assert_eq!(decoded.stdout.len() % frame_bytes, 0, "frames of {shape}");
    // The brightness of a band 60 pixels deep along the edge where bars go: in a 320x240 clip a
    // fitted 240x320 picture spans x 70..250, in a 240x320 clip a fitted 320x240 one spans
    // y 70..250. A bar is the letterbox's dark grey (15 levels, 13-16 after H.264); the room
    // filling the frame reads 87 and more.
    let width = if landscape { 320 } else { 240 };
    let band = move |i: usize| {
        let (x, y) = (i % 60, i / 60);
        if landscape { (y * width + x) * 3 } else { (x * width + y) * 3 }
    };
    let edge_band: Vec<f64> = decoded
        .stdout
        .chunks_exact(frame_bytes)
        .map(|frame| {
            let sum: f64 = (0..60 * 240)
                .map(band)
                .map(|p| f64::from(frame[p]) + f64::from(frame[p + 1]) + f64::from(frame[p + 2]))
                .sum();
            sum / (240.0 * 60.0 * 3.0)
        })
        .collect();
    let barred = edge_band.iter().filter(|&&level| level < 25.0).count();
    let filled = edge_band.iter().filter(|&&level| level > 40.0).count();
    assert!(
        barred >= 2 && filled >= 2,
        "{shape}: {} frames; edge band levels {edge_band:.0?}",
        edge_band.len()
    );
}

fn stream_codecs(clip: &Path) -> Vec<String> {
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(clip)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&probe.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn recording_from_the_window_takes_the_microphone() {
    // A real ALSA capture device that plays a 440 Hz tone from a file (alsa-lib's `file`
    // plugin over `null`, converted by `plug`). It has no clock of its own, so this also checks
    // that such a source is held to real time and stays in step with the video.
    let screen = xvfb();
    let dir = tempfile::tempdir().expect("temp");
    let tone = dir.path().join("tone.raw");
    let samples: Vec<u8> = (0..48_000 * 10)
        .flat_map(|i| {
            let v =
                (8000.0 * (std::f64::consts::TAU * 440.0 * f64::from(i) / 48_000.0).sin()) as i16;
            v.to_le_bytes()
        })
        .collect();
    std::fs::write(&tone, samples).expect("tone");
    std::fs::write(
        dir.path().join(".asoundrc"),
        format!(
            "pcm.!default {{ type plug slave {{ pcm \"tone\" format S16_LE rate 48000 channels 1 }} }}\n\
             pcm.tone {{ type file slave.pcm \"null\" file \"/dev/null\" infile \"{}\" format \"raw\" }}\n",
            tone.display()
        ),
    )
    .expect("asoundrc");
    let clip = dir.path().join("with_sound.mp4");
    let output = window_command(&screen, dir.path())
        .env("HOME", dir.path())
        .args(["--preset", "toon", "--window-size", "640x400", "--quit-after-frames", "20"])
        .arg("--record-to")
        .arg(&clip)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stream_codecs(&clip), ["h264", "aac"]);
    let durations = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=duration", "-of", "csv=p=0"])
        .arg(&clip)
        .output()
        .expect("ffprobe");
    let durations: Vec<f64> = String::from_utf8_lossy(&durations.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(durations.len(), 2);
    // Both start at the recording's start and the sound runs to the last frame's time. The
    // video's length adds the last frame's duration, which the muxer estimates from the
    // fragment's average interval (up to 0.65 s with the two cores overloaded, when a frame
    // comes only every 0.7 s), so the sound is held against the last frame's own time.
    let last_frame_s = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time"])
        .args(["-of", "csv=p=0"])
        .arg(&clip)
        .output()
        .expect("ffprobe");
    let last_frame_s = String::from_utf8_lossy(&last_frame_s.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!(
        (last_frame_s - durations[1]).abs() < 0.25 && durations[1] > 1.0,
        "last frame at {last_frame_s:.3} s, sound {:.3} s long (stream lengths {durations:?})",
        durations[1]
    );
    // The tone is what was recorded: 440 cycles per second in the decoded sound.
    let decoded = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(&clip)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg");
    let pcm: Vec<i16> =
        decoded.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    assert!(pcm.len() > 24_000, "only {} samples", pcm.len());
    let part = &pcm[4_800..pcm.len().min(52_800) - 1];
    let crossings = part.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count() as f64;
    let frequency = crossings * 48_000.0 / part.len() as f64;
    assert!((frequency - 440.0).abs() < 5.0, "recorded {frequency:.0} Hz, not the 440 Hz tone");
}

#[test]
fn the_window_restyles_from_a_prompt() {
    // No diffusion model in CI: the restyle layer runs on the style-transfer fallback, projected
    // onto each displayed frame; the picture must match `process --restyle` on the same photo.
    let screen = xvfb();
    let dir = tempfile::tempdir().expect("temp");
    let shot = dir.path().join("shot.png");
    let photo_path = images_dir().join("ADE_val_00000002.jpg");
    let output = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DISPLAY", &screen.display)
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DREAMLENS_DIFFUSION_MODEL")
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--restyle", "a watercolour room", "--window-size", "800x600"])
        .args(["--quit-after-frames", "60", "--input"])
        .arg(&photo_path)
        .arg("--screenshot-to")
        .arg(&shot)
        .arg("--summary-json")
        .arg(dir.path().join("summary.json"))
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let shot = image::open(&shot).expect("screenshot").to_rgb8();
    let summary = read_summary(&dir.path().join("summary.json"));
    let rect = picture_rect(&summary);

    let reference_path = dir.path().join("reference.png");
    let status = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .env_remove("DREAMLENS_DIFFUSION_MODEL")
        .args(["process", "--restyle", "a watercolour room", "--input"])
        .arg(&photo_path)
        .arg("--output")
        .arg(&reference_path)
        .status()
        .expect("runs");
    assert!(status.success());
    let reference = image::open(&reference_path).expect("png").to_rgb8();
    let mean = mean_difference_in_rect(&shot, &reference, rect);
    let untouched = mean_difference_in_rect(&shot, &photo("ADE_val_00000002"), rect);
    eprintln!("restyled window vs process: {mean:.1} levels; vs the photo: {untouched:.1}");
    // Measured 4.3 levels: the projection of a still input is the keyframe itself, and its fine
    // brush strokes are where the window's bilinear scaling and the reference's triangle filter
    // differ most. The unrestyled photo is 55 levels away.
    assert!(mean < 6.0, "window picture differs from `process` by {mean:.1} levels");
    assert!(untouched > mean + 15.0, "the restyle is not visible: {untouched:.1} vs {mean:.1}");
}

/// While a preset's models open (here: a restyle engine whose server never answers the model
/// metadata request), the window keeps presenting camera frames and says what is loading. The
/// server holds the request until the app has exited: had the window waited for it, the run
/// could not have finished.
#[test]
fn frames_keep_coming_while_models_open() {
    use std::{
        io::{BufRead, BufReader, Write},
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let released = Arc::new(AtomicBool::new(false));
    let answered_metadata = Arc::new(AtomicBool::new(false));
    let (server_released, server_answered) =
        (Arc::clone(&released), Arc::clone(&answered_metadata));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (released, answered) = (Arc::clone(&server_released), Arc::clone(&server_answered));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut header = String::new();
                while reader.read_line(&mut header).unwrap_or(0) > 0 && header.trim() != "" {
                    header.clear();
                }
                if request.contains("/health/ready") {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                    return;
                }
                // Hold the model's metadata until the test is done (at most two minutes).
                for _ in 0..1200 {
                    if released.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                answered.store(true, Ordering::SeqCst);
                let _ = stream
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
            });
        }
    });
    let screen = xvfb();
    let dir = tempfile::tempdir().expect("temp");
    let summary_path = dir.path().join("summary.json");
    let output = window_command(&screen, dir.path())
        // A client timeout past the server's hold: a window that waited would wait it out.
        .args(["--remote", &url, "--remote-timeout", "300", "--restyle", "a teal room"])
        .arg("--diffusion-model")
        .arg(root().join("tests/data/tiny-sd"))
        .args(["--window-size", "640x400", "--quit-after-frames", "40", "--input"])
        .arg(images_dir().join("ADE_val_00000002.jpg"))
        .arg("--summary-json")
        .arg(&summary_path)
        .output()
        .expect("runs");
    let still_holding = !answered_metadata.load(Ordering::SeqCst);
    released.store(true, Ordering::SeqCst);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(still_holding, "the window only finished once the model had opened");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).expect("summary")).expect("json");
    assert_eq!(summary["frames"], 40, "{summary}");
    assert!(summary["stages"].as_object().is_some_and(|s| s.is_empty()), "{summary}");
}

/// A ruler (each pixel's red is its column, its green its row) through the live window with a
/// preset that leaves the picture as it is: every source column and row is on the screen, in
/// order, inside the rectangle the summary reports, and that rectangle starts right of the
/// control panel. With the picture laid out against the whole window, the panel hid the first
/// fifth of the columns.
#[test]
fn a_ruler_through_the_window_shows_every_column_beside_the_panel() {
    let screen = xvfb();
    let dir = tempfile::tempdir().expect("temp");
    let ruler = image::RgbImage::from_fn(256, 256, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let ruler_path = dir.path().join("ruler.png");
    ruler.save(&ruler_path).expect("save");
    let preset = dir.path().join("as-it-is.toml");
    std::fs::write(
        &preset,
        "description = \"the picture as it is\"\n[[layer]]\neffect = \"vignette\"\namount = 0.0\n",
    )
    .expect("write");
    let shot_path = dir.path().join("shot.png");
    let summary_path = dir.path().join("summary.json");
    let output = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DISPLAY", &screen.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--window-size", "1000x600", "--quit-after-frames", "5", "--preset"])
        .arg(&preset)
        .arg("--input")
        .arg(&ruler_path)
        .arg("--screenshot-to")
        .arg(&shot_path)
        .arg("--summary-json")
        .arg(&summary_path)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).expect("summary")).expect("json");
    let rect = picture_rect(&summary);
    assert!(rect[0] >= 180.0, "the picture starts under the panel: {rect:?}");
    let shot = image::open(&shot_path).expect("screenshot").to_rgb8();

    // Across the middle row, and down a column clear of the HUD (top right): each screen pixel
    // inside the rectangle shows a source column (row) at most one off the one the rectangle
    // puts there (bilinear scaling blends neighbours), and all 256 appear, in order.
    let inside = |from: f64, to: f64| (from.ceil() as u32)..(to.floor() as u32);
    let (middle_y, left_x) = (((rect[1] + rect[3]) / 2.0) as u32, (rect[0] + 20.0) as u32);
    for (axis, channel, along, (from, to)) in
        [("column", 0, true, (rect[0], rect[2])), ("row", 1, false, (rect[1], rect[3]))]
    {
        let mut seen = Vec::new();
        for screen in inside(from, to) {
            let (x, y) = if along { (screen, middle_y) } else { (left_x, screen) };
            let value = i32::from(shot.get_pixel(x, y).0[channel]);
            let expected = ((f64::from(screen) + 0.5 - from) / (to - from) * 256.0 - 0.5) as i32;
            assert!(
                (value - expected).abs() <= 1,
                "{axis} {value} at {screen}, expected {expected}"
            );
            seen.push(value);
        }
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{axis}s out of order");
        let distinct: std::collections::BTreeSet<i32> = seen.into_iter().collect();
        assert_eq!(distinct.len(), 256, "not every source {axis} is visible");
    }
}

/// A click on the furniture in the live window makes the wall repaint act on the class native
/// `analyze` reads there. The place is chosen where a wide patch holds that one class and is
/// clicked through the picture's rectangle, so a click mapped against the whole window, or
/// shifted by the panel, lands on another class.
#[test]
fn a_click_on_the_picture_picks_the_class_under_the_pointer() {
    picks_the_class_under_the_pointer("1000x600");
}

/// The same on a portrait surface, as a phone held upright has: the panel moves under the
/// picture, and the tap (a lifted finger picks through the same mapping as a click) must still
/// land on the class under it.
#[test]
fn a_tap_on_a_portrait_surface_picks_the_class_under_the_finger() {
    picks_the_class_under_the_pointer("600x1000");
}

/// Where a picture of `size` goes when letterboxed into a whole `window` ("WxH"), in window
/// pixels: `[x0, y0, x1, y1]`.
fn letterboxed(size: (u32, u32), window: &str) -> [f64; 4] {
    let (w, h) = window.split_once('x').expect("WxH");
    let (w, h): (f64, f64) = (w.parse().expect("width"), h.parse().expect("height"));
    let scale = (w / f64::from(size.0)).min(h / f64::from(size.1));
    let (pw, ph) = (f64::from(size.0) * scale, f64::from(size.1) * scale);
    [(w - pw) / 2.0, (h - ph) / 2.0, (w + pw) / 2.0, (h + ph) / 2.0]
}

fn picks_the_class_under_the_pointer(window_size: &str) {
    let screen = xvfb();
    let dir = tempfile::tempdir().expect("temp");
    let photo_path = images_dir().join("ADE_val_00000001.jpg");
    let output = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DREAMLENS_MODEL_DIRS", models_dir())
        .args(["analyze", "--person", "none", "--depth", "none", "--input"])
        .arg(&photo_path)
        .arg("--output")
        .arg(dir.path().join("analysis"))
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let classes = image::open(dir.path().join("analysis/ADE_val_00000001.classes.png"))
        .expect("class map")
        .to_luma8();
    let window = |frames: &str, summary: &Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dreamlens"));
        command
            .env("DISPLAY", &screen.display)
            .env_remove("WAYLAND_DISPLAY")
            .env("DREAMLENS_MODEL_DIRS", models_dir())
            .env("XDG_CONFIG_HOME", dir.path())
            .args(["--preset", "wall-paint", "--window-size", window_size])
            .args(["--quit-after-frames", frames, "--input"])
            .arg(&photo_path)
            .arg("--summary-json")
            .arg(summary);
        command
    };
    // Where the picture is: a run with the same window and photo, long enough for the panel to
    // show the segmenter's rows.
    let first = dir.path().join("first.json");
    let status = window("40", &first).status().expect("runs");
    assert!(status.success());
    let rect = picture_rect(
        &serde_json::from_slice(&std::fs::read(&first).expect("summary")).expect("json"),
    );
    // A place where a tap mapped against the whole window, as if there were no panel, would
    // read another class: so the test fails if the panel's place is ignored.
    let whole = letterboxed(image::image_dimensions(&photo_path).expect("photo size"), window_size);
    let (u, v, label) = furniture_patch_where(&classes, |u, v, class| {
        let (x, y) = (rect[0] + u * (rect[2] - rect[0]), rect[1] + v * (rect[3] - rect[1]));
        let wu = (x - whole[0]) / (whole[2] - whole[0]);
        let wv = (y - whole[1]) / (whole[3] - whole[1]);
        let inside = (0.0..1.0).contains(&wu) && (0.0..1.0).contains(&wv);
        let at = |f: f64, n: u32| ((f * f64::from(n)) as u32).min(n - 1);
        !inside || classes.get_pixel(at(wu, classes.width()), at(wv, classes.height()))[0] != class
    });
    let (x, y) = (rect[0] + u * (rect[2] - rect[0]), rect[1] + v * (rect[3] - rect[1]));

    let summary_path = dir.path().join("summary.json");
    let mut app = window("100000", &summary_path).spawn().expect("starts");
    let xdotool = |args: &[&str]| {
        let output = Command::new("xdotool")
            .env("DISPLAY", &screen.display)
            .args(args)
            .output()
            .expect("xdotool is installed (scripts/install-deps.sh)");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    // xdotool gives up with an X error (and no output) when a window goes away while it looks
    // through them, as one may while the app starts: look again.
    let id = (0..5)
        .find_map(|_| {
            let found = xdotool(&["search", "--sync", "--name", "dreamlens"]);
            found.lines().next().map(str::to_owned)
        })
        .expect("the window");
    // Time for the segmenter's first result (about a second here), with room for a busy machine.
    std::thread::sleep(Duration::from_secs(12));
    let (x, y) = (format!("{}", x.round()), format!("{}", y.round()));
    xdotool(&["mousemove", "--window", &id, &x, &y, "click", "1"]);
    std::thread::sleep(Duration::from_secs(1));
    // Esc quits, once the window has the keyboard (there is no window manager to give it).
    xdotool(&["windowfocus", "--sync", &id]);
    xdotool(&["key", "Escape"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = app.try_wait().expect("status") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = app.kill();
            panic!("the window did not quit on Esc");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).expect("summary")).expect("json");
    let last = picture_rect(&summary);
    assert!(
        rect.iter().zip(last).all(|(a, b)| (a - b).abs() < 1.0),
        "the picture moved between the runs: {rect:?} then {last:?}"
    );
    let region = summary["regions"][0].as_str().unwrap_or_default().to_owned();
    assert_eq!(region.split('"').nth(1), Some(label), "clicked at {x},{y} in {rect:?}: {summary}");
}

#[test]
fn the_picture_stays_put_when_the_models_rows_appear() {
    let screen = xvfb();
    let rect_after = |frames: u32| {
        let dir = tempfile::tempdir().expect("temp");
        let output = window_command(&screen, dir.path())
            .args(["--input", "demo", "--preset", "wall-paint", "--window-size", "1280x720"])
            .args(["--quit-after-frames", &frames.to_string(), "--summary-json"])
            .arg(dir.path().join("summary.json"))
            .output()
            .expect("runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let summary = read_summary(&dir.path().join("summary.json"));
        (picture_rect(&summary), summary["stages"]["segmentation"]["runs"].as_u64())
    };
    // Before the segmentation model's first result and well after it: a panel sized to its
    // content widened from 220 to 286 px in between, and the picture moved and shrank with it.
    let (first, first_runs) = rect_after(3);
    let (later, later_runs) = rect_after(40);
    assert!(later_runs >= Some(1), "no segmentation result in 40 frames");
    eprintln!("picture at {first:?} after 3 frames ({first_runs:?} runs), {later:?} after 40");
    assert_eq!(first, later, "the picture moved while the window ran");
}

#[test]
fn the_segmentation_model_chosen_on_the_panel_is_the_one_that_runs() {
    // The panel's choice is kept in the settings file; the next start runs that model, and a
    // `--segmentation-model` flag overrides it for one run without changing what is kept.
    let screen = xvfb();
    let config = tempfile::tempdir().expect("temp");
    let folder = config.path().join("dreamlens");
    std::fs::create_dir_all(&folder).expect("config folder");
    let settings = folder.join("settings.toml");
    std::fs::write(
        &settings,
        "preset = \"wall-paint\"\nsegmentation_model = \"ade20k-deeplabv3-mnv2\"\n",
    )
    .expect("settings");
    let run = |flag: Option<&str>| {
        let summary = config.path().join("summary.json");
        let mut command = Command::new(env!("CARGO_BIN_EXE_dreamlens"));
        command
            .env("DISPLAY", &screen.display)
            .env_remove("WAYLAND_DISPLAY")
            .env("DREAMLENS_MODEL_DIRS", models_dir())
            .env("XDG_CONFIG_HOME", config.path())
            .args(["--input", "demo", "--window-size", "800x512", "--quit-after-frames", "40"])
            .arg("--summary-json")
            .arg(&summary);
        if let Some(model) = flag {
            command.args(["--segmentation-model", model]);
        }
        let output = command.output().expect("runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let summary = read_summary(&summary);
        summary["stages"]["segmentation"]["runs_on"].as_str().unwrap_or_default().to_owned()
    };
    let chosen = run(None);
    assert!(chosen.starts_with("ade20k-deeplabv3-mnv2 on "), "{chosen}");
    let flagged = run(Some("ade20k-mosaic"));
    assert!(flagged.starts_with("ade20k-mosaic on "), "{flagged}");
    let kept = std::fs::read_to_string(&settings).expect("settings kept");
    assert!(kept.contains("segmentation_model = \"ade20k-deeplabv3-mnv2\""), "{kept}");
}
