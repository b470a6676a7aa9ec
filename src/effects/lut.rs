//! 3D colour lookup tables in the `.cube` format (Adobe/Resolve), the industry's LUT exchange
//! format: `LUT_3D_SIZE N`, optional `DOMAIN_MIN`/`DOMAIN_MAX` and `TITLE`, then N^3 lines of
//! `r g b` with red varying fastest.

use super::PresetError;

/// Largest magnitude accepted for a table or domain value: far beyond any real grade (HDR LUTs
/// stay within a few hundred), small enough that the GPU's half floats cannot overflow to inf.
const MAX_VALUE: f32 = 60_000.0;

/// A parsed 3D LUT, values normalised to the 0..1 input domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Lut {
    /// Title from the file, if any.
    pub title: String,
    /// Entries per axis.
    pub size: u32,
    /// Input value mapped to the first entry, per channel.
    pub domain_min: [f32; 3],
    /// Input value mapped to the last entry, per channel.
    pub domain_max: [f32; 3],
    /// `size^3` RGB entries, red fastest, then green, then blue.
    pub table: Vec<[f32; 3]>,
}

impl Lut {
    /// Parses `.cube` text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, PresetError> {
        let error = |line: usize, problem: String| PresetError {
            file: file.to_owned(),
            line: Some(line),
            problem,
        };
        let mut title = String::new();
        let mut size = None;
        let mut domain_min = [0.0f32; 3];
        let mut domain_max = [1.0f32; 3];
        let mut table = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let mut words = content.split_whitespace();
            let keyword = words.next().unwrap_or("");
            let three = |words: std::str::SplitWhitespace| -> Result<[f32; 3], PresetError> {
                let values: Vec<f32> = words
                    .map(|w| {
                        w.parse::<f32>().map_err(|_| error(line, format!("`{w}` is not a number")))
                    })
                    .collect::<Result<_, _>>()?;
                if let Some(bad) = values.iter().find(|v| !v.is_finite() || v.abs() > MAX_VALUE) {
                    return Err(error(
                        line,
                        format!(
                            "{bad} is out of range (values must be finite, within ±{MAX_VALUE})"
                        ),
                    ));
                }
                <[f32; 3]>::try_from(values.as_slice())
                    .map_err(|_| error(line, format!("expected 3 numbers, found {}", values.len())))
            };
            match keyword {
                "TITLE" => title = content["TITLE".len()..].trim().trim_matches('"').to_owned(),
                "LUT_3D_SIZE" => {
                    let n: u32 = words
                        .next()
                        .and_then(|w| w.parse().ok())
                        .ok_or_else(|| error(line, "LUT_3D_SIZE needs a whole number".into()))?;
                    if !(2..=128).contains(&n) {
                        return Err(error(line, format!("LUT_3D_SIZE {n} is outside 2..128")));
                    }
                    size = Some(n);
                }
                "LUT_1D_SIZE" => {
                    return Err(error(line, "1D LUTs are not supported; export a 3D LUT".into()));
                }
                "DOMAIN_MIN" => domain_min = three(words)?,
                "DOMAIN_MAX" => domain_max = three(words)?,
                "LUT_3D_INPUT_RANGE" => {
                    let v: Vec<f32> = words.filter_map(|w| w.parse().ok()).collect();
                    if v.len() != 2 || v.iter().any(|x| !x.is_finite()) {
                        return Err(error(line, "LUT_3D_INPUT_RANGE needs two numbers".into()));
                    }
                    domain_min = [v[0]; 3];
                    domain_max = [v[1]; 3];
                }
                k if k.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') => {
                    let Some(n) = size else {
                        return Err(error(line, "table data before LUT_3D_SIZE".into()));
                    };
                    // Stop at the first extra line rather than reading an endless file.
                    if table.len() == (n * n * n) as usize {
                        return Err(error(
                            line,
                            format!(
                                "LUT_3D_SIZE {n} needs {} entries; this line is one too many",
                                n * n * n
                            ),
                        ));
                    }
                    table.push(three(content.split_whitespace())?);
                }
                other => return Err(error(line, format!("unknown keyword `{other}`"))),
            }
        }
        let size =
            size.ok_or_else(|| error(text.lines().count().max(1), "no LUT_3D_SIZE line".into()))?;
        let expected = (size * size * size) as usize;
        if table.len() != expected {
            return Err(error(
                text.lines().count().max(1),
                format!("LUT_3D_SIZE {size} needs {expected} entries, found {}", table.len()),
            ));
        }
        if (0..3).any(|c| domain_max[c] <= domain_min[c]) {
            return Err(error(1, "DOMAIN_MAX must be above DOMAIN_MIN".into()));
        }
        Ok(Lut { title, size, domain_min, domain_max, table })
    }

    /// The identity LUT of the given size.
    pub fn identity(size: u32) -> Self {
        let n = size as f32 - 1.0;
        let mut table = Vec::with_capacity((size * size * size) as usize);
        for b in 0..size {
            for g in 0..size {
                for r in 0..size {
                    table.push([r as f32 / n, g as f32 / n, b as f32 / n]);
                }
            }
        }
        Lut { title: "identity".into(), size, domain_min: [0.0; 3], domain_max: [1.0; 3], table }
    }

    /// Maps an input colour through the domain to 0..1 table coordinates.
    pub fn domain_unit(&self, rgb: [f32; 3]) -> [f32; 3] {
        std::array::from_fn(|c| {
            ((rgb[c] - self.domain_min[c]) / (self.domain_max[c] - self.domain_min[c]))
                .clamp(0.0, 1.0)
        })
    }

    /// Looks a colour up with trilinear interpolation (the reference the GPU path is tested
    /// against).
    pub fn apply(&self, rgb: [f32; 3]) -> [f32; 3] {
        let n = self.size as usize;
        let unit = self.domain_unit(rgb);
        let scaled = unit.map(|v| v * (n - 1) as f32);
        let lo = scaled.map(|v| (v.floor() as usize).min(n - 2));
        let t = [scaled[0] - lo[0] as f32, scaled[1] - lo[1] as f32, scaled[2] - lo[2] as f32];
        let at = |r: usize, g: usize, b: usize| self.table[(b * n + g) * n + r];
        let mut out = [0.0; 3];
        for corner in 0..8 {
            let (dr, dg, db) = (corner & 1, (corner >> 1) & 1, (corner >> 2) & 1);
            let w = (if dr == 1 { t[0] } else { 1.0 - t[0] })
                * (if dg == 1 { t[1] } else { 1.0 - t[1] })
                * (if db == 1 { t[2] } else { 1.0 - t[2] });
            let v = at(lo[0] + dr, lo[1] + dg, lo[2] + db);
            for c in 0..3 {
                out[c] += w * v[c];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cube_file_parses_and_interpolates() {
        let mut text = String::from("TITLE \"invert\"\n# comment\nLUT_3D_SIZE 2\n");
        for b in 0..2 {
            for g in 0..2 {
                for r in 0..2 {
                    text.push_str(&format!("{} {} {}\n", 1 - r, 1 - g, 1 - b));
                }
            }
        }
        let lut = Lut::parse(&text, "invert.cube").expect("parses");
        assert_eq!(lut.title, "invert");
        let out = lut.apply([0.25, 0.5, 1.0]);
        assert!((out[0] - 0.75).abs() < 1e-6 && (out[1] - 0.5).abs() < 1e-6 && out[2].abs() < 1e-6);
        let id = Lut::identity(17).apply([0.3, 0.6, 0.9]);
        assert!((id[0] - 0.3).abs() < 1e-5 && (id[2] - 0.9).abs() < 1e-5);
    }

    #[test]
    fn errors_name_file_and_line() {
        let error =
            Lut::parse("LUT_3D_SIZE 2\n0 0 0\n0 x 0\n", "bad.cube").expect_err("bad number");
        assert_eq!((error.file.as_str(), error.line), ("bad.cube", Some(3)));
        assert!(error.to_string().starts_with("bad.cube:3: `x` is not a number"), "{error}");
        let error = Lut::parse("LUT_3D_SIZE 2\n0 0 0\n", "short.cube").expect_err("short");
        assert!(error.to_string().contains("needs 8 entries, found 1"), "{error}");
        let error = Lut::parse("0 0 0\n", "nosize.cube").expect_err("no size");
        assert!(error.to_string().contains("before LUT_3D_SIZE"), "{error}");
    }
}
