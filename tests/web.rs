//! The browser app end to end, in headless Chromium (WebGPU on SwiftShader) with its camera fed
//! from a Y4M of the demo room: the page built by `scripts/build-web.sh` (target/web/), served by
//! `scripts/serve-web.py`, driven over the DevTools protocol.
//!
//! The tests share one machine's two cores with a software GPU and software model kernels, so
//! they run one at a time (`SERIAL`) and wait on the page's own counters, never on a clock;
//! the wall-clock limits only turn a stall into a failure with the page's status.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use common::{
    browser::{Browser, SiteServer},
    picture_rect,
};
use dreamlens::{
    capture::demo::{self, DemoSurface},
    store::manifest::DEFAULT_SEGMENTATION_MODEL,
};
use image::RgbImage;

static SERIAL: Mutex<()> = Mutex::new(());

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
/// A stall, not a speed check: a segmentation run on SwiftShader's wasm takes about a second.
const STALL: Duration = Duration::from_secs(240);

fn site() -> PathBuf {
    let site = common::root().join("target/web");
    assert!(
        site.join("index.html").is_file() && site.join("dreamlens_web_bg.wasm").is_file(),
        "{} holds no built app: run scripts/build-web.sh first (scripts/check.sh does)",
        site.display()
    );
    site
}

/// The demo room's first frame as a PNG and as a looping Y4M camera, with its exact labels.
fn demo_camera(dir: &Path) -> (RgbImage, Vec<DemoSurface>, PathBuf, PathBuf) {
    let frame = demo::render(WIDTH, HEIGHT, 0.0);
    let labels = demo::labels(WIDTH, HEIGHT, 0.0);
    let png = dir.join("frame.png");
    frame.save(&png).expect("write frame.png");
    let y4m = dir.join("room.y4m");
    let made = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-loop", "1", "-framerate", "10", "-t", "3", "-i"])
        .arg(&png)
        .args(["-pix_fmt", "yuv420p"])
        .arg(&y4m)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success(), "ffmpeg made no Y4M");
    (frame, labels, png, y4m)
}

/// The built site served to a Chromium whose camera shows the demo room, one test at a time.
/// Fields drop in order: the browser and the server stop before the next test may start.
struct DemoPage {
    browser: Browser,
    server: SiteServer,
    dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

fn demo_page() -> DemoPage {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let site = site();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, _, _, y4m) = demo_camera(dir.path());
    let server = SiteServer::start(&site);
    let browser = Browser::start(&y4m, dir.path());
    DemoPage { browser, server, dir, _serial: serial }
}

/// The native reference: `dreamlens process` with `preset` on the PNG `frame`, in `dir`.
fn native_process(dir: &Path, frame: &Path, preset: &str) -> RgbImage {
    let native_png = dir.join("native.png");
    let output = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DREAMLENS_MODEL_DIRS", common::models_dir())
        .env("DREAMLENS_CACHE_DIR", dir.join("cache"))
        // The page reads each frame once (its model time is its bottleneck): so does this.
        .args(["--segmentation-passes", "once"])
        .args(["process", "--preset", preset, "--input"])
        .arg(frame)
        .arg("--output")
        .arg(&native_png)
        .output()
        .expect("dreamlens runs");
    assert!(output.status.success(), "process failed: {}", String::from_utf8_lossy(&output.stderr));
    image::open(&native_png).expect("native output").to_rgb8()
}

/// Pixels whose largest channel moved by more than 48 levels from the camera frame. The camera
/// path (YUV 4:2:0 in the Y4M, the browser's conversion back) moves edge pixels by up to about
/// 30 levels, while the repaint moves a wall by 60 or more, so 48 separates the two.
fn changed(picture: &RgbImage, frame: &RgbImage) -> Vec<bool> {
    picture
        .pixels()
        .zip(frame.pixels())
        .map(|(a, b)| (0..3).any(|c| a[c].abs_diff(b[c]) > 48))
        .collect()
}

/// The share of `surface` pixels (away from other surfaces by 4 pixels, where edge-aware
/// upsampling decides) that changed.
fn changed_share(changed: &[bool], labels: &[DemoSurface], surface: DemoSurface) -> f64 {
    let (w, h) = (WIDTH as i64, HEIGHT as i64);
    let inner = |i: usize| {
        let (x, y) = (i as i64 % w, i as i64 / w);
        (-4..=4).all(|d: i64| {
            [(x + d, y), (x, y + d)].iter().all(|&(xx, yy)| {
                !(0..w).contains(&xx)
                    || !(0..h).contains(&yy)
                    || labels[(yy * w + xx) as usize] == surface
            })
        })
    };
    let picked: Vec<usize> =
        (0..labels.len()).filter(|&i| labels[i] == surface && inner(i)).collect();
    picked.iter().filter(|&&i| changed[i]).count() as f64 / picked.len().max(1) as f64
}

#[test]
fn the_page_repaints_walls_as_native_process_does_records_a_clip_and_stays_on_its_origin() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let site = site();
    let dir = tempfile::tempdir().expect("temp dir");
    let (frame, labels, png, y4m) = demo_camera(dir.path());

    // The native reference: `process` on the same frame, the same preset and model.
    let native = native_process(dir.path(), &png, "wall-paint");

    let server = SiteServer::start(&site);
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("downloads folder");
    // The microphone hears a steady 440 Hz tone.
    let tone = dir.path().join("tone.wav");
    let made = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={TONE_HZ}:sample_rate=48000:duration=20"))
        .args(["-ac", "1"])
        .arg(&tone)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success(), "ffmpeg made no tone");
    let mut browser = Browser::start_with_microphone(&y4m, Some(&tone), &downloads);
    browser.navigate(&format!(
        "{}/?preset=wall-paint&provider=wasm&quit-after-frames=40&record-seconds=2&snapshot=true",
        server.origin
    ));
    let summary =
        browser.wait_for("40 frames, 2 segmentation runs, a clip and a snapshot", STALL, |s| {
            s["finished"] == true
                && s["stages"]["segmentation"]["runs"].as_u64() >= Some(2)
                && s["clip"].is_object()
                && s["snapshot"].is_string()
        });
    assert_eq!(summary["stages"]["segmentation"]["execution_provider"], "wasm", "{summary}");
    assert_eq!(summary["stages"]["segmentation"]["model"], DEFAULT_SEGMENTATION_MODEL, "{summary}");
    assert_eq!(summary["picture_size"], serde_json::json!([WIDTH, HEIGHT]), "{summary}");
    // SwiftShader is a software adapter: its frames are read and uploaded.
    assert_eq!(summary["frame_copy"], "cpu", "{summary}");
    // The wasm kernels run in onnxruntime-web's worker, so the page keeps showing frames while
    // a model runs. With the kernels on the page's own thread no frame begins during a run
    // (measured: none of 40 frames). Runs and frames both scale with the same CPU, and a model
    // runs most of the time here, so a good share of the frames begin beside a run: measured 31
    // of 40 on one machine, 18-19 on a faster one, and 12 once wall-paint also ran the person
    // model (to keep people off the walls; its input is prepared on the page's thread). The
    // bound, an eighth of the frames, stays far from both.
    let beside = summary["frames_beside_model_runs"].as_u64().unwrap_or(0);
    let frames = summary["frames"].as_u64().unwrap_or(0);
    assert!(
        frames > 0 && 8 * beside >= frames,
        "{beside} of {frames} frames shown beside model runs: runs hold the page"
    );

    // The page's picture: its last frame, read back from the compositor as a PNG snapshot.
    let snapshot = browser.downloaded(summary["snapshot"].as_str().expect("snapshot name"));
    let page = image::open(&snapshot).expect("the snapshot is a PNG").to_rgb8();
    assert_eq!(page.dimensions(), (WIDTH, HEIGHT));
    let page_changed = changed(&page, &frame);
    let native_changed = changed(&native, &frame);
    let agree = page_changed.iter().zip(&native_changed).filter(|(a, b)| a == b).count() as f64
        / page_changed.len() as f64;
    let walls = changed_share(&page_changed, &labels, DemoSurface::Wall);
    let furniture = changed_share(&page_changed, &labels, DemoSurface::Furniture);
    eprintln!(
        "page and native agree on {agree:.4} of pixels; walls {walls:.3}, furniture {furniture:.3}"
    );
    // Same model (fp32 on both sides), preset and compositor. What differs: the camera path's
    // colour loss, the temporal filter's state, and onnxruntime-web's wasm kernels against
    // native ONNX Runtime's (AVX2 or AVX-512 alike); their scores differ in the last bits, which
    // flips the argmax only at near-ties on region edges. All of it moves edges by a pixel or
    // two, not whole regions.
    assert!(agree >= 0.95, "page and native repaint different pixels: {agree:.3} agree");
    // The model's own error (wall IoU about 0.8 on this room) bounds these, in both builds.
    assert!(walls >= 0.6, "only {walls:.2} of the walls were repainted");
    assert!(furniture <= 0.25, "{furniture:.2} of the furniture was painted");

    // Nothing left the page's origin.
    let foreign: Vec<&String> = browser
        .requests
        .iter()
        .filter(|url| {
            !url.starts_with(&server.origin)
                && !url.starts_with("data:")
                && !url.starts_with("blob:")
        })
        .collect();
    assert!(foreign.is_empty(), "requests outside the page's origin: {foreign:?}");
    assert!(browser.requests.iter().any(|u| u.contains("/models/")), "no model was fetched");

    check_clip(&browser, &summary["clip"]);
}

/// The page's clip: H.264 that ffprobe decodes, every frame the page wrote at its time, and the
/// microphone's tone in the codec the page reports, as long as the pictures.
fn check_clip(browser: &Browser, clip: &serde_json::Value) {
    // The clip: H.264 that ffprobe decodes, with every frame the page wrote at its time.
    let path = browser.downloaded(clip["name"].as_str().expect("clip name"));
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=codec_name,nb_read_frames:packet=pts_time", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    let probe: serde_json::Value = serde_json::from_slice(&probe.stdout)
        .unwrap_or_else(|_| panic!("ffprobe cannot read {}", path.display()));
    assert_eq!(probe["streams"][0]["codec_name"], "h264", "{probe}");
    let frames: u64 =
        probe["streams"][0]["nb_read_frames"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert_eq!(Some(frames), clip["frames"].as_u64(), "{probe}");
    assert!(frames >= 2, "the clip has {frames} frames");
    assert_eq!(clip["saved"], "downloaded", "this browser has no share sheet: {clip}");
    let last_pts = probe["packets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["pts_time"].as_str()?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    let last = clip["last_frame_s"].as_f64().expect("last frame time");
    // The 90 kHz clock rounds each time to 11 us; a millisecond covers it.
    assert!((last_pts - last).abs() < 1e-3, "last frame at {last_pts} s, the page wrote {last} s");
    // Recording stops at the first frame 2 s or more after the first one.
    assert!(last >= 2.0, "the clip is {last} s long, 2 s were asked for");

    // The sound: the microphone's tone, in the codec the page reports, as long as the pictures.
    let sound = clip["sound"].as_str().unwrap_or_default();
    assert!(sound == "aac" || sound == "opus", "the clip has no sound: {clip}");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries"])
        .args(["stream=codec_name", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    let probe: serde_json::Value = serde_json::from_slice(&probe.stdout).expect("ffprobe json");
    assert_eq!(probe["streams"][0]["codec_name"], sound, "{probe}");
    let samples = decoded_sound(&path);
    let seconds = samples.len() as f64 / 48_000.0;
    // The sound is kept from the first picture to the end of the last one; the encoder's
    // packets are 20 ms (Opus) or 21 ms (AAC), and the tap hands over 21 ms at a time.
    assert!((seconds - last).abs() < 0.25, "{seconds:.2} s of sound for {last:.2} s of pictures");
    let tone = goertzel_power(&samples, TONE_HZ);
    let other = [300.0, 600.0, 1000.0].map(|hz| goertzel_power(&samples, hz));
    eprintln!(
        "sound: {seconds:.2} s for pictures to {last:.2} s; power at {TONE_HZ} Hz {tone:.3e}, \
         elsewhere {other:?}"
    );
    // A pure tone through a lossy codec keeps its frequency: the power at 440 Hz stands
    // orders of magnitude above other frequencies (silence or the fake device's beeps would not).
    assert!(other.iter().all(|&p| tone > 100.0 * p), "the clip does not carry the tone");
}

/// The tone the tests' microphone hears.
const TONE_HZ: f64 = 440.0;

/// A clip's first sound track, decoded by ffmpeg to 48 kHz mono samples.
fn decoded_sound(clip: &Path) -> Vec<f32> {
    let output = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(clip)
        .args(["-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(output.status.success(), "ffmpeg cannot decode the clip's sound");
    output.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The power of `samples` (48 kHz) at `hz` (the Goertzel filter), per sample.
fn goertzel_power(samples: &[f32], hz: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / 48_000.0).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s0 = f64::from(x) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / samples.len().max(1) as f64
}

#[test]
fn a_corrupt_model_is_refused_on_screen_and_the_camera_keeps_running() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let site = site();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, _, _, y4m) = demo_camera(dir.path());
    let copy = dir.path().join("site");
    let copied = Command::new("cp").arg("-r").arg(&site).arg(&copy).status().expect("cp runs");
    assert!(copied.success());
    let model = copy.join("models/ade20k-mosaic/ade20k32_mosaic_r3_512.onnx");
    let mut bytes = std::fs::read(&model).expect("the site holds the segmentation model");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&model, bytes).expect("corrupt it");

    let server = SiteServer::start(&copy);
    let mut browser = Browser::start(&y4m, dir.path());
    browser.navigate(&format!("{}/?preset=wall-paint&provider=wasm", server.origin));
    let summary = browser.wait_for("30 frames shown", STALL, |s| s["frames"].as_u64() >= Some(30));
    let status = browser.status();
    assert!(
        status.contains("corrupt") && status.contains(DEFAULT_SEGMENTATION_MODEL),
        "status: {status}"
    );
    assert!(summary["stages"].get("segmentation").is_none(), "{summary}");
    let off = summary["layers_off"].to_string();
    assert!(off.contains("corrupt"), "the repaint layer is not reported off: {off}");

    // A bad URL parameter is named on the page, with what it expects.
    browser.navigate(&format!("{}/?quit-after-frames=many", server.origin));
    let start = std::time::Instant::now();
    let status = loop {
        let status = browser.status();
        if status.contains("quit-after-frames=many") || start.elapsed() > STALL {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.contains("expected a whole number"), "status: {status}");
}

#[test]
fn a_second_visit_works_offline_and_touch_drives_the_controls_and_picks_the_region_under_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let site = site();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, _, png, y4m) = demo_camera(dir.path());
    let mut server = SiteServer::start(&site);
    let mut browser = Browser::start(&y4m, dir.path());
    let url = format!("{}/?preset=wall-paint&provider=wasm", server.origin);
    browser.navigate(&url);
    browser.wait_for("a segmentation run", STALL, |s| {
        s["stages"]["segmentation"]["runs"].as_u64() >= Some(1)
    });
    let ready = browser.eval("navigator.serviceWorker.ready.then(r => !!r.active)");
    assert_eq!(ready, true, "no active service worker");

    // The controls are egui, drawn on the canvas and driven by touch: a finger on the banner's
    // first button hides the side panel, and the picture then takes the width it leaves.
    let before = picture_rect(&browser.summary());
    browser.touch(24.0, 12.0);
    let summary = browser.wait_for("the picture to take the panel's place", STALL, |s| {
        picture_rect(s)[2] - picture_rect(s)[0] > before[2] - before[0] + 100.0
    });
    let rect = picture_rect(&summary);
    assert!(
        rect[0] < before[0],
        "the panel hid, yet the picture did not move left: {before:?} -> {rect:?}"
    );

    // A finger on the furniture makes the repaint act on the class the page reads there, as a
    // click does in the desktop window: the class native `analyze` reads at the same place,
    // chosen where a wide patch around it holds that one class, so the two builds' edges
    // cannot differ there. The place on the page follows the picture's rectangle.
    let output = Command::new(env!("CARGO_BIN_EXE_dreamlens"))
        .env("DREAMLENS_MODEL_DIRS", common::models_dir())
        .env("DREAMLENS_CACHE_DIR", dir.path().join("cache"))
        .args(["--segmentation-passes", "once"])
        .args(["analyze", "--person", "none", "--depth", "none", "--input"])
        .arg(&png)
        .arg("--output")
        .arg(dir.path().join("analysis"))
        .output()
        .expect("dreamlens runs");
    assert!(output.status.success(), "analyze failed: {}", String::from_utf8_lossy(&output.stderr));
    let classes =
        image::open(dir.path().join("analysis/frame.classes.png")).expect("class map").to_luma8();
    let (u, v, label) = common::furniture_patch(&classes);
    let (x, y) = (rect[0] + u * (rect[2] - rect[0]), rect[1] + v * (rect[3] - rect[1]));
    browser.touch(x, y);
    let summary = browser.wait_for("the tapped region", STALL, |s| {
        s["regions"][0].as_str().is_some_and(|r| !r.contains("\"wall\""))
    });
    let region = summary["regions"][0].as_str().unwrap_or_default().to_owned();
    assert_eq!(region.split('"').nth(1), Some(label), "tapped at {x},{y}: {region}");

    // Turned to portrait, a phone's 360x640 CSS pixels at 2 device pixels each, the page lays
    // itself out again: the controls, shown by the same button, take the bottom of the screen,
    // and the picture the whole width above them.
    browser.set_viewport(360, 640, 2.0);
    browser.touch(24.0, 12.0);
    let summary = browser.wait_for("the portrait layout", STALL, |s| {
        let r = picture_rect(s);
        r[2] - r[0] > 350.0 && r[3] < 640.0 * 0.75
    });
    let rect = picture_rect(&summary);
    let aspect = (rect[2] - rect[0]) / (rect[3] - rect[1]);
    assert!((aspect - 16.0 / 9.0).abs() < 0.02, "the picture lost its aspect: {rect:?}");

    server.stop();
    browser.navigate(&url);
    let summary = browser.wait_for("a segmentation run offline", STALL, |s| {
        s["frames"].as_u64() >= Some(10) && s["stages"]["segmentation"]["runs"].as_u64() >= Some(1)
    });
    assert_eq!(summary["stages"]["segmentation"]["error"], serde_json::Value::Null, "{summary}");
}

#[test]
fn the_webgpu_execution_provider_runs_the_person_model_and_says_so() {
    let mut page = demo_page();
    let (browser, origin) = (&mut page.browser, &page.server.origin);
    browser.navigate(&format!("{}/?preset=portrait-blur&provider=webgpu", origin));
    let summary = browser.wait_for("a person-model run on WebGPU", STALL, |s| {
        s["stages"]["person"]["runs"].as_u64() >= Some(1)
    });
    assert_eq!(summary["stages"]["person"]["execution_provider"], "webgpu", "{summary}");
    assert_eq!(summary["stages"]["person"]["error"], serde_json::Value::Null, "{summary}");
    assert!(summary["adapter"].as_str().is_some_and(|a| !a.is_empty()), "{summary}");
}

/// How fast the panning camera moves, in pixels per second, and how long its video lasts.
const PAN_PX_PER_S: u32 = 60;
const PAN_SECONDS: u32 = 40;

/// The demo room three times side by side, the middle copy mirrored so that the seams match,
/// with its labels: a strip for a camera to pan along.
fn room_strip() -> (RgbImage, Vec<DemoSurface>) {
    let room = demo::render(WIDTH, HEIGHT, 0.0);
    let room_labels = demo::labels(WIDTH, HEIGHT, 0.0);
    let width = 3 * WIDTH;
    let source_x = |x: u32| match x / WIDTH {
        1 => WIDTH - 1 - x % WIDTH,
        _ => x % WIDTH,
    };
    let strip = RgbImage::from_fn(width, HEIGHT, |x, y| *room.get_pixel(source_x(x), y));
    let labels = (0..HEIGHT)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .map(|(x, y)| room_labels[(y * WIDTH + source_x(x)) as usize])
        .collect();
    (strip, labels)
}

/// Where along `strip` the picture was taken: the left edge whose crop matches the picture's
/// pixels best away from the walls (which the repaint changes), searched on a sparse grid.
fn pan_position(picture: &RgbImage, strip: &RgbImage, labels: &[DemoSurface]) -> u32 {
    let span = PAN_PX_PER_S * PAN_SECONDS;
    let cost = |left: u32| -> u64 {
        let mut sum = 0u64;
        for y in (0..HEIGHT).step_by(6) {
            for x in (0..WIDTH).step_by(6) {
                if labels[(y * strip.width() + left + x) as usize] == DemoSurface::Wall {
                    continue;
                }
                let (a, b) = (picture.get_pixel(x, y), strip.get_pixel(left + x, y));
                sum += (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>();
            }
        }
        sum
    };
    (0..=span).min_by_key(|&left| cost(left)).unwrap_or(0)
}

#[test]
fn walls_stay_on_the_walls_while_the_camera_pans() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let site = site();
    let dir = tempfile::tempdir().expect("temp dir");
    // A camera panning along the room at a steady speed: each segmentation run (a second or
    // more here) ends on a frame the camera has moved tens of pixels from, so its map has to
    // be carried by the measured motion to stay on the walls.
    let (strip, labels) = room_strip();
    let strip_png = dir.path().join("strip.png");
    strip.save(&strip_png).expect("write strip.png");
    let y4m = dir.path().join("pan.y4m");
    let made = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-loop", "1", "-framerate", "5"])
        .args(["-t", &PAN_SECONDS.to_string(), "-i"])
        .arg(&strip_png)
        .args(["-vf", &format!("crop={WIDTH}:{HEIGHT}:{PAN_PX_PER_S}*t:0"), "-pix_fmt", "yuv420p"])
        .arg(&y4m)
        .status()
        .expect("ffmpeg runs");
    assert!(made.success(), "ffmpeg made no Y4M");

    let server = SiteServer::start(&site);
    let mut browser = Browser::start(&y4m, dir.path());
    // The browser copies each camera picture to the GPU itself here (`frame-copy=gpu`, what a
    // real GPU gets); the other tests take the software adapter's default, read and upload.
    let url = format!("{}/?preset=wall-paint&provider=wasm&frame-copy=gpu", server.origin);
    browser.navigate(&url);
    let summary = browser.wait_for("two segmentation runs", STALL, |s| {
        s["stages"]["segmentation"]["runs"].as_u64() >= Some(2)
    });
    assert_eq!(summary["frame_copy"], "gpu", "{summary}");
    browser.call("Input.dispatchKeyEvent", serde_json::json!({"type": "keyDown", "key": "s"}));
    let summary = browser.wait_for("a snapshot", STALL, |s| s["snapshot"].is_string());
    let snapshot = browser.downloaded(summary["snapshot"].as_str().expect("snapshot name"));
    let picture = image::open(&snapshot).expect("the snapshot is a PNG").to_rgb8();
    assert_eq!(picture.dimensions(), (WIDTH, HEIGHT));

    let left = pan_position(&picture, &strip, &labels);
    assert!(
        left > 0 && left < PAN_PX_PER_S * PAN_SECONDS,
        "the snapshot was not taken while the camera panned (at {left} px)"
    );
    let frame = image::imageops::crop_imm(&strip, left, 0, WIDTH, HEIGHT).to_image();
    let frame_labels: Vec<DemoSurface> = (0..HEIGHT)
        .flat_map(|y| {
            let row = (y * strip.width() + left) as usize;
            labels[row..row + WIDTH as usize].iter().copied()
        })
        .collect();
    let changed = changed(&picture, &frame);
    let walls = changed_share(&changed, &frame_labels, DemoSurface::Wall);
    let furniture = changed_share(&changed, &frame_labels, DemoSurface::Furniture);
    eprintln!(
        "at {left} px along the pan, latency {} ms: walls {walls:.3}, furniture {furniture:.3}",
        summary["stages"]["segmentation"]["latency_ms"]
    );
    // Carried, measured 0.96 of the walls and 3-7% of the furniture; not carried, the map
    // lags the camera by 40-50 px and gives 0.74-0.84 and 19-27%.
    assert!(walls >= 0.9, "only {walls:.2} of the walls were repainted");
    assert!(furniture <= 0.12, "{furniture:.2} of the furniture was painted");
}

#[test]
fn a_clip_goes_to_the_share_sheet_where_there_is_one_and_is_downloaded_when_sharing_is_cancelled() {
    let mut page = demo_page();
    let (browser, origin) = (&mut page.browser, &page.server.origin);
    // Debian's Chromium offers no share sheet, so the page gets the one a phone's browser has,
    // as the Web Share API defines it: it takes the files, or rejects when the user closes it.
    // `window.sheet` says what to do and keeps what it was given.
    browser.call(
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({"source": "
            window.sheet = { cancel: location.hash === '#cancel', shared: [] };
            navigator.canShare = (data) => !!data && Array.isArray(data.files);
            navigator.share = async (data) => {
                if (window.sheet.cancel) throw new DOMException('closed', 'AbortError');
                for (const file of data.files) {
                    const head = new Uint8Array(await file.slice(4, 8).arrayBuffer());
                    window.sheet.shared.push({ name: file.name, type: file.type, size: file.size,
                        box: String.fromCharCode(...head) });
                }
            };"}),
    );
    let clip_saved = |browser: &mut Browser, url: &str| {
        browser.navigate(url);
        let summary = browser.wait_for("a saved clip", STALL, |s| s["clip"].is_object());
        summary["clip"].clone()
    };

    let clip = clip_saved(browser, &format!("{}/?preset=toon&record-seconds=1", origin));
    assert_eq!(clip["saved"], "shared", "{clip}");
    let shared = browser.eval("window.sheet.shared");
    let name = clip["name"].as_str().expect("clip name");
    assert_eq!(shared[0]["name"], name, "{shared}");
    assert_eq!(shared[0]["type"], "video/mp4", "{shared}");
    assert_eq!(shared[0]["box"], "ftyp", "the shared file is no MP4: {shared}");
    assert!(shared[0]["size"].as_u64() > Some(1000), "{shared}");
    assert!(!page.dir.path().join(name).exists(), "a shared clip was downloaded too");

    // Closing the sheet without a choice must not lose the clip.
    let url = format!("{}/?preset=film&record-seconds=1#cancel", origin);
    let clip = clip_saved(browser, &url);
    assert_eq!(clip["saved"], "downloaded", "{clip}");
    let path = browser.downloaded(clip["name"].as_str().expect("clip name"));
    let bytes = std::fs::read(&path).expect("the downloaded clip");
    assert_eq!(&bytes[4..8], b"ftyp", "the downloaded clip is no MP4");
}

/// Mean absolute difference per channel, in levels.
/// A phone turned while the page records: the camera's track changes to a portrait shape (the
/// browser crops and scales the same camera to 404x720, as a turned phone's camera gives a
/// portrait picture). The page takes the new shape instead of stretching it into the old one,
/// and the clip goes on in its first shape with the turned pictures letterboxed: dark grey
/// bars beside the picture in its last frames, the room to the edge in its first.
#[test]
fn a_turned_camera_keeps_its_aspect_and_the_clip_goes_on_letterboxed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let site = site();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, _, _, y4m) = demo_camera(dir.path());
    let server = SiteServer::start(&site);
    let mut browser = Browser::start(&y4m, dir.path());
    // The page's camera stream, kept where the test can change its constraints.
    browser.call(
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({"source": "const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices); navigator.mediaDevices.getUserMedia = async (c) => (window.testCamera = await open(c));"}),
    );
    browser.navigate(&format!(
        "{}/?preset=film&provider=wasm&microphone=none&record-seconds=600",
        server.origin
    ));
    // Turned a few frames into the recording, and stopped (space) a few frames after the turn,
    // whatever the machine's speed.
    browser.wait_for("frames recorded before the turn", STALL, |s| {
        s["recording"] == true && s["frames"].as_u64() >= Some(3)
    });
    let turned = browser.eval(
        "window.testCamera.getVideoTracks()[0].applyConstraints({width: {exact: 404}, \
         height: {exact: 720}, resizeMode: 'crop-and-scale'}).then(() => 'turned', e => e.name)",
    );
    assert_eq!(turned, "turned", "the camera track did not take the portrait shape");
    let portrait = browser.wait_for("the portrait picture", STALL, |s| {
        s["picture_size"] == serde_json::json!([404, 720])
    });
    let frames = portrait["frames"].as_u64().unwrap_or_default();
    browser.wait_for("frames after the turn", STALL, |s| s["frames"].as_u64() >= Some(frames + 3));
    browser.key(" ");
    let summary = browser.wait_for("the clip", STALL, |s| s["clip"].is_object());
    let path = browser.downloaded(summary["clip"]["name"].as_str().expect("clip name"));
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg");
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    let frame_bytes = (WIDTH * HEIGHT * 3) as usize;
    assert_eq!(decoded.stdout.len() % frame_bytes, 0, "every frame at the clip's {WIDTH}x{HEIGHT}");
    // The left 200 columns: a fitted 404x720 picture spans x 438..842, so they are the
    // letterbox's dark grey (15 levels) after the turn, and the demo room before it.
    let left_band: Vec<f64> = decoded
        .stdout
        .chunks_exact(frame_bytes)
        .map(|frame| {
            let sum: f64 = (0..HEIGHT as usize)
                .flat_map(|y| (0..200).map(move |x| (y * WIDTH as usize + x) * 3))
                .map(|p| f64::from(frame[p]) + f64::from(frame[p + 1]) + f64::from(frame[p + 2]))
                .sum();
            sum / (f64::from(HEIGHT) * 200.0 * 3.0)
        })
        .collect();
    let (first, last) = (left_band[0], left_band[left_band.len() - 1]);
    assert!(first > 40.0 && last < 25.0, "left band from {first:.0} to {last:.0}: {left_band:.0?}");
}

fn mean_difference(a: &RgbImage, b: &RgbImage) -> f64 {
    let total: u64 =
        a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    total as f64 / a.as_raw().len().max(1) as f64
}

/// The page's snapshot restyles the camera's `frame` as much as native `process` did, and lands
/// near native's picture. What differs: the camera path's colour loss (a few levels), the
/// browser's shrinking of the frame before the network (the network's input is not the same
/// resize), and the page's float kernels against the CPU's. A style network's output follows
/// its input smoothly, so these move it by a few levels, far less than the style moves the room.
fn restyled_as_native_does(snapshot: &Path, native: &RgbImage, frame: &RgbImage) {
    let shown = image::open(snapshot).expect("the snapshot is a PNG").to_rgb8();
    assert_eq!(shown.dimensions(), frame.dimensions());
    let painted = mean_difference(native, frame);
    let from_native = mean_difference(&shown, native);
    let from_camera = mean_difference(&shown, frame);
    eprintln!(
        "the style moves the room by {painted:.1} levels natively; the page's picture is \
         {from_camera:.1} from the camera and {from_native:.1} from native"
    );
    assert!(painted > 20.0, "native barely changed the room: {painted:.1}");
    assert!(from_camera > 0.7 * painted, "the page barely restyled: {from_camera:.1}");
    assert!(from_native < 0.3 * painted, "page and native differ by {from_native:.1} levels");
}

#[test]
fn the_page_paints_the_room_with_the_style_network_as_native_process_does_and_a_prompt_falls_back_to_it()
 {
    let mut page = demo_page();
    let (browser, origin, dir) = (&mut page.browser, &page.server.origin, page.dir.path());
    let png = dir.join("frame.png");
    let frame = image::open(&png).expect("the camera's frame").to_rgb8();

    // The native reference: `process` on the same frame with the same preset and network.
    let native = native_process(dir, &png, "painting");

    browser.navigate(&format!(
        "{origin}/?preset=painting&provider=wasm&quit-after-frames=60&snapshot=true"
    ));
    let summary = browser.wait_for("60 frames and a snapshot", STALL, |s| {
        s["finished"] == true && s["snapshot"].is_string()
    });
    let style = &summary["stages"]["style"];
    assert_eq!(style["model"], "multistyle26", "{summary}");
    assert_eq!(style["execution_provider"], "wasm", "{summary}");
    assert_eq!(style["error"], serde_json::Value::Null, "{summary}");
    assert_eq!(summary["layers_off"], serde_json::json!([]), "{summary}");
    // The camera is still, so the room is stylized once, as natively (a run on every frame
    // would spend a phone's battery on the same picture); the run ends seconds before the
    // snapshot, which shows the keyframe fully faded in.
    assert_eq!(style["runs"].as_u64(), Some(1), "{summary}");

    let snapshot = browser.downloaded(summary["snapshot"].as_str().expect("snapshot name"));
    restyled_as_native_does(&snapshot, &native, &frame);

    // A prompt from the address, as the desktop's `--restyle` gives it, means the restyle
    // preset. No diffusion model runs in the page, so its restyle layer takes the style-transfer
    // fallback, as a desktop without one does, and says so; the prompt picks the built-in style
    // its words name.
    browser.navigate(&format!("{origin}/?restyle=a+room+in+watercolour&provider=wasm"));
    let summary = browser.wait_for("a style run and the prompt's field", STALL, |s| {
        s["stages"]["style"]["runs"].as_u64() >= Some(1) && s["prompt_field"].is_array()
    });
    assert_eq!(summary["stages"]["style"]["model"], "multistyle26", "{summary}");
    assert_eq!(summary["layers_off"], serde_json::json!([]), "{summary}");
    let engine = summary["restyle_engine"].as_str().unwrap_or_default();
    assert!(
        engine.starts_with("style transfer (built-in style 12 (watercolour))")
            && engine.contains("prompt only chooses among the built-in styles"),
        "{summary}"
    );

    // The panel's prompt field takes typing as a phone's keyboard gives it: a finger on the
    // field selects the prompt, committed words replace it, editing keys change them, Enter
    // applies them. The new prompt names another style, and the still camera is stylized again
    // in it. A space typed there is text, not the page's record shortcut.
    let field: Vec<f64> = serde_json::from_value(summary["prompt_field"].clone()).expect("rect");
    let runs = summary["stages"]["style"]["runs"].as_u64().unwrap_or_default();
    // Each step waits for the page, as a person's typing does.
    browser.touch((field[0] + field[2]) / 2.0, (field[1] + field[3]) / 2.0);
    let focused = "document.activeElement && document.activeElement.tagName == 'INPUT'";
    let start = std::time::Instant::now();
    while browser.eval(focused) != true {
        assert!(start.elapsed() < STALL, "a tap on the prompt's field gave it no keyboard");
        std::thread::sleep(Duration::from_millis(50));
    }
    browser.type_text("Van Gogh's starry sky");
    browser.wait_for("the typed words in place of the prompt", STALL, |s| {
        s["restyle_prompt"] == "Van Gogh's starry sky"
    });
    for _ in "sky".chars() {
        browser.key("Backspace");
    }
    browser.key("ArrowLeft");
    browser.key("End");
    browser.type_text("night");
    let prompt = "Van Gogh's starry night";
    browser.wait_for("the edited prompt in the field", STALL, |s| s["restyle_prompt"] == prompt);
    browser.key("Enter");
    let summary = browser.wait_for("a style run in the typed prompt's style", STALL, |s| {
        s["stages"]["style"]["runs"].as_u64() > Some(runs)
            && s["restyle_engine"].as_str().is_some_and(|e| {
                e.starts_with("style transfer (built-in style 19 (swirling night))")
            })
    });
    assert_eq!(summary["stages"]["style"]["error"], serde_json::Value::Null, "{summary}");
    assert_eq!(summary["recording"], false, "typing started a recording: {summary}");
}

/// A picture chosen as the style, as a phone's gallery gives it to the page's picture chooser:
/// the arbitrary-style pair reads the picture's style once and paints the room in it, landing
/// near native `process` with a preset whose style layer names the same picture.
#[test]
fn a_picture_chosen_as_the_style_paints_the_room_as_native_process_does() {
    let mut page = demo_page();
    let (browser, origin, dir) = (&mut page.browser, &page.server.origin, page.dir.path());
    let png = dir.join("frame.png");
    let frame = image::open(&png).expect("the camera's frame").to_rgb8();
    // A real photo as the style, as a PNG so the page and native decode the same pixels.
    let style = dir.join("style.png");
    common::photo("ADE_val_00000002").save(&style).expect("write style.png");
    let preset = dir.join("picture-style.toml");
    std::fs::write(
        &preset,
        "description = \"the room in the style of a picture\"\n\n\
         [[layer]]\neffect = \"style\"\nimage = \"style.png\"\nstrength = 0.85\n",
    )
    .expect("write the preset");
    let native = native_process(dir, &png, preset.to_str().expect("a UTF-8 path"));

    browser.navigate(&format!("{origin}/?preset=painting&provider=wasm"));
    browser.wait_for("the built-in style's first run", STALL, |s| {
        s["stages"]["style"]["runs"].as_u64() >= Some(1)
    });
    // The chooser's element takes the file as a person's choice would fill it.
    let document = browser.call("DOM.getDocument", serde_json::json!({}));
    let chooser = browser.call(
        "DOM.querySelector",
        serde_json::json!({"nodeId": document["root"]["nodeId"], "selector": "#style-picture"}),
    );
    assert!(chooser["nodeId"].as_u64() > Some(0), "the page has no picture chooser: {chooser}");
    browser.call(
        "DOM.setFileInputFiles",
        serde_json::json!({"nodeId": chooser["nodeId"], "files": [style]}),
    );
    let summary = browser.wait_for("a run in the picture's style", STALL, |s| {
        s["stages"]["style"]["model"] == "arbitrary-style-transform"
            && s["stages"]["style"]["runs"].as_u64() >= Some(1)
    });
    let style_stage = &summary["stages"]["style"];
    assert_eq!(style_stage["execution_provider"], "wasm", "{summary}");
    assert_eq!(style_stage["error"], serde_json::Value::Null, "{summary}");
    // The new keyframe fades in over a fraction of a second of the page's frames.
    let shown = summary["frames"].as_u64().unwrap_or_default();
    browser.wait_for("the picture's style faded in", STALL, |s| {
        s["frames"].as_u64() >= Some(shown + 10)
    });
    browser.key("s");
    let summary = browser.wait_for("a snapshot", STALL, |s| s["snapshot"].is_string());
    let snapshot = browser.downloaded(summary["snapshot"].as_str().expect("snapshot name"));
    restyled_as_native_does(&snapshot, &native, &frame);
}
