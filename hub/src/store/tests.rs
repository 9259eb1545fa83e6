//! The store's layering, checked on its source so a change that breaks it fails here rather
//! than in review: `backend/` names no business table, only `store/mod.rs` imports
//! `backend`, and the store's modules import each other without circles.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// `hub/src/store`.
fn store_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store")
}

/// Every `.rs` file under `dir`, with its path relative to `hub/src/store`.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read store source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(store_dir())
                    .expect("under the store")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((relative, fs::read_to_string(&path).expect("read source")));
            }
        }
    }
    out.sort();
    out
}

/// The tables the migrations create: the business tables.
fn business_tables() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut tables = BTreeSet::new();
    for backend in ["sqlite", "postgres"] {
        for entry in fs::read_dir(root.join(backend)).expect("read migrations") {
            let sql = fs::read_to_string(entry.expect("migration").path()).expect("read");
            let words: Vec<String> = sql
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            for (i, window) in words.windows(2).enumerate() {
                if window[0] == "create" && window[1] == "table" {
                    let mut name = words.get(i + 2).cloned().unwrap_or_default();
                    if name == "if" {
                        name = words.get(i + 5).cloned().unwrap_or_default();
                    }
                    tables.insert(name);
                }
            }
        }
    }
    tables
}

/// Whether `text` holds `word` delimited by non-identifier characters.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

#[test]
fn the_backends_name_no_business_table() {
    let tables = business_tables();
    assert!(
        tables.contains("k8s_pods") && tables.contains("users"),
        "{tables:?}"
    );
    let mut found = Vec::new();
    for (file, text) in sources(&store_dir().join("backend")) {
        for table in &tables {
            if has_word(&text, table) {
                found.push(format!("{file}: {table}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "backend/ names business tables: {found:#?}"
    );
}

#[test]
fn only_the_store_root_imports_the_backends() {
    let mut found = Vec::new();
    for (file, text) in sources(&store_dir()) {
        // The root composes the store; this file names `backend::` as what it looks for.
        if file == "mod.rs" || file == "tests.rs" || file.starts_with("backend/") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("backend::") {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "business modules import backend: {found:#?}"
    );
}

/// The store's top-level module a file belongs to (`ingest/group.rs` → `ingest`).
fn module_of(file: &str) -> Option<&str> {
    match file.split_once('/') {
        Some((dir, _)) => Some(dir),
        None if file == "mod.rs" || file == "tests.rs" => None,
        None => file.strip_suffix(".rs"),
    }
}

#[test]
fn the_store_modules_import_each_other_without_circles() {
    let files = sources(&store_dir());
    let modules: BTreeSet<&str> = files.iter().filter_map(|(f, _)| module_of(f)).collect();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (file, text) in &files {
        let Some(from) = module_of(file) else {
            continue;
        };
        // `super::` as many times as it takes this file to reach `store`.
        let depth = file.matches('/').count() + usize::from(!file.ends_with("/mod.rs"));
        let up = "super::".repeat(depth);
        for to in &modules {
            let named = text.contains(&format!("crate::store::{to}"))
                || text.contains(&format!("{up}{to}"));
            if *to != from && named {
                edges.entry(from).or_default().insert(to);
            }
        }
    }
    // Depth-first search for a cycle, reporting the first one found.
    fn visit<'a>(
        node: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            return Some(path[at..].iter().copied().chain([node]).collect());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for module in &modules {
        let cycle = visit(module, &edges, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "import circle: {cycle:?} in {edges:#?}");
    }
}
