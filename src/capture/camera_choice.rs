//! Which camera mode to stream, decided the same way on every platform: the desktop maps its
//! cameras' formats (nokhwa) and the phone its Camera2 stream configurations to [`CameraMode`]s
//! and asks [`choose_mode`].

/// Which camera, and the picture size and frame rate wanted from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CameraRequest {
    /// Camera index, as `dreamlens doctor` lists them (on a phone: 0 is the back camera).
    pub index: u32,
    /// Wanted width and height (the closest the camera offers is used).
    pub size: Option<(u32, u32)>,
    /// Wanted frames per second (the closest the camera offers is used).
    pub fps: Option<u32>,
}

/// One way a camera can stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraMode {
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Frames per second (the top of the range where a camera offers a range).
    pub fps: u32,
    /// True for a compressed format (MJPEG), which keeps USB bandwidth for high rates.
    pub compressed: bool,
}

/// The offered mode closest to `request`: nearest pixel count (in ratio terms), then nearest
/// frame rate, then a compressed format. `None` when nothing was requested (the camera's own
/// default then applies) or nothing is offered.
pub fn choose_mode(offered: &[CameraMode], request: &CameraRequest) -> Option<CameraMode> {
    if request.size.is_none() && request.fps.is_none() {
        return None;
    }
    let cost = |m: &CameraMode| {
        let size = request.size.map_or(0.0, |(w, h)| {
            let want = f64::from(w) * f64::from(h);
            let got = f64::from(m.width) * f64::from(m.height);
            (got / want).ln().abs()
        });
        let fps =
            request.fps.map_or(0.0, |want| (f64::from(m.fps) / f64::from(want.max(1))).ln().abs());
        let compressed = if m.compressed { 0.0 } else { 1e-3 };
        size * 4.0 + fps + compressed
    };
    offered.iter().copied().min_by(|a, b| cost(a).total_cmp(&cost(b)))
}

/// The YUV_420_888 modes in Camera2's stream configurations: `(format, width, height, is_input)`
/// quadruples, with the highest frame rate of the `(min, max)` auto-exposure ranges (a phone
/// streams every YUV size it lists at its top preview rate).
pub fn camera2_modes(
    configurations: &[i32],
    fps_ranges: &[i32],
    yuv_format: i32,
) -> Vec<CameraMode> {
    let fps = fps_ranges.chunks_exact(2).map(|r| r[1]).max().unwrap_or(30).max(1) as u32;
    configurations
        .chunks_exact(4)
        .filter(|c| c[0] == yuv_format && c[3] == 0 && c[1] > 0 && c[2] > 0)
        .map(|c| CameraMode { width: c[1] as u32, height: c[2] as u32, fps, compressed: false })
        .collect()
}

/// Clockwise quarter turns that make a sensor's picture upright on screen, from the sensor's
/// mounting angle and the display's rotation (both in degrees, multiples of 90). A front camera
/// turns the other way, as it faces the user.
pub fn upright_quarter_turns(sensor_degrees: i32, display_degrees: i32, front: bool) -> u8 {
    let degrees = if front {
        (sensor_degrees + display_degrees).rem_euclid(360)
    } else {
        (sensor_degrees - display_degrees).rem_euclid(360)
    };
    (degrees / 90) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(width: u32, height: u32, fps: u32, compressed: bool) -> CameraMode {
        CameraMode { width, height, fps, compressed }
    }

    fn offered() -> Vec<CameraMode> {
        vec![
            mode(640, 480, 30, false),
            mode(640, 480, 30, true),
            mode(1280, 720, 30, true),
            mode(1280, 720, 10, false),
            mode(1920, 1080, 15, true),
            mode(320, 240, 60, false),
        ]
    }

    #[test]
    fn the_closest_mode_is_chosen() {
        let pick = |size, fps| choose_mode(&offered(), &CameraRequest { index: 0, size, fps });
        assert_eq!(pick(None, None), None, "nothing asked: the camera's default");
        assert_eq!(pick(Some((1280, 720)), Some(30)), Some(mode(1280, 720, 30, true)));
        assert_eq!(pick(None, Some(60)).map(|m| m.fps), Some(60));
        assert_eq!(pick(Some((1200, 700)), None).map(|m| m.width), Some(1280), "nearest size");
        assert_eq!(
            pick(Some((640, 480)), Some(30)),
            Some(mode(640, 480, 30, true)),
            "compressed preferred at equal fit"
        );
    }

    #[test]
    fn camera2_yuv_outputs_become_modes() {
        const YUV: i32 = 35;
        const JPEG: i32 = 256;
        let configurations =
            [YUV, 1920, 1080, 0, JPEG, 4000, 3000, 0, YUV, 1280, 720, 0, YUV, 640, 480, 1];
        let modes = camera2_modes(&configurations, &[15, 30, 30, 30, 7, 60], YUV);
        assert_eq!(modes, vec![mode(1920, 1080, 60, false), mode(1280, 720, 60, false)]);
        let request = CameraRequest { index: 0, size: Some((1280, 720)), fps: Some(30) };
        assert_eq!(choose_mode(&modes, &request), Some(mode(1280, 720, 60, false)));
    }

    #[test]
    fn a_back_sensor_mounted_sideways_turns_upright() {
        assert_eq!(upright_quarter_turns(90, 0, false), 1, "the usual phone back camera");
        assert_eq!(upright_quarter_turns(90, 90, false), 0, "held in landscape");
        assert_eq!(upright_quarter_turns(270, 0, true), 3, "the usual front camera");
        assert_eq!(upright_quarter_turns(270, 90, true), 0);
    }

    #[test]
    fn size_outweighs_rate() {
        // A phone offering 4K at 30 and 720p at 24: a 720p/30 request keeps the size.
        let phone = [mode(3840, 2160, 30, false), mode(1280, 720, 24, false)];
        let request = CameraRequest { index: 0, size: Some((1280, 720)), fps: Some(30) };
        assert_eq!(choose_mode(&phone, &request), Some(mode(1280, 720, 24, false)));
    }
}
