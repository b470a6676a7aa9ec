//! The CLIP tokenizer of a diffusers pipeline, built on the `tokenizers` crate from the pipeline's
//! `tokenizer/` folder: `tokenizer.json` when present, else `vocab.json` + `merges.txt` assembled
//! the way Hugging Face converts a CLIP tokenizer (NFC, collapsed whitespace, lower case, CLIP's
//! word pattern, byte-level BPE with `</w>` word ends).

use std::{path::Path, str::FromStr};

use serde_json::{Value, json};
use tokenizers::Tokenizer;

use super::DiffusionError;

/// Turns prompts into the fixed-length token ids the text encoder takes.
pub struct ClipTokenizer {
    inner: Tokenizer,
    bos: u32,
    eos: u32,
    pad: u32,
    max_length: usize,
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("max_length", &self.max_length)
            .finish_non_exhaustive()
    }
}

impl ClipTokenizer {
    /// Loads the tokenizer in `folder` (a pipeline's `tokenizer/`).
    pub fn load(folder: &Path) -> Result<Self, DiffusionError> {
        let config_path = folder.join("tokenizer_config.json");
        let config: Value = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| DiffusionError::file(&config_path, format!("not JSON: {e}")))?,
            Err(_) => json!({}),
        };
        let token = |key: &str, default: &str| -> String {
            match &config[key] {
                Value::String(s) => s.clone(),
                Value::Object(o) => {
                    o.get("content").and_then(Value::as_str).unwrap_or(default).into()
                }
                _ => default.into(),
            }
        };
        let (bos, eos, pad, unk) = (
            token("bos_token", "<|startoftext|>"),
            token("eos_token", "<|endoftext|>"),
            token("pad_token", "<|endoftext|>"),
            token("unk_token", "<|endoftext|>"),
        );
        let max_length =
            config["model_max_length"].as_u64().filter(|&n| (3..=4096).contains(&n)).unwrap_or(77)
                as usize;
        let json_path = folder.join("tokenizer.json");
        let inner = if json_path.is_file() {
            Tokenizer::from_file(&json_path)
                .map_err(|e| DiffusionError::file(&json_path, format!("not a tokenizer: {e}")))?
        } else {
            let vocab_path = folder.join("vocab.json");
            let merges_path = folder.join("merges.txt");
            let vocab: Value =
                serde_json::from_str(&std::fs::read_to_string(&vocab_path).map_err(|e| {
                    DiffusionError::file(&vocab_path, format!("cannot read it: {e}"))
                })?)
                .map_err(|e| DiffusionError::file(&vocab_path, format!("not JSON: {e}")))?;
            let merges = std::fs::read_to_string(&merges_path)
                .map_err(|e| DiffusionError::file(&merges_path, format!("cannot read it: {e}")))?;
            let merges: Vec<&str> = merges
                .lines()
                .filter(|line| !line.starts_with("#version") && !line.trim().is_empty())
                .collect();
            let spec = clip_tokenizer_json(vocab, &merges, &[bos.as_str(), eos.as_str()], &unk);
            Tokenizer::from_str(&spec.to_string()).map_err(|e| {
                DiffusionError::file(&vocab_path, format!("cannot build a CLIP tokenizer: {e}"))
            })?
        };
        let id = |name: &str| {
            inner.token_to_id(name).ok_or_else(|| {
                DiffusionError::file(folder, format!("the vocabulary has no token `{name}`"))
            })
        };
        Ok(Self { bos: id(&bos)?, eos: id(&eos)?, pad: id(&pad)?, max_length, inner })
    }

    /// The ids of `text`: start token, at most `max_length - 2` text tokens, end token, then
    /// padding to `max_length` (what diffusers asks the tokenizer for).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DiffusionError> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| DiffusionError::Prompt(format!("cannot tokenize {text:?}: {e}")))?;
        let mut ids = Vec::with_capacity(self.max_length);
        ids.push(self.bos);
        ids.extend(encoding.get_ids().iter().take(self.max_length - 2));
        ids.push(self.eos);
        ids.resize(self.max_length, self.pad);
        Ok(ids)
    }
}

/// A `tokenizer.json` equal to what Hugging Face's CLIP converter writes.
fn clip_tokenizer_json(vocab: Value, merges: &[&str], specials: &[&str], unk: &str) -> Value {
    let added: Vec<Value> = specials
        .iter()
        .filter_map(|name| vocab.get(*name).and_then(Value::as_u64).map(|id| (name, id)))
        .map(|(name, id)| {
            json!({"id": id, "content": name, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": true, "special": true})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
            {"type": "Lowercase"}
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split",
             "pattern": {"Regex": "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
             "behavior": "Removed", "invert": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                    "use_regex": false},
        "model": {"type": "BPE", "dropout": null, "unk_token": unk,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "</w>",
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges}
    })
}
