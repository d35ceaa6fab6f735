//! Digits as terminal pictures: grey half-blocks on a colour terminal, ASCII shades otherwise.

use aisec_sdk::data::SIDE;

const SHADES: &[u8] = b" .:-=+*#%@";

/// A digit's picture: `SIDE / 2` lines of `SIDE` characters (two pixel rows per line).
///
/// pixels: 784 values in [0, 1], row-major. With `color`, each character is an upper half-block
/// whose foreground is the top pixel and background the bottom one (256-colour greys).
pub fn digit_lines(pixels: &[f32], color: bool) -> Vec<String> {
    let at = |y: usize, x: usize| {
        pixels
            .get(y * SIDE + x)
            .copied()
            .unwrap_or(0.0)
            .clamp(0.0, 1.0)
    };
    (0..SIDE / 2)
        .map(|row| {
            let mut line = String::new();
            for x in 0..SIDE {
                let (top, bottom) = (at(2 * row, x), at(2 * row + 1, x));
                if color {
                    let grey = |v: f32| 232 + (v * 23.0).round() as u8;
                    line.push_str(&format!(
                        "\x1b[38;5;{}m\x1b[48;5;{}m\u{2580}",
                        grey(top),
                        grey(bottom)
                    ));
                } else {
                    let level = ((top + bottom) / 2.0 * (SHADES.len() - 1) as f32).round() as usize;
                    line.push(char::from(SHADES[level.min(SHADES.len() - 1)]));
                }
            }
            if color {
                line.push_str("\x1b[0m");
            }
            line
        })
        .collect()
}

/// Several digits side by side, each with a caption line underneath (captions are cut to the
/// picture's width).
pub fn digits_row(digits: &[(&[f32], String)], color: bool) -> String {
    let pictures: Vec<Vec<String>> = digits
        .iter()
        .map(|(pixels, _)| digit_lines(pixels, color))
        .collect();
    let mut out = String::new();
    for line in 0..SIDE / 2 {
        let parts: Vec<&str> = pictures.iter().map(|p| p[line].as_str()).collect();
        out.push_str(&parts.join("  "));
        out.push('\n');
    }
    let captions: Vec<String> = digits
        .iter()
        .map(|(_, c)| {
            format!(
                "{:<width$}",
                c.chars().take(SIDE).collect::<String>(),
                width = SIDE
            )
        })
        .collect();
    out.push_str(captions.join("  ").trim_end());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_pictures_are_ascii_and_sized() {
        let mut pixels = vec![0.0; SIDE * SIDE];
        pixels[0] = 1.0;
        pixels[SIDE] = 1.0;
        let lines = digit_lines(&pixels, false);
        assert_eq!(lines.len(), SIDE / 2);
        assert!(lines.iter().all(|l| l.len() == SIDE && l.is_ascii()));
        assert_eq!(lines[0].as_bytes()[0], b'@');
        let row = digits_row(&[(&pixels, "label 7".into()), (&pixels, "x".into())], false);
        assert!(
            row.ends_with("label 7                       x\n"),
            "{row:?}"
        );
    }
}
