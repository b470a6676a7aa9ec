//! Fragmented MP4 on disk: an init segment, then one `moof`+`mdat` fragment about every second,
//! each written and synced as soon as it is complete. A file cut off at any point (the process
//! killed, the power lost, the disk full) still plays up to its last complete fragment.

use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
};

use muxide::fragmented::{FragmentConfig, FragmentedMuxer};

use super::{RecordError, encoder::EncodedPicture};

/// Media timescale: 90 kHz, the usual video clock.
const TIMESCALE: u32 = 90_000;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// Writes encoded pictures to a fragmented MP4 file.
pub struct Mp4Writer {
    file: File,
    path: PathBuf,
    width: u32,
    height: u32,
    fragment_ms: u32,
    muxer: Option<FragmentedMuxer>,
    last_pts: Option<u64>,
    samples: u64,
    /// File length after the last complete fragment.
    committed: u64,
}

impl std::fmt::Debug for Mp4Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp4Writer")
            .field("path", &self.path)
            .field("samples", &self.samples)
            .finish()
    }
}

impl Mp4Writer {
    /// Creates (or truncates) `path`; fails at once if it cannot be written.
    pub fn create(
        path: &Path,
        width: u32,
        height: u32,
        fragment_ms: u32,
    ) -> Result<Self, RecordError> {
        let file = File::create(path).map_err(|source| RecordError::io(path, source))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            width,
            height,
            fragment_ms,
            muxer: None,
            last_pts: None,
            samples: 0,
            committed: 0,
        })
    }

    /// Pictures written so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        let written = self.file.write_all(bytes).and_then(|()| self.file.sync_data());
        match written {
            // On disk before the next fragment is built: what was written survives a crash.
            Ok(()) => {
                self.committed += bytes.len() as u64;
                Ok(())
            }
            Err(source) => {
                // Cut a half-written fragment off (shrinking needs no space), so the file ends
                // on a complete fragment and plays cleanly.
                let _ = self.file.set_len(self.committed);
                let _ = self.file.sync_data();
                Err(RecordError::io(&self.path, source))
            }
        }
    }

    /// Adds one picture shown at `time_s`. Timestamps are made strictly increasing.
    pub fn write(&mut self, time_s: f64, picture: &EncodedPicture) -> Result<(), RecordError> {
        if self.muxer.is_none() {
            if !picture.is_key {
                // Nothing decodable precedes the first keyframe.
                return Ok(());
            }
            let find = |kind: u8| {
                picture
                    .nal_units
                    .iter()
                    .find(|n| n.first().is_some_and(|b| b & 0x1f == kind))
                    .cloned()
            };
            let (Some(sps), Some(pps)) = (find(NAL_SPS), find(NAL_PPS)) else {
                return Err(RecordError::Encode("the first keyframe carries no SPS/PPS".into()));
            };
            let mut config = FragmentConfig::new(self.width, self.height, TIMESCALE)
                .with_fragment_duration_ms(self.fragment_ms);
            config.sps = sps;
            config.pps = pps;
            let mut muxer =
                FragmentedMuxer::new(config).map_err(|e| RecordError::Encode(e.to_string()))?;
            let init = muxer.init_segment();
            self.write_bytes(&init)?;
            self.muxer = Some(muxer);
        }
        let mut pts = (time_s.max(0.0) * f64::from(TIMESCALE)).round() as u64;
        if let Some(last) = self.last_pts
            && pts <= last
        {
            pts = last + 1;
        }
        let mut sample = Vec::new();
        for nal in &picture.nal_units {
            if nal.first().is_some_and(|b| matches!(b & 0x1f, NAL_SPS | NAL_PPS)) {
                continue;
            }
            sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            sample.extend_from_slice(nal);
        }
        let muxer = self.muxer.as_mut().expect("created above");
        // Start a new fragment at a keyframe once the current one is long enough, so every
        // fragment begins decodable.
        if picture.is_key && muxer.current_fragment_duration_ms() >= u64::from(self.fragment_ms) {
            if let Some(segment) = muxer.flush_segment() {
                self.write_bytes(&segment)?;
            }
        }
        let muxer = self.muxer.as_mut().expect("created above");
        muxer
            .write_video(pts, pts, &sample, picture.is_key)
            .map_err(|e| RecordError::Encode(e.to_string()))?;
        self.last_pts = Some(pts);
        self.samples += 1;
        Ok(())
    }

    /// Writes the last fragment.
    pub fn finish(&mut self) -> Result<(), RecordError> {
        if let Some(segment) = self.muxer.as_mut().and_then(FragmentedMuxer::flush_segment) {
            self.write_bytes(&segment)?;
        }
        Ok(())
    }
}
