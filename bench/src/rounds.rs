//! `suite --rounds N`: every server measured N times, the servers taking turns (A B C,
//! A B C, …), and each figure reported as its median over the rounds. On a shared,
//! noisy machine one slow minute then moves one round of one server, not the comparison.

use serde_json::Value;

use crate::Results;

/// One `Results` whose every number is the median of that number over `rounds` (text and
/// lists are the first round's).
pub fn median_of(rounds: &[Results]) -> Result<Results, String> {
    let values = rounds
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut merged: Results =
        serde_json::from_value(median_value(&values)).map_err(|e| e.to_string())?;
    merged.rounds = rounds.len();
    Ok(merged)
}

fn median_value(values: &[Value]) -> Value {
    match values.first() {
        Some(Value::Object(first)) => Value::Object(
            first
                .keys()
                .map(|key| {
                    let column: Vec<Value> = values.iter().map(|v| v[key].clone()).collect();
                    (key.clone(), median_value(&column))
                })
                .collect(),
        ),
        Some(Value::Number(_)) => median_number(values),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

/// The median (of an even count, the lower middle one: a value that was measured).
/// Integers stay integers.
fn median_number(values: &[Value]) -> Value {
    let mut numbers: Vec<&Value> = values.iter().filter(|v| v.is_number()).collect();
    numbers.sort_by(|a, b| {
        let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
        a.total_cmp(&b)
    });
    numbers
        .get(numbers.len().saturating_sub(1) / 2)
        .map_or(Value::Null, |v| (*v).clone())
}
