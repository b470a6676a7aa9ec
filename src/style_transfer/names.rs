//! Names for multistyle26's 26 built-in styles, as they look on a room, and the words a prompt
//! may use for each: where no diffusion model runs, a restyle prompt still picks the closest
//! built-in style instead of being ignored.

/// One built-in style: a short name for labels, and the words that ask for it.
#[derive(Debug, Clone, Copy)]
pub struct StyleName {
    /// What the style looks like, in a few words.
    pub name: &'static str,
    /// Lower-case words of a prompt that ask for it.
    pub words: &'static [&'static str],
}

/// The built-in styles by index, named from the network's output on the test photos.
pub const STYLE_NAMES: [StyleName; super::STYLE_COUNT] = [
    StyleName { name: "soft pastel", words: &["pastel", "soft", "dreamy", "gentle"] },
    StyleName {
        name: "bold outlines",
        words: &["comic", "cartoon", "outline", "outlines", "bold"],
    },
    StyleName { name: "ink and wash", words: &["ink", "brush", "calligraphy"] },
    StyleName {
        name: "vivid abstract strokes",
        words: &["abstract", "kandinsky", "expressionist", "vivid", "psychedelic"],
    },
    StyleName { name: "red and cream poster", words: &["poster", "red", "retro"] },
    StyleName {
        name: "warm impressionist",
        words: &["impressionist", "impressionism", "monet", "warm"],
    },
    StyleName { name: "deep blue cells", words: &["cells", "bubbles", "navy", "organic"] },
    StyleName { name: "blue and gold expressionist", words: &["munch", "scream", "expressive"] },
    StyleName { name: "coloured pencil", words: &["pencil", "crayon", "drawing", "doodle"] },
    StyleName { name: "woven pattern", words: &["textile", "fabric", "pattern", "carpet"] },
    StyleName { name: "sepia", words: &["sepia", "brown", "vintage", "old", "antique"] },
    StyleName { name: "engraving", words: &["engraving", "etching", "woodcut", "print"] },
    StyleName { name: "watercolour", words: &["watercolour", "watercolor", "wash", "lavender"] },
    StyleName {
        name: "cubist",
        words: &["cubist", "cubism", "picasso", "geometric", "teal", "green"],
    },
    StyleName { name: "pale wash", words: &["pale", "misty", "foggy", "faded"] },
    StyleName { name: "stained glass", words: &["stained", "glass", "church", "window"] },
    StyleName { name: "blue brushwork", words: &["brushwork", "strokes", "oil", "painting"] },
    StyleName { name: "red and blue blocks", words: &["mondrian", "blocks", "bricks", "lego"] },
    StyleName { name: "wood grain", words: &["wood", "wooden", "grain", "beige"] },
    StyleName {
        name: "swirling night",
        words: &["gogh", "starry", "night", "swirl", "swirling", "swirls"],
    },
    StyleName { name: "fiery red", words: &["fire", "fiery", "flames", "hell", "lava"] },
    StyleName { name: "flat cut-outs", words: &["pop", "flat", "cutout", "cutouts", "collage"] },
    StyleName { name: "black ink with red", words: &["japanese", "ukiyo", "sumi"] },
    StyleName { name: "charcoal", words: &["charcoal", "dark", "gloomy", "noir", "gothic"] },
    StyleName { name: "blue and cream tiles", words: &["delft", "blueprint", "cyanotype"] },
    StyleName { name: "mosaic", words: &["mosaic", "tiles", "byzantine", "shards"] },
];

/// The built-in style whose words a prompt uses most, or `None` when it uses none (the earlier
/// style wins a tie).
pub fn style_for_prompt(prompt: &str) -> Option<usize> {
    let lower = prompt.to_lowercase();
    let words: Vec<&str> =
        lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    STYLE_NAMES
        .iter()
        .enumerate()
        .map(|(index, style)| (index, words.iter().filter(|w| style.words.contains(w)).count()))
        .filter(|(_, count)| *count > 0)
        .max_by_key(|(index, count)| (*count, std::cmp::Reverse(*index)))
        .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_picks_the_style_its_words_name() {
        assert_eq!(style_for_prompt("A room like Van Gogh's Starry Night"), Some(19));
        assert_eq!(style_for_prompt("make it a WATERCOLOR painting"), Some(12));
        assert_eq!(style_for_prompt("stained-glass windows"), Some(15));
        // One word each for two styles: the earlier one.
        assert_eq!(style_for_prompt("a cozy living room painted in warm oil colours"), Some(5));
        assert_eq!(style_for_prompt("a cyberpunk city at dawn"), None);
        assert_eq!(style_for_prompt(""), None);
    }

    #[test]
    fn no_word_asks_for_two_styles() {
        let mut seen = std::collections::HashSet::new();
        for style in &STYLE_NAMES {
            for word in style.words {
                assert!(seen.insert(*word), "`{word}` asks for two styles");
                assert_eq!(*word, word.to_lowercase(), "prompts are matched in lower case");
            }
        }
    }
}
