//! Gaussian noise for the sampler: seeded and reproducible, or replayed from a recording.

use std::collections::VecDeque;

use ndarray::Array4;

/// Where the sampler's Gaussian noise comes from.
pub trait NoiseSource {
    /// A tensor of independent standard normal values of `shape`.
    fn normal(&mut self, shape: [usize; 4]) -> Array4<f32>;
}

/// Reproducible noise from a seed: xoshiro256++ and the Box-Muller transform. The same seed gives
/// the same picture on every platform.
#[derive(Debug, Clone)]
pub struct SeededNoise {
    state: [u64; 4],
    spare: Option<f32>,
}

impl SeededNoise {
    /// A generator started from `seed` (expanded by splitmix64, as xoshiro's authors advise).
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self { state: [next(), next(), next(), next()], spare: None }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1], never 0 so the logarithm below is finite.
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn sample(&mut self) -> f32 {
        if let Some(spare) = self.spare.take() {
            return spare;
        }
        let radius = (-2.0 * self.uniform().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.uniform();
        self.spare = Some((radius * angle.sin()) as f32);
        (radius * angle.cos()) as f32
    }
}

impl NoiseSource for SeededNoise {
    fn normal(&mut self, shape: [usize; 4]) -> Array4<f32> {
        Array4::from_shape_simple_fn(shape, || self.sample())
    }
}

/// Noise recorded elsewhere (a reference run), handed out in order.
#[derive(Debug, Default)]
pub struct RecordedNoise {
    draws: VecDeque<Array4<f32>>,
}

impl RecordedNoise {
    /// Replays `draws` in order.
    pub fn new(draws: Vec<Array4<f32>>) -> Self {
        Self { draws: draws.into() }
    }
}

impl NoiseSource for RecordedNoise {
    /// # Panics
    /// When the recording runs out or its next draw has another shape: the replay no longer
    /// matches the run that was recorded.
    fn normal(&mut self, shape: [usize; 4]) -> Array4<f32> {
        let draw = self.draws.pop_front().expect("the recorded noise ran out");
        assert_eq!(draw.shape(), shape, "recorded noise has another shape");
        draw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_noise_is_standard_normal_and_reproducible() {
        let a = SeededNoise::new(7).normal([1, 4, 64, 64]);
        let b = SeededNoise::new(7).normal([1, 4, 64, 64]);
        let c = SeededNoise::new(8).normal([1, 4, 64, 64]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let n = a.len() as f32;
        let mean = a.sum() / n;
        let var = a.mapv(|x| (x - mean).powi(2)).sum() / n;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        let tail = a.iter().filter(|x| x.abs() > 1.96).count() as f32 / n;
        assert!((tail - 0.05).abs() < 0.01, "two-sided 5% tail holds {tail}");
    }
}
