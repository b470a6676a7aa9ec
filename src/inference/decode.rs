//! Turns raw output tensors into the plain scene types, following the output contract.

use std::sync::Arc;

use image::RgbaImage;
use ndarray::{ArrayD, Axis};

use crate::{
    scene::{ClassMap, ClassScores, ScalarMap},
    store::manifest::{Layout, OutputContract, OutputKind},
};

/// An output tensor that is not what its contract says.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// More than one picture in the batch.
    #[error("output shape {shape:?} has a batch larger than 1")]
    Batch {
        /// The output's shape.
        shape: Vec<usize>,
    },
    /// Too few axes for the kind of output.
    #[error("output shape {shape:?} has fewer than {rank} axes")]
    TooFewAxes {
        /// The output's shape.
        shape: Vec<usize>,
        /// Axes the kind of output needs.
        rank: usize,
    },
    /// Class scores for another number of classes than the labels.
    #[error("output has {classes} classes, the manifest lists {labels} labels")]
    ClassCount {
        /// Classes in the output.
        classes: usize,
        /// Labels in the manifest.
        labels: usize,
    },
    /// More classes than a class map holds.
    #[error("{0} classes do not fit an 8-bit class map")]
    TooManyClasses(usize),
    /// Class ids that are not `[1, h, w]`.
    #[error("class id output shape {0:?} is not [1, h, w]")]
    ClassIdShape(Vec<usize>),
    /// A class id without a label.
    #[error("class ids outside 0..{0}")]
    ClassIdRange(usize),
    /// The contract's channel is not in the output.
    #[error("output shape {shape:?} has no channel {channel}")]
    NoChannel {
        /// The output's shape.
        shape: Vec<usize>,
        /// The channel the contract names.
        channel: usize,
    },
    /// A picture output without three channels.
    #[error("output shape {0:?} is not a three-channel picture")]
    NotAPicture(Vec<usize>),
    /// A segmentation model whose output is not class scores.
    #[error("segmentation output kind is {0:?}, expected logits")]
    NotLogits(OutputKind),
    /// A picture too large to hold.
    #[error("output shape {0:?} is too large for a picture")]
    PictureTooLarge(Vec<usize>),
}

/// Drops leading unit axes until `rank` remain.
fn squeeze_to(tensor: &ArrayD<f32>, rank: usize) -> Result<ArrayD<f32>, DecodeError> {
    let mut view = tensor.view();
    while view.ndim() > rank {
        if view.shape()[0] != 1 {
            return Err(DecodeError::Batch { shape: tensor.shape().to_vec() });
        }
        view = view.index_axis_move(Axis(0), 0);
    }
    if view.ndim() < rank {
        return Err(DecodeError::TooFewAxes { shape: tensor.shape().to_vec(), rank });
    }
    Ok(view.to_owned())
}

/// `[1, C, h, w]` (or NHWC) logits to planar class scores.
pub fn class_scores(
    tensor: &ArrayD<f32>,
    contract: &OutputContract,
) -> Result<ClassScores, DecodeError> {
    let mut chw = squeeze_to(tensor, 3)?;
    if contract.layout == Some(Layout::Nhwc) {
        chw = chw.permuted_axes(vec![2, 0, 1]);
    }
    let (channels, height, width) = (chw.shape()[0], chw.shape()[1], chw.shape()[2]);
    if channels != contract.labels.len() {
        return Err(DecodeError::ClassCount { classes: channels, labels: contract.labels.len() });
    }
    if channels > 256 {
        return Err(DecodeError::TooManyClasses(channels));
    }
    let labels: Arc<[String]> = contract.labels.clone().into();
    Ok(ClassScores {
        width: width as u32,
        height: height as u32,
        scores: chw.as_standard_layout().iter().copied().collect(),
        labels,
    })
}

/// `[1, h, w]` int64 class ids (the graph's own argmax) to a class map.
pub fn class_ids(
    tensor: &ndarray::ArrayD<i64>,
    contract: &OutputContract,
) -> Result<ClassMap, DecodeError> {
    let mut view = tensor.view();
    while view.ndim() > 2 {
        view = view.index_axis_move(Axis(0), 0);
    }
    if view.ndim() != 2 {
        return Err(DecodeError::ClassIdShape(tensor.shape().to_vec()));
    }
    let labels: Arc<[String]> = contract.labels.clone().into();
    let classes = view
        .iter()
        .map(|&id| u8::try_from(id).ok().filter(|&c| (c as usize) < labels.len()))
        .collect::<Option<Vec<u8>>>()
        .ok_or(DecodeError::ClassIdRange(labels.len()))?;
    Ok(ClassMap {
        width: view.shape()[1] as u32,
        height: view.shape()[0] as u32,
        classes,
        labels,
        probabilities: None,
    })
}

/// One channel of a probability output, clamped to 0..1.
pub fn probability(
    tensor: &ArrayD<f32>,
    contract: &OutputContract,
) -> Result<ScalarMap, DecodeError> {
    let chw = squeeze_to(tensor, 3)?;
    let channel = contract.channel.unwrap_or(0);
    let channel_axis = if contract.layout == Some(Layout::Nhwc) { 2 } else { 0 };
    if channel >= chw.shape()[channel_axis] {
        return Err(DecodeError::NoChannel { shape: tensor.shape().to_vec(), channel });
    }
    let plane = chw.index_axis(Axis(channel_axis), channel);
    Ok(ScalarMap {
        width: plane.shape()[1] as u32,
        height: plane.shape()[0] as u32,
        values: plane.iter().map(|v| v.clamp(0.0, 1.0)).collect(),
    })
}

/// Relative inverse depth, normalised to 0..1 over the frame (1 = closest).
pub fn inverse_depth(tensor: &ArrayD<f32>) -> Result<ScalarMap, DecodeError> {
    let hw = squeeze_to(tensor, 2)?;
    let (min, max) =
        hw.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = if max > min { max - min } else { 1.0 };
    Ok(ScalarMap {
        width: hw.shape()[1] as u32,
        height: hw.shape()[0] as u32,
        values: hw.iter().map(|v| (v - min) / range).collect(),
    })
}

/// A picture output, values 0..1 in three channels (`[1, 3, h, w]`, or `[1, h, w, 3]` where the
/// contract says NHWC), as opaque RGBA8.
pub fn picture(tensor: &ArrayD<f32>, contract: &OutputContract) -> Result<RgbaImage, DecodeError> {
    let mut hwc = squeeze_to(tensor, 3)?;
    if contract.layout != Some(Layout::Nhwc) {
        hwc = hwc.permuted_axes(vec![1, 2, 0]);
    }
    let (height, width, channels) = (hwc.shape()[0], hwc.shape()[1], hwc.shape()[2]);
    if channels != 3 {
        return Err(DecodeError::NotAPicture(tensor.shape().to_vec()));
    }
    let to_byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut pixels = Vec::with_capacity(width * height * 4);
    for row in hwc.outer_iter() {
        for rgb in row.outer_iter() {
            pixels.extend([to_byte(rgb[0]), to_byte(rgb[1]), to_byte(rgb[2]), 255]);
        }
    }
    RgbaImage::from_raw(width as u32, height as u32, pixels)
        .ok_or_else(|| DecodeError::PictureTooLarge(tensor.shape().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::manifest::OutputKind;

    fn contract(layout: Layout, channel: Option<usize>, labels: usize) -> OutputContract {
        OutputContract {
            name: "y".into(),
            kind: OutputKind::Probability,
            layout: Some(layout),
            channel,
            labels: (0..labels).map(|i| i.to_string()).collect(),
            argmax: None,
            coarse_logits: None,
        }
    }

    #[test]
    fn probability_reads_the_contract_channel_in_either_layout() {
        let nchw =
            ArrayD::from_shape_vec(vec![1, 2, 1, 2], vec![0.9, 0.8, 0.1, 0.2]).expect("shape");
        let map = probability(&nchw, &contract(Layout::Nchw, Some(1), 0)).expect("decodes");
        assert_eq!(map.values, vec![0.1, 0.2]);
        let nhwc =
            ArrayD::from_shape_vec(vec![1, 1, 2, 2], vec![0.9, 0.1, 0.8, 0.2]).expect("shape");
        let map = probability(&nhwc, &contract(Layout::Nhwc, Some(1), 0)).expect("decodes");
        assert_eq!(map.values, vec![0.1, 0.2]);
    }

    #[test]
    fn a_picture_reads_either_layout_into_the_same_pixels() {
        // Two pixels, red-ish then blue-ish, in both layouts.
        let nchw = ArrayD::from_shape_vec(vec![1, 3, 1, 2], vec![1.0, 0.0, 0.5, 0.0, 0.2, 2.0])
            .expect("shape");
        let nhwc = ArrayD::from_shape_vec(vec![1, 1, 2, 3], vec![1.0, 0.5, 0.2, 0.0, 0.0, 2.0])
            .expect("shape");
        let planar = picture(&nchw, &contract(Layout::Nchw, None, 0)).expect("decodes");
        let packed = picture(&nhwc, &contract(Layout::Nhwc, None, 0)).expect("decodes");
        assert_eq!(planar.as_raw(), &vec![255, 128, 51, 255, 0, 0, 255, 255]);
        assert_eq!(planar, packed);
        assert_eq!(
            picture(&ArrayD::zeros(vec![1, 4, 2, 2]), &contract(Layout::Nchw, None, 0)).err(),
            Some(DecodeError::NotAPicture(vec![1, 4, 2, 2]))
        );
    }

    #[test]
    fn depth_is_normalised_per_frame() {
        let raw = ArrayD::from_shape_vec(vec![1, 1, 1, 3], vec![2.0, 4.0, 6.0]).expect("shape");
        assert_eq!(inverse_depth(&raw).expect("decodes").values, vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn label_count_must_match_the_output() {
        let raw = ArrayD::zeros(vec![1, 3, 2, 2]);
        assert_eq!(
            class_scores(&raw, &contract(Layout::Nchw, None, 2)).err(),
            Some(DecodeError::ClassCount { classes: 3, labels: 2 })
        );
        assert_eq!(
            class_scores(&raw, &contract(Layout::Nchw, None, 3)).expect("ok").scores.len(),
            12
        );
    }
}
