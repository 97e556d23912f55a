//! Calendar functions (`hour`, `day_of_week`, …) in UTC, on a vector or on `vector(time())`.

use promql_parser::parser::Call;

use super::{Elem, Evaluator, Result, Val};
use crate::labels::Labels;

/// (year, month 1-12, day 1-31) of days since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in(y: i64, m: i64) -> i64 {
    match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn date_fn(ev: &mut Evaluator<'_>, c: &Call, t: i64, f: fn(i64) -> f64) -> Result<Val> {
    let apply = |v: f64| {
        if v.is_finite() {
            f(v.floor() as i64)
        } else {
            f64::NAN
        }
    };
    match c.args.args.first() {
        None => Ok(Val::Vector(vec![Elem {
            labels: Labels::default(),
            t,
            v: apply(t as f64 / 1000.0),
            drop_name: false,
        }])),
        Some(a) => {
            let v = ev.eval_vector(a, t)?;
            Ok(Val::Vector(
                v.into_iter()
                    .map(|e| Elem {
                        labels: e.labels,
                        t,
                        v: apply(e.v),
                        drop_name: true,
                    })
                    .collect(),
            ))
        }
    }
}

macro_rules! date_fns {
    ($($name:ident => $f:expr),* $(,)?) => {
        $(pub(super) fn $name(ev: &mut Evaluator<'_>, c: &Call, t: i64) -> Result<Val> { date_fn(ev, c, t, $f) })*
    };
}

date_fns! {
    minute => |s| (s.rem_euclid(3600) / 60) as f64,
    hour => |s| (s.rem_euclid(86_400) / 3600) as f64,
    day_of_week => |s| (s.div_euclid(86_400) + 4).rem_euclid(7) as f64,
    day_of_month => |s| civil(s.div_euclid(86_400)).2 as f64,
    day_of_year => |s| {
        let days = s.div_euclid(86_400);
        let (y, m, d) = civil(days);
        ((1..m).map(|mm| days_in(y, mm)).sum::<i64>() + d) as f64
    },
    days_in_month => |s| { let (y, m, _) = civil(s.div_euclid(86_400)); days_in(y, m) as f64 },
    month => |s| civil(s.div_euclid(86_400)).1 as f64,
    year => |s| civil(s.div_euclid(86_400)).0 as f64,
}
