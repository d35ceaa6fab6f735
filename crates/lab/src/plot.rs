//! PNG pictures for runs and demos: line plots, histograms, bar charts, scatter plots and digit
//! grids.
//!
//! Text is drawn with an embedded copy of DejaVu Sans (`assets/`), so plots render the same on
//! any machine, with or without system fonts.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

const FONT: &str = "sans-serif";
const WIDTH: u32 = 800;
const HEIGHT: u32 = 560;

/// Colours for series and groups, in order (a colour-blind-safe palette).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 228, 66),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType font shipped with the crate; if registration ever
        // failed, plotters would report the missing font when drawing, with the path.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../assets/DejaVuSans.ttf"),
        );
    });
}

/// Maps a plotters error to ours, naming the output file.
fn drawing(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |e| {
        Error::invalid(
            format!("picture {}", path.display()),
            format!("could not draw it: {e}"),
        )
    }
}

fn canvas(path: &Path) -> Result<DrawingArea<BitMapBackend<'_>, Shift>> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    ensure_font();
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|e| drawing(path)(e.to_string()))?;
    Ok(root)
}

/// One line of a [`LinePlot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// (x, y) points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// Draws the series labels as every plot here shows them: upper right, on a light box.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> std::result::Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT, 15))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())
}

/// A line plot with markers, a legend and a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// Title above the plot.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// x range; default: the data's.
    pub x_range: Option<(f64, f64)>,
    /// y range; default: the data's.
    pub y_range: Option<(f64, f64)>,
    /// Logarithmic x axis (points with x <= 0 are drawn at the left edge).
    pub log_x: bool,
}

/// The data's range, padded so points do not sit on the frame; `None` with no finite value.
fn span(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return None;
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    Some((lo - pad, hi + pad))
}

/// Writes `plot` as an 800×560 PNG.
pub fn line_plot(plot: &LinePlot, path: &Path) -> Result<()> {
    let bad = |reason: &str| Error::invalid(format!("plot {}", path.display()), reason.to_owned());
    if plot.series.iter().all(|s| {
        s.points
            .iter()
            .all(|(x, y)| !x.is_finite() || !y.is_finite())
    }) {
        return Err(bad("no finite points to draw"));
    }
    let points =
        |f: fn(&(f64, f64)) -> f64| plot.series.iter().flat_map(move |s| s.points.iter().map(f));
    let (x0, x1) = match plot.x_range {
        Some(r) => r,
        None if plot.log_x => {
            let positive = points(|p| p.0).filter(|x| *x > 0.0);
            let (lo, hi) = positive.fold((f64::INFINITY, 0.0f64), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
            if lo.is_finite() {
                (lo, hi.max(lo * 10.0))
            } else {
                (1e-3, 1.0)
            }
        }
        None => span(points(|p| p.0)).ok_or_else(|| bad("no finite x values"))?,
    };
    let (y0, y1) = match plot.y_range {
        Some(r) => r,
        None => span(points(|p| p.1)).ok_or_else(|| bad("no finite y values"))?,
    };
    if !(x0 < x1 && y0 < y1) || (plot.log_x && x0 <= 0.0) {
        return Err(bad(
            "empty axis range (a log axis needs a positive lower end)",
        ));
    }
    let root = canvas(path)?;
    let err = drawing(path);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&plot.title, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64);
    macro_rules! draw {
        ($chart:expr, $clamp:expr) => {{
            let mut chart = $chart.map_err(|e| err(e.to_string()))?;
            chart
                .configure_mesh()
                .x_desc(plot.x_label.as_str())
                .y_desc(plot.y_label.as_str())
                .label_style((FONT, 15))
                .axis_desc_style((FONT, 17))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(|e| err(e.to_string()))?;
            for (i, series) in plot.series.iter().enumerate() {
                let c = colour(i);
                let pts: Vec<(f64, f64)> = series
                    .points
                    .iter()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .map(|&(x, y)| ($clamp(x), y))
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                    .map_err(|e| err(e.to_string()))?
                    .label(series.label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(|e| err(e.to_string()))?;
            }
            draw_legend(&mut chart).map_err(&err)?;
        }};
    }
    if plot.log_x {
        draw!(
            builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1),
            |x: f64| x.max(x0)
        );
    } else {
        draw!(builder.build_cartesian_2d(x0..x1, y0..y1), |x: f64| x);
    }
    root.present().map_err(|e| err(e.to_string()))
}

/// Overlaid, semi-transparent histograms of several groups, with shared bins over the combined
/// range of all values (non-finite values are left out).
pub fn histogram(
    title: &str,
    x_label: &str,
    groups: &[(String, Vec<f64>)],
    bins: usize,
    path: &Path,
) -> Result<()> {
    let bad =
        |reason: &str| Error::invalid(format!("histogram {}", path.display()), reason.to_owned());
    if bins == 0 {
        return Err(bad("needs at least one bin"));
    }
    let all = groups
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return Err(bad("no finite values"));
    }
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let width = (hi - lo) / bins as f64;
    let counts: Vec<Vec<usize>> = groups
        .iter()
        .map(|(_, values)| {
            let mut c = vec![0; bins];
            for v in values.iter().filter(|v| v.is_finite()) {
                c[(((v - lo) / width) as usize).min(bins - 1)] += 1;
            }
            c
        })
        .collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let root = canvas(path)?;
    let err = drawing(path);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(lo..hi, 0.0..top)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("count")
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, ((label, _), c)) in groups.iter().zip(&counts).enumerate() {
        let fill = colour(i).mix(0.45).filled();
        chart
            .draw_series(c.iter().enumerate().map(|(b, &n)| {
                let x = lo + b as f64 * width;
                Rectangle::new([(x, 0.0), (x + width, n as f64)], fill)
            }))
            .map_err(|e| err(e.to_string()))?
            .label(label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
    }
    draw_legend(&mut chart).map_err(&err)?;
    root.present().map_err(|e| err(e.to_string()))
}

/// A horizontal bar chart of rates in percent: one row per category (its name at the left),
/// one bar per series in each row, coloured and named in the legend.
pub fn bar_chart(
    title: &str,
    x_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    path: &Path,
) -> Result<()> {
    let bad =
        |reason: &str| Error::invalid(format!("bar chart {}", path.display()), reason.to_owned());
    if categories.is_empty() || series.is_empty() {
        return Err(bad("needs at least one category and one series"));
    }
    if series.iter().any(|(_, v)| v.len() != categories.len()) {
        return Err(bad("every series needs one value per category"));
    }
    let rows = categories.len() as f64;
    let root = canvas(path)?;
    let err = drawing(path);
    let label_width = 16
        + 8 * categories
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0) as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(label_width.min(WIDTH / 2))
        // Room right of 100% for the value written at a bar's end.
        .build_cartesian_2d(0.0..108.0, 0.0..rows)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_labels(0)
        .disable_y_mesh()
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let band = 0.8 / series.len() as f64;
    for (j, (label, values)) in series.iter().enumerate() {
        let fill = colour(j).filled();
        chart
            .draw_series(values.iter().enumerate().map(|(i, &v)| {
                // Row i from the top: the first category is drawn highest.
                let top = rows - i as f64 - 0.1 - j as f64 * band;
                Rectangle::new([(0.0, top - band), (v.clamp(0.0, 100.0), top)], fill)
            }))
            .map_err(|e| err(e.to_string()))?
            .label(label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
        // Each bar's value at its end, so a bar of 0 still reads as a measurement.
        chart
            .draw_series(values.iter().enumerate().map(|(i, &v)| {
                let middle = rows - i as f64 - 0.1 - (j as f64 + 0.5) * band;
                Text::new(
                    format!(" {v:.0}%"),
                    (v.clamp(0.0, 100.0), middle),
                    TextStyle::from((FONT, 12)).pos(Pos::new(HPos::Left, VPos::Center)),
                )
            }))
            .map_err(|e| err(e.to_string()))?;
    }
    let name_style = TextStyle::from((FONT, 14)).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, name) in categories.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, rows - i as f64 - 0.5));
        root.draw(&Text::new(name.as_str(), (x - 8, y), name_style.clone()))
            .map_err(|e| err(e.to_string()))?;
    }
    draw_legend(&mut chart).map_err(&err)?;
    root.present().map_err(|e| err(e.to_string()))
}

/// A scatter plot: each point is (x, y, group), coloured by group, with one legend entry per
/// group label. Non-finite points are left out.
pub fn scatter(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64, usize)],
    group_labels: &[String],
    path: &Path,
) -> Result<()> {
    let bad = |reason: String| Error::invalid(format!("scatter plot {}", path.display()), reason);
    if let Some(&(_, _, g)) = points.iter().find(|p| p.2 >= group_labels.len()) {
        return Err(bad(format!(
            "group {g} has no label ({} labels given)",
            group_labels.len()
        )));
    }
    let finite: Vec<&(f64, f64, usize)> = points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let (x0, x1) =
        span(finite.iter().map(|p| p.0)).ok_or_else(|| bad("no finite points".into()))?;
    let (y0, y1) =
        span(finite.iter().map(|p| p.1)).ok_or_else(|| bad("no finite points".into()))?;
    let root = canvas(path)?;
    let err = drawing(path);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (g, label) in group_labels.iter().enumerate() {
        let c = colour(g);
        chart
            .draw_series(
                finite
                    .iter()
                    .filter(|p| p.2 == g)
                    .map(|p| Circle::new((p.0, p.1), 3, c.mix(0.7).filled())),
            )
            .map_err(|e| err(e.to_string()))?
            .label(label.as_str())
            .legend(move |(x, y)| Circle::new((x + 7, y), 4, c.filled()));
    }
    draw_legend(&mut chart).map_err(&err)?;
    root.present().map_err(|e| err(e.to_string()))
}

/// A grey PNG grid of 28×28 digits (each 784 values in [0, 1], row-major), `columns` per row,
/// each pixel drawn as a `scale`×`scale` block, with 2-pixel white gutters. No text.
pub fn digit_grid(images: &[&[f32]], columns: usize, scale: usize, path: &Path) -> Result<()> {
    const SIDE: usize = 28;
    const GUTTER: usize = 2;
    let bad = |reason: String| Error::invalid(format!("digit grid {}", path.display()), reason);
    if images.is_empty() || columns == 0 || scale == 0 || scale > 64 {
        return Err(bad(format!(
            "needs images, columns >= 1 and a scale in 1..=64 (got {} images, {columns} columns, scale {scale})",
            images.len()
        )));
    }
    if let Some((i, image)) = images
        .iter()
        .enumerate()
        .find(|(_, im)| im.len() != SIDE * SIDE)
    {
        return Err(bad(format!(
            "image {i} has {} values, expected 784",
            image.len()
        )));
    }
    let rows = images.len().div_ceil(columns);
    let cell = SIDE * scale;
    let width = columns * cell + (columns + 1) * GUTTER;
    let height = rows * cell + (rows + 1) * GUTTER;
    let mut pixels = vec![255u8; width * height];
    for (i, image) in images.iter().enumerate() {
        let (left, top) = (
            GUTTER + (i % columns) * (cell + GUTTER),
            GUTTER + (i / columns) * (cell + GUTTER),
        );
        for y in 0..cell {
            for x in 0..cell {
                let v = image[(y / scale) * SIDE + x / scale];
                let v = if v.is_finite() {
                    v.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                pixels[(top + y) * width + left + x] = (v * 255.0).round() as u8;
            }
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    let file = std::fs::File::create(path).map_err(|e| Error::io("creating", path, e))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| bad(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| bad(e.to_string()))?;
    writer.finish().map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_size(path: &Path) -> (u32, u32) {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let reader = decoder.read_info().unwrap();
        (reader.info().width, reader.info().height)
    }

    #[test]
    fn line_plots_linear_and_log_render() {
        let dir = tempfile::tempdir().unwrap();
        let series = vec![
            Series {
                label: "standard".into(),
                points: vec![(0.0, 0.98), (0.1, 0.5), (0.3, 0.01)],
            },
            Series {
                label: "adversarial".into(),
                points: vec![(0.0, 0.96), (0.1, 0.9), (0.3, 0.4)],
            },
        ];
        let mut plot = LinePlot {
            title: "accuracy".into(),
            x_label: "eps".into(),
            y_label: "accuracy".into(),
            series,
            x_range: None,
            y_range: Some((0.0, 1.0)),
            log_x: false,
        };
        let path = dir.path().join("lines.png");
        line_plot(&plot, &path).unwrap();
        assert_eq!(png_size(&path), (WIDTH, HEIGHT));
        plot.log_x = true;
        plot.x_range = Some((1e-3, 1.0));
        let log = dir.path().join("sub/log.png");
        line_plot(&plot, &log).unwrap(); // x = 0 is clamped to the left edge
        assert_eq!(png_size(&log), (WIDTH, HEIGHT));
        plot.series
            .iter_mut()
            .for_each(|s| s.points = vec![(f64::NAN, 1.0)]);
        assert!(
            line_plot(&plot, &log)
                .unwrap_err()
                .to_string()
                .contains("no finite points")
        );
    }

    #[test]
    fn histograms_and_scatter_render_and_reject_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let groups = vec![
            ("members".to_owned(), vec![0.9, 0.95, 0.99, 1.0]),
            ("non-members".to_owned(), vec![0.2, 0.5, 0.9, f64::NAN]),
        ];
        let path = dir.path().join("hist.png");
        histogram("confidence", "p(true label)", &groups, 20, &path).unwrap();
        assert_eq!(png_size(&path), (WIDTH, HEIGHT));
        assert!(histogram("x", "x", &groups, 0, &path).is_err());
        let points = [(0.0, 1.0, 0), (1.0, 2.0, 1), (2.0, 0.5, 1)];
        let path = dir.path().join("scatter.png");
        scatter(
            "clusters",
            "pc1",
            "pc2",
            &points,
            &["clean".into(), "flipped".into()],
            &path,
        )
        .unwrap();
        assert_eq!(png_size(&path), (WIDTH, HEIGHT));
        assert!(
            scatter("c", "x", "y", &points, &["one".into()], &path)
                .unwrap_err()
                .to_string()
                .contains("no label")
        );
    }

    #[test]
    fn digit_grids_have_the_computed_size_and_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let white = vec![1.0f32; 784];
        let black = vec![0.0f32; 784];
        let path = dir.path().join("grid.png");
        digit_grid(&[&white, &black, &white], 2, 2, &path).unwrap();
        assert_eq!(
            png_size(&path),
            ((2 * 56 + 3 * 2) as u32, (2 * 56 + 3 * 2) as u32)
        );
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buffer).unwrap();
        let width = 2 * 56 + 3 * 2;
        assert_eq!(buffer[2 * width + 2], 255, "first digit is white");
        assert_eq!(buffer[2 * width + 2 + 56 + 2], 0, "second digit is black");
        assert!(
            digit_grid(&[&white[..10]], 1, 1, &path)
                .unwrap_err()
                .to_string()
                .contains("784")
        );
        assert!(digit_grid(&[&white], 0, 1, &path).is_err());
    }
}
