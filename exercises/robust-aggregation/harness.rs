//! Grading and display for the `robust-aggregation` exercise (the lab's code: do not edit).

use aisec_lab::checks::percent;
use aisec_lab::federated::{Attack, Config, Federation, Session, Strength, Updates};
use aisec_lab::harness::{Context, NoOptions};
use aisec_lab::serde_json::json;
use aisec_lab::{Error, Result, plot};
use aisec_sdk::data::N_CLASSES;
use aisec_sdk::rng::RngCore;
use serde::Deserialize;

/// `[settings]` of exercise.toml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    n_clients: usize,
    rounds: usize,
    local_steps: usize,
    batch_size: usize,
    learning_rate: f32,
    hidden: usize,
    dirichlet_alpha: f64,
    min_shard: usize,
    min_byzantine: usize,
    max_byzantine: usize,
    sign_flip_scale: f32,
    scale_factor: f32,
    gaussian_scale: f32,
    jitter: f32,
}

/// `[bars]` of exercise.toml (accuracies are shares of the test split; points are percentage
/// points).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bars {
    min_accuracy_without_attack: f64,
    max_points_below_fedavg_without_attack: f64,
    min_accuracy_under_attack: f64,
    max_points_below_fedavg_under_little_is_enough: f64,
}

impl Bars {
    /// The bar of a scenario: an absolute floor, raised to FedAvg's accuracy minus a gap where
    /// FedAvg is the yardstick (no attack, and "a little is enough", which barely moves the
    /// mean but is built to move robust rules). (floor, gap in points if any.)
    fn bar(&self, attack: Attack) -> (f64, Option<f64>) {
        match attack {
            Attack::None => (
                self.min_accuracy_without_attack,
                Some(self.max_points_below_fedavg_without_attack),
            ),
            Attack::LittleIsEnough => (
                self.min_accuracy_under_attack,
                Some(self.max_points_below_fedavg_under_little_is_enough),
            ),
            Attack::SignFlip | Attack::Scaled | Attack::Gaussian => {
                (self.min_accuracy_under_attack, None)
            }
        }
    }
}

/// The check that every reply was an aggregate.
const WELL_FORMED: &str = "every aggregate is well formed";

/// The graded check of a scenario.
fn check_name(attack: Attack) -> String {
    match attack {
        Attack::None => "accuracy with no attack".to_owned(),
        other => format!("accuracy under {}", other.name()),
    }
}

fn strength(settings: &Settings) -> Strength {
    Strength {
        sign_flip_scale: settings.sign_flip_scale,
        scale_factor: settings.scale_factor,
        gaussian_scale: settings.gaussian_scale,
        jitter: settings.jitter,
    }
}

/// The run's federation: f drawn from the seed, then the shards, the Byzantine clients and the
/// initial weights (all hidden draws).
fn federation(ctx: &Context, settings: &Settings) -> Result<Federation> {
    let (low, high) = (settings.min_byzantine, settings.max_byzantine);
    if low > high {
        return Err(Error::invalid(
            "settings",
            "min_byzantine is above max_byzantine",
        ));
    }
    let f = low + (ctx.rng("byzantine").next_u64() % (high - low + 1) as u64) as usize;
    let config = Config {
        n_clients: settings.n_clients,
        rounds: settings.rounds,
        local_steps: settings.local_steps,
        batch_size: settings.batch_size,
        learning_rate: settings.learning_rate,
        hidden: settings.hidden,
        dirichlet_alpha: settings.dirichlet_alpha,
        min_shard: settings.min_shard,
    };
    let data = ctx.data()?;
    Federation::new(
        config,
        &data.train,
        &data.test,
        f,
        &mut ctx.rng("federation"),
    )
}

/// Test accuracy after each round (the first entry: the initial weights).
struct Trace {
    accuracy: Vec<f64>,
    diverged: bool,
    /// The first round (from 1) whose aggregate left the honest rows' range, and where.
    steered: Option<(usize, String)>,
}

impl Trace {
    fn last(&self) -> f64 {
        self.accuracy.last().copied().unwrap_or(0.0)
    }
}

/// Why the candidate's rule stopped before the end of a scenario.
enum Stop {
    /// The function returned an error.
    Failed(aisec_sdk::Error),
    /// A reply that is not an aggregate: why, and in which round (from 1).
    Refused(String, usize),
}

/// Runs every remaining round of `session` with `step` as the aggregation rule.
fn play<E>(
    session: &mut Session<'_>,
    tick: &dyn Fn(),
    mut step: impl FnMut(&Updates) -> Result<std::result::Result<Vec<f32>, E>>,
) -> Result<std::result::Result<Trace, E>> {
    let mut accuracy = vec![session.accuracy()?];
    while !session.finished() {
        // A blown-up model stays blown up: the remaining rounds would train on NaN.
        if session.diverged() {
            accuracy.push(*accuracy.last().unwrap_or(&0.0));
            session.apply(&vec![0.0; session.weights().len()])?;
            tick();
            continue;
        }
        let updates = session.updates()?;
        match step(&updates)? {
            Ok(aggregate) => session.apply(&aggregate)?,
            Err(e) => return Ok(Err(e)),
        }
        accuracy.push(session.accuracy()?);
        tick();
    }
    Ok(Ok(Trace {
        accuracy,
        diverged: session.diverged(),
        steered: None,
    }))
}

/// FedAvg (the plain mean), computed by the checker.
fn fedavg(fed: &Federation, attack: Attack, strength: Strength, tick: &dyn Fn()) -> Result<Trace> {
    let mut session = fed.start(attack, strength);
    match play(&mut session, tick, |u| {
        Ok(Ok::<_, std::convert::Infallible>(u.mean()))
    })? {
        Ok(trace) => Ok(trace),
        Err(never) => match never {},
    }
}

/// The candidate's rule in a new runner: it is told f and sees only the updates.
fn candidate(
    ctx: &mut Context,
    fed: &Federation,
    attack: Attack,
    strength: Strength,
    tick: &dyn Fn(),
) -> Result<std::result::Result<Trace, Stop>> {
    ctx.fresh_runner()?;
    let f = fed.n_byzantine();
    let mut session = fed.start(attack, strength);
    let mut round = 0;
    let mut steered = None;
    let trace = play(&mut session, tick, |updates| {
        round += 1;
        let reply = match exercise::aggregate(&updates.tensor()?, f) {
            Ok(reply) => reply,
            Err(e) => return Ok(Err(Stop::Failed(e))),
        };
        let aggregate = updates.validate(&reply);
        if let (Ok(values), None) = (&aggregate, &steered) {
            steered = updates.outside_honest_range(values).map(|why| (round, why));
        }
        Ok(aggregate.map_err(|why| Stop::Refused(why, round)))
    })?;
    Ok(trace.map(|trace| Trace { steered, ..trace }))
}

/// One scenario's accuracy traces: the candidate's rule and FedAvg.
struct Scenario {
    attack: Attack,
    yours: Trace,
    fedavg: Trace,
}

/// Both rules under every scenario, in an order drawn from the seed (each of the candidate's
/// in a new runner), returned in [`Attack::ALL`]'s order; stops at the first scenario where the
/// candidate's rule fails.
fn scenarios(
    ctx: &mut Context,
    fed: &Federation,
    settings: &Settings,
) -> Result<std::result::Result<Vec<Scenario>, (Attack, Stop)>> {
    let strength = strength(settings);
    let order = aisec_sdk::rng::permutation(Attack::ALL.len(), &mut ctx.rng("order"));
    let rounds = (2 * Attack::ALL.len() * settings.rounds) as u64;
    let bar = ctx.progress(rounds, "federated rounds (your rule and FedAvg)");
    let tick = || bar.inc(1);
    let mut done = Vec::new();
    for i in order {
        let attack = Attack::ALL[i];
        let yours = match candidate(ctx, fed, attack, strength, &tick)? {
            Ok(trace) => trace,
            Err(stop) => {
                bar.finish_and_clear();
                return Ok(Err((attack, stop)));
            }
        };
        let fedavg = fedavg(fed, attack, strength, &tick)?;
        done.push(Scenario {
            attack,
            yours,
            fedavg,
        });
    }
    bar.finish_and_clear();
    done.sort_by_key(|s| Attack::ALL.iter().position(|&a| a == s.attack));
    Ok(Ok(done))
}

fn describe_federation(fed: &Federation) -> String {
    format!(
        "f = {} of {} clients, {} rounds",
        fed.n_byzantine(),
        fed.n_clients(),
        fed.config().rounds
    )
}

pub fn check(ctx: &mut Context, settings: &Settings, bars: &Bars) -> Result<()> {
    let fed = federation(ctx, settings)?;
    let all = match scenarios(ctx, &fed, settings)? {
        Ok(all) => all,
        Err((attack, Stop::Failed(e))) => {
            ctx.check(
                WELL_FORMED,
                false,
                format!("{}: returned an error: {e}", attack.name()),
                "returns Ok every round",
                "your function must not fail on valid input",
            );
            return Ok(());
        }
        Err((attack, Stop::Refused(why, round))) => {
            ctx.check(
                WELL_FORMED,
                false,
                format!("round {round} ({}): {why}", attack.name()),
                format!(
                    "shape [{}], finite, each coordinate within the range of the updates (0 included)",
                    fed.dimension()
                ),
                "return one value per coordinate, combining the rows you were given",
            );
            return Ok(());
        }
    };
    ctx.check(
        WELL_FORMED,
        true,
        format!(
            "{} aggregates of shape [{}], finite and within the updates' range",
            Attack::ALL.len() * settings.rounds,
            fed.dimension()
        ),
        "shape (d,), finite, each coordinate within the range of the updates (0 included)",
        "return one value per coordinate, combining the rows you were given",
    );
    let setting = describe_federation(&fed);
    for s in &all {
        let (yours, theirs) = (s.yours.last(), s.fedavg.last());
        let (min, gap) = bars.bar(s.attack);
        let floor = gap.map_or(min, |points| min.max(theirs - points / 100.0));
        let bar = match gap {
            Some(points) => format!(
                ">= {} (at least {} and at most {points:.1} points below FedAvg)",
                percent(floor),
                percent(min)
            ),
            None => format!(">= {}", percent(min)),
        } + ", every aggregate within the honest updates' range";
        // An aggregate outside every honest client's range was steered (by the attackers'
        // rows or by the rule itself): whatever accuracy it reached is not the rule's to claim.
        let steered = s
            .yours
            .steered
            .as_ref()
            .map_or(String::new(), |(round, why)| {
                format!("; round {round}'s aggregate was steered off the honest updates: {why}")
            });
        ctx.check(
            &check_name(s.attack),
            yours >= floor && s.yours.steered.is_none(),
            format!(
                "yours {}, FedAvg {}{} ({setting}){steered}",
                percent(yours),
                percent(theirs),
                if s.fedavg.diverged { " (diverged)" } else { "" }
            ),
            bar,
            match s.attack {
                Attack::None => "with no attacker your rule still throws away what it distrusts: on non-IID shards, dropping or trimming rows loses the clients that hold rare classes",
                Attack::SignFlip => "f rows on one side of every coordinate shift a median or trimmed mean by a quantile of the honest spread, which on non-IID shards is wider than the honest mean: find and drop those rows instead",
                Attack::Scaled | Attack::Gaussian => "a few rows far longer than the rest move a mean anywhere: rank them away or bound each row's influence",
                Attack::LittleIsEnough => "the attackers sit near the centre, all on one side: a median or a rule that keeps n - f rows follows them; dropping only rows that stand out keeps every honest client's say",
            },
        );
    }
    Ok(())
}

/// Eight levels of a sparkline, low to high.
const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Accuracy per round as a line of blocks (0 to 100%).
fn sparkline(values: &[f64]) -> String {
    values
        .iter()
        .map(|&v| {
            let level = (v.clamp(0.0, 1.0) * (BLOCKS.len() - 1) as f64).round() as usize;
            BLOCKS[level.min(BLOCKS.len() - 1)]
        })
        .collect()
}

/// Shades for a client's share of a class, none to all.
const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

/// The shards as a picture: one line per client, one column per class, darker where the
/// client holds more of its rows.
fn shard_picture(fed: &Federation) -> String {
    let byzantine = fed.byzantine_clients();
    let mut out = String::from("client  0123456789  rows\n");
    for (c, counts) in fed.shard_classes().iter().enumerate() {
        let total: usize = counts.iter().sum();
        let cells: String = counts
            .iter()
            .map(|&k| {
                let share = k as f64 / total.max(1) as f64;
                // A third of the rows or more is shown solid.
                let level = (share * 3.0 * (SHADES.len() - 1) as f64).ceil() as usize;
                SHADES[level.min(SHADES.len() - 1)]
            })
            .collect();
        out.push_str(&format!(
            "{c:>6}  {cells}  {total:>4}{}\n",
            if byzantine[c] { "  Byzantine" } else { "" }
        ));
    }
    out
}

fn show(ctx: &mut Context, settings: &Settings) -> Result<()> {
    let fed = federation(ctx, settings)?;
    ctx.say(&format!(
        "Federation (seed {}): {} clients on Dirichlet({}) shards of {} training digits, an MLP of {} weights, {}; each honest client takes {} SGD steps of {} per round.\n",
        ctx.seed(),
        fed.n_clients(),
        settings.dirichlet_alpha,
        ctx.data()?.train.len(),
        fed.dimension(),
        describe_federation(&fed),
        settings.local_steps,
        settings.batch_size
    ));
    ctx.say("Class mix of each client's shard (darker: more of its rows):\n");
    ctx.say(&shard_picture(&fed));
    let all = match scenarios(ctx, &fed, settings)? {
        Ok(all) => all,
        Err((_, Stop::Failed(e))) => return Err(e.into()),
        Err((attack, Stop::Refused(why, round))) => {
            return Err(Error::invalid(
                "aggregate",
                format!("round {round} ({}): {why}", attack.name()),
            ));
        }
    };
    ctx.say(&format!(
        "{:<20}  {:>6}  {:>6}  test accuracy by round (yours / FedAvg)",
        "scenario", "yours", "FedAvg"
    ));
    let mut rows = Vec::new();
    for s in &all {
        ctx.say(&format!(
            "{:<20}  {:>6}  {:>6}  {}\n{:<38}{}{}",
            s.attack.name(),
            percent(s.yours.last()),
            percent(s.fedavg.last()),
            sparkline(&s.yours.accuracy),
            "",
            sparkline(&s.fedavg.accuracy),
            if s.fedavg.diverged {
                "  (diverged)"
            } else {
                ""
            }
        ));
        rows.push(json!({
            "attack": s.attack.key(),
            "yours": s.yours.accuracy,
            "fedavg": s.fedavg.accuracy,
            "fedavg_diverged": s.fedavg.diverged,
        }));
    }

    let out = ctx.out_dir()?.to_owned();
    let names: Vec<String> = all.iter().map(|s| s.attack.name().to_owned()).collect();
    let chart = out.join("final-accuracy.png");
    plot::bar_chart(
        &format!("Test accuracy after {} rounds", settings.rounds),
        "test accuracy (%)",
        &names,
        &[
            (
                "your rule".to_owned(),
                all.iter().map(|s| 100.0 * s.yours.last()).collect(),
            ),
            (
                "FedAvg".to_owned(),
                all.iter().map(|s| 100.0 * s.fedavg.last()).collect(),
            ),
        ],
        &chart,
    )?;
    let mut pictures = vec![chart];
    for (who, path, pick) in [
        ("your rule", "rounds-yours.png", true),
        ("FedAvg", "rounds-fedavg.png", false),
    ] {
        let series = all
            .iter()
            .map(|s| plot::Series {
                label: s.attack.name().to_owned(),
                points: (if pick { &s.yours } else { &s.fedavg })
                    .accuracy
                    .iter()
                    .enumerate()
                    .map(|(r, &a)| (r as f64, 100.0 * a))
                    .collect(),
            })
            .collect();
        let path = out.join(path);
        plot::line_plot(
            &plot::LinePlot {
                title: format!(
                    "Test accuracy by round, {who} ({})",
                    describe_federation(&fed)
                ),
                x_label: "round".to_owned(),
                y_label: "test accuracy (%)".to_owned(),
                series,
                x_range: Some((0.0, settings.rounds as f64)),
                y_range: Some((0.0, 100.0)),
                log_x: false,
            },
            &path,
        )?;
        pictures.push(path);
    }
    ctx.say("");
    for p in &pictures {
        ctx.say(&format!("picture: {}", p.display()));
    }
    let shards: Vec<[usize; N_CLASSES]> = fed.shard_classes();
    ctx.emit(json!({
        "seed": ctx.seed(),
        "clients": fed.n_clients(),
        "byzantine": fed.n_byzantine(),
        "rounds": settings.rounds,
        "dimension": fed.dimension(),
        "shards": shards,
        "scenarios": rows,
        "pictures": pictures.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    }));
    Ok(())
}

pub fn run(ctx: &mut Context, settings: &Settings) -> Result<()> {
    show(ctx, settings)
}

pub fn demo(ctx: &mut Context, settings: &Settings, _: &NoOptions) -> Result<()> {
    show(ctx, settings)
}
