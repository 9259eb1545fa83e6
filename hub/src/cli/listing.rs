//! The one way `list` commands print: an aligned table for people, a JSON array for scripts.
//!
//! Every listing builds the same rows for both outputs, so a column added for people is in the
//! JSON too and the two never drift apart.

use serde_json::{Map, Value};

/// Output format of the listing commands and `token create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// For people: aligned columns with a header line.
    Text,
    /// For scripts: one JSON value (an array of objects for listings).
    Json,
}

/// A table being built: column keys (the JSON field names) and rows of values.
#[derive(Debug)]
pub struct Listing {
    columns: Vec<&'static str>,
    rows: Vec<Vec<Value>>,
}

impl Listing {
    /// A listing with these columns; the text header is each key in upper case.
    pub fn new(columns: &[&'static str]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; `values` follow the columns' order.
    pub fn row(&mut self, values: Vec<Value>) {
        debug_assert_eq!(values.len(), self.columns.len(), "one value per column");
        self.rows.push(values);
    }

    /// Renders the listing; text ends with a newline, JSON is one line.
    pub fn render(&self, output: Output) -> String {
        match output {
            Output::Json => {
                let rows: Vec<Value> = self
                    .rows
                    .iter()
                    .map(|row| {
                        let object: Map<String, Value> = self
                            .columns
                            .iter()
                            .map(|c| (*c).to_owned())
                            .zip(row.iter().cloned())
                            .collect();
                        Value::Object(object)
                    })
                    .collect();
                Value::Array(rows).to_string()
            }
            Output::Text => self.text(),
        }
    }

    /// Prints the listing on standard output.
    pub fn print(&self, output: Output) {
        let rendered = self.render(output);
        if rendered.ends_with('\n') {
            print!("{rendered}");
        } else {
            println!("{rendered}");
        }
    }

    fn text(&self) -> String {
        let header: Vec<String> = self
            .columns
            .iter()
            .map(|c| c.replace('_', " ").to_uppercase())
            .collect();
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(cell_text).collect())
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|row| row[i].chars().count())
                    .chain([header[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in std::iter::once(&header).chain(cells.iter()) {
            let last = line.len().saturating_sub(1);
            for (i, cell) in line.iter().enumerate() {
                if i == last {
                    out.push_str(cell);
                } else {
                    let pad = widths[i] - cell.chars().count();
                    out.push_str(cell);
                    out.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// How a JSON value reads in a table cell: strings bare, absent values as `-`, booleans as
/// yes/no, lists comma-separated.
fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(cell_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
