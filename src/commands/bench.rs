//! `dreamlens bench`: median inference time of each model at its own input size.

use std::{process::ExitCode, time::Instant};

use dreamlens::{
    inference::{ModelSession, SessionOptions, preprocess},
    store::ModelStore,
};
use ndarray::ArrayD;

use crate::cli::BenchArgs;

pub fn run(
    store: &ModelStore,
    options: &SessionOptions,
    args: &BenchArgs,
) -> anyhow::Result<ExitCode> {
    let ids: Vec<String> = if args.ids.is_empty() {
        store
            .manifest()
            .models
            .iter()
            .filter(|m| m.contract.is_some() && store.locate(&m.id).is_ok())
            .map(|m| m.id.clone())
            .collect()
    } else {
        args.ids.clone()
    };
    println!(
        "{:<26} {:>11} {:>10} {:>10} {:>10}  provider",
        "model", "input", "median ms", "min ms", "max ms"
    );
    for id in ids {
        let model = store.locate(&id)?;
        let mut session = ModelSession::open(&model, options)?;
        let contract = session.contract()?.clone();
        // Free-size models are measured at 512x384, a typical preview size.
        let (width, height) = preprocess::input_size(&contract.input, 512, 384);
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let input = preprocess::to_tensor(&image, &contract.input).into_dyn();
        let extra = extra_inputs(&contract.extra_inputs);
        let mut times = Vec::with_capacity(args.runs);
        for run in 0..args.runs + 2 {
            let started = Instant::now();
            session.run_tensor(input.clone(), extra.clone())?;
            if run >= 2 {
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "{:<26} {:>11} {:>10.1} {:>10.1} {:>10.1}  {}",
            id,
            format!("{width}x{height}"),
            median,
            times[0],
            times[times.len() - 1],
            session.providers().active
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Neutral values for the extra inputs of the style models.
fn extra_inputs(names: &[String]) -> Vec<(String, ArrayD<f32>)> {
    names
        .iter()
        .map(|name| {
            let value = if name == "style_weights" {
                let mut w = ArrayD::zeros(vec![26]);
                w[[0]] = 1.0;
                w
            } else {
                ArrayD::from_elem(vec![1, 1, 1, 100], 0.1)
            };
            (name.clone(), value)
        })
        .collect()
}
