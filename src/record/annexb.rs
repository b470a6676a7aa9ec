//! H.264 byte streams as hardware encoders write them (Annex B: NAL units behind start codes)
//! turned into the pictures the MP4 writer takes. A MediaCodec-style encoder sends the
//! parameter sets (SPS, PPS) once, in a codec-config buffer before the first picture, and then
//! pictures without them; [`AccessUnits`] keeps the parameter sets and puts them in front of
//! every keyframe, so each keyframe can start a recording on its own.

use super::encoder::{EncodeError, EncodedPicture};

/// `nal` without a leading 3- or 4-byte start code.
pub fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

/// The NAL units of an Annex-B stream, start codes removed (empty units skipped).
pub fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            // A unit ends where the next start code begins, including a 4-byte code's extra zero.
            let end = starts.get(n + 1).map_or(stream.len(), |&next| {
                let code_start = next - 3;
                if code_start > start && stream[code_start - 1] == 0 {
                    code_start - 1
                } else {
                    code_start
                }
            });
            &stream[start..end]
        })
        .filter(|unit| !unit.is_empty())
        .collect()
}

/// NAL unit types of the parameter sets.
const SPS: u8 = 7;
const PPS: u8 = 8;

fn nal_type(unit: &[u8]) -> Option<u8> {
    unit.first().map(|b| b & 0x1f)
}

/// Assembles an encoder's output buffers into [`EncodedPicture`]s.
#[derive(Debug, Default)]
pub struct AccessUnits {
    parameter_sets: Vec<Vec<u8>>,
}

impl AccessUnits {
    /// Takes a codec-config buffer (MediaCodec's `BUFFER_FLAG_CODEC_CONFIG`): its SPS and PPS
    /// replace the ones kept.
    pub fn codec_config(&mut self, buffer: &[u8]) -> Result<(), EncodeError> {
        let sets: Vec<Vec<u8>> = nal_units(buffer)
            .into_iter()
            .filter(|u| matches!(nal_type(u), Some(SPS | PPS)))
            .map(<[u8]>::to_vec)
            .collect();
        let has = |kind| sets.iter().any(|u| nal_type(u) == Some(kind));
        if !has(SPS) || !has(PPS) {
            return Err(EncodeError(format!(
                "the encoder's codec-config buffer ({} bytes) lacks an SPS or a PPS",
                buffer.len()
            )));
        }
        self.parameter_sets = sets;
        Ok(())
    }

    /// One picture's buffer; a keyframe gets the parameter sets in front unless it carries its
    /// own. A keyframe before any codec config is an error (nothing could decode it).
    pub fn picture(&self, buffer: &[u8], is_key: bool) -> Result<EncodedPicture, EncodeError> {
        let units = nal_units(buffer);
        if units.is_empty() {
            return Err(EncodeError(format!(
                "the encoder wrote a {}-byte picture with no NAL unit",
                buffer.len()
            )));
        }
        let carries_sets = units.iter().any(|u| nal_type(u) == Some(SPS));
        let mut nal_units = Vec::with_capacity(units.len() + 2);
        if is_key && !carries_sets {
            if self.parameter_sets.is_empty() {
                return Err(EncodeError(
                    "the encoder sent a keyframe before its codec config (SPS/PPS)".into(),
                ));
            }
            nal_units.extend(self.parameter_sets.iter().cloned());
        }
        nal_units.extend(units.into_iter().map(<[u8]>::to_vec));
        Ok(EncodedPicture { nal_units, is_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_split_on_three_and_four_byte_start_codes() {
        let stream = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5, 0];
        let units = nal_units(&stream);
        assert_eq!(units, vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5, 0][..]]);
        assert!(nal_units(&[1, 2, 3]).is_empty(), "no start code, no unit");
    }

    #[test]
    fn keyframes_get_the_parameter_sets_and_other_pictures_do_not() {
        let mut units = AccessUnits::default();
        let idr = [0, 0, 0, 1, 0x65, 9, 9];
        assert!(units.picture(&idr, true).is_err(), "a keyframe before the codec config");
        assert!(units.codec_config(&[0, 0, 0, 1, 0x67, 1]).is_err(), "an SPS alone");
        units.codec_config(&[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2]).expect("SPS and PPS");
        let key = units.picture(&idr, true).expect("keyframe");
        let types: Vec<u8> = key.nal_units.iter().map(|u| u[0] & 0x1f).collect();
        assert_eq!(types, [7, 8, 5]);
        let delta = units.picture(&[0, 0, 0, 1, 0x41, 7], false).expect("delta");
        assert_eq!(delta.nal_units, vec![vec![0x41, 7]]);
        assert!(units.picture(&[], false).is_err(), "an empty buffer");
    }
}
