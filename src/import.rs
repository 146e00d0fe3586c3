//! `stockade import stock FILE.csv`: absolute stock figures from a spreadsheet or another
//! system, in one transaction, all or nothing.
//!
//! Columns: `sku,location,on_hand` and optionally `safety_stock`. Every bad row is reported
//! with its line number and reason before anything is written.

use std::collections::HashMap;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::policy::Policies;
use crate::store::{ImportSummary, StockRow, Store};

/// One row that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

/// Reads and checks the whole file. Returns every bad row, not just the first.
pub fn read(
    path: &Path,
    policies: &Policies,
) -> anyhow::Result<Result<Vec<StockRow>, Vec<BadRow>>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(sku), Some(location), Some(on_hand)) = (col("sku"), col("location"), col("on_hand"))
    else {
        anyhow::bail!(
            "line 1: the header must name the columns sku, location, on_hand (and optionally safety_stock)"
        );
    };
    let safety = col("safety_stock");
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    let mut first_seen: HashMap<(String, String), u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                bad.push(BadRow {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        let field = |i: usize| record.get(i).unwrap_or("");
        match check(
            field(sku),
            field(location),
            field(on_hand),
            safety.map(field),
            policies,
        ) {
            Ok(row) => {
                let key = (row.sku.clone(), row.location.clone());
                if let Some(first) = first_seen.insert(key, line) {
                    bad.push(BadRow {
                        line,
                        reason: format!("repeats the sku and location of line {first}"),
                    });
                } else {
                    rows.push(row);
                }
            }
            Err(reason) => bad.push(BadRow { line, reason }),
        }
    }
    Ok(if bad.is_empty() { Ok(rows) } else { Err(bad) })
}

fn check(
    sku: &str,
    location: &str,
    on_hand: &str,
    safety: Option<&str>,
    policies: &Policies,
) -> Result<StockRow, String> {
    if sku.is_empty() || sku.len() > 64 || !sku.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "sku `{sku}` must be 1 to 64 visible ASCII characters"
        ));
    }
    if policies.location(location).is_none() {
        return Err(format!(
            "location `{location}` is not declared in the policies"
        ));
    }
    let count = |name: &str, v: &str| match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(format!("{name} `{v}` must be a whole number, 0 or more")),
    };
    Ok(StockRow {
        sku: sku.to_owned(),
        location: location.to_owned(),
        on_hand: count("on_hand", on_hand)?,
        safety_stock: safety
            .filter(|s| !s.is_empty())
            .map(|s| count("safety_stock", s))
            .transpose()?,
    })
}

/// Writes checked rows with a progress bar.
pub async fn write(
    store: &dyn Store,
    rows: &[StockRow],
    source: &str,
) -> anyhow::Result<ImportSummary> {
    let bar = ProgressBar::new(rows.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} importing [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
        )?
        .progress_chars("=> "),
    );
    let progress = {
        let bar = bar.clone();
        move |done: u64| bar.set_position(done)
    };
    let summary = store.import_stock(rows, source, &progress).await?;
    bar.finish_and_clear();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn policies() -> Policies {
        Policies::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn good_rows_parse() {
        let f = file("sku,location,on_hand,safety_stock\nA,WH-MAIN,5,1\nB,3PL-EAST,0,\n");
        let rows = read(f.path(), &policies()).unwrap().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].safety_stock, Some(1));
        assert_eq!(rows[1].safety_stock, None);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let f = file(
            "sku,location,on_hand\nA,WH-MAIN,5\nB,NOWHERE,1\nC,WH-MAIN,-2\nD,WH-MAIN,x\nA,WH-MAIN,6\n",
        );
        let bad = read(f.path(), &policies()).unwrap().unwrap_err();
        let lines: Vec<u64> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 5, 6]);
        assert!(bad[0].reason.contains("NOWHERE"));
        assert!(bad[3].reason.contains("line 2"));
    }

    #[test]
    fn a_missing_column_is_named() {
        let f = file("sku,on_hand\nA,1\n");
        assert!(
            read(f.path(), &policies())
                .unwrap_err()
                .to_string()
                .contains("location")
        );
    }
}
