//! How far a person reaches in the person model's mask. The model is sure of a body and often
//! unsure of the head above it (hair, a face turned aside: the selfie model at 256x256 on
//! someone a few metres away). Responses too weak to trust alone belong to the person where
//! they join a part the model is sure of, as edge detectors keep the weak edges that join
//! strong ones (hysteresis). Weak responses on their own, as on upholstery, stay as they are.
//! Applied where masks enter the compositor, and by `bench regions`' CPU twin.

use crate::scene::ScalarMap;

/// A response the model is sure of: a person starts here, and is kept whole out of the regions
/// behind them (the top of `render::SPARED_PERSON`).
pub const SURE: f32 = 0.8;

/// The least response that joins a person it touches.
pub const JOINS: f32 = 0.4;

/// `mask` with each pixel of at least [`JOINS`] that reaches one of at least [`SURE`] through
/// such pixels (4-connected) raised to [`SURE`].
pub fn joined(mask: &ScalarMap) -> ScalarMap {
    let mut values = mask.values.clone();
    let width = mask.width as usize;
    let mut reached: Vec<usize> = (0..values.len()).filter(|&i| values[i] >= SURE).collect();
    while let Some(i) = reached.pop() {
        let (x, row_start) = (i % width, i - i % width);
        let neighbours = [
            (x > 0).then(|| i - 1),
            (x + 1 < width).then_some(i + 1),
            (row_start > 0).then(|| i - width),
            (i + width < values.len()).then_some(i + width),
        ];
        for n in neighbours.into_iter().flatten() {
            if (JOINS..SURE).contains(&values[n]) {
                values[n] = SURE;
                reached.push(n);
            }
        }
    }
    ScalarMap { width: mask.width, height: mask.height, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 6x4 mask from rows of values in tenths.
    fn mask(rows: [[u8; 6]; 4]) -> ScalarMap {
        let values = rows.iter().flatten().map(|&v| f32::from(v) / 10.0).collect();
        ScalarMap { width: 6, height: 4, values }
    }

    #[test]
    fn a_weak_head_on_a_sure_body_is_the_person_and_a_weak_blob_alone_is_not() {
        let joined = joined(&mask([
            [0, 5, 4, 0, 0, 0], // the head, unsure
            [0, 6, 9, 0, 0, 5], // the neck joins the body; a weak blob on the sofa, right
            [0, 9, 9, 0, 0, 4],
            [0, 2, 9, 0, 1, 0], // too weak to join, even touching the body
        ]));
        let at = |x: usize, y: usize| joined.values[y * 6 + x];
        for (x, y) in [(1, 0), (2, 0), (1, 1)] {
            assert_eq!(at(x, y), SURE, "({x},{y}) joins the body");
        }
        assert_eq!(at(2, 1), 0.9, "sure values stay as they are");
        assert_eq!((at(5, 1), at(5, 2)), (0.5, 0.4), "a blob on its own is left alone");
        assert_eq!(at(1, 3), 0.2, "below the least that joins");
        assert_eq!(at(0, 0), 0.0);
    }

    #[test]
    fn without_a_sure_response_nothing_changes() {
        let weak = mask([[4; 6], [5; 6], [7; 6], [3; 6]]);
        assert_eq!(joined(&weak).values, weak.values);
    }
}
