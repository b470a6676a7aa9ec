//! MP4 recording checked by ffprobe and ffmpeg (real third-party readers): codec, frame count,
//! duration, monotonic timestamps, odd sizes, a process killed with SIGKILL mid-recording, a full
//! disk, an unwritable path, and a pipelined hardware encoder's output buffers.

mod common;

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::Duration,
};

use common::*;

fn dreamlens() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dreamlens"));
    command.env("DREAMLENS_MODEL_DIRS", models_dir());
    command
}

fn ffprobe(args: &[&str], file: &Path) -> String {
    let output = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(file)
        .output()
        .expect("ffprobe is installed");
    assert!(
        output.status.success(),
        "ffprobe rejected {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn frames_decoded(file: &Path) -> u64 {
    ffprobe(
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ],
        file,
    )
    .parse()
    .expect("a frame count")
}

fn packet_times(file: &Path) -> Vec<f64> {
    ffprobe(&["-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0"], file)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// ffmpeg decodes every frame without an error message.
fn decodes_cleanly(file: &Path) -> bool {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    output.status.success() && output.stderr.is_empty()
}

fn run(command: &mut Command) -> Output {
    command.output().expect("runs")
}

#[test]
fn a_recording_is_valid_h264_mp4_with_every_frame_and_rising_timestamps() {
    let dir = tempfile::tempdir().expect("temp");
    let clip = dir.path().join("clip.mp4");
    let output = run(dreamlens()
        .args([
            "process",
            "--input",
            "demo",
            "--demo-size",
            "320x240",
            "--max-frames",
            "45",
            "--preset",
            "toon",
            "--output",
        ])
        .arg(&clip));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stream = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,pix_fmt",
            "-of",
            "default=nw=1",
        ],
        &clip,
    );
    for expected in ["codec_name=h264", "width=320", "height=240", "pix_fmt=yuv420p"] {
        assert!(stream.contains(expected), "{stream}");
    }
    // The colour description matches the conversion (sRGB pixels, BT.601 matrix, limited
    // range), in the stream as ffprobe reads it and in the container's own colr box.
    let colour = ffprobe(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=color_range,color_space,color_transfer,color_primaries",
            "-of",
            "default=nw=1",
        ],
        &clip,
    );
    for expected in [
        "color_range=tv",
        "color_space=smpte170m",
        "color_transfer=iec61966-2-1",
        "color_primaries=bt709",
    ] {
        assert!(colour.contains(expected), "{colour}");
    }
    let bytes = std::fs::read(&clip).expect("read");
    let colr = b"colrnclx\0\x01\0\x0d\0\x06\0";
    assert!(bytes.windows(colr.len()).any(|w| w == colr), "no nclx colr box in the MP4");
    assert_eq!(frames_decoded(&clip), 45);
    let duration: f64 = ffprobe(&["-show_entries", "format=duration", "-of", "csv=p=0"], &clip)
        .parse()
        .expect("duration");
    assert!((duration - 1.5).abs() < 0.1, "45 frames at 30 fps: {duration}");
    let times = packet_times(&clip);
    assert_eq!(times.len(), 45);
    assert!(times.windows(2).all(|w| w[1] > w[0]), "timestamps not rising: {times:?}");
    assert!(decodes_cleanly(&clip));
}

#[test]
fn odd_sizes_and_the_duration_limit_are_handled() {
    let dir = tempfile::tempdir().expect("temp");
    let clip = dir.path().join("odd.mp4");
    let output = run(dreamlens()
        .args([
            "process",
            "--input",
            "demo",
            "--demo-size",
            "321x183",
            "--max-frames",
            "90",
            "--max-duration",
            "1.0",
            "--preset",
            "film",
            "--output",
        ])
        .arg(&clip));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let size = ffprobe(
        &["-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0"],
        &clip,
    );
    assert_eq!(size, "320,182");
    let frames = frames_decoded(&clip);
    assert_eq!(frames, 30, "one second at 30 fps");
}

#[test]
fn a_recording_killed_with_sigkill_still_plays_up_to_its_last_fragment() {
    let dir = tempfile::tempdir().expect("temp");
    let clip = dir.path().join("killed.mp4");
    let mut child = dreamlens()
        .args([
            "process",
            "--input",
            "demo",
            "--demo-size",
            "320x240",
            "--max-frames",
            "3000",
            "--keyframe-interval",
            "0.5",
            "--preset",
            "toon",
            "--output",
        ])
        .arg(&clip)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    // Wait until a few fragments are on disk (or the run ends early, which the checks below
    // then report), then kill without any chance to clean up.
    while std::fs::metadata(&clip).map_or(0, |m| m.len()) < 60_000
        && child.try_wait().expect("child state").is_none()
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("exits");
    assert!(!status.success(), "the recording was still running when killed");
    let frames = frames_decoded(&clip);
    assert!(frames >= 15, "only {frames} frames survived");
    assert!(decodes_cleanly(&clip), "the cut-off file does not decode cleanly");
    let times = packet_times(&clip);
    assert!(times.windows(2).all(|w| w[1] > w[0]));
}

#[test]
fn a_full_disk_stops_the_recording_with_a_clear_message_and_a_playable_file() {
    let mount_point = tempfile::tempdir().expect("temp");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=400k", "tmpfs"])
        .arg(mount_point.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        mounted,
        "this test fills a small tmpfs and needs permission to mount one: run it as root (CI does)"
    );
    let clip = mount_point.path().join("full.mp4");
    // Film grain makes every frame expensive to compress, so the disk fills quickly.
    let output = run(dreamlens()
        .args([
            "process",
            "--input",
            "demo",
            "--demo-size",
            "320x240",
            "--max-frames",
            "600",
            "--bitrate",
            "1000",
            "--keyframe-interval",
            "0.5",
            "--preset",
            "film",
            "--output",
        ])
        .arg(&clip));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let frames = frames_decoded(&clip);
    let clean = decodes_cleanly(&clip);
    let _ = Command::new("umount").arg(mount_point.path()).status();
    assert!(!output.status.success(), "a full disk must fail the command");
    assert!(stderr.contains("disk is full") && stderr.contains("full.mp4"), "{stderr}");
    assert!(frames > 0 && clean, "{frames} frames, clean: {clean}");
}

#[test]
fn an_unwritable_output_is_refused_before_any_work() {
    let output = run(dreamlens().args([
        "process",
        "--input",
        "demo",
        "--max-frames",
        "5",
        "--output",
        "/proc/dreamlens/clip.mp4",
    ]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/proc/dreamlens"), "{stderr}");
    assert!(!stderr.contains("frames written"), "{stderr}");
}

#[test]
fn the_input_sound_is_carried_into_the_recording_and_trimmed_with_it() {
    let dir = tempfile::tempdir().expect("temp");
    let input = dir.path().join("with_sound.mp4");
    let status = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
        ])
        .args(["-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(&input)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    for (max_frames, seconds) in [("60", 2.0), ("30", 1.0)] {
        let clip = dir.path().join(format!("out{max_frames}.mp4"));
        let output = run(dreamlens()
            .args(["process", "--preset", "toon", "--max-frames", max_frames, "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&clip));
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let audio = ffprobe(
            &[
                "-select_streams",
                "a:0",
                "-show_entries",
                "stream=codec_name,sample_rate,duration",
                "-of",
                "csv=p=0",
            ],
            &clip,
        );
        let fields: Vec<&str> = audio.split(',').collect();
        assert_eq!(fields[..2], ["aac", "48000"], "{audio}");
        let duration: f64 = fields[2].parse().expect("duration");
        assert!((duration - seconds).abs() < 0.1, "audio {duration} s for {seconds} s of video");
        assert!(decodes_cleanly(&clip));
    }
}

/// The edited picture's I420 made on the GPU against the CPU conversion of the same RGBA.
fn gpu_i420(picture: &image::RgbaImage, out: (u32, u32)) -> (Vec<u8>, (u32, u32)) {
    use dreamlens::render::{
        Compositor, CompositorInput, FramePixels, RenderContext, readback, yuv::I420Converter,
    };
    let context = RenderContext::headless().expect("GPU adapter");
    let (w, h) = picture.dimensions();
    let mut compositor = Compositor::new(&context, w, h, &[], &[]).expect("compositor");
    let input = CompositorInput {
        pixels: FramePixels::Rgba(picture.as_raw()),
        classes: None,
        person: None,
        depth: None,
        motions: None,
        stylized: None,
    };
    compositor.render(&context, &input).expect("renders");
    let converter = I420Converter::new(&context, out.0, out.1);
    let view = compositor.output_texture().create_view(&Default::default());
    let mut encoder = context.device.create_command_encoder(&Default::default());
    converter.encode(&context, &mut encoder, &view, (w, h));
    context.queue.submit([encoder.finish()]);
    (readback::read_texture(&context, converter.target()).expect("reads back"), converter.size())
}

#[test]
fn the_gpu_converts_to_i420_like_the_cpu() {
    use dreamlens::record::encoder::I420;
    // A real photo at an odd size: the GPU crops the last column and row like the CPU does.
    let photo = image::DynamicImage::ImageRgb8(photo("ADE_val_00000001")).to_rgba8();
    let photo = image::imageops::crop_imm(&photo, 0, 0, 321, 183).to_image();
    let (gpu, size) = gpu_i420(&photo, (321, 183));
    assert_eq!(size, (320, 182));
    let cpu = I420::from_rgba(photo.as_raw(), 321, 183);
    let cpu: Vec<u8> = [cpu.y, cpu.u, cpu.v].concat();
    assert_eq!(gpu.len(), cpu.len(), "one luma and two quarter chroma planes");
    let worst = gpu.iter().zip(&cpu).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
    // Rounding differs (float on the GPU, integer shifts on the CPU): at most one level.
    assert!(worst <= 1, "GPU and CPU I420 differ by up to {worst} levels");
    // A different recording size is scaled, not cropped.
    let (scaled, size) = gpu_i420(&photo, (160, 90));
    assert_eq!(size, (160, 90));
    assert_eq!(scaled.len(), 160 * 90 * 3 / 2);
}

#[test]
fn gpu_made_i420_frames_record_to_a_valid_clip() {
    use dreamlens::record::{Pixels, RecordFrame, RecordOptions, Recorder};
    let photo = image::DynamicImage::ImageRgb8(photo("ADE_val_00000001")).to_rgba8();
    let photo = image::imageops::resize(&photo, 320, 240, image::imageops::FilterType::Triangle);
    let (i420, (w, h)) = gpu_i420(&photo, (320, 240));
    let dir = tempfile::tempdir().expect("temp");
    let clip = dir.path().join("gpu.mp4");
    let mut recorder =
        Recorder::start(&clip, w, h, RecordOptions::default(), None).expect("starts");
    for index in 0..10 {
        let frame = RecordFrame {
            pixels: Pixels::I420(i420.clone()),
            width: w,
            height: h,
            time_s: f64::from(index) / 30.0,
        };
        assert!(recorder.push(frame));
    }
    let stats = recorder.finish().expect("finishes");
    assert_eq!(stats.frames, 10);
    assert_eq!(frames_decoded(&clip), 10);
    assert!(decodes_cleanly(&clip));
    // What comes out is the photo: its decoded first frame matches it closely.
    let png = dir.path().join("first.png");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-i"])
        .arg(&clip)
        .args(["-frames:v", "1"])
        .arg(&png)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let decoded = image::open(&png).expect("png").to_rgb8();
    let original = image::DynamicImage::ImageRgba8(photo).to_rgb8();
    let mean = decoded
        .as_raw()
        .iter()
        .zip(original.as_raw())
        .map(|(a, b)| f64::from(a.abs_diff(*b)))
        .sum::<f64>()
        / decoded.as_raw().len() as f64;
    assert!(mean < 8.0, "the clip differs from the photo by {mean:.1} levels");
}

#[test]
fn sound_in_another_codec_is_re_encoded_to_aac() {
    // MP3 sound cannot be copied into the recording: it is decoded and encoded to AAC, and
    // what plays is still the input's 440 Hz tone for as long as the video.
    let dir = tempfile::tempdir().expect("temp");
    let input = dir.path().join("mp3_sound.mp4");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "2"])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libmp3lame", "-shortest"])
        .arg(&input)
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let clip = dir.path().join("out.mp4");
    let output = run(dreamlens()
        .args(["process", "--preset", "toon", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&clip));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let audio = ffprobe(
        &[
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,duration",
            "-of",
            "csv=p=0",
        ],
        &clip,
    );
    let fields: Vec<&str> = audio.split(',').collect();
    assert_eq!(fields[0], "aac", "{audio}");
    let duration: f64 = fields[1].parse().expect("duration");
    assert!((duration - 2.0).abs() < 0.1, "audio {duration} s for 2 s of video");
    assert!(decodes_cleanly(&clip));
    // The tone: one second from the middle, decoded to 16-bit mono, has 440 rising zero
    // crossings and a strong level.
    let decoded = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(&clip)
        .args(["-vn", "-ac", "1", "-ar", "44100", "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg");
    let samples: Vec<i16> =
        decoded.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
    let second = &samples[22050..66150];
    let crossings = second.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
    assert!((438..=442).contains(&crossings), "{crossings} cycles in one second, not 440");
    let rms = (second.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 44100.0).sqrt();
    assert!(rms > 1000.0, "the tone is missing (rms {rms:.0})");
}

#[test]
fn irregular_frame_times_are_kept_exactly_across_fragments() {
    // Live capture delivers frames at uneven intervals; each one must play at its own time,
    // including the first frame of every fragment (the muxer alone would place it one average
    // interval after the previous fragment's last frame).
    use dreamlens::record::{Pixels, RecordFrame, RecordOptions, Recorder};
    let times = [0.0, 0.1, 0.5, 0.55, 1.6, 1.7, 2.9, 3.0, 3.05, 4.4, 4.45];
    let dir = tempfile::tempdir().expect("temp");
    let clip = dir.path().join("vfr.mp4");
    let mut recorder =
        Recorder::start(&clip, 64, 48, RecordOptions::default(), None).expect("starts");
    for (index, &time_s) in times.iter().enumerate() {
        let shade = (index * 20) as u8;
        let rgba = (0..64 * 48).flat_map(|_| [shade, 128, 255 - shade, 255]).collect();
        let frame = RecordFrame { pixels: Pixels::Rgba(rgba), width: 64, height: 48, time_s };
        assert!(recorder.push(frame));
    }
    recorder.finish().expect("finishes");
    let written = packet_times(&clip);
    assert_eq!(written.len(), times.len());
    for (got, want) in written.iter().zip(times) {
        assert!((got - want).abs() < 0.002, "frame at {want} s plays at {got} s: {written:?}");
    }
}

/// A hardware encoder as MediaCodec behaves, built on a real H.264 encoder: Annex-B output
/// buffers, the parameter sets once in a codec-config buffer, pictures without them, and
/// pictures coming out two calls late. Its buffers go through `AccessUnits` exactly as the
/// Android app's MediaCodec encoder passes them.
struct PipelinedEncoder {
    inner: dreamlens::record::H264Encoder,
    units: dreamlens::record::annexb::AccessUnits,
    config_sent: bool,
    in_flight: std::collections::VecDeque<(f64, Vec<u8>, bool)>,
}

impl PipelinedEncoder {
    /// The encoder's output as MediaCodec buffers: (bytes, codec config, keyframe).
    fn buffers(
        &mut self,
        picture: dreamlens::record::EncodedPicture,
    ) -> Vec<(Vec<u8>, bool, bool)> {
        let annex_b = |units: &[&Vec<u8>]| {
            units.iter().flat_map(|u| [&[0u8, 0, 0, 1][..], u.as_slice()].concat()).collect()
        };
        let is_set = |u: &&Vec<u8>| matches!(u[0] & 0x1f, 7 | 8);
        let mut buffers = Vec::new();
        let sets: Vec<&Vec<u8>> = picture.nal_units.iter().filter(is_set).collect();
        if !self.config_sent && !sets.is_empty() {
            buffers.push((annex_b(&sets), true, false));
            self.config_sent = true;
        }
        let slices: Vec<&Vec<u8>> = picture.nal_units.iter().filter(|u| !is_set(u)).collect();
        buffers.push((annex_b(&slices), false, picture.is_key));
        buffers
    }

    fn release(
        &mut self,
        keep: usize,
    ) -> Result<
        Vec<(f64, dreamlens::record::EncodedPicture)>,
        dreamlens::record::encoder::EncodeError,
    > {
        let mut out = Vec::new();
        while self.in_flight.len() > keep {
            let (time_s, bytes, is_key) = self.in_flight.pop_front().expect("non-empty");
            out.push((time_s, self.units.picture(&bytes, is_key)?));
        }
        Ok(out)
    }
}

impl dreamlens::record::VideoEncoder for PipelinedEncoder {
    fn encode(
        &mut self,
        picture: &dreamlens::record::I420,
        time_s: f64,
        keyframe: bool,
    ) -> Result<
        Vec<(f64, dreamlens::record::EncodedPicture)>,
        dreamlens::record::encoder::EncodeError,
    > {
        if keyframe {
            self.inner.force_keyframe();
        }
        let encoded = self.inner.encode(picture)?;
        for (bytes, config, is_key) in self.buffers(encoded) {
            if config {
                self.units.codec_config(&bytes)?;
            } else {
                self.in_flight.push_back((time_s, bytes, is_key));
            }
        }
        self.release(2)
    }

    fn finish(
        &mut self,
    ) -> Result<
        Vec<(f64, dreamlens::record::EncodedPicture)>,
        dreamlens::record::encoder::EncodeError,
    > {
        self.release(0)
    }
}

struct PipelinedEncoders;

impl dreamlens::record::VideoEncoders for PipelinedEncoders {
    fn create(
        &self,
        width: u32,
        height: u32,
        settings: dreamlens::record::EncoderSettings,
    ) -> Result<Box<dyn dreamlens::record::VideoEncoder>, dreamlens::record::encoder::EncodeError>
    {
        Ok(Box::new(PipelinedEncoder {
            inner: dreamlens::record::H264Encoder::new(width, height, settings)?,
            units: Default::default(),
            config_sent: false,
            in_flight: Default::default(),
        }))
    }
}

#[test]
fn hardware_encoder_buffers_mux_into_a_clip_that_plays() {
    use dreamlens::record::{Pixels, RecordFrame, RecordOptions, Recorder};
    let dir = tempfile::tempdir().expect("temp");
    let clip = dir.path().join("mediacodec.mp4");
    let (w, h) = (160, 120);
    // Short fragments, so the clip holds several, each starting at a keyframe the encoder sent
    // without parameter sets.
    let options = RecordOptions { keyframe_interval_s: 0.25, ..RecordOptions::default() };
    let mut recorder =
        Recorder::start_with(&clip, w, h, options, None, &PipelinedEncoders).expect("starts");
    let times: Vec<f64> = (0..40).map(|i| f64::from(i) / 30.0).collect();
    for (index, &time_s) in times.iter().enumerate() {
        let shade = (index * 6) as u8;
        let rgba: Vec<u8> = (0..w * h).flat_map(|p| [shade, (p % 251) as u8, 90, 255]).collect();
        let frame = RecordFrame { pixels: Pixels::Rgba(rgba), width: w, height: h, time_s };
        assert!(recorder.push(frame));
    }
    let stats = recorder.finish().expect("finishes");
    assert_eq!(stats.frames, 40, "the two pictures still in the encoder are drained at the end");
    assert_eq!(frames_decoded(&clip), 40);
    assert!(decodes_cleanly(&clip));
    let decoded_times = packet_times(&clip);
    assert_eq!(decoded_times.len(), 40);
    for (got, want) in decoded_times.iter().zip(&times) {
        assert!((got - want).abs() < 1e-3, "a picture at {want} s came out at {got} s");
    }
    let fragments = std::fs::read(&clip).expect("clip").windows(4).filter(|w| w == b"moof").count();
    assert!(fragments >= 3, "{fragments} fragments");
}
