//! Reading one photo the way a user's camera wrote it: upright (EXIF orientation applied),
//! bounded in size (a decompression bomb is refused before its pixels are allocated), and with
//! a cut-off file reported instead of quietly processed.

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use super::CaptureError;

/// Largest side accepted, in pixels: far above any camera (a 200 MP sensor is 16320 wide).
pub const MAX_SIDE: u32 = 16_384;
/// Most bytes a decoded photo may take: 16384 x 16384 RGBA.
const MAX_DECODED_BYTES: u64 = MAX_SIDE as u64 * MAX_SIDE as u64 * 4;

/// A decoded photo and what was noticed while reading it.
#[derive(Debug)]
pub struct Photo {
    /// The pixels, upright.
    pub image: RgbImage,
    /// A problem that did not stop decoding (a cut-off file), to be shown to the user.
    pub warning: Option<String>,
}

/// Decodes `path` upright, refusing empty files and images past [`MAX_SIDE`].
pub fn read_photo(path: &Path) -> Result<Photo, CaptureError> {
    let input = path.display().to_string();
    let error = |problem: String| CaptureError::Read { input: input.clone(), problem };
    let bytes = std::fs::read(path).map_err(|e| error(format!("cannot read it ({e})")))?;
    if bytes.is_empty() {
        return Err(error("the file is empty; give a JPEG or PNG photo".into()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    let mut reader = ImageReader::new(std::io::Cursor::new(&bytes[..]))
        .with_guessed_format()
        .map_err(|e| error(format!("cannot read it ({e})")))?;
    reader.limits(limits);
    let format = reader.format();
    let mut decoder = reader.into_decoder().map_err(|e| error(decode_problem(&e)))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(error(format!("the image is {width}x{height}: it has no pixels")));
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| error(decode_problem(&e)))?;
    image.apply_orientation(orientation);
    let warning = (format == Some(image::ImageFormat::Jpeg) && !ends_with_jpeg_eoi(&bytes))
        .then(|| {
            format!(
                "{input}: the JPEG is cut off (no end marker); the missing part of the picture is blank"
            )
        });
    Ok(Photo { image: image.to_rgb8(), warning })
}

/// [`read_photo`], logging its warning; for callers with no better place to show it.
pub fn read_photo_logged(path: &Path) -> Result<RgbImage, CaptureError> {
    let photo = read_photo(path)?;
    if let Some(warning) = &photo.warning {
        tracing::warn!("{warning}");
    }
    Ok(photo.image)
}

fn decode_problem(error: &image::ImageError) -> String {
    match error {
        image::ImageError::Limits(_) => format!(
            "the image is too large ({error}); the most accepted is {MAX_SIDE}x{MAX_SIDE} pixels"
        ),
        image::ImageError::Unsupported(_) => {
            format!("cannot decode it: not a JPEG or PNG image ({error})")
        }
        _ => format!("cannot decode it as an image ({error})"),
    }
}

/// True when the JPEG stream ends with its end-of-image marker (trailing padding allowed).
/// Decoders fill a cut-off scan with grey without an error, so this is checked by hand.
fn ends_with_jpeg_eoi(bytes: &[u8]) -> bool {
    let end = bytes.iter().rposition(|&b| b != 0 && b != b'\n' && b != b'\r').map_or(0, |i| i + 1);
    bytes[..end].ends_with(&[0xFF, 0xD9])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut bytes = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
            .expect("encodes");
        bytes
    }

    #[test]
    fn a_complete_jpeg_has_no_warning_and_a_cut_one_does() {
        let dir = tempfile::tempdir().expect("temp");
        let whole = dir.path().join("whole.jpg");
        let bytes = jpeg(64, 48);
        std::fs::write(&whole, &bytes).expect("write");
        let photo = read_photo(&whole).expect("decodes");
        assert_eq!(photo.image.dimensions(), (64, 48));
        assert!(photo.warning.is_none());

        let cut = dir.path().join("cut.jpg");
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
        match read_photo(&cut) {
            Ok(photo) => {
                let warning = photo.warning.expect("a cut JPEG is reported");
                assert!(warning.contains("cut.jpg") && warning.contains("cut off"), "{warning}");
            }
            Err(error) => assert!(error.to_string().contains("cut.jpg"), "{error}"),
        }
    }

    /// `bytes` with an EXIF APP1 segment holding only an orientation tag, right after SOI.
    fn with_exif_orientation(bytes: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec(); // big-endian, first IFD at 8
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // one value
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // padding, then no next IFD
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
        segment.extend_from_slice(b"Exif\0\0");
        segment.extend_from_slice(&tiff);
        [&bytes[..2], &segment[..], &bytes[2..]].concat()
    }

    #[test]
    fn exif_orientation_turns_a_phone_photo_upright() {
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("phone.jpg");
        // A 64x48 sensor picture, dark on the left, that the phone says to turn 90 degrees
        // clockwise (orientation 6): upright it is 48x64 and dark at the top.
        let sensor =
            RgbImage::from_fn(64, 48, |x, _| image::Rgb([if x < 16 { 0 } else { 255 }; 3]));
        let mut bytes = Vec::new();
        sensor
            .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
            .expect("encodes");
        std::fs::write(&path, with_exif_orientation(&bytes, 6)).expect("write");
        let photo = read_photo(&path).expect("decodes");
        assert_eq!(photo.image.dimensions(), (48, 64));
        assert!(photo.image.get_pixel(24, 4)[0] < 40, "the dark side is at the top");
        assert!(photo.image.get_pixel(24, 60)[0] > 215, "the light side is at the bottom");
    }

    #[test]
    fn empty_and_garbage_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp");
        let empty = dir.path().join("empty.jpg");
        std::fs::write(&empty, b"").expect("write");
        let text = read_photo(&empty).expect_err("empty").to_string();
        assert!(text.contains("empty.jpg") && text.contains("empty"), "{text}");
        let garbage = dir.path().join("garbage.png");
        std::fs::write(&garbage, b"this is not a picture at all").expect("write");
        let text = read_photo(&garbage).expect_err("garbage").to_string();
        assert!(text.contains("garbage.png"), "{text}");
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_allocating() {
        // A valid PNG header claiming 100000 x 100000 pixels: 40 GB if decoded.
        let dir = tempfile::tempdir().expect("temp");
        let bomb = dir.path().join("bomb.png");
        let mut png = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut png);
        image::ImageEncoder::write_image(encoder, &[0u8; 3], 1, 1, image::ExtendedColorType::Rgb8)
            .expect("encodes");
        // IHDR width and height sit at bytes 16..24; the CRC after them is left stale, which
        // the limit check must not even reach.
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        std::fs::write(&bomb, &png).expect("write");
        let text = read_photo(&bomb).expect_err("too large").to_string();
        assert!(text.contains("bomb.png"), "{text}");
    }
}
